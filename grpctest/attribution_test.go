package grpctest_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
)

// startsALoop is a client interceptor of the code under test's that, on
// its first call, starts a goroutine that calls EmptyCall on the same
// connection in a loop until stop, and closes done when it returns.
func startsALoop(stop <-chan struct{}, done chan<- struct{}) grpc.UnaryClientInterceptor {
	var once sync.Once
	return func(ctx context.Context, method string, req, reply any, c *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		once.Do(func() {
			go func() { // started inside a call: the harness's client's
				defer close(done)
				for {
					select {
					case <-stop:
						return
					default:
					}
					_ = c.Invoke(context.Background(), "/grpc.testing.TestService/EmptyCall", &testgrpc.Empty{}, &testgrpc.Empty{})
				}
			}()
		})
		return invoker(ctx, method, req, reply, c, opts...)
	}
}

// roundsUnreported runs round rounds times, each with a spy and a fresh
// startsALoop interceptor, and returns in how many rounds the spy got no
// report by the time round returned; it stops each round's loop after.
func roundsUnreported(t *testing.T, rounds int, round func(spy *spytb.TB, loop grpc.UnaryClientInterceptor)) int {
	missed := 0
	for range rounds {
		spy := spytb.New(t)
		stop, done := make(chan struct{}), make(chan struct{})
		round(spy, startsALoop(stop, done))
		if len(spy.Reports()) == 0 {
			missed++
		}
		close(stop)
		<-done
		spy.End()
	}
	return missed
}

// A goroutine a client interceptor of the code under test starts inside
// a call (on the harness's client side) loops calling the harness until
// stop: a leak of the harness's client (as
// TestLeakCheckReportsAClientGoroutineBlockedInACall). Once Close has
// closed the connection its calls fail at once, so it is often caught
// entering or leaving a call: it carries the harness's client labels
// either way.
func TestLeakCheckReportsAClientRetryLoop(t *testing.T) {
	const rounds = 40
	missed := roundsUnreported(t, rounds, func(spy *spytb.TB, loop grpc.UnaryClientInterceptor) {
		s := grpctest.NewServer(spy, interopService, grpctest.WithCloseTimeout(20*time.Millisecond), grpctest.WithoutRecorder(),
			grpctest.WithDialOptions(grpc.WithChainUnaryInterceptor(loop)))
		if _, err := client(s).EmptyCall(context.Background(), &testgrpc.Empty{}); err != nil {
			t.Fatal(err)
		}
		s.Close()
	})
	if missed > 0 {
		t.Errorf("the client's leaked retry loop went unreported in %d of %d rounds", missed, rounds)
	}
}

// relayEmpty's EmptyCall calls EmptyCall on backend with the handler's
// context.
type relayEmpty struct {
	testgrpc.UnimplementedTestServiceServer
	backend *grpctest.Server
}

func (r *relayEmpty) EmptyCall(ctx context.Context, in *testgrpc.Empty) (*testgrpc.Empty, error) {
	return client(r.backend).EmptyCall(ctx, in)
}

// A client interceptor on the backend's connection (the code under test's)
// starts, on its first call, a goroutine that loops calling the backend
// until stop. The first call comes from the front's handler, inside the
// backend's call: the goroutine carries the backend's client labels, and
// the backend reports it.
func TestLeakCheckReportsALoopStartedInAHandlersCall(t *testing.T) {
	const rounds = 30
	missed := roundsUnreported(t, rounds, func(spy *spytb.TB, loop grpc.UnaryClientInterceptor) {
		b := grpctest.NewServer(spy, interopService, grpctest.WithCloseTimeout(20*time.Millisecond), grpctest.WithoutRecorder(),
			grpctest.WithDialOptions(grpc.WithChainUnaryInterceptor(loop)))
		f := grpctest.NewServer(spy, service(&relayEmpty{backend: b}), grpctest.WithCloseTimeout(20*time.Millisecond), grpctest.WithoutRecorder())
		if _, err := client(f).EmptyCall(context.Background(), &testgrpc.Empty{}); err != nil {
			t.Fatal(err)
		}
		b.Close()
		f.Close()
	})
	if missed > 0 {
		t.Errorf("the leaked loop went unreported by both harnesses in %d of %d rounds", missed, rounds)
	}
}

// A stream client interceptor (the code under test's) panics; the test
// recovers the panic (it checks that the client panics on bad input, say).
// The harness gives the test's goroutine its own labels back all the same
// (it used to keep the call's, and a goroutine it started later was
// blamed on the harness).
func TestPanicInACallGivesTheCallerItsLabelsBack(t *testing.T) {
	spy := spytb.New(t)
	boom := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		panic("bad input")
	}
	s := grpctest.NewServer(spy, interopService, grpctest.WithCloseTimeout(20*time.Millisecond),
		grpctest.WithDialOptions(grpc.WithChainStreamInterceptor(boom)))
	func() {
		defer func() { _ = recover() }()
		_, _ = client(s).FullDuplexCall(context.Background())
	}()
	release := make(chan struct{})
	done := make(chan struct{})
	go func() { // the test's own worker, unrelated to the harness
		defer close(done)
		<-release
	}()
	s.Close()
	close(release)
	<-done
	spy.WantClean(t)
}

// sliceSender is a stream of a type that is not comparable (a value with
// a slice): SendUntilBlocked skips its concurrent-Send check for it (and
// used to panic hashing it).
type sliceSender struct {
	block chan struct{}
	_     []int
}

func (s sliceSender) Send(i int) error {
	if i == 3 {
		<-s.block
	}
	return nil
}

func TestSendUntilBlockedOnAStreamNotComparable(t *testing.T) {
	spy := spytb.New(t)
	s := sliceSender{block: make(chan struct{})}
	grpctest.SendUntilBlocked[int](spy, s, func(i int) int { return i }, 5*time.Millisecond)
	close(s.block)
	spy.End()
	spy.WantClean(t)
}
