package fakes_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/streamtest/streamtest/fakes"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// A client that forgets CloseSend while the script waits in RecvEOF, and a
// test that waits with t.Context(), hang until go test's -timeout: a
// little before it, the fake says which step each call is in. In a test
// binary of its own, run with a short -timeout.
func TestStuckScriptIsDescribedBeforeTheTimeout(t *testing.T) {
	if os.Getenv("STREAMTEST_STUCK") == "1" {
		srv := fakes.NewServer(t)
		srv.Expect(fullDuplex).Recv(req(1)).RecvEOF().Send(res(1))
		srv.Expect(unaryCall).RecvAny().Send(&testpb.SimpleResponse{})
		stream, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(req(1)); err != nil {
			t.Fatal(err)
		}
		_, _ = stream.Recv() // no CloseSend: the script waits in RecvEOF, and this Recv forever
		return
	}
	if testing.Short() {
		t.Skip("runs a test binary that times out after 3s")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStuckScriptIsDescribedBeforeTheTimeout$", "-test.count=1", "-test.timeout=3s")
	cmd.Env = append(os.Environ(), "STREAMTEST_STUCK=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("the stuck test binary ended with %v, want it to time out; output:\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{
		"fakes: TestStuckScriptIsDescribedBeforeTheTimeout is still running ",
		"ms before go test's -timeout ends the test binary: it looks stuck. What the fake server sees:", // ms: a tenth of the time left when the harness was built
		`Expect("/grpc.testing.TestService/FullDuplexCall") at timeoutwarn_test.go:`,
		"(call 1 of 1) is in step 2 RecvEOF() (timeoutwarn_test.go:",
		`Expect("/grpc.testing.TestService/UnaryCall") at timeoutwarn_test.go:`,
		"expects 1 call(s), 0 made so far",
		"grpctest: TestStuckScriptIsDescribedBeforeTheTimeout is still running", // the harness's, with the timeline
		"panic: test timed out after 3s",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the output lacks %q:\n%s", want, text)
		}
	}
}
