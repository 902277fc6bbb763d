package grpctest_test

import (
	"context"
	"errors"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/goid"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"
)

// panickingHandler's handlers write to counts, a map nobody made: the
// bug under test.
type panickingHandler struct {
	testgrpc.UnimplementedTestServiceServer
	counts map[string]int
}

func (h panickingHandler) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	h.counts["unary"]++
	return nil, nil
}

func (h panickingHandler) FullDuplexCall(testgrpc.TestService_FullDuplexCallServer) error {
	h.counts["bidi"]++
	return nil
}

// A handler's panic does not crash the test binary: the client gets
// Internal and Close reports each panic with the handler's line.
func TestHandlerPanicIsReported(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(panickingHandler{}))
	c := client(srv)
	if _, err := c.UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("UnaryCall: %v, want Internal saying the handler panicked", err)
	}
	stream, err := c.FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Internal {
		t.Errorf("Recv: %v, want Internal", err)
	}
	// The recorder inside the harness saw both handlers end.
	for _, call := range srv.Recorder().Calls() {
		if !call.Done() || status.Code(call.Err()) != codes.Internal {
			t.Errorf("%s: done %v, Err %v; want done, Internal\n%s", call.Method(), call.Done(), call.Err(), srv.Recorder())
		}
	}
	spy.End()
	rs := spy.Reports()
	if len(rs) != 2 {
		t.Fatalf("%d reports, want one per panic:\n%s", len(rs), spy.Text())
	}
	for i, method := range []string{"/grpc.testing.TestService/UnaryCall", "/grpc.testing.TestService/FullDuplexCall"} {
		for _, want := range []string{"the handler of " + method + " panicked: assignment to entry in nil map", "panic_test.go:",
			"... (gRPC and grpctest dispatch frames elided)"} {
			if !strings.Contains(rs[i].Msg, want) {
				t.Errorf("report %d lacks %q:\n%s", i, want, rs[i].Msg)
			}
		}
		if strings.Contains(rs[i].Msg, "\ngoogle.golang.org/grpc.(*Server).") || strings.Contains(rs[i].Msg, "\ngithub.com/streamtest/streamtest/recorder.") {
			t.Errorf("report %d shows the frames that dispatch the call:\n%s", i, rs[i].Msg)
		}
	}
}

// A harness whose handlers did not panic reports none.
func TestNoPanicNoReport(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	if _, err := client(srv).UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	spy.End()
	spy.WantClean(t)
}

// A test of the service's own recovery interceptor, installed with
// grpc.UnaryInterceptor (which gRPC runs before every chained one, so
// outside the harness's): the panic goes on to it, the client gets its
// status, and Close reports nothing. (A harness that recovered the panic
// itself, further in, took it away from the service's recovery.)
func TestServiceRecoveryOutsideTheHarnessSeesThePanic(t *testing.T) {
	wantServiceRecovery(t, panickingHandler{})
}

// The report's stack starts at the handler's panicking line. (The
// harness keeps the stack from the first "panic(" frame on: a recorder
// that recovered and re-panicked would have put its own frames there.)
func TestPanicReportStartsAtTheHandler(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(panickingHandler{}))
	_, _ = client(srv).UnaryCall(t.Context(), &testgrpc.SimpleRequest{})
	spy.End()
	rs := spy.Reports()
	if len(rs) != 1 {
		t.Fatalf("%d reports:\n%s", len(rs), spy.Text())
	}
	msg := rs[0].Msg
	i := strings.Index(msg, "\npanic(")
	if i < 0 {
		t.Fatalf("no panic frame:\n%s", msg)
	}
	// The line after "panic(...)\n\t/path/panic.go:NNN +0x..." names the
	// function that panicked.
	lines := strings.Split(msg[i+1:], "\n")
	if len(lines) < 3 || !strings.Contains(lines[2], "panickingHandler") {
		t.Errorf("the report's stack starts at %q, not at the handler:\n%s", lines[2], msg)
	}
}

// goexitHandler's UnaryCall ends its goroutine without returning, as
// t.FailNow called in a handler does.
type goexitHandler struct {
	testgrpc.UnimplementedTestServiceServer
}

func (goexitHandler) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	runtime.Goexit()
	return nil, nil
}

// A handler that exits its goroutine (t.FailNow, t.Fatal or require in a
// handler) is reported too, as one that did not return, and its call ends
// with Internal: gRPC sends no status for a goroutine that exited, and the
// client used to wait for its context.
func TestHandlerGoexitIsReported(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(goexitHandler{}))
	_, err := client(srv).UnaryCall(t.Context(), &testgrpc.SimpleRequest{})
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "runtime.Goexit") {
		t.Errorf("UnaryCall: %v, want Internal naming runtime.Goexit", err)
	}
	spy.End()
	spy.Want(t, 1, "the handler of /grpc.testing.TestService/UnaryCall did not return: it called runtime.Goexit", "panic_test.go:")
}

// t.FailNow in a stream handler, as a user's require would call it: the
// stream ends with Internal at once, and Close reports the handler.
func TestStreamHandlerFailNowEndsTheCall(t *testing.T) {
	spy := spytb.New(t)
	inner := spytb.New(t) // the handler's t: its FailNow is the real one's, runtime.Goexit
	srv := grpctest.NewServer(spy, service(failNowHandler{t: inner}))
	stream, err := client(srv).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Internal {
		t.Errorf("Recv: %v, want Internal", err)
	}
	spy.End()
	spy.Want(t, 1, "the handler of /grpc.testing.TestService/FullDuplexCall did not return: it called runtime.Goexit", "panic_test.go:")
	inner.Want(t, 1, "handler gave up")
}

// failNowHandler's FullDuplexCall fails its test with Fatalf.
type failNowHandler struct {
	testgrpc.UnimplementedTestServiceServer
	t testing.TB
}

func (h failNowHandler) FullDuplexCall(testgrpc.TestService_FullDuplexCallServer) error {
	h.t.Fatalf("handler gave up")
	return nil
}

// A stream handler's panic under a recovery interceptor set with
// grpc.StreamInterceptor (outside the harness's) goes to that interceptor.
func TestStreamRecoveryOutsideTheHarnessSeesThePanic(t *testing.T) {
	recovered := false
	outer := func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
		defer func() {
			if p := recover(); p != nil {
				recovered = true
				err = status.Error(codes.Unavailable, "service recovery: try again")
			}
		}()
		return h(srv, ss)
	}
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(panickingHandler{}), grpctest.WithServerOptions(grpc.StreamInterceptor(outer)))
	stream, err := client(srv).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable || !recovered {
		t.Errorf("Recv: %v (recovered: %v), want the service's recovery's Unavailable", err, recovered)
	}
	spy.End()
	spy.WantClean(t)
}

// deepPanicker panics 200 calls below its handler: the harness must look
// further down the stack than its first buffer of frames.
type deepPanicker struct {
	testgrpc.UnimplementedTestServiceServer
}

//go:noinline
func recurse(n int) int {
	if n == 0 {
		panic("deep")
	}
	return recurse(n-1) + 1
}

func (deepPanicker) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	recurse(200)
	return &testgrpc.SimpleResponse{}, nil
}

// The service's own recovery, set with grpc.UnaryInterceptor (outside the
// harness's), must see the panic however deep in the handler it was
// raised: the harness leaves it alone, as for a shallow one.
func TestDeepPanicReachesTheServiceRecovery(t *testing.T) {
	wantServiceRecovery(t, deepPanicker{})
}

// wantServiceRecovery fails t unless a UnaryCall to h, whose handler
// panics, goes to the service's own recovery interceptor, set with
// grpc.UnaryInterceptor: the client gets its status, and Close reports
// nothing.
func wantServiceRecovery(t *testing.T, h testgrpc.TestServiceServer) {
	t.Helper()
	recovered := false
	myRecovery := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				recovered = true
				err = status.Error(codes.Unavailable, "service recovery: try again")
			}
		}()
		return h(ctx, req)
	}
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(h), grpctest.WithServerOptions(grpc.UnaryInterceptor(myRecovery)))
	_, err := client(srv).UnaryCall(t.Context(), &testgrpc.SimpleRequest{})
	if status.Code(err) != codes.Unavailable || !recovered {
		t.Errorf("UnaryCall: %v (service's recovery ran: %v); want the service's recovery interceptor's Unavailable", err, recovered)
	}
	spy.End()
	spy.WantClean(t)
}

// An interceptor outside the harness's that holds a call after Stop is
// reported as a call still being served, not as a goroutine to exempt.
func TestOuterInterceptorHoldingACallIsNamed(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	held := make(chan struct{})
	outer := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		close(held)
		<-release // ignores the call's context
		return handler(ctx, req)
	}
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService, grpctest.WithCloseTimeout(20*time.Millisecond),
		grpctest.WithServerOptions(grpc.UnaryInterceptor(outer)))
	ctx, cancel := context.WithCancel(t.Context())
	call := grpctest.GoErr(spy, func() error { _, err := client(srv).EmptyCall(ctx, &testgrpc.Empty{}); return err })
	<-held
	cancel()
	if _, err := call.Wait(5 * time.Second); status.Code(err) != codes.Canceled {
		t.Errorf("EmptyCall: %v, want Canceled", err)
	}
	spy.End()
	r := spy.Want(t, 1, "still serving a call outside the handler", "grpc.UnaryInterceptor or grpc.StreamInterceptor",
		"make it return when the call's context is done", "TestOuterInterceptorHoldingACallIsNamed")
	if strings.Contains(r.Msg, "WithIgnoredGoroutines") {
		t.Errorf("the report suggests exempting a goroutine that serves a call:\n%s", r.Msg)
	}
}

// blockingBegin is a server stats handler whose HandleRPC blocks on a
// call's Begin until release is closed.
type blockingBegin struct{ began, release chan struct{} }

func (h blockingBegin) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (h blockingBegin) HandleRPC(_ context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.Begin); ok {
		close(h.began)
		<-h.release
	}
}
func (h blockingBegin) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (h blockingBegin) HandleConn(context.Context, stats.ConnStats)                       {}

// A stats handler that holds the call's goroutine gets the same report,
// which names stats handlers too.
func TestBlockedStatsHandlerHoldingACallIsNamed(t *testing.T) {
	h := blockingBegin{make(chan struct{}), make(chan struct{})}
	t.Cleanup(func() { close(h.release) })
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService, grpctest.WithCloseTimeout(20*time.Millisecond),
		grpctest.WithServerOptions(grpc.StatsHandler(h)))
	ctx, cancel := context.WithCancel(t.Context())
	call := grpctest.GoErr(spy, func() error { _, err := client(srv).EmptyCall(ctx, &testgrpc.Empty{}); return err })
	<-h.began
	cancel()
	if _, err := call.Wait(5 * time.Second); status.Code(err) != codes.Canceled {
		t.Errorf("EmptyCall: %v, want Canceled", err)
	}
	spy.End()
	r := spy.Want(t, 1, "still serving a call outside the handler", "a stats handler's HandleRPC", "blockingBegin.HandleRPC")
	if strings.Contains(r.Msg, "WithIgnoredGoroutines") {
		t.Errorf("the report suggests exempting a goroutine that serves a call:\n%s", r.Msg)
	}
}

// stackPanicker's handler panics in a function of its own, for the stack.
type stackPanicker struct {
	testgrpc.UnimplementedTestServiceServer
}

//go:noinline
func panicInTheHandler() { panic("boom in handler") }

func (stackPanicker) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	panicInTheHandler()
	return nil, nil
}

// The service's own recovery interceptor, outside the harness's, gets the
// panic as it was raised: the stack it logs shows where the handler
// panicked.
func TestServiceRecoverySeesTheHandlersStack(t *testing.T) {
	var stack string
	recovery := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				stack = string(debug.Stack())
				err = status.Errorf(codes.Unavailable, "recovered: %v", p)
			}
		}()
		return h(ctx, req)
	}
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(stackPanicker{}), grpctest.WithServerOptions(grpc.UnaryInterceptor(recovery)))
	if _, err := client(srv).UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("UnaryCall: %v, want the recovery's Unavailable", err)
	}
	if !strings.Contains(stack, "panicInTheHandler") {
		t.Errorf("the recovery interceptor's stack does not show the handler's panic:\n%s", stack)
	}
	spy.End()
	spy.WantClean(t)
}

// goroutineOf's handlers send the number of the goroutine they run on.
type goroutineOf struct {
	testgrpc.UnimplementedTestServiceServer
	id chan uint64
}

func (h goroutineOf) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	h.id <- goid.ID()
	return &testgrpc.SimpleResponse{}, nil
}

func (h goroutineOf) FullDuplexCall(testgrpc.TestService_FullDuplexCallServer) error {
	h.id <- goid.ID()
	return nil
}

// With an interceptor outside the harness's, the handler runs on that
// interceptor's goroutine, as without the harness (one that locks it to
// an OS thread keeps the handler on it); without one, on a goroutine of
// the harness's own (so that a Goexit in it ends the call).
func TestHandlerGoroutineWithAnOuterInterceptor(t *testing.T) {
	h := goroutineOf{id: make(chan uint64, 1)}
	var outer uint64
	unary := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, hd grpc.UnaryHandler) (any, error) {
		outer = goid.ID()
		return hd(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, hd grpc.StreamHandler) error {
		outer = goid.ID()
		return hd(srv, ss)
	}
	srv := grpctest.NewServer(t, service(h), grpctest.WithServerOptions(grpc.UnaryInterceptor(unary), grpc.StreamInterceptor(stream)))
	if _, err := client(srv).UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	if in := <-h.id; in != outer {
		t.Errorf("unary handler on goroutine %d, the outer interceptor's is %d", in, outer)
	}
	st, err := client(srv).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("Recv: %v", err)
	}
	if in := <-h.id; in != outer {
		t.Errorf("stream handler on goroutine %d, the outer interceptor's is %d", in, outer)
	}

	// No outer interceptor: a goroutine of the harness's.
	inner := 0
	srv = grpctest.NewServer(t, service(h), grpctest.WithServerOptions(grpc.ChainUnaryInterceptor(
		func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, hd grpc.UnaryHandler) (any, error) {
			inner++ // chained after the harness's: on the handler's goroutine
			outer = goid.ID()
			return hd(ctx, req)
		})))
	if _, err := client(srv).UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	if in := <-h.id; inner != 1 || in != outer {
		t.Errorf("handler on goroutine %d, a chained interceptor's %d (ran %d times)", in, outer, inner)
	}
}

// t.FailNow in the register function ends the test's goroutine, and the
// harness stops its server and closes its listener before it goes.
func TestRegisterThatFailsNowLeavesNoServer(t *testing.T) {
	spy := spytb.New(t)
	var captured *grpc.Server
	o := spy.Run(func() {
		grpctest.NewServer(spy, func(s *grpc.Server) { captured = s; spy.Fatalf("no database") })
	})
	if !o.FailedNow || captured == nil {
		t.Fatalf("FailNow in register: FailedNow %v, server %v", o.FailedNow, captured)
	}
	// A stopped server refuses to serve at once; one still running would
	// serve the listener until stopped.
	served := make(chan error, 1)
	go func() { served <- captured.Serve(bufconn.Listen(1 << 10)) }()
	select {
	case err := <-served:
		if !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("Serve on the server after FailNow in register: %v, want grpc.ErrServerStopped", err)
		}
	case <-time.After(time.Second):
		t.Errorf("the server was not stopped after FailNow in register: it serves")
		captured.Stop()
		<-served
	}
	spy.Want(t, 1, "no database")
}

// With an interceptor outside the harness's, a handler's Goexit ends
// gRPC's own goroutine, and gRPC sends no status: the call waits for its
// context, as without the harness; Close reports the handler all the same.
func TestHandlerGoexitUnderAnOuterInterceptorIsReported(t *testing.T) {
	logging := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return h(ctx, req)
	}
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(goexitHandler{}), grpctest.WithServerOptions(grpc.UnaryInterceptor(logging)))
	ctx, cancel := context.WithCancel(t.Context())
	call := grpctest.GoErr(t, func() error {
		_, err := client(srv).UnaryCall(ctx, &testgrpc.SimpleRequest{})
		return err
	})
	if err := srv.Recorder().Wait(t.Context(), func(evs []recorder.Event) bool {
		return slices.ContainsFunc(evs, func(e recorder.Event) bool { return e.Side == recorder.Server && e.Kind == recorder.End })
	}); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := call.Wait(time.Minute); status.Code(err) != codes.Canceled {
		t.Errorf("UnaryCall: %v, want Canceled (no status came)", err)
	}
	spy.End()
	spy.Want(t, 1, "the handler of /grpc.testing.TestService/UnaryCall did not return: it called runtime.Goexit",
		"gRPC sent the client no status: with an interceptor outside the harness's", "panic_test.go:")
}
