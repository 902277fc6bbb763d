package fakes_test

import (
	"context"
	"errors"
	"io"
	"runtime"
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/interop"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

const fullDuplex = "/grpc.testing.TestService/FullDuplexCall"

// step is an event without what differs between runs (times, ids, seq).
type step struct {
	Side, Kind string
	Msg        any
	Code       codes.Code
}

func steps(r *recorder.Recorder, side recorder.Side) []step {
	var out []step
	for _, e := range r.Events() {
		if e.Side == side {
			out = append(out, step{e.Side.String(), e.Kind.String(), e.Msg, status.Code(e.Err)})
		}
	}
	return out
}

// pingPongClient is code under test: it sends two requests, half-closes and
// reads every response.
func pingPongClient(stream grpc.BidiStreamingClient[dupReq, dupRes]) error {
	for _, r := range []*dupReq{req(1, 2), req(3)} {
		if err := stream.Send(r); err != nil {
			return err
		}
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	for {
		if _, err := stream.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// The fake server stream records exactly the server-side events a real
// server records for the same exchange.
func TestServerStreamRecordsLikeARealServer(t *testing.T) {
	h := interopServer(t)
	real := h.Recorder()
	stream, err := testpb.NewTestServiceClient(h.Conn()).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := pingPongClient(stream); err != nil {
		t.Fatal(err)
	}
	if err := real.Wait(t.Context(), func(ev []recorder.Event) bool {
		return len(ev) > 0 && ev[len(ev)-1].Kind == recorder.End
	}); err != nil {
		t.Fatal(err)
	}

	fake := recorder.New()
	s := fakes.NewServerStream[dupReq, dupRes](t.Context(), fakes.WithRecorder(fake), fakes.WithMethod(fullDuplex))
	s.Push(req(1, 2), req(3))
	s.CloseSend()
	s.End(interop.NewTestServer().FullDuplexCall(s))

	wantMsgs(t, steps(real, recorder.Server), steps(fake, recorder.Server))
}

// The fake client stream records exactly the client-side events a real
// client records for the same exchange.
func TestClientStreamRecordsLikeARealClient(t *testing.T) {
	h := interopServer(t)
	real := h.Recorder()
	stream, err := testpb.NewTestServiceClient(h.Conn()).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := pingPongClient(stream); err != nil {
		t.Fatal(err)
	}

	fake := recorder.New()
	c := fakes.NewClientStream[dupReq, dupRes](t.Context(), fakes.WithRecorder(fake), fakes.WithMethod(fullDuplex))
	served := grpctest.GoErr(t, func() error { return actAsInteropServer(t, c) })
	if err := pingPongClient(c); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, served); err != nil {
		t.Fatal(err)
	}
	wantMsgs(t, steps(real, recorder.Client), steps(fake, recorder.Client))
}

// Fake streams work with grpctest.AssertOrder like real ones, and a wrong
// order is reported.
func TestFakeStreamsWithAssertOrder(t *testing.T) {
	rec := recorder.New()
	s := fakes.NewServerStream[dupReq, dupRes](t.Context(), fakes.WithRecorder(rec), fakes.WithMethod(fullDuplex))
	s.Push(req(1, 2), req(3))
	s.CloseSend()
	s.End(interop.NewTestServer().FullDuplexCall(s))

	if !grpctest.AssertOrder(t, rec,
		grpctest.ServerReceives(req(1, 2)), grpctest.ServerSends(res(1)), grpctest.ServerSends(res(2)),
		grpctest.ServerReceives(req(3)), grpctest.ServerSends(res(3)), grpctest.Ends(codes.OK)) {
		return
	}
	spy := spytb.New(t)
	if grpctest.AssertOrder(spy, rec, grpctest.ServerSends(res(3)), grpctest.ServerReceives(req(3))) {
		t.Error("AssertOrder accepted a response before the request that asked for it")
	}
	spy.WantText(t, "ServerReceives")
}

func TestFakeStreamsRecordTheirEnd(t *testing.T) {
	last := func(r *recorder.Recorder) recorder.Event {
		ev := r.Events()
		if len(ev) == 0 {
			t.Fatal("nothing recorded")
		}
		return ev[len(ev)-1]
	}

	rec := recorder.New()
	s := fakes.NewServerStream[dupReq, dupRes](t.Context(), fakes.WithRecorder(rec))
	s.Cancel()
	s.End(nil) // after Cancel: no second End
	if e := last(rec); e.Kind != recorder.End || status.Code(e.Err) != codes.Canceled || e.Method != fakes.DefaultServerMethod {
		t.Errorf("last event after Cancel = %v %v %v %v, want server end Canceled on %s:\n%s", e.Side, e.Kind, e.Method, e.Err, fakes.DefaultServerMethod, rec)
	}
	if n := len(rec.Events()); n != 2 {
		t.Errorf("recorded %d events, want Begin and End:\n%s", n, rec)
	}

	rec = recorder.New()
	ctx, cancel := context.WithCancel(t.Context())
	c := fakes.NewClientStream[dupReq, dupRes](ctx, fakes.WithRecorder(rec))
	cancel()
	if err := rec.Wait(t.Context(), func(ev []recorder.Event) bool { return len(ev) == 2 }); err != nil {
		t.Fatal(err)
	}
	if e := last(rec); e.Kind != recorder.End || status.Code(e.Err) != codes.Canceled || e.Method != fakes.DefaultClientMethod {
		t.Errorf("last event after cancel = %v %v %v %v, want client end Canceled:\n%s", e.Side, e.Kind, e.Method, e.Err, rec)
	}
	if err := c.Send(req(1)); err != io.EOF {
		t.Errorf("Send after cancel: %v, want io.EOF", err)
	}

	rec = recorder.New()
	c = fakes.NewClientStream[dupReq, dupRes](t.Context(), fakes.WithRecorder(rec))
	if err := c.RespondTrailer(metadata.Pairs("t", "1")); err != nil {
		t.Fatal(err)
	}
	c.Finish(status.Error(codes.Aborted, "no"))
	_, err := c.Recv()
	wantCode(t, err, codes.Aborted)
	calls := rec.Calls()
	if len(calls) != 1 || status.Code(calls[0].Err()) != codes.Aborted || !calls[0].Done() {
		t.Fatalf("recorded calls %v, want one, done, Aborted:\n%s", calls, rec)
	}
	wantMsgs(t, []string{"1"}, calls[0].Trailer().Get("t"))
}

// WithSendBuffer is measurable with grpctest.SendUntilBlocked.
func TestSendBufferWithSendUntilBlocked(t *testing.T) {
	for _, n := range []int{0, 1, 3} {
		s := newDuplex(t, fakes.WithSendBuffer(n))
		defer s.Cancel() // releases the Send left blocked
		got := grpctest.SendUntilBlocked(t, s, func(i int) *dupRes { return res(int32(i)) }, stillBlocked)
		if got != n {
			t.Errorf("ServerStream WithSendBuffer(%d): %d Sends returned before one blocked, want %d", n, got, n)
		}

		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		c := fakes.NewClientStream[dupReq, dupRes](ctx, fakes.WithSendBuffer(n))
		got = grpctest.SendUntilBlocked(t, c, func(i int) *dupReq { return req(int32(i)) }, stillBlocked)
		if got != n {
			t.Errorf("ClientStream WithSendBuffer(%d): %d Sends returned before one blocked, want %d", n, got, n)
		}
	}
}

// sendEvents returns the Send events of side, and the messages of those
// that succeeded as the recorded call lists them.
func sendEvents(t testing.TB, r *recorder.Recorder, side recorder.Side) (sends []recorder.Event, listed []any) {
	t.Helper()
	for _, e := range r.Events() {
		if e.Side == side && e.Kind == recorder.Send {
			sends = append(sends, e)
		}
	}
	calls := r.Calls()
	if len(calls) != 1 {
		t.Fatalf("recorded %d calls, want 1:\n%s", len(calls), r)
	}
	if side == recorder.Server {
		return sends, calls[0].Responses()
	}
	return sends, calls[0].Requests()
}

// A Send that fails delivers nothing: its message is not read by Next, not
// in Responses, and the recorder has a failed Send and no response.
func TestServerStreamFailedSendDeliversNothing(t *testing.T) {
	rec := recorder.New()
	s := newDuplex(t, fakes.WithSendBuffer(1), fakes.WithRecorder(rec))
	if err := s.Send(res(1)); err != nil {
		t.Fatal(err)
	}
	send := grpctest.GoErr(t, func() error { return s.Send(res(2)) })
	if !send.AssertBlocked(stillBlocked) {
		t.FailNow()
	}
	s.Cancel()
	wantCode(t, waitErr(t, send), codes.Canceled)

	wantMsgs(t, []*dupRes{res(1)}, s.Responses())
	got, err := s.Next(t.Context())
	if err != nil {
		t.Fatalf("Next = %v, want the response sent before", err)
	}
	wantMsgs(t, []*dupRes{res(1)}, []*dupRes{got})
	got, err = s.Next(t.Context())
	if status.Code(err) != codes.Canceled {
		t.Fatalf("Next after the failed Send = %v, %v; want codes.Canceled and no response", got, err)
	}

	sends, listed := sendEvents(t, rec, recorder.Server)
	if len(sends) != 2 || sends[0].Err != nil || status.Code(sends[1].Err) != codes.Canceled {
		t.Errorf("recorded server Sends %v, want one OK and one Canceled:\n%s", sends, rec)
	}
	wantMsgs(t, []any{res(1)}, listed)
}

// The same on a ClientStream: a Send that Finish releases with io.EOF
// (grpc's "not sent") is not in Sent.
func TestClientStreamFailedSendDeliversNothing(t *testing.T) {
	rec := recorder.New()
	c := newClient(t, fakes.WithSendBuffer(0), fakes.WithRecorder(rec))
	send := grpctest.GoErr(t, func() error { return c.Send(req(1)) })
	if !send.AssertBlocked(stillBlocked) {
		t.FailNow()
	}
	c.Finish(nil)
	wantEOF(t, waitErr(t, send))
	if n := len(c.Sent()); n != 0 {
		t.Errorf("Sent() after the Send returned io.EOF has %d request(s), want none", n)
	}
	_, err := c.Recv() // the code sees the end; Next then has nothing to wait for
	wantEOF(t, err)
	got, err := c.Next(t.Context())
	if !errors.Is(err, io.EOF) {
		t.Fatalf("Next = %v, %v; want io.EOF and no request", got, err)
	}

	sends, listed := sendEvents(t, rec, recorder.Client)
	if len(sends) != 1 || !errors.Is(sends[0].Err, io.EOF) {
		t.Errorf("recorded client Sends %v, want one that failed with io.EOF:\n%s", sends, rec)
	}
	wantMsgs(t, nil, listed)
}

// Cancel records the server's End after the Recv it made fail, as a real
// server does: there the End comes when the handler returns, after the
// Recv. Compared with the events of a real server half canceled in the
// same Recv.
func TestCancelRecordsTheEndAfterTheRecvItEnded(t *testing.T) {
	serverKinds := func(r *recorder.Recorder) []recorder.Kind {
		var ks []recorder.Kind
		for _, e := range r.Events() {
			if e.Side == recorder.Server {
				ks = append(ks, e.Kind)
			}
		}
		return ks
	}

	srv := grpctest.NewServer(t, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, recvOnceService{}) })
	ctx, cancel := context.WithCancel(t.Context())
	real, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := real.Send(req(1)); err != nil {
		t.Fatal(err)
	}
	serverRecvs := func(n int) func([]recorder.Event) bool {
		return func(ev []recorder.Event) bool {
			got := 0
			for _, e := range ev {
				if e.Side == recorder.Server && e.Kind == recorder.Recv {
					got++
				}
			}
			return got >= n
		}
	}
	if err := srv.Recorder().Wait(ctx, serverRecvs(1)); err != nil {
		t.Fatal(err)
	}
	cancel() // the handler waits in its second Recv
	if err := srv.Recorder().Wait(t.Context(), func(ev []recorder.Event) bool {
		return slices.ContainsFunc(ev, func(e recorder.Event) bool { return e.Side == recorder.Server && e.Kind == recorder.End })
	}); err != nil {
		t.Fatal(err)
	}
	want := serverKinds(srv.Recorder())

	rec := recorder.New()
	s := fakes.NewServerStream[dupReq, dupRes](t.Context(), fakes.WithRecorder(rec), fakes.WithMethod(fullDuplex))
	s.Push(req(1))
	second := make(chan struct{}) // the first Recv has returned, the second is next
	handler := grpctest.GoErr(t, func() error {
		if _, err := s.Recv(); err != nil {
			return err
		}
		close(second)
		return recvOnceService{}.FullDuplexCall(s)
	})
	<-second
	for fakes.CallsInProgress(s) == 0 { // the second Recv has begun (the first has left)
		runtime.Gosched()
	}
	s.Cancel()
	if _, err := handler.Wait(waitLimit); status.Code(err) != codes.Canceled {
		t.Errorf("the handler returned %v, want Canceled", err)
	}
	if got := serverKinds(rec); !slices.Equal(got, want) {
		t.Errorf("the fake server half recorded %v; a real one %v:\nfake:\n%s\nreal:\n%s", got, want, rec, srv.Recorder())
	}
}

// recvOnceService's FullDuplexCall receives until its Recv fails and returns
// that error.
type recvOnceService struct {
	testpb.UnimplementedTestServiceServer
}

func (recvOnceService) FullDuplexCall(st testpb.TestService_FullDuplexCallServer) error {
	for {
		if _, err := st.Recv(); err != nil {
			return err
		}
	}
}
