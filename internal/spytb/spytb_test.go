package spytb_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/streamtest/streamtest/internal/spytb"
)

// Most tests nest two spies: inner is the spy under test and outer plays
// its real test, so that what inner reports to its real test (a panic, a
// hang, a failed Want) is recorded by outer instead of failing this test.

func TestReportsAreRecorded(t *testing.T) {
	outer := spytb.New(t)
	inner := spytb.New(outer)
	inner.WantClean(outer)
	outer.WantClean(t)
	if inner.Failed() {
		t.Errorf("a new spy is failed")
	}

	inner.Errorf("a %d", 1)
	inner.Error("b", 2, "c")
	if !inner.Failed() {
		t.Errorf("Errorf and Error did not mark the spy failed")
	}
	want := []spytb.Report{{Msg: "a 1"}, {Msg: "b 2 c"}}
	if d := cmp.Diff(want, inner.Reports()); d != "" {
		t.Errorf("Reports mismatch (-want +got):\n%s", d)
	}
	if got, want := inner.Text(), "t.Errorf: a 1\n---\nt.Errorf: b 2 c"; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
	inner.WantClean(outer)
	outer.Want(t, 1, "spy recorded failures, want none:", "t.Errorf: a 1", "t.Errorf: b 2 c")
}

func TestFailIsAFailureWithoutAReport(t *testing.T) {
	outer := spytb.New(t)
	inner := spytb.New(outer)
	inner.Fail()
	if !inner.Failed() || len(inner.Reports()) != 0 {
		t.Errorf("after Fail: Failed %v, reports %q; want failed, no report", inner.Failed(), inner.Reports())
	}
	inner.WantClean(outer)
	outer.Want(t, 1, "spy recorded failures, want none:")
}

func TestFatalfStopsOnlyTheFunctionRun(t *testing.T) {
	s := spytb.New(t)
	reached := false
	o := s.Run(func() {
		s.Fatalf("stop %d", 1)
		reached = true
	})
	if o != (spytb.Outcome{FailedNow: true}) || reached {
		t.Errorf("Run of a function calling Fatalf = %+v, rest of it run %v; want FailedNow only, not run", o, reached)
	}
	o = s.Run(func() { s.Fatal("stop", 2) })
	if !o.FailedNow {
		t.Errorf("Run of a function calling Fatal = %+v, want FailedNow", o)
	}
	o = s.Run(func() { s.FailNow() })
	if !o.FailedNow {
		t.Errorf("Run of a function calling FailNow = %+v, want FailedNow", o)
	}
	want := []spytb.Report{{Fatal: true, Msg: "stop 1"}, {Fatal: true, Msg: "stop 2"}}
	if d := cmp.Diff(want, s.Reports()); d != "" {
		t.Errorf("Reports mismatch (-want +got):\n%s", d)
	}
	if r := s.Reports()[0]; r.Method() != "t.Fatalf" || r.String() != "t.Fatalf: stop 1" {
		t.Errorf("a fatal report: Method %q, String %q; want t.Fatalf, %q", r.Method(), r.String(), "t.Fatalf: stop 1")
	}
	if r := (spytb.Report{Msg: "m"}); r.Method() != "t.Errorf" {
		t.Errorf("a report by Errorf: Method %q, want t.Errorf", r.Method())
	}
}

func TestRunOfAFunctionThatReturns(t *testing.T) {
	s := spytb.New(t) // the default bound
	ran := false
	if o := s.Run(func() { ran = true }); o != (spytb.Outcome{}) || !ran {
		t.Errorf("Run of a function that returns = %+v, ran %v; want the zero Outcome, ran", o, ran)
	}
	s.WantClean(t)
}

func TestRunReportsAPanicToTheRealTest(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value any
		want  string
	}{
		{"value", "boom", "boom"},
		{"nil", nil, "panic called with nil argument"}, // not a Goexit
	} {
		t.Run(tc.name, func(t *testing.T) {
			outer := spytb.New(t)
			inner := spytb.New(outer)
			o := inner.Run(func() { panic(tc.value) })
			if o.FailedNow || o.Hung || !strings.Contains(o.Panicked, tc.want) || !strings.Contains(o.Panicked, "spytb_test.go") {
				t.Errorf("Run of a function that panics = %+v, want Panicked with %q and its stack", o, tc.want)
			}
			outer.Want(t, 1, "spytb: the function passed to Run panicked: "+tc.want, "goroutine", "spytb_test.go")
			inner.WantClean(t)
		})
	}
}

func TestRunReportsAHangToTheRealTest(t *testing.T) {
	outer := spytb.New(t)
	inner := spytb.New(outer)
	inner.Bound = 100 * time.Millisecond
	release := make(chan struct{})
	defer close(release) // ends the hung function before the leak check
	o := inner.Run(func() { <-release })
	if o != (spytb.Outcome{Hung: true}) {
		t.Errorf("Run of a function that hangs = %+v, want Hung", o)
	}
	outer.Want(t, 1, "spytb: the function passed to Run is still running after 100ms: it hangs")
	inner.WantClean(t)
}

func TestEndRunsCleanupsLastFirstAndOnce(t *testing.T) {
	s := spytb.New(t)
	var order []int
	add := func(i int) func() { return func() { order = append(order, i) } }
	s.Cleanup(add(1))
	s.Cleanup(func() {
		order = append(order, 2)
		s.Cleanup(add(4)) // registered during End: run next
	})
	s.Cleanup(add(3))
	if len(order) != 0 {
		t.Fatalf("cleanups ran before End: %v", order)
	}
	s.End()
	if d := cmp.Diff([]int{3, 2, 4, 1}, order); d != "" {
		t.Errorf("cleanups ran in the wrong order (-want +got):\n%s", d)
	}
	s.End()
	if d := cmp.Diff([]int{3, 2, 4, 1}, order); d != "" {
		t.Errorf("a second End ran cleanups again (-want +got):\n%s", d)
	}
	s.Cleanup(add(5))
	s.End()
	if d := cmp.Diff([]int{3, 2, 4, 1, 5}, order); d != "" {
		t.Errorf("End after a new Cleanup (-want +got):\n%s", d)
	}
	s.WantClean(t)
}

// A cleanup that calls FailNow, panics or hangs does not stop the others.
func TestEndRunsEveryCleanupWhateverEachDoes(t *testing.T) {
	outer := spytb.New(t)
	inner := spytb.New(outer)
	inner.Bound = 100 * time.Millisecond
	release := make(chan struct{})
	defer close(release)
	var order []string
	inner.Cleanup(func() { order = append(order, "last") })
	inner.Cleanup(func() { <-release })
	inner.Cleanup(func() { panic("in a cleanup") })
	inner.Cleanup(func() { inner.Fatalf("fatal in a cleanup") })
	inner.End()
	if d := cmp.Diff([]string{"last"}, order); d != "" {
		t.Errorf("cleanups run (-want +got):\n%s", d)
	}
	inner.Want(t, 1, "fatal in a cleanup")
	rs := outer.Reports()
	if len(rs) != 2 || !strings.Contains(rs[0].Msg, "spytb: a cleanup panicked: in a cleanup") ||
		!strings.Contains(rs[1].Msg, "spytb: a cleanup is still running after 100ms: it hangs") {
		t.Errorf("reports to the real test: want the panic, then the hang:\n%s", outer.Text())
	}
}

func TestContextIsCanceledWhenEndStartsBeforeCleanups(t *testing.T) {
	s := spytb.New(t)
	if err := s.Context().Err(); err != nil {
		t.Fatalf("Context before End: %v, want live", err)
	}
	inCleanup := fmt.Errorf("cleanup not run")
	s.Cleanup(func() { inCleanup = s.Context().Err() })
	s.End()
	if inCleanup != context.Canceled {
		t.Errorf("Context in a cleanup: %v, want %v", inCleanup, context.Canceled)
	}
}

// New registers End with the real test, so a test that forgets End still
// tears down.
func TestTheRealTestsEndEndsTheSpy(t *testing.T) {
	outer := spytb.New(t)
	inner := spytb.New(outer)
	ran := false
	inner.Cleanup(func() { ran = true })
	outer.End()
	if !ran || inner.Context().Err() == nil {
		t.Errorf("after the real test's end: cleanup ran %v, Context %v; want ran, canceled", ran, inner.Context().Err())
	}
}

// logTB is a real test that records what is logged to it.
type logTB struct {
	testing.TB
	logs []string
}

func (l *logTB) Logf(format string, args ...any) {
	l.logs = append(l.logs, fmt.Sprintf(format, args...))
}

func (l *logTB) Log(args ...any) {
	l.logs = append(l.logs, fmt.Sprint(args...))
}

func TestLogGoesToTheRealTest(t *testing.T) {
	rt := &logTB{TB: t}
	s := spytb.New(rt)
	s.Logf("x %d", 1)
	s.Log("y")
	if d := cmp.Diff([]string{"spy log: x 1", "spy log:y"}, rt.logs); d != "" {
		t.Errorf("logged to the real test (-want +got):\n%s", d)
	}
	s.WantClean(t)
}

func TestWant(t *testing.T) {
	inner := spytb.New(t)
	inner.Errorf("alpha beta")
	inner.Run(func() { inner.Fatalf("gamma") })
	for _, tc := range []struct {
		name  string
		n     int
		subs  []string
		want  spytb.Report // returned
		fails []string     // reported to the real test, or nil
	}{
		{"exact count", 2, []string{"alpha", "beta"}, spytb.Report{Msg: "alpha beta"}, nil},
		{"at least one", -1, []string{"gamma"}, spytb.Report{Fatal: true, Msg: "gamma"}, nil},
		{"no subs", 2, nil, spytb.Report{Msg: "alpha beta"}, nil},
		{"wrong count", 1, []string{"gamma"}, spytb.Report{Fatal: true, Msg: "gamma"}, []string{"spy recorded 2 reports, want 1:", "t.Fatalf: gamma"}},
		{"subs in two reports", 2, []string{"alpha", "gamma"}, spytb.Report{}, []string{`no report recorded by the spy contains all of ["alpha" "gamma"]`}},
		{"missing sub", -1, []string{"delta"}, spytb.Report{}, []string{`contains all of ["delta"]`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outer := spytb.New(t)
			if r := inner.Want(outer, tc.n, tc.subs...); r != tc.want {
				t.Errorf("Want returned %+v, want %+v", r, tc.want)
			}
			if tc.fails == nil {
				outer.WantClean(t)
			} else {
				outer.Want(t, 1, tc.fails...)
			}
		})
	}
	t.Run("nothing recorded", func(t *testing.T) {
		outer := spytb.New(t)
		spytb.New(t).Want(outer, -1)
		outer.Want(t, 2, "spy recorded 0 reports, want at least one")
	})
}

func TestWantText(t *testing.T) {
	inner := spytb.New(t)
	inner.Errorf("alpha beta")
	inner.Errorf("gamma")
	outer := spytb.New(t)
	inner.WantText(outer, "alpha", "gamma", "beta") // spread over the reports
	outer.WantClean(t)

	inner.WantText(outer, "alpha", "delta")
	outer.Want(t, 1, `spy reports do not contain "delta"`, "t.Errorf: gamma")

	outer = spytb.New(t)
	if o := outer.Run(func() { spytb.New(t).WantText(outer, "alpha") }); !o.FailedNow {
		t.Errorf("WantText on an empty spy: %+v, want FailedNow", o)
	}
	outer.Want(t, 1, `spy recorded nothing; want reports containing ["alpha"]`)
}
