package timeoutwarn_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/timeoutwarn"
)

func TestMain(m *testing.M) { grpctest.VerifyTestMain(m) }

func TestMargin(t *testing.T) {
	for left, want := range map[time.Duration]time.Duration{
		10 * time.Minute: 5 * time.Second,
		30 * time.Second: 3 * time.Second,
		time.Second:      100 * time.Millisecond,
		0:                100 * time.Millisecond,
	} {
		if got := timeoutwarn.Margin(left); got != want {
			t.Errorf("Margin(%v) = %v, want %v", left, got, want)
		}
	}
}

// deadlineTB has the Deadline and Name a *testing.T has.
type deadlineTB struct {
	deadline time.Time
	ok       bool
}

func (d deadlineTB) Deadline() (time.Time, bool) { return d.deadline, d.ok }
func (d deadlineTB) Name() string                { return "TestStuck" }

// signalWriter is an Out that hands each write to a channel.
type signalWriter struct{ writes chan string }

func (w signalWriter) Write(p []byte) (int, error) { w.writes <- string(p); return len(p), nil }

// capture replaces Out for the test. The package's tests run one at a time.
func capture(t *testing.T) chan string {
	w := signalWriter{writes: make(chan string, 4)}
	old := timeoutwarn.Out
	timeoutwarn.Out = w
	t.Cleanup(func() { timeoutwarn.Out = old })
	return w.writes
}

// The warning comes a Margin before the deadline, with the report.
func TestScheduleWarns(t *testing.T) {
	writes := capture(t)
	var mu sync.Mutex
	reported := false
	start := time.Now()
	stop := timeoutwarn.Schedule(deadlineTB{start.Add(time.Second), true}, "grpctest", "its harness", func() string {
		mu.Lock()
		defer mu.Unlock()
		reported = true
		return "  handlers still running: /a.B/C (1)"
	})
	defer stop()
	select {
	case w := <-writes:
		for _, want := range []string{"grpctest: TestStuck is still running 100ms before go test's -timeout ends the test binary: it looks stuck. What its harness sees:",
			"\n  handlers still running: /a.B/C (1)\n"} {
			if !strings.Contains(w, want) {
				t.Errorf("the warning lacks %q:\n%s", want, w)
			}
		}
		if early := start.Add(900 * time.Millisecond); time.Now().Before(early) {
			t.Errorf("warned %v after Schedule, want at least 900ms (the deadline less the margin)", time.Since(start))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no warning 10s after Schedule, for a deadline 1s away")
	}
	mu.Lock()
	defer mu.Unlock()
	if !reported {
		t.Error("the report was not asked for")
	}
}

// Without a deadline, or once stopped, nothing is printed. The behaviour
// under test is "nothing printed after d": waiting for d is right here.
func TestScheduleSilent(t *testing.T) {
	writes := capture(t)
	never := func() string { t.Error("the report was asked for"); return "" }
	timeoutwarn.Schedule(deadlineTB{time.Now().Add(200 * time.Millisecond), false}, "grpctest", "x", never)
	timeoutwarn.Schedule(struct{}{}, "grpctest", "x", never)
	stop := timeoutwarn.Schedule(deadlineTB{time.Now().Add(200 * time.Millisecond), true}, "grpctest", "x", never)
	stop()
	stop() // twice is fine
	select {
	case w := <-writes:
		t.Errorf("printed %q", w)
	case <-time.After(400 * time.Millisecond):
	}
}
