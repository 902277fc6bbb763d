package grpctest

// Tests that pin internals of grpctest a second mutation run found
// unpinned: each fails when the code it names is broken.

import (
	"strings"
	"testing"
)

// tracebackOf builds a traceback: its header, then a function line and
// its location line for each of fns.
func tracebackOf(fns ...string) string {
	var b strings.Builder
	b.WriteString("goroutine 7 [select]:\n")
	for _, fn := range fns {
		b.WriteString(fn + "(...)\n\t/src/" + strings.ReplaceAll(fn, "/", "_") + ".go:10 +0x1\n")
	}
	return b.String()
}

// Two library frames at the top are shown as they are: fewer than three
// are not worth a line that counts them.
func TestElideLibraryTopKeepsTwoFrames(t *testing.T) {
	tb := tracebackOf("google.golang.org/grpc.(*clientStream).RecvMsg", "google.golang.org/grpc.(*GenericClientStream[...]).Recv", "example.com/app.consume")
	lines := strings.Split(strings.TrimRight(tb, "\n"), "\n")
	if got := elideLibraryTop(lines); strings.Join(got, "\n") != strings.Join(lines, "\n") {
		t.Errorf("elideLibraryTop changed a traceback with two library frames at the top:\n%s", strings.Join(got, "\n"))
	}
}

// A fake stream's frames at the top of a blocked goroutine are library
// frames, elided as gRPC's: but the last, the call the code made.
func TestElideLibraryTopElidesFakesFrames(t *testing.T) {
	tb := tracebackOf(
		"github.com/streamtest/streamtest/fakes.(*pipe).waitLocked",
		"github.com/streamtest/streamtest/fakes.(*pipe).takeLocked",
		"github.com/streamtest/streamtest/fakes.(*clientCore[...]).RecvMsg",
		"github.com/streamtest/streamtest/fakes.(*ClientStream[...]).Recv",
		"example.com/app.consume")
	got := strings.Join(elideLibraryTop(strings.Split(strings.TrimRight(tb, "\n"), "\n")), "\n")
	if !strings.Contains(got, "... (3 frames inside gRPC and streamtest elided)") ||
		strings.Contains(got, "waitLocked") || !strings.Contains(got, "fakes.(*ClientStream[...]).Recv") || !strings.Contains(got, "example.com/app.consume") {
		t.Errorf("elideLibraryTop on a call blocked in a fake stream:\n%s", got)
	}
}

// renderBlocked leaves out grpctest's frames that run the call, but not a
// function of package grpctest in a _test.go file: a test of grpctest's
// own, which is the code that made the call.
func TestRenderBlockedKeepsGrpctestsOwnTestFrames(t *testing.T) {
	tb := "goroutine 7 [chan receive]:\n" +
		"github.com/streamtest/streamtest/grpctest.TestSomething.func1()\n\t/src/grpctest/some_test.go:42 +0x1\n" +
		"github.com/streamtest/streamtest/grpctest.start[...].func1()\n\t/src/grpctest/blocking.go:119 +0x1\n" +
		"created by github.com/streamtest/streamtest/grpctest.start[...] in goroutine 6\n\t/src/grpctest/blocking.go:119 +0x1\n"
	got := renderBlocked(tb)
	if !strings.Contains(got, "grpctest.TestSomething.func1()") || !strings.Contains(got, "some_test.go:42") {
		t.Errorf("renderBlocked left out the test's own frame:\n%s", got)
	}
	if strings.Contains(got, "blocking.go") || strings.Contains(got, "created by") {
		t.Errorf("renderBlocked kept the frames that run the call:\n%s", got)
	}
}
