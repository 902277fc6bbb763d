package recorder_test

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/streamtest/streamtest/recorder"
)

// pair is a real gRPC server and client connection over bufconn or TCP
// loopback, both recorded by rec. (The recorder's own tests cannot use
// grpctest, which is built on top of this package.)
type pair struct {
	rec  *recorder.Recorder
	srv  *grpc.Server
	conn *grpc.ClientConn
}

type network int

const (
	bufnet network = iota
	tcp
)

func (n network) String() string {
	if n == tcp {
		return "tcp"
	}
	return "bufconn"
}

// newPair starts a server with register's services on network and dials it.
// serverRec and clientRec may differ (or be nil) to record only one side.
func newPair(t testing.TB, n network, serverRec, clientRec *recorder.Recorder, register func(*grpc.Server), extra ...grpc.DialOption) *pair {
	t.Helper()
	var sopts []grpc.ServerOption
	if serverRec != nil {
		sopts = serverRec.ServerOptions()
	}
	if clientRec != nil {
		extra = append(clientRec.DialOptions(), extra...)
	}
	p := newPairOpts(t, n, sopts, register, extra...)
	p.rec = serverRec
	if p.rec == nil {
		p.rec = clientRec
	}
	return p
}

// newPairOpts is newPair with the server's and the client's options given
// as they are.
func newPairOpts(t testing.TB, n network, sopts []grpc.ServerOption, register func(*grpc.Server), extra ...grpc.DialOption) *pair {
	t.Helper()
	srv := grpc.NewServer(sopts...)
	register(srv)

	var lis net.Listener
	dopts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	target := "passthrough:///bufnet"
	switch n {
	case tcp:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		lis = l
		target = l.Addr().String()
	default:
		bl := bufconn.Listen(64 << 10)
		lis = bl
		dopts = append(dopts, grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return bl.DialContext(ctx)
		}))
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	dopts = append(dopts, extra...)
	conn, err := grpc.NewClient(target, dopts...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		<-served
	})
	return &pair{srv: srv, conn: conn}
}
