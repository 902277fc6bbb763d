package fakes_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/interop"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

type (
	dupReq = testpb.StreamingOutputCallRequest
	dupRes = testpb.StreamingOutputCallResponse
)

func newDuplex(t testing.TB, opts ...fakes.Option) *fakes.ServerStream[dupReq, dupRes] {
	t.Helper()
	return fakes.NewServerStream[dupReq, dupRes](t.Context(), opts...)
}

// The interop server's real FullDuplexCall handler, called directly with the
// fake stream: no network, same handler code.
func TestServerStreamDrivesInteropFullDuplexCall(t *testing.T) {
	md := metadata.Pairs("x-grpc-test-echo-initial", "hello", "x-grpc-test-echo-trailing-bin", "\x01\x02")
	s := fakes.NewServerStream[dupReq, dupRes](metadata.NewIncomingContext(t.Context(), md))
	s.Push(req(1, 2), req(3))
	s.CloseSend()

	var handler testpb.TestServiceServer = interop.NewTestServer()
	err := handler.FullDuplexCall(s)
	s.End(err)
	if err != nil {
		t.Fatalf("FullDuplexCall returned %v, want nil", err)
	}
	wantMsgs(t, []*dupRes{res(1), res(2), res(3)}, s.Responses())
	wantMsgs(t, []string{"hello"}, s.Header().Get("x-grpc-test-echo-initial"))
	wantMsgs(t, []string{"\x01\x02"}, s.Trailer().Get("x-grpc-test-echo-trailing-bin"))
	for _, want := range []*dupRes{res(1), res(2), res(3)} {
		got, err := s.Next(t.Context())
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		wantMsgs(t, []*dupRes{want}, []*dupRes{got})
	}
	_, err = s.Next(t.Context())
	wantEOF(t, err)
}

// Ping-pong with the handler running concurrently: the test pushes one
// request at a time and waits for its response with Next.
func TestServerStreamPingPongConcurrent(t *testing.T) {
	s := newDuplex(t)
	done := grpctest.GoErr(t, func() error {
		err := interop.NewTestServer().FullDuplexCall(s)
		s.End(err)
		return err
	})
	for i := int32(1); i <= 5; i++ {
		s.Push(req(i))
		got, err := s.Next(t.Context())
		if err != nil {
			t.Fatalf("Next %d: %v", i, err)
		}
		wantMsgs(t, []*dupRes{res(i)}, []*dupRes{got})
	}
	s.CloseSend()
	if err := waitErr(t, done); err != nil {
		t.Fatalf("handler: %v", err)
	}
	_, err := s.Next(t.Context())
	wantEOF(t, err)
}

func TestServerStreamServerStreamingAndClientStreamingHandlers(t *testing.T) {
	srv := interop.NewTestServer()

	out := newDuplex(t)
	if err := srv.StreamingOutputCall(req(4, 5), out); err != nil {
		t.Fatalf("StreamingOutputCall: %v", err)
	}
	wantMsgs(t, []*dupRes{res(4), res(5)}, out.Responses())

	in := fakes.NewServerStream[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse](t.Context())
	in.Push(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: make([]byte, 3)}},
		&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: make([]byte, 4)}})
	in.CloseSend()
	if err := srv.StreamingInputCall(in); err != nil {
		t.Fatalf("StreamingInputCall: %v", err)
	}
	wantMsgs(t, []*testpb.StreamingInputCallResponse{{AggregatedPayloadSize: 7}}, in.Responses())
}

func TestServerStreamRecvEOFAfterCloseSend(t *testing.T) {
	s := newDuplex(t)
	s.Push(req(1))
	s.CloseSend()
	s.CloseSend() // idempotent
	got, err := s.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	wantMsgs(t, []*dupReq{req(1)}, []*dupReq{got})
	for range 2 {
		_, err := s.Recv()
		wantEOF(t, err)
	}
}

func TestServerStreamCancel(t *testing.T) {
	s := newDuplex(t)
	recv := grpctest.GoErr(t, func() error { _, err := s.Recv(); return err })
	if !recv.AssertBlocked(stillBlocked) {
		t.FailNow()
	}
	s.Cancel()
	wantCode(t, waitErr(t, recv), codes.Canceled)
	s.Push(req(1)) // pushed after cancel: still canceled
	_, err := s.Recv()
	wantCode(t, err, codes.Canceled)
	wantCode(t, s.Send(res(1)), codes.Canceled)
	if s.Context().Err() == nil {
		t.Error("handler context not canceled after Cancel")
	}
	_, err = s.Next(t.Context())
	wantCode(t, err, codes.Canceled)
	s.Cancel() // idempotent
}

func TestServerStreamParentDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 0)
	defer cancel()
	s := fakes.NewServerStream[dupReq, dupRes](ctx)
	_, err := s.Recv()
	wantCode(t, err, codes.DeadlineExceeded)
	wantCode(t, s.Send(res(1)), codes.DeadlineExceeded)
}

func TestServerStreamEnd(t *testing.T) {
	s := newDuplex(t)
	if err := s.Send(res(1)); err != nil {
		t.Fatal(err)
	}
	s.End(status.Error(codes.Aborted, "handler gave up"))
	s.End(nil) // only the first counts

	// The test still reads what was sent, then the handler's status.
	if _, err := s.Next(t.Context()); err != nil {
		t.Fatalf("Next: %v", err)
	}
	_, err := s.Next(t.Context())
	wantCode(t, err, codes.Aborted)

	// A handler goroutine that outlives its call gets an error, not a panic.
	err = s.Send(res(2))
	wantCode(t, err, codes.Canceled)
	if !strings.Contains(err.Error(), "End was called") {
		t.Errorf("Send after End: %v; want it to say the stream ended", err)
	}
	_, err = s.Recv()
	wantCode(t, err, codes.Canceled)
	if err := s.SendHeader(nil); err == nil {
		t.Error("SendHeader after End succeeded")
	}
	s.SetTrailer(metadata.Pairs("late", "1")) // ignored, as grpc's
	if got := s.Trailer(); len(got) != 0 {
		t.Errorf("Trailer after a late SetTrailer = %v, want empty", got)
	}
}

func TestServerStreamEndPlainErrorIsUnknown(t *testing.T) {
	s := newDuplex(t)
	s.End(context.DeadlineExceeded)
	_, err := s.Next(t.Context())
	wantCode(t, err, codes.DeadlineExceeded)

	s = newDuplex(t)
	s.End(errStr("boom"))
	_, err = s.Next(t.Context())
	wantCode(t, err, codes.Unknown)
}

type errStr string

func (e errStr) Error() string { return string(e) }

func TestServerStreamNilMessages(t *testing.T) {
	s := newDuplex(t)
	err := s.Send(nil)
	wantCode(t, err, codes.InvalidArgument)
	if !strings.Contains(err.Error(), "nil *grpc_testing.StreamingOutputCallResponse") {
		t.Errorf("Send(nil) = %v; want it to name the type", err)
	}
	wantCode(t, s.RecvMsg((*dupReq)(nil)), codes.InvalidArgument)
	wantCode(t, s.SendMsg((*dupRes)(nil)), codes.InvalidArgument)

	// A nil pushed by the test is the test's bug: reported by the next
	// operation, naming the position.
	s.Push(req(1), nil)
	_, err = s.Recv()
	wantCode(t, err, codes.FailedPrecondition)
	if !strings.Contains(err.Error(), "Push got a nil") || !strings.Contains(err.Error(), "position 1") {
		t.Errorf("Recv after Push(nil) = %v; want it to name the misuse", err)
	}
	_, err = s.Next(t.Context())
	wantCode(t, err, codes.FailedPrecondition)
}

func TestServerStreamPushAfterCloseSend(t *testing.T) {
	s := newDuplex(t)
	s.CloseSend()
	s.Push(req(1))
	_, err := s.Recv()
	wantCode(t, err, codes.FailedPrecondition)
	if !strings.Contains(err.Error(), "Push after CloseSend") {
		t.Errorf("Recv = %v; want it to name the misuse", err)
	}
}

func TestServerStreamWrongMessageType(t *testing.T) {
	s := newDuplex(t)
	err := s.SendMsg(&testpb.Empty{})
	wantCode(t, err, codes.Internal)
	for _, name := range []string{"*grpc_testing.Empty", "*grpc_testing.StreamingOutputCallResponse"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("SendMsg(wrong type) = %v; want it to name %s", err, name)
		}
	}
	s.Push(req(1))
	err = s.RecvMsg(&testpb.Empty{})
	wantCode(t, err, codes.Internal)
	if !strings.Contains(err.Error(), "*grpc_testing.StreamingOutputCallRequest") {
		t.Errorf("RecvMsg(wrong type) = %v; want it to name the stream's type", err)
	}
}

func TestServerStreamHeaderOnce(t *testing.T) {
	s := newDuplex(t)
	if err := s.SetHeader(metadata.Pairs("a", "1")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetHeader(nil); err != nil {
		t.Fatalf("SetHeader(nil) = %v, want nil as grpc", err)
	}
	if err := s.SendHeader(metadata.Pairs("b", "2")); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.SendHeader(metadata.Pairs("c", "3")), codes.Internal)
	wantCode(t, s.SetHeader(metadata.Pairs("d", "4")), codes.Internal)
	wantMsgs(t, []metadata.MD{metadata.Pairs("a", "1", "b", "2")}, []metadata.MD{s.Header()})

	// The first Send sends the header too.
	s = newDuplex(t)
	if err := s.Send(res(1)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.SetHeader(metadata.Pairs("a", "1")), codes.Internal)
	wantCode(t, s.SendHeader(nil), codes.Internal)

	s.SetTrailer(metadata.Pairs("t", "1"))
	s.SetTrailer(metadata.Pairs("t", "2"))
	wantMsgs(t, []string{"1", "2"}, s.Trailer().Get("t"))
}

func TestServerStreamCopiesMessages(t *testing.T) {
	s := newDuplex(t)
	// A handler that reuses its response message.
	m := res(1)
	for i := range 3 {
		m.Payload.Body = make([]byte, i)
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	wantMsgs(t, []*dupRes{res(0), res(1), res(2)}, s.Responses())

	// A handler that changes what it received does not change the test's.
	pushed := req(7)
	s.Push(pushed)
	got, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	got.ResponseParameters[0].Size = 99
	wantMsgs(t, []*dupReq{req(7)}, []*dupReq{pushed})
}

func TestServerStreamNextBoundedByContext(t *testing.T) {
	s := newDuplex(t)
	ctx, cancel := context.WithTimeout(t.Context(), stillBlocked)
	defer cancel()
	if _, err := s.Next(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Next with nothing sent = %v, want context.DeadlineExceeded", err)
	}

	next := grpctest.GoErr(t, func() error { _, err := s.Next(t.Context()); return err })
	if !next.AssertBlocked(stillBlocked) {
		t.FailNow()
	}
	if err := s.Send(res(1)); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, next); err != nil {
		t.Fatalf("Next: %v", err)
	}
}

func TestServerStreamUnbufferedSendBlocksUntilRead(t *testing.T) {
	s := newDuplex(t, fakes.WithSendBuffer(0))
	send := grpctest.GoErr(t, func() error { return s.Send(res(1)) })
	if !send.AssertBlocked(stillBlocked) {
		t.FailNow()
	}
	// Responses is a snapshot, not a read: the message is visible, Send still blocked.
	wantMsgs(t, []*dupRes{res(1)}, s.Responses())
	if _, err := s.Next(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, send); err != nil {
		t.Fatalf("Send: %v", err)
	}
}

func TestServerStreamBufferedSendBlocksWhenFull(t *testing.T) {
	s := newDuplex(t, fakes.WithSendBuffer(2))
	for i := range 2 {
		if err := s.Send(res(int32(i))); err != nil {
			t.Fatal(err)
		}
	}
	send := grpctest.GoErr(t, func() error { return s.Send(res(2)) })
	if !send.AssertBlocked(stillBlocked) {
		t.FailNow()
	}
	if _, err := s.Next(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, send); err != nil {
		t.Fatalf("Send: %v", err)
	}
}

func TestServerStreamBlockedSendReleasedByCancel(t *testing.T) {
	s := newDuplex(t, fakes.WithSendBuffer(0))
	send := grpctest.GoErr(t, func() error { return s.Send(res(1)) })
	if !send.AssertBlocked(stillBlocked) {
		t.FailNow()
	}
	s.Cancel()
	wantCode(t, waitErr(t, send), codes.Canceled)
}

func TestServerStreamFailAt(t *testing.T) {
	injected := status.Error(codes.Unavailable, "injected")
	s := newDuplex(t, fakes.WithFailAt(2, injected), fakes.WithFailAt(4, injected))
	s.Push(req(1), req(2))
	if _, err := s.Recv(); err != nil { // call 1
		t.Fatalf("call 1: %v", err)
	}
	if err := s.Send(res(1)); err != injected { // call 2
		t.Fatalf("call 2 = %v, want the injected error", err)
	}
	if _, err := s.Recv(); err != nil { // call 3
		t.Fatalf("call 3: %v", err)
	}
	if _, err := s.Recv(); err != injected { // call 4
		t.Fatalf("call 4 = %v, want the injected error", err)
	}
	if err := s.Send(res(2)); err != nil { // call 5
		t.Fatalf("call 5: %v", err)
	}
	wantMsgs(t, []*dupRes{res(2)}, s.Responses())
}

// The interop handler returns the injected error, as a real handler must.
func TestServerStreamFailAtReachesHandler(t *testing.T) {
	injected := status.Error(codes.DataLoss, "disk on fire")
	s := newDuplex(t, fakes.WithFailAt(3, injected))
	s.Push(req(1, 1), req(1))
	err := interop.NewTestServer().FullDuplexCall(s) // Recv, Send, Send(fails)
	s.End(err)
	if err != injected {
		t.Fatalf("FullDuplexCall = %v, want the injected error", err)
	}
	wantMsgs(t, []*dupRes{res(1)}, s.Responses())
}

func TestStreamBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  fakes.Option
		want string
	}{
		{"negative buffer", fakes.WithSendBuffer(-1), "WithSendBuffer(-1)"},
		{"fail at zero", fakes.WithFailAt(0, errStr("x")), "WithFailAt(0, ...)"},
		{"fail with nil", fakes.WithFailAt(1, nil), "WithFailAt(1, nil)"},
		{"bad method", fakes.WithMethod("Svc.M"), `WithMethod("Svc.M")`},
		{"method of other types", fakes.WithMethod("/grpc.testing.TestService/UnaryCall"),
			"the method's request is grpc.testing.SimpleRequest, the stream's Req is grpc.testing.StreamingOutputCallRequest"},
		{"method of another response type", fakes.WithMethod("/grpc.testing.TestService/StreamingInputCall"),
			"the method's response is grpc.testing.StreamingInputCallResponse, the stream's Res is grpc.testing.StreamingOutputCallResponse"},
		{"nil option", nil, "option 1 is nil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newDuplex(t, tc.opt)
			checks := map[string]error{}
			checks["Send"] = s.Send(res(1))
			_, checks["Recv"] = s.Recv()
			_, checks["Next"] = s.Next(t.Context())
			// The header methods too: a test that checks only headers
			// would pass with the bad option.
			checks["SetHeader"] = s.SetHeader(metadata.Pairs("a", "1"))
			checks["SetHeader(nil)"] = s.SetHeader(nil)
			checks["grpc.SetTrailer"] = grpc.SetTrailer(s.Context(), metadata.Pairs("a", "1"))
			// (grpc.SetHeader with an empty md returns nil itself, before
			// it reaches the stream.)
			checks["SendHeader"] = s.SendHeader(nil)
			_, checks["WaitHeader"] = s.WaitHeader(t.Context())
			c := fakes.NewClientStream[dupReq, dupRes](t.Context(), tc.opt)
			checks["client RespondHeader"] = c.RespondHeader(metadata.Pairs("a", "1"))
			checks["client RespondTrailer"] = c.RespondTrailer(metadata.Pairs("a", "1"))
			checks["client Send"] = c.Send(req(1))
			checks["client CloseSend"] = c.CloseSend()
			_, checks["client Recv"] = c.Recv()
			for op, err := range checks {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s = %v; want an error naming %s", op, err, tc.want)
				}
			}
		})
	}
}

func TestStreamNilContext(t *testing.T) {
	var ctx context.Context // a nil context: a bug in the test, reported by the first operation
	s := fakes.NewServerStream[dupReq, dupRes](ctx)
	err := s.Send(res(1))
	wantCode(t, err, codes.InvalidArgument)
	if !strings.Contains(err.Error(), "NewServerStream: ctx is nil") {
		t.Errorf("Send = %v; want it to name the nil context", err)
	}
	c := fakes.NewClientStream[dupReq, dupRes](ctx)
	_, err = c.Recv()
	wantCode(t, err, codes.InvalidArgument)
	if !strings.Contains(err.Error(), "NewClientStream: ctx is nil") {
		t.Errorf("Recv = %v; want it to name the nil context", err)
	}
}

// Next(nil) is a bad argument of that call only: a clear error, not a
// crash, and the stream stays usable.
func TestStreamNextNilContext(t *testing.T) {
	var ctx context.Context // a nil context: a bug in the test
	s := newDuplex(t)
	_, err := s.Next(ctx)
	wantCode(t, err, codes.InvalidArgument)
	if !strings.Contains(err.Error(), "ServerStream.Next: ctx is nil") {
		t.Errorf("ServerStream.Next(nil) = %v; want it to name the nil context", err)
	}
	if err := s.Send(res(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(t.Context()); err != nil {
		t.Errorf("Next after Next(nil) = %v; want the response", err)
	}

	c := fakes.NewClientStream[dupReq, dupRes](t.Context())
	_, err = c.Next(ctx)
	wantCode(t, err, codes.InvalidArgument)
	if !strings.Contains(err.Error(), "ClientStream.Next: ctx is nil") {
		t.Errorf("ClientStream.Next(nil) = %v; want it to name the nil context", err)
	}
	if err := c.Send(req(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Next(t.Context()); err != nil {
		t.Errorf("Next after Next(nil) = %v; want the request", err)
	}
}

// The first misuse is the one reported: a later one, often its
// consequence, does not replace it.
func TestServerStreamReportsTheFirstMisuse(t *testing.T) {
	s := newDuplex(t)
	s.Push(nil) // the first misuse
	s.CloseSend()
	s.Push(req(1)) // a second one: Push after CloseSend
	_, err := s.Recv()
	wantCode(t, err, codes.FailedPrecondition)
	if !strings.Contains(err.Error(), "Push got a nil") || strings.Contains(err.Error(), "Push after CloseSend") {
		t.Errorf("Recv = %v; want it to name the first misuse (Push got a nil), not the later one", err)
	}
}

// WaitHeader waits for the header the handler sends, as a client's
// stream.Header does, and returns at once when the stream ends.
func TestServerStreamWaitHeader(t *testing.T) {
	md := metadata.Pairs("room", "lobby")
	wait := func(s *fakes.ServerStream[dupReq, dupRes]) *grpctest.Pending[metadata.MD] {
		return grpctest.Go(t, func() (metadata.MD, error) { return s.WaitHeader(t.Context()) })
	}
	check := func(name string, p *grpctest.Pending[metadata.MD], want metadata.MD) {
		t.Helper()
		got, err := p.Wait(waitLimit)
		if err != nil || !cmp.Equal(got, want) {
			t.Errorf("%s: WaitHeader = %v, %v; want %v, nil", name, got, err, want)
		}
	}

	s := newDuplex(t)
	h := wait(s)
	if !h.AssertBlocked(stillBlocked) {
		t.FailNow()
	}
	if err := s.SendHeader(md); err != nil {
		t.Fatal(err)
	}
	check("SendHeader", h, md)

	s = newDuplex(t)
	h = wait(s)
	if err := s.SetHeader(md); err != nil {
		t.Fatal(err)
	}
	if !h.AssertBlocked(stillBlocked) {
		t.Fatal("WaitHeader returned on SetHeader, which sends nothing")
	}
	if err := s.Send(res(1)); err != nil {
		t.Fatal(err)
	}
	check("the first Send", h, md)

	s = newDuplex(t)
	h = wait(s)
	if err := s.SetHeader(md); err != nil {
		t.Fatal(err)
	}
	s.End(status.Error(codes.NotFound, "no room"))
	check("End without a header sent", h, md) // sent with the status

	s = newDuplex(t)
	h = wait(s)
	s.Cancel()
	_, err := h.Wait(waitLimit)
	wantCode(t, err, codes.Canceled)

	// The stream's own context ends: no busy wait, a Canceled status.
	parent, cancel := context.WithCancel(t.Context())
	s = fakes.NewServerStream[dupReq, dupRes](parent)
	h = wait(s)
	cancel()
	_, err = h.Wait(waitLimit)
	wantCode(t, err, codes.Canceled)

	// The caller's context ends first.
	ctx, cancelWait := context.WithCancel(t.Context())
	s = newDuplex(t)
	cw := grpctest.Go(t, func() (metadata.MD, error) { return s.WaitHeader(ctx) })
	cancelWait()
	if _, err := cw.Wait(waitLimit); err != context.Canceled {
		t.Errorf("WaitHeader after its context ended: %v, want context.Canceled", err)
	}

	// Misuse.
	var nilCtx context.Context // a bug in the test
	_, err = newDuplex(t).WaitHeader(nilCtx)
	wantCode(t, err, codes.InvalidArgument)
	if !strings.Contains(err.Error(), "ServerStream.WaitHeader: ctx is nil") {
		t.Errorf("WaitHeader(nil) = %v; want it to name the nil context", err)
	}
	var zero fakes.ServerStream[dupReq, dupRes]
	_, err = zero.WaitHeader(t.Context())
	wantCode(t, err, codes.FailedPrecondition)
}

// leakyHandler's FullDuplexCall answers each request from a goroutine it
// leaves running (a fan-out bug): the goroutine waits for release.
type leakyHandler struct {
	testpb.UnimplementedTestServiceServer
	release chan struct{}
}

func (h leakyHandler) FullDuplexCall(st testpb.TestService_FullDuplexCallServer) error {
	go func() { <-h.release }()
	return nil
}

// The package doc's advice: VerifyNoLeaks at a test's end reports a
// goroutine a handler run on an in-memory stream leaves running, and
// nothing for one that does not.
func TestVerifyNoLeaksOnAHandlerRunOnAServerStream(t *testing.T) {
	for _, leak := range []bool{true, false} {
		release := make(chan struct{})
		before := goleak.IgnoreCurrent() // the earlier tests' goroutines still exiting
		spy := spytb.New(t)
		ss := fakes.NewServerStream[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse](t.Context())
		ss.CloseSend()
		if leak {
			ss.End(leakyHandler{release: release}.FullDuplexCall(ss))
		} else {
			ss.End(nil)
		}
		grpctest.VerifyNoLeaks(spy, before) // as a defer would, at the test's end
		close(release)
		if leak {
			spy.Want(t, 1, "fakes_test.leakyHandler.FullDuplexCall.func1")
		} else {
			spy.WantClean(t)
		}
	}
}
