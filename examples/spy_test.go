package examples_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/streamtest/streamtest/recorder"
)

// spyTB is a testing.TB that records failures instead of failing the test,
// so a recipe can show what a check reports on broken code while the suite
// stays green. Copy it into your own tests to test your own checks.
//
// Pass the spy where a check wants t. Cleanups registered on the spy (the
// harness's Close, the fake server's verification) run at spy.finish, or
// when the real test ends. FailNow (from Require* and Fatalf) stops the
// function given to spy.run.
type spyTB struct {
	testing.TB // the real test, for Name, TempDir, Logf...

	mu       sync.Mutex
	errs     []string
	failed   bool // Fail was called
	fatal    bool
	cleanups []func()
	finished bool
}

func newSpy(t *testing.T) *spyTB {
	s := &spyTB{TB: t}
	t.Cleanup(s.finish) // a recipe that forgets finish still tears down
	return s
}

func (s *spyTB) Helper() {}

func (s *spyTB) Errorf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
}

func (s *spyTB) Error(args ...any) { s.Errorf("%s", fmt.Sprint(args...)) }

func (s *spyTB) Fatalf(format string, args ...any) {
	s.Errorf(format, args...)
	s.FailNow()
}

func (s *spyTB) Fatal(args ...any) {
	s.Error(args...)
	s.FailNow()
}

func (s *spyTB) Fail() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed = true
}

// failNow is the panic value of spyTB.FailNow, recovered by spyTB.run.
type failNow struct{}

// FailNow stops the function run by spy.run. (testing's FailNow calls
// runtime.Goexit, which would end the real test's goroutine.)
func (s *spyTB) FailNow() {
	s.mu.Lock()
	s.fatal = true
	s.mu.Unlock()
	panic(failNow{})
}

func (s *spyTB) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.errs) > 0 || s.failed || s.fatal
}

func (s *spyTB) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

// run calls f and reports whether it returned normally, false if it was
// stopped by FailNow.
func (s *spyTB) run(f func()) (completed bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(failNow); !ok {
				panic(r)
			}
		}
	}()
	f()
	return true
}

// finish runs the spy's cleanups, last registered first, as the end of a
// test does. Calling it again does nothing.
func (s *spyTB) finish() {
	s.mu.Lock()
	if s.finished {
		s.mu.Unlock()
		return
	}
	s.finished = true
	s.mu.Unlock()
	for {
		s.mu.Lock()
		if len(s.cleanups) == 0 {
			s.mu.Unlock()
			return
		}
		f := s.cleanups[len(s.cleanups)-1]
		s.cleanups = s.cleanups[:len(s.cleanups)-1]
		s.mu.Unlock()
		s.run(f)
	}
}

// reports returns what the spy was told, one string per Errorf.
func (s *spyTB) reports() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errs...)
}

// wantReport fails t unless exactly one report was made to spy and it
// contains every one of parts. It returns that report.
func wantReport(t *testing.T, spy *spyTB, parts ...string) string {
	t.Helper()
	got := spy.reports()
	if len(got) != 1 {
		t.Errorf("the check made %d reports, want 1:\n%s", len(got), strings.Join(got, "\n---\n"))
		return strings.Join(got, "\n")
	}
	for _, p := range parts {
		if !strings.Contains(got[0], p) {
			t.Errorf("the report does not say %q:\n%s", p, got[0])
		}
	}
	return got[0]
}

// wantNoReport fails t if spy was told anything.
func wantNoReport(t *testing.T, spy *spyTB) {
	t.Helper()
	if got := spy.reports(); len(got) > 0 {
		t.Errorf("the check reported on correct code:\n%s", strings.Join(got, "\n---\n"))
	}
}

// count returns how many events of method match side and kind: the
// condition recipes give Recorder.Wait ("the server has received 3
// messages").
func count(events []recorder.Event, method string, side recorder.Side, kind recorder.Kind) int {
	n := 0
	for _, e := range events {
		if e.Method == method && e.Side == side && e.Kind == kind {
			n++
		}
	}
	return n
}
