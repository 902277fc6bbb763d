package grpctest

// ScanLabelled is one scan of the goroutine profile for the goroutines of
// harness id, for BenchmarkLeakScan.
var ScanLabelled = labelled

// SetAfterStop makes Close call f after Stop, before it waits for the
// handlers still running; f gets the channel that is closed once none is.
func SetAfterStop(s *Server, f func(idle <-chan struct{})) {
	s.afterStop = func() { f(s.idleChan()) }
}
