package grpctest_test

// Tests that pin checks of grpctest a second mutation run found unpinned:
// each fails when the check it names is broken.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"
)

// AssertBlocked on a call that has returned fails, even when its timer
// has fired by the time it looks (a tiny d): the call's return wins the
// tie.
func TestAssertBlockedOnReturnedCallFailsWhenTheTimerHasFired(t *testing.T) {
	for i := 0; i < 100; i++ {
		spy := spytb.New(t)
		p := grpctest.GoErr(spy, func() error { return nil })
		<-p.Done()
		if p.AssertBlocked(time.Nanosecond) {
			t.Fatalf("try %d: AssertBlocked(1ns) passed on a call that had returned", i)
		}
		spy.Want(t, 1, "returned within")
	}
}

// A failed Recv carries no message: AssertOrder does not say it "holds
// such a message, but failed" for a step that takes any message.
func TestAssertOrderDoesNotCallAFailedRecvWithoutAMessageSuch(t *testing.T) {
	rec := recorder.New()
	cs := fakes.NewClientStream[testgrpc.StreamingOutputCallRequest, testgrpc.StreamingOutputCallResponse](
		t.Context(), fakes.WithRecorder(rec), fakes.WithMethod("grpc.testing.TestService/FullDuplexCall"))
	cs.Finish(status.Error(codes.Unavailable, "down"))
	if _, err := cs.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("Recv: %v, want Unavailable", err)
	}
	spy := spytb.New(t)
	if grpctest.AssertOrder(spy, rec, grpctest.ClientReceives(nil)) {
		t.Fatal("AssertOrder matched a Recv that failed")
	}
	if r := spy.Want(t, 1, "step 1 of 1, ClientReceives("); strings.Contains(r.Msg, "but failed") {
		t.Errorf("the report says a failed Recv with no message holds one:\n%s", r.Msg)
	}
}

// On a recorder that recorded nothing, AssertOrder does not say that one
// side was recorded and the other not.
func TestAssertOrderOnNothingRecordedHasNoSideNote(t *testing.T) {
	spy := spytb.New(t)
	if grpctest.AssertOrder(spy, recorder.New(), grpctest.ClientSends(nil)) {
		t.Fatal("AssertOrder matched on an empty recorder")
	}
	if r := spy.Want(t, 1, "step 1 of 1, ClientSends("); strings.Contains(r.Msg, "was recorded, only") {
		t.Errorf("the report has the note about a side not recorded, on a recorder that holds nothing:\n%s", r.Msg)
	}
}

// Of two events as near as each other to a step's message, the report
// names the first as the nearest.
func TestAssertOrderNamesTheFirstOfEquallyNearMisses(t *testing.T) {
	rec := recorder.New()
	cs := fakes.NewClientStream[testgrpc.StreamingOutputCallRequest, testgrpc.StreamingOutputCallResponse](
		t.Context(), fakes.WithRecorder(rec), fakes.WithMethod("grpc.testing.TestService/FullDuplexCall"))
	defer cs.Finish(nil)
	req := func(body string) *testgrpc.StreamingOutputCallRequest {
		return &testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: []byte(body)}}
	}
	sends := sendAll(t, rec, cs, req("b"), req("c"))
	spy := spytb.New(t)
	if grpctest.AssertOrder(spy, rec, grpctest.ClientSends(req("a"))) {
		t.Fatal("AssertOrder matched a request never sent")
	}
	r := spy.Want(t, 1, "step 1 of 1, ClientSends(")
	if len(sends) != 2 || !strings.Contains(r.Msg, "nearest event of that kind, event "+fmt.Sprint(sends[0])+" ") {
		t.Errorf("want the first Send (of events %v) named as the nearest:\n%s", sends, r.Msg)
	}
}

// On a recorder that recorded nothing, a step of one call has no note that
// nothing of that call was recorded: nothing of any call was.
func TestAssertOrderInCallOnNothingRecordedHasNoCallNote(t *testing.T) {
	spy := spytb.New(t)
	if grpctest.AssertOrder(spy, recorder.New(), grpctest.InCall(5, grpctest.ClientSends(nil))) {
		t.Fatal("AssertOrder matched on an empty recorder")
	}
	if r := spy.Want(t, 1, "step 1 of 1"); strings.Contains(r.Msg, "no event of call 5") {
		t.Errorf("the report notes that call 5 has no event, on a recorder that holds none:\n%s", r.Msg)
	}
}

// A run of equal messages one longer than the context kept around a
// difference is shown whole: a line "… 1 equal message" would say no less
// than the message itself.
func TestAssertMessagesShowsARunOfOneOverTheContextWhole(t *testing.T) {
	req := func(n int32) any { return &testgrpc.SimpleRequest{ResponseSize: n} }
	spy := spytb.New(t)
	if grpctest.AssertMessages(spy, []any{req(0), req(1), req(2), req(3)}, []any{req(0), req(1), req(2)}) {
		t.Fatal("AssertMessages passed on a lost message")
	}
	r := spy.Want(t, 1, "- want[3]")
	if strings.Contains(r.Msg, "equal message") || !strings.Contains(r.Msg, "want[0] = got[0]") {
		t.Errorf("want the three equal messages before the lost one shown, none elided:\n%s", r.Msg)
	}
}

// Nearness counts the lines a diff adds as well as those it removes: a
// message with two fields too many is farther than one with one field too
// few.
func TestAssertOrderNearestCountsAddedLines(t *testing.T) {
	rec := recorder.New()
	cs := fakes.NewClientStream[testgrpc.SimpleRequest, testgrpc.SimpleResponse](t.Context(), fakes.WithRecorder(rec))
	defer cs.Finish(nil)
	sends := sendAll(t, rec, cs, &testgrpc.SimpleRequest{ResponseSize: 1, FillUsername: true, FillOauthScope: true}, &testgrpc.SimpleRequest{})
	spy := spytb.New(t)
	if grpctest.AssertOrder(spy, rec, grpctest.ClientSends(&testgrpc.SimpleRequest{ResponseSize: 1})) {
		t.Fatal("AssertOrder matched a request never sent")
	}
	r := spy.Want(t, 1, "step 1 of 1, ClientSends(")
	if len(sends) != 2 || !strings.Contains(r.Msg, "nearest event of that kind, event "+fmt.Sprint(sends[1])+" ") {
		t.Errorf("want the second Send (of events %v), one field short, named as the nearest, not the first, two fields over:\n%s", sends, r.Msg)
	}
}

// sendAll sends msgs on cs, whose events rec records, and returns the Seqs
// of the Send events rec holds.
func sendAll[Req, Res any](t *testing.T, rec *recorder.Recorder, cs *fakes.ClientStream[Req, Res], msgs ...*Req) []uint64 {
	t.Helper()
	for _, m := range msgs {
		if err := cs.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	var sends []uint64
	for _, e := range rec.Events() {
		if e.Kind == recorder.Send {
			sends = append(sends, e.Seq)
		}
	}
	return sends
}
