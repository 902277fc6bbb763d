package fakes_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/interop"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

var errInjected = status.Error(codes.Unavailable, "injected by fakes.FailAfter")

// interopServer starts grpc-go's interop TestService on a harness with the
// given stream interceptors.
func interopServer(t testing.TB, ints ...grpc.StreamServerInterceptor) *grpctest.Server {
	t.Helper()
	return grpctest.NewServer(t, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, interop.NewTestServer()) },
		grpctest.WithServerOptions(grpc.ChainStreamInterceptor(ints...)))
}

// collect is client code under test with resume logic: it asks
// StreamingOutputCall for responses of the given sizes and, when the stream
// breaks with codes.Unavailable, asks again for the ones it is missing, at
// most attempts times in all.
func collect(ctx context.Context, client testpb.TestServiceClient, sizes []int32, attempts int) ([]*dupRes, error) {
	var got []*dupRes
	for a := 1; ; a++ {
		stream, err := client.StreamingOutputCall(ctx, req(sizes[len(got):]...), grpc.WaitForReady(true))
		if err != nil {
			return got, err
		}
		for {
			m, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return got, nil
			}
			if err != nil {
				if status.Code(err) != codes.Unavailable || a >= attempts {
					return got, err
				}
				break // resume
			}
			got = append(got, m)
		}
	}
}

// endCodes returns the final status code of each recorded call of method.
func endCodes(r *recorder.Recorder, method string) []codes.Code {
	var out []codes.Code
	for _, c := range r.Calls() {
		if c.Method() == method {
			out = append(out, status.Code(c.Err()))
		}
	}
	return out
}

func TestFailAfterExercisesResume(t *testing.T) {
	// Each stream passes 3 messages (the request and two responses), then breaks.
	h := interopServer(t, fakes.FailAfter(streamingOut, 3, errInjected))
	client := testpb.NewTestServiceClient(h.Conn())

	got, err := collect(t.Context(), client, []int32{1, 2, 3, 4, 5}, 5)
	if err != nil {
		t.Fatalf("collect with resume: %v", err)
	}
	wantMsgs(t, []*dupRes{res(1), res(2), res(3), res(4), res(5)}, got)
	wantMsgs(t, []codes.Code{codes.Unavailable, codes.Unavailable, codes.OK}, endCodes(h.Recorder(), streamingOut))
}

// The same fault breaks a client without resume logic: the check fires.
func TestFailAfterBreaksANaiveClient(t *testing.T) {
	h := interopServer(t, fakes.FailAfter(streamingOut, 3, errInjected))
	got, err := collect(t.Context(), testpb.NewTestServiceClient(h.Conn()), []int32{1, 2, 3, 4, 5}, 1)
	wantCode(t, err, codes.Unavailable)
	if !strings.Contains(err.Error(), "injected by fakes.FailAfter") {
		t.Errorf("error = %v, want the injected one", err)
	}
	wantMsgs(t, []*dupRes{res(1), res(2)}, got)
}

func TestFailAfterMethodFilter(t *testing.T) {
	for _, tc := range []struct {
		filter     string
		failsOther bool // also breaks FullDuplexCall
	}{
		{streamingOut, false},
		{"/grpc.testing.TestService/", true},
		{"", true},
		{"*", true},
		{"/grpc.testing.OtherService/", false},
	} {
		t.Run(tc.filter, func(t *testing.T) {
			h := interopServer(t, fakes.FailAfter(tc.filter, 0, errInjected))
			client := testpb.NewTestServiceClient(h.Conn())
			_, err := collect(t.Context(), client, []int32{1}, 1)
			if strings.HasPrefix(tc.filter, "/grpc.testing.Other") {
				if err != nil {
					t.Fatalf("StreamingOutputCall broken by a filter for another service: %v", err)
				}
			} else {
				wantCode(t, err, codes.Unavailable)
			}
			_, err = exchange(t.Context(), client, req(1))
			if tc.failsOther {
				wantCode(t, err, codes.Unavailable)
			} else if err != nil {
				t.Fatalf("FullDuplexCall broken by filter %q: %v", tc.filter, err)
			}
		})
	}
}

func TestFaultInterceptorsBadArguments(t *testing.T) {
	for _, tc := range []struct {
		name string
		ic   grpc.StreamServerInterceptor
		want string
	}{
		{"negative n", fakes.FailAfter(fullDuplex, -1, errInjected), "n = -1"},
		{"nil err", fakes.FailAfter(fullDuplex, 1, nil), "err is nil"},
		{"bad method", fakes.FailAfter("FullDuplexCall", 1, errInjected), `method "FullDuplexCall"`},
		{"negative delay", fakes.Delay(fullDuplex, -time.Second), "d = -1s"},
		{"bad delay method", fakes.Delay("grpc.testing.TestService/FullDuplexCall", time.Second), "want \"/pkg.Service/Method\""},
		{"no streams to break", fakes.FailFirst(fullDuplex, 0, 1, errInjected), "streams = 0, want >= 1"},
		{"FailFirst, all wrong", fakes.FailFirst("x", -1, -1, nil), `fakes.FailFirst("x", -1, -1, <nil>)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := interopServer(t, tc.ic)
			_, err := exchange(t.Context(), testpb.NewTestServiceClient(h.Conn()), req(1))
			wantCode(t, err, codes.Internal)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v; want it to contain %q", err, tc.want)
			}
		})
	}
}

// callWithTimeouts is client code under test: one StreamingOutputCall
// response, each attempt bounded by perAttempt, retried on
// codes.DeadlineExceeded at most attempts times in all.
func callWithTimeouts(ctx context.Context, client testpb.TestServiceClient, perAttempt time.Duration, attempts int) (*dupRes, error) {
	for a := 1; ; a++ {
		m, err := func() (*dupRes, error) {
			ctx, cancel := context.WithTimeout(ctx, perAttempt)
			defer cancel()
			stream, err := client.StreamingOutputCall(ctx, req(1))
			if err != nil {
				return nil, err
			}
			return stream.Recv()
		}()
		if status.Code(err) != codes.DeadlineExceeded || a >= attempts {
			return m, err
		}
	}
}

// A server that never answers in time: the client's per-attempt timeout
// and retry bound are exercised, and the delayed handlers end with the
// calls (the harness reports a stuck handler otherwise).
func TestDelayExercisesTimeoutsAndRetries(t *testing.T) {
	h := interopServer(t, fakes.Delay(streamingOut, time.Hour))
	_, err := callWithTimeouts(t.Context(), testpb.NewTestServiceClient(h.Conn()), 20*time.Millisecond, 3)
	wantCode(t, err, codes.DeadlineExceeded)
	wantMsgs(t, []codes.Code{codes.DeadlineExceeded, codes.DeadlineExceeded, codes.DeadlineExceeded},
		endCodes(h.Recorder(), streamingOut))
}

func TestDelaySlowsEachMessage(t *testing.T) {
	const d = 10 * time.Millisecond
	h := interopServer(t, fakes.Delay(streamingOut, d))
	start := time.Now()
	got, err := collect(t.Context(), testpb.NewTestServiceClient(h.Conn()), []int32{1, 2}, 1)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	wantMsgs(t, []*dupRes{res(1), res(2)}, got)
	// The handler's RecvMsg and two SendMsg each waited d, one after the other.
	if took < 3*d {
		t.Errorf("the call took %v, want >= %v (3 delayed messages):\n%s", took, 3*d, h.Recorder())
	}
}

// FailAfter and Delay compose with each other and with the fake server,
// whose report names the step the injected fault stopped.
func TestFaultsComposeWithTheFakeServer(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy, grpctest.WithServerOptions(grpc.ChainStreamInterceptor(
		fakes.Delay(fullDuplex, time.Millisecond),
		fakes.FailAfter(fullDuplex, 2, errInjected))))
	srv.Expect(fullDuplex).Recv(req(1)).Send(res(1)).Recv(req(2)).Send(res(2))
	got, err := exchange(t.Context(), testpb.NewTestServiceClient(srv.Conn()), req(1), req(2))
	wantCode(t, err, codes.Unavailable)
	wantMsgs(t, []*dupRes{res(1)}, got)
	spy.End()
	spy.WantText(t, "did not complete its script", "ended during step 3 Recv", "injected by fakes.FailAfter", "steps not reached:", "step 4 Send")
}

// resilientPingPong is client code under test: ping-pong on FullDuplexCall
// that, when the stream breaks with codes.Unavailable, opens a new one
// (waiting for the connection to come back) and resends the request in
// flight, at most reopens times. after(i) runs after response i.
func resilientPingPong(ctx context.Context, client testpb.TestServiceClient, sizes []int32, reopens int, after func(i int)) ([]*dupRes, error) {
	var got []*dupRes
	open := func() (grpc.BidiStreamingClient[dupReq, dupRes], error) {
		return client.FullDuplexCall(ctx, grpc.WaitForReady(true))
	}
	stream, err := open()
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(sizes); {
		err := stream.Send(req(sizes[i]))
		var m *dupRes
		if err == nil || errors.Is(err, io.EOF) {
			m, err = stream.Recv() // after a failed Send, Recv has the status
		}
		if err != nil {
			if status.Code(err) != codes.Unavailable || reopens == 0 {
				return got, err
			}
			reopens--
			if stream, err = open(); err != nil {
				return got, err
			}
			continue
		}
		got = append(got, m)
		after(i)
		i++
	}
	if err := stream.CloseSend(); err != nil {
		return got, err
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		return got, err
	}
	return got, nil
}

func TestDisconnectExercisesReconnect(t *testing.T) {
	h := interopServer(t)
	disconnectAfterFirst := func(i int) {
		if i == 0 {
			h.Disconnect()
		}
	}
	got, err := resilientPingPong(t.Context(), testpb.NewTestServiceClient(h.Conn()), []int32{1, 2, 3}, 2, disconnectAfterFirst)
	if err != nil {
		t.Fatalf("resilientPingPong: %v", err)
	}
	wantMsgs(t, []*dupRes{res(1), res(2), res(3)}, got)
	// Client ends only: the server half of the broken call may end with
	// Canceled or Unavailable depending on who notices first.
	var clientEnds []codes.Code
	for _, e := range h.Recorder().Events() {
		if e.Side == recorder.Client && e.Kind == recorder.End {
			clientEnds = append(clientEnds, status.Code(e.Err))
		}
	}
	wantMsgs(t, []codes.Code{codes.Unavailable, codes.OK}, clientEnds)
}

// The same fault breaks a client that does not reconnect: the check fires.
func TestDisconnectBreaksANaiveClient(t *testing.T) {
	h := interopServer(t)
	got, err := resilientPingPong(t.Context(), testpb.NewTestServiceClient(h.Conn()), []int32{1, 2, 3}, 0, func(i int) {
		if i == 0 {
			h.Disconnect()
		}
	})
	wantCode(t, err, codes.Unavailable)
	wantMsgs(t, []*dupRes{res(1)}, got)
}

// A fault on a scripted Send ends the call with the injected status, as a
// real handler returning Send's error would.
func TestFailAfterOnAScriptedSend(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy, grpctest.WithServerOptions(grpc.ChainStreamInterceptor(
		fakes.FailAfter(fullDuplex, 1, errInjected))))
	srv.Expect(fullDuplex).Recv(req(1)).Send(res(1))
	_, err := exchange(t.Context(), testpb.NewTestServiceClient(srv.Conn()), req(1))
	wantCode(t, err, codes.Unavailable)
	spy.End()
	spy.WantText(t, "did not complete its script", "ended during step 2 Send", "injected by fakes.FailAfter", "no step after it")
}

// FailAfter counts messages, not operations: StreamingInputCall with k
// requests passes k+1 messages (the requests and the one response); the
// io.EOF that ends the requests is not one.
func TestFailAfterCountsMessagesNotOperations(t *testing.T) {
	for _, tc := range []struct {
		reqs, n int
		want    codes.Code
	}{
		{1, 2, codes.OK},
		{1, 1, codes.Unavailable}, // the response is the 2nd message
		{2, 3, codes.OK},
		{2, 2, codes.Unavailable},
	} {
		h := interopServer(t, fakes.FailAfter(streamingIn, tc.n, errInjected))
		stream, err := testpb.NewTestServiceClient(h.Conn()).StreamingInputCall(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for range tc.reqs {
			if err := stream.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: []byte("x")}}); err != nil {
				t.Fatal(err)
			}
		}
		_, err = stream.CloseAndRecv()
		if status.Code(err) != tc.want {
			t.Errorf("FailAfter(n=%d) with %d request(s) and the response: CloseAndRecv = %v, want code %v\n%s",
				tc.n, tc.reqs, err, tc.want, h.Recorder())
		}
	}
}

// FailFirst breaks the first streams only: an upload that breaks twice
// goes through on the third attempt, as a client that retries needs.
func TestFailFirstLetsTheRetrySucceed(t *testing.T) {
	h := interopServer(t, fakes.FailFirst(streamingIn, 2, 1, errInjected))
	upload := func() error {
		stream, err := testpb.NewTestServiceClient(h.Conn()).StreamingInputCall(t.Context())
		if err != nil {
			return err
		}
		for range 3 {
			if err := stream.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: []byte("x")}}); err != nil {
				break // the break shows in CloseAndRecv's status
			}
		}
		_, err = stream.CloseAndRecv()
		return err
	}
	for i, want := range []codes.Code{codes.Unavailable, codes.Unavailable, codes.OK, codes.OK} {
		if err := upload(); status.Code(err) != want {
			t.Errorf("upload %d: %v, want code %v\n%s", i+1, err, want, h.Recorder())
		}
	}
	// Other methods neither break nor count.
	h = interopServer(t, fakes.FailFirst(streamingIn, 1, 0, errInjected))
	if _, err := exchange(t.Context(), testpb.NewTestServiceClient(h.Conn()), req(1)); err != nil {
		t.Errorf("a stream of another method: %v", err)
	}
	if err := upload(); status.Code(err) != codes.Unavailable {
		t.Errorf("the first stream of the method after another method's: %v, want Unavailable", err)
	}
}

// failAfterOn runs handler through a FailAfter(fullDuplex, n) interceptor
// on the fake stream s.
func failAfterOn(s *fakes.ServerStream[dupReq, dupRes], n int, handler func(grpc.ServerStream) error) error {
	ic := fakes.FailAfter(fullDuplex, n, errInjected)
	return ic(nil, s, &grpc.StreamServerInfo{FullMethod: fullDuplex, IsClientStream: true, IsServerStream: true},
		func(_ any, ss grpc.ServerStream) error { return handler(ss) })
}

// Failed operations are not messages: a Send or Recv that fails, and a
// Recv of io.EOF, leave the count alone; the operation after the n-th
// message fails without touching the stream.
func TestFailAfterSkipsFailedOperations(t *testing.T) {
	s := newDuplex(t, fakes.WithFailAt(1, errStr("send broke")), fakes.WithFailAt(2, errStr("recv broke")))
	s.Push(req(1))
	s.CloseSend()
	var got []string
	err := failAfterOn(s, 2, func(ss grpc.ServerStream) error {
		got = append(got, errText(ss.SendMsg(res(1))))      // the fake's injected failure
		got = append(got, errText(ss.RecvMsg(new(dupReq)))) // the fake's injected failure
		got = append(got, errText(ss.RecvMsg(new(dupReq)))) // message 1
		got = append(got, errText(ss.RecvMsg(new(dupReq)))) // io.EOF
		got = append(got, errText(ss.SendMsg(res(2))))      // message 2
		got = append(got, errText(ss.SendMsg(res(3))))      // fails: n = 2 went through
		got = append(got, errText(ss.RecvMsg(new(dupReq)))) // fails, as every later one
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	inj := errInjected.Error()
	wantMsgs(t, []string{"send broke", "recv broke", "", "EOF", "", inj, inj}, got)
	wantMsgs(t, []*dupRes{res(2)}, s.Responses())
}

// The handler never gets more than n messages, even when a Recv waits
// while a Send passes the n-th: that Recv fails.
func TestFailAfterConcurrentRecvPastN(t *testing.T) {
	s := newDuplex(t)
	err := failAfterOn(s, 1, func(ss grpc.ServerStream) error {
		recv := grpctest.GoErr(t, func() error { return ss.RecvMsg(new(dupReq)) })
		if !recv.AssertBlocked(stillBlocked) {
			t.FailNow()
		}
		if err := ss.SendMsg(res(1)); err != nil {
			t.Errorf("SendMsg of message 1 = %v", err)
		}
		s.Push(req(1)) // the waiting Recv reads it: message 2
		if err := waitErr(t, recv); err != errInjected {
			t.Errorf("RecvMsg that read message 2 = %v, want the injected error", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantMsgs(t, []*dupRes{res(1)}, s.Responses())
}

// Through WithServerOptions FailAfter runs inside the harness's recorder:
// the recorder has the server's End with the injected status, not the
// failed Send. Chained before a recorder of one's own, the failed Send is
// recorded with its error, as FailAfter's doc says.
func TestFailAfterAndTheRecorder(t *testing.T) {
	serverSends := func(r *recorder.Recorder) (sends, failed int, end codes.Code) {
		for _, e := range r.Events() {
			switch {
			case e.Side == recorder.Server && e.Kind == recorder.Send:
				sends++
				if status.Code(e.Err) == codes.Unavailable {
					failed++
				}
			case e.Side == recorder.Server && e.Kind == recorder.End:
				end = status.Code(e.Err)
			}
		}
		return sends, failed, end
	}
	register := func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, interop.NewTestServer()) }

	inside := grpctest.NewServer(t, register, grpctest.WithServerOptions(grpc.ChainStreamInterceptor(
		fakes.FailAfter(streamingOut, 2, errInjected))))
	_, err := collect(t.Context(), testpb.NewTestServiceClient(inside.Conn()), []int32{1, 2}, 1)
	wantCode(t, err, codes.Unavailable)
	inside.Close()
	if sends, failed, end := serverSends(inside.Recorder()); sends != 1 || failed != 0 || end != codes.Unavailable {
		t.Errorf("inside the harness's recorder: %d server Send(s), %d failed, End %v; want 1, 0, Unavailable\n%s",
			sends, failed, end, inside.Recorder())
	}

	r := recorder.New()
	// As FailAfter's doc writes it.
	outside := grpctest.NewServer(t, register, grpctest.WithoutRecorder(),
		grpctest.WithServerOptions(grpc.ChainStreamInterceptor(fakes.FailAfter(streamingOut, 2, errInjected))),
		grpctest.WithServerOptions(r.ServerOptions()...), // added after: inside FailAfter
		grpctest.WithDialOptions(r.DialOptions()...))
	_, err = collect(t.Context(), testpb.NewTestServiceClient(outside.Conn()), []int32{1, 2}, 1)
	wantCode(t, err, codes.Unavailable)
	outside.Close()
	if sends, failed, end := serverSends(r); sends != 2 || failed != 1 || end != codes.Unavailable {
		t.Errorf("chained before the recorder: %d server Send(s), %d failed, End %v; want 2, 1, Unavailable\n%s",
			sends, failed, end, r)
	}
}

// errText is err's text, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// As NewServer's doc says: a fault FailAfter injects into a scripted call
// fails its script even when the client copes with it, while the same break
// scripted with Return passes.
func TestScriptedBreakInsteadOfFailAfter(t *testing.T) {
	run := func(t *testing.T, spy *spytb.TB, srv *fakes.Server) {
		got, err := resilientPingPong(t.Context(), testpb.NewTestServiceClient(srv.Conn()), []int32{1, 2}, 1, func(int) {})
		if err != nil {
			t.Fatalf("the client did not cope with the break: %v", err)
		}
		wantMsgs(t, []*dupRes{res(1), res(2)}, got)
		spy.End()
	}
	t.Run("FailAfter", func(t *testing.T) {
		spy := spytb.New(t)
		srv := fakes.NewServer(spy, grpctest.WithServerOptions(grpc.ChainStreamInterceptor(
			fakes.FailAfter(fullDuplex, 3, errInjected))))
		srv.Expect(fullDuplex).Recv(req(1)).Send(res(1)).Recv(req(2)).Send(res(2))
		srv.Expect(fullDuplex).Recv(req(2)).Send(res(2)).RecvEOF()
		run(t, spy, srv)
		spy.Want(t, 1, "(call 1 of 1): did not complete its script: the call ended during step 4 Send(", "injected by fakes.FailAfter")
	})
	t.Run("Return", func(t *testing.T) {
		spy := spytb.New(t)
		srv := fakes.NewServer(spy)
		srv.Expect(fullDuplex).Recv(req(1)).Send(res(1)).Recv(req(2)).Return(errInjected)
		srv.Expect(fullDuplex).Recv(req(2)).Send(res(2)).RecvEOF()
		run(t, spy, srv)
		spy.WantClean(t)
	})
}

// A client's resume logic against the fake server: the script of the call
// that Disconnect breaks ends with Hang (the call's end is the test's
// doing, and a Hang ended by its call's end completes the script), and a
// second script takes the resumed call. Nothing is reported.
func TestDisconnectOnTheFakeServerExercisesResume(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(fullDuplex).Recv(req(1)).Send(res(1)).Hang()
	srv.Expect(fullDuplex).Recv(req(2)).Send(res(2)).Recv(req(3)).Send(res(3)).RecvEOF()
	got, err := resilientPingPong(t.Context(), testpb.NewTestServiceClient(srv.Conn()), []int32{1, 2, 3}, 1, func(i int) {
		if i == 0 {
			srv.Harness().Disconnect()
		}
	})
	if err != nil {
		t.Fatalf("resilientPingPong: %v", err)
	}
	wantMsgs(t, []*dupRes{res(1), res(2), res(3)}, got)
	srv.Close()
	spy.WantClean(t)
}
