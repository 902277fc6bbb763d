package grpctest_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/recorder"
)

// TestMain checks for leaks; the call a child binary of
// TestVerifyTestMainFailsTheBinaryOnACallLeftBlocked leaves blocked on
// purpose is VerifyTestMain's to report, not goleak's.
func TestMain(m *testing.M) {
	grpctest.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/streamtest/streamtest/grpctest.childBlocks"))
}

// interopService registers grpc-go's interop test service.
func interopService(s *grpc.Server) {
	testgrpc.RegisterTestServiceServer(s, interop.NewTestServer())
}

// service registers h as the test service.
func service(h testgrpc.TestServiceServer) func(*grpc.Server) {
	return func(s *grpc.Server) { testgrpc.RegisterTestServiceServer(s, h) }
}

func client(srv *grpctest.Server) testgrpc.TestServiceClient {
	return testgrpc.NewTestServiceClient(srv.Conn())
}

// waitFor waits until the recorder has an event matching match.
func waitFor(t testing.TB, r *recorder.Recorder, match func(recorder.Event) bool) {
	t.Helper()
	err := r.Wait(context.Background(), func(evs []recorder.Event) bool {
		for _, e := range evs {
			if match(e) {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("waiting for an event: %v", err)
	}
}

const (
	fullDuplex    = "/grpc.testing.TestService/FullDuplexCall"
	unaryCall     = "/grpc.testing.TestService/UnaryCall"
	streamingOut  = "/grpc.testing.TestService/StreamingOutputCall"
	streamingIn   = "/grpc.testing.TestService/StreamingInputCall"
	emptyCallName = "/grpc.testing.TestService/EmptyCall"
)

func payload(n int) *testgrpc.Payload { return &testgrpc.Payload{Body: make([]byte, n)} }

// silentHandler's FullDuplexCall neither reads nor writes: it returns when
// the call ends. It is the peer of flow-control and blocking tests.
type silentHandler struct {
	testgrpc.UnimplementedTestServiceServer
}

func (silentHandler) FullDuplexCall(stream testgrpc.TestService_FullDuplexCallServer) error {
	<-stream.Context().Done()
	return stream.Context().Err()
}
