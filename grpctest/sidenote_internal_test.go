package grpctest

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/recorder"
)

// The note that a side was not recorded, and the one that no End of a side
// was recorded, are left out when the recorder dropped events (WithLimit):
// the side's events may have been among them.
func TestSideNoteIsLeftOutWhenEventsWereDropped(t *testing.T) {
	const m = "/s.S/M"
	events := []recorder.Event{
		{Seq: 7, CallID: 1, Side: recorder.Server, Kind: recorder.Recv, Method: m},
		{Seq: 8, CallID: 1, Side: recorder.Server, Kind: recorder.End, Method: m, Err: status.Error(codes.OK, "")},
	}
	steps := []Step{ClientCloses()}
	for _, tc := range []struct {
		dropped  uint64
		wantNote bool
	}{{0, true}, {6, false}} {
		msg := orderFailure(recorder.New(), events, tc.dropped, 0, steps, nil, 0)
		if got := strings.Contains(msg, "no event of the client side was recorded"); got != tc.wantNote {
			t.Errorf("dropped %d: the side note shown: %v, want %v:\n%s", tc.dropped, got, tc.wantNote, msg)
		}
		msg = orderFailure(recorder.New(), events, tc.dropped, 0, []Step{ClientEnds(codes.OK)}, nil, 0)
		none := strings.Contains(msg, "no client End event was recorded")
		kept := strings.Contains(msg, "no client End event among the 2 events kept: it may have been among the 6 the ring dropped")
		if none != tc.wantNote || kept == tc.wantNote {
			t.Errorf("dropped %d: ClientEnds's note says none was recorded: %v, and that the ring may have dropped it: %v:\n%s", tc.dropped, none, kept, msg)
		}
	}
}
