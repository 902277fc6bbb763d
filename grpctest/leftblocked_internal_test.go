package grpctest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/streamtest/streamtest/internal/spytb"
)

// ownCalls accepts the calls noted by t alone: other tests' calls stay
// noted, for VerifyTestMain.
func ownCalls(t *testing.T) func(string) bool {
	return func(test string) bool { return test == t.Name() }
}

// A call a test leaves blocked with no harness to end it is not reported by
// the test (a cleanup registered before Go, or the parent test, may end it
// later), but by VerifyTestMain if it is still blocked when all tests have
// run: with its test's name and its stack.
func TestVerifyTestMainReportsCallsLeftBlocked(t *testing.T) {
	release := make(chan struct{})
	defer close(release)

	spy := spytb.New(t)
	GoErr(spy, func() error { <-release; return nil })
	// Ended by a cleanup registered before Go, which runs after Go's.
	ctx, cancel := context.WithCancel(context.Background())
	spy.Cleanup(cancel)
	GoErr(spy, func() error { <-ctx.Done(); return ctx.Err() })
	spy.End()
	spy.WantClean(t)

	var out bytes.Buffer
	if !reportLeftBlocked(&out, 50*time.Millisecond, ownCalls(t)) {
		t.Fatalf("reportLeftBlocked found no call still blocked; wrote:\n%s", out.String())
	}
	got := out.String()
	for _, want := range []string{
		"grpctest: " + t.Name() + ": the call started by GoErr at leftblocked_internal_test.go:",
		"was still blocked when all tests had run",
		"(cancel its context, finish its stream), in:\n  goroutine ",
		"TestVerifyTestMainReportsCallsLeftBlocked",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the report lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "was still blocked"); n != 1 {
		t.Errorf("%d calls reported, want 1 (the other was ended by a cleanup):\n%s", n, got)
	}
	// What it saw is forgotten: the next report is empty.
	out.Reset()
	if reportLeftBlocked(&out, time.Millisecond, ownCalls(t)) {
		t.Errorf("a second report found calls again:\n%s", out.String())
	}
}

// A call that panics or calls runtime.Goexit after its test has ended, when
// t can no longer report it, is reported by VerifyTestMain (which this
// package's TestMain runs) instead of crashing the binary or going unseen.
func TestVerifyTestMainReportsLateFailures(t *testing.T) {
	if !verifyingMain.Load() {
		t.Skip("TestMain does not run VerifyTestMain")
	}
	release := make(chan struct{})
	spy := spytb.New(t)
	panics := GoErr(spy, func() error { <-release; panic("late boom") })
	exits := GoErr(spy, func() error { <-release; runtime.Goexit(); return nil })
	spy.End()
	spy.WantClean(t)
	close(release)
	<-panics.Done()
	<-exits.Done()

	var out bytes.Buffer
	if !reportLeftBlocked(&out, time.Second, ownCalls(t)) {
		t.Fatal("reportLeftBlocked reported nothing")
	}
	for _, want := range []string{
		"grpctest: " + t.Name() + ": the call started by GoErr at leftblocked_internal_test.go:",
		"panicked after its test had ended: late boom\n",
		"ended its goroutine with runtime.Goexit after its test had ended",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
}

// childBlocks blocks forever: the call a child test binary leaves blocked
// (TestMain tells goleak to ignore it, so that only VerifyTestMain's own
// report decides the exit status).
func childBlocks() error { select {} }

// The whole way, in a test binary of its own: VerifyTestMain (this
// package's TestMain) reports the call left blocked, by its test's name,
// and fails the binary, also when a test failed.
func TestVerifyTestMainFailsTheBinaryOnACallLeftBlocked(t *testing.T) {
	switch os.Getenv("STREAMTEST_LEAVE_BLOCKED") {
	case "pass":
		GoErr(t, childBlocks)
		return
	case "fail":
		GoErr(t, childBlocks)
		t.Error("this test fails too")
		return
	}
	for _, mode := range []string{"pass", "fail"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestVerifyTestMainFailsTheBinaryOnACallLeftBlocked$", "-test.count=1")
		cmd.Env = append(os.Environ(), "STREAMTEST_LEAVE_BLOCKED="+mode)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("%s: the test binary exited with %v, want exit status 1; output:\n%s", mode, err, out)
		}
		if want := "grpctest: TestVerifyTestMainFailsTheBinaryOnACallLeftBlocked: the call started by GoErr at leftblocked_internal_test.go:"; !bytes.Contains(out, []byte(want)) {
			t.Errorf("%s: the output lacks %q:\n%s", mode, want, out)
		}
	}
}

// A call the harness reported still blocked after Close is not reported
// again by VerifyTestMain; but a panic it ends with later is.
func TestVerifyTestMainReportsALatePanicOfAnAdoptedCall(t *testing.T) {
	if !verifyingMain.Load() {
		t.Skip("TestMain does not run VerifyTestMain")
	}
	release, never := make(chan struct{}), make(chan struct{})
	defer close(never)
	spy := spytb.New(t)
	NewServer(spy, func(*grpc.Server) {}, WithCloseTimeout(50*time.Millisecond))
	p := GoErr(spy, func() error { <-release; panic("late boom after adopt") })
	GoErr(spy, func() error { <-never; return nil })
	spy.End()
	spy.Want(t, 2, "after Close ended the harness's streams")
	close(release)
	<-p.Done()

	var out bytes.Buffer
	if !reportLeftBlocked(&out, 10*time.Millisecond, ownCalls(t)) {
		t.Fatal("reportLeftBlocked reported nothing")
	}
	if got := out.String(); !strings.Contains(got, "panicked after its test had ended: late boom after adopt") || strings.Contains(got, "still blocked") {
		t.Errorf("want the late panic reported, and the call still blocked not reported again:\n%s", got)
	}
}
