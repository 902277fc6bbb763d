package grpctest_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"
)

// A handler that closes the harness from a goroutine it starts: that
// goroutine carries the handler's label, but while it runs Close it is not
// a leak, and Close does not wait for itself.

type closesHarness struct {
	testgrpc.UnimplementedTestServiceServer
	srv    *grpctest.Server
	closed chan struct{}
}

func (h *closesHarness) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	go func() { // the server goes away after this call; Close may not run in the handler itself
		h.srv.Close()
		close(h.closed)
	}()
	return &testgrpc.SimpleResponse{}, nil
}

func TestCloseFromAGoroutineAHandlerStarted(t *testing.T) {
	h := &closesHarness{closed: make(chan struct{})}
	spy := spytb.New(t)
	h.srv = grpctest.NewServer(spy, service(h), grpctest.WithCloseTimeout(100*time.Millisecond))
	client(h.srv).UnaryCall(spy.Context(), &testgrpc.SimpleRequest{}) // may fail: Close closes the conn
	<-h.closed
	spy.End()
	spy.WantClean(t)
}

// Disconnect while a transport is still being set up (which leaves the
// channel in TRANSIENT_FAILURE): the next RPC still works, as Disconnect
// promises.

// slowHandshake is insecure server credentials whose first handshake, like
// a slow TLS handshake, reads until the connection fails.
type slowHandshake struct {
	credentials.TransportCredentials
	first   atomic.Bool
	entered chan struct{}
}

func (c *slowHandshake) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if c.first.CompareAndSwap(false, true) {
		close(c.entered)
		_, err := io.Copy(io.Discard, conn)
		if err == nil {
			err = io.EOF
		}
		return nil, nil, err
	}
	return c.TransportCredentials.ServerHandshake(conn)
}

func TestDisconnectWhileAConnectionIsBeingSetUp(t *testing.T) {
	creds := &slowHandshake{TransportCredentials: insecure.NewCredentials(), entered: make(chan struct{})}
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService, grpctest.WithServerOptions(grpc.Creds(creds)))
	<-creds.entered // the connection NewServer started is being set up
	srv.Disconnect()
	if _, err := client(srv).EmptyCall(spy.Context(), &testgrpc.Empty{}); err != nil {
		t.Errorf("first RPC after Disconnect: %v; want it to succeed (\"the next RPC dials a new transport\")", err)
	}
	spy.End()
	spy.WantClean(t)
}

// The same without the slow handshake (before the fix, it failed about
// one run in six under -race).
func TestDisconnectRightAfterNewServer(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	srv.Disconnect()
	if _, err := client(srv).EmptyCall(spy.Context(), &testgrpc.Empty{}); err != nil {
		t.Errorf("first RPC after Disconnect: %v; want it to succeed", err)
	}
	spy.End()
	spy.WantClean(t)
}

// A stream a handler opens with its own context ends with the handler: it
// is never reported, however late the test's cancel reaches the handler.
// One opened with a context of its own outlives the handler: reported.

type relay struct {
	testgrpc.UnimplementedTestServiceServer
	srv    *grpctest.Server
	opened chan struct{}
	own    bool // open the inner stream with a context of its own, not the handler's
}

func (h *relay) FullDuplexCall(stream testgrpc.TestService_FullDuplexCallServer) error {
	// Calls another service of the same server with the handler's context.
	ctx := stream.Context()
	if h.own {
		ctx = context.Background()
	}
	_, err := testgrpc.NewTestServiceClient(h.srv.Conn()).StreamingInputCall(ctx)
	if err != nil {
		return err
	}
	close(h.opened)
	<-stream.Context().Done()
	return stream.Context().Err()
}

func (h *relay) StreamingInputCall(stream testgrpc.TestService_StreamingInputCallServer) error {
	<-stream.Context().Done()
	return stream.Context().Err()
}

func TestStreamOpenedWithAHandlersContextEndsWithIt(t *testing.T) {
	h := &relay{opened: make(chan struct{})}
	spy := spytb.New(t)
	h.srv = grpctest.NewServer(spy, service(h))
	if _, err := client(h.srv).FullDuplexCall(spy.Context()); err != nil { // the test's context
		t.Fatal(err)
	}
	<-h.opened
	spy.End()
	spy.WantClean(t)

	// Opened with a context of its own, the stream outlives the handler:
	// reported.
	h = &relay{opened: make(chan struct{}), own: true}
	spy = spytb.New(t)
	h.srv = grpctest.NewServer(spy, service(h))
	if _, err := client(h.srv).FullDuplexCall(spy.Context()); err != nil {
		t.Fatal(err)
	}
	<-h.opened
	spy.End()
	spy.Want(t, 1, "client stream "+streamingIn, "was never finished")
}

// A caller's []byte option applies where the package's own summary of
// large bytes fields would: the caller's wins, at any size.

func TestAssertMessagesWithABytesOption(t *testing.T) {
	sameLen := cmp.Comparer(func(a, b []byte) bool { return len(a) == len(b) })
	for _, n := range []int{1024, 1025} {
		spy := spytb.New(t)
		want := &testgrpc.SimpleResponse{Payload: &testgrpc.Payload{Body: make([]byte, n)}}
		got := &testgrpc.SimpleResponse{Payload: &testgrpc.Payload{Body: make([]byte, n)}}
		got.Payload.Body[0] = 1 // same length: equal under sameLen
		if !grpctest.AssertMessagesWith(spy, []any{want}, []any{got}, sameLen) {
			t.Errorf("%d-byte payloads: AssertMessagesWith failed:\n%s", n, spy.Text())
		}
	}
}

// NaN equals NaN, as in proto.Equal, with options or without.

func TestNaNEqualsNaNWithAndWithoutOptions(t *testing.T) {
	want := []any{wrapperspb.Double(math.NaN())}
	got := []any{wrapperspb.Double(math.NaN())}
	spy := spytb.New(t)
	plain := grpctest.AssertMessages(spy, want, got)
	with := grpctest.AssertMessagesWith(spy, want, got, protocmp.IgnoreEmptyMessages())
	if plain != with {
		t.Errorf("AssertMessages = %v, AssertMessagesWith(unrelated option) = %v:\n%s", plain, with, spy.Text())
	}
}

// A Send that panics (here on a nil stream) is reported when
// SendUntilBlocked returns, not taken for a Send that blocked.

func TestSendUntilBlockedReportsAPanickingSendAtOnce(t *testing.T) {
	var stream *grpc.GenericClientStream[testgrpc.StreamingOutputCallRequest, testgrpc.StreamingOutputCallResponse]
	spy := spytb.New(t)
	n := grpctest.SendUntilBlocked(spy, stream, func(int) *testgrpc.StreamingOutputCallRequest {
		return &testgrpc.StreamingOutputCallRequest{}
	}, 500*time.Millisecond)
	if n != 0 || !strings.Contains(spy.Text(), "panicked") {
		t.Errorf("SendUntilBlocked on a nil stream returned %d, having reported %q; want 0, the panicking Send reported", n, spy.Text())
	}
	spy.End()
	if !strings.Contains(spy.Text(), "panicked") {
		t.Errorf("panic never reported: %s", spy.Text())
	}
}

// Under grpc.WaitForHandlers(true), gRPC's Serve and Stop wait for a stuck
// handler: only the handler is reported, not them as leaks.

type stuckFD struct {
	testgrpc.UnimplementedTestServiceServer
	release, entered chan struct{}
}

func (h *stuckFD) FullDuplexCall(testgrpc.TestService_FullDuplexCallServer) error {
	close(h.entered)
	<-h.release
	return nil
}

func TestStuckHandlerUnderWaitForHandlersIsReportedOnce(t *testing.T) {
	h := &stuckFD{release: make(chan struct{}), entered: make(chan struct{})}
	defer close(h.release)
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(h), grpctest.WithCloseTimeout(100*time.Millisecond),
		grpctest.WithServerOptions(grpc.WaitForHandlers(true)))
	if _, err := client(srv).FullDuplexCall(spy.Context()); err != nil {
		t.Fatal(err)
	}
	<-h.entered
	spy.End()
	// As TestLeakCheckReportsHandlerThatNeverReturns: exactly one report, the handler.
	spy.Want(t, 1, "handler "+fullDuplex+" did not return after Stop")
}

// A client-streaming stream left open without CloseSend, which its
// handler waits for, is reported with a note that says so; one the client
// half-closed but did not drain is reported without it (the server ended
// it: its status was waiting for a Recv).
func TestUnfinishedStreamNotHalfClosed(t *testing.T) {
	for _, halfClose := range []bool{false, true} {
		t.Run(fmt.Sprint("CloseSend=", halfClose), func(t *testing.T) {
			spy := spytb.New(t)
			srv := grpctest.NewServer(spy, interopService)
			stream, err := client(srv).StreamingInputCall(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.Send(&testgrpc.StreamingInputCallRequest{Payload: &testgrpc.Payload{Body: []byte("x")}}); err != nil {
				t.Fatal(err)
			}
			if halfClose {
				if err := stream.CloseSend(); err != nil {
					t.Fatal(err)
				}
				waitFor(t, srv.Recorder(), func(e recorder.Event) bool { return e.Side == recorder.Server && e.Kind == recorder.End })
			}
			spy.End()
			r := spy.Want(t, 1, "client stream "+streamingIn, "was never finished")
			note := strings.Contains(r.Msg, "its client never half-closed it (no CloseSend), and a handler that reads the requests until io.EOF waits for that")
			if note == halfClose {
				t.Errorf("the note on CloseSend is there: %v, want %v:\n%s", note, !halfClose, r.Msg)
			}
			if halfClose && !strings.Contains(r.Msg, "the server ended it with OK") {
				t.Errorf("want the note that the server had ended it:\n%s", r.Msg)
			}
		})
	}
}
