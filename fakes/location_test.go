package fakes_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/streamtest/streamtest/fakes"
)

// The file:line that testing prints in front of a report can only be seen
// in the output of a real test: a spy testing.TB does not compute it.
// TestServerReportLocations runs each scenario of
// TestServerLocationScenarios in a child process of this test binary, as a
// real (failing) test, and checks that every report points at the
// scenario's own line: the line that printed "want-location: file:line" on
// the child's stdout.

const serverLocationChildEnv = "STREAMTEST_FAKES_LOCATION_CHILD"

var serverLocationScenarios = map[string]func(t *testing.T){
	// Reported by the Close that t.Cleanup runs, the harness's report of the
	// undrained stream and the fake's of the script: at the NewServer line.
	"UndrainedStreamAndCallNotMade": func(t *testing.T) {
		wantServerLocationNextLine()
		srv := fakes.NewServer(t)
		srv.Expect(fullDuplex).RecvAny()
		srv.Expect(unaryCall).Send(&testpb.SimpleResponse{}).Return(nil)
		stream, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_ = stream
	},
	// A mismatch, reported at Close: at the NewServer line.
	"Mismatch": func(t *testing.T) {
		wantServerLocationNextLine()
		srv := fakes.NewServer(t)
		srv.Expect(fullDuplex).Recv(req(1)).RecvEOF()
		_, _ = exchange(t.Context(), testpb.NewTestServiceClient(srv.Conn()), req(2))
	},
	// Reported by an explicit Close: at the Close line.
	"ExplicitClose": func(t *testing.T) {
		srv := fakes.NewServer(t)
		srv.Expect(fullDuplex).RecvEOF()
		wantServerLocationNextLine()
		srv.Close()
	},
	// Misuse, reported at once: at the line of the misuse.
	"UnknownMethod": func(t *testing.T) {
		srv := fakes.NewServer(t)
		wantServerLocationNextLine()
		srv.Expect(unknownMethod)
	},
}

// wantServerLocationNextLine prints, for the parent process, the file:line
// of the line after its caller's.
func wantServerLocationNextLine() {
	_, file, line, _ := runtime.Caller(1)
	fmt.Printf("want-location: %s:%d\n", filepath.Base(file), line+1)
}

// TestServerLocationScenarios is run by TestServerReportLocations in a
// child process.
func TestServerLocationScenarios(t *testing.T) {
	name := os.Getenv(serverLocationChildEnv)
	if name == "" {
		t.Skip("run by TestServerReportLocations in a child process")
	}
	serverLocationScenarios[name](t)
}

var serverReportLine = regexp.MustCompile(`(?m)^\s+(\S+\.go:\d+): (?:grpctest|fakes): .*$`)

func TestServerReportLocations(t *testing.T) {
	if os.Getenv(serverLocationChildEnv) != "" {
		t.Skip("in the child process")
	}
	if testing.Short() {
		t.Skip("runs the test binary again")
	}
	wantReports := map[string]int{
		"UndrainedStreamAndCallNotMade": 2, // the harness's undrained stream, the fake's script
		"Mismatch":                      1,
		"ExplicitClose":                 1,
		"UnknownMethod":                 1,
	}
	for name := range serverLocationScenarios {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestServerLocationScenarios$", "-test.count=1", "-test.timeout=60s")
			cmd.Env = append(os.Environ(), serverLocationChildEnv+"="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the child test passed, want it to fail:\n%s", out)
			}
			_, want, ok := strings.Cut(string(out), "want-location: ")
			if !ok {
				t.Fatalf("the child printed no want-location:\n%s", out)
			}
			want, _, _ = strings.Cut(want, "\n")
			reports := serverReportLine.FindAllStringSubmatch(string(out), -1)
			if len(reports) != wantReports[name] {
				t.Errorf("%d reports, want %d:\n%s", len(reports), wantReports[name], out)
			}
			for _, r := range reports {
				if r[1] != want {
					t.Errorf("report printed at %s, want %s:\n%s", r[1], want, r[0])
				}
			}
		})
	}
}
