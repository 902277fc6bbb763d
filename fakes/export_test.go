package fakes

// CallsInProgress returns the number of the handler's calls on s that a
// recorder records and that have not returned yet (see enter).
func CallsInProgress[Req, Res any](s *ServerStream[Req, Res]) int {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	return s.calls
}
