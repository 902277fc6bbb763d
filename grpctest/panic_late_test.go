package grpctest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
)

// A handler that ignores its context past the close timeout and then
// panics, while Close waits for it after Stop: the panic is kept before
// the handler counts as ended, so Close reports it (it was lost in most
// runs when the interceptor's goroutine kept it after the handler's had
// ended).
type latePanicker struct {
	testgrpc.UnimplementedTestServiceServer
	started, gate chan struct{}
}

func (h latePanicker) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	close(h.started)
	<-h.gate // ignores its context past the close timeout
	panic("late panic")
}

func TestCloseReportsAPanicRaisedWhileItWaits(t *testing.T) {
	lost := 0
	const runs = 50
	for range runs {
		h := latePanicker{started: make(chan struct{}), gate: make(chan struct{})}
		spy := spytb.New(t)
		srv := grpctest.NewServer(spy, service(h), grpctest.WithCloseTimeout(20*time.Millisecond), grpctest.WithoutLeakCheck())
		// Release the handler once Close has stopped the server, and let
		// Close go on to wait for it only when it has ended: then its
		// panic must have been kept (the close timeout plays no part).
		grpctest.SetAfterStop(srv, func(idle <-chan struct{}) {
			close(h.gate)
			<-idle
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); client(srv).UnaryCall(ctx, &testgrpc.SimpleRequest{}) }()
		<-h.started
		cancel()
		<-done
		srv.Close()
		spy.End()
		if !strings.Contains(spy.Text(), "late panic") {
			lost++
			t.Log(spy.Text())
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d handler panics were not reported by Close", lost, runs)
	}
}
