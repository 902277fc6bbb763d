package grpctest_test

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/stats"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
)

// dialer's EmptyCall forwards to addr over a ClientConn it never closes.
type dialer struct {
	testgrpc.UnimplementedTestServiceServer
	addr   string
	leaked chan *grpc.ClientConn
}

func (d *dialer) EmptyCall(ctx context.Context, m *testgrpc.Empty) (*testgrpc.Empty, error) {
	conn, err := grpc.NewClient(d.addr, grpc.WithTransportCredentials(insecure.NewCredentials())) // never closed
	if err != nil {
		return nil, err
	}
	d.leaked <- conn
	return testgrpc.NewTestServiceClient(conn).EmptyCall(ctx, m)
}

// A handler that creates a grpc.ClientConn and never closes it leaks the
// conn's goroutines, all of gRPC's own code: the report says they are a
// ClientConn's and that it needs Close.
func TestLeakCheckNamesAClientConnNeverClosed(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(up, interop.NewTestServer())
	go up.Serve(lis)
	defer up.Stop()
	spy := spytb.New(t)
	d := &dialer{addr: lis.Addr().String(), leaked: make(chan *grpc.ClientConn, 1)}
	srv := grpctest.NewServer(spy, service(d), grpctest.WithCloseTimeout(100*time.Millisecond))
	if _, err := client(srv).EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
		t.Fatal(err)
	}
	conn := <-d.leaked
	spy.End()
	conn.Close()
	spy.Want(t, 1, "started by handler "+emptyCallName, "run a grpc.ClientConn", "that was never closed: Close every ClientConn the code creates")
}

// connEndBlocker is a client stats handler whose HandleConn blocks on
// ConnEnd, which gRPC delivers from inside ClientConn.Close, until release
// is closed.
type connEndBlocker struct{ release chan struct{} }

func (connEndBlocker) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (connEndBlocker) HandleRPC(context.Context, stats.RPCStats)                         {}
func (connEndBlocker) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (h connEndBlocker) HandleConn(_ context.Context, s stats.ConnStats) {
	if _, ok := s.(*stats.ConnEnd); ok {
		<-h.release
	}
}

// Close is bounded even when ClientConn.Close is not: code of the test's
// that gRPC runs from it and that blocks is reported, with where it
// blocks, and the server is still stopped.
func TestCloseIsBoundedWhenClientConnCloseBlocks(t *testing.T) {
	h := connEndBlocker{release: make(chan struct{})}
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService, grpctest.WithCloseTimeout(50*time.Millisecond),
		grpctest.WithDialOptions(grpc.WithStatsHandler(h)))
	if _, err := client(srv).EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil { // connected: Close will end a transport
		t.Fatal(err)
	}
	spy.End() // bounded by the spy: it fails the test if a cleanup hangs
	close(h.release)
	spy.Want(t, 1, "ClientConn.Close did not return within 1s", "HandleConn",
		"goroutine(s) of ClientConn.Close blocked here:", "grpctest_test.connEndBlocker.HandleConn")
	if _, err := client(srv).EmptyCall(t.Context(), &testgrpc.Empty{}); err == nil {
		t.Errorf("a call after Close succeeded: the server was not stopped")
	}
}

// blockingCloseBuilder builds passthrough resolvers whose Close blocks
// until release is closed; gRPC calls it from ClientConn.Close, on the
// conn's serializer goroutine.
type blockingCloseBuilder struct{ release chan struct{} }

func (b blockingCloseBuilder) Scheme() string { return "passthrough" }
func (b blockingCloseBuilder) Build(target resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	if err := cc.UpdateState(resolver.State{Addresses: []resolver.Address{{Addr: target.Endpoint()}}}); err != nil {
		return nil, err
	}
	return blockingCloseResolver(b), nil
}

type blockingCloseResolver struct{ release chan struct{} }

func (blockingCloseResolver) ResolveNow(resolver.ResolveNowOptions) {}
func (r blockingCloseResolver) Close()                              { <-r.release }

// A resolver whose Close blocks holds ClientConn.Close on another
// goroutine, the conn's own: the report shows it too.
func TestCloseShowsABlockedResolverClose(t *testing.T) {
	release := make(chan struct{})
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService, grpctest.WithCloseTimeout(50*time.Millisecond),
		grpctest.WithDialOptions(grpc.WithResolvers(blockingCloseBuilder{release})))
	if _, err := client(srv).EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
		t.Fatal(err)
	}
	spy.End()
	close(release)
	spy.Want(t, 1, "ClientConn.Close did not return within 1s",
		"goroutine(s) of the ClientConn running code of the test's:", "grpctest_test.blockingCloseResolver.Close")
}

// With WithTestGoroutineCheck and Close run on another goroutine than the
// test's (here the spy's), the goroutine Close leaves waiting on the
// blocked ClientConn.Close is Close's, not one the test started: one
// report, not two (found by a review).
func TestCloseIsBoundedWhenClientConnCloseBlocksWithTestGoroutineCheck(t *testing.T) {
	h := connEndBlocker{release: make(chan struct{})}
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService, grpctest.WithTestGoroutineCheck(), grpctest.WithCloseTimeout(50*time.Millisecond),
		grpctest.WithDialOptions(grpc.WithStatsHandler(h)))
	if _, err := client(srv).EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil { // connected: Close will end a transport
		t.Fatal(err)
	}
	spy.End()
	close(h.release)
	spy.Want(t, 1, "ClientConn.Close did not return within 1s")
}
