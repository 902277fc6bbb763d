package fakes_test

import (
	"testing"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"
)

// As with a real stream made through the recorder's interceptor, the
// recorder's CallID of a recorded ClientStream's context names its call, so
// InCall (whose doc says to get the id so) tells two fake streams apart.
func TestClientStreamContextNamesItsRecordedCall(t *testing.T) {
	rec := recorder.New()
	a := fakes.NewClientStream[dupReq, dupRes](t.Context(), fakes.WithRecorder(rec))
	b := fakes.NewClientStream[dupReq, dupRes](t.Context(), fakes.WithRecorder(rec))
	if err := a.Send(req(1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(req(2)); err != nil {
		t.Fatal(err)
	}
	idA, okA := rec.CallID(a.Context())
	idB, okB := rec.CallID(b.Context())
	if !okA || !okB || idA == idB {
		t.Fatalf("CallID of the two streams' contexts: %d, %v and %d, %v; want two ids", idA, okA, idB, okB)
	}
	for _, c := range rec.Calls() {
		want := map[uint64]bool{idA: true, idB: true}
		if !want[c.ID()] {
			t.Errorf("recorded call %d is neither stream's (%d, %d)\n%s", c.ID(), idA, idB, rec)
		}
	}
	if begin := rec.Calls()[0].Events()[0]; len(begin.MD[recorder.CallIDHeader]) > 0 {
		t.Errorf("Begin records the tag: %v", begin.MD)
	}

	grpctest.AssertOrder(t, rec, grpctest.InCall(idA, grpctest.ClientSends(req(1))))
	spy := spytb.New(t)
	grpctest.AssertOrder(spy, rec, grpctest.InCall(idA, grpctest.ClientSends(req(2))))
	spy.Want(t, 1, "InCall(")
}

// A context the test tagged itself (Recorder.TagContext, the way before
// the stream tagged its own) keeps its call id: the stream records under
// it, and its Context names the same call.
func TestClientStreamKeepsATagOfTheTests(t *testing.T) {
	rec := recorder.New()
	ctx := rec.TagContext(t.Context(), fakes.DefaultClientMethod)
	id, ok := rec.CallID(ctx)
	if !ok {
		t.Fatal("TagContext's context has no call id")
	}
	s := fakes.NewClientStream[dupReq, dupRes](ctx, fakes.WithRecorder(rec))
	if err := s.Send(req(1)); err != nil {
		t.Fatal(err)
	}
	if got, ok := rec.CallID(s.Context()); !ok || got != id {
		t.Errorf("CallID(stream.Context()) = %d, %v; want %d, the tagged context's", got, ok, id)
	}
	if calls := rec.Calls(); len(calls) != 1 || calls[0].ID() != id {
		t.Errorf("recorded calls %v; want one, id %d\n%s", calls, id, rec)
	}
}
