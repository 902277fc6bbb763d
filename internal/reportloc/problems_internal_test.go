package reportloc

import (
	"regexp"
	"strings"
	"testing"
)

// problems finds what is wrong in a child's output, and nothing in a
// right one.
func TestProblems(t *testing.T) {
	report := regexp.MustCompile(`^check: `)
	const head = "want-location: a_test.go:10\n--- FAIL: TestScenarios (0.00s)\n"
	for _, tc := range []struct {
		name, out string
		n         int
		want      string // in the one problem; "" for none
	}{
		{"right", head + "    a_test.go:10: check: failed\n    a_test.go:12: other\n", 1, ""},
		{"elsewhere", head + "    helper.go:7: check: failed\n", 1, "report printed at helper.go:7, want a_test.go:10"},
		{"too few", head + "    a_test.go:10: check: failed\n", 2, "1 reports, want 2"},
		{"too many", head + "    a_test.go:10: check: failed\n    a_test.go:10: check: again\n", 1, "2 reports, want 1"},
		{"no want-location", "--- FAIL: TestScenarios (0.00s)\n", 0, "no want-location"},
	} {
		ps := problems(tc.out, tc.n, report)
		switch {
		case tc.want == "" && len(ps) > 0:
			t.Errorf("%s: problems %q, want none", tc.name, ps)
		case tc.want != "" && (len(ps) != 1 || !strings.Contains(ps[0], tc.want)):
			t.Errorf("%s: problems %q, want one containing %q", tc.name, ps, tc.want)
		}
	}
}
