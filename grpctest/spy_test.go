package grpctest_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// spyTB is a testing.TB that records failures instead of failing the real
// test, so a test can check that a check fires, and what it says.
// FailNow panics with errFailNow (instead of runtime.Goexit); run code that
// may call it inside spy.run. Cleanup functions are kept and run by end,
// which simulates the end of the spied test.
type spyTB struct {
	testing.TB // the real test: Name, Context, TempDir...

	mu       sync.Mutex
	errors   []string
	failed   bool
	fatal    bool
	cleanups []func()
	ended    bool
	ctx      context.Context
	cancel   context.CancelFunc
}

type failNowPanic struct{}

func newSpy(t *testing.T) *spyTB {
	s := &spyTB{TB: t}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	// A test that forgets to call end still tears down what it built.
	t.Cleanup(s.end)
	return s
}

func (s *spyTB) Helper() {}

func (s *spyTB) Errorf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errors = append(s.errors, fmt.Sprintf(format, args...))
	s.failed = true
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

func (s *spyTB) FailNow() {
	s.mu.Lock()
	s.failed, s.fatal = true, true
	s.mu.Unlock()
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

// run calls f and reports whether it called FailNow.
func (s *spyTB) run(f func()) (failedNow bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(failNowPanic); !ok {
				panic(r)
			}
			failedNow = true
		}
	}()
	f()
	return false
}

// Context is canceled when the spied test ends, before its cleanups run,
// as testing.T.Context is.
func (s *spyTB) Context() context.Context { return s.ctx }

// end cancels Context and runs the cleanups, last registered first, as the
// end of a test does.
func (s *spyTB) end() {
	s.cancel()
	for {
		s.mu.Lock()
		if len(s.cleanups) == 0 {
			s.ended = true
			s.mu.Unlock()
			return
		}
		f := s.cleanups[len(s.cleanups)-1]
		s.cleanups = s.cleanups[:len(s.cleanups)-1]
		s.mu.Unlock()
		s.run(f)
	}
}

func (s *spyTB) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errors...)
}

func (s *spyTB) text() string { return strings.Join(s.messages(), "\n---\n") }

// wantClean fails t if the spy recorded a failure.
func (s *spyTB) wantClean(t *testing.T) {
	t.Helper()
	if s.Failed() {
		t.Errorf("spy recorded failures, want none:\n%s", s.text())
	}
}

// wantError fails t unless exactly n failures were recorded, and each
// contains every one of subs (for n == 1) or some failure contains every
// one of subs (n < 0: any number).
func (s *spyTB) wantError(t *testing.T, n int, subs ...string) {
	t.Helper()
	msgs := s.messages()
	if n >= 0 && len(msgs) != n {
		t.Errorf("spy recorded %d failures, want %d:\n%s", len(msgs), n, s.text())
		return
	}
	for _, m := range msgs {
		ok := true
		for _, sub := range subs {
			if !strings.Contains(m, sub) {
				ok = false
			}
		}
		if ok {
			return
		}
	}
	t.Errorf("no recorded failure contains all of %q:\n%s", subs, s.text())
}
