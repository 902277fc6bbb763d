package grpctest_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"
)

// subscriber is client code of the kind WithTestGoroutineCheck is for: a
// goroutine that receives from a stream and hands each message to out.
// With stuck, it blocks on out after its stream ends (nobody reads out any
// more), until release is closed: the leak.
func subscriber(ctx context.Context, c testgrpc.TestServiceClient, out chan<- int, release <-chan struct{}, stuck bool) error {
	stream, err := c.FullDuplexCall(ctx)
	if err != nil {
		return err
	}
	if err := stream.Send(&testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}}}); err != nil {
		return err
	}
	go func() {
		for {
			res, err := stream.Recv()
			if err != nil {
				if stuck {
					select {
					case out <- -1: // nobody reads: the bug
					case <-release:
					}
				}
				return
			}
			select {
			case out <- len(res.GetPayload().GetBody()):
			case <-ctx.Done():
				return
			}
		}
	}()
	return nil
}

// WithTestGoroutineCheck: a goroutine the test's code started after
// NewServer and left running is reported by the test's Close, with who
// started it and its stack; one the code stops is not, and without the
// option neither is reported by Close.
func TestTestGoroutineCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   []grpctest.Option
		stuck  bool
		report bool
	}{
		{"stopped", []grpctest.Option{grpctest.WithTestGoroutineCheck()}, false, false},
		{"left running", []grpctest.Option{grpctest.WithTestGoroutineCheck()}, true, true},
		{"left running, without the option", nil, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			t.Cleanup(func() { close(release) }) // after the spy's cleanups: ends the leak
			spy := spytb.New(t)
			opts := append([]grpctest.Option{grpctest.WithCloseTimeout(100 * time.Millisecond)}, tc.opts...)
			srv := grpctest.NewServer(spy, interopService, opts...)
			ctx, cancel := context.WithCancel(t.Context())
			out := make(chan int)
			if err := subscriber(ctx, client(srv), out, release, tc.stuck); err != nil {
				t.Fatal(err)
			}
			if got := <-out; got != 1 {
				t.Fatalf("got a payload of %d bytes, want 1", got)
			}
			cancel() // the code stops its subscription; a stuck receiver stays
			spy.End()
			if !tc.report {
				spy.WantClean(t)
				return
			}
			spy.Want(t, 1, "1 goroutine(s) started during this harness's life still running",
				"a goroutine the test started after NewServer (itself, or in the code under test it called) must be stopped before the harness closes",
				"started by the test, or code it called, after NewServer (WithTestGoroutineCheck)",
				"grpctest_test.subscriber.func1")
		})
	}
}

// A goroutine started before NewServer is not the harness's; a goroutine
// stopped by a cleanup registered after NewServer (which runs before
// Close) is not left running; calls the test makes on the harness, and
// the goroutines gRPC starts for them, are the client's as before: none
// is reported.
func TestTestGoroutineCheckCleanUses(t *testing.T) {
	spy := spytb.New(t)
	before := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); <-before }()
	srv := grpctest.NewServer(spy, interopService, grpctest.WithTestGoroutineCheck(), grpctest.WithCloseTimeout(100*time.Millisecond))
	after := make(chan struct{})
	wg.Add(1)
	go func() { defer wg.Done(); <-after }()
	spy.Cleanup(func() { close(after) })

	c := client(srv)
	if _, err := c.EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
		t.Fatal(err)
	}
	stream, err := c.FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	call := grpctest.Go(spy, stream.Recv)
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := call.Wait(5 * time.Second); err != io.EOF {
		t.Fatalf("Recv after CloseSend: %v, want io.EOF", err)
	}
	extra := srv.Dial()
	if _, err := testgrpc.NewTestServiceClient(extra).EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
		t.Fatal(err)
	}
	spy.End()
	spy.WantClean(t)
	close(before)
	wg.Wait()
}

// Parallel tests, every other one leaking: each harness reports its own
// test's goroutine, and only that one.
func TestTestGoroutineCheckParallel(t *testing.T) {
	const n = 8
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	spies := make([]*spytb.TB, n)
	t.Run("group", func(t *testing.T) {
		for i := range n {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				spy := spytb.New(t)
				spies[i] = spy
				srv := grpctest.NewServer(spy, interopService, grpctest.WithTestGoroutineCheck(), grpctest.WithCloseTimeout(200*time.Millisecond))
				ctx, cancel := context.WithCancel(t.Context())
				out := make(chan int)
				if err := subscriber(ctx, client(srv), out, release, i%2 == 1); err != nil {
					t.Error(err)
					cancel()
					return
				}
				<-out
				cancel()
				spy.End()
			})
		}
	})
	for i, spy := range spies {
		if spy == nil {
			continue
		}
		if i%2 == 0 {
			spy.WantClean(t)
			continue
		}
		spy.Want(t, 1, "1 goroutine(s) started during this harness's life still running", "grpctest_test.subscriber.func1")
	}
}

// WithTestGoroutineCheck contradicts WithoutLeakCheck.
func TestTestGoroutineCheckMisuse(t *testing.T) {
	spy := spytb.New(t)
	spy.Run(func() {
		grpctest.NewServer(spy, interopService, grpctest.WithTestGoroutineCheck(), grpctest.WithoutLeakCheck())
	})
	spy.Want(t, 1, "grpctest.NewServer: ", "WithTestGoroutineCheck and WithoutLeakCheck both given")
}

// A call the test started with GoErr and left blocked is reported once, as
// such (see Blocking), not a second time as a goroutine the test started.
func TestTestGoroutineCheckPendingLeftBlocked(t *testing.T) {
	never := make(chan struct{})
	t.Cleanup(func() { close(never) })
	spy := spytb.New(t)
	grpctest.NewServer(spy, interopService, grpctest.WithTestGoroutineCheck(), grpctest.WithCloseTimeout(100*time.Millisecond))
	call := grpctest.GoErr(spy, func() error { <-never; return nil })
	call.AssertBlocked(10 * time.Millisecond)
	spy.End()
	spy.Want(t, 1, "the call started by GoErr at testgoroutines_test.go:", "was still blocked 100ms after Close")
}

// Client code that reads the response it wants from a stream the server
// has ended and then cancels, without reading the status: the recorder
// waits a moment for that status on a goroutine the cancel starts, which
// is the recorder's, not a goroutine the test left running, even when
// Close's wait is shorter than the recorder's (found by a review: it was
// reported with short close timeouts).
func TestTestGoroutineCheckLeavesTheRecordersGoroutines(t *testing.T) {
	for _, d := range []time.Duration{5 * time.Millisecond, 10 * time.Millisecond} {
		t.Run(d.String(), func(t *testing.T) {
			spy := spytb.New(t)
			srv := grpctest.NewServer(spy, interopService, grpctest.WithTestGoroutineCheck(), grpctest.WithCloseTimeout(d))
			ctx, cancel := context.WithCancel(context.Background())
			stream, err := client(srv).StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{
				ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}}})
			if err != nil {
				cancel()
				t.Fatal(err)
			}
			if _, err := stream.Recv(); err != nil {
				cancel()
				t.Fatal(err)
			}
			serverEnded := func(evs []recorder.Event) bool {
				return slices.ContainsFunc(evs, func(e recorder.Event) bool { return e.Side == recorder.Server && e.Kind == recorder.End })
			}
			if err := srv.Recorder().Wait(t.Context(), serverEnded); err != nil {
				t.Fatal(err)
			}
			cancel()
			srv.Close() // on the test's goroutine, as t.Cleanup would
			spy.End()
			spy.WantClean(t)
		})
	}
}
