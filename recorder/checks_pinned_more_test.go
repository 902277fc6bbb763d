package recorder_test

// Tests that pin behaviour of the recorder a mutation run found unpinned:
// each fails when the code it names is broken.

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/streamtest/streamtest/recorder"
)

// WithMethods given twice records the methods of both.
func TestWithMethodsTwiceAddsUp(t *testing.T) {
	const a, b = "/grpc.testing.TestService/UnaryCall", "/grpc.testing.TestService/EmptyCall"
	rec := recorder.New(recorder.WithMethods(a), recorder.WithMethods(b))
	for _, m := range []string{a, b} {
		if _, ok := rec.CallID(rec.TagContext(context.Background(), m)); !ok {
			t.Errorf("%s is not recorded by a recorder made WithMethods(%q), WithMethods(%q)", m, a, b)
		}
	}
	if _, ok := rec.CallID(rec.TagContext(context.Background(), "/grpc.testing.TestService/StreamingOutputCall")); ok {
		t.Error("a method named by neither WithMethods is recorded")
	}
}

// Two Waits in progress at once are both woken by a new event.
func TestConcurrentWaitsAreBothWoken(t *testing.T) {
	rec := recorder.New()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ready, done sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			first := true
			errs[i] = rec.Wait(ctx, func(evs []recorder.Event) bool {
				if first { // Wait has taken its wake-up channel before it calls cond
					first = false
					ready.Done()
				}
				return len(evs) > 0
			})
		}()
	}
	ready.Wait()
	// A unary call recorded by the client interceptor, with no connection.
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	if err := rec.UnaryClientInterceptor()(ctx, "/grpc.testing.TestService/UnaryCall", &testpb.SimpleRequest{}, &testpb.SimpleResponse{}, nil, invoker); err != nil {
		t.Fatal(err)
	}
	done.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Wait %d: %v, want it woken by the call's events", i, err)
		}
	}
}

// Reset wakes the Waits in progress: a condition that holds on what Reset
// leaves (here, no event) is seen at once.
func TestResetWakesWait(t *testing.T) {
	rec := recorder.New()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	if err := rec.UnaryClientInterceptor()(ctx, "/grpc.testing.TestService/UnaryCall", &testpb.SimpleRequest{}, &testpb.SimpleResponse{}, nil, invoker); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	waited := make(chan error, 1)
	go func() {
		first := true
		waited <- rec.Wait(ctx, func(evs []recorder.Event) bool {
			if first {
				first = false
				close(ready)
			}
			return len(evs) == 0
		})
	}()
	<-ready
	rec.Reset()
	if err := <-waited; err != nil {
		t.Errorf("Wait for no events: %v, want it woken by Reset", err)
	}
}
