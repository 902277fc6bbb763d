package e2e_test

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
)

// spyTB is a testing.TB that records reports instead of failing the real
// test, so a test can check what a misuse makes the library say. FailNow
// panics with failNowPanic instead of runtime.Goexit; spy.run recovers it.
// Cleanups are kept and run by end (registered on the real test), which
// plays the end of the spied test.
type spyTB struct {
	testing.TB // the real test: Name, TempDir, Setenv...

	mu       sync.Mutex
	reports  []report
	failed   bool
	cleanups []func()
	ctx      context.Context
	cancel   context.CancelFunc
}

// report is one failure the library reported through the spy.
type report struct {
	fatal bool // Fatalf/Fatal (Errorf followed by FailNow)
	msg   string
}

// how names the kind of report for BAD_INPUT.md.
func (r report) how() string {
	if r.fatal {
		return "t.Fatalf"
	}
	return "t.Errorf"
}

type failNowPanic struct{}

func newSpy(t *testing.T) *spyTB {
	s := &spyTB{TB: t}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	t.Cleanup(func() { s.end(t) })
	return s
}

func (s *spyTB) Helper() {}

func (s *spyTB) Errorf(format string, args ...any) { s.add(false, fmt.Sprintf(format, args...)) }
func (s *spyTB) Error(args ...any)                 { s.add(false, fmt.Sprint(args...)) }

func (s *spyTB) Fatalf(format string, args ...any) {
	s.add(true, fmt.Sprintf(format, args...))
	s.FailNow()
}

func (s *spyTB) Fatal(args ...any) {
	s.add(true, fmt.Sprint(args...))
	s.FailNow()
}

func (s *spyTB) add(fatal bool, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reports = append(s.reports, report{fatal: fatal, msg: msg})
	s.failed = true
}

func (s *spyTB) Fail() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed = true
}

// FailNow marks the spy failed and unwinds to spy.run with a panic: it
// must not Goexit the real test's goroutine.
func (s *spyTB) FailNow() {
	s.Fail()
	panic(failNowPanic{})
}

func (s *spyTB) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

func (s *spyTB) Logf(format string, args ...any) { s.TB.Logf("spy log: "+format, args...) }
func (s *spyTB) Log(args ...any)                 { s.TB.Log(append([]any{"spy log:"}, args...)...) }

func (s *spyTB) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

// Context is canceled when the spied test ends, before its cleanups run,
// as testing.T.Context is.
func (s *spyTB) Context() context.Context { return s.ctx }

// end cancels Context and runs the cleanups, last registered first, each
// bounded by spyBound, as the end of a test does. It is idempotent.
func (s *spyTB) end(t *testing.T) {
	t.Helper()
	s.cancel()
	for {
		s.mu.Lock()
		if len(s.cleanups) == 0 {
			s.mu.Unlock()
			return
		}
		f := s.cleanups[len(s.cleanups)-1]
		s.cleanups = s.cleanups[:len(s.cleanups)-1]
		s.mu.Unlock()
		s.run(t, "a cleanup", f)
	}
}

// spyBound bounds every call run through a spy: the worst case of a
// harness Close with a short close timeout, with plenty of slack for the
// race detector on a loaded machine.
const spyBound = 20 * time.Second

// outcome is how a call run by spy.run ended.
type outcome struct {
	failedNow bool   // it called FailNow (through Fatalf or a Require*)
	panicked  string // a panic other than FailNow's, with its stack
	hung      bool   // it had not returned after spyBound
}

// run calls f on a new goroutine, so that neither FailNow nor a hang can
// take the real test down, and waits for it at most spyBound. A panic or
// a hang fails the real test t, naming what.
func (s *spyTB) run(t *testing.T, what string, f func()) outcome {
	t.Helper()
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(failNowPanic); ok {
					o.failedNow = true
				} else {
					o.panicked = fmt.Sprintf("%v\n%s", r, debug.Stack())
				}
			}
			done <- o
		}()
		f()
	}()
	timer := time.NewTimer(spyBound)
	defer timer.Stop()
	select {
	case o := <-done:
		if o.panicked != "" {
			t.Errorf("%s panicked: %s", what, o.panicked)
		}
		return o
	case <-timer.C:
		t.Errorf("%s still running after %v: it hangs", what, spyBound)
		return outcome{hung: true}
	}
}

func (s *spyTB) all() []report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]report(nil), s.reports...)
}

func (s *spyTB) text() string {
	var b []string
	for _, r := range s.all() {
		b = append(b, r.how()+": "+r.msg)
	}
	return strings.Join(b, "\n---\n")
}

// want fails t unless the spy recorded exactly n reports (n < 0: at least
// one) and one of them contains every one of subs; it returns that report.
func (s *spyTB) want(t *testing.T, n int, subs ...string) report {
	t.Helper()
	rs := s.all()
	if (n >= 0 && len(rs) != n) || (n < 0 && len(rs) == 0) {
		t.Errorf("spy recorded %d reports, want %d:\n%s", len(rs), n, s.text())
	}
	for _, r := range rs {
		if containsAll(r.msg, subs) {
			return r
		}
	}
	t.Errorf("no report contains all of %q:\n%s", subs, s.text())
	return report{}
}

// wantClean fails t if the spy recorded a failure.
func (s *spyTB) wantClean(t *testing.T) {
	t.Helper()
	if s.Failed() {
		t.Errorf("spy recorded failures, want none:\n%s", s.text())
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
