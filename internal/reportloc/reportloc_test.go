package reportloc_test

import (
	"regexp"
	"testing"

	"go.uber.org/goleak"

	"github.com/streamtest/streamtest/internal/reportloc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// check reports a failure at its caller's line, as the module's helpers
// do.
func check(t *testing.T, ok bool) {
	t.Helper()
	if !ok {
		t.Errorf("check: failed")
	}
}

// checkAtEnd registers a cleanup that reports, as the harness's Close
// does: testing prints it at the line that called checkAtEnd.
func checkAtEnd(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		t.Helper()
		t.Errorf("check: failed at the end")
	})
}

var scenarios = map[string]reportloc.Scenario{
	"Helper": {Reports: 1, Run: func(t *testing.T) {
		reportloc.WantNextLine()
		check(t, false)
		check(t, true) // no report
		t.Errorf("another failure, not a report of check's")
	}},
	"Cleanup": {Reports: 1, Run: func(t *testing.T) {
		reportloc.WantNextLine()
		checkAtEnd(t)
	}},
}

func TestScenarios(t *testing.T) { reportloc.Child(t, scenarios) }

func TestCheck(t *testing.T) {
	reportloc.Check(t, "TestScenarios", scenarios, regexp.MustCompile(`^check: `))
}
