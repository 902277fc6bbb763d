package recorder_test

// Tests that pin checks a mutation audit found unpinned: each fails when
// the check it names is broken.

import (
	"errors"
	"testing"

	"google.golang.org/grpc"

	"github.com/streamtest/streamtest/recorder"
)

func countKind(evs []recorder.Event, k recorder.Kind) int {
	n := 0
	for _, e := range evs {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// Only the first EndServerStream of a stream counts.
func TestEndServerStreamTwiceRecordsOneEnd(t *testing.T) {
	rec := recorder.New()
	w := rec.WrapServerStream(nilCtxServer{}, &grpc.StreamServerInfo{FullMethod: "/a.B/C"})
	rec.EndServerStream(w, nil)
	rec.EndServerStream(w, errors.New("second"))
	if n := countKind(rec.Events(), recorder.End); n != 1 {
		t.Errorf("%d End events, want 1:\n%s", n, rec)
	}
}

// EndServerStream ignores a stream another recorder wrapped.
func TestEndServerStreamOfAnotherRecorder(t *testing.T) {
	a, b := recorder.New(), recorder.New()
	w := b.WrapServerStream(nilCtxServer{}, &grpc.StreamServerInfo{FullMethod: "/a.B/C"})
	a.EndServerStream(w, nil)
	if n := countKind(b.Events(), recorder.End); n != 0 {
		t.Errorf("another recorder's EndServerStream ended b's stream:\n%s", b)
	}
	if n := len(a.Events()); n != 0 {
		t.Errorf("a recorded %d events for a stream it did not wrap", n)
	}
}
