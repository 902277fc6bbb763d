package grpctest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
)

// manyCalls makes n empty unary calls: 8 events each, enough for Close's
// timeline to be cut.
func manyCalls(t *testing.T, srv *grpctest.Server, n int) {
	t.Helper()
	for range n {
		if _, err := client(srv).EmptyCall(context.Background(), &testgrpc.Empty{}); err != nil {
			t.Fatal(err)
		}
	}
}

// timelineLine reports whether report holds the timeline line of event
// kind of call id on side: "  call 41   client  begin ".
func timelineLine(report string, id uint64, side, kind string) bool {
	return strings.Contains(report, fmt.Sprintf("call %-4d %-6s  %s ", id, side, kind))
}

// A stream left open among many calls: the report names its call, and the
// cut timeline keeps the call's beginning, which it used to leave out
// with everything between the first and the last events.
func TestCloseReportNamesTheUnfinishedStreamsCall(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	manyCalls(t, srv, 40)
	stream, err := client(srv).FullDuplexCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	id, ok := srv.Recorder().CallID(stream.Context())
	if !ok {
		t.Fatal("the harness's recorder did not tag the stream's call")
	}
	if err := stream.Send(&testgrpc.StreamingOutputCallRequest{}); err != nil {
		t.Fatal(err)
	}
	manyCalls(t, srv, 40)
	spy.End()
	r := spy.Want(t, 1, "client stream "+fullDuplex, fmt.Sprintf("(1 open at Close: call %d in the timeline)", id), "events left out")
	for _, kind := range []string{"begin", "send"} {
		if !timelineLine(r.Msg, id, "client", kind) {
			t.Errorf("the report's timeline has no client %s of call %d:\n%s", kind, id, r.Msg)
		}
	}
}

// Streams left open at one line are named, five at most.
func TestCloseReportNamesFiveCallsAtMost(t *testing.T) {
	for _, n := range []int{2, 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			spy := spytb.New(t)
			srv := grpctest.NewServer(spy, interopService)
			var ids []string
			for range n {
				stream, err := client(srv).FullDuplexCall(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				id, _ := srv.Recorder().CallID(stream.Context())
				ids = append(ids, fmt.Sprint(id))
			}
			spy.End()
			want := fmt.Sprintf(": calls %s and %s in the timeline)", ids[0], ids[1])
			if n > 5 {
				want = fmt.Sprintf(": calls %s and %d more in the timeline)", strings.Join(ids[:5], ", "), n-5)
			}
			spy.Want(t, 1, "client stream "+fullDuplex, want)
		})
	}
}

// stuckAmongCalls answers EmptyCall; its FullDuplexCall never returns.
type stuckAmongCalls struct{ *stuckHandler }

func (stuckAmongCalls) EmptyCall(context.Context, *testgrpc.Empty) (*testgrpc.Empty, error) {
	return &testgrpc.Empty{}, nil
}

// A handler that never returns, among many calls: the report names its
// call, and the cut timeline keeps the call's beginning on both sides.
func TestCloseReportNamesTheStuckHandlersCall(t *testing.T) {
	h := stuckAmongCalls{newStuckHandler(t)}
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(h), grpctest.WithCloseTimeout(100*time.Millisecond))
	manyCalls(t, srv, 40)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := client(srv).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := srv.Recorder().CallID(stream.Context())
	<-h.entered
	manyCalls(t, srv, 40)
	cancel() // the client is done: only the handler is left
	spy.End()
	r := spy.Want(t, 1, "handler "+fullDuplex+" did not return after Stop", fmt.Sprintf("(1 still running: call %d in the timeline;", id), "events left out")
	for _, side := range []string{"client", "server"} {
		if !timelineLine(r.Msg, id, side, "begin") {
			t.Errorf("the report's timeline has no %s begin of call %d:\n%s", side, id, r.Msg)
		}
	}
}
