package grpctest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/streamtest/streamtest/internal/tlwindow"
	"github.com/streamtest/streamtest/recorder"
)

// AssertNever reports whether no recorded event matches any of steps:
// what must not have happened, such as a call that ended with an internal
// error, a request the server must never have received, or any message on
// a call that should have been refused:
//
//	grpctest.AssertNever(t, srv.Recorder(), grpctest.Ends(codes.Internal), grpctest.Ends(codes.Unknown))
//	grpctest.AssertNever(t, srv.Recorder(), grpctest.InCall(id, grpctest.ServerReceives(nil)))
//
// Message steps match messages that were sent or received: a Send that
// failed (after the call ended, say) is not one, and a Step of your own
// matches it (see Step).
//
// The recorder holds what has happened so far: wait for the calls that
// could produce such an event to end (their Recv returned an error or
// io.EOF, or Recorder.Wait) before asserting that none did. On failure it
// lists the events that match (the first 20, and how many more), with the
// step each matches, and prints the timeline around them. A recorder that
// dropped events (recorder.WithLimit) cannot show that none matched: that
// is a failure too, which says so.
func AssertNever(t testing.TB, r *recorder.Recorder, steps ...Step) bool {
	checkTB(t, "AssertNever")
	t.Helper()
	return assertNever(t, r, steps)
}

// RequireNever is AssertNever followed by t.FailNow on failure.
func RequireNever(t testing.TB, r *recorder.Recorder, steps ...Step) {
	checkTB(t, "RequireNever")
	t.Helper()
	if !assertNever(t, r, steps) {
		t.FailNow()
	}
}

// maxNeverListed bounds the matching events AssertNever lists (and cuts
// the timeline around).
const maxNeverListed = 20

func assertNever(t testing.TB, r *recorder.Recorder, steps []Step) bool {
	t.Helper()
	if !checkSteps(t, "AssertNever", r, steps, "the events that must not happen, e.g. Ends(codes.Internal)") {
		return false
	}
	events := r.Events()
	var b strings.Builder
	n := 0
	var focus []uint64
	for _, e := range events {
		for _, st := range steps {
			if st.Match(e) {
				n++
				if n <= maxNeverListed {
					focus = append(focus, e.Seq)
					fmt.Fprintf(&b, "  event %d (%s) matches %s\n", e.Seq, describeEvent(e), st)
				}
				break
			}
		}
	}
	if n > maxNeverListed {
		fmt.Fprintf(&b, "  … and %d more (the timeline below is cut around the first %d)\n", n-maxNeverListed, maxNeverListed)
	}
	names := make([]string, len(steps))
	for i, st := range steps {
		names[i] = st.String()
	}
	if n > 0 {
		t.Errorf("grpctest: never: %d of the %d recorded events match %s, which must not happen:\n%srecorded timeline:\n%s",
			n, len(events), strings.Join(names, " or "), b.String(), strings.TrimRight(tlwindow.Cut(recorder.Timeline(events), focus...), "\n"))
		return false
	}
	if d := r.Dropped(); d > 0 {
		t.Errorf("grpctest: never: %d earlier events were dropped by WithLimit, so AssertNever cannot tell whether one matched %s; "+
			"raise the limit, or Reset the recorder just before the calls\nrecorded timeline (the newest %d):\n%s",
			d, strings.Join(names, " or "), len(events), strings.TrimRight(tlwindow.Cut(recorder.Timeline(events)), "\n"))
		return false
	}
	return true
}
