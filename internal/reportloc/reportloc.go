// Package reportloc checks where the testing package prints the reports of
// the module's test helpers: the file:line in front of each, which should
// be the line of the user's test (the call of NewServer, Go, Close...),
// not a line of the library. Only a real test's output shows it (a spy
// testing.TB does not compute it), so a test package declares scenarios,
// real tests that fail on purpose, and Check runs each in a child process
// of the test binary.
//
//	var scenarios = map[string]reportloc.Scenario{
//		"UndrainedStream": {Reports: 1, Run: func(t *testing.T) {
//			reportloc.WantNextLine()
//			srv := grpctest.NewServer(t, register)
//			...
//		}},
//	}
//
//	func TestLocationScenarios(t *testing.T) { reportloc.Child(t, scenarios) }
//
//	func TestReportLocations(t *testing.T) {
//		reportloc.Check(t, "TestLocationScenarios", scenarios, regexp.MustCompile(`grpctest: `))
//	}
package reportloc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// Scenario is a real test that fails on purpose: Run makes Reports
// reports, each of which must be printed at the line that follows Run's
// call of WantNextLine.
type Scenario struct {
	Reports int
	Run     func(t *testing.T)
}

// childEnv names, in a child process, the scenario it runs.
const childEnv = "STREAMTEST_REPORTLOC_SCENARIO"

// WantNextLine prints, for the parent process, the file:line of the line
// after its caller's: where the scenario's reports must be printed.
func WantNextLine() {
	_, file, line, _ := runtime.Caller(1)
	fmt.Printf("want-location: %s:%d\n", filepath.Base(file), line+1)
}

// Child runs, in a child process started by Check, the scenario the parent
// named; in any other process it skips t. Call it from the test named to
// Check.
func Child(t *testing.T, scenarios map[string]Scenario) {
	name := os.Getenv(childEnv)
	if name == "" {
		t.Skip("run by reportloc.Check in a child process")
	}
	sc, ok := scenarios[name]
	if !ok {
		t.Fatalf("reportloc: no scenario %q", name)
	}
	sc.Run(t)
}

// Check runs each scenario, in parallel, in a child process of this test
// binary that runs the test childTest (which calls Child), and checks that
// the child fails, and that the lines of its output that report (the
// lines of the form "file.go:N: <text>" whose text matches report) are as
// many as the scenario's Reports and all printed at its WantNextLine line.
// It skips in -short mode and in a child process.
func Check(t *testing.T, childTest string, scenarios map[string]Scenario, report *regexp.Regexp) {
	t.Helper()
	if os.Getenv(childEnv) != "" {
		t.Skip("in the child process")
	}
	if testing.Short() {
		t.Skip("runs the test binary again")
	}
	for name, sc := range scenarios {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^"+childTest+"$", "-test.count=1", "-test.timeout=60s")
			cmd.Env = append(os.Environ(), childEnv+"="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the child test passed, want it to fail:\n%s", out)
			}
			for _, p := range problems(string(out), sc.Reports, report) {
				t.Errorf("%s\nthe child's output:\n%s", p, out)
			}
		})
	}
}

// reportLine is a line of a test's output that testing prefixed with the
// file:line of a report.
var reportLine = regexp.MustCompile(`(?m)^\s+(\S+\.go:\d+): (.*)$`)

// problems checks the output of a child: its reports (the report lines
// whose text matches report) must be n, all at the line it printed with
// WantNextLine.
func problems(out string, n int, report *regexp.Regexp) []string {
	_, want, ok := strings.Cut(out, "want-location: ")
	if !ok {
		return []string{"the child printed no want-location"}
	}
	want, _, _ = strings.Cut(want, "\n")
	var ps []string
	got := 0
	for _, m := range reportLine.FindAllStringSubmatch(out, -1) {
		if !report.MatchString(m[2]) {
			continue
		}
		got++
		if m[1] != want {
			ps = append(ps, fmt.Sprintf("report printed at %s, want %s: %s", m[1], want, strings.TrimSpace(m[0])))
		}
	}
	if got != n {
		ps = append(ps, fmt.Sprintf("%d reports, want %d", got, n))
	}
	return ps
}
