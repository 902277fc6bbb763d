package grpctest

import (
	"context"
	"runtime/pprof"
	"testing"
)

// parkedForScan waits for release, labelled as a goroutine of harness id.
func parkedForScan(id string, started, release chan struct{}) {
	pprof.Do(context.Background(), pprof.Labels(labelHarness, id), func(context.Context) {
		close(started)
		<-release
	})
}

// A goroutine of the harness that the goroutine profile left out is found
// through the tracebacks (with their labels), once; one the profile has is
// not counted twice.
func TestLabelledTracebacksFillTheProfilesGaps(t *testing.T) {
	const id = "tracebacks-test"
	started, release := make(chan struct{}), make(chan struct{})
	go parkedForScan(id, started, release)
	<-started
	defer close(release)

	find := func(gs []goroutineGroup) (n int) {
		for _, g := range gs {
			if g.has([]string{"github.com/streamtest/streamtest/grpctest.parkedForScan"}) {
				n += g.count
			}
		}
		return n
	}
	if n := find(withLabelledTracebacks(nil, id)); n != 1 {
		t.Errorf("with the profile's groups left out: %d goroutine(s) of parkedForScan found, want 1", n)
	}
	profile := labelled(id)
	if n := find(profile); n != 1 {
		t.Fatalf("the profile shows %d goroutine(s) of parkedForScan, want 1", n)
	}
	if n := find(withLabelledTracebacks(profile, id)); n != 1 {
		t.Errorf("with the profile's groups: %d goroutine(s) of parkedForScan, want 1 (not counted twice)", n)
	}
	if n := find(withLabelledTracebacks(nil, "another harness")); n != 0 {
		t.Errorf("another harness's scan found %d goroutine(s) of parkedForScan, want 0", n)
	}
}
