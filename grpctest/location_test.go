package grpctest_test

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
	"time"

	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/streamtest/streamtest/grpctest"
)

// The file:line that testing prints in front of a report can only be seen
// in the output of a real test: a spy testing.TB does not compute it.
// TestReportLocations runs each scenario of TestLocationScenarios in a child
// process of this test binary, as a real (failing) test, and checks that
// every report points at the scenario's own line: the line that printed
// "want-location: file:line" on the child's stdout.

const locationChildEnv = "STREAMTEST_LOCATION_CHILD"

var locationScenarios = map[string]func(t *testing.T){
	// Reported by Close, run by t.Cleanup: at the NewServer line.
	"UndrainedStream": func(t *testing.T) {
		wantLocationNextLine()
		srv := grpctest.NewServer(t, interopService)
		stream, err := client(srv).FullDuplexCall(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_ = stream
	},
	"StuckHandlerAndGoroutine": func(t *testing.T) {
		release := make(chan struct{})
		t.Cleanup(func() { close(release) }) // runs after Close
		h := &leakingHandler{release: release, entered: make(chan struct{})}
		wantLocationNextLine()
		srv := grpctest.NewServer(t, service(h), grpctest.WithCloseTimeout(20*time.Millisecond))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if _, err := client(srv).FullDuplexCall(ctx); err != nil {
			t.Fatal(err)
		}
		<-h.entered
	},
	// Reported by an explicit Close: at the Close line.
	"ExplicitClose": func(t *testing.T) {
		srv := grpctest.NewServer(t, interopService)
		if _, err := client(srv).FullDuplexCall(context.Background()); err != nil {
			t.Fatal(err)
		}
		wantLocationNextLine()
		srv.Close()
	},
	// A panic in a call nobody waited for, reported by the Pending's
	// cleanup: at the GoErr line.
	"PanicInGoErr": func(t *testing.T) {
		wantLocationNextLine()
		p := grpctest.GoErr(t, func() error { panic("boom") })
		<-p.Done()
	},
	// A Pending call left blocked on something that is not a harness
	// stream, reported by the Close that adopted it: at the NewServer line.
	"StuckGo": func(t *testing.T) {
		release := make(chan struct{})
		t.Cleanup(func() { close(release) }) // runs after Close
		wantLocationNextLine()
		grpctest.NewServer(t, nil, grpctest.WithCloseTimeout(20*time.Millisecond))
		grpctest.Go(t, func() (int, error) { <-release; return 0, nil })
	},
}

// wantLocationNextLine prints, for the parent process, the file:line of
// the line after its caller's.
func wantLocationNextLine() {
	_, file, line, _ := runtime.Caller(1)
	fmt.Printf("want-location: %s:%d\n", filepath.Base(file), line+1)
}

// leakingHandler's FullDuplexCall starts a goroutine that outlives it and
// then ignores its context until release is closed.
type leakingHandler struct {
	testgrpc.UnimplementedTestServiceServer
	release chan struct{}
	entered chan struct{}
}

func (h *leakingHandler) FullDuplexCall(stream testgrpc.TestService_FullDuplexCallServer) error {
	go func() { <-h.release }()
	close(h.entered)
	<-h.release
	return nil
}

// TestLocationScenarios is run by TestReportLocations in a child process.
func TestLocationScenarios(t *testing.T) {
	name := os.Getenv(locationChildEnv)
	if name == "" {
		t.Skip("run by TestReportLocations in a child process")
	}
	locationScenarios[name](t)
}

var reportLine = regexp.MustCompile(`(?m)^\s+(\S+\.go:\d+): (?:grpctest: .*)$`)

func TestReportLocations(t *testing.T) {
	if os.Getenv(locationChildEnv) != "" {
		t.Skip("in the child process")
	}
	if testing.Short() {
		t.Skip("runs the test binary again")
	}
	wantReports := map[string]int{
		"UndrainedStream":          1,
		"StuckHandlerAndGoroutine": 2, // the handler, the goroutine it started
		"ExplicitClose":            1,
		"PanicInGoErr":             1,
		"StuckGo":                  1,
	}
	for name := range locationScenarios {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestLocationScenarios$", "-test.count=1", "-test.timeout=60s")
			cmd.Env = append(os.Environ(), locationChildEnv+"="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the child test passed, want it to fail:\n%s", out)
			}
			_, want, ok := strings.Cut(string(out), "want-location: ")
			if !ok {
				t.Fatalf("the child printed no want-location:\n%s", out)
			}
			want, _, _ = strings.Cut(want, "\n")
			reports := reportLine.FindAllStringSubmatch(string(out), -1)
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
