package grpctest_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/reportloc"
)

// Where testing prints the harness's reports: at the line of the user's
// test that NewServer, Go or Close was called on (see reportloc). Each
// scenario fails on purpose, in a child process.
var locationScenarios = map[string]reportloc.Scenario{
	// Reported by Close, run by t.Cleanup: at the NewServer line.
	"UndrainedStream": {Reports: 1, Run: func(t *testing.T) {
		reportloc.WantNextLine()
		srv := grpctest.NewServer(t, interopService)
		stream, err := client(srv).FullDuplexCall(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_ = stream
	}},
	"StuckHandlerAndGoroutine": {Reports: 2, Run: func(t *testing.T) {
		release := make(chan struct{})
		t.Cleanup(func() { close(release) }) // runs after Close
		h := &leakingHandler{release: release, entered: make(chan struct{})}
		reportloc.WantNextLine()
		srv := grpctest.NewServer(t, service(h), grpctest.WithCloseTimeout(20*time.Millisecond))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if _, err := client(srv).FullDuplexCall(ctx); err != nil {
			t.Fatal(err)
		}
		<-h.entered
	}},
	// A handler's panic, recovered by the harness and reported by Close,
	// run by t.Cleanup: at the NewServer line.
	"HandlerPanic": {Reports: 1, Run: func(t *testing.T) {
		reportloc.WantNextLine()
		srv := grpctest.NewServer(t, service(panickingHandler{}))
		if _, err := client(srv).UnaryCall(context.Background(), &testgrpc.SimpleRequest{}); err == nil {
			t.Fatal("UnaryCall: no error from a handler that panicked")
		}
	}},
	// Reported by an explicit Close: at the Close line.
	"ExplicitClose": {Reports: 1, Run: func(t *testing.T) {
		srv := grpctest.NewServer(t, interopService)
		if _, err := client(srv).FullDuplexCall(context.Background()); err != nil {
			t.Fatal(err)
		}
		reportloc.WantNextLine()
		srv.Close()
	}},
	// A Send that fails before any blocked (the server failed the call at
	// once): at the SendUntilBlocked line.
	"SendUntilBlockedFailedSend": {Reports: 1, Run: func(t *testing.T) {
		srv := grpctest.NewServer(t, service(failingHandler{}))
		stream, err := client(srv).FullDuplexCall(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		reportloc.WantNextLine()
		grpctest.SendUntilBlocked(t, stream, func(int) *testgrpc.StreamingOutputCallRequest { return echoOne(1) }, time.Minute)
		if _, err := stream.Recv(); status.Code(err) != codes.NotFound {
			t.Errorf("Recv: %v, want NotFound", err)
		}
	}},
	// A panic in a call nobody waited for, reported by the Pending's
	// cleanup: at the GoErr line.
	"PanicInGoErr": {Reports: 1, Run: func(t *testing.T) {
		reportloc.WantNextLine()
		p := grpctest.GoErr(t, func() error { panic("boom") })
		<-p.Done()
	}},
	// A Pending call left blocked on something that is not a harness
	// stream, reported by the Close that adopted it: at the NewServer line.
	"StuckGo": {Reports: 1, Run: func(t *testing.T) {
		release := make(chan struct{})
		t.Cleanup(func() { close(release) }) // runs after Close
		reportloc.WantNextLine()
		grpctest.NewServer(t, nil, grpctest.WithCloseTimeout(20*time.Millisecond))
		grpctest.Go(t, func() (int, error) { <-release; return 0, nil })
	}},
}

// leakingHandler's FullDuplexCall starts a goroutine that outlives it and
// then ignores its context until release is closed.
type leakingHandler struct {
	testgrpc.UnimplementedTestServiceServer
	release chan struct{}
	entered chan struct{}
}

func (h *leakingHandler) FullDuplexCall(stream testgrpc.TestService_FullDuplexCallServer) error {
	go func() { <-h.release }()
	close(h.entered)
	<-h.release
	return nil
}

// TestLocationScenarios runs a scenario in the child process TestReportLocations starts.
func TestLocationScenarios(t *testing.T) { reportloc.Child(t, locationScenarios) }

func TestReportLocations(t *testing.T) {
	reportloc.Check(t, "TestLocationScenarios", locationScenarios, regexp.MustCompile(`^grpctest(: |\.[A-Za-z]+: )`))
}
