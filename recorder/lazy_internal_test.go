package recorder

import (
	"testing"
	"time"

	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"
)

// PendingSends counts the Sends whose SendMsg has not returned, for tests
// of the lazy capture in package recorder_test.
func PendingSends(r *Recorder) int {
	recs, done := r.snapshot()
	defer done()
	n := 0
	for _, rec := range recs {
		if rec.pending && Kind(rec.kind) == Send {
			n++
		}
	}
	return n
}

// TestLazySendCapture follows one Send through its two steps, in both
// storage modes: recorded at the call with a reference to the caller's
// message, read while still pending (captured from that reference), then
// captured for good when SendMsg returns, after which the caller may
// change the message.
func TestLazySendCapture(t *testing.T) {
	for _, opts := range [][]Option{nil, {WithLimit(4)}} {
		r := New(opts...)
		call := r.newCall("/m")
		msg := &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte("one")}}
		i, seq := r.addSend(event{call: call, side: Client, kind: Send, at: r.now(), pending: true}, msg)

		check := func(when string, want string) {
			t.Helper()
			ev := r.Events()
			if len(ev) != 1 {
				t.Fatalf("limit %d, %s: %d events, want 1", r.st.limit, when, len(ev))
			}
			got, ok := ev[0].Msg.(*testpb.StreamingOutputCallRequest)
			if !ok || string(got.GetPayload().GetBody()) != want {
				t.Errorf("limit %d, %s: Msg = %v, want body %q", r.st.limit, when, ev[0].Msg, want)
			}
			if got == msg {
				t.Errorf("limit %d, %s: Events handed out the caller's message, not a copy", r.st.limit, when)
			}
		}
		if PendingSends(r) != 1 {
			t.Fatalf("the Send is not pending")
		}
		check("pending", "one")

		r.finishSend(call, i, seq, time.Millisecond, nil, msg)
		msg.Payload.Body = []byte("two") // the caller owns the message again
		proto.Reset(msg)
		if PendingSends(r) != 0 {
			t.Fatalf("the Send is still pending after finishSend")
		}
		check("finished", "one")
	}
}

// TestLazySendOfNonProtoMessages: a value that is not a proto message (or
// a typed nil one) is stored as given, pending or not.
func TestLazySendOfNonProtoMessages(t *testing.T) {
	var typedNil *testpb.Payload
	for _, m := range []any{nil, "text", typedNil} {
		r := New()
		call := r.newCall("/m")
		i, seq := r.addSend(event{call: call, side: Client, kind: Send, at: r.now(), pending: true}, m)
		if got := r.Events()[0].Msg; got != m {
			t.Errorf("pending Send of %#v: Msg = %#v", m, got)
		}
		r.finishSend(call, i, seq, 0, nil, m)
		if got := r.Events()[0].Msg; got != m {
			t.Errorf("finished Send of %#v: Msg = %#v", m, got)
		}
	}
}
