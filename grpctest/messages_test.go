package grpctest_test

import (
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"testing"

	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/grpc/interop"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
)

func TestAssertMessagesPassesOnEqualProtos(t *testing.T) {
	spy := spytb.New(t)
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
	if spy.Run(func() { grpctest.RequireMessages(spy, want, got) }).FailedNow {
		t.Errorf("RequireMessages called FailNow on equal messages")
	}
	spy.End()
	spy.WantClean(t)
}

func TestAssertMessagesReportsDiffAndTimeline(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	interop.DoLargeUnaryCall(t.Context(), client(srv))
	got := srv.Recorder().Calls()[0].Responses()
	want := []any{&testgrpc.SimpleResponse{Payload: &testgrpc.Payload{Body: []byte("short")}}}
	if grpctest.AssertMessages(spy, want, got) {
		t.Errorf("AssertMessages returned true on different messages")
	}
	spy.Want(t, 1, "messages differ: mismatch (-want +got):", "-", "+", "recorded timeline:", unaryCall)
}

func TestRequireMessagesFailsNow(t *testing.T) {
	spy := spytb.New(t)
	if !spy.Run(func() { grpctest.RequireMessages(spy, []any{&testgrpc.Empty{}}, nil) }).FailedNow {
		t.Errorf("RequireMessages did not call FailNow")
	}
	spy.Want(t, 1, "mismatch (-want +got):")
}

func TestAssertMessagesWithOptions(t *testing.T) {
	spy := spytb.New(t)
	want := []any{&testgrpc.SimpleRequest{ResponseSize: 10, Payload: payload(1)}}
	got := []any{&testgrpc.SimpleRequest{ResponseSize: 20, Payload: payload(1)}}
	if grpctest.AssertMessages(spy, want, got) {
		t.Errorf("AssertMessages ignored a differing field")
	}
	spy.Want(t, 1, "mismatch (-want +got):", "response_size")

	spy = spytb.New(t)
	if !grpctest.AssertMessagesWith(spy, want, got, protocmp.IgnoreFields(&testgrpc.SimpleRequest{}, "response_size")) {
		t.Errorf("AssertMessagesWith did not apply its options")
	}
	if spy.Run(func() {
		grpctest.RequireMessagesWith(spy, []any{[]int{}}, []any{[]int(nil)}, cmpopts.EquateEmpty())
	}).FailedNow {
		t.Errorf("RequireMessagesWith called FailNow")
	}
	spy.WantClean(t)
}

// Values cmp cannot compare are a clear failure, not a panic.
func TestAssertMessagesCannotCompare(t *testing.T) {
	type opaque struct{ hidden int }
	spy := spytb.New(t)
	if grpctest.AssertMessages(spy, []any{opaque{1}}, []any{opaque{1}}) {
		t.Errorf("AssertMessages returned true")
	}
	spy.Want(t, 1, "cannot compare the messages", "unexported", "AssertMessagesWith")
}

// AssertMessages keeps a typed nil message (what a failed call returns)
// apart from an empty one, and says what the "@invalid" of its diff means.
func TestAssertMessagesTypedNilIsNotAnEmptyMessage(t *testing.T) {
	spy := spytb.New(t)
	if !grpctest.AssertMessages(spy, []any{(*testgrpc.Empty)(nil)}, []any{(*testgrpc.Empty)(nil)}) {
		t.Errorf("AssertMessages returned false on two nil messages")
	}
	spy.WantClean(t)
	if grpctest.AssertMessages(spy, []any{&testgrpc.Empty{}}, []any{(*testgrpc.Empty)(nil)}) {
		t.Errorf("AssertMessages took a nil message for an empty one")
	}
	spy.Want(t, 1, "mismatch (-want +got):", `"@invalid"`, "is a nil message, such as a failed call returns")
}
