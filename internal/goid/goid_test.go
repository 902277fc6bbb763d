package goid_test

import (
	"testing"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/goid"
)

func TestMain(m *testing.M) { grpctest.VerifyTestMain(m) }

// Two goroutines have two numbers, each the same every time it is read.
func TestID(t *testing.T) {
	mine := goid.ID()
	if mine == 0 || goid.ID() != mine {
		t.Fatalf("ID() = %d, then %d: want the same non-zero number", mine, goid.ID())
	}
	other := make(chan uint64)
	go func() { other <- goid.ID() }()
	if o := <-other; o == 0 || o == mine {
		t.Errorf("another goroutine's ID() = %d, this one's %d: want two non-zero numbers", o, mine)
	}
}

func TestFromTraceback(t *testing.T) {
	for _, tc := range []struct {
		tb   string
		id   uint64
		isID bool
	}{
		{"goroutine 42 [running]:\nmain.main()", 42, true},
		{"goroutine 7 [chan receive, 2 minutes]:", 7, true},
		{"goroutine ? [running]:", 0, false},
		{"", 0, false},
	} {
		id, ok := goid.FromTraceback(tc.tb)
		if id != tc.id || ok != tc.isID {
			t.Errorf("FromTraceback(%q) = %d, %v; want %d, %v", tc.tb, id, ok, tc.id, tc.isID)
		}
	}
}
