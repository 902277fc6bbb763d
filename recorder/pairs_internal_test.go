package recorder

import "testing"

// Reset drops the pairs that streams dropped unfinished left behind (their
// server half never began to take them), and counts none out afterwards:
// a Reset with none out leaves the map alone (TestLargeMessagesReuseTheirBlocks
// checks that it allocates nothing).
func TestResetDropsThePairsLeftBehind(t *testing.T) {
	r := New()
	for id := range uint64(100) {
		r.storePair(id, new(pairState))
	}
	if _, ok := r.takePair(7); !ok {
		t.Fatal("takePair(7) found nothing")
	}
	if n := r.pairsOut.Load(); n != 99 {
		t.Errorf("%d pairs counted out, want 99", n)
	}
	r.Reset()
	if n := r.pairsOut.Load(); n != 0 {
		t.Errorf("%d pairs counted out after Reset, want 0", n)
	}
	left := 0
	r.pairs.Range(func(any, any) bool { left++; return true })
	if left != 0 {
		t.Errorf("%d pairs left after Reset", left)
	}
}
