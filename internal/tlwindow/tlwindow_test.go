package tlwindow_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/streamtest/streamtest/internal/tlwindow"
)

// timeline renders n event lines numbered from 1, after a note.
func timeline(n int) string {
	var b strings.Builder
	b.WriteString("  (3 earlier events dropped: WithLimit(5000) keeps the newest)\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%5d  call 1    client  send       /s/M  {n:%d}\n", i+3, i)
	}
	return b.String()
}

func TestShortTimelineIsWhole(t *testing.T) {
	tl := timeline(tlwindow.Max)
	if got := tlwindow.Cut(tl, 7); got != tl {
		t.Errorf("a timeline of %d events was cut:\n%s", tlwindow.Max, got)
	}
}

func TestLongTimelineKeepsHeadTailAndFocus(t *testing.T) {
	got := tlwindow.Cut(timeline(5000), 2503)
	lines := strings.Split(strings.TrimRight(got, "\n"), "\n")
	want := 2 + tlwindow.Head + tlwindow.Tail + tlwindow.Before + 1 + tlwindow.After + 2 // notes, events, two cuts
	if len(lines) != want {
		t.Errorf("%d lines, want %d:\n%s", len(lines), want, got)
	}
	for _, s := range []string{
		"(5000 events: the first 20, the last 40 and those around the events in question are shown",
		"(3 earlier events dropped", // the recorder's note is kept
		"    4  call 1", "   23  call 1",
		"  … 2459 events left out (24 to 2482) …",
		" 2483  call 1", " 2503  call 1", " 2543  call 1",
		"  … 2420 events left out (2544 to 4963) …",
		" 4964  call 1", " 5003  call 1",
	} {
		if !strings.Contains(got, s) {
			t.Errorf("the cut timeline lacks %q:\n%s", s, got)
		}
	}
	for _, s := range []string{"   24  call 1", " 2482  call 1", " 2544  call 1", " 4963  call 1"} {
		if strings.Contains(got, s) {
			t.Errorf("the cut timeline has %q, which it should leave out:\n%s", s, got)
		}
	}
}

// Windows that touch or overlap make one run; a focus near the start
// leaves no cut there.
func TestOverlappingWindowsMerge(t *testing.T) {
	got := tlwindow.Cut(timeline(1000), 30, 60, 5000)
	if n := strings.Count(got, "left out"); n != 1 {
		t.Errorf("%d cuts, want 1 (before the tail):\n%s", n, got)
	}
	if !strings.Contains(got, "863 events left out (101 to 963)") {
		t.Errorf("want events 4 to 100 kept (the head and both windows), then a cut to the tail:\n%s", got)
	}
}
