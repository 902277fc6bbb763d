package fakes_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// errService's FullDuplexCall returns the error the test puts in err.
type errService struct {
	testpb.UnimplementedTestServiceServer
	err error
}

func (s errService) FullDuplexCall(testpb.TestService_FullDuplexCallServer) error { return s.err }

var errBackendDown = errors.New("backend down")

// handlerErrors are errors a handler (or a test playing one) ends a call
// with, of each kind grpc converts differently.
var handlerErrors = []struct {
	name string
	err  error
}{
	{"plain", errBackendDown},
	{"wrapped plain", fmt.Errorf("lookup: %w", errBackendDown)},
	{"status", status.Error(codes.NotFound, "no such room")},
	{"wrapped status", fmt.Errorf("lookup: %w", status.Error(codes.NotFound, "no such room"))},
	{"context canceled", context.Canceled},
	{"deadline", fmt.Errorf("waiting: %w", context.DeadlineExceeded)},
}

// The client gets Finish's error as a real client gets a handler's: the
// same status, code and text, as grpc-go makes them. As the contract has
// it, it is also Finish's error: errors.Is finds it.
func TestFinishErrorIsTheStatusARealClientGetsAndTheTestsError(t *testing.T) {
	for _, tc := range handlerErrors {
		t.Run(tc.name, func(t *testing.T) {
			srv := grpctest.NewServer(t, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, errService{err: tc.err}) })
			real, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			_, realErr := real.Recv()

			fake := fakes.NewClientStream[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse](t.Context())
			fake.Finish(tc.err)
			_, fakeErr := fake.Recv()

			if realErr == nil || fakeErr == nil {
				t.Fatalf("Recv: real %v, fake %v; want both to fail", realErr, fakeErr)
			}
			if fakeErr.Error() != realErr.Error() {
				t.Errorf("fake Recv's error reads\n\t%s\nreal's\n\t%s", fakeErr, realErr)
			}
			if fc, rc := status.Code(fakeErr), status.Code(realErr); fc != rc {
				t.Errorf("status.Code: fake %v, real %v", fc, rc)
			}
			if !errors.Is(fakeErr, tc.err) {
				t.Errorf("errors.Is(Recv's error, Finish's error) = false; want true (the contract: Recv returns Finish's error)")
			}
			if !errors.Is(fakeErr, realErr) {
				t.Errorf("errors.Is(fake's error, real's status error) = false; want true, as for two equal status errors")
			}
		})
	}
}

// A fake ServerStream's Next ends with End's error the same way: the
// status a real client would get, and the handler's error for errors.Is.
func TestNextEndsWithTheStatusOfEndsErrorAndTheError(t *testing.T) {
	for _, tc := range handlerErrors {
		t.Run(tc.name, func(t *testing.T) {
			s := fakes.NewServerStream[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse](t.Context())
			s.End(tc.err)
			_, err := s.Next(t.Context())
			want, _ := status.FromError(tc.err)
			if _, isStatus := status.FromError(tc.err); !isStatus {
				want = status.FromContextError(tc.err)
			}
			if status.Code(err) != want.Code() || err.Error() != want.Err().Error() {
				t.Errorf("Next = %v; want %v", err, want.Err())
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("errors.Is(Next's error, End's error) = false; want true")
			}
		})
	}
}
