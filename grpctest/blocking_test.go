package grpctest_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
)

// blockFor is how long a call must hang to count as blocked in these tests.
const blockFor = 50 * time.Millisecond

// echoOne asks the interop server for one response of size n.
func echoOne(n int32) *testgrpc.StreamingOutputCallRequest {
	return &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: n}}}
}

func TestRecvBlocksUntilTheServerSends(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	stream, err := client(srv).FullDuplexCall(spy.Context())
	if err != nil {
		t.Fatal(err)
	}
	recv := grpctest.Go(spy, stream.Recv)
	if !recv.AssertBlocked(blockFor) {
		t.Fatalf("Recv with nothing sent is not blocked:\n%s", spy.Text())
	}
	select {
	case <-recv.Done():
		t.Fatal("Done is closed while Recv is blocked")
	default:
	}
	if err := stream.Send(echoOne(3)); err != nil {
		t.Fatal(err)
	}
	res, err := recv.Wait(5 * time.Second)
	if err != nil || len(res.GetPayload().GetBody()) != 3 {
		t.Fatalf("Recv returned (%v, %v), want a 3-byte payload", res, err)
	}
	<-recv.Done()
	spy.End()
	spy.WantClean(t)
}

func TestAssertBlockedFailsWhenTheCallReturns(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	stream, err := client(srv).FullDuplexCall(spy.Context())
	if err != nil {
		t.Fatal(err)
	}
	// A Send with the flow-control window open returns at once.
	send := grpctest.GoErr(spy, func() error { return stream.Send(echoOne(1)) })
	if send.AssertBlocked(time.Minute) {
		t.Errorf("AssertBlocked returned true for a Send that returned")
	}
	spy.Want(t, 1, "the call started by GoErr at blocking_test.go:", "returned within 1m0s, want still blocked", "it returned <nil>\n", "recorded timeline:")

	// A value is rendered as messages are in the other reports, in one
	// stable form (prototext's spacing changes from run to run).
	spy = spytb.New(t)
	call := grpctest.Go(spy, func() (*testgrpc.SimpleResponse, error) {
		return client(srv).UnaryCall(t.Context(), &testgrpc.SimpleRequest{FillUsername: true})
	})
	call.AssertBlocked(time.Minute)
	spy.Want(t, 1, "the call started by Go at blocking_test.go:", "returned within 1m0s", "it returned (*grpc_testing.SimpleResponse{payload:{}}, <nil>)\n")
}

func TestWaitReportsACallStillBlocked(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	stream, err := client(srv).FullDuplexCall(spy.Context())
	if err != nil {
		t.Fatal(err)
	}
	recv := grpctest.Go(spy, stream.Recv)
	res, err := recv.Wait(blockFor)
	if res != nil || !errors.Is(err, grpctest.ErrStillBlocked) {
		t.Errorf("Wait returned (%v, %v), want (nil, ErrStillBlocked)", res, err)
	}
	// The report says where the call is blocked: its goroutine's stack,
	// without the frames of grpctest that run it.
	r := spy.Want(t, 1, "the call started by Go at blocking_test.go:", "still blocked after 50ms, in:\n  goroutine ",
		"google.golang.org/grpc.(*GenericClientStream[...]).Recv")
	if strings.Contains(r.Msg, "grpctest.(*Pending") || strings.Contains(r.Msg, "created by") {
		t.Errorf("the stack shows the frames that run the call:\n%s", r.Msg)
	}
	// Not how gRPC waits inside Recv: the dozen frames of its transport
	// and the recorder's wrapper make one line, right above Recv.
	if strings.Contains(r.Msg, "internal/transport") || strings.Contains(r.Msg, "recorder.(*clientStream)") ||
		!regexp.MustCompile(`goroutine [^\n]*\n  \.\.\. \(\d+ frames inside gRPC and streamtest elided\)\n  google\.golang\.org/grpc\.\(\*GenericClientStream\[\.\.\.\]\)\.Recv\(`).MatchString(r.Msg) {
		t.Errorf("the stack of the blocked Recv shows gRPC's frames below Recv, or not one line in their place:\n%s", r.Msg)
	}
	// And where the other side is: the harness's handler, still running,
	// waits for a request (a deadlock would show both sides).
	if !regexp.MustCompile(`the harness's handlers still running \(1\):\n  /grpc\.testing\.TestService/FullDuplexCall, in:\n    goroutine [^\n]*\n    \.\.\. \(\d+ frames inside gRPC and streamtest elided\)\n    google\.golang\.org/grpc\.\(\*GenericServerStream\[\.\.\.\]\)\.Recv\(`).MatchString(r.Msg) ||
		!strings.Contains(r.Msg, "interop.(*testServer).FullDuplexCall(") {
		t.Errorf("the report does not show the running handler's stack:\n%s", r.Msg)
	}
	// The test ends with the Recv still blocked: the stream's context ends,
	// Recv returns, and nothing else is reported.
	spy.End()
	spy.Want(t, 1)
	<-recv.Done()
}

// fanOutService's FullDuplexCall starts a goroutine that blocks handing a
// message on (to a subscriber that never reads it: a fan-out bug) and
// waits for its call to end. The goroutine leaves when release closes.
type fanOutService struct {
	testgrpc.UnimplementedTestServiceServer
	release chan struct{}
}

func (f fanOutService) FullDuplexCall(st testgrpc.TestService_FullDuplexCallServer) error {
	started := make(chan struct{})
	go fanOutBlocked(make(chan int), started, f.release)
	<-started
	<-st.Context().Done()
	return st.Context().Err()
}

func fanOutBlocked(subscriber chan int, started, release chan struct{}) {
	close(started)
	select {
	case subscriber <- 1:
	case <-release:
	}
}

// Wait's report of a call still blocked shows, besides the handlers, the
// goroutines they started that still run: where a fan-out bug blocks. It
// leaves out those that WithIgnoredGoroutines exempts (a worker a handler
// starts on first use, meant to outlive it).
func TestWaitReportShowsGoroutinesTheHandlersStarted(t *testing.T) {
	for _, ignored := range []bool{false, true} {
		t.Run(fmt.Sprint("ignored=", ignored), func(t *testing.T) {
			spy := spytb.New(t)
			release := make(chan struct{})
			opts := []grpctest.Option{}
			if ignored {
				opts = append(opts, grpctest.WithIgnoredGoroutines("github.com/streamtest/streamtest/grpctest_test.fanOutBlocked"))
			}
			srv := grpctest.NewServer(spy, func(s *grpc.Server) { testgrpc.RegisterTestServiceServer(s, fanOutService{release: release}) }, opts...)
			stream, err := client(srv).FullDuplexCall(spy.Context())
			if err != nil {
				t.Fatal(err)
			}
			recv := grpctest.Go(spy, stream.Recv)
			if _, err := recv.Wait(blockFor); !errors.Is(err, grpctest.ErrStillBlocked) {
				t.Fatalf("Wait returned %v, want ErrStillBlocked", err)
			}
			r := spy.Want(t, 1, "the harness's handlers still running (1):")
			const started = "goroutines the handlers started, still running (1):\n  1 goroutine(s) like this one, started by handler /grpc.testing.TestService/FullDuplexCall:\n"
			if shown := strings.Contains(r.Msg, started) && strings.Contains(r.Msg, "grpctest_test.fanOutBlocked("); shown == ignored {
				t.Errorf("the report shows the goroutine the handler started: %v, want %v:\n%s", shown, !ignored, r.Msg)
			}
			close(release)
			spy.End()
			spy.Want(t, 1)
			<-recv.Done()
		})
	}
}

// A call left blocked is released when its stream ends: by the harness's
// Close, which adopts it and waits for it.
func TestPendingIsReleasedWhenTheHarnessCloses(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(silentHandler{}), grpctest.WithoutLeakCheck())
	stream, err := client(srv).FullDuplexCall(context.Background()) // not canceled by the test's end
	if err != nil {
		t.Fatal(err)
	}
	recv := grpctest.Go(spy, stream.Recv)
	recv.AssertBlocked(blockFor)
	spy.End()
	select {
	case <-recv.Done():
	default:
		t.Fatal("the blocked Recv has not returned after Close")
	}
	if _, err := recv.Wait(0); status.Code(err) != codes.Canceled && status.Code(err) != codes.Unavailable {
		t.Errorf("Recv returned %v, want Canceled or Unavailable (the connection closed)", err)
	}
	spy.WantClean(t)
}

// A call blocked on something Close does not end is reported by Close.
func TestCloseReportsAPendingCallItCannotRelease(t *testing.T) {
	spy := spytb.New(t)
	grpctest.NewServer(spy, interopService, grpctest.WithCloseTimeout(2*blockFor))
	release := make(chan struct{})
	p := grpctest.GoErr(spy, func() error {
		<-release
		return nil
	})
	spy.End()
	close(release)
	<-p.Done()
	spy.Want(t, 1, "the call started by GoErr at blocking_test.go:", "still blocked 100ms after Close ended the harness's streams",
		"not a stream of this harness (if it is one of a harness of an enclosing test, that harness is still open)",
		"before the test returns, in:\n  goroutine ", "TestCloseReportsAPendingCallItCannotRelease")
}

// A call that Close could not end and that is not blocked but looping (a
// retry loop that never waits) is said to be running, not blocked.
func TestCloseReportsAPendingCallThatLoops(t *testing.T) {
	spy := spytb.New(t)
	grpctest.NewServer(spy, interopService, grpctest.WithCloseTimeout(2*blockFor))
	var stop atomic.Bool
	p := grpctest.GoErr(spy, func() error {
		for !stop.Load() {
			runtime.Gosched()
		}
		return nil
	})
	spy.End()
	stop.Store(true)
	<-p.Done()
	r := spy.Want(t, 1, "the call started by GoErr at blocking_test.go:", "was still running 100ms after Close ended the harness's streams, and not blocked",
		"so it is looping", "in:\n  goroutine ", "TestCloseReportsAPendingCallThatLoops")
	if strings.Contains(r.Msg, "still blocked") {
		t.Errorf("the report says a looping call is blocked:\n%s", r.Msg)
	}
}

func TestPendingReportsPanic(t *testing.T) {
	spy := spytb.New(t)
	p := grpctest.Go(spy, func() (int, error) { panic("boom") })
	if _, err := p.Wait(5 * time.Second); err == nil {
		t.Errorf("Wait returned no error for a panicking call")
	}
	spy.Want(t, 1, "the call started by Go at blocking_test.go:", "panicked: boom", "goroutine")
	spy.End()
	spy.Want(t, 1) // reported once
}

// A call whose goroutine exits without returning (t.FailNow inside the
// function) gave no result: Wait must not hand back a zero one with a nil
// error as if it had.
func TestPendingReportsGoexit(t *testing.T) {
	spy := spytb.New(t)
	p := grpctest.Go(spy, func() (int, error) {
		runtime.Goexit()
		return 1, nil
	})
	if _, err := p.Wait(5 * time.Second); err == nil || !strings.Contains(err.Error(), "did not return") {
		t.Errorf("Wait: %v, want an error saying the call did not return", err)
	}
	spy.Want(t, 1, "the call started by Go at blocking_test.go:", "did not return: its goroutine exited with runtime.Goexit", "t.FailNow")
	spy.End()
	spy.Want(t, 1) // reported once

	// Reported by the cleanup, for a call nobody waited for.
	spy = spytb.New(t)
	e := grpctest.GoErr(spy, func() error { runtime.Goexit(); return nil })
	<-e.Done()
	spy.End()
	spy.Want(t, 1, "the call started by GoErr at blocking_test.go:", "runtime.Goexit")
}

// A call that returns is not taken for one that exited.
func TestPendingThatReturnsIsNotReported(t *testing.T) {
	spy := spytb.New(t)
	p := grpctest.Go(spy, func() (int, error) { return 7, nil })
	if v, err := p.Wait(5 * time.Second); v != 7 || err != nil {
		t.Errorf("Wait: %v, %v, want 7, nil", v, err)
	}
	spy.End()
	spy.WantClean(t)
}

// AssertBlocked with no time to wait asserts nothing: a misuse, not a pass.
func TestAssertBlockedWithoutADuration(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	for _, d := range []time.Duration{0, -time.Second} {
		spy := spytb.New(t)
		p := grpctest.GoErr(spy, func() error { <-release; return nil })
		if p.AssertBlocked(d) {
			t.Errorf("AssertBlocked(%v) = true, want false", d)
		}
		spy.Want(t, 1, "AssertBlocked("+d.String()+")", "d must be positive", "the call started by GoErr at blocking_test.go:")
	}
}

func TestGoWithNilFunction(t *testing.T) {
	spy := spytb.New(t)
	p := grpctest.Go[int](spy, nil)
	e := grpctest.GoErr(spy, nil)
	if _, err := p.Wait(time.Second); err == nil {
		t.Errorf("Wait on Go(nil) returned no error")
	}
	<-e.Done()
	spy.Want(t, 2, "fn is nil")
}

// sendUntilBlocked opens FullDuplexCall on a harness with static windows of
// w bytes against a handler that never reads, and probes it with messages
// of the given payload size.
func sendUntilBlocked(t *testing.T, spy *spytb.TB, w int32, size int, opts ...grpctest.Option) (n int, framed int) {
	t.Helper()
	srv := grpctest.NewServer(spy, service(silentHandler{}), append(opts, grpctest.WithStaticWindow(w))...)
	stream, err := client(srv).FullDuplexCall(spy.Context())
	if err != nil {
		t.Fatal(err)
	}
	msg := &testgrpc.StreamingOutputCallRequest{Payload: payload(size)}
	n = grpctest.SendUntilBlocked(spy, stream, func(int) *testgrpc.StreamingOutputCallRequest { return msg }, 200*time.Millisecond)
	return n, 5 + proto.Size(msg)
}

// predicted is the formula of the package doc: the peer's stream window
// plus gRPC-Go's 64 KiB per-stream write quota, in framed messages, rounded
// up (the Send that exhausts the quota still returns).
func predicted(w int32, framed int) int { return (int(w) + 65536 + framed - 1) / framed }

// The formula holds over TCP as on bufconn: flow control bounds what the
// sender writes, and the receiving transport reads the socket whether or
// not the handler reads.
func TestSendUntilBlockedFollowsTheStaticWindow(t *testing.T) {
	for _, net := range []struct {
		name string
		opts []grpctest.Option
	}{{"bufconn", nil}, {"tcp", []grpctest.Option{grpctest.WithTCP()}}} {
		for _, tc := range []struct {
			window int32
			size   int
			want   int
		}{
			{64 * 1024, 1024, 127}, // the case of the package doc
			{64 * 1024, 100, 1203},
			{256 * 1024, 4000, 82},
		} {
			spy := spytb.New(t)
			n, framed := sendUntilBlocked(t, spy, tc.window, tc.size, net.opts...)
			if n != tc.want || n != predicted(tc.window, framed) {
				t.Errorf("%s, window %d, %d-byte payloads: %d Sends before blocking, want %d (formula: %d).\n"+
					"If gRPC was upgraded, its flow control changed (the per-stream write quota is 64 KiB in grpc-go v1.85): "+
					"update the formula in doc.go and ExampleSendUntilBlocked", net.name, tc.window, tc.size, n, tc.want, predicted(tc.window, framed))
			}
			spy.End() // the blocked Send is released: its stream's context ends
			spy.WantClean(t)
		}
	}
}

// The server side blocks the same way when the client does not read.
func TestSendUntilBlockedOnTheServerSide(t *testing.T) {
	spy := spytb.New(t)
	counted := make(chan int, 1)
	h := &serverProbe{spy: spy, counted: counted}
	srv := grpctest.NewServer(spy, service(h), grpctest.WithStaticWindow(64*1024))
	if _, err := client(srv).FullDuplexCall(spy.Context()); err != nil {
		t.Fatal(err)
	}
	n := <-counted
	framed := 5 + proto.Size(&testgrpc.StreamingOutputCallResponse{Payload: payload(1024)})
	if want := predicted(64*1024, framed); n != want {
		t.Errorf("server Sends before blocking = %d, want %d", n, want)
	}
	spy.End()
	spy.WantClean(t)
}

type serverProbe struct {
	testgrpc.UnimplementedTestServiceServer
	spy     *spytb.TB
	counted chan int
}

func (h *serverProbe) FullDuplexCall(stream testgrpc.TestService_FullDuplexCallServer) error {
	msg := &testgrpc.StreamingOutputCallResponse{Payload: payload(1024)}
	h.counted <- grpctest.SendUntilBlocked(h.spy, stream, func(int) *testgrpc.StreamingOutputCallResponse { return msg }, 200*time.Millisecond)
	<-stream.Context().Done()
	return nil
}

func TestSendUntilBlockedReportsAFailedSend(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := client(srv).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("Recv after cancel: %v, want Canceled", err)
	}
	n := grpctest.SendUntilBlocked(spy, stream, func(int) *testgrpc.StreamingOutputCallRequest { return echoOne(1) }, time.Minute)
	if n != 0 {
		t.Errorf("SendUntilBlocked = %d, want 0", n)
	}
	spy.Want(t, 1, "SendUntilBlocked: Send 0 failed before any Send blocked: EOF", "the stream has ended")
}

// neverBlocks is a stream whose Send always returns at once.
type neverBlocks struct{}

func (neverBlocks) Send(int) error { return nil }

// A second SendUntilBlocked on a stream whose Send the first left blocked
// would Send concurrently, which gRPC forbids: it is reported, and sends
// nothing.
func TestSendUntilBlockedTwiceOnABlockedStream(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(silentHandler{}), grpctest.WithStaticWindow(64*1024))
	ctx, cancel := context.WithCancel(spy.Context())
	stream, err := client(srv).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msg := &testgrpc.StreamingOutputCallRequest{Payload: payload(1024)}
	next := func(int) *testgrpc.StreamingOutputCallRequest { return msg }
	if n := grpctest.SendUntilBlocked(spy, stream, next, 200*time.Millisecond); n == 0 {
		t.Fatalf("the first SendUntilBlocked sent nothing")
	}
	if n := grpctest.SendUntilBlocked(spy, stream, next, 200*time.Millisecond); n != 0 {
		t.Errorf("the second SendUntilBlocked = %d, want 0", n)
	}
	spy.Want(t, 1, "grpctest.SendUntilBlocked: a Send of an earlier SendUntilBlocked on this stream (at blocking_test.go:", "is still blocked",
		"gRPC forbids concurrent Sends")
	cancel() // the blocked Send returns
	spy.End()
	spy.Want(t, 1)
}

func TestSendUntilBlockedReportsNothingBlocking(t *testing.T) {
	spy := spytb.New(t)
	n := grpctest.SendUntilBlocked[int](spy, neverBlocks{}, func(i int) int { return i }, time.Minute)
	if n != grpctest.MaxSendUntilBlocked {
		t.Errorf("SendUntilBlocked = %d, want %d", n, grpctest.MaxSendUntilBlocked)
	}
	spy.Want(t, 1, "Sends all returned within 1m0s each: nothing blocked", "WithStaticWindow", "fakes.WithSendBuffer")
}

func TestSendUntilBlockedMisuse(t *testing.T) {
	for _, tc := range []struct {
		name string
		call func(*spytb.TB) int
		want string
	}{
		{"nil stream", func(s *spytb.TB) int {
			return grpctest.SendUntilBlocked[int](s, nil, func(i int) int { return i }, time.Second)
		}, "the stream is nil"},
		{"nil next", func(s *spytb.TB) int { return grpctest.SendUntilBlocked[int](s, neverBlocks{}, nil, time.Second) }, "next is nil"},
		{"no duration", func(s *spytb.TB) int {
			return grpctest.SendUntilBlocked[int](s, neverBlocks{}, func(i int) int { return i }, 0)
		}, "d is 0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			if n := tc.call(spy); n != 0 {
				t.Errorf("SendUntilBlocked = %d, want 0", n)
			}
			spy.Want(t, 1, tc.want)
		})
	}
}

// A call that has returned is never late, even for Wait(0): Wait does not
// race its result against an expired timer.
func TestWaitZeroOnAReturnedCall(t *testing.T) {
	spy := spytb.New(t)
	p := grpctest.GoErr(spy, func() error { return nil })
	<-p.Done()
	for i := range 200 {
		if _, err := p.Wait(0); err != nil {
			t.Fatalf("Wait(0) #%d on a returned call: %v", i+1, err)
		}
	}
	spy.End()
	spy.WantClean(t)
}

// A call blocked deep down (more than the 100 frames a traceback shows):
// the report still leaves out the frames that run the call, and keeps the
// runtime's note of the frames it elided.
func TestWaitReportOfADeepStack(t *testing.T) {
	spy := spytb.New(t)
	release := make(chan struct{})
	p := grpctest.Go(spy, func() (int, error) { recurseThenWait(150, release); return 0, nil })
	p.Wait(blockFor)
	close(release)
	if _, err := p.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	r := spy.Want(t, 1, "still blocked after 50ms, in:\n  goroutine ", "grpctest_test.recurseThenWait", "frames elided")
	if strings.Contains(r.Msg, "grpctest.(*Pending") || strings.Contains(r.Msg, "created by") {
		t.Errorf("the stack shows the frames that run the call:\n%s", r.Msg)
	}
}

// recurseThenWait calls itself n times, then waits for release.
func recurseThenWait(n int, release <-chan struct{}) {
	if n == 0 {
		<-release
		return
	}
	recurseThenWait(n-1, release)
}

// gatedSender's first Send after it is armed blocks until release, then
// closes returned.
type gatedSender struct {
	armed    atomic.Bool
	release  chan struct{}
	returned chan struct{}
}

func (g *gatedSender) Send(int) error {
	if g.armed.CompareAndSwap(true, false) {
		<-g.release
		close(g.returned)
	}
	return nil
}

// After the Send an earlier SendUntilBlocked left blocked has returned, a
// second SendUntilBlocked on the stream is not concurrent: it must not be
// reported.
func TestSendUntilBlockedAfterTheBlockedSendReturned(t *testing.T) {
	falseReports := 0
	const rounds = 50
	for range rounds {
		spy := spytb.New(t)
		g := &gatedSender{release: make(chan struct{}), returned: make(chan struct{})}
		g.armed.Store(true)
		if n := grpctest.SendUntilBlocked[int](spy, g, func(i int) int { return i }, 5*time.Millisecond); n != 0 {
			t.Fatalf("n = %d", n)
		}
		close(g.release)
		<-g.returned // the blocked Send has returned
		g.release, g.returned = make(chan struct{}), make(chan struct{})
		g.armed.Store(true)
		grpctest.SendUntilBlocked[int](spy, g, func(i int) int { return i }, 5*time.Millisecond)
		if len(spy.Reports()) > 0 {
			falseReports++
		}
		close(g.release)
		spy.End()
	}
	if falseReports > 0 {
		t.Errorf("a second SendUntilBlocked after the blocked Send returned was reported as concurrent in %d of %d rounds", falseReports, rounds)
	}
}
