package grpctest_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/streamtest/streamtest/grpctest"

	testgrpc "google.golang.org/grpc/interop/grpc_testing"
)

// A test stuck on its harness (a Recv that nothing answers) is told about
// a little before go test's -timeout ends the binary: what the harness
// sees, the recorded timeline included, which the timeout's goroutine
// dump alone does not say. In a test binary of its own, run with a short
// -timeout.
func TestStuckTestIsDescribedBeforeTheTimeout(t *testing.T) {
	if os.Getenv("STREAMTEST_STUCK") == "1" {
		srv := grpctest.NewServer(t, service(silentHandler{}))
		stream, err := client(srv).FullDuplexCall(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 7}}}); err != nil {
			t.Fatal(err)
		}
		_, _ = stream.Recv() // nothing ever answers
		return
	}
	if testing.Short() {
		t.Skip("runs a test binary that times out after 3s")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStuckTestIsDescribedBeforeTheTimeout$", "-test.count=1", "-test.timeout=3s")
	cmd.Env = append(os.Environ(), "STREAMTEST_STUCK=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("the stuck test binary ended with %v, want it to time out; output:\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{
		"grpctest: TestStuckTestIsDescribedBeforeTheTimeout is still running ",
		"ms before go test's -timeout ends the test binary: it looks stuck. What its harness sees:", // ms: a tenth of the time left when the harness was built
		"handlers still running: /grpc.testing.TestService/FullDuplexCall (1)",
		"client stream /grpc.testing.TestService/FullDuplexCall opened at timeoutwarn_test.go:",
		"timeline:",
		"client  send       /grpc.testing.TestService/FullDuplexCall  {response_parameters:",
		"size:7",
		"panic: test timed out after 3s",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the output lacks %q:\n%s", want, text)
		}
	}
	if strings.Index(text, "it looks stuck") > strings.Index(text, "panic: test timed out") {
		t.Errorf("the warning comes after the timeout's panic:\n%s", text)
	}
}
