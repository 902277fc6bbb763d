package grpctest_test

// Tests that pin checks of the harness a mutation run found unpinned: each
// fails when the check it names is broken.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"
)

// serveStarter's EmptyCall starts a gRPC server of its own, serving a
// listener, and never stops it.
type serveStarter struct {
	testgrpc.UnimplementedTestServiceServer
	srv *grpc.Server
	lis *bufconn.Listener
}

func (h *serveStarter) EmptyCall(context.Context, *testgrpc.Empty) (*testgrpc.Empty, error) {
	go h.srv.Serve(h.lis)
	return &testgrpc.Empty{}, nil
}

// A grpc.Server a handler started and never stopped is a leak, though its
// goroutine has Serve on its stack: only with a handler stuck are Serve
// and Stop the harness's own, waiting for it. Its goroutine runs gRPC's
// code only: the report suggests no WithIgnoredGoroutines for it.
func TestLeakCheckReportsAGRPCServerAHandlerStarted(t *testing.T) {
	h := &serveStarter{srv: grpc.NewServer(), lis: bufconn.Listen(1024)}
	t.Cleanup(h.srv.Stop) // after the spy's End: Close has looked by then
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(h), grpctest.WithCloseTimeout(100*time.Millisecond))
	if _, err := client(srv).EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
		t.Fatal(err)
	}
	spy.End()
	r := spy.Want(t, 1, "goroutine(s) started during this harness's life still running",
		"started by handler "+emptyCallName, "bufconn.(*Listener).Accept", "created by github.com/streamtest/streamtest/grpctest_test.(*serveStarter).EmptyCall")
	if strings.Contains(r.Msg, `WithIgnoredGoroutines("google.golang.org/grpc`) {
		t.Errorf("the report suggests ignoring a function of gRPC's:\n%s", r.Msg)
	}
}

// cancelOnEnd's FullDuplexCall sends one response, waits for its call to
// end, and then cancels the context of the client's stream.
type cancelOnEnd struct {
	testgrpc.UnimplementedTestServiceServer
	cancel context.CancelFunc
}

func (h *cancelOnEnd) FullDuplexCall(st testgrpc.TestService_FullDuplexCallServer) error {
	if err := st.Send(&testgrpc.StreamingOutputCallResponse{}); err != nil {
		return err
	}
	<-st.Context().Done()
	h.cancel()
	return nil
}

// A client stream left open when Close starts is reported, though its
// context ends during Close (here, canceled by the handler Close ends):
// only a stream opened with a handler's context ends with that handler.
func TestUnfinishedStreamWhoseContextEndsDuringClose(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := &cancelOnEnd{cancel: cancel}
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(h), grpctest.WithCloseTimeout(100*time.Millisecond))
	stream, err := client(srv).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil { // the handler runs
		t.Fatal(err)
	}
	spy.End()
	if ctx.Err() == nil {
		t.Fatal("the handler did not cancel the stream's context when Close ended its call")
	}
	spy.Want(t, 1, "client stream /grpc.testing.TestService/FullDuplexCall opened at", "was never finished")
}

// secondStuck's FullDuplexCall returns at once on its first call and
// blocks on every later one until release is closed.
type secondStuck struct {
	testgrpc.UnimplementedTestServiceServer
	calls   atomic.Int32
	entered chan struct{}
	release chan struct{}
}

func (h *secondStuck) FullDuplexCall(testgrpc.TestService_FullDuplexCallServer) error {
	if h.calls.Add(1) == 1 {
		return nil
	}
	h.entered <- struct{}{}
	<-h.release
	return nil
}

// The report of a stuck handler names the call still running, not an
// earlier call of the same method that ended.
func TestCloseReportNamesOnlyTheRunningCall(t *testing.T) {
	h := &secondStuck{entered: make(chan struct{}, 1), release: make(chan struct{})}
	t.Cleanup(func() { close(h.release) })
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(h), grpctest.WithCloseTimeout(100*time.Millisecond))
	first, err := client(srv).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("first call: Recv = %v, want io.EOF", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	second, err := client(srv).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := srv.Recorder().CallID(second.Context())
	<-h.entered
	cancel()
	spy.End()
	spy.Want(t, 1, "handler "+fullDuplex+" did not return after Stop", fmt.Sprintf("(1 still running: call %d in the timeline;", id))
}

// twoStuck's FullDuplexCall and UnaryCall block until release is closed.
type twoStuck struct {
	testgrpc.UnimplementedTestServiceServer
	entered chan struct{}
	release chan struct{}
}

func (h *twoStuck) FullDuplexCall(testgrpc.TestService_FullDuplexCallServer) error {
	h.entered <- struct{}{}
	<-h.release
	return nil
}

func (h *twoStuck) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	h.entered <- struct{}{}
	<-h.release
	return &testgrpc.SimpleResponse{}, nil
}

// With handlers of two methods stuck, each method's report shows the
// stacks of its own handlers only.
func TestCloseReportShowsEachStuckMethodsOwnStacks(t *testing.T) {
	h := &twoStuck{entered: make(chan struct{}, 2), release: make(chan struct{})}
	t.Cleanup(func() { close(h.release) })
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(h), grpctest.WithCloseTimeout(100*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := client(srv).FullDuplexCall(ctx); err != nil {
		t.Fatal(err)
	}
	unaryDone := make(chan struct{})
	go func() {
		defer close(unaryDone)
		client(srv).UnaryCall(ctx, &testgrpc.SimpleRequest{}) // ends with cancel; the handler stays
	}()
	<-h.entered
	<-h.entered
	cancel()
	<-unaryDone
	spy.End()
	for _, m := range []struct{ method, own, other string }{
		{fullDuplex, "grpctest_test.(*twoStuck).FullDuplexCall", "grpctest_test.(*twoStuck).UnaryCall"},
		{unaryCall, "grpctest_test.(*twoStuck).UnaryCall", "grpctest_test.(*twoStuck).FullDuplexCall"},
	} {
		r := spy.Want(t, 2, "handler "+m.method+" did not return after Stop", m.own)
		if strings.Contains(r.Msg, m.other) {
			t.Errorf("the report on %s shows the stack of a handler of another method:\n%s", m.method, r.Msg)
		}
	}
}

// lateAfterCancel's FullDuplexCall waits for its call's context to end
// and then, still running, tries to send.
type lateAfterCancel struct {
	testgrpc.UnimplementedTestServiceServer
	entered chan struct{}
}

func (h *lateAfterCancel) FullDuplexCall(st testgrpc.TestService_FullDuplexCallServer) error {
	h.entered <- struct{}{}
	<-st.Context().Done()
	st.Send(&testgrpc.StreamingOutputCallResponse{}) // fails: the call has ended
	return nil
}

// WithLateSendCheck reports uses of a handler's stream after the handler
// returned, not a Send of a handler still running whose call has ended.
func TestLateSendCheckIgnoresASendOfARunningHandler(t *testing.T) {
	h := &lateAfterCancel{entered: make(chan struct{}, 1)}
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(h), grpctest.WithLateSendCheck(), grpctest.WithCloseTimeout(100*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := client(srv).FullDuplexCall(ctx); err != nil {
		t.Fatal(err)
	}
	<-h.entered
	cancel()
	spy.End()
	spy.WantClean(t)
}

// halfClosedWaiter's StreamingInputCall reads the requests to their end,
// says so on eof, and then waits for its call to end.
type halfClosedWaiter struct {
	testgrpc.UnimplementedTestServiceServer
	eof chan struct{}
}

func (h *halfClosedWaiter) StreamingInputCall(st testgrpc.TestService_StreamingInputCallServer) error {
	for {
		if _, err := st.Recv(); err != nil {
			break
		}
	}
	close(h.eof)
	<-st.Context().Done()
	return st.Context().Err()
}

// A client-streaming stream left unfinished after its client half-closed
// it is reported without the note that the client never half-closed it.
func TestUnfinishedHalfClosedStreamHasNoHalfCloseNote(t *testing.T) {
	h := &halfClosedWaiter{eof: make(chan struct{})}
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(h), grpctest.WithCloseTimeout(100*time.Millisecond))
	stream, err := client(srv).StreamingInputCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	<-h.eof
	spy.End()
	r := spy.Want(t, 1, "client stream /grpc.testing.TestService/StreamingInputCall opened at", "was never finished")
	if strings.Contains(r.Msg, "never half-closed") {
		t.Errorf("the report says the client never half-closed a stream it half-closed:\n%s", r.Msg)
	}
}

// An event that matches several steps of AssertNever counts, and is
// listed, once.
func TestAssertNeverCountsAnEventMatchingTwoStepsOnce(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	if _, err := client(srv).EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv.Recorder(), func(e recorder.Event) bool { return e.Side == recorder.Server && e.Kind == recorder.End })
	if grpctest.AssertNever(spy, srv.Recorder(), grpctest.Ends(codes.OK), grpctest.ClientEnds(codes.OK)) {
		t.Error("AssertNever passed on calls that ended OK")
	}
	r := spy.Want(t, 1, "grpctest: never: 2 of the")
	if n := strings.Count(r.Msg, "(client end "+emptyCallName+") matches"); n != 1 {
		t.Errorf("the client end is listed %d times, want once:\n%s", n, r.Msg)
	}
}

// A *dynamicpb.Message of no type is named wherever it is in got, first
// place included.
func TestAssertMessagesNamesAnUntypedFirstGot(t *testing.T) {
	spy := spytb.New(t)
	if grpctest.AssertMessages(spy, []any{&testgrpc.Empty{}}, []any{new(dynamicpb.Message)}) {
		t.Error("AssertMessages passed on a message of no type")
	}
	spy.Want(t, 1, "cannot compare the messages: got[0] is a *dynamicpb.Message with no message type")
}
