package grpctest_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"
)

// ---- check (a): client streams that were never finished

func TestLeakCheckReportsUndrainedStream(t *testing.T) {
	for _, opts := range [][]grpctest.Option{nil, {grpctest.WithoutRecorder()}} {
		t.Run(fmt.Sprintf("options=%d", len(opts)), func(t *testing.T) {
			spy := spytb.New(t)
			srv := grpctest.NewServer(spy, interopService, opts...)
			stream, err := client(srv).StreamingOutputCall(context.Background(), &testgrpc.StreamingOutputCallRequest{
				ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}, {Size: 2}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); err != nil { // one of two: not drained
				t.Fatal(err)
			}
			spy.End()
			spy.Want(t, 1, "client stream "+streamingOut, "opened at leak_test.go:",
				"was never finished", "drain the stream or cancel its context")
		})
	}
}

// openUndrained is a test's helper that opens a stream and reads one
// response of two: the stream is left open.
func openUndrained(t *testing.T, srv *grpctest.Server) {
	t.Helper()
	stream, err := client(srv).StreamingOutputCall(context.Background(), &testgrpc.StreamingOutputCallRequest{
		ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}, {Size: 2}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
}

// A stream that a helper opened is reported at the helper's line and at
// the test's lines that called it, so that streams the same helper opened
// for two callers are told apart.
func TestLeakCheckNamesTheLinesThatCalledAHelper(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	_, _, first, _ := runtime.Caller(0)
	openUndrained(t, srv)
	openUndrained(t, srv)
	spy.End()
	for _, line := range []int{first + 1, first + 2} {
		spy.Want(t, 2, "client stream "+streamingOut+" opened at leak_test.go:",
			fmt.Sprintf(" (in openUndrained, called at leak_test.go:%d) was never finished (1 open at Close: call ", line))
	}
}

// TestEnv is a test fixture whose name starts with Test's letters; its
// methods are helpers, not tests.
type TestEnv struct{ srv *grpctest.Server }

func (e TestEnv) open(t *testing.T) { openUndrained(t, e.srv) }

// The lines that called a helper are named for a closure helper in the
// test and for a method of a fixture too, through any number of helpers.
func TestLeakCheckNamesTheLinesThatCalledAClosureOrAMethod(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	open := func() { openUndrained(t, srv) }
	env := TestEnv{srv}
	_, _, first, _ := runtime.Caller(0)
	open()
	env.open(t)
	spy.End()
	spy.Want(t, 2, fmt.Sprintf(" (in openUndrained, called at leak_test.go:%d, leak_test.go:%d) was never finished", first-2, first+1))
	spy.Want(t, 2, " (in openUndrained, called at leak_test.go:", fmt.Sprintf(", leak_test.go:%d) was never finished", first+2)) // through TestEnv.open
}

func TestLeakCheckAcceptsCanceledAndDrainedStreams(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	req := &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}, {Size: 2}}}

	ctx, cancel := context.WithCancel(context.Background())
	canceled, err := client(srv).StreamingOutputCall(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := canceled.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()

	drained, err := client(srv).StreamingOutputCall(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = drained.Recv()
	}
	if err != io.EOF {
		t.Fatalf("Recv: %v, want io.EOF", err)
	}
	// Streams made with the test's context end with the test.
	bidi, err := client(srv).FullDuplexCall(spy.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := bidi.Send(&testgrpc.StreamingOutputCallRequest{}); err != nil {
		t.Fatal(err)
	}
	spy.End()
	spy.WantClean(t)
}

// Closing the ClientConn releases its streams, as gRPC documents: a
// stream on a connection the test closed is not reported; one on a
// connection left open still is.
func TestLeakCheckAcceptsStreamsOfAClosedClientConn(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	req := &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}, {Size: 2}}}
	closed, open := srv.Dial(), srv.Dial()
	for _, cc := range []*grpc.ClientConn{closed, open} {
		stream, err := testgrpc.NewTestServiceClient(cc).StreamingOutputCall(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil { // one of two: not drained
			t.Fatal(err)
		}
	}
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	spy.End()
	r := spy.Want(t, 1, "client stream "+streamingOut, "was never finished (1 open at Close: call ")
	if strings.Contains(r.Msg, "2 open") {
		t.Errorf("the stream of the closed connection is reported too:\n%s", r.Msg)
	}
}

func TestWithoutLeakCheckDoesNotReportStreams(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService, grpctest.WithoutLeakCheck())
	if _, err := client(srv).FullDuplexCall(context.Background()); err != nil {
		t.Fatal(err)
	}
	spy.End()
	spy.WantClean(t)
}

// ---- check (b): handlers that do not return

// stuckHandler's FullDuplexCall ignores its context: it returns only when
// release is closed (at the end of the test, so the process does not leak).
type stuckHandler struct {
	testgrpc.UnimplementedTestServiceServer
	release  chan struct{}
	entered  chan struct{}
	returned sync.WaitGroup
}

func newStuckHandler(t *testing.T) *stuckHandler {
	h := &stuckHandler{release: make(chan struct{}), entered: make(chan struct{}, 10)}
	t.Cleanup(func() {
		close(h.release)
		h.returned.Wait()
	})
	return h
}

func (h *stuckHandler) FullDuplexCall(stream testgrpc.TestService_FullDuplexCallServer) error {
	h.returned.Add(1)
	defer h.returned.Done()
	h.entered <- struct{}{}
	<-h.release
	return nil
}

func TestLeakCheckReportsHandlerThatNeverReturns(t *testing.T) {
	h := newStuckHandler(t)
	for _, opts := range [][]grpctest.Option{nil, {grpctest.WithoutLeakCheck()}} {
		t.Run(fmt.Sprintf("options=%d", len(opts)), func(t *testing.T) {
			spy := spytb.New(t)
			srv := grpctest.NewServer(spy, service(h), append(opts, grpctest.WithCloseTimeout(100*time.Millisecond))...)
			if _, err := client(srv).FullDuplexCall(spy.Context()); err != nil {
				t.Fatal(err)
			}
			<-h.entered
			spy.End()
			// Exactly one report: the handler, with its stack; not the
			// goroutines it blocks, and not the canceled stream.
			spy.Want(t, 1, "handler "+fullDuplex+" did not return after Stop",
				"select on ctx.Done() (unary) or stream.Context().Done()",
				"grpctest_test.(*stuckHandler).FullDuplexCall", "leak_test.go:")
		})
	}
}

func TestLeakCheckAcceptsHandlersThatReturnOnCancel(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(silentHandler{}), grpctest.WithCloseTimeout(time.Hour))
	for range 3 {
		if _, err := client(srv).FullDuplexCall(spy.Context()); err != nil {
			t.Fatal(err)
		}
	}
	spy.End()
	spy.WantClean(t)
}

// ---- check (c): goroutines left running

// spawningHandler's UnaryCall starts a goroutine. If wait is set, the
// goroutine ends before the handler returns; otherwise it runs until
// release is closed (at the end of the test).
type spawningHandler struct {
	testgrpc.UnimplementedTestServiceServer
	wait    bool
	release chan struct{}
	exited  sync.WaitGroup
}

func newSpawningHandler(t testing.TB, wait bool) *spawningHandler {
	h := &spawningHandler{wait: wait, release: make(chan struct{})}
	t.Cleanup(func() {
		close(h.release)
		h.exited.Wait()
	})
	return h
}

func (h *spawningHandler) UnaryCall(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	done := make(chan struct{})
	h.exited.Add(1)
	go h.background(done)
	if h.wait {
		close(done)
		h.exited.Wait()
	}
	return &testgrpc.SimpleResponse{}, nil
}

func (h *spawningHandler) background(done chan struct{}) {
	defer h.exited.Done()
	select {
	case <-done:
	case <-h.release:
	}
}

func TestLeakCheckReportsGoroutineStartedByHandler(t *testing.T) {
	h := newSpawningHandler(t, false)
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(h), grpctest.WithCloseTimeout(100*time.Millisecond))
	if _, err := client(srv).UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	spy.End()
	spy.Want(t, 1, "goroutine(s) started during this harness's life still running",
		"1 goroutine(s) like this one, started by handler "+unaryCall,
		"grpctest_test.(*spawningHandler).background",                                            // where it is
		"created by github.com/streamtest/streamtest/grpctest_test.(*spawningHandler).UnaryCall", // who started it
		"make each goroutine a handler starts return when the handler's context is done",
		`grpctest.WithIgnoredGoroutines("github.com/streamtest/streamtest/grpctest_test.(*spawningHandler).background")`)
	if r := spy.Reports(); len(r) == 1 && (strings.Contains(r[0].Msg, "ClientConn") || strings.Contains(r[0].Msg, "client side")) {
		t.Errorf("a goroutine of the handler's own is said to be a ClientConn's or the client's:\n%s", r[0].Msg)
	}
}

// A goroutine meant to outlive the test, exempted by name, is not
// reported, and Close does not wait for it.
func TestWithIgnoredGoroutinesExemptsThem(t *testing.T) {
	h := newSpawningHandler(t, false)
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(h), grpctest.WithCloseTimeout(time.Hour),
		grpctest.WithIgnoredGoroutines("example.com/other.fn", "github.com/streamtest/streamtest/grpctest_test.(*spawningHandler).background"))
	if _, err := client(srv).UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	spy.End() // with an hour's bound: returns only if it does not wait for the exempted goroutine
	spy.WantClean(t)
}

func TestWithIgnoredGoroutinesRejectsAnEmptyName(t *testing.T) {
	spy := spytb.New(t)
	out := spy.Run(func() { grpctest.NewServer(spy, interopService, grpctest.WithIgnoredGoroutines("")) })
	if !out.FailedNow {
		t.Errorf("NewServer with an empty name did not stop the test")
	}
	spy.Want(t, 1, "WithIgnoredGoroutines: a function name is empty")
}

// leakyClientInterceptor starts a goroutine on every stream it opens that
// runs until stop is closed.
func leakyClientInterceptor(stop chan struct{}) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		go func() { <-stop }()
		return streamer(ctx, desc, cc, method, opts...)
	}
}

// A goroutine leaked on the client side gets a hint for the client side,
// not the handlers' hint.
func TestLeakHintNamesTheClientSide(t *testing.T) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService, grpctest.WithCloseTimeout(50*time.Millisecond),
		grpctest.WithDialOptions(grpc.WithChainStreamInterceptor(leakyClientInterceptor(stop))))
	stream, err := client(srv).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("Recv: %v, want io.EOF", err)
	}
	spy.End()
	r := spy.Want(t, 1, "started by the harness's gRPC client", "started on the client side while it called the harness")
	if strings.Contains(r.Msg, "a handler starts") {
		t.Errorf("the report gives the handlers' hint for a client-side goroutine:\n%s", r.Msg)
	}
}

// janitor is a service's background loop, started when the service is
// registered; it runs until its context ends.
func janitor(ctx context.Context) { <-ctx.Done() }

// A goroutine that a service's setup starts in register lives as long as
// the service, which the test may stop in a cleanup of its own: one
// registered before NewServer runs after Close, so check (c) leaves such
// goroutines alone. So does it a ClientConn that register dials (a front
// service's backend) and a cleanup closes.
func TestLeakCheckLeavesRegistersGoroutinesToTheTest(t *testing.T) {
	spy := spytb.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	spy.Cleanup(cancel) // stops the service, after the harness's Close
	backend := grpctest.NewServer(spy, interopService, grpctest.WithTCP())
	grpctest.NewServer(spy, func(s *grpc.Server) {
		go janitor(ctx)
		conn, err := grpc.NewClient(backend.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		spy.Cleanup(func() { conn.Close() })
		if _, err := testgrpc.NewTestServiceClient(conn).EmptyCall(ctx, &testgrpc.Empty{}); err != nil {
			t.Fatal(err)
		}
		testgrpc.RegisterTestServiceServer(s, interop.NewTestServer())
	}, grpctest.WithCloseTimeout(50*time.Millisecond))
	spy.End()
	spy.WantClean(t)
}

func TestLeakCheckAcceptsGoroutinesThatEnd(t *testing.T) {
	h := newSpawningHandler(t, true)
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(h), grpctest.WithCloseTimeout(time.Hour))
	for range 3 {
		if _, err := client(srv).UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	spy.End()
	spy.WantClean(t)
}

// TestLeakCheckIsScopedToItsHarness runs 32 harnesses side by side under
// t.Parallel. Every fourth leaks a goroutine from its handler until all
// have closed; each of those must report exactly its own leak, and every
// other one nothing, although leaked goroutines of its neighbours are
// running while it closes. Run with -count=10 for the no-false-alarm
// guarantee.
func TestLeakCheckIsScopedToItsHarness(t *testing.T) {
	const n = 32
	release := make(chan struct{})
	t.Run("group", func(t *testing.T) {
		for i := range n {
			leaky := i%4 == 3
			t.Run(fmt.Sprintf("harness%02d", i), func(t *testing.T) {
				t.Parallel()
				spy := spytb.New(t)
				srv := grpctest.NewServer(spy, interopService) // default bounds: no false alarm under load
				ctx := t.Context()
				c := client(srv)
				interop.DoPingPong(ctx, c)
				interop.DoServerStreaming(ctx, c)
				interop.DoClientStreaming(ctx, c)
				interop.DoCancelAfterFirstResponse(ctx, c)
				interop.DoLargeUnaryCall(ctx, c)
				var leak *leakOnce
				if leaky {
					leak = &leakOnce{release: release}
					extra := grpctest.NewServer(spy, service(leak), grpctest.WithCloseTimeout(100*time.Millisecond))
					if _, err := client(extra).EmptyCall(ctx, &testgrpc.Empty{}); err != nil {
						t.Fatal(err)
					}
				}
				spy.End()
				if leaky {
					r := spy.Want(t, 1, "goroutine(s) started during this harness's life",
						"1 goroutine(s) like this one, started by handler "+emptyCallName,
						"grpctest_test.(*leakOnce).EmptyCall")
					// The other leaky harnesses' goroutines have the same
					// stack: the report must not show one of them as its own.
					// It shows its own, or none when it cannot tell.
					own := "goroutine " + leak.goid.Load().(string) + " ["
					if !strings.Contains(r.Msg, own) && !strings.Contains(r.Msg, "goroutine ? [") {
						t.Errorf("the report shows another goroutine than this harness's (%s):\n%s", own, r.Msg)
					}
				} else {
					spy.WantClean(t)
				}
			})
		}
	})
	close(release)
}

// leakOnce's EmptyCall leaves a goroutine running until release is closed.
// Its goid is that goroutine's number.
type leakOnce struct {
	testgrpc.UnimplementedTestServiceServer
	release chan struct{}
	goid    atomic.Value // string
}

func (h *leakOnce) EmptyCall(context.Context, *testgrpc.Empty) (*testgrpc.Empty, error) {
	started := make(chan struct{})
	go func() {
		h.goid.Store(goroutineNumber())
		close(started)
		<-h.release
	}()
	<-started
	return &testgrpc.Empty{}, nil
}

// goroutineNumber returns the number of the calling goroutine, as
// tracebacks show it.
func goroutineNumber() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	n, _, _ := strings.Cut(strings.TrimPrefix(string(buf), "goroutine "), " ")
	return n
}

// A goroutine keeps its own labels across a call through a harness
// connection, whatever context the call is given. Two ways it used to go
// wrong, when the harness set the caller's labels from the call's context:

// callOutHandler's UnaryCall makes an outgoing call with a context of its
// own, then leaves a goroutine running until release is closed: the
// handler's goroutine must still carry its label after the call, so the
// leak is reported.
type callOutHandler struct {
	testgrpc.UnimplementedTestServiceServer
	out     testgrpc.TestServiceClient
	release chan struct{}
	exited  sync.WaitGroup
}

func (h *callOutHandler) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	if _, err := h.out.EmptyCall(context.Background(), &testgrpc.Empty{}); err != nil {
		return nil, err
	}
	h.exited.Add(1)
	go h.background()
	return &testgrpc.SimpleResponse{}, nil
}

func (h *callOutHandler) background() {
	defer h.exited.Done()
	<-h.release
}

func TestLeakCheckReportsLeakAfterOutgoingCall(t *testing.T) {
	backend := grpctest.NewServer(t, interopService)
	h := &callOutHandler{out: client(backend), release: make(chan struct{})}
	t.Cleanup(func() {
		close(h.release)
		h.exited.Wait()
	})
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(h), grpctest.WithCloseTimeout(100*time.Millisecond))
	if _, err := client(srv).UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	spy.End()
	spy.Want(t, 1, "1 goroutine(s) like this one, started by handler "+unaryCall,
		"grpctest_test.(*callOutHandler).background")
}

// handOffHandler's UnaryCall hands a job to a worker the test started (a
// pool); the job calls another harness with the handler's context. The
// worker must not take the handler's label: Close would blame the handler
// for a goroutine it never started.
type handOffHandler struct {
	testgrpc.UnimplementedTestServiceServer
	jobs chan<- func()
	out  testgrpc.TestServiceClient
}

func (h *handOffHandler) UnaryCall(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	errc := make(chan error, 1)
	h.jobs <- func() {
		_, err := h.out.EmptyCall(ctx, &testgrpc.Empty{})
		errc <- err
	}
	if err := <-errc; err != nil {
		return nil, err
	}
	return &testgrpc.SimpleResponse{}, nil
}

func TestLeakCheckIgnoresWorkerGivenAHandlersContext(t *testing.T) {
	jobs := make(chan func())
	exited := make(chan struct{})
	go worker(jobs, exited)
	defer func() {
		close(jobs)
		<-exited
	}()
	backend := grpctest.NewServer(t, interopService)
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(&handOffHandler{jobs: jobs, out: client(backend)}),
		grpctest.WithCloseTimeout(100*time.Millisecond))
	if _, err := client(srv).UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	spy.End() // the worker is still running
	spy.WantClean(t)
}

func worker(jobs <-chan func(), exited chan<- struct{}) {
	defer close(exited)
	for job := range jobs {
		job()
	}
}

// ---- process-wide checks

func TestVerifyNoLeaks(t *testing.T) {
	t.Run("clean", func(t *testing.T) {
		spy := spytb.New(t)
		func() {
			srv := grpctest.NewServer(spy, interopService)
			interop.DoPingPong(t.Context(), client(srv))
			srv.Close()
		}()
		grpctest.VerifyNoLeaks(spy)
		spy.WantClean(t)
	})
	t.Run("with a harness, registered with Cleanup before NewServer", func(t *testing.T) {
		spy := spytb.New(t)
		// Runs after the harness's Close. (The spy runs cleanups on a
		// goroutine of its own while the test's waits in spytb.)
		spy.Cleanup(func() {
			grpctest.VerifyNoLeaks(spy, goleak.IgnoreTopFunction("github.com/streamtest/streamtest/internal/spytb.(*TB).run"))
		})
		srv := grpctest.NewServer(spy, interopService)
		interop.DoPingPong(t.Context(), client(srv))
		spy.End()
		spy.WantClean(t)
	})
	t.Run("with a harness, called before its Close (as a defer would)", func(t *testing.T) {
		spy := spytb.New(t)
		srv := grpctest.NewServer(spy, interopService)
		interop.DoPingPong(t.Context(), client(srv))
		grpctest.VerifyNoLeaks(spy)
		spy.End()
		spy.Want(t, 1, "goroutines still running at the end of the test")
	})
	t.Run("leak", func(t *testing.T) {
		release := make(chan struct{})
		exited := make(chan struct{})
		go blockUntil(release, exited)
		spy := spytb.New(t)
		grpctest.VerifyNoLeaks(spy)
		close(release)
		<-exited
		spy.Want(t, 1, "goroutines still running at the end of the test", "grpctest_test.blockUntil")
	})
	t.Run("options", func(t *testing.T) {
		release := make(chan struct{})
		exited := make(chan struct{})
		go blockUntil(release, exited)
		spy := spytb.New(t)
		grpctest.VerifyNoLeaks(spy, goleak.IgnoreTopFunction("github.com/streamtest/streamtest/grpctest_test.blockUntil"))
		close(release)
		<-exited
		spy.WantClean(t)
	})
}

func blockUntil(release, exited chan struct{}) {
	defer close(exited)
	<-release
}

// A stream left open by a test that uses the harness WithoutRecorder is
// still caught, and its status after Close is what gRPC reports for a
// closed connection.
func TestUndrainedStreamEndsAtClose(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(silentHandler{}), grpctest.WithoutRecorder())
	stream, err := client(srv).FullDuplexCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	spy.End()
	spy.Want(t, 1, "client stream "+fullDuplex, "drain the stream or cancel its context")
	// gRPC reports the closed connection as Canceled or Unavailable,
	// depending on which it notices first.
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled && status.Code(err) != codes.Unavailable {
		t.Errorf("Recv after Close: %v, want Canceled or Unavailable", err)
	}
}

// A stream the server has already ended, but the client never read to
// the end: the report says how it ended and that a Recv would return it.
func TestLeakCheckSaysTheServerEndedTheStream(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	// Ended by the server with an error, the status never read.
	bidi, err := client(srv).FullDuplexCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := bidi.Send(&testgrpc.StreamingOutputCallRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.Aborted), Message: "go away"}}); err != nil {
		t.Fatal(err)
	}
	waitServerEnds(t, srv.Recorder(), 1)
	// Ended OK, its response never read.
	_, err = client(srv).StreamingOutputCall(context.Background(), &testgrpc.StreamingOutputCallRequest{
		ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitServerEnds(t, srv.Recorder(), 2)
	// Two opened at one line, both ended by the server.
	for range 2 {
		s, err := client(srv).FullDuplexCall(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(&testgrpc.StreamingOutputCallRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.Internal), Message: "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	waitServerEnds(t, srv.Recorder(), 4)
	// Not ended: no note.
	if _, err := client(srv).StreamingInputCall(context.Background()); err != nil {
		t.Fatal(err)
	}
	spy.End()
	spy.Want(t, 4, "client stream "+fullDuplex, "(1 open at Close: call ",
		`; the server ended it with Aborted ("go away") at event `, ": a Recv would have returned that status (after any responses not yet received)")
	spy.Want(t, 4, "client stream "+streamingOut, "; the server ended it with OK at event ",
		": Recv would have returned the responses not yet received, then io.EOF")
	spy.Want(t, 4, "client stream "+fullDuplex, "(2 open at Close: calls ",
		`; the server had ended 2 of them (the first with Internal ("x") at event `, "a Recv would have returned their status")
	if r := spy.Want(t, 4, "client stream "+streamingIn); strings.Contains(r.Msg, "server ended") {
		t.Errorf("a stream the server had not ended is said to be ended:\n%s", r.Msg)
	}
}

// A stream whose connection Disconnect dropped: the report says a Recv
// would have returned Unavailable, not the status the server recorded
// after the drop; for a stream the server had ended before the drop it
// says that the status may not have reached the client.
func TestLeakCheckSaysDisconnectDroppedTheStream(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	// Open on both sides, not ended when Disconnect comes: the handler
	// ends with the drop (Canceled), the client's Recv gets Unavailable.
	// probe is one more such stream, read after the drop to check that.
	req := &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}}}
	roundTrip := func(s testgrpc.TestService_FullDuplexCallClient) {
		t.Helper()
		if err := s.Send(req); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	bidi, err := client(srv).FullDuplexCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(bidi)
	probe, err := client(srv).FullDuplexCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(probe)
	// Ended OK by the server before the drop, its response never read.
	if _, err := client(srv).StreamingOutputCall(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	waitServerEnds(t, srv.Recorder(), 1)

	srv.Disconnect()
	if _, err := probe.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("Recv after Disconnect: %v, want code Unavailable (what the report promises)", err)
	}
	waitServerEnds(t, srv.Recorder(), 3)
	bidi2, err := client(srv).FullDuplexCall(context.Background()) // after the drop: no note
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(bidi2)
	spy.End()
	spy.Want(t, 3, "client stream "+streamingOut, "; the server ended it with OK at event ",
		"; but Disconnect dropped its connection after that: if it did so before the status reached the client, a Recv would have returned Unavailable instead")
	// The two FullDuplexCall streams were opened at two lines: one
	// before the drop, one after.
	var bidis, dropped int
	for _, r := range spy.Reports() {
		if !strings.Contains(r.Msg, "client stream "+fullDuplex) {
			continue
		}
		bidis++
		if strings.Contains(r.Msg, "; Disconnect dropped its connection after it opened: a Recv would have returned Unavailable") {
			dropped++
		}
		if strings.Contains(r.Msg, "server ended") {
			t.Errorf("the server's End after the drop is given as the stream's status:\n%s", r.Msg)
		}
	}
	if bidis != 2 || dropped != 1 {
		t.Errorf("%d reports on %s, %d of them say Disconnect dropped it; want 2 and 1:\n%s", bidis, fullDuplex, dropped, spy.Text())
	}
}

// waitServerEnds waits until r holds n server End events.
func waitServerEnds(t *testing.T, r *recorder.Recorder, n int) {
	t.Helper()
	err := r.Wait(t.Context(), func(evs []recorder.Event) bool {
		ends := 0
		for _, e := range evs {
			if e.Side == recorder.Server && e.Kind == recorder.End {
				ends++
			}
		}
		return ends >= n
	})
	if err != nil {
		t.Fatal(err)
	}
}

// pipeHandler's UnaryCall leaks a goroutine that copies from an io.Pipe
// nobody writes to (a typical leak: a reader goroutine never stopped).
type pipeHandler struct {
	testgrpc.UnimplementedTestServiceServer
	pw     *io.PipeWriter
	exited sync.WaitGroup
}

func (h *pipeHandler) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	pr, pw := io.Pipe()
	h.pw = pw
	h.exited.Add(1)
	go func() {
		defer h.exited.Done()
		_, _ = io.Copy(io.Discard, pr)
	}()
	return &testgrpc.SimpleResponse{}, nil
}

// The leak report's new hint names the innermost function outside
// runtime., internal/, sync. and time. as the one to exempt. For a
// goroutine blocked in the standard library that is a standard-library
// function (here io.(*pipe).read), and exempting it would hide every
// goroutine blocked on any io.Pipe, in every test.
func TestLeakHintDoesNotSuggestExemptingTheStandardLibrary(t *testing.T) {
	h := &pipeHandler{}
	t.Cleanup(func() { h.pw.Close(); h.exited.Wait() })
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(h), grpctest.WithCloseTimeout(50*time.Millisecond))
	if _, err := client(srv).UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	spy.End()
	r := spy.Want(t, 1, "goroutine(s) started during this harness's life still running")
	if i := strings.Index(r.Msg, "grpctest.WithIgnoredGoroutines(\""); i >= 0 {
		name := r.Msg[i+len("grpctest.WithIgnoredGoroutines(\""):]
		name = name[:strings.Index(name, "\"")]
		if !strings.Contains(name, "grpctest_test.") {
			t.Errorf("the report suggests exempting %q, a standard-library function, not the test's code", name)
		}
	}
}

// nestingHandler's UnaryCall starts a goroutine, loop, that blocks in a
// helper of its own, wait, until release is closed.
type nestingHandler struct {
	testgrpc.UnimplementedTestServiceServer
	release chan struct{}
	exited  sync.WaitGroup
}

func (h *nestingHandler) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	h.exited.Add(1)
	go h.loop()
	return &testgrpc.SimpleResponse{}, nil
}

func (h *nestingHandler) loop() {
	defer h.exited.Done()
	h.wait()
}

//go:noinline
func (h *nestingHandler) wait() { <-h.release }

// The leak report suggests exempting the goroutine's own function, which
// names it alone, not the helper it blocks in, which other goroutines
// may block in too.
func TestLeakHintNamesTheGoroutinesOwnFunction(t *testing.T) {
	h := &nestingHandler{release: make(chan struct{})}
	t.Cleanup(func() { close(h.release); h.exited.Wait() })
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(h), grpctest.WithCloseTimeout(50*time.Millisecond))
	if _, err := client(srv).UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	spy.End()
	spy.Want(t, 1, `grpctest.WithIgnoredGoroutines("github.com/streamtest/streamtest/grpctest_test.(*nestingHandler).loop")`)
}

// Close's first report carries the recorded timeline, and the reports
// after it refer to it; a harness without a recorder has none to show.
func TestCloseReportsCarryTheTimelineOnce(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	// Two streams never finished, opened at two lines: two reports.
	if _, err := client(srv).FullDuplexCall(context.Background()); err != nil {
		t.Fatal(err)
	}
	stream, err := client(srv).FullDuplexCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&testgrpc.StreamingOutputCallRequest{}); err != nil {
		t.Fatal(err)
	}
	spy.End()
	rs := spy.Reports()
	if len(rs) != 2 {
		t.Fatalf("%d reports, want 2:\n%s", len(rs), spy.Text())
	}
	if !strings.Contains(rs[0].Msg, "was never finished") || !strings.Contains(rs[0].Msg, "\nrecorded timeline (up to Close, which ends the calls still open):\n") ||
		!strings.Contains(rs[0].Msg, "client  send       /grpc.testing.TestService/FullDuplexCall") {
		t.Errorf("the first report lacks the timeline:\n%s", rs[0].Msg)
	}
	if !strings.HasSuffix(rs[1].Msg, "\n(the recorded timeline is under Close's first report)") || strings.Contains(rs[1].Msg, "client  send") {
		t.Errorf("the second report does not refer to the first's timeline:\n%s", rs[1].Msg)
	}

	spy = spytb.New(t)
	srv = grpctest.NewServer(spy, interopService, grpctest.WithoutRecorder())
	if _, err := client(srv).FullDuplexCall(context.Background()); err != nil {
		t.Fatal(err)
	}
	spy.End()
	if r := spy.Want(t, 1, "was never finished"); strings.Contains(r.Msg, "timeline") {
		t.Errorf("a harness without a recorder shows a timeline:\n%s", r.Msg)
	}
}

// The package doc's recipe for a stream Close should report: a context
// whose cancel the test registers with Cleanup before NewServer runs after
// Close, so the stream the code left open is reported; registered after
// NewServer, the cancel runs first and ends the stream, which Close then
// does not report.
func TestCloseAndTheCancelOfTheStreamsContext(t *testing.T) {
	for _, tc := range []struct {
		name          string
		cancelAtClose bool // registered before NewServer
	}{{"cancel registered before NewServer", true}, {"cancel registered after NewServer", false}} {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel() // (after the spy's cleanups: a no-op then)
			if tc.cancelAtClose {
				spy.Cleanup(cancel)
			}
			srv := grpctest.NewServer(spy, interopService)
			if !tc.cancelAtClose {
				spy.Cleanup(cancel)
			}
			if _, err := client(srv).FullDuplexCall(ctx); err != nil { // never drained
				t.Fatal(err)
			}
			spy.End()
			if tc.cancelAtClose {
				spy.Want(t, 1, "client stream /grpc.testing.TestService/FullDuplexCall opened at leak_test.go:", "was never finished")
			} else {
				spy.WantClean(t)
			}
		})
	}
}
