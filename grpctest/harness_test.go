package grpctest_test

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"
)

// The interop client cases run against the interop server on a harness
// must pass and leave Close nothing to report, and the recorder must hold
// one complete call per RPC.
func TestInteropCasesCloseClean(t *testing.T) {
	cases := []struct {
		name  string
		calls int
		run   func(context.Context, testgrpc.TestServiceClient, *grpc.ClientConn)
	}{
		{"EmptyUnary", 1, func(ctx context.Context, c testgrpc.TestServiceClient, _ *grpc.ClientConn) {
			interop.DoEmptyUnaryCall(ctx, c)
		}},
		{"LargeUnary", 1, func(ctx context.Context, c testgrpc.TestServiceClient, _ *grpc.ClientConn) {
			interop.DoLargeUnaryCall(ctx, c)
		}},
		{"ClientStreaming", 1, func(ctx context.Context, c testgrpc.TestServiceClient, _ *grpc.ClientConn) {
			interop.DoClientStreaming(ctx, c)
		}},
		{"ServerStreaming", 1, func(ctx context.Context, c testgrpc.TestServiceClient, _ *grpc.ClientConn) {
			interop.DoServerStreaming(ctx, c)
		}},
		{"PingPong", 1, func(ctx context.Context, c testgrpc.TestServiceClient, _ *grpc.ClientConn) {
			interop.DoPingPong(ctx, c)
		}},
		{"EmptyStream", 1, func(ctx context.Context, c testgrpc.TestServiceClient, _ *grpc.ClientConn) {
			interop.DoEmptyStream(ctx, c)
		}},
		{"CancelAfterBegin", 1, func(ctx context.Context, c testgrpc.TestServiceClient, _ *grpc.ClientConn) {
			interop.DoCancelAfterBegin(ctx, c)
		}},
		{"CancelAfterFirstResponse", 1, func(ctx context.Context, c testgrpc.TestServiceClient, _ *grpc.ClientConn) {
			interop.DoCancelAfterFirstResponse(ctx, c)
		}},
		{"TimeoutOnSleepingServer", 1, func(ctx context.Context, c testgrpc.TestServiceClient, _ *grpc.ClientConn) {
			interop.DoTimeoutOnSleepingServer(ctx, c)
		}},
		{"CustomMetadata", 2, func(ctx context.Context, c testgrpc.TestServiceClient, _ *grpc.ClientConn) {
			interop.DoCustomMetadata(ctx, c)
		}},
		{"StatusCodeAndMessage", 2, func(ctx context.Context, c testgrpc.TestServiceClient, _ *grpc.ClientConn) {
			interop.DoStatusCodeAndMessage(ctx, c)
		}},
		{"SpecialStatusMessage", 1, func(ctx context.Context, c testgrpc.TestServiceClient, _ *grpc.ClientConn) {
			interop.DoSpecialStatusMessage(ctx, c)
		}},
		{"UnimplementedMethod", 1, func(ctx context.Context, _ testgrpc.TestServiceClient, cc *grpc.ClientConn) {
			interop.DoUnimplementedMethod(ctx, cc)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			srv := grpctest.NewServer(spy, interopService)
			tc.run(t.Context(), client(srv), srv.Conn())
			// Wait until every call ended on the client side and every server
			// half that began has ended too, before looking.
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			err := srv.Recorder().Wait(ctx, func(evs []recorder.Event) bool {
				clientEnds, serverBalance := 0, 0
				for _, e := range evs {
					switch {
					case e.Kind == recorder.End && e.Side == recorder.Client:
						clientEnds++
					case e.Kind == recorder.Begin && e.Side == recorder.Server:
						serverBalance++
					case e.Kind == recorder.End && e.Side == recorder.Server:
						serverBalance--
					}
				}
				return clientEnds >= tc.calls && serverBalance == 0
			})
			if err != nil {
				t.Fatalf("waiting for the calls to end: %v\n%s", err, srv.Recorder())
			}
			if got := len(srv.Recorder().Calls()); got != tc.calls {
				t.Errorf("recorded %d calls, want %d:\n%s", got, tc.calls, srv.Recorder())
			}
			spy.End()
			spy.WantClean(t)
		})
	}
}

func TestCloseIsIdempotentAndClosesConnections(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	extra := srv.Dial()
	if _, err := testgrpc.NewTestServiceClient(extra).EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
		t.Fatalf("EmptyCall on a Dial'd connection: %v", err)
	}
	srv.Close()
	srv.Close()
	spy.End() // runs the Close registered with Cleanup: a third time
	spy.WantClean(t)
	for name, cc := range map[string]*grpc.ClientConn{"Conn": srv.Conn(), "Dial": extra} {
		if st := cc.GetState(); st != connectivity.Shutdown {
			t.Errorf("%s state after Close = %v, want Shutdown", name, st)
		}
	}
	_, err := client(srv).EmptyCall(t.Context(), &testgrpc.Empty{})
	if status.Code(err) != codes.Canceled {
		t.Errorf("EmptyCall after Close: %v, want code Canceled", err)
	}
}

func TestDialAfterCloseIsReported(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	srv.Close()
	cc := srv.Dial()
	spy.Want(t, 1, "Dial called after Close")
	if cc == nil || cc.GetState() != connectivity.Shutdown {
		t.Errorf("Dial after Close returned %v, want a closed connection", cc)
	}
}

func TestDisconnectDropsStreamsAndHarnessStaysUsable(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	extra := testgrpc.NewTestServiceClient(srv.Dial())
	var streams []testgrpc.TestService_FullDuplexCallClient
	for _, c := range []testgrpc.TestServiceClient{client(srv), extra} {
		stream, err := c.FullDuplexCall(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		// One round trip, so the stream is established on both sides.
		req := &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}}}
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
		streams = append(streams, stream)
	}

	srv.Disconnect()

	for i, stream := range streams {
		_, err := stream.Recv()
		if status.Code(err) != codes.Unavailable {
			t.Errorf("stream %d: Recv after Disconnect: %v, want code Unavailable", i, err)
		}
	}
	// The server side ends too: both handlers see their context canceled.
	err := srv.Recorder().Wait(t.Context(), func(evs []recorder.Event) bool {
		ends := 0
		for _, e := range evs {
			if e.Side == recorder.Server && e.Kind == recorder.End {
				ends++
			}
		}
		return ends == 2
	})
	if err != nil {
		t.Fatal(err)
	}
	// Usable afterwards, on both connections.
	for _, c := range []testgrpc.TestServiceClient{client(srv), extra} {
		interop.DoPingPong(t.Context(), c)
	}
	spy.End()
	spy.WantClean(t)
}

// The harness's own clients' next call after Disconnect succeeds, over
// TCP as on bufconn: Disconnect returns once their side has torn the
// transport down, so the call cannot take the dropped one.
func TestDisconnectNextCallSucceeds(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []grpctest.Option
	}{{"bufconn", nil}, {"tcp", []grpctest.Option{grpctest.WithTCP()}}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := grpctest.NewServer(t, interopService, tc.opts...)
			clients := []testgrpc.TestServiceClient{client(srv), testgrpc.NewTestServiceClient(srv.Dial())}
			for i := range 20 {
				for j, c := range clients {
					if _, err := c.EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
						t.Fatalf("round %d, client %d, before Disconnect: %v", i, j, err)
					}
				}
				srv.Disconnect()
				for j, c := range clients {
					if _, err := c.EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
						t.Fatalf("round %d, client %d, right after Disconnect: %v", i, j, err)
					}
				}
			}
		})
	}
}

func TestRecorderOptions(t *testing.T) {
	t.Run("default records both sides", func(t *testing.T) {
		srv := grpctest.NewServer(t, interopService)
		interop.DoEmptyUnaryCall(t.Context(), client(srv))
		calls := srv.Recorder().Calls()
		if len(calls) != 1 || calls[0].Method() != emptyCallName || !calls[0].Done() {
			t.Fatalf("calls = %v, want one finished EmptyCall:\n%s", calls, srv.Recorder())
		}
		sides := map[recorder.Side]bool{}
		for _, e := range calls[0].Events() {
			sides[e.Side] = true
		}
		if !sides[recorder.Client] || !sides[recorder.Server] {
			t.Errorf("sides recorded: %v, want client and server:\n%s", sides, srv.Recorder())
		}
	})
	t.Run("WithRecorder", func(t *testing.T) {
		rec := recorder.New(recorder.WithMethods(unaryCall))
		srv := grpctest.NewServer(t, interopService, grpctest.WithRecorder(rec))
		if srv.Recorder() != rec {
			t.Fatalf("Recorder() = %p, want the given %p", srv.Recorder(), rec)
		}
		interop.DoEmptyUnaryCall(t.Context(), client(srv))
		interop.DoLargeUnaryCall(t.Context(), client(srv))
		calls := rec.Calls()
		if len(calls) != 1 || calls[0].Method() != unaryCall {
			t.Errorf("calls = %v, want only UnaryCall:\n%s", calls, rec)
		}
	})
	t.Run("WithoutRecorder", func(t *testing.T) {
		srv := grpctest.NewServer(t, interopService, grpctest.WithoutRecorder())
		if srv.Recorder() != nil {
			t.Fatalf("Recorder() = %v, want nil", srv.Recorder())
		}
		interop.DoPingPong(t.Context(), client(srv))
	})
}

// User options are applied, and chained user interceptors run.
func TestServerAndDialOptions(t *testing.T) {
	var serverSaw, clientSaw []string
	srv := grpctest.NewServer(t, interopService,
		grpctest.WithServerOptions(grpc.ChainUnaryInterceptor(
			func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
				md, _ := metadata.FromIncomingContext(ctx)
				serverSaw = append(serverSaw, strings.Join(md.Get("user-agent"), ","))
				return handler(ctx, req)
			})),
		grpctest.WithDialOptions(grpc.WithUserAgent("grpctest-ua"), grpc.WithChainUnaryInterceptor(
			func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				clientSaw = append(clientSaw, method)
				return invoker(ctx, method, req, reply, cc, opts...)
			})),
	)
	interop.DoEmptyUnaryCall(t.Context(), client(srv))
	if len(clientSaw) != 1 || clientSaw[0] != emptyCallName {
		t.Errorf("client interceptor saw %q, want [%s]", clientSaw, emptyCallName)
	}
	if len(serverSaw) != 1 || !strings.HasPrefix(serverSaw[0], "grpctest-ua") {
		t.Errorf("server saw user agents %q, want one starting with grpctest-ua", serverSaw)
	}
}

// WithServerOptions and WithDialOptions: gRPC runs an interceptor set with
// the single-interceptor options before every chained one, so outside the
// harness's; chained ones run inside. An interceptor that rejects the call
// shows which: inside, its context carries the handler's label and the
// recorder saw the call on its side; outside, neither.
func TestUserInterceptorsRunInsideTheHarnessOnlyWhenChained(t *testing.T) {
	denied := status.Error(codes.PermissionDenied, "denied by the interceptor")
	labelled := func(ctx context.Context) bool {
		_, ok := pprof.Label(ctx, "streamtest.method")
		return ok
	}
	unary := func(saw *bool) grpc.UnaryServerInterceptor {
		return func(ctx context.Context, _ any, _ *grpc.UnaryServerInfo, _ grpc.UnaryHandler) (any, error) {
			*saw = labelled(ctx)
			return nil, denied
		}
	}
	stream := func(saw *bool) grpc.StreamServerInterceptor {
		return func(_ any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, _ grpc.StreamHandler) error {
			*saw = labelled(ss.Context())
			return denied
		}
	}
	unaryClient := func(context.Context, string, any, any, *grpc.ClientConn, grpc.UnaryInvoker, ...grpc.CallOption) error {
		return denied
	}
	streamClient := func(context.Context, *grpc.StreamDesc, *grpc.ClientConn, string, grpc.Streamer, ...grpc.CallOption) (grpc.ClientStream, error) {
		return nil, denied
	}
	call := func(t *testing.T, srv *grpctest.Server) {
		t.Helper()
		_, err := client(srv).EmptyCall(t.Context(), &testgrpc.Empty{})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("EmptyCall: %v, want the interceptor's PermissionDenied", err)
		}
		stream, err := client(srv).FullDuplexCall(t.Context())
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("FullDuplexCall: %v, want the interceptor's PermissionDenied", err)
		}
	}
	ends := func(srv *grpctest.Server, side recorder.Side) int {
		n := 0
		for _, e := range srv.Recorder().Events() {
			if e.Side == side && e.Kind == recorder.End && status.Code(e.Err) == codes.PermissionDenied {
				n++
			}
		}
		return n
	}
	t.Run("server", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			opts   func(u, s *bool) []grpc.ServerOption
			inside bool
		}{
			{"chained", func(u, s *bool) []grpc.ServerOption {
				return []grpc.ServerOption{grpc.ChainUnaryInterceptor(unary(u)), grpc.ChainStreamInterceptor(stream(s))}
			}, true},
			{"single", func(u, s *bool) []grpc.ServerOption {
				return []grpc.ServerOption{grpc.UnaryInterceptor(unary(u)), grpc.StreamInterceptor(stream(s))}
			}, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var unaryLabelled, streamLabelled bool
				srv := grpctest.NewServer(t, interopService, grpctest.WithServerOptions(tc.opts(&unaryLabelled, &streamLabelled)...))
				call(t, srv)
				if unaryLabelled != tc.inside || streamLabelled != tc.inside {
					t.Errorf("handler label in the unary, stream interceptor's context: %v, %v; want %v", unaryLabelled, streamLabelled, tc.inside)
				}
				if got, want := ends(srv, recorder.Server) == 2, tc.inside; got != want {
					t.Errorf("server side of both calls recorded: %v, want %v\n%s", got, want, srv.Recorder())
				}
			})
		}
	})
	t.Run("client", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			opts   []grpc.DialOption
			inside bool
		}{
			{"chained", []grpc.DialOption{grpc.WithChainUnaryInterceptor(unaryClient), grpc.WithChainStreamInterceptor(streamClient)}, true},
			{"single", []grpc.DialOption{grpc.WithUnaryInterceptor(unaryClient), grpc.WithStreamInterceptor(streamClient)}, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				srv := grpctest.NewServer(t, interopService, grpctest.WithDialOptions(tc.opts...))
				call(t, srv)
				if got, want := ends(srv, recorder.Client) == 2, tc.inside; got != want {
					t.Errorf("client side of both calls recorded: %v, want %v\n%s", got, want, srv.Recorder())
				}
			})
		}
	})
}

// A bufconn buffer much smaller than the messages still carries them.
func TestWithBufferSize(t *testing.T) {
	srv := grpctest.NewServer(t, interopService, grpctest.WithBufferSize(512))
	interop.DoLargeUnaryCall(t.Context(), client(srv))
	interop.DoPingPong(t.Context(), client(srv))
}

func TestInvalidOptionsFailAtConstruction(t *testing.T) {
	cases := []struct {
		name string
		opts []grpctest.Option
		want string
	}{
		{"nil option", []grpctest.Option{nil}, "option 0 is nil"},
		{"buffer size", []grpctest.Option{grpctest.WithBufferSize(0)}, "WithBufferSize(0): the buffer size must be positive"},
		{"small window", []grpctest.Option{grpctest.WithStaticWindow(1024)}, "WithStaticWindow(1024): gRPC ignores flow-control windows below 65535"},
		{"nil recorder", []grpctest.Option{grpctest.WithRecorder(nil)}, "WithRecorder(nil)"},
		{"both recorder options", []grpctest.Option{grpctest.WithRecorder(recorder.New()), grpctest.WithoutRecorder()}, "WithRecorder and WithoutRecorder both given"},
		{"nil server option", []grpctest.Option{grpctest.WithServerOptions(nil)}, "WithServerOptions: option 0 is nil"},
		{"nil dial option", []grpctest.Option{grpctest.WithDialOptions(nil)}, "WithDialOptions: option 0 is nil"},
		{"close timeout", []grpctest.Option{grpctest.WithCloseTimeout(0)}, "WithCloseTimeout(0s): the timeout must be positive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			var srv *grpctest.Server
			if !spy.Run(func() { srv = grpctest.NewServer(spy, interopService, tc.opts...) }).FailedNow {
				t.Errorf("NewServer did not call FailNow")
			}
			if srv != nil {
				t.Errorf("NewServer returned a server")
			}
			spy.Want(t, 1, "grpctest.NewServer:", tc.want)
		})
	}
}

func TestDialWithNilOptionFails(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	if !spy.Run(func() { srv.Dial(nil) }).FailedNow {
		t.Errorf("Dial(nil) did not call FailNow")
	}
	spy.Want(t, 1, "Server.Dial: option 0 is nil")
}

func TestGRPCReturnsTheServer(t *testing.T) {
	srv := grpctest.NewServer(t, interopService)
	info := srv.GRPC().GetServiceInfo()
	if _, ok := info["grpc.testing.TestService"]; !ok {
		t.Errorf("GRPC().GetServiceInfo() = %v, want grpc.testing.TestService registered", info)
	}
}

// A server-streaming call drained to io.EOF, and a client-streaming call
// closed with CloseAndRecv, are finished streams.
func TestFinishedStreamsAreNotReported(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	ctx := context.Background() // never canceled: only draining finishes the streams
	out, err := client(srv).StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{
		ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}, {Size: 2}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := out.Recv(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	in, err := client(srv).StreamingInputCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Send(&testgrpc.StreamingInputCallRequest{Payload: payload(3)}); err != nil {
		t.Fatal(err)
	}
	if _, err := in.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	// A stream the server ended with an error, read until that error.
	bidi, err := client(srv).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := bidi.Send(&testgrpc.StreamingOutputCallRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.Aborted)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := bidi.Recv(); status.Code(err) != codes.Aborted {
		t.Fatalf("Recv: %v, want Aborted", err)
	}
	spy.End()
	spy.WantClean(t)
}

// Close of a clean harness must not wait on any bound: with a bound far
// longer than the test's own timeout it still returns (the real cost is
// measured in BenchmarkHarness).
func TestCleanCloseDoesNotWaitForTheBound(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService, grpctest.WithCloseTimeout(time.Hour))
	interop.DoPingPong(t.Context(), client(srv))
	done := make(chan struct{})
	go func() {
		defer close(done)
		spy.End()
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Close of a clean harness is still running after a minute: it waits for its bound")
	}
	spy.WantClean(t)
}

// WithTCP: the harness listens on loopback TCP. Its own connection, a
// client of the test's own dialing Addr, Disconnect and the leak checks
// all work as on bufconn.
func TestWithTCP(t *testing.T) {
	if got := grpctest.NewServer(t, interopService).Addr(); got != "" {
		t.Errorf("Addr() of a bufconn harness = %q, want \"\"", got)
	}
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService, grpctest.WithTCP())
	addr := srv.Addr()
	if host, _, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" {
		t.Fatalf("Addr() = %q, want 127.0.0.1:port (%v)", addr, err)
	}
	interop.DoPingPong(t.Context(), client(srv))
	own, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	interop.DoEmptyUnaryCall(t.Context(), testgrpc.NewTestServiceClient(own))
	srv.Disconnect()
	interop.DoPingPong(t.Context(), client(srv))
	// The other client reconnects by itself once it has seen the drop.
	for st := own.GetState(); st == connectivity.Ready; st = own.GetState() {
		own.WaitForStateChange(t.Context(), st)
	}
	if _, err := testgrpc.NewTestServiceClient(own).EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
		t.Fatalf("EmptyCall on the test's own client after Disconnect: %v", err)
	}
	own.Close() // before the test ends (spy.End below), as a test's defer would
	// Recorded: both sides of the harness's calls, the server side of the
	// other client's.
	sides := map[string][]recorder.Side{}
	for _, c := range srv.Recorder().Calls() {
		for _, e := range c.Events() {
			if e.Kind == recorder.End {
				sides[c.Method()] = append(sides[c.Method()], e.Side)
			}
		}
	}
	if n := len(sides[fullDuplex]); n != 4 {
		t.Errorf("%d Ends of %s recorded, want 4 (two calls, both sides)\n%s", n, fullDuplex, srv.Recorder())
	}
	if got := sides[emptyCallName]; len(got) != 2 || got[0] != recorder.Server || got[1] != recorder.Server {
		t.Errorf("Ends of %s recorded on sides %v, want the server's of two calls\n%s", emptyCallName, got, srv.Recorder())
	}
	// A stream left open is reported at Close, as on bufconn.
	if _, err := client(srv).FullDuplexCall(context.Background()); err != nil {
		t.Fatal(err)
	}
	spy.End()
	spy.Want(t, 1, "client stream "+fullDuplex, "was never finished")
}

// A Send that returned io.EOF does not finish a stream: the status is
// still unread (only Recv returns it), so Close reports the stream.
func TestStreamWhoseSendReturnedEOFIsReported(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(failingHandler{}))
	stream, err := client(srv).FullDuplexCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The server fails the call at once; Sends return io.EOF once the
	// client has its status.
	for i := 0; ; i++ {
		err := stream.Send(&testgrpc.StreamingOutputCallRequest{})
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Send: %v, want nil or io.EOF", err)
		}
		if i == 1_000_000 {
			t.Fatal("Send never returned io.EOF")
		}
	}
	spy.End()
	spy.Want(t, 1, "client stream "+fullDuplex, "was never finished", "the server ended it with NotFound")
}

// WithClientConnCheck: a grpc.ClientConn that code under test made to
// Addr and never closed is reported when the harness closes, naming the
// address; one closed before the test ends, or by a cleanup registered
// after NewServer, is not.
func TestClientConnLeftOpenToAddr(t *testing.T) {
	for _, how := range []string{"closed", "closed by a cleanup", "left open"} {
		t.Run(how, func(t *testing.T) {
			spy := spytb.New(t)
			srv := grpctest.NewServer(spy, interopService, grpctest.WithTCP(), grpctest.WithClientConnCheck(), grpctest.WithCloseTimeout(100*time.Millisecond))
			cc, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close() // after the harness's Close, in case it was left open
			interop.DoEmptyUnaryCall(t.Context(), testgrpc.NewTestServiceClient(cc))
			switch how {
			case "closed":
				cc.Close()
			case "closed by a cleanup":
				spy.Cleanup(func() { cc.Close() })
			}
			spy.End()
			if how != "left open" {
				spy.WantClean(t)
				return
			}
			spy.Want(t, 1, "1 client connection(s) to Addr() "+srv.Addr()+" that the harness did not make were still open 100ms after Close began (from 127.0.0.1:",
				"did not Close a grpc.ClientConn")
		})
	}
}

// Without WithClientConnCheck, a connection that a cleanup registered
// before NewServer closes (a service the test shuts down itself) is not
// reported, and Close does not wait for it (found by a review, when the
// check was on by default).
func TestClientConnClosedByAnEarlierCleanup(t *testing.T) {
	spy := spytb.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	spy.Cleanup(cancel) // stops the service, after the harnesses' Close
	backend := grpctest.NewServer(spy, interopService, grpctest.WithTCP())
	grpctest.NewServer(spy, func(s *grpc.Server) {
		conn, err := grpc.NewClient(backend.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		context.AfterFunc(ctx, func() { conn.Close() }) // the service's shutdown closes its backend conn
		if _, err := testgrpc.NewTestServiceClient(conn).EmptyCall(ctx, &testgrpc.Empty{}); err != nil {
			t.Fatal(err)
		}
		testgrpc.RegisterTestServiceServer(s, interop.NewTestServer())
	})
	spy.End()
	spy.WantClean(t)
}

// WithClientConnCheck needs WithTCP, and contradicts WithoutLeakCheck;
// WithBufferSize has no meaning with WithTCP.
func TestWithClientConnCheckMisuse(t *testing.T) {
	for _, tc := range []struct {
		opts []grpctest.Option
		want string
	}{
		{[]grpctest.Option{grpctest.WithClientConnCheck()}, "WithClientConnCheck without WithTCP"},
		{[]grpctest.Option{grpctest.WithTCP(), grpctest.WithClientConnCheck(), grpctest.WithoutLeakCheck()}, "WithClientConnCheck and WithoutLeakCheck both given"},
		{[]grpctest.Option{grpctest.WithBufferSize(1 << 20), grpctest.WithTCP()}, "WithBufferSize(1048576) with WithTCP: the buffer size is bufconn's"},
	} {
		spy := spytb.New(t)
		spy.Run(func() { grpctest.NewServer(spy, interopService, tc.opts...) })
		spy.Want(t, 1, "grpctest.NewServer: ", tc.want)
	}
}

// A harness made in a cleanup works, and is closed: testing runs the
// cleanups that cleanups register.
func TestNewServerInACleanup(t *testing.T) {
	closed := make(chan struct{})
	t.Run("sub", func(t *testing.T) {
		t.Cleanup(func() {
			srv := grpctest.NewServer(t, interopService)
			if _, err := client(srv).EmptyCall(context.Background(), &testgrpc.Empty{}); err != nil {
				t.Error(err)
			}
			t.Cleanup(func() { close(closed) }) // registered after the harness's Close: runs before it
		})
	})
	select {
	case <-closed:
	default:
		t.Errorf("a cleanup registered in a cleanup did not run")
	}
}
