package grpctest

import (
	"context"
	"runtime/pprof"
	"strings"
	"testing"
	"unsafe"
)

// inLabels runs f on the calling goroutine: f and the goroutines it starts
// carry ctx's labels, and the caller gets its own back, after a panic too.
func TestInLabelsLabelsFAndRestoresTheCaller(t *testing.T) {
	pprof.Do(context.Background(), pprof.Labels("test", "mine"), func(context.Context) {
		before := getProfLabel()
		harness := pprof.WithLabels(context.Background(), pprof.Labels(labelHarness, "inlabels-test"))
		var inside, started unsafe.Pointer
		if err := inLabels(harness, func() {
			inside = getProfLabel()
			done := make(chan struct{})
			go func() {
				defer close(done)
				started = getProfLabel()
			}()
			<-done
		}); err != nil {
			t.Fatalf("inLabels: %v", err)
		}
		if inside == before {
			t.Errorf("inside f: the caller's labels; want ctx's")
		}
		if started != inside {
			t.Errorf("a goroutine f started has other labels than f; want ctx's")
		}
		if after := getProfLabel(); after != before {
			t.Errorf("after inLabels: the caller's labels were not given back")
		}

		err := inLabels(harness, func() { panic("boom") })
		if err == nil || !strings.Contains(err.Error(), "panicked: boom") {
			t.Errorf("inLabels(f that panics) = %v; want an error with \"panicked: boom\"", err)
		}
		if after := getProfLabel(); after != before {
			t.Errorf("after a panic in f: the caller's labels were not given back")
		}
	})
}
