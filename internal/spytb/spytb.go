// Package spytb provides a spy testing.TB for the module's own tests: a
// testing.TB that records failures instead of failing the real test, so a
// test can check that a check fires on broken code, and what it says.
//
// Pass the spy where the code under test wants t:
//
//	spy := spytb.New(t)
//	if spy.Run(func() { grpctest.RequireMessages(spy, want, got) }).FailedNow {
//		...
//	}
//	spy.End()
//	spy.Want(t, 1, "mismatch (-want +got):")
//
// FailNow (and so Fatal, Fatalf and every Require helper) ends the calling
// goroutine with runtime.Goexit, as testing's does: call code that may use
// it inside Run, which runs it on a goroutine of its own. Cleanups
// registered on the spy are kept and run by End, which plays the end of the
// spied test; New registers End with the real test too, so a test that
// forgets it still tears down what it built.
//
// Everything else (Name, TempDir, Setenv, Skip...) goes to the real test.
// The examples package has its own, self-contained copy of a spy, meant to
// be copied into users' tests; this one is internal to the module.
package spytb

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultBound is how long Run waits for its function, and End for each
// cleanup, when TB.Bound is zero: the worst case of a harness Close with a
// short close timeout, with plenty of slack for the race detector on a
// loaded machine.
const DefaultBound = 20 * time.Second

// TB is a spy testing.TB. Its zero value is not usable: make one with New.
type TB struct {
	// TB is the real test: the spy logs to it, reports its own trouble
	// (a panic or a hang in Run or End) to it, and leaves it every method
	// it does not override.
	testing.TB

	// Bound is how long Run waits for its function, and End for each
	// cleanup, before reporting a hang to the real test; zero means
	// DefaultBound. Set it before the first Run or End.
	Bound time.Duration

	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	reports  []Report
	failed   bool
	cleanups []func()
}

// Report is one failure reported through the spy.
type Report struct {
	Fatal bool   // reported by Fatal or Fatalf, which then call FailNow
	Msg   string // the message, formatted as testing formats it
}

// Method names how r was reported, as BAD_INPUT.md shows it: "t.Fatalf"
// for a fatal report (Fatal or Fatalf), "t.Errorf" for any other.
func (r Report) Method() string {
	if r.Fatal {
		return "t.Fatalf"
	}
	return "t.Errorf"
}

// String returns r as "t.Errorf: msg" or "t.Fatalf: msg".
func (r Report) String() string { return r.Method() + ": " + r.Msg }

// Outcome is how a function run by Run (or a cleanup run by End) ended.
// The zero Outcome is a function that returned.
type Outcome struct {
	// FailedNow is true if the function ended by runtime.Goexit, which is
	// what FailNow (so Fatal, Fatalf and the Require helpers) does.
	FailedNow bool
	// Panicked is the value and the stack of a panic of the function,
	// empty if it did not panic.
	Panicked string
	// Hung is true if the function had not ended after the bound. It is
	// left running.
	Hung bool
}

// New returns a spy whose real test is t, and registers its End with
// t.Cleanup. t may itself be a spy, whose records then show what this one
// reports to its real test.
func New(t testing.TB) *TB {
	s := &TB{TB: t}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	t.Cleanup(s.End)
	return s
}

// Helper does nothing: the spy's reports are not printed with a position.
func (s *TB) Helper() {}

// Errorf records a report formatted as fmt.Sprintf does and marks the spy
// failed.
func (s *TB) Errorf(format string, args ...any) { s.add(false, fmt.Sprintf(format, args...)) }

// Error records a report formatted as testing.T.Error formats its
// arguments (as fmt.Sprintln does, without the newline) and marks the spy
// failed.
func (s *TB) Error(args ...any) { s.add(false, sprint(args)) }

// Fatalf records a fatal report formatted as fmt.Sprintf does and calls
// FailNow.
func (s *TB) Fatalf(format string, args ...any) {
	s.add(true, fmt.Sprintf(format, args...))
	s.FailNow()
}

// Fatal records a fatal report formatted as Error formats it and calls
// FailNow.
func (s *TB) Fatal(args ...any) {
	s.add(true, sprint(args))
	s.FailNow()
}

// Fail marks the spy failed without a report.
func (s *TB) Fail() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed = true
}

// FailNow marks the spy failed and ends the calling goroutine with
// runtime.Goexit, as testing.T.FailNow does. Call code that may use it
// inside Run: on the real test's goroutine it would end the real test,
// which testing reports as a panic.
func (s *TB) FailNow() {
	s.Fail()
	runtime.Goexit()
}

// Failed reports whether the spy was marked failed: by a report, by Fail
// or by FailNow.
func (s *TB) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// Logf logs to the real test, prefixed with "spy log: ".
func (s *TB) Logf(format string, args ...any) {
	s.TB.Helper()
	s.TB.Logf("spy log: "+format, args...)
}

// Log logs to the real test, prefixed with "spy log: ".
func (s *TB) Log(args ...any) {
	s.TB.Helper()
	s.TB.Log(append([]any{"spy log:"}, args...)...)
}

// Cleanup registers f to be run by End, after the cleanups registered
// later.
func (s *TB) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

// Context returns a context canceled when End starts, before it runs the
// cleanups, as testing.T.Context is at the end of a test.
func (s *TB) Context() context.Context { return s.ctx }

// Run calls f on a goroutine of its own, so that neither FailNow nor a
// hang can take the real test down, and waits for it at most the bound.
// It returns how f ended. A panic in f (other than the runtime.Goexit of
// FailNow) and a hang are reported to the real test with Errorf.
func (s *TB) Run(f func()) Outcome {
	s.TB.Helper()
	return s.run("the function passed to Run", f)
}

func (s *TB) run(what string, f func()) Outcome {
	s.TB.Helper()
	done := make(chan Outcome, 1)
	go func() {
		var o Outcome
		returned := false
		defer func() {
			if r := recover(); r != nil {
				o.Panicked = fmt.Sprintf("%v\n%s", r, debug.Stack())
			} else if !returned {
				o.FailedNow = true
			}
			done <- o
		}()
		f()
		returned = true
	}()
	bound := s.Bound
	if bound <= 0 {
		bound = DefaultBound
	}
	timer := time.NewTimer(bound)
	defer timer.Stop()
	select {
	case o := <-done:
		if o.Panicked != "" {
			s.TB.Errorf("spytb: %s panicked: %s", what, o.Panicked)
		}
		return o
	case <-timer.C:
		s.TB.Errorf("spytb: %s is still running after %v: it hangs", what, bound)
		return Outcome{Hung: true}
	}
}

// End plays the end of the spied test: it cancels Context, then runs the
// cleanups, last registered first, each through Run, so that one that
// calls FailNow, panics or hangs does not stop the others. It is
// idempotent: a second End runs only the cleanups registered since.
func (s *TB) End() {
	s.TB.Helper()
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
		s.run("a cleanup", f)
	}
}

// Reports returns a copy of the reports recorded so far, in order.
func (s *TB) Reports() []Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Report(nil), s.reports...)
}

// Text returns the reports recorded so far, each as Report.String gives
// it, separated by "\n---\n" lines: for the messages of failed checks.
func (s *TB) Text() string {
	var b []string
	for _, r := range s.Reports() {
		b = append(b, r.String())
	}
	return strings.Join(b, "\n---\n")
}

// WantClean fails t, the real test, if the spy was marked failed.
func (s *TB) WantClean(t testing.TB) {
	t.Helper()
	if s.Failed() {
		t.Errorf("spy recorded failures, want none:\n%s", s.Text())
	}
}

// Want fails t, the real test, unless the spy recorded exactly n reports
// (n < 0: at least one) and one of them contains every one of subs. It
// returns the first such report, or the zero Report.
func (s *TB) Want(t testing.TB, n int, subs ...string) Report {
	t.Helper()
	rs := s.Reports()
	if (n >= 0 && len(rs) != n) || (n < 0 && len(rs) == 0) {
		want := fmt.Sprint(n)
		if n < 0 {
			want = "at least one"
		}
		t.Errorf("spy recorded %d reports, want %s:\n%s", len(rs), want, s.Text())
	}
	for _, r := range rs {
		if containsAll(r.Msg, subs) {
			return r
		}
	}
	t.Errorf("no report recorded by the spy contains all of %q:\n%s", subs, s.Text())
	return Report{}
}

// WantText fails t, the real test, unless the spy recorded something and
// the messages of all its reports, joined, contain every one of parts:
// the parts may be spread over several reports. With nothing recorded it
// stops t with Fatalf.
func (s *TB) WantText(t testing.TB, parts ...string) {
	t.Helper()
	var msgs []string
	for _, r := range s.Reports() {
		msgs = append(msgs, r.Msg)
	}
	text := strings.Join(msgs, "\n\n")
	if text == "" {
		t.Fatalf("spy recorded nothing; want reports containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(text, p) {
			t.Errorf("spy reports do not contain %q; reports:\n%s", p, s.Text())
		}
	}
}

// containsAll reports whether s contains every one of subs.
func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func (s *TB) add(fatal bool, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reports = append(s.reports, Report{Fatal: fatal, Msg: msg})
	s.failed = true
}

// sprint formats args as testing.T.Log does: fmt.Sprintln without the
// final newline.
func sprint(args []any) string {
	return strings.TrimSuffix(fmt.Sprintln(args...), "\n")
}
