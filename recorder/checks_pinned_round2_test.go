package recorder_test

// Tests that pin behaviour of the recorder a second mutation run found
// unpinned: each fails when the code it names is broken.

import (
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/recorder"
)

// headerUnary's UnaryCall sets a response header.
type headerUnary struct {
	testpb.UnimplementedTestServiceServer
}

func (headerUnary) UnaryCall(ctx context.Context, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	if err := grpc.SetHeader(ctx, metadata.Pairs("unary-header", "h")); err != nil {
		return nil, err
	}
	return &testpb.SimpleResponse{}, nil
}

// The client half of a unary call records the response header it
// received, before its Recv; the server half, the header the handler set
// with grpc.SetHeader.
func TestUnaryClientRecordsTheResponseHeader(t *testing.T) {
	rec := recorder.New()
	p := newPair(t, bufnet, rec, rec, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, headerUnary{}) })
	if _, err := testpb.NewTestServiceClient(p.conn).UnaryCall(ctxT(t), &testpb.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	var kinds []recorder.Kind
	var header, serverHeader metadata.MD
	for _, e := range rec.Events() {
		if e.Side == recorder.Client {
			kinds = append(kinds, e.Kind)
			if e.Kind == recorder.Header {
				header = e.MD
			}
		} else if e.Kind == recorder.Header {
			serverHeader = e.MD
		}
	}
	if got := serverHeader.Get("unary-header"); len(got) != 1 || got[0] != "h" {
		t.Errorf("server Header %v, want unary-header: h (grpc.SetHeader in a unary handler)\n%s", serverHeader, rec)
	}
	want := []recorder.Kind{recorder.Begin, recorder.Send, recorder.Header, recorder.Recv, recorder.End}
	if len(kinds) != len(want) || kinds[2] != recorder.Header || kinds[3] != recorder.Recv {
		t.Errorf("client events %v, want %v\n%s", kinds, want, rec)
	}
	if got := header.Get("unary-header"); len(got) != 1 || got[0] != "h" {
		t.Errorf("client Header %v, want unary-header: h\n%s", header, rec)
	}
}

// headerStream's StreamingOutputCall sets a response header, then sends
// one response.
type headerStream struct {
	testpb.UnimplementedTestServiceServer
}

func (headerStream) StreamingOutputCall(_ *testpb.StreamingOutputCallRequest, stream testpb.TestService_StreamingOutputCallServer) error {
	if err := stream.SetHeader(metadata.Pairs("stream-header", "s")); err != nil {
		return err
	}
	return stream.Send(&testpb.StreamingOutputCallResponse{})
}

// The client half of a stream records the response header when a RecvMsg
// returns, before that Recv, though the code never calls Header.
func TestClientRecordsTheHeaderWithoutACallToHeader(t *testing.T) {
	rec := recorder.New()
	p := newPair(t, bufnet, nil, rec, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, headerStream{}) })
	stream, err := testpb.NewTestServiceClient(p.conn).StreamingOutputCall(ctxT(t), &testpb.StreamingOutputCallRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("second Recv: %v, want io.EOF", err)
	}
	var kinds []recorder.Kind
	var header metadata.MD
	for _, e := range rec.Events() {
		if e.Side == recorder.Client {
			kinds = append(kinds, e.Kind)
			if e.Kind == recorder.Header {
				header = e.MD
			}
		}
	}
	want := []recorder.Kind{recorder.Begin, recorder.Send, recorder.CloseSend, recorder.Header, recorder.Recv, recorder.End}
	if len(kinds) != len(want) || kinds[3] != recorder.Header || kinds[4] != recorder.Recv {
		t.Errorf("client events %v, want %v\n%s", kinds, want, rec)
	}
	if got := header.Get("stream-header"); len(got) != 1 || got[0] != "s" {
		t.Errorf("client Header %v, want stream-header: s\n%s", header, rec)
	}
}

// closeSendRecords is a client stream whose CloseSend runs during, and
// records a unary call through the same recorder: what the server may do
// before CloseSend returns.
type closeSendRecords struct {
	grpc.ClientStream
	ctx context.Context
	rec *recorder.Recorder
}

func (s closeSendRecords) Context() context.Context { return s.ctx }

func (s closeSendRecords) CloseSend() error {
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	return s.rec.UnaryClientInterceptor()(s.ctx, "/grpc.testing.TestService/EmptyCall", &testpb.Empty{}, &testpb.Empty{}, nil, invoker)
}

// CloseSend takes its Seq when it is called, not when it returns: what
// happens meanwhile comes after it.
func TestCloseSendIsRecordedAsAtTheCall(t *testing.T) {
	rec := recorder.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const method = "/grpc.testing.TestService/StreamingInputCall"
	cs := rec.WrapClientStream(closeSendRecords{ctx: ctx, rec: rec}, &grpc.StreamDesc{ClientStreams: true}, method)
	if err := cs.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var closeSeq, unarySeq uint64
	for _, e := range rec.Events() {
		switch {
		case e.Kind == recorder.CloseSend:
			closeSeq = e.Seq
		case e.Method != method && e.Kind == recorder.Begin:
			unarySeq = e.Seq
		}
	}
	if closeSeq == 0 || unarySeq == 0 || closeSeq > unarySeq {
		t.Errorf("CloseSend at event %d, the unary call it ran begins at %d: want the CloseSend first\n%s", closeSeq, unarySeq, rec)
	}
}

// recvOne opens a FullDuplexCall on p, with a context bounded by the test,
// and receives its first response.
func recvOne(t *testing.T, p *pair) (context.Context, testpb.TestService_FullDuplexCallClient) {
	t.Helper()
	ctx := ctxT(t)
	stream, err := testpb.NewTestServiceClient(p.conn).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	return ctx, stream
}

// serverHeaders returns the server-side Header events rec recorded.
func serverHeaders(rec *recorder.Recorder) []recorder.Event {
	var hs []recorder.Event
	for _, e := range rec.Events() {
		if e.Side == recorder.Server && e.Kind == recorder.Header {
			hs = append(hs, e)
		}
	}
	return hs
}

// drainFullDuplex reads stream to its end and returns nil for io.EOF.
func drainFullDuplex(stream testpb.TestService_FullDuplexCallServer) error {
	for {
		if _, err := stream.Recv(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// setThenSendHeader sets a header, sends another, then tries to send a
// third, which gRPC refuses: the header is sent once.
type setThenSendHeader struct {
	testpb.UnimplementedTestServiceServer
}

func (setThenSendHeader) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	if err := stream.SetHeader(metadata.Pairs("set", "1")); err != nil {
		return err
	}
	if err := stream.SendHeader(metadata.Pairs("sent", "2")); err != nil {
		return err
	}
	if err := stream.SendHeader(metadata.Pairs("again", "3")); err == nil {
		return status.Error(codes.Unknown, "a second SendHeader succeeded")
	}
	if err := stream.SetHeader(metadata.Pairs("late", "4")); err == nil {
		return status.Error(codes.Unknown, "a SetHeader after the header was sent succeeded")
	}
	if err := stream.Send(&testpb.StreamingOutputCallResponse{}); err != nil {
		return err
	}
	return drainFullDuplex(stream)
}

// The server's Header holds what SetHeader set before SendHeader, and what
// SendHeader sent; a second SendHeader, which gRPC refuses as the header is
// out, records nothing; nor does a SetHeader gRPC refuses once it is out.
func TestServerHeaderJoinsSetAndSentAndIgnoresASecondSend(t *testing.T) {
	rec := recorder.New()
	p := newPair(t, bufnet, rec, rec, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, setThenSendHeader{}) })
	ctx, stream := recvOne(t, p)
	closeAndDrain(t, ctx, stream, rec)
	hs := serverHeaders(rec)
	if len(hs) != 1 {
		t.Fatalf("%d server Header events, want 1\n%s", len(hs), rec)
	}
	if h := hs[0]; h.Err != nil || len(h.MD.Get("set")) != 1 || len(h.MD.Get("sent")) != 1 || len(h.MD.Get("again")) != 0 || len(h.MD.Get("late")) != 0 {
		t.Errorf("server Header %v (err %v), want set: 1 and sent: 2, no error\n%s", h.MD, h.Err, rec)
	}
}

// refuseFirstSend is a stream further in than the recorder that refuses
// its first SendMsg without passing it to gRPC, which so sends nothing,
// header included.
type refuseFirstSend struct {
	grpc.ServerStream
	refused *atomic.Bool
}

func (s refuseFirstSend) SendMsg(m any) error {
	if s.refused.CompareAndSwap(false, true) {
		return status.Error(codes.Unavailable, "refused")
	}
	return s.ServerStream.SendMsg(m)
}

// headerAfterRefusedSend sends a message, which its stream refuses; then
// sets a header, which gRPC still takes, and sends a message that carries
// it.
type headerAfterRefusedSend struct {
	testpb.UnimplementedTestServiceServer
}

func (headerAfterRefusedSend) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	if err := stream.Send(&testpb.StreamingOutputCallResponse{}); status.Code(err) != codes.Unavailable {
		return status.Errorf(codes.Unknown, "first Send: %v, want the stream's Unavailable", err)
	}
	if err := stream.SetHeader(metadata.Pairs("after", "1")); err != nil {
		return err
	}
	if err := stream.Send(&testpb.StreamingOutputCallResponse{}); err != nil {
		return err
	}
	return drainFullDuplex(stream)
}

// A header set after a Send that sent nothing is recorded: gRPC sends it
// with the next message, though the recorder took the header as out (with
// nothing to record) at the first Send.
func TestServerHeaderSetAfterARefusedSendIsRecorded(t *testing.T) {
	rec := recorder.New()
	var refused atomic.Bool
	p := wrappedPair(t, rec, func(ss grpc.ServerStream) grpc.ServerStream {
		return refuseFirstSend{ServerStream: ss, refused: &refused}
	}, headerAfterRefusedSend{})
	ctx, stream := recvOne(t, p)
	if md, err := stream.Header(); err != nil || len(md.Get("after")) != 1 {
		t.Fatalf("the client got header %v, %v: want after: 1", md, err)
	}
	closeAndDrain(t, ctx, stream, rec)
	hs := serverHeaders(rec)
	if len(hs) != 1 || len(hs[0].MD.Get("after")) != 1 {
		t.Errorf("server Header events %v, want one with after: 1\n%s", hs, rec)
	}
}

// refuseHeaderAfterSet is a stream further in than the recorder whose
// SendHeader waits until the handler has set another header meanwhile
// (set is closed), then refuses the header.
type refuseHeaderAfterSet struct {
	grpc.ServerStream
	sending chan struct{}
	set     chan struct{}
}

func (s refuseHeaderAfterSet) SendHeader(metadata.MD) error {
	close(s.sending)
	<-s.set
	return status.Error(codes.Internal, "refused")
}

// setDuringRefusedHeader sets a header while its SendHeader is in progress.
type setDuringRefusedHeader struct {
	testpb.UnimplementedTestServiceServer
	sending, set chan struct{}
}

func (h setDuringRefusedHeader) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	setErr := make(chan error, 1)
	go func() {
		<-h.sending
		setErr <- stream.SetHeader(metadata.Pairs("late", "1"))
		close(h.set)
	}()
	if err := stream.SendHeader(metadata.Pairs("first", "1")); status.Code(err) != codes.Internal {
		return status.Errorf(codes.Unknown, "SendHeader: %v, want the stream's Internal", err)
	}
	if err := <-setErr; err != nil {
		return err
	}
	if err := stream.Send(&testpb.StreamingOutputCallResponse{}); err != nil {
		return err
	}
	return drainFullDuplex(stream)
}

// A header set while a SendHeader is in progress, which then fails, is not
// part of the refused Header: it goes out with the next header, and is
// recorded there.
func TestHeaderSetDuringARefusedSendHeaderGoesWithTheNext(t *testing.T) {
	rec := recorder.New()
	sending, set := make(chan struct{}), make(chan struct{})
	p := wrappedPair(t, rec, func(ss grpc.ServerStream) grpc.ServerStream {
		return refuseHeaderAfterSet{ServerStream: ss, sending: sending, set: set}
	}, setDuringRefusedHeader{sending: sending, set: set})
	ctx, stream := recvOne(t, p)
	closeAndDrain(t, ctx, stream, rec)
	hs := serverHeaders(rec)
	if len(hs) != 2 {
		t.Fatalf("%d server Header events, want 2: the refused one, then the one sent\n%s", len(hs), rec)
	}
	if h := hs[0]; h.Err == nil || len(h.MD.Get("first")) != 1 || len(h.MD.Get("late")) != 0 {
		t.Errorf("refused Header %v (err %v), want first: 1 only, with its error\n%s", h.MD, h.Err, rec)
	}
	if h := hs[1]; h.Err != nil || len(h.MD.Get("late")) != 1 {
		t.Errorf("second Header %v (err %v), want late: 1\n%s", h.MD, h.Err, rec)
	}
}

// The timeline shows the message of a Send that failed, with its error;
// and a Send or Recv that took BlockedAfter exactly as blocked.
func TestTimelineShowsAFailedSendsMessageAndBlockedAtTheBound(t *testing.T) {
	failed := recorder.Event{Seq: 1, CallID: 1, Method: "/s.S/M", Side: recorder.Client, Kind: recorder.Send,
		Msg: &testpb.Payload{Body: []byte("lost")}, Err: status.Error(codes.Canceled, "gone")}
	blocked := recorder.Event{Seq: 2, CallID: 1, Method: "/s.S/M", Side: recorder.Client, Kind: recorder.Recv,
		Msg: &testpb.Payload{}, Elapsed: recorder.BlockedAfter}
	tl := recorder.Timeline([]recorder.Event{failed, blocked})
	lines := strings.Split(tl, "\n")
	if !strings.Contains(lines[0], "lost") || !strings.Contains(lines[0], "Canceled") {
		t.Errorf("the failed Send's line lacks its message or its error:\n%s", tl)
	}
	if !strings.Contains(lines[1], "(blocked ") {
		t.Errorf("a Recv that took BlockedAfter (%v) is not shown blocked:\n%s", recorder.BlockedAfter, tl)
	}
}

// A proto message sent with a codec other than proto's is marshaled by
// that codec: when it cannot, the client's Send is recorded with gRPC's
// marshal error, though proto could have marshaled the message.
func TestProtoMessageWithAnotherCodecGetsThatCodecsMarshalError(t *testing.T) {
	rec := recorder.New()
	invoker := func(_ context.Context, _ string, req, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
		_, err := v0Codec{}.Marshal(req)
		return status.Errorf(codes.Internal, "grpc: error while marshaling: %v", err)
	}
	err := rec.UnaryClientInterceptor()(ctxT(t), "/grpc.testing.TestService/EmptyCall", &testpb.Empty{}, &testpb.Empty{}, nil, invoker,
		grpc.CustomCodecCallOption{Codec: v0Codec{}})
	if status.Code(err) != codes.Internal {
		t.Fatalf("the call: %v, want the invoker's Internal", err)
	}
	for _, e := range rec.Events() {
		if e.Kind == recorder.Send {
			if status.Code(e.Err) != codes.Internal || !strings.Contains(e.Err.Error(), "v0Codec: cannot marshal") {
				t.Errorf("the Send's error: %v, want v0Codec's marshal error\n%s", e.Err, rec)
			}
			return
		}
	}
	t.Errorf("no Send recorded\n%s", rec)
}

// sendRecordsAndFails is a server stream whose SendMsg runs, and records,
// a unary call through the same recorder (what the client may do before
// SendMsg returns), then fails.
type sendRecordsAndFails struct {
	grpc.ServerStream
	ctx context.Context
	rec *recorder.Recorder
}

func (s sendRecordsAndFails) Context() context.Context { return s.ctx }

func (s sendRecordsAndFails) SendMsg(any) error {
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	if err := s.rec.UnaryClientInterceptor()(s.ctx, "/grpc.testing.TestService/EmptyCall", &testpb.Empty{}, &testpb.Empty{}, nil, invoker); err != nil {
		return err
	}
	return status.Error(codes.Unavailable, "refused")
}

// A server's Send takes its Seq when SendMsg is called, not when it
// returns, and records the error SendMsg returned.
func TestServerSendIsRecordedAsAtTheCallWithItsError(t *testing.T) {
	rec := recorder.New()
	const method = "/grpc.testing.TestService/StreamingOutputCall"
	ss := rec.WrapServerStream(sendRecordsAndFails{ctx: context.Background(), rec: rec}, &grpc.StreamServerInfo{FullMethod: method, IsServerStream: true})
	if err := ss.SendMsg(&testpb.StreamingOutputCallResponse{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("SendMsg: %v, want the stream's Unavailable", err)
	}
	var send recorder.Event
	var unarySeq uint64
	for _, e := range rec.Events() {
		switch {
		case e.Method == method && e.Kind == recorder.Send:
			send = e
		case e.Method != method && e.Kind == recorder.Begin:
			unarySeq = e.Seq
		}
	}
	if send.Seq == 0 || unarySeq == 0 || send.Seq > unarySeq {
		t.Errorf("server Send at event %d, the unary call its SendMsg ran begins at %d: want the Send first\n%s", send.Seq, unarySeq, rec)
	}
	if status.Code(send.Err) != codes.Unavailable {
		t.Errorf("server Send recorded with error %v, want SendMsg's Unavailable\n%s", send.Err, rec)
	}
}

// A recorder WithMethods records no call whose method it is not told: a
// hand-made interceptor chain that gives no info (no method) included.
func TestWithMethodsLeavesOutACallWithNoMethod(t *testing.T) {
	rec := recorder.New(recorder.WithMethods("/grpc.testing.TestService/UnaryCall"))
	handler := func(context.Context, any) (any, error) { return &testpb.SimpleResponse{}, nil }
	if _, err := rec.UnaryServerInterceptor()(context.Background(), &testpb.SimpleRequest{}, nil, handler); err != nil {
		t.Fatal(err)
	}
	if evs := rec.Events(); len(evs) != 0 {
		t.Errorf("%d events recorded of a call with no method, by a recorder WithMethods of another\n%s", len(evs), rec)
	}
}
