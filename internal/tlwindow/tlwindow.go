// Package tlwindow cuts a long recorded timeline down for a failure
// report: a report that prints ten thousand events hides the few that
// matter. It keeps the first and last events, and those around the events
// the report is about, and says what it left out.
package tlwindow

import (
	"fmt"
	"strconv"
	"strings"
)

// Sizes of what Cut keeps.
const (
	// Max is the most event lines a timeline may have to be shown whole.
	Max = 200
	// Head and Tail are how many of the first and last events are kept.
	Head, Tail = 20, 40
	// Before and After are how many events are kept before and after
	// each event in focus.
	Before, After = 20, 40
)

// Cut returns timeline, as recorder.Timeline or Recorder.String render it
// (one line per event, beginning with its Seq, and notes in parentheses),
// whole if it has at most Max events; else with only the first Head
// events, the last Tail, and Before and After around each event whose Seq
// is in focus, each run of events left out replaced by a line that says
// how many and which. Notes are kept.
func Cut(timeline string, focus ...uint64) string {
	lines := strings.SplitAfter(timeline, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	var events []int // indexes in lines of the event lines
	seqs := make(map[uint64]int)
	for i, l := range lines {
		if seq, ok := seqOf(l); ok {
			seqs[seq] = len(events)
			events = append(events, i)
		}
	}
	n := len(events)
	if n <= Max {
		return timeline
	}
	keep := make([]bool, n)
	mark := func(from, to int) {
		for k := max(from, 0); k < min(to, n); k++ {
			keep[k] = true
		}
	}
	mark(0, Head)
	mark(n-Tail, n)
	for _, s := range focus {
		if k, ok := seqs[s]; ok {
			mark(k-Before, k+After+1)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  (%d events: the first %d, the last %d and those around the events in question are shown; Recorder.String() has them all)\n", n, Head, Tail)
	k := 0 // index in events of the next event line
	for i, l := range lines {
		if k >= n || events[k] != i {
			b.WriteString(l) // a note
			continue
		}
		switch {
		case keep[k]:
			b.WriteString(l)
		case k == 0 || keep[k-1]: // the first of a run left out
			last := k
			for last+1 < n && !keep[last+1] {
				last++
			}
			s0, _ := seqOf(l)
			s1, _ := seqOf(lines[events[last]])
			fmt.Fprintf(&b, "  … %d events left out (%d to %d) …\n", last-k+1, s0, s1)
		}
		k++
	}
	return b.String()
}

// seqOf returns the Seq an event line begins with.
func seqOf(line string) (uint64, bool) {
	f, _, _ := strings.Cut(strings.TrimLeft(line, " "), " ")
	seq, err := strconv.ParseUint(f, 10, 64)
	return seq, err == nil
}
