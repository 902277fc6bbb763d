package grpctest_test

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
)

// signalHandler's EmptyCall uses os/signal, whose first Notify in the
// process starts the standard library's signal loop from the handler's
// goroutine: it carries the harness's label but belongs to the process.
type signalHandler struct {
	testgrpc.UnimplementedTestServiceServer
}

func (signalHandler) EmptyCall(context.Context, *testgrpc.Empty) (*testgrpc.Empty, error) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	signal.Stop(ch)
	return &testgrpc.Empty{}, nil
}

// The signal loop is not a leak of the handler that happened to start it
// (goleak ignores it too). Only the first run of the process starts it, so
// with -count > 1 the later runs check nothing more.
func TestSignalLoopIsNotALeak(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(signalHandler{}))
	if _, err := client(srv).EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
		t.Fatal(err)
	}
	spy.End()
	spy.WantClean(t)
}
