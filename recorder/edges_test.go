package recorder_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/structpb"

	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/streamtest/streamtest/recorder"
)

// headerSpy echoes like echoServer and reports, for every call, whether
// its handler saw a call-id header.
type headerSpy struct {
	echoServer
	saw chan bool
}

func (s *headerSpy) report(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.saw <- len(md.Get(recorder.CallIDHeader)) > 0
}

func (s *headerSpy) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	s.report(ctx)
	return s.echoServer.UnaryCall(ctx, req)
}

func (s *headerSpy) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	s.report(stream.Context())
	return s.echoServer.FullDuplexCall(stream)
}

// echoOnce runs one FullDuplexCall: one request, its echo, half-close,
// io.EOF.
func echoOnce(t *testing.T, conn *grpc.ClientConn) {
	t.Helper()
	st, err := testpb.NewTestServiceClient(conn).FullDuplexCall(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&testpb.StreamingOutputCallRequest{Payload: payload("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("last Recv: %v, want io.EOF", err)
	}
}

// oneCallBothSides fails t unless r holds exactly one call with events of
// both sides and no recorded metadata holds a call-id header.
func oneCallBothSides(t *testing.T, name string, r *recorder.Recorder) {
	t.Helper()
	calls := r.Calls()
	if len(calls) != 1 {
		t.Errorf("%s: %d calls for one RPC, want 1\n%s", name, len(calls), r)
		return
	}
	sides := map[recorder.Side]bool{}
	for _, e := range calls[0].Events() {
		sides[e.Side] = true
		if vs := e.MD.Get(recorder.CallIDHeader); len(vs) > 0 {
			t.Errorf("%s: %s %s recorded %s %q", name, e.Side, e.Kind, recorder.CallIDHeader, vs)
		}
	}
	if !sides[recorder.Client] || !sides[recorder.Server] {
		t.Errorf("%s: the call has events of %v only\n%s", name, sides, r)
	}
}

// Two Recorders, each on both sides of the same calls: each sees one call
// per RPC with both halves, records neither its own header nor the other's,
// and the handler sees none.
func TestSeveralRecordersEachCorrelate(t *testing.T) {
	for _, rpc := range []string{"unary", "stream"} {
		t.Run(rpc, func(t *testing.T) {
			a, b := recorder.New(), recorder.New()
			spy := &headerSpy{saw: make(chan bool, 1)}
			p := newPairOpts(t, bufnet, append(a.ServerOptions(), b.ServerOptions()...),
				func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, spy) },
				append(a.DialOptions(), b.DialOptions()...)...)
			if rpc == "unary" {
				if _, err := testpb.NewTestServiceClient(p.conn).UnaryCall(ctxT(t), &testpb.SimpleRequest{}); err != nil {
					t.Fatal(err)
				}
			} else {
				echoOnce(t, p.conn)
			}
			if <-spy.saw {
				t.Errorf("the handler saw a %s", recorder.CallIDHeader)
			}
			oneCallBothSides(t, "recorder a", a)
			oneCallBothSides(t, "recorder b", b)
		})
	}
}

// ownInterceptors are a stream client and a stream server interceptor
// that users could write around WrapClientStream and WrapServerStream.
func ownInterceptors(rec *recorder.Recorder, tag bool) (grpc.StreamClientInterceptor, grpc.StreamServerInterceptor) {
	client := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		if tag {
			ctx = rec.TagContext(ctx, method)
		}
		cs, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			return nil, err
		}
		return rec.WrapClientStream(cs, desc, method), nil
	}
	server := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		w := rec.WrapServerStream(ss, info)
		err := handler(srv, w)
		rec.EndServerStream(w, err)
		return err
	}
	return client, server
}

// Interceptors of the user's own, built on the wrappers, correlate the two
// halves of a call through TagContext; without it each half has an id of
// its own.
func TestOwnInterceptorsCorrelateWithTagContext(t *testing.T) {
	for _, tag := range []bool{true, false} {
		rec := recorder.New()
		ci, si := ownInterceptors(rec, tag)
		spy := &headerSpy{saw: make(chan bool, 1)}
		p := newPairOpts(t, bufnet, []grpc.ServerOption{grpc.StreamInterceptor(si)},
			func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, spy) },
			grpc.WithStreamInterceptor(ci))
		echoOnce(t, p.conn)
		if <-spy.saw {
			t.Errorf("tag %v: the handler saw a %s", tag, recorder.CallIDHeader)
		}
		if tag {
			oneCallBothSides(t, "with TagContext", rec)
		} else if n := len(rec.Calls()); n != 2 {
			t.Errorf("without TagContext: %d calls, want 2 (one per half)\n%s", n, rec)
		}
	}
	if ctx := (*recorder.Recorder)(nil).TagContext(context.Background(), "/a.B/C"); ctx != context.Background() {
		t.Errorf("a nil Recorder's TagContext changed the context")
	}
}

// WithMethods applies to the wrappers too: a method left out gets its
// stream back as it was, and nothing is recorded.
func TestWrappersHonourWithMethods(t *testing.T) {
	rec := recorder.New(recorder.WithMethods("/only.This/Method"))
	ci, si := ownInterceptors(rec, true)
	p := newPairOpts(t, bufnet, []grpc.ServerOption{grpc.StreamInterceptor(si)}, registerEcho, grpc.WithStreamInterceptor(ci))
	echoOnce(t, p.conn)
	if ev := rec.Events(); len(ev) != 0 {
		t.Errorf("WithMethods left FullDuplexCall out, yet the wrappers recorded:\n%s", rec)
	}
	var ss grpc.ServerStream = nilCtxServer{}
	if got := rec.WrapServerStream(ss, &grpc.StreamServerInfo{FullMethod: "/other.S/M"}); got != ss {
		t.Errorf("WrapServerStream of a method left out returned %T, want the stream itself", got)
	}
	var cs grpc.ClientStream = nilCtxClient{}
	if got := rec.WrapClientStream(cs, nil, "/other.S/M"); got != cs {
		t.Errorf("WrapClientStream of a method left out returned %T, want the stream itself", got)
	}
}

// badUTF8 is a request gRPC cannot marshal (a proto3 string with invalid
// UTF-8): the recorder cannot either, and must clone it instead.
func badUTF8() *testpb.StreamingOutputCallRequest {
	return &testpb.StreamingOutputCallRequest{ResponseStatus: &testpb.EchoStatus{Message: "\xff"}}
}

// A proto message that cannot be marshaled is recorded as a clone: the
// caller changing it afterwards, or a reader changing what it got, leaves
// the record as it was. Both store modes, unary and stream.
func TestUnmarshalableMessagesAreCloned(t *testing.T) {
	for _, limit := range []int{0, 100} {
		rec := recorder.New(recorder.WithLimit(limit))
		p := newPair(t, bufnet, rec, rec, registerEcho)
		c := testpb.NewTestServiceClient(p.conn)
		unary := &testpb.SimpleRequest{ResponseStatus: &testpb.EchoStatus{Message: "\xff"}}
		if _, err := c.UnaryCall(ctxT(t), unary); status.Code(err) != codes.Internal {
			t.Fatalf("unary call with invalid UTF-8: %v, want Internal", err)
		}
		unary.ResponseStatus.Message = "changed by the caller"
		st, err := c.FullDuplexCall(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		streamed := badUTF8()
		if err := st.Send(streamed); err == nil {
			t.Fatal("Send of invalid UTF-8 succeeded")
		}
		streamed.ResponseStatus.Message = "changed by the caller"
		if _, err := st.Recv(); status.Code(err) != codes.Internal {
			t.Fatalf("Recv after the failed Send: %v, want Internal", err)
		}

		check := func(when string) {
			t.Helper()
			n := 0
			for _, e := range rec.Events() {
				if e.Kind != recorder.Send || e.Side != recorder.Client {
					continue
				}
				n++
				m, ok := e.Msg.(interface {
					proto.Message
					GetResponseStatus() *testpb.EchoStatus
				})
				if !ok {
					t.Fatalf("limit %d, %s: client Send holds %T", limit, when, e.Msg)
				}
				if got := m.GetResponseStatus().GetMessage(); got != "\xff" {
					t.Errorf("limit %d, %s: recorded %s: %q, want the message as sent", limit, when, e.Method, got)
				}
				if e.Msg == any(unary) || e.Msg == any(streamed) {
					t.Errorf("limit %d, %s: the record is the caller's message itself", limit, when)
				}
				m.GetResponseStatus().Message = "changed by a reader"
			}
			if n != 2 {
				t.Fatalf("limit %d, %s: %d client Sends, want 2\n%s", limit, when, n, rec)
			}
		}
		check("first read")
		check("second read") // the first read's changes did not reach it
	}
}

// failingStream answers StreamingOutputCall with two responses, then
// fails with Aborted.
type failingStream struct {
	testpb.UnimplementedTestServiceServer
}

func (failingStream) StreamingOutputCall(_ *testpb.StreamingOutputCallRequest, stream testpb.TestService_StreamingOutputCallServer) error {
	for range 2 {
		if err := stream.Send(&testpb.StreamingOutputCallResponse{}); err != nil {
			return err
		}
	}
	return status.Error(codes.Aborted, "enough")
}

// Every RecvMsg that fails gives a Recv event with its error, also one
// called after the call has ended; the End comes once, after the first.
func TestEveryFailedRecvIsRecorded(t *testing.T) {
	rec := recorder.New()
	p := newPair(t, bufnet, rec, rec, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, failingStream{}) })
	st, err := testpb.NewTestServiceClient(p.conn).StreamingOutputCall(ctxT(t), &testpb.StreamingOutputCallRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		_, err := st.Recv()
		if (i < 2) != (err == nil) {
			t.Fatalf("Recv %d: %v", i, err)
		}
	}
	var got []string
	for _, e := range rec.Events() {
		if e.Side == recorder.Client && (e.Kind == recorder.Recv || e.Kind == recorder.End) {
			got = append(got, e.Kind.String()+":"+status.Code(e.Err).String())
		}
	}
	want := "recv:OK recv:OK recv:Aborted end:Aborted recv:Aborted"
	if strings.Join(got, " ") != want {
		t.Errorf("client events %q, want %q\n%s", strings.Join(got, " "), want, rec)
	}
}

// The End of a client half always carries a status error, also when an
// interceptor further in returns an error of its own.
func TestClientEndIsAStatusError(t *testing.T) {
	boom := errors.New("boom")
	unary := func(context.Context, string, any, any, *grpc.ClientConn, grpc.UnaryInvoker, ...grpc.CallOption) error {
		return boom
	}
	stream := func(context.Context, *grpc.StreamDesc, *grpc.ClientConn, string, grpc.Streamer, ...grpc.CallOption) (grpc.ClientStream, error) {
		return nil, boom
	}
	rec := recorder.New()
	p := newPair(t, bufnet, nil, rec, registerEcho, grpc.WithChainUnaryInterceptor(unary), grpc.WithChainStreamInterceptor(stream))
	c := testpb.NewTestServiceClient(p.conn)
	if _, err := c.UnaryCall(ctxT(t), &testpb.SimpleRequest{}); !errors.Is(err, boom) {
		t.Fatalf("unary call: %v, want boom", err)
	}
	if _, err := c.FullDuplexCall(ctxT(t)); !errors.Is(err, boom) {
		t.Fatalf("stream call: %v, want boom", err)
	}
	calls := rec.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d calls, want 2\n%s", len(calls), rec)
	}
	for _, c := range calls {
		st, ok := status.FromError(c.Err())
		if _, isStatus := c.Err().(interface{ GRPCStatus() *status.Status }); !ok || !isStatus || st.Code() != codes.Unknown || st.Message() != "boom" {
			t.Errorf("%s: Err() = %#v, want a status error Unknown: boom", c.Method(), c.Err())
		}
	}
}

type nilCtxServer struct{ grpc.ServerStream }

func (nilCtxServer) Context() context.Context { return nil }

type nilCtxClient struct{ grpc.ClientStream }

func (nilCtxClient) Context() context.Context { return nil }

// A nil *Recorder records nothing and never panics: its interceptors pass
// calls through, its reads are empty, Wait says what is wrong. Wait with a
// nil context and wrappers of streams without a context give no panic
// either.
func TestNilRecorderAndNilContexts(t *testing.T) {
	var r *recorder.Recorder
	p := newPairOpts(t, bufnet, r.ServerOptions(), registerEcho, r.DialOptions()...)
	echoOnce(t, p.conn)
	if _, err := testpb.NewTestServiceClient(p.conn).UnaryCall(ctxT(t), &testpb.SimpleRequest{}); err != nil {
		t.Fatalf("unary call through a nil Recorder's interceptors: %v", err)
	}
	if ev, calls, n := r.Events(), r.Calls(), r.Dropped(); ev != nil || calls != nil || n != 0 {
		t.Errorf("nil Recorder: Events %v, Calls %v, Dropped %d; want nothing", ev, calls, n)
	}
	r.Reset()
	if s := r.String(); !strings.Contains(s, "nil Recorder") {
		t.Errorf("nil Recorder's String() = %q", s)
	}
	var ss grpc.ServerStream = nilCtxServer{}
	if got := r.WrapServerStream(ss, nil); got != ss {
		t.Errorf("a nil Recorder wrapped a server stream")
	}
	r.EndServerStream(ss, nil)
	always := func([]recorder.Event) bool { return true }
	if err := r.Wait(context.Background(), always); err == nil || !strings.Contains(err.Error(), "nil Recorder") {
		t.Errorf("Wait on a nil Recorder: %v", err)
	}

	rec := recorder.New()
	//lint:ignore SA1012 a nil context is the misuse under test
	if err := rec.Wait(nil, always); err == nil || !strings.Contains(err.Error(), "nil context") {
		t.Errorf("Wait with a nil context: %v", err)
	}
	w := rec.WrapServerStream(nilCtxServer{}, &grpc.StreamServerInfo{FullMethod: "/a.B/C"})
	if w.Context() == nil {
		t.Errorf("the wrapper of a server stream without a context has none either")
	}
	rec.EndServerStream(w, nil)
	rec.WrapClientStream(nilCtxClient{}, nil, "/a.B/D")
	if n := len(rec.Calls()); n != 2 {
		t.Errorf("%d calls recorded from streams without a context, want 2\n%s", n, rec)
	}
}

// The server interceptors called by hand (a chain of the user's) with a
// nil info, a nil stream or a nil context record the call under an empty
// method, or pass it through, and do not panic. gRPC itself never passes
// nil.
func TestServerInterceptorsCalledWithNils(t *testing.T) {
	r := recorder.New()
	unary := r.UnaryServerInterceptor()
	echo := func(_ context.Context, req any) (any, error) { return req, nil }
	req := &testpb.SimpleRequest{ResponseSize: 7}
	resp, err := unary(context.Background(), req, nil, echo)
	if err != nil || resp != req {
		t.Fatalf("unary interceptor with a nil info: %v, %v; want the handler's answer", resp, err)
	}
	if _, err := unary(nil, req, &grpc.UnaryServerInfo{FullMethod: "/a.B/C"}, echo); err != nil {
		t.Fatalf("unary interceptor with a nil context: %v", err)
	}

	stream := r.StreamServerInterceptor()
	handled := 0
	handler := func(_ any, ss grpc.ServerStream) error {
		handled++
		return ss.SendMsg(req)
	}
	if err := stream(nil, okServerStream{}, nil, handler); err != nil {
		t.Fatalf("stream interceptor with a nil info: %v", err)
	}
	gotNil := false
	if err := stream(nil, nil, &grpc.StreamServerInfo{FullMethod: "/a.B/D"}, func(_ any, ss grpc.ServerStream) error {
		gotNil = ss == nil
		return nil
	}); err != nil || !gotNil {
		t.Errorf("stream interceptor with a nil stream: err %v, handler got nil: %v; want it passed through", err, gotNil)
	}

	var methods []string
	for _, c := range r.Calls() {
		methods = append(methods, c.Method())
	}
	want := []string{"", "/a.B/C", ""}
	if !slices.Equal(methods, want) {
		t.Errorf("recorded calls of methods %q, want %q\n%s", methods, want, r)
	}
	if n := len(r.Events()); handled != 1 || n != 11 {
		t.Errorf("%d handler runs and %d events, want 1 and 11 (Begin, Recv, Send, End twice; Begin, Send, End)\n%s", handled, n, r)
	}
}

// okServerStream is a server stream of a hand-made chain whose calls
// succeed.
type okServerStream struct{ grpc.ServerStream }

func (okServerStream) Context() context.Context { return context.Background() }
func (okServerStream) SendMsg(any) error        { return nil }

// stamping is a client stream, as an interceptor further in than the
// recorder might make it, that changes each request before sending it.
type stamping struct{ grpc.ClientStream }

func (s stamping) SendMsg(m any) error {
	m.(*testpb.StreamingOutputCallRequest).Payload = payload("stamped")
	return s.ClientStream.SendMsg(m)
}

// A Send is recorded as its message was when SendMsg was called, even if
// an interceptor further in changes it on its way out (what the server
// received shows the change).
func TestSendIsRecordedAsAtTheCall(t *testing.T) {
	rec := recorder.New()
	stamp := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		cs, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			return nil, err
		}
		return stamping{cs}, nil
	}
	p := newPair(t, bufnet, rec, rec, registerEcho, grpc.WithChainStreamInterceptor(stamp))
	echoOnce(t, p.conn)
	got := map[recorder.Side]string{}
	for _, e := range rec.Events() {
		if m, ok := e.Msg.(*testpb.StreamingOutputCallRequest); ok {
			got[e.Side] = string(m.GetPayload().GetBody())
		}
	}
	if got[recorder.Client] != "x" || got[recorder.Server] != "stamped" {
		t.Errorf("client Send %q, server Recv %q; want %q (as called) and %q (as sent)\n%s", got[recorder.Client], got[recorder.Server], "x", "stamped", rec)
	}
}

// forwarder is a proxy that nobody records: it forwards the request
// metadata it got, call-id header included, to a backend (as proxies that
// pass on every header do).
type forwarder struct {
	testpb.UnimplementedTestServiceServer
	backend testpb.TestServiceClient
}

func (f *forwarder) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	return f.backend.UnaryCall(metadata.NewOutgoingContext(ctx, metadata.Pairs(recorder.CallIDHeader, md.Get(recorder.CallIDHeader)[0])), req)
}

// A call-id value that came with the context (forwarded by a proxy) names
// another call: the server half takes the last value of its Recorder's,
// the one the client interceptor appended for this call.
func TestForwardedCallIDIsNotTaken(t *testing.T) {
	r := recorder.New()
	backend := newPairOpts(t, bufnet, r.ServerOptions(), registerEcho, r.DialOptions()...)
	proxy := newPairOpts(t, bufnet, nil, func(s *grpc.Server) {
		testpb.RegisterTestServiceServer(s, &forwarder{backend: testpb.NewTestServiceClient(backend.conn)})
	}, r.DialOptions()...)
	if _, err := testpb.NewTestServiceClient(proxy.conn).UnaryCall(ctxT(t), &testpb.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	var clients []uint64
	var server uint64
	for _, e := range r.Events() {
		if e.Kind == recorder.Begin && e.Side == recorder.Client {
			clients = append(clients, e.CallID)
		} else if e.Kind == recorder.Begin {
			server = e.CallID
		}
	}
	if len(clients) != 2 || server != clients[1] {
		t.Errorf("client halves %v, the backend's server half %d: want it paired with the proxy's call (the second)\n%s", clients, server, r)
	}
}

// deadlineServer returns the error of a context of its own that timed out.
type deadlineServer struct {
	testpb.UnimplementedTestServiceServer
}

func (deadlineServer) UnaryCall(ctx context.Context, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	<-ctx.Done()
	return nil, ctx.Err()
}

func (deadlineServer) EmptyCall(context.Context, *testpb.Empty) (*testpb.Empty, error) {
	return nil, fmt.Errorf("wrapped: %w", status.Error(codes.NotFound, "gone"))
}

// A server End has the status gRPC sends for the handler's error: the
// code of a context error, or of a status error it wraps.
func TestServerEndHasTheStatusGRPCSends(t *testing.T) {
	rec := recorder.New()
	p := newPair(t, bufnet, rec, nil, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, deadlineServer{}) })
	c := testpb.NewTestServiceClient(p.conn)
	_, errDeadline := c.UnaryCall(ctxT(t), &testpb.SimpleRequest{})
	_, errWrapped := c.EmptyCall(ctxT(t), &testpb.Empty{})
	calls := rec.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d calls, want 2\n%s", len(calls), rec)
	}
	for i, sent := range []error{errDeadline, errWrapped} {
		want := []codes.Code{codes.DeadlineExceeded, codes.NotFound}[i]
		if got := status.Code(calls[i].Err()); got != want || status.Code(sent) != want {
			t.Errorf("%s: server End %v, the client got %v; want %v for both\n%s", calls[i].Method(), got, status.Code(sent), want, rec)
		}
	}
}

// TagContext tags only methods the Recorder records: the handler of a
// method that WithMethods leaves out sees no header (nothing strips it).
func TestTagContextHonoursWithMethods(t *testing.T) {
	rec := recorder.New(recorder.WithMethods("/grpc.testing.TestService/UnaryCall"))
	ci, si := ownInterceptors(rec, true)
	spy := &headerSpy{saw: make(chan bool, 1)}
	p := newPairOpts(t, bufnet, []grpc.ServerOption{grpc.StreamInterceptor(si)},
		func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, spy) }, grpc.WithStreamInterceptor(ci))
	echoOnce(t, p.conn)
	if <-spy.saw {
		t.Errorf("the handler of a method left out saw %s", recorder.CallIDHeader)
	}
}

// CallID tells which recorded call a stream the test holds is: the one its
// Recorder tagged it with.
func TestCallIDOfAStream(t *testing.T) {
	rec := recorder.New()
	p := newPair(t, bufnet, rec, rec, registerEcho)
	c := testpb.NewTestServiceClient(p.conn)
	var ids []uint64
	for range 3 {
		st, err := c.FullDuplexCall(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		id, ok := rec.CallID(st.Context())
		if !ok {
			t.Fatalf("CallID of a stream made through the recorder's interceptor: not found")
		}
		ids = append(ids, id)
		if err := st.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != io.EOF {
			t.Fatal(err)
		}
	}
	calls := rec.Calls()
	if len(calls) != 3 {
		t.Fatalf("%d calls, want 3\n%s", len(calls), rec)
	}
	for i, call := range calls {
		if call.ID() != ids[i] {
			t.Errorf("stream %d: CallID %d, but its call is %d\n%s", i, ids[i], call.ID(), rec)
		}
	}

	// A client-only Recorder tags nothing, another Recorder's tag is not
	// this one's, and a nil Recorder or context has none.
	clientOnly := recorder.New()
	q := newPair(t, bufnet, nil, clientOnly, registerEcho)
	st, err := testpb.NewTestServiceClient(q.conn).FullDuplexCall(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := clientOnly.CallID(st.Context()); ok {
		t.Errorf("a client-only Recorder found a CallID")
	}
	st.CloseSend()
	st.Recv()
	tagged := rec.TagContext(context.Background(), "/a.B/C")
	if _, ok := clientOnly.CallID(tagged); ok {
		t.Errorf("a Recorder took another's tag as its own")
	}
	if _, ok := rec.CallID(tagged); !ok {
		t.Errorf("CallID of a context from TagContext: not found")
	}
	//lint:ignore SA1012 a nil context is the misuse under test
	if _, ok := (*recorder.Recorder)(nil).CallID(nil); ok {
		t.Errorf("a nil Recorder found a CallID")
	}
}

// idsHandler's FullDuplexCall and UnaryCall send what ServerCallID says
// of their call, for each of recs, on ids.
type idsHandler struct {
	testpb.UnimplementedTestServiceServer
	recs []*recorder.Recorder
	ids  chan []string
}

func (h idsHandler) note(ctx context.Context) {
	var got []string
	for _, r := range h.recs {
		id, ok := r.ServerCallID(ctx)
		got = append(got, fmt.Sprint(id, ok))
	}
	h.ids <- got
}

func (h idsHandler) UnaryCall(ctx context.Context, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	h.note(ctx)
	return &testpb.SimpleResponse{}, nil
}

func (h idsHandler) FullDuplexCall(st testpb.TestService_FullDuplexCallServer) error {
	h.note(st.Context())
	return nil
}

// ServerCallID is CallID's twin on the server side: the id of the call a
// handler serves, the same as its client half's, for each Recorder that
// records it, and none for a Recorder that does not.
func TestServerCallID(t *testing.T) {
	outer, inner, other := recorder.New(), recorder.New(), recorder.New()
	h := idsHandler{recs: []*recorder.Recorder{outer, inner, other, nil}, ids: make(chan []string, 1)}
	sopts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(outer.UnaryServerInterceptor(), inner.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(outer.StreamServerInterceptor(), inner.StreamServerInterceptor()),
	}
	p := newPairOpts(t, bufnet, sopts, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, h) }, outer.DialOptions()...)
	c := testpb.NewTestServiceClient(p.conn)

	st, err := c.FullDuplexCall(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	clientID, ok := outer.CallID(st.Context())
	if !ok {
		t.Fatal("no CallID for the stream")
	}
	got := <-h.ids
	if _, err := st.Recv(); err != io.EOF {
		t.Fatal(err)
	}
	if want := fmt.Sprint(clientID, true); got[0] != want {
		t.Errorf("outer's ServerCallID in the stream handler = %s, want %s (its client half's)", got[0], want)
	}
	if got[1] == "0 false" || got[2] != "0 false" || got[3] != "0 false" {
		t.Errorf("ServerCallID of inner, other, nil = %v; want an id for inner (which records the server half), none for other and nil", got[1:])
	}

	if _, err := c.UnaryCall(ctxT(t), &testpb.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	got = <-h.ids
	calls := outer.Calls()
	if want := fmt.Sprint(calls[len(calls)-1].ID(), true); got[0] != want {
		t.Errorf("outer's ServerCallID in the unary handler = %s, want %s\n%s", got[0], want, outer)
	}
	//lint:ignore SA1012 a nil context is the misuse under test
	if _, ok := outer.ServerCallID(nil); ok {
		t.Error("ServerCallID(nil) found a call")
	}
	if _, ok := outer.ServerCallID(context.Background()); ok {
		t.Error("ServerCallID of a context no handler got found a call")
	}
}

// A message nested deeper than proto.Unmarshal's default recursion limit
// (10,000) is recorded as a copy, not as an error: Marshal has no limit,
// so the recorder's own bytes must decode whatever it marshaled.
func TestDeepMessageIsRecorded(t *testing.T) {
	rec := recorder.New()
	srv := func(_ any, ss grpc.ServerStream) error {
		return ss.RecvMsg(new(structpb.Value)) // fails: too deep for gRPC's decoder
	}
	p := newPairOpts(t, bufnet, append(rec.ServerOptions(), grpc.UnknownServiceHandler(srv)), func(*grpc.Server) {}, rec.DialOptions()...)
	v := structpb.NewStringValue("leaf")
	for range 6000 { // two message levels each
		v = structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{v}})
	}
	_ = p.conn.Invoke(ctxT(t), "/deep.Svc/Call", v, new(structpb.Value))
	sends := 0
	for _, e := range rec.Events() {
		if e.Side != recorder.Client || e.Kind != recorder.Send {
			continue
		}
		sends++
		if m, ok := e.Msg.(*structpb.Value); !ok || !proto.Equal(m, v) {
			t.Errorf("client Send recorded a %T, want a copy of the 12,001-level *structpb.Value sent: %v", e.Msg, e.Err)
		}
	}
	if sends != 1 {
		t.Errorf("%d client Sends recorded, want 1:\n%s", sends, rec)
	}
}

// A unary call whose context has ended before it is made is not sent:
// its request is recorded as a Send that failed with the context's status,
// and Requests has none.
func TestUnaryNotSentAfterTheContextEnded(t *testing.T) {
	for _, end := range []string{"canceled", "deadline passed"} {
		t.Run(end, func(t *testing.T) {
			rec := recorder.New()
			p := newPair(t, bufnet, rec, rec, registerEcho)
			ctx, cancel := context.WithCancel(context.Background())
			want := codes.Canceled
			if end == "deadline passed" {
				ctx, cancel = context.WithDeadline(context.Background(), time.Unix(1, 0))
				want = codes.DeadlineExceeded
			}
			cancel()
			_, err := testpb.NewTestServiceClient(p.conn).UnaryCall(ctx, &testpb.SimpleRequest{Payload: payload("never sent")})
			if status.Code(err) != want {
				t.Fatalf("UnaryCall: %v, want %v", err, want)
			}
			calls := rec.Calls()
			if len(calls) != 1 {
				t.Fatalf("%d calls recorded, want 1:\n%s", len(calls), rec)
			}
			var sends []recorder.Event
			for _, e := range calls[0].Events() {
				if e.Side == recorder.Server {
					t.Errorf("the server half of a call never sent was recorded:\n%s", rec)
				}
				if e.Kind == recorder.Send {
					sends = append(sends, e)
				}
			}
			if len(sends) != 1 || status.Code(sends[0].Err) != want {
				t.Errorf("want one Send that failed with %v:\n%s", want, rec)
			}
			if n := len(calls[0].Requests()); n != 0 {
				t.Errorf("Requests() has %d message(s), want 0:\n%s", n, rec)
			}
		})
	}
}

// compressorServer's UnaryCall calls the two gRPC functions that need
// gRPC's own transport stream in the handler's context.
type compressorServer struct {
	testpb.UnimplementedTestServiceServer
}

func (compressorServer) UnaryCall(ctx context.Context, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	if _, err := grpc.ClientSupportedCompressors(ctx); err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "ClientSupportedCompressors: %v", err)
	}
	if err := grpc.SetSendCompressor(ctx, "identity"); err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "SetSendCompressor: %v", err)
	}
	return &testpb.SimpleResponse{}, nil
}

// The limitation the package doc states: under the recorder's server
// interceptors grpc.SetSendCompressor and grpc.ClientSupportedCompressors
// fail (they need gRPC's transport stream in the context, where the
// recorder puts its own to record grpc.SetHeader and friends); recording
// the client side only, or leaving the method out, they work.
func TestCompressorFunctionsUnderTheServerInterceptors(t *testing.T) {
	for _, tc := range []struct {
		name             string
		server, client   *recorder.Recorder
		wantFail         bool
		wantClientEvents bool
	}{
		{"not recorded", nil, nil, false, false},
		{"client side only", nil, recorder.New(), false, true},
		{"method left out", recorder.New(recorder.WithMethods("/other.Svc/M")), nil, false, false},
		{"server side", recorder.New(), nil, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, bufnet, tc.server, tc.client, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, compressorServer{}) })
			_, err := testpb.NewTestServiceClient(p.conn).UnaryCall(ctxT(t), &testpb.SimpleRequest{})
			switch {
			case tc.wantFail && (status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "failed to fetch the stream from the given context")):
				t.Errorf("UnaryCall: %v; want the handler's FailedPrecondition with gRPC's error (has gRPC changed? then update the package doc)", err)
			case !tc.wantFail && err != nil:
				t.Errorf("UnaryCall: %v, want OK", err)
			}
			if tc.wantClientEvents && len(tc.client.Events()) == 0 {
				t.Errorf("the client side recorded nothing")
			}
		})
	}
}

// A nil *dynamicpb.Message, whose methods panic, is recorded as given and
// rendered as what it is; the recorder itself does not panic on it (gRPC's
// codec does, with or without the recorder, so the server side is driven
// by hand here).
func TestNilDynamicMessageIsRecordedAsGiven(t *testing.T) {
	var nilDyn *dynamicpb.Message
	if got := recorder.FormatMessage(nilDyn); got != "<nil *dynamicpb.Message>" {
		t.Errorf("FormatMessage = %q, want <nil *dynamicpb.Message>", got)
	}
	r := recorder.New()
	stream := r.StreamServerInterceptor()
	err := stream(nil, okServerStream{}, &grpc.StreamServerInfo{FullMethod: "/a.B/D", IsServerStream: true}, func(_ any, ss grpc.ServerStream) error {
		return ss.SendMsg(nilDyn)
	})
	if err != nil {
		t.Fatalf("handler: %v", err)
	}
	var sends []recorder.Event
	for _, e := range r.Events() {
		if e.Kind == recorder.Send {
			sends = append(sends, e)
		}
	}
	if len(sends) != 1 || sends[0].Msg != any(nilDyn) {
		t.Errorf("recorded Sends %v, want one holding the nil *dynamicpb.Message\n%s", sends, r)
	}
	if !strings.Contains(r.String(), "send       /a.B/D  <nil *dynamicpb.Message>") {
		t.Errorf("the timeline does not show it:\n%s", r)
	}
}
