package recorder_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/streamtest/streamtest/recorder"
)

// Calls that end in ways the handler's or the caller's code does not see
// return normally: a service config's deadline, a handler's panic, a
// request gRPC refuses to send, a Send that fails because the call was
// canceled.

// hangServer's bidi handler waits for its call to end.
type hangServer struct {
	testpb.UnimplementedTestServiceServer
}

func (hangServer) FullDuplexCall(st testpb.TestService_FullDuplexCallServer) error {
	<-st.Context().Done()
	return status.FromContextError(st.Context().Err()).Err()
}

// endOf returns the End of side recorded for the first call, if any.
func endOf(rec *recorder.Recorder, side recorder.Side) (recorder.Event, bool) {
	return findEnd(rec.Events(), side)
}

// A deadline that the service config gives the method is the call's
// deadline: gRPC puts it on the stream's context, not on the caller's. A
// client that never reads learns of it from nobody but the recorder,
// whose End must come with it.
func TestServiceConfigTimeoutEndsTheClientHalf(t *testing.T) {
	rec := recorder.New()
	p := newPair(t, bufnet, rec, rec, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, hangServer{}) },
		grpc.WithDefaultServiceConfig(`{"methodConfig":[{"name":[{"service":"grpc.testing.TestService"}],"timeout":"0.05s"}]}`))
	callCtx, cancel := context.WithCancel(context.Background()) // no deadline of its own
	defer cancel()
	st, err := testpb.NewTestServiceClient(p.conn).FullDuplexCall(callCtx)
	if err != nil {
		t.Fatal(err)
	}
	err = rec.Wait(ctxT(t), func([]recorder.Event) bool { _, ok := endOf(rec, recorder.Client); return ok })
	if err != nil {
		t.Fatalf("no client End after the service config's deadline (%v)\n%s", err, rec)
	}
	if e, _ := endOf(rec, recorder.Client); status.Code(e.Err) != codes.DeadlineExceeded {
		t.Errorf("client End: %v, want DeadlineExceeded\n%s", e.Err, rec)
	}
	if _, err := st.Recv(); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("Recv: %v, want DeadlineExceeded", err)
	}
}

// panicServer's handlers panic.
type panicServer struct {
	testpb.UnimplementedTestServiceServer
}

func (panicServer) UnaryCall(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	panic("boom")
}

func (panicServer) FullDuplexCall(testpb.TestService_FullDuplexCallServer) error { panic("boom") }

// recoverUnary and recoverStream are the usual recovery middleware: a
// handler's panic becomes codes.Internal.
func recoverUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = status.Errorf(codes.Internal, "recovered: %v", p)
		}
	}()
	return h(ctx, req)
}

func recoverStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = status.Errorf(codes.Internal, "recovered: %v", p)
		}
	}()
	return h(srv, ss)
}

// A handler that panics under a recovery interceptor further out has
// ended: its End says it panicked, and the panic still reaches the
// recovery interceptor, whose status the client gets.
func TestPanickingHandlerEndsTheServerHalf(t *testing.T) {
	rec := recorder.New()
	sopts := append([]grpc.ServerOption{grpc.ChainUnaryInterceptor(recoverUnary), grpc.ChainStreamInterceptor(recoverStream)}, rec.ServerOptions()...)
	p := newPairOpts(t, bufnet, sopts, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, panicServer{}) })
	c := testpb.NewTestServiceClient(p.conn)
	if _, err := c.UnaryCall(ctxT(t), &testpb.SimpleRequest{}); status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "recovered: boom") {
		t.Fatalf("UnaryCall: %v, want the recovery interceptor's Internal", err)
	}
	st, err := c.FullDuplexCall(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); status.Code(err) != codes.Internal {
		t.Fatalf("Recv: %v, want Internal", err)
	}
	calls := rec.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d calls, want 2\n%s", len(calls), rec)
	}
	for _, c := range calls {
		if !c.Done() {
			t.Errorf("%s: not done although gRPC sent its status\n%s", c.Method(), rec)
		}
		if err := c.Err(); status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "the handler did not return: it panicked") {
			t.Errorf("%s: End %v, want Internal saying the handler did not return\n%s", c.Method(), err, rec)
		}
	}
}

// bigUnary answers UnaryCall with the size asked for, and fails with
// ResourceExhausted when asked for -1.
type bigUnary struct {
	testpb.UnimplementedTestServiceServer
}

func (bigUnary) UnaryCall(_ context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	if req.GetResponseSize() < 0 {
		return nil, status.Error(codes.ResourceExhausted, "trying to send message larger than max (the server's own words)")
	}
	return &testpb.SimpleResponse{Payload: &testpb.Payload{Body: make([]byte, req.GetResponseSize())}}, nil
}

// clientSend returns the client's recorded Send of the only call.
func clientSend(t *testing.T, rec *recorder.Recorder) recorder.Event {
	t.Helper()
	for _, e := range rec.Events() {
		if e.Side == recorder.Client && e.Kind == recorder.Send {
			return e
		}
	}
	t.Fatalf("no client Send\n%s", rec)
	return recorder.Event{}
}

// A unary request larger than the call's send limit never leaves the
// client: its Send failed, with the status the call returns. A request
// that is sent (it fits) keeps a Send without error even when the call
// then fails with the same code. (One that fits once compressed: see
// e2e's TestUnaryRequestThatFitsCompressedIsSent; registering a
// compressor here would add a header to every call the benchmarks make.)
func TestUnaryRequestGRPCRefusesToSend(t *testing.T) {
	big := &testpb.SimpleRequest{Payload: &testpb.Payload{Body: make([]byte, 1000)}}
	refusedByServer := &testpb.SimpleRequest{ResponseSize: -1, Payload: &testpb.Payload{Body: make([]byte, 1000)}}
	limitConfig := `{"methodConfig":[{"name":[{"service":"grpc.testing.TestService"}],"maxRequestMessageBytes":100}]}`
	for _, tc := range []struct {
		name     string
		dopts    []grpc.DialOption
		copts    []grpc.CallOption
		req      *testpb.SimpleRequest
		sendFail bool
	}{
		{name: "call option", copts: []grpc.CallOption{grpc.MaxCallSendMsgSize(100)}, req: big, sendFail: true},
		{name: "default call option", dopts: []grpc.DialOption{grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(100))}, req: big, sendFail: true},
		{name: "service config", dopts: []grpc.DialOption{grpc.WithDefaultServiceConfig(limitConfig)}, req: big, sendFail: true},
		{name: "smaller of both", dopts: []grpc.DialOption{grpc.WithDefaultServiceConfig(limitConfig)}, copts: []grpc.CallOption{grpc.MaxCallSendMsgSize(1 << 20)}, req: big, sendFail: true},
		{name: "fits", copts: []grpc.CallOption{grpc.MaxCallSendMsgSize(1 << 20)}, req: refusedByServer},
		{name: "no limit", req: refusedByServer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := recorder.New()
			p := newPair(t, bufnet, rec, rec, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, bigUnary{}) }, tc.dopts...)
			_, err := testpb.NewTestServiceClient(p.conn).UnaryCall(ctxT(t), tc.req, tc.copts...)
			if status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("UnaryCall: %v, want ResourceExhausted", err)
			}
			send := clientSend(t, rec)
			switch {
			case tc.sendFail && (send.Err == nil || send.Err.Error() != err.Error()):
				t.Errorf("client Send recorded with %v, want the call's error %v\n%s", send.Err, err, rec)
			case !tc.sendFail && send.Err != nil:
				t.Errorf("client Send recorded with %v, want no error: the request was sent\n%s", send.Err, rec)
			}
			if e, _ := endOf(rec, recorder.Client); status.Code(e.Err) != codes.ResourceExhausted {
				t.Errorf("client End: %v, want ResourceExhausted", e.Err)
			}
		})
	}
}

// A Send that fails because the call's context was canceled comes back
// after the End is recorded: code that has seen it fail can check the End
// at once, with no Recorder.Wait. Each round races the SendMsg's own
// recording of the End against context.AfterFunc's. With a service
// config's timeout, the recorder watches a context of its own, derived
// from the caller's, whose cancel may reach it after gRPC has seen it.
func TestSendFailingAfterCancelHasItsEndRecorded(t *testing.T) {
	timeout := grpc.WithDefaultServiceConfig(`{"methodConfig":[{"name":[{"service":"grpc.testing.TestService"}],"timeout":"100s"}]}`)
	for _, tc := range []struct {
		n     network
		dopts []grpc.DialOption
	}{{bufnet, nil}, {tcp, nil}, {bufnet, []grpc.DialOption{timeout}}} {
		n := tc.n
		t.Run(fmt.Sprintf("%s/config=%v", n, tc.dopts != nil), func(t *testing.T) {
			rec := recorder.New()
			p := newPair(t, n, rec, rec, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, hangServer{}) }, tc.dopts...)
			c := testpb.NewTestServiceClient(p.conn)
			// 16 KiB: the sender blocks on flow control after a few (the
			// server reads nothing), so the cancel often finds it blocked.
			req := &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: make([]byte, 16<<10)}}
			for round := range 100 {
				ctx, cancel := context.WithCancel(ctxT(t))
				st, err := c.FullDuplexCall(ctx)
				if err != nil {
					t.Fatal(err)
				}
				id, _ := rec.CallID(st.Context())
				sent := make(chan error, 1)
				go func() {
					var err error
					for err == nil { // until gRPC learns of the cancel
						err = st.Send(req)
					}
					sent <- err
				}()
				cancel()
				err = <-sent
				var end *recorder.Event
				for _, e := range rec.Events() {
					if e.CallID == id && e.Side == recorder.Client && e.Kind == recorder.End {
						end = &e
					}
				}
				switch {
				case end == nil:
					t.Fatalf("round %d: Send returned %v, and no client End is recorded\n%s", round, err, rec)
				case status.Code(end.Err) != codes.Canceled:
					t.Fatalf("round %d: client End %v, want Canceled", round, end.Err)
				}
			}
		})
	}
}

// stubStream is a client stream below the recorder (WrapClientStream)
// whose RecvMsg returns only when released, with the context's error:
// a stream of another transport, slower to notice the cancel than gRPC's.
type stubStream struct {
	ctx      context.Context
	entered  chan struct{}
	release  chan struct{}
	recvDone chan struct{}
}

func (s *stubStream) Header() (metadata.MD, error) { return nil, nil }
func (s *stubStream) Trailer() metadata.MD         { return nil }
func (s *stubStream) CloseSend() error             { return nil }
func (s *stubStream) Context() context.Context     { return s.ctx }
func (s *stubStream) SendMsg(any) error            { return s.ctx.Err() }
func (s *stubStream) RecvMsg(any) error {
	close(s.entered)
	<-s.release
	return s.ctx.Err()
}

// A Send that fails after the cancel while a RecvMsg is in progress does
// not wait for that RecvMsg: the End comes with what the RecvMsg returns,
// recorded after it, as when the context ends with no Send at all.
func TestFailedSendLeavesTheEndToARecvInProgress(t *testing.T) {
	rec := recorder.New()
	ctx, cancel := context.WithCancel(context.Background())
	stub := &stubStream{ctx: ctx, entered: make(chan struct{}), release: make(chan struct{}), recvDone: make(chan struct{})}
	cs := rec.WrapClientStream(stub, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/x.Y/Z")
	go func() {
		defer close(stub.recvDone)
		_ = cs.RecvMsg(&testpb.SimpleResponse{})
	}()
	<-stub.entered
	cancel()
	if err := cs.SendMsg(&testpb.SimpleRequest{}); err == nil {
		t.Fatal("SendMsg after the cancel: no error")
	}
	if _, ok := endOf(rec, recorder.Client); ok {
		t.Errorf("the End is recorded while the RecvMsg is still in progress\n%s", rec)
	}
	close(stub.release)
	<-stub.recvDone
	var kinds []recorder.Kind
	for _, e := range rec.Events() {
		kinds = append(kinds, e.Kind)
	}
	if want := []recorder.Kind{recorder.Begin, recorder.Send, recorder.Recv, recorder.End}; !slices.Equal(kinds, want) {
		t.Errorf("events %v, want %v\n%s", kinds, want, rec)
	}
}

// gRPC counts the service config's timeout from the start of the call,
// before it waits for a transport; the recorder's deadline must not be
// later, or a Send that gRPC's deadline failed would come back before the
// End, and a cancel made on that error would be recorded as the End.
func TestServiceConfigDeadlineCountsFromTheCallsStart(t *testing.T) {
	rec := recorder.New()
	slowDial := func(ctx context.Context, addr string) (net.Conn, error) {
		// The behaviour under test: a connection that takes 150ms to set
		// up, most of the call's 200ms.
		select {
		case <-time.After(150 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	p := newPair(t, tcp, rec, rec, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, hangServer{}) },
		grpc.WithContextDialer(slowDial),
		grpc.WithDefaultServiceConfig(`{"methodConfig":[{"name":[{"service":"grpc.testing.TestService"}],"timeout":"0.2s"}]}`))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := testpb.NewTestServiceClient(p.conn).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: make([]byte, 1024)}}
	for err == nil {
		err = st.Send(req)
	}
	e, ok := endOf(rec, recorder.Client)
	if !ok {
		t.Fatalf("Send returned %v: no client End recorded\n%s", err, rec)
	}
	cancel()
	if status.Code(e.Err) != codes.DeadlineExceeded {
		t.Errorf("client End %v, want DeadlineExceeded\n%s", e.Err, rec)
	}
	if _, err := st.Recv(); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("Recv: %v, want DeadlineExceeded", err)
	}
}

// goexitServer's bidi handler ends its goroutine without returning, as
// t.FailNow called in a handler does.
type goexitServer struct {
	testpb.UnimplementedTestServiceServer
}

func (goexitServer) FullDuplexCall(testpb.TestService_FullDuplexCallServer) error {
	runtime.Goexit()
	return nil
}

// A handler whose goroutine exits without returning has ended too, and
// its End says how.
func TestHandlerThatExitsItsGoroutineEnds(t *testing.T) {
	rec := recorder.New()
	p := newPair(t, bufnet, rec, rec, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, goexitServer{}) })
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	if _, err := testpb.NewTestServiceClient(p.conn).FullDuplexCall(ctx); err != nil {
		t.Fatal(err)
	}
	err := rec.Wait(ctx, func([]recorder.Event) bool { _, ok := endOf(rec, recorder.Server); return ok })
	if err != nil {
		t.Fatalf("no server End (%v)\n%s", err, rec)
	}
	if e, _ := endOf(rec, recorder.Server); status.Code(e.Err) != codes.Internal || !strings.Contains(e.Err.Error(), "runtime.Goexit") {
		t.Errorf("server End: %v, want Internal naming runtime.Goexit", e.Err)
	}
}

// The recorder does not recover a handler's panic: the interceptor
// further out that does sees it untouched, its stack starting at the
// handler's panic (a recover and re-panic would start it in the recorder,
// and under GODEBUG=panicnil=1 would stop a panic(nil) for good).
func TestPanicReachesTheOuterInterceptorUntouched(t *testing.T) {
	rec := recorder.New()
	stacks := make(chan string, 1)
	outer := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				stacks <- string(debug.Stack())
				err = status.Errorf(codes.Internal, "recovered: %v", p)
			}
		}()
		return h(ctx, req)
	}
	sopts := append([]grpc.ServerOption{grpc.ChainUnaryInterceptor(outer)}, rec.ServerOptions()...)
	p := newPairOpts(t, bufnet, sopts, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, panicServer{}) })
	if _, err := testpb.NewTestServiceClient(p.conn).UnaryCall(ctxT(t), &testpb.SimpleRequest{}); status.Code(err) != codes.Internal {
		t.Fatalf("UnaryCall: %v, want the outer interceptor's Internal", err)
	}
	stack := <-stacks
	if n := strings.Count(stack, "\npanic("); n != 1 {
		t.Errorf("%d panic frames in the outer interceptor's stack, want 1 (the handler's):\n%s", n, stack)
	}
	i := strings.Index(stack, "\npanic(")
	if lines := strings.SplitN(stack[i+1:], "\n", 4); len(lines) < 3 || !strings.Contains(lines[2], "panicServer.UnaryCall") {
		t.Errorf("the stack after the panic does not start at the handler:\n%s", stack)
	}
}

// gRPC ends a call whose SendMsg fails with an error of its own (here a
// message over MaxCallSendMsgSize) and cancels the stream's context,
// which a stream wrapped with WrapClientStream is watched on: the End
// carries that error, the call's status, not Canceled.
func TestWrappedStreamEndsWithTheSendError(t *testing.T) {
	rec := recorder.New()
	ci, si := ownInterceptors(rec, true)
	p := newPairOpts(t, bufnet, []grpc.ServerOption{grpc.StreamInterceptor(si)}, registerEcho, grpc.WithStreamInterceptor(ci))
	st, err := testpb.NewTestServiceClient(p.conn).FullDuplexCall(ctxT(t), grpc.MaxCallSendMsgSize(100))
	if err != nil {
		t.Fatal(err)
	}
	big := &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: make([]byte, 1000)}}
	if err := st.Send(big); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("Send: %v, want ResourceExhausted", err)
	}
	_, rerr := st.Recv()
	if e, ok := endOf(rec, recorder.Client); !ok || status.Code(e.Err) != codes.ResourceExhausted || status.Code(rerr) != codes.ResourceExhausted {
		t.Errorf("recorded client End %v (found: %v), Recv %v; want ResourceExhausted for both\n%s", e.Err, ok, rerr, rec)
	}
}

// laggingCtx is a canceled context whose cancel reaches the contexts
// derived from it only on release. For a parent of a type it does not
// know, the context package cancels the children through the parent's
// AfterFunc method if it has one (the recorder's derived context), else
// from a goroutine that waits on Done (gRPC's, derived from a value
// context around it). The gap between the parent's Done and a child's,
// which a context of the context package's own has for an instant, stays
// open here until release.
type laggingCtx struct {
	context.Context // no deadline, no values
	done            chan struct{}
	mu              sync.Mutex
	err             error
	held            []func()
}

func newLaggingCtx() *laggingCtx {
	return &laggingCtx{Context: context.Background(), done: make(chan struct{})}
}

func (c *laggingCtx) Done() <-chan struct{} { return c.done }

func (c *laggingCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *laggingCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = append(c.held, f)
	return func() bool { return false }
}

func (c *laggingCtx) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = context.Canceled
	close(c.done)
}

func (c *laggingCtx) release() {
	c.mu.Lock()
	held := c.held
	c.held = nil
	c.mu.Unlock()
	for _, f := range held {
		f()
	}
}

// The context the recorder derives for a service config's timeout learns
// of the caller's cancel after gRPC has: a Send that fails because of the
// cancel must still come back with the End recorded, read from the
// parent, not from the derived context that has not heard yet.
func TestSendFailingBeforeTheCancelReachesTheDerivedContext(t *testing.T) {
	timeout := grpc.WithDefaultServiceConfig(`{"methodConfig":[{"name":[{"service":"grpc.testing.TestService"}],"timeout":"100s"}]}`)
	rec := recorder.New()
	p := newPair(t, bufnet, rec, rec, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, hangServer{}) }, timeout)
	ctx := newLaggingCtx()
	defer ctx.release()
	st, err := testpb.NewTestServiceClient(p.conn).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ctx.cancel()
	req := &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: make([]byte, 1<<10)}}
	for err == nil { // until gRPC learns of the cancel
		err = st.Send(req)
	}
	end, ok := endOf(rec, recorder.Client)
	switch {
	case !ok:
		t.Fatalf("Send returned %v, and no client End is recorded\n%s", err, rec)
	case status.Code(end.Err) != codes.Canceled:
		t.Errorf("client End %v, want Canceled\n%s", end.Err, rec)
	}
}

// Through StreamClientInterceptor too, a SendMsg that makes gRPC end the
// call (a message over the size limit) ends the recorded call with its
// error before it returns, as WrapClientStream's does: the caller's
// context, which the interceptor watches, is not canceled by gRPC (and
// context.Background() cannot end), and a later cancel does not turn the
// End into Canceled.
func TestInterceptedStreamEndsWithTheSendError(t *testing.T) {
	for _, name := range []string{"cancelable context", "context.Background"} {
		t.Run(name, func(t *testing.T) {
			rec := recorder.New()
			p := newPair(t, bufnet, rec, rec, registerEcho)
			ctx, cancel := context.WithCancel(ctxT(t))
			if name == "context.Background" {
				ctx = context.Background()
			}
			st, err := testpb.NewTestServiceClient(p.conn).FullDuplexCall(ctx, grpc.MaxCallSendMsgSize(100))
			if err != nil {
				t.Fatal(err)
			}
			big := &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: make([]byte, 1000)}}
			if err := st.Send(big); status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("Send: %v, want ResourceExhausted", err)
			}
			e, ok := endOf(rec, recorder.Client)
			if !ok || status.Code(e.Err) != codes.ResourceExhausted {
				t.Errorf("client End right after the failed Send: %v (found: %v), want ResourceExhausted\n%s", e.Err, ok, rec)
			}
			cancel()
			if _, err := st.Recv(); status.Code(err) != codes.ResourceExhausted {
				t.Errorf("Recv: %v, want ResourceExhausted (gRPC's end of the call)", err)
			}
			if c := rec.Calls()[0]; status.Code(c.Err()) != codes.ResourceExhausted {
				t.Errorf("Call.Err() = %v, want ResourceExhausted\n%s", c.Err(), rec)
			}
		})
	}
}

// notFoundServer's StreamingOutputCall fails at once: a trailers-only
// response.
type notFoundServer struct {
	testpb.UnimplementedTestServiceServer
}

func (notFoundServer) StreamingOutputCall(*testpb.StreamingOutputCallRequest, testpb.TestService_StreamingOutputCallServer) error {
	return status.Error(codes.NotFound, "no such thing")
}

// With WrapClientStream, Header on a trailers-only response makes gRPC end
// the stream and cancel its context, which the wrapper watches: the End
// is still the status Recv returns, not Canceled, whether Recv comes at
// once or later.
func TestWrappedStreamHeaderOfATrailersOnlyResponse(t *testing.T) {
	for _, later := range []bool{false, true} {
		t.Run(fmt.Sprint("Recv later: ", later), func(t *testing.T) {
			rec := recorder.New()
			ci, si := ownInterceptors(rec, true)
			p := newPairOpts(t, bufnet, []grpc.ServerOption{grpc.StreamInterceptor(si)},
				func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, notFoundServer{}) },
				grpc.WithStreamInterceptor(ci))
			ctx := ctxT(t)
			st, err := testpb.NewTestServiceClient(p.conn).StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if md, err := st.Header(); md != nil || err != nil {
				t.Fatalf("Header: %v, %v; want nil, nil (gRPC's sign of a trailers-only response)", md, err)
			}
			if later {
				// The code does something else before Recv. Meanwhile no
				// client End is recorded: it waits for Recv's status (at
				// most a second, then it is the context's).
				wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
				err := rec.Wait(wctx, func(ev []recorder.Event) bool { _, ok := findEnd(ev, recorder.Client); return ok })
				cancel()
				if err == nil {
					t.Errorf("a client End was recorded before Recv:\n%s", rec)
				}
			}
			if _, err := st.Recv(); status.Code(err) != codes.NotFound {
				t.Fatalf("Recv: %v, want NotFound", err)
			}
			e, ok := endOf(rec, recorder.Client)
			if !ok || status.Code(e.Err) != codes.NotFound {
				t.Errorf("client End %v (found: %v), want NotFound, what Recv returned\n%s", e.Err, ok, rec)
			}
		})
	}
}

// findEnd returns the End of side in ev, if any.
func findEnd(ev []recorder.Event, side recorder.Side) (recorder.Event, bool) {
	for _, e := range ev {
		if e.Side == side && e.Kind == recorder.End {
			return e, true
		}
	}
	return recorder.Event{}, false
}

// silentServer's StreamingOutputCall sends nothing, not even a header,
// until its call ends.
type silentServer struct {
	testpb.UnimplementedTestServiceServer
}

func (silentServer) StreamingOutputCall(_ *testpb.StreamingOutputCallRequest, st testpb.TestService_StreamingOutputCallServer) error {
	<-st.Context().Done()
	return st.Context().Err()
}

// With WrapClientStream, a cancel while Header waits also makes gRPC's
// Header return nil, nil: the call's End is still recorded, Canceled,
// though the code never calls Recv.
func TestWrappedStreamCanceledDuringHeader(t *testing.T) {
	rec := recorder.New()
	ci, si := ownInterceptors(rec, true)
	p := newPairOpts(t, bufnet, []grpc.ServerOption{grpc.StreamInterceptor(si)},
		func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, silentServer{}) },
		grpc.WithStreamInterceptor(ci))
	ctx, cancel := context.WithCancel(ctxT(t))
	st, err := testpb.NewTestServiceClient(p.conn).StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// Cancel once the server has the call, so that Header is waiting.
	if err := rec.Wait(ctxT(t), func(ev []recorder.Event) bool {
		return slices.ContainsFunc(ev, func(e recorder.Event) bool { return e.Side == recorder.Server && e.Kind == recorder.Recv })
	}); err != nil {
		t.Fatal(err)
	}
	go cancel()
	if md, err := st.Header(); md != nil || err != nil {
		t.Fatalf("Header: %v, %v; want nil, nil", md, err)
	}
	if err := rec.Wait(ctxT(t), func(ev []recorder.Event) bool { _, ok := findEnd(ev, recorder.Client); return ok }); err != nil {
		t.Fatalf("no client End: %v\n%s", err, rec)
	}
	if e, _ := endOf(rec, recorder.Client); status.Code(e.Err) != codes.Canceled {
		t.Errorf("client End %v, want Canceled\n%s", e.Err, rec)
	}
}
