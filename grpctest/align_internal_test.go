package grpctest

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// editScript finds a shortest edit script: what it keeps of a and of b is
// the same, and as long as the longest common subsequence, on random
// lists of few distinct values (so with many ties), of every shape.
func TestEditScriptIsShortest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 3000 {
		a := make([]int, rng.IntN(14))
		b := make([]int, rng.IntN(14))
		vals := 1 + rng.IntN(4)
		for i := range a {
			a[i] = rng.IntN(vals)
		}
		for i := range b {
			b[i] = rng.IntN(vals)
		}
		del, ins, ok := editScript(a, b, len(a)+len(b))
		if !ok {
			t.Fatalf("round %d: editScript(%v, %v) gave up within %d edits", round, a, b, len(a)+len(b))
		}
		keptA, keptB := without(a, del), without(b, ins)
		if !slices.Equal(keptA, keptB) {
			t.Fatalf("round %d: a=%v b=%v: del %v ins %v keep %v and %v", round, a, b, del, ins, keptA, keptB)
		}
		if l := lcsLen(a, b); len(keptA) != l {
			t.Fatalf("round %d: a=%v b=%v: kept %d, the longest common subsequence has %d", round, a, b, len(keptA), l)
		}
	}
	// Beyond the bound it gives up.
	if _, _, ok := editScript([]int{1, 2, 3}, []int{4, 5, 6}, 5); ok {
		t.Errorf("editScript found 6 edits within a bound of 5")
	}
}

func without(s, idx []int) []int {
	var out []int
	for i, v := range s {
		if !slices.Contains(idx, i) {
			out = append(out, v)
		}
	}
	return out
}

func lcsLen(a, b []int) int {
	l := make([][]int, len(a)+1)
	for i := range l {
		l[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				l[i][j] = l[i+1][j+1] + 1
			} else {
				l[i][j] = max(l[i+1][j], l[i][j+1])
			}
		}
	}
	return l[0][0]
}

// repair keeps what the edit script kept and pairs up equal messages of
// the replaced runs: on random lists whose classes split equal messages
// (2k and 2k+1 are equal), what it keeps of each list is pairwise equal,
// in order, and at least as long as what the script kept.
func TestRepairPairsEqualsOfAnotherClass(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	eq := func(w, g any) bool { return w.(int)/2 == g.(int)/2 }
	for round := range 3000 {
		a := make([]int, rng.IntN(12))
		b := make([]int, rng.IntN(12))
		for i := range a {
			a[i] = rng.IntN(8)
		}
		for i := range b {
			b[i] = rng.IntN(8)
		}
		del, ins, _ := editScript(a, b, len(a)+len(b))
		as, bs := make([]any, len(a)), make([]any, len(b))
		for i, v := range a {
			as[i] = v
		}
		for i, v := range b {
			bs[i] = v
		}
		rdel, rins := repair(as, bs, del, ins, eq, 1000)
		keptA, keptB := without(a, rdel), without(b, rins)
		if len(keptA) != len(keptB) || len(keptA) < len(a)-len(del) {
			t.Fatalf("round %d: a=%v b=%v: script del %v ins %v, repaired del %v ins %v: keeps %v and %v", round, a, b, del, ins, rdel, rins, keptA, keptB)
		}
		for i := range keptA {
			if !eq(keptA[i], keptB[i]) {
				t.Fatalf("round %d: a=%v b=%v: repaired del %v ins %v keep %v and %v, not equal at %d", round, a, b, rdel, rins, keptA, keptB, i)
			}
		}
	}
}
