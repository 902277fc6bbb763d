package grpctest_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
)

// The server goes down (the test stops it), a client call sees Unavailable,
// then the network drops: Disconnect drops what there is to drop, waits for
// no reconnect (no RPC can succeed) and has nothing to report.
func TestDisconnectAfterTheServerStopped(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	if _, err := client(srv).EmptyCall(spy.Context(), &testgrpc.Empty{}); err != nil {
		t.Fatal(err)
	}
	srv.GRPC().Stop()
	if _, err := client(srv).EmptyCall(spy.Context(), &testgrpc.Empty{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("EmptyCall on a stopped server: %v, want Unavailable", err)
	}
	srv.Disconnect()
	spy.End()
	spy.WantClean(t)
}

// An extra connection whose dialer always fails (the code's behaviour
// with an unreachable server is under test), and a Disconnect of the
// harness's own connection: Disconnect waits only for the connections
// whose transports it dropped.
func TestDisconnectWithAnUnreachableDialedConn(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	srv.Dial(grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) {
		return nil, errors.New("unreachable")
	}))
	srv.Disconnect()
	spy.End()
	spy.WantClean(t)
}
