package recorder

import (
	"testing"
	"time"

	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"
)

// PendingSends counts the Sends whose SendMsg has not returned, for tests
// of pending Sends in package recorder_test.
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

// TestPendingSendCapture follows one Send through its two steps, in both
// storage modes: recorded at the call with a copy of the message, read
// while still pending, then finished when SendMsg returns. Changing the
// message in between (as an interceptor further in might) or after leaves
// the record as it was at the call. The same with a message that cannot
// be marshaled (invalid UTF-8), which is kept as a clone.
func TestPendingSendCapture(t *testing.T) {
	for _, c := range []struct {
		opts []Option
		bad  string
	}{{nil, ""}, {[]Option{WithLimit(4)}, ""}, {nil, "\xff"}, {[]Option{WithLimit(4)}, "\xff"}} {
		r := New(c.opts...)
		call := r.newCall("/m")
		msg := &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte("one")}}
		if c.bad != "" {
			msg.ResponseStatus = &testpb.EchoStatus{Message: c.bad}
		}
		i, seq := r.add(event{call: call, side: Client, kind: Send, at: r.now(), pending: true}.withMsg(msg, nil))

		check := func(when string) {
			t.Helper()
			ev := r.Events()
			if len(ev) != 1 {
				t.Fatalf("limit %d, %s: %d events, want 1", r.st.limit, when, len(ev))
			}
			got, ok := ev[0].Msg.(*testpb.StreamingOutputCallRequest)
			if !ok || string(got.GetPayload().GetBody()) != "one" {
				t.Errorf("limit %d, %s: Msg = %v, want body %q", r.st.limit, when, ev[0].Msg, "one")
			}
			if got == msg {
				t.Errorf("limit %d, %s: Events handed out the caller's message, not a copy", r.st.limit, when)
			}
			if got.GetResponseStatus().GetMessage() != c.bad {
				t.Errorf("limit %d, %s: response_status %q, want %q", r.st.limit, when, got.GetResponseStatus().GetMessage(), c.bad)
			}
		}
		if PendingSends(r) != 1 {
			t.Fatalf("the Send is not pending")
		}
		check("pending")
		msg.Payload.Body = []byte("changed during SendMsg")
		check("changed while pending")

		r.finish(call, Send, i, seq, time.Millisecond, nil)
		proto.Reset(msg) // the caller owns the message again
		if PendingSends(r) != 0 {
			t.Fatalf("the Send is still pending after finish")
		}
		check("finished")
	}
}

// TestSendOfNonProtoMessages: a value that is not a proto message (or a
// typed nil one) is stored as given, pending or not.
func TestSendOfNonProtoMessages(t *testing.T) {
	var typedNil *testpb.Payload
	for _, m := range []any{nil, "text", typedNil} {
		r := New()
		call := r.newCall("/m")
		i, seq := r.add(event{call: call, side: Client, kind: Send, at: r.now(), pending: true}.withMsg(m, nil))
		if got := r.Events()[0].Msg; got != m {
			t.Errorf("pending Send of %#v: Msg = %#v", m, got)
		}
		r.finish(call, Send, i, seq, 0, nil)
		if got := r.Events()[0].Msg; got != m {
			t.Errorf("finished Send of %#v: Msg = %#v", m, got)
		}
	}
}
