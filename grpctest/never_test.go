package grpctest_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"
)

// AssertNever passes when nothing matches, and lists what matched when
// something did: here a handler that fails its calls.
func TestAssertNever(t *testing.T) {
	spy := spytb.New(t)
	good := grpctest.NewServer(spy, interopService)
	if _, err := client(good).EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, good.Recorder(), func(e recorder.Event) bool { return e.Side == recorder.Server && e.Kind == recorder.End })
	if !grpctest.AssertNever(spy, good.Recorder(), grpctest.Ends(codes.Internal), grpctest.Ends(codes.NotFound)) {
		t.Errorf("AssertNever failed on calls that all ended OK:\n%s", spy.Text())
	}
	spy.WantClean(t)

	bad := grpctest.NewServer(spy, service(failingHandler{}))
	stream, err := client(bad).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.NotFound {
		t.Fatalf("Recv: %v, want NotFound", err)
	}
	waitFor(t, bad.Recorder(), func(e recorder.Event) bool { return e.Side == recorder.Server && e.Kind == recorder.End })
	if grpctest.AssertNever(spy, bad.Recorder(), grpctest.Ends(codes.Internal), grpctest.Ends(codes.NotFound)) {
		t.Errorf("AssertNever passed on calls that ended NotFound")
	}
	r := spy.Want(t, 1, "grpctest: never: 2 of the", "match Ends(Internal) or Ends(NotFound), which must not happen",
		"(client end "+fullDuplex+") matches Ends(NotFound)", "(server end "+fullDuplex+") matches Ends(NotFound)", "recorded timeline:")
	if strings.Contains(r.Msg, "EmptyCall") {
		t.Errorf("the report shows another harness's recorder:\n%s", r.Msg)
	}
	spy.End()
}

func TestRequireNeverStopsTheTest(t *testing.T) {
	rec := recorder.New()
	cs := rec.WrapClientStream(nopClientStream{}, nil, fullDuplex)
	if err := cs.SendMsg(&testgrpc.StreamingOutputCallRequest{}); err != nil {
		t.Fatal(err)
	}
	spy := spytb.New(t)
	out := spy.Run(func() { grpctest.RequireNever(spy, rec, grpctest.ClientCloses()) })
	if out.FailedNow {
		t.Errorf("RequireNever stopped the test with no CloseSend recorded:\n%s", spy.Text())
	}
	out = spy.Run(func() { grpctest.RequireNever(spy, rec, grpctest.ClientSends(nil)) })
	if !out.FailedNow {
		t.Errorf("RequireNever did not stop the test on a recorded Send")
	}
	spy.Want(t, 1, "event 2 (client send "+fullDuplex+") matches ClientSends(any message)")
}

// A recorder that dropped events cannot show that none matched.
func TestAssertNeverWithDroppedEvents(t *testing.T) {
	rec := recorder.New(recorder.WithLimit(2))
	cs := rec.WrapClientStream(nopClientStream{}, nil, fullDuplex)
	for range 2 {
		if err := cs.SendMsg(&testgrpc.StreamingOutputCallRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	spy := spytb.New(t)
	if grpctest.AssertNever(spy, rec, grpctest.ClientCloses()) {
		t.Errorf("AssertNever passed with an event dropped")
	}
	spy.Want(t, 1, "1 earlier events were dropped by WithLimit, so AssertNever cannot tell whether one matched ClientCloses()")
}

func TestAssertNeverMisuse(t *testing.T) {
	rec := recorder.New()
	for _, tc := range []struct {
		name  string
		rec   *recorder.Recorder
		steps []grpctest.Step
		want  string
	}{
		{"nil recorder", nil, []grpctest.Step{grpctest.ClientCloses()}, "the recorder is nil"},
		{"no steps", rec, nil, "no steps given"},
		{"nil step", rec, []grpctest.Step{grpctest.ClientCloses(), nil}, "step 2 is nil"},
		{"call id 0", rec, []grpctest.Step{grpctest.InCall(0, grpctest.ServerReceives(nil))}, "step 1, InCall(0, ServerReceives(any message)): call ids start at 1"},
		{"call id 0, nested", rec, []grpctest.Step{grpctest.ClientCloses(), grpctest.InCall(1, grpctest.InCall(0, grpctest.ClientCloses()))}, "step 2, InCall(1, InCall(0, ClientCloses())): call ids start at 1"},
	} {
		spy := spytb.New(t)
		if grpctest.AssertNever(spy, tc.rec, tc.steps...) {
			t.Errorf("%s: AssertNever passed", tc.name)
		}
		spy.Want(t, 1, "grpctest.AssertNever: "+tc.want)
	}
}

// Many matches: the report lists the first 20 and counts the rest, and
// the timeline is cut around those listed.
func TestAssertNeverCapsItsList(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	for range 30 {
		if _, err := client(srv).EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Recorder().Wait(t.Context(), func(evs []recorder.Event) bool {
		n := 0
		for _, e := range evs {
			if e.Side == recorder.Server && e.Kind == recorder.End {
				n++
			}
		}
		return n == 30
	}); err != nil {
		t.Fatal(err)
	}
	grpctest.AssertNever(spy, srv.Recorder(), grpctest.Ends(codes.OK))
	r := spy.Want(t, 1, "grpctest: never: 60 of the", "  … and 40 more (the timeline below is cut around the first 20)\n")
	if n := strings.Count(r.Msg, ") matches Ends(OK)"); n != 20 {
		t.Errorf("%d matches listed, want 20:\n%s", n, r.Msg)
	}
	if n := strings.Count(r.Msg, "\n"); n > 200 { // 20 matches, their context, the timeline's first 20 and last 40
		t.Errorf("a report of %d lines for 30 calls:\n%s", n, r.Msg)
	}
	spy.End()
}
