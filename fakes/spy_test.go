package fakes_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// spyTB is a testing.TB that records failures instead of failing the test,
// so that tests can check what the fakes report on broken code. Cleanups
// are kept and run by close (or at the end of the real test).
type spyTB struct {
	testing.TB
	mu       sync.Mutex
	errs     []string
	fatal    bool
	cleanups []func()
	closed   bool
}

func newSpy(t *testing.T) *spyTB {
	s := &spyTB{TB: t}
	t.Cleanup(s.close)
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

// FailNow stops the calling goroutine, as testing's does: call code that may
// use it inside spy.do.
func (s *spyTB) FailNow() {
	s.mu.Lock()
	s.fatal = true
	s.mu.Unlock()
	runtime.Goexit()
}

func (s *spyTB) Fail() { s.Errorf("Fail called") }

func (s *spyTB) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.errs) > 0 || s.fatal
}

func (s *spyTB) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

// do runs f on its own goroutine, so that a FailNow ends only f.
func (s *spyTB) do(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}

// close runs the cleanups, last first, as testing does at the end of a test.
func (s *spyTB) close() {
	for {
		s.mu.Lock()
		if len(s.cleanups) == 0 {
			s.closed = true
			s.mu.Unlock()
			return
		}
		f := s.cleanups[len(s.cleanups)-1]
		s.cleanups = s.cleanups[:len(s.cleanups)-1]
		s.mu.Unlock()
		s.do(f)
	}
}

// count returns how many failures were reported.
func (s *spyTB) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.errs)
}

// report returns everything reported, one failure per paragraph.
func (s *spyTB) report() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.errs, "\n\n")
}

// wantReport fails t unless the spy reported something containing every
// one of parts.
func (s *spyTB) wantReport(t testing.TB, parts ...string) {
	t.Helper()
	r := s.report()
	if r == "" {
		t.Fatalf("nothing was reported; want a report containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(r, p) {
			t.Errorf("report does not contain %q; report:\n%s", p, r)
		}
	}
}

// wantClean fails t if the spy reported anything.
func (s *spyTB) wantClean(t testing.TB) {
	t.Helper()
	if r := s.report(); r != "" {
		t.Fatalf("unexpected report:\n%s", r)
	}
}
