// Package timeoutwarn prints, a little before go test's -timeout ends the
// test binary, what a harness of the module sees of a test still running
// then. A test that waits forever (on a stream nobody half-closes, in a
// script step waiting for a request that never comes) otherwise ends with
// the goroutine dump of the timeout panic alone, without the recorded
// timeline that would say what happened.
package timeoutwarn

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Margin returns how long before a deadline that is left away the warning
// is printed: a tenth of left, at least 100ms and at most 5s.
func Margin(left time.Duration) time.Duration {
	return min(max(left/10, 100*time.Millisecond), 5*time.Second)
}

// Out is where warnings go: the test binary's standard error. A test's
// own log is printed when the test ends, which a timeout never lets it
// do. Tests of this package may replace it.
var (
	outMu sync.Mutex
	Out   io.Writer = os.Stderr
)

// Schedule arranges for a warning to be printed a Margin before t's
// deadline, if t has one (a *testing.T, when go test runs with a
// -timeout; a testing.TB without a Deadline method has none): pkg names
// the package that warns ("grpctest"), what the thing whose report
// follows ("the harness built at x_test.go:12"). report runs then, on a
// goroutine of its own. stop cancels the warning, waiting for one already
// being printed.
func Schedule(t any, pkg, what string, report func() string) (stop func()) {
	dt, ok := t.(interface{ Deadline() (time.Time, bool) })
	if !ok {
		return func() {}
	}
	deadline, ok := dt.Deadline()
	if !ok {
		return func() {}
	}
	name := "the test"
	if n, ok := t.(interface{ Name() string }); ok {
		name = n.Name()
	}
	margin := Margin(time.Until(deadline))
	var printing sync.WaitGroup
	var stopped sync.Mutex // held by stop, and by the warning while it starts
	done := false
	timer := time.AfterFunc(time.Until(deadline)-margin, func() {
		stopped.Lock()
		if done {
			stopped.Unlock()
			return
		}
		printing.Add(1)
		stopped.Unlock()
		defer printing.Done()
		text := fmt.Sprintf("%s: %s is still running %v before go test's -timeout ends the test binary: it looks stuck. What %s sees:\n%s\n",
			pkg, name, margin.Round(time.Millisecond), what, report())
		outMu.Lock()
		defer outMu.Unlock()
		_, _ = io.WriteString(Out, text)
	})
	return func() {
		timer.Stop()
		stopped.Lock()
		done = true
		stopped.Unlock()
		printing.Wait() // a warning being printed
	}
}
