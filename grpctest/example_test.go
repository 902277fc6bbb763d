package grpctest_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/recorder"
)

// exampleT stands in for the *testing.T of a test, which Examples do not
// have: it prints failures and runs cleanups when the example ends. In a
// test, pass t.
type exampleT struct {
	testing.TB
	ctx      context.Context
	cancel   context.CancelFunc
	cleanups []func()
	failed   bool
}

func newExampleT() *exampleT {
	t := &exampleT{}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	return t
}

func (t *exampleT) Helper()                           {}
func (t *exampleT) Logf(string, ...any)               {}
func (t *exampleT) Failed() bool                      { return t.failed }
func (t *exampleT) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Context() context.Context          { return t.ctx }
func (t *exampleT) FailNow()                          { panic("FailNow") }
func (t *exampleT) Fatalf(format string, args ...any) { t.Errorf(format, args...); t.FailNow() }
func (t *exampleT) Errorf(format string, args ...any) {
	t.failed = true
	// The timeline's events are left out: the order of the two sides'
	// events varies from run to run, and an example's output may not.
	msg, _, cut := strings.Cut(fmt.Sprintf(format, args...), "\n    1  ")
	if cut {
		msg += "\n    (the recorded events)"
	}
	fmt.Println("FAIL: " + msg)
}

// end ends the example's "test": its context, then its cleanups.
func (t *exampleT) end() {
	t.cancel()
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

func registerInterop(s *grpc.Server) {
	testgrpc.RegisterTestServiceServer(s, interop.NewTestServer())
}

func ExampleNewServer() {
	t := newExampleT() // in a test: t
	defer t.end()

	srv := grpctest.NewServer(t, registerInterop)
	c := testgrpc.NewTestServiceClient(srv.Conn())
	res, err := c.UnaryCall(t.Context(), &testgrpc.SimpleRequest{ResponseSize: 3})
	fmt.Println(len(res.GetPayload().GetBody()), err)
	for _, call := range srv.Recorder().Calls() {
		fmt.Println(call.Method(), status.Code(call.Err()))
	}
	// Output:
	// 3 <nil>
	// /grpc.testing.TestService/UnaryCall OK
}

func ExampleAssertOrder() {
	t := newExampleT()
	defer t.end()

	srv := grpctest.NewServer(t, registerInterop)
	stream, _ := testgrpc.NewTestServiceClient(srv.Conn()).FullDuplexCall(t.Context())
	req := &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 2}}}
	res := &testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: make([]byte, 2)}}
	stream.Send(req)
	stream.Recv()
	stream.CloseSend()
	if _, err := stream.Recv(); err != io.EOF {
		fmt.Println(err)
	}

	ok := grpctest.AssertOrder(t, srv.Recorder(),
		grpctest.ClientSends(req), grpctest.ServerReceives(req),
		grpctest.ServerSends(res), grpctest.ClientReceives(res),
		grpctest.ClientCloses(), grpctest.Ends(codes.OK))
	fmt.Println(ok)
	// Output:
	// true
}

func ExampleGo() {
	t := newExampleT()
	defer t.end()

	srv := grpctest.NewServer(t, registerInterop)
	stream, _ := testgrpc.NewTestServiceClient(srv.Conn()).FullDuplexCall(t.Context())

	recv := grpctest.Go(t, stream.Recv)
	fmt.Println("blocked:", recv.AssertBlocked(20*time.Millisecond)) // nothing was sent yet
	stream.Send(&testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 5}}})
	res, err := recv.Wait(5 * time.Second)
	fmt.Println(len(res.GetPayload().GetBody()), err)
	// Output:
	// blocked: true
	// 5 <nil>
}

// idle's FullDuplexCall never reads: what the client sends stays in the
// flow-control windows.
type idle struct {
	testgrpc.UnimplementedTestServiceServer
}

func (idle) FullDuplexCall(stream testgrpc.TestService_FullDuplexCallServer) error {
	<-stream.Context().Done()
	return nil
}

func ExampleSendUntilBlocked() {
	t := newExampleT()
	defer t.end()

	srv := grpctest.NewServer(t, func(s *grpc.Server) { testgrpc.RegisterTestServiceServer(s, idle{}) },
		grpctest.WithStaticWindow(64*1024))
	stream, _ := testgrpc.NewTestServiceClient(srv.Conn()).FullDuplexCall(t.Context())

	msg := &testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: make([]byte, 1024)}}
	n := grpctest.SendUntilBlocked(t, stream, func(int) *testgrpc.StreamingOutputCallRequest { return msg }, 100*time.Millisecond)
	// (65536 window + 65536 write quota) / 1035 bytes per framed message, rounded up
	fmt.Println(n)
	// Output:
	// 127
}

func ExampleServer_Disconnect() {
	t := newExampleT()
	defer t.end()

	srv := grpctest.NewServer(t, registerInterop)
	c := testgrpc.NewTestServiceClient(srv.Conn())
	stream, _ := c.FullDuplexCall(t.Context())
	stream.Send(&testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}}})
	stream.Recv()

	srv.Disconnect()
	_, err := stream.Recv()
	fmt.Println(status.Code(err))
	_, err = c.EmptyCall(t.Context(), &testgrpc.Empty{}) // a new transport
	fmt.Println(err)
	// Output:
	// Unavailable
	// <nil>
}

// A test that forgets to drain a stream is told so at Close.
func ExampleServer_Close() {
	t := newExampleT()

	srv := grpctest.NewServer(t, registerInterop)
	c := testgrpc.NewTestServiceClient(srv.Conn())
	stream, _ := c.FullDuplexCall(context.Background())
	stream.Send(&testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}}})
	stream.Recv() // the echo; the stream is never closed nor drained

	t.end() // the test ends: Close runs
	// Output:
	// FAIL: grpctest: client stream /grpc.testing.TestService/FullDuplexCall opened at example_test.go:178 was never finished (1 open at Close: call 1 in the timeline): drain the stream or cancel its context (call Recv until it returns io.EOF or an error, or cancel the context passed to the RPC)
	// recorded timeline (up to Close, which ends the calls still open):
	//     (the recorded events)
}

// A typed slice (here what a fake stream sent) goes through Msgs to be
// compared.
func ExampleMsgs() {
	t := newExampleT()
	defer t.end()
	sent := []*testgrpc.Payload{{Body: []byte("a")}, {Body: []byte("b")}}
	fmt.Println(grpctest.AssertMessages(t, []any{&testgrpc.Payload{Body: []byte("a")}, &testgrpc.Payload{Body: []byte("b")}}, grpctest.Msgs(sent)))
	// Output:
	// true
}

// A canceled call's End is recorded on another goroutine: wait for it.
func ExampleAssertOrderWithin() {
	t := newExampleT()
	defer t.end()

	srv := grpctest.NewServer(t, registerInterop)
	ctx, cancel := context.WithCancel(t.Context())
	stream, _ := testgrpc.NewTestServiceClient(srv.Conn()).FullDuplexCall(ctx)
	stream.Send(&testgrpc.StreamingOutputCallRequest{})
	cancel()

	ok := grpctest.AssertOrderWithin(t, srv.Recorder(), 5*time.Second,
		grpctest.ClientSends(nil), grpctest.Ends(codes.Canceled))
	fmt.Println(ok)
	// Output:
	// true
}

// failedSend is a Step of a test's own: a Send of one side that failed,
// which the message steps (ClientSends, ServerSends) leave out.
type failedSend struct{ side recorder.Side }

func (s failedSend) Match(e recorder.Event) bool {
	return e.Side == s.side && e.Kind == recorder.Send && e.Err != nil
}

func (s failedSend) String() string { return fmt.Sprintf("failedSend(%s)", s.side) }

// A client that keeps sending after the server rejected the call: its
// next Send fails, which a Step of the test's own finds.
func ExampleStep() {
	t := newExampleT()
	defer t.end()

	srv := grpctest.NewServer(t, registerInterop)
	stream, _ := testgrpc.NewTestServiceClient(srv.Conn()).FullDuplexCall(t.Context())
	bad := &testgrpc.StreamingOutputCallRequest{
		ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.InvalidArgument), Message: "bad batch"},
	}
	stream.Send(bad)
	_, err := stream.Recv()
	fmt.Println(status.Code(err))
	fmt.Println(stream.Send(bad)) // the bug: it sends on

	ok := grpctest.AssertOrder(t, srv.Recorder(),
		grpctest.ServerEnds(codes.InvalidArgument), failedSend{recorder.Client})
	fmt.Println(ok)
	// Output:
	// InvalidArgument
	// EOF
	// true
}
