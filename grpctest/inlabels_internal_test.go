package grpctest

import (
	"context"
	"runtime/pprof"
	"strings"
	"testing"
	"unsafe"
)

// inLabels runs f on the calling goroutine: f and the goroutines it starts
// carry ctx's labels, and the caller gets its own back, after a panic too.
func TestInLabelsLabelsFAndRestoresTheCaller(t *testing.T) {
	pprof.Do(context.Background(), pprof.Labels("test", "mine"), func(context.Context) {
		before := getProfLabel()
		harness := pprof.WithLabels(context.Background(), pprof.Labels(labelHarness, "inlabels-test"))
		var inside, started unsafe.Pointer
		if err := inLabels(harness, func() {
			inside = getProfLabel()
			done := make(chan struct{})
			go func() {
				defer close(done)
				started = getProfLabel()
			}()
			<-done
		}); err != nil {
			t.Fatalf("inLabels: %v", err)
		}
		if inside == before {
			t.Errorf("inside f: the caller's labels; want ctx's")
		}
		if started != inside {
			t.Errorf("a goroutine f started has other labels than f; want ctx's")
		}
		if after := getProfLabel(); after != before {
			t.Errorf("after inLabels: the caller's labels were not given back")
		}

		err := inLabels(harness, func() { panic("boom") })
		if err == nil || !strings.Contains(err.Error(), "panicked: boom") {
			t.Errorf("inLabels(f that panics) = %v; want an error with \"panicked: boom\"", err)
		}
		if after := getProfLabel(); after != before {
			t.Errorf("after a panic in f: the caller's labels were not given back")
		}
	})
}

// WithTestGoroutineCheck labels NewServer's caller for the harness's life;
// a Close on the same goroutine gives it back its labels, so that what the
// test starts after Close is not the closed harness's.
func TestTestGoroutineCheckGivesTheLabelsBack(t *testing.T) {
	pprof.Do(context.Background(), pprof.Labels("test", "mine"), func(context.Context) {
		before := getProfLabel()
		s := NewServer(t, nil, WithTestGoroutineCheck())
		if getProfLabel() == before {
			t.Errorf("after NewServer: the test's goroutine has its own labels; want the harness's")
		}
		s.Close()
		if getProfLabel() != before {
			t.Errorf("after Close: the test's goroutine did not get its labels back")
		}
	})
}

// Two harnesses with WithTestGoroutineCheck, closed in either order, or one
// closed on another goroutine: while one is open the test's goroutine
// carries its labels, and once both are closed it has its own back (found
// by a review: closing the first-made first gave the goroutine its own
// labels while the second was open, and the second's Close then gave it
// the first's).
func TestTestGoroutineCheckTwoHarnessesGiveTheLabelsBack(t *testing.T) {
	pprof.Do(context.Background(), pprof.Labels("test", "mine"), func(context.Context) {
		before := getProfLabel()

		a := NewServer(t, nil, WithTestGoroutineCheck())
		b := NewServer(t, nil, WithTestGoroutineCheck())
		bSet := getProfLabel()
		a.Close()
		if getProfLabel() != bSet {
			t.Errorf("first-made closed first: the test's goroutine lost the labels of the harness still open")
		}
		b.Close()
		if getProfLabel() != before {
			t.Errorf("first-made closed first, then the other: the test's goroutine did not get its own labels back")
		}

		a = NewServer(t, nil, WithTestGoroutineCheck())
		done := make(chan struct{})
		go func() {
			defer close(done)
			a.Close()
		}()
		<-done
		b = NewServer(t, nil, WithTestGoroutineCheck())
		b.Close()
		if getProfLabel() != before {
			t.Errorf("one closed on another goroutine, then the other: the test's goroutine did not get its own labels back")
		}
	})
}
