package grpctest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/streamtest/streamtest/internal/spytb"
)

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
	if !reportLeftBlocked(&out, 50*time.Millisecond) {
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
	if reportLeftBlocked(&out, time.Millisecond) {
		t.Errorf("a second report found calls again:\n%s", out.String())
	}
}

// The whole way, in a test binary of its own: VerifyTestMain (this
// package's TestMain) reports the call left blocked, by its test's name,
// and fails the binary.
func TestVerifyTestMainFailsTheBinaryOnACallLeftBlocked(t *testing.T) {
	if os.Getenv("STREAMTEST_LEAVE_BLOCKED") == "1" {
		GoErr(t, func() error { select {} })
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestVerifyTestMainFailsTheBinaryOnACallLeftBlocked$", "-test.count=1")
	cmd.Env = append(os.Environ(), "STREAMTEST_LEAVE_BLOCKED=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("the test binary exited with %v, want exit status 1; output:\n%s", err, out)
	}
	if want := "grpctest: TestVerifyTestMainFailsTheBinaryOnACallLeftBlocked: the call started by GoErr at leftblocked_internal_test.go:"; !bytes.Contains(out, []byte(want)) {
		t.Errorf("the output lacks %q:\n%s", want, out)
	}
}
