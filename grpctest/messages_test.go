package grpctest_test

import (
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"testing"

	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/grpc/interop"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/streamtest/streamtest/grpctest"
)

func TestAssertMessagesPassesOnEqualProtos(t *testing.T) {
	spy := newSpy(t)
	srv := grpctest.NewServer(spy, interopService)
	interop.DoClientStreaming(t.Context(), client(srv))
	got := srv.Recorder().Calls()[0].Requests()
	want := []any{
		&testgrpc.StreamingInputCallRequest{Payload: payload(27182)},
		&testgrpc.StreamingInputCallRequest{Payload: payload(8)},
		&testgrpc.StreamingInputCallRequest{Payload: payload(1828)},
		&testgrpc.StreamingInputCallRequest{Payload: payload(45904)},
	}
	if !grpctest.AssertMessages(spy, want, got) {
		t.Errorf("AssertMessages returned false")
	}
	if spy.run(func() { grpctest.RequireMessages(spy, want, got) }) {
		t.Errorf("RequireMessages called FailNow on equal messages")
	}
	spy.end()
	spy.wantClean(t)
}

func TestAssertMessagesReportsDiffAndTimeline(t *testing.T) {
	spy := newSpy(t)
	srv := grpctest.NewServer(spy, interopService)
	interop.DoLargeUnaryCall(t.Context(), client(srv))
	got := srv.Recorder().Calls()[0].Responses()
	want := []any{&testgrpc.SimpleResponse{Payload: &testgrpc.Payload{Body: []byte("short")}}}
	if grpctest.AssertMessages(spy, want, got) {
		t.Errorf("AssertMessages returned true on different messages")
	}
	spy.wantError(t, 1, "messages differ: mismatch (-want +got):", "-", "+", "recorded timeline:", unaryCall)
}

func TestRequireMessagesFailsNow(t *testing.T) {
	spy := newSpy(t)
	if !spy.run(func() { grpctest.RequireMessages(spy, []any{&testgrpc.Empty{}}, nil) }) {
		t.Errorf("RequireMessages did not call FailNow")
	}
	spy.wantError(t, 1, "mismatch (-want +got):")
}

func TestAssertMessagesWithOptions(t *testing.T) {
	spy := newSpy(t)
	want := []any{&testgrpc.SimpleRequest{ResponseSize: 10, Payload: payload(1)}}
	got := []any{&testgrpc.SimpleRequest{ResponseSize: 20, Payload: payload(1)}}
	if grpctest.AssertMessages(spy, want, got) {
		t.Errorf("AssertMessages ignored a differing field")
	}
	spy.wantError(t, 1, "mismatch (-want +got):", "response_size")

	spy = newSpy(t)
	if !grpctest.AssertMessagesWith(spy, want, got, protocmp.IgnoreFields(&testgrpc.SimpleRequest{}, "response_size")) {
		t.Errorf("AssertMessagesWith did not apply its options")
	}
	if spy.run(func() {
		grpctest.RequireMessagesWith(spy, []any{[]int{}}, []any{[]int(nil)}, cmpopts.EquateEmpty())
	}) {
		t.Errorf("RequireMessagesWith called FailNow")
	}
	spy.wantClean(t)
}

// Values cmp cannot compare are a clear failure, not a panic.
func TestAssertMessagesCannotCompare(t *testing.T) {
	type opaque struct{ hidden int }
	spy := newSpy(t)
	if grpctest.AssertMessages(spy, []any{opaque{1}}, []any{opaque{1}}) {
		t.Errorf("AssertMessages returned true")
	}
	spy.wantError(t, 1, "cannot compare the messages", "unexported", "AssertMessagesWith")
}
