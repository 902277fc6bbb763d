package grpctest_test

// Tests that pin checks a mutation audit found unpinned: each fails when
// the check it names is broken.

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"
)

// The nearest miss is the event whose diff is shortest.
func TestAssertOrderNearestMissIsTheClosestEvent(t *testing.T) {
	spy := spytb.New(t)
	srv, reqs, _ := pingPong(t, spy)
	wrong := proto.Clone(reqs[1].(proto.Message)).(*testgrpc.StreamingOutputCallRequest)
	wrong.ResponseParameters[0].Size = 7
	var seq uint64
	for _, e := range srv.Recorder().Events() {
		if e.Side == recorder.Client && e.Kind == recorder.Send && proto.Equal(e.Msg.(proto.Message), reqs[1].(proto.Message)) {
			seq = e.Seq
		}
	}
	grpctest.AssertOrder(spy, srv.Recorder(), grpctest.ClientSends(reqs[0]), grpctest.ClientSends(wrong))
	spy.Want(t, 1, fmt.Sprintf("nearest event of that kind, event %d ", seq))
}

// In a pair's diff, want's side is "-" and got's is "+".
func TestAssertMessagesPairDiffSigns(t *testing.T) {
	p := func(s string) any { return &testgrpc.Payload{Body: []byte(s)} }
	spy := spytb.New(t)
	grpctest.AssertMessages(spy, []any{p("x"), p("want-body")}, []any{p("x"), p("got-body")})
	r := spy.Want(t, 1, "want[1] and got[1]: mismatch (-want +got):")
	if !regexp.MustCompile(`(?m)^-.*want-body`).MatchString(r.Msg) || !regexp.MustCompile(`(?m)^\+.*got-body`).MatchString(r.Msg) {
		t.Errorf("want is not on the - side and got on the + side:\n%s", r.Msg)
	}
}

// A message that moved one way is named as want[i] is got[j], with i
// want's index (lists too long to align).
func TestAssertMessagesMovedNamesTheRightIndices(t *testing.T) {
	var want, got []any
	want = append(want, "a")
	got = append(got, "c")
	for i := range 21 {
		want = append(want, fmt.Sprint(i))
		got = append(got, fmt.Sprint(i))
	}
	want = append(want, "b")
	got = append(got, "a")
	spy := spytb.New(t)
	grpctest.AssertMessages(spy, want, got)
	r := spy.Want(t, 1, "in another order: want[0] is got[22]\n")
	if strings.Contains(r.Msg, "want[22] is got[0]") {
		t.Errorf("names a move that did not happen:\n%s", r.Msg)
	}
}

// closingHandler closes its own harness from inside its handler.
type closingHandler struct {
	testgrpc.UnimplementedTestServiceServer
	srv **grpctest.Server
}

func (h closingHandler) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	(*h.srv).Close()
	return &testgrpc.SimpleResponse{}, nil
}

// Close inside one of the harness's handlers is reported, and does nothing.
func TestCloseFromInsideAHandlerIsReported(t *testing.T) {
	spy := spytb.New(t)
	var srv *grpctest.Server
	srv = grpctest.NewServer(spy, service(closingHandler{srv: &srv}), grpctest.WithCloseTimeout(100*time.Millisecond))
	if _, err := client(srv).UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Errorf("the call failed: %v (Close inside the handler must do nothing)", err)
	}
	spy.End()
	spy.Want(t, 1, "Server.Close called from inside the handler of "+unaryCall, "would wait for itself")
}

// A stuck handler's own stack comes under its labelled heading.
func TestStuckHandlerStackHasItsOwnHeading(t *testing.T) {
	h := newStuckHandler(t)
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(h), grpctest.WithCloseTimeout(100*time.Millisecond))
	if _, err := client(srv).FullDuplexCall(spy.Context()); err != nil {
		t.Fatal(err)
	}
	<-h.entered
	spy.End()
	r := spy.Want(t, 1, "where 1 handler goroutine(s) are blocked:", "(*stuckHandler).FullDuplexCall")
	if strings.Contains(r.Msg, "in a call to another harness") {
		t.Errorf("a handler blocked in its own code is said to be in a call to another harness:\n%s", r.Msg)
	}
}

// A stream opened with the outgoing metadata of another, recorded,
// call (its call-id header copied) is not matched to that call's server End.
func TestUnfinishedStreamNotMatchedToACopiedCallsEnd(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService,
		grpctest.WithRecorder(recorder.New(recorder.WithMethods(fullDuplex))), grpctest.WithCloseTimeout(time.Second))
	a, err := client(srv).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	md, _ := metadata.FromOutgoingContext(a.Context())
	if err := a.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Recv(); err != io.EOF {
		t.Fatalf("Recv: %v, want io.EOF", err)
	}
	waitFor(t, srv.Recorder(), func(e recorder.Event) bool { return e.Side == recorder.Server && e.Kind == recorder.End })
	if _, err := client(srv).StreamingInputCall(metadata.NewOutgoingContext(t.Context(), md)); err != nil {
		t.Fatal(err)
	}
	spy.End()
	r := spy.Want(t, 1, "client stream "+streamingIn, "was never finished")
	if strings.Contains(r.Msg, "the server ended it") {
		t.Errorf("the report takes another call's server End for the stream's:\n%s", r.Msg)
	}
}

// A call that panicked before AssertBlocked's d is reported, with its
// stack, by AssertBlocked itself (not later by the cleanup).
func TestAssertBlockedReportsThePanicAtOnce(t *testing.T) {
	spy := spytb.New(t)
	p := grpctest.GoErr(spy, func() error { panic("boom") })
	<-p.Done()
	if p.AssertBlocked(time.Minute) {
		t.Fatal("AssertBlocked = true for a call that panicked")
	}
	if n := len(spy.Reports()); n != 2 {
		t.Errorf("%d reports before the test's end, want 2 (returned early; panicked with its stack):\n%s", n, spy.Text())
	}
	spy.End()
}
