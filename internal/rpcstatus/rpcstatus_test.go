package rpcstatus_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/streamtest/streamtest/internal/rpcstatus"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

type ownStatus struct{}

func (ownStatus) Error() string              { return "room r1 not found" }
func (ownStatus) GRPCStatus() *status.Status { return status.New(codes.NotFound, "no such room") }

type okStatus struct{}

func (okStatus) Error() string              { return "all good really" }
func (okStatus) GRPCStatus() *status.Status { return status.New(codes.OK, "fine") }

type nilStatus struct{}

func (nilStatus) Error() string              { return "backend down" }
func (nilStatus) GRPCStatus() *status.Status { return nil }

type errService struct {
	testpb.UnimplementedTestServiceServer
	err error
}

func (s errService) EmptyCall(context.Context, *testpb.Empty) (*testpb.Empty, error) {
	return nil, s.err
}

// Err gives, for each kind of handler error, the status a real grpc-go
// client gets: the same code and message.
func TestErrIsWhatARealClientGets(t *testing.T) {
	lis := bufconn.Listen(1 << 16)
	var svc errService
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, &svc)
	go srv.Serve(lis)
	defer srv.Stop()
	cc, err := grpc.NewClient("passthrough:///bufnet", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	for _, herr := range []error{
		errors.New("backend down"),
		fmt.Errorf("lookup: %w", errors.New("backend down")),
		status.Error(codes.NotFound, "no such room"),
		fmt.Errorf("lookup: %w", status.Error(codes.NotFound, "no such room")),
		context.Canceled,
		fmt.Errorf("waiting: %w", context.DeadlineExceeded),
		ownStatus{},
		nilStatus{},
	} {
		svc.err = herr
		_, realErr := testpb.NewTestServiceClient(cc).EmptyCall(t.Context(), &testpb.Empty{})
		got := rpcstatus.Err(herr)
		if got.Error() != realErr.Error() || status.Code(got) != status.Code(realErr) {
			t.Errorf("Err(%#v) = %q (%v); a real client gets %q (%v)", herr, got, status.Code(got), realErr, status.Code(realErr))
		}
		if !rpcstatus.IsStatusError(got) {
			t.Errorf("Err(%#v) is a %T, not a status error", herr, got)
		}
	}
	if rpcstatus.Err(nil) != nil {
		t.Errorf("Err(nil) is not nil")
	}
	if err := rpcstatus.Err(okStatus{}); err != nil {
		t.Errorf("Err of an error whose GRPCStatus is OK = %v, want nil", err)
	}
	se := status.Error(codes.NotFound, "x")
	if rpcstatus.Err(se) != se {
		t.Errorf("Err of a status error is not that error")
	}
}

// PreviousAttempts reads grpc-previous-rpc-attempts: what gRPC's retries
// put on every attempt but the first; 0 without it or for a value that is
// not a count.
func TestPreviousAttempts(t *testing.T) {
	for md, want := range map[string]int{"": 0, "1": 1, "3": 3, "x": 0, "-1": 0} {
		var m metadata.MD
		if md != "" {
			m = metadata.Pairs("grpc-previous-rpc-attempts", md)
		}
		if got := rpcstatus.PreviousAttempts(m); got != want {
			t.Errorf("PreviousAttempts(%v) = %d, want %d", m, got, want)
		}
	}
}
