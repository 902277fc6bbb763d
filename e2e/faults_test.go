package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"
)

const fullDuplex = "/grpc.testing.TestService/FullDuplexCall"

// waitBound bounds every wait of the fault tests for something that must
// happen promptly (a Recv returning after a fault, both halves ending).
const waitBound = 10 * time.Second

// closeBound is the longest a harness Close may take: each of its waiting
// steps (GracefulStop, Stop, handlers, adopted calls) is bounded by the
// close timeout and the goroutine check by twice that; plus slack for a
// loaded machine.
const closeBound = 6*grpctest.DefaultCloseTimeout + 4*time.Second

// interopService registers grpc-go's interop TestService, the real peer.
func interopService(s *grpc.Server) {
	testgrpc.RegisterTestServiceServer(s, interop.NewTestServer())
}

// service registers h as the TestService.
func service(h testgrpc.TestServiceServer) func(*grpc.Server) {
	return func(s *grpc.Server) { testgrpc.RegisterTestServiceServer(s, h) }
}

// echoReq asks the interop FullDuplexCall for one response of size bytes.
func echoReq(size int32) *testgrpc.StreamingOutputCallRequest {
	return &testgrpc.StreamingOutputCallRequest{
		ResponseParameters: []*testgrpc.ResponseParameters{{Size: size}},
	}
}

// closeWithin closes srv and fails t if Close does not return within
// closeBound. Close reports through the harness's t (the real test here),
// so leaks and stuck handlers fail the test.
func closeWithin(t *testing.T, srv *grpctest.Server) {
	t.Helper()
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		srv.Close()
	}()
	timer := time.NewTimer(closeBound)
	defer timer.Stop()
	select {
	case <-done:
		t.Logf("Close took %v", time.Since(start).Round(time.Millisecond))
	case <-timer.C:
		t.Errorf("Close still running after %v: its bound is broken", closeBound)
	}
}

// waitEnds waits until the recorder holds the End of both halves of the
// only call of method and returns each side's status code.
func waitEnds(t *testing.T, rec *recorder.Recorder, method string) (client, server codes.Code) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	var ends [2]*recorder.Event
	err := rec.Wait(ctx, func(evs []recorder.Event) bool {
		ends = [2]*recorder.Event{}
		for i := range evs {
			if e := &evs[i]; e.Method == method && e.Kind == recorder.End {
				ends[e.Side] = e
			}
		}
		return ends[0] != nil && ends[1] != nil
	})
	if err != nil {
		t.Fatalf("waiting for both Ends of %s: %v; have client %v, server %v\n%s", method, err, ends[0] != nil, ends[1] != nil, rec)
	}
	return status.Code(ends[recorder.Client].Err), status.Code(ends[recorder.Server].Err)
}

// wantEnds checks the recorded End codes of both halves of method.
func wantEnds(t *testing.T, rec *recorder.Recorder, method string, wantClient, wantServer codes.Code) {
	t.Helper()
	client, server := waitEnds(t, rec, method)
	if client != wantClient || server != wantServer {
		t.Errorf("recorded End codes: client %v, server %v; want client %v, server %v\n%s",
			client, server, wantClient, wantServer, rec)
	}
}

func wantCode(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	if status.Code(err) != want || (want != codes.OK && err == nil) {
		t.Errorf("%s: %v (code %v), want code %v", what, err, status.Code(err), want)
	}
}

// openMidStream opens a FullDuplexCall on srv and completes one round trip,
// so the stream is live on both sides when the fault comes.
func openMidStream(t *testing.T, ctx context.Context, srv *grpctest.Server) testgrpc.TestService_FullDuplexCallClient {
	t.Helper()
	stream, err := testgrpc.NewTestServiceClient(srv.Conn()).FullDuplexCall(ctx)
	if err != nil {
		t.Fatalf("FullDuplexCall: %v", err)
	}
	if err := stream.Send(echoReq(10)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("Recv: %v", err)
	}
	return stream
}

func TestFaults(t *testing.T) {
	t.Run("Disconnect", testDisconnect)
	t.Run("HandlerPanic", testHandlerPanic)
	t.Run("CancelDuringBlockedSend", testCancelDuringBlockedSend)
	t.Run("DeadlineDuringBlockedRecv", testDeadlineDuringBlockedRecv)
	t.Run("ServerStop", testServerStop)
	t.Run("ServerGracefulStop", testServerGracefulStop)
}

// The server drops the connection mid-stream: the client's Recv fails with
// Unavailable and the handler's stream is canceled.
func testDisconnect(t *testing.T) {
	srv := grpctest.NewServer(t, interopService)
	stream := openMidStream(t, t.Context(), srv)

	srv.Disconnect()
	_, err := grpctest.Go(t, stream.Recv).Wait(waitBound)
	wantCode(t, "Recv after Disconnect", err, codes.Unavailable)

	wantEnds(t, srv.Recorder(), fullDuplex, codes.Unavailable, codes.Canceled)
	grpctest.AssertOrder(t, srv.Recorder(),
		grpctest.ClientSends(echoReq(10)), grpctest.ServerReceives(echoReq(10)),
		grpctest.ServerSends(nil), grpctest.ClientReceives(nil),
		grpctest.Ends(codes.Unavailable))
	closeWithin(t, srv)
}

// panicking's FullDuplexCall panics on its first request.
type panicking struct {
	testgrpc.UnimplementedTestServiceServer
}

func (panicking) FullDuplexCall(stream testgrpc.TestService_FullDuplexCallServer) error {
	if _, err := stream.Recv(); err != nil {
		return err
	}
	panic("boom: handler bug")
}

// recoverStream turns a handler panic into codes.Internal, as a recovery
// interceptor in production would.
func recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = status.Errorf(codes.Internal, "panic in %s: %v", info.FullMethod, r)
		}
	}()
	return handler(srv, ss)
}

// A handler panics under a recovery interceptor: both halves end Internal
// and the client sees the panic's message.
func testHandlerPanic(t *testing.T) {
	srv := grpctest.NewServer(t, service(panicking{}),
		grpctest.WithServerOptions(grpc.ChainStreamInterceptor(recoverStream)))
	stream, err := testgrpc.NewTestServiceClient(srv.Conn()).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(echoReq(1)); err != nil {
		t.Fatal(err)
	}
	_, err = grpctest.Go(t, stream.Recv).Wait(waitBound)
	wantCode(t, "Recv after the handler panicked", err, codes.Internal)
	if want := "panic in " + fullDuplex + ": boom: handler bug"; status.Convert(err).Message() != want {
		t.Errorf("status message %q, want %q", status.Convert(err).Message(), want)
	}
	wantEnds(t, srv.Recorder(), fullDuplex, codes.Internal, codes.Internal)
	closeWithin(t, srv)
}

// silent's FullDuplexCall never reads nor writes: it returns the status of
// its context when the call ends. With static windows, the client's Sends
// soon block on flow control.
type silent struct {
	testgrpc.UnimplementedTestServiceServer
}

func (silent) FullDuplexCall(stream testgrpc.TestService_FullDuplexCallServer) error {
	<-stream.Context().Done()
	return status.FromContextError(stream.Context().Err()).Err()
}

// The client cancels while a Send is blocked on flow control: the Send
// returns Canceled, both halves end Canceled.
func testCancelDuringBlockedSend(t *testing.T) {
	srv := grpctest.NewServer(t, service(silent{}), grpctest.WithStaticWindow(65535))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stream, err := testgrpc.NewTestServiceClient(srv.Conn()).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Send 16 KiB requests until one blocks: the peer reads nothing, so the
	// windows (64 KiB) and gRPC's write quota (64 KiB) fill after a few.
	big := &testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: make([]byte, 16<<10)}}
	var sent atomic.Int64
	sending := grpctest.GoErr(t, func() error {
		for {
			if err := stream.Send(big); err != nil {
				return err
			}
			sent.Add(1)
		}
	})
	if !sending.AssertBlocked(300 * time.Millisecond) {
		t.FailNow()
	}
	// Still running after 300ms with few Sends done: it is blocked in a
	// Send, not spinning.
	if n := sent.Load(); n > 64 {
		t.Fatalf("%d Sends returned before one blocked, want a few (static 64 KiB windows, 16 KiB messages)", n)
	}

	cancel()
	// As grpc documents, a SendMsg on a stream that ended returns io.EOF
	// and the status comes from Recv.
	_, err = sending.Wait(waitBound)
	if !errors.Is(err, io.EOF) {
		t.Errorf("the blocked Send after cancel returned %v, want io.EOF", err)
	}
	_, err = stream.Recv()
	wantCode(t, "Recv after cancel", err, codes.Canceled)
	wantEnds(t, srv.Recorder(), fullDuplex, codes.Canceled, codes.Canceled)

	// The blocked Send is recorded, with the error it returned, after the
	// ones that went through.
	var sends []recorder.Event
	for _, e := range srv.Recorder().Events() {
		if e.Side == recorder.Client && e.Kind == recorder.Send {
			sends = append(sends, e)
		}
	}
	if len(sends) != int(sent.Load())+1 || !errors.Is(sends[len(sends)-1].Err, io.EOF) {
		t.Errorf("recorded %d client Sends, want %d that went through and a last one with Err io.EOF (the Send that was blocked)\n%s",
			len(sends), sent.Load(), srv.Recorder())
	}
	closeWithin(t, srv)
}

// The deadline passes while the client is blocked in Recv on a server that
// has nothing to say: both halves end DeadlineExceeded.
func testDeadlineDuringBlockedRecv(t *testing.T) {
	srv := grpctest.NewServer(t, interopService)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	stream, err := testgrpc.NewTestServiceClient(srv.Conn()).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The interop server answers only requests; there are none, so Recv
	// blocks until the deadline.
	_, err = grpctest.Go(t, stream.Recv).Wait(waitBound)
	wantCode(t, "Recv blocked past the deadline", err, codes.DeadlineExceeded)
	// The server half ends with whichever comes first: its own deadline
	// timer (DeadlineExceeded) or the client's RST_STREAM sent when the
	// client's timer fired (Canceled). Both timers run out together, so
	// either is right.
	client, server := waitEnds(t, srv.Recorder(), fullDuplex)
	if client != codes.DeadlineExceeded || (server != codes.DeadlineExceeded && server != codes.Canceled) {
		t.Errorf("recorded End codes: client %v, server %v; want client DeadlineExceeded, server DeadlineExceeded or Canceled\n%s",
			client, server, srv.Recorder())
	}
	closeWithin(t, srv)
}

// The server stops (Stop) under an open stream: the client sees
// Unavailable, the handler's stream is canceled.
func testServerStop(t *testing.T) {
	srv := grpctest.NewServer(t, interopService)
	stream := openMidStream(t, t.Context(), srv)

	stopped := grpctest.GoErr(t, func() error { srv.GRPC().Stop(); return nil })
	if _, err := stopped.Wait(waitBound); err != nil {
		t.Fatal(err)
	}
	_, err := grpctest.Go(t, stream.Recv).Wait(waitBound)
	wantCode(t, "Recv after Stop", err, codes.Unavailable)
	wantEnds(t, srv.Recorder(), fullDuplex, codes.Unavailable, codes.Canceled)
	closeWithin(t, srv)
}

// The server stops gracefully under an open stream: the open stream keeps
// working and ends OK when the client finishes it, a new stream is
// refused with Unavailable, and GracefulStop returns only then.
func testServerGracefulStop(t *testing.T) {
	srv := grpctest.NewServer(t, interopService)
	stream := openMidStream(t, t.Context(), srv)

	stopping := grpctest.GoErr(t, func() error { srv.GRPC().GracefulStop(); return nil })
	// GracefulStop waits for the open stream.
	if !stopping.AssertBlocked(100 * time.Millisecond) {
		t.FailNow()
	}

	// A new stream on the same connection is refused.
	ctx, cancel := context.WithTimeout(t.Context(), waitBound)
	defer cancel()
	refused, err := testgrpc.NewTestServiceClient(srv.Conn()).FullDuplexCall(ctx)
	if err == nil {
		_, err = refused.Recv()
	}
	wantCode(t, "a new stream during GracefulStop", err, codes.Unavailable)

	// The open one still works, and ends OK.
	if err := stream.Send(echoReq(3)); err != nil {
		t.Fatalf("Send on the open stream during GracefulStop: %v", err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("Recv on the open stream during GracefulStop: %v", err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv after CloseSend: %v, want io.EOF", err)
	}
	if _, err := stopping.Wait(waitBound); err != nil {
		t.Fatal(err)
	}

	// Two calls: the open one ended OK on both sides; the refused one ended
	// Unavailable on the client and never reached a handler.
	calls := srv.Recorder().Calls()
	var got []string
	for _, c := range calls {
		var ends []string
		for _, e := range c.Events() {
			if e.Kind == recorder.End {
				ends = append(ends, fmt.Sprintf("%s %v", e.Side, status.Code(e.Err)))
			}
		}
		got = append(got, fmt.Sprint(ends))
	}
	want := []string{"[server OK client OK]", "[client Unavailable]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("End events by call: %v, want %v\n%s", got, want, srv.Recorder())
	}
	closeWithin(t, srv)
}

// stubborn's FullDuplexCall misbehaves the way the fault tests must catch:
// with leak set it starts a goroutine that outlives the call; without, it
// ignores the end of the call itself. Both wait for release.
type stubborn struct {
	testgrpc.UnimplementedTestServiceServer
	leak    bool
	release chan struct{}
}

func (h stubborn) FullDuplexCall(stream testgrpc.TestService_FullDuplexCallServer) error {
	if h.leak {
		go func() { <-h.release }()
		<-stream.Context().Done()
		return status.FromContextError(stream.Context().Err()).Err()
	}
	<-h.release
	return nil
}

// The silence of the harness checks in the fault tests means something:
// the same faults with a handler that leaks a goroutine, or that does not
// return, are reported by Close, naming the method.
func TestFaultChecksFire(t *testing.T) {
	cases := []struct {
		name string
		leak bool
		want []string
	}{
		{"goroutine left behind", true, []string{"goroutine(s) started during this harness's life still running", "started by handler " + fullDuplex}},
		{"handler ignores the end of the call", false, []string{"handler " + fullDuplex + " did not return after Stop"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := stubborn{leak: tc.leak, release: make(chan struct{})}
			defer close(h.release)
			spy := spytb.New(t)
			var recvErr error
			spy.Run(func() {
				srv := grpctest.NewServer(spy, service(h), grpctest.WithCloseTimeout(100*time.Millisecond))
				stream, err := testgrpc.NewTestServiceClient(srv.Conn()).FullDuplexCall(t.Context())
				if err != nil {
					spy.Errorf("FullDuplexCall: %v", err)
					return
				}
				ctx, cancel := context.WithTimeout(t.Context(), waitBound)
				defer cancel()
				if err := srv.Recorder().Wait(ctx, func(evs []recorder.Event) bool {
					for _, e := range evs {
						if e.Side == recorder.Server && e.Kind == recorder.Begin {
							return true
						}
					}
					return false
				}); err != nil {
					spy.Errorf("waiting for the handler: %v", err)
					return
				}
				srv.Disconnect()
				_, recvErr = grpctest.Go(spy, stream.Recv).Wait(waitBound)
				srv.Close()
			})
			wantCode(t, "Recv after Disconnect", recvErr, codes.Unavailable)
			spy.Want(t, 1, tc.want...)
		})
	}
}
