package recorder

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// The recorders of two processes are numbered from different starts, so
// that a call-id header from a client in one is not taken by a recorder
// in the other for a call of its own.
func TestRecorderIDsDifferAcrossProcesses(t *testing.T) {
	if os.Getenv("STREAMTEST_PRINT_RECORDER_ID") != "" {
		fmt.Printf("recorder id %d\n", New().id)
		return
	}
	ids := make(map[uint64]bool)
	for range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRecorderIDsDifferAcrossProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), "STREAMTEST_PRINT_RECORDER_ID=1")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		_, rest, ok := strings.Cut(string(out), "recorder id ")
		id, perr := strconv.ParseUint(strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0]), 10, 64)
		if !ok || perr != nil {
			t.Fatalf("child printed no recorder id:\n%s", out)
		}
		ids[id] = true
	}
	if len(ids) != 3 {
		t.Errorf("three processes numbered their first recorder %v: want three numbers", ids)
	}
}
