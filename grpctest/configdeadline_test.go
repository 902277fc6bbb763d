package grpctest_test

import (
	"context"
	"slices"
	"testing"

	"google.golang.org/grpc"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"
)

type ctxWaiter struct {
	testgrpc.UnimplementedTestServiceServer
}

func (ctxWaiter) FullDuplexCall(st testgrpc.TestService_FullDuplexCallServer) error {
	<-st.Context().Done()
	return status.FromContextError(st.Context().Err()).Err()
}

// A stream whose service-config deadline has passed is over: gRPC ended
// it and released it, and the recorder shows its End.
func TestStreamPastItsServiceConfigDeadlineIsFinished(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(ctxWaiter{}), grpctest.WithDialOptions(
		grpc.WithDefaultServiceConfig(`{"methodConfig":[{"name":[{"service":"grpc.testing.TestService"}],"timeout":"0.05s"}]}`)))
	if _, err := client(srv).FullDuplexCall(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Recorder().Wait(t.Context(), func(evs []recorder.Event) bool {
		return slices.ContainsFunc(evs, func(e recorder.Event) bool { return e.Side == recorder.Client && e.Kind == recorder.End })
	}); err != nil {
		t.Fatal(err)
	}
	spy.End()
	if len(spy.Reports()) > 0 {
		t.Errorf("reports:\n%s\n%s", spy.Text(), srv.Recorder())
	}
}
