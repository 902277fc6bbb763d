package shown

import "testing"

func TestWatchSeesMark(t *testing.T) {
	type rec struct{ int }
	a, b := &rec{1}, &rec{2}
	Mark(a) // not watched: nothing to note, nothing kept
	if len(watched) != 0 {
		t.Fatalf("Mark of a key not watched kept %d entries", len(watched))
	}
	doneA := Watch(a)
	doneB := Watch(b)
	Mark(a)
	if !doneA() {
		t.Errorf("Mark during the watch was not seen")
	}
	if doneB() {
		t.Errorf("Mark of another key was seen")
	}
	if len(watched) != 0 {
		t.Errorf("%d entries left after the watches ended", len(watched))
	}
	// A watch after the first sees only its own marks.
	if Watch(a)() {
		t.Errorf("a new watch saw an earlier Mark")
	}
}
