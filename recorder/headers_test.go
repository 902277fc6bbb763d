package recorder_test

import (
	"context"
	"io"
	"slices"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/interop"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/recorder"
)

// badHeader sets a header, sends one gRPC refuses (a key with a space),
// then sends its first message, with which gRPC sends the header set: the
// refused one is recorded with its error, the other as the call's header.
// (A unary handler's grpc.SendHeader does not check the keys: the client
// fails the call.)
type badHeader struct {
	testpb.UnimplementedTestServiceServer
}

func (badHeader) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	if err := stream.SetHeader(metadata.Pairs("good", "1")); err != nil {
		return err
	}
	if err := stream.SendHeader(metadata.MD{"bad key": {"x"}}); status.Code(err) != codes.Internal {
		return status.Errorf(codes.Unknown, "SendHeader with a bad key: %v, want Internal", err)
	}
	if err := stream.Send(&testpb.StreamingOutputCallResponse{}); err != nil {
		return err
	}
	_, err := stream.Recv()
	if err == io.EOF {
		return nil
	}
	return err
}

func TestFailedSendHeaderIsRecordedWithItsError(t *testing.T) {
	rec := recorder.New()
	p := newPair(t, bufnet, rec, rec, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, badHeader{}) })
	ctx := ctxT(t)
	c := testpb.NewTestServiceClient(p.conn)
	stream, err := c.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	closeAndDrain(t, ctx, stream, rec)
	if n := len(rec.Calls()); n != 1 {
		t.Fatalf("%d calls recorded, want 1\n%s", n, rec)
	}
	for _, call := range rec.Calls() {
		var headers []recorder.Event
		for _, e := range call.Events() {
			if e.Side == recorder.Server && e.Kind == recorder.Header {
				headers = append(headers, e)
			}
		}
		if len(headers) != 2 || status.Code(headers[0].Err) != codes.Internal || headers[0].MD.Get("bad key") == nil ||
			headers[1].Err != nil || headers[1].MD.Get("good") == nil {
			t.Errorf("%s: server headers %v, want the refused one with its error, then the one sent\n%s", call.Method(), headers, rec)
		}
	}
}

// slowAfterHeader is an interceptor further in than the recorder whose
// SendHeader returns only once the client has seen the header, as a slow
// scheduler may make any SendHeader return.
type slowAfterHeader struct {
	grpc.ServerStream
	rec *recorder.Recorder
}

func (s slowAfterHeader) SendHeader(md metadata.MD) error {
	err := s.ServerStream.SendHeader(md)
	_ = s.rec.Wait(s.Context(), func(ev []recorder.Event) bool {
		for _, e := range ev {
			if e.Side == recorder.Client && e.Kind == recorder.Header {
				return true
			}
		}
		return false
	})
	return err
}

type headerFirst struct {
	testpb.UnimplementedTestServiceServer
}

func (headerFirst) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	if err := stream.SendHeader(metadata.Pairs("h", "1")); err != nil {
		return err
	}
	for {
		if _, err := stream.Recv(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// The package doc: "the timeline is causally ordered across sides". The
// server's Header must come before the client's Header.
func TestExplicitHeaderTakesItsSeqWhenCalled(t *testing.T) {
	rec := recorder.New()
	// Chained before the recorder: the recorder's stream wrapper calls it.
	p := wrappedPair(t, rec, func(ss grpc.ServerStream) grpc.ServerStream { return slowAfterHeader{ss, rec} }, headerFirst{})
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	stream, err := testpb.NewTestServiceClient(p.conn).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatal(err)
	}
	closeAndDrain(t, ctx, stream, rec)
	var srvH, cliH uint64
	for _, e := range rec.Events() {
		if e.Kind == recorder.Header {
			if e.Side == recorder.Server {
				srvH = e.Seq
			} else {
				cliH = e.Seq
			}
		}
	}
	if srvH == 0 || cliH == 0 || srvH > cliH {
		t.Errorf("server Header #%d, client Header #%d: the client received the header before the server sent it\n%s", srvH, cliH, rec)
	}
}

// gRPC ignores a second CloseSend (both return nil): it is recorded once.
func TestCloseSendTwiceIsRecordedOnce(t *testing.T) {
	rec := recorder.New()
	p := newPair(t, bufnet, rec, rec, registerEcho)
	ctx := ctxT(t)
	st, err := testpb.NewTestServiceClient(p.conn).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e1, e2 := st.CloseSend(), st.CloseSend()
	if _, err := st.Recv(); err != io.EOF {
		t.Fatal(err)
	}
	n := 0
	for _, e := range rec.Events() {
		if e.Kind == recorder.CloseSend {
			n++
		}
	}
	if n != 1 {
		t.Errorf("CloseSend returned %v, %v (the second a no-op); recorded %d CloseSend events\n%s", e1, e2, n, rec)
	}
}

// closeAndDrain half-closes stream, reads it to io.EOF and waits until rec
// has recorded the end of every call.
func closeAndDrain(t *testing.T, ctx context.Context, stream grpc.ClientStream, rec *recorder.Recorder) {
	t.Helper()
	stream.CloseSend()
	if err := stream.RecvMsg(new(testpb.StreamingOutputCallResponse)); err != io.EOF {
		t.Fatal(err)
	}
	if err := rec.Wait(ctx, allEnded); err != nil {
		t.Fatal(err)
	}
}

// wrappedPair is a recorded pair of the TestService srv whose server
// streams pass through wrap, an interceptor further in than the recorder.
func wrappedPair(t *testing.T, rec *recorder.Recorder, wrap func(grpc.ServerStream) grpc.ServerStream, srv testpb.TestServiceServer) *pair {
	t.Helper()
	sopts := append([]grpc.ServerOption{grpc.ChainStreamInterceptor(func(s any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(s, wrap(ss))
	})}, rec.ServerOptions()...)
	return newPairOpts(t, bufnet, sopts, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, srv) }, rec.DialOptions()...)
}

// failFirstCloseSend is a stream client interceptor, chained after the
// recorder's, whose streams refuse the first CloseSend (as a stream further
// in may) and pass the later ones to gRPC.
func failFirstCloseSend(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return &refuseCloseSend{ClientStream: cs}, nil
}

type refuseCloseSend struct {
	grpc.ClientStream
	refused atomic.Bool
}

func (s *refuseCloseSend) CloseSend() error {
	if s.refused.CompareAndSwap(false, true) {
		return status.Error(codes.Unavailable, "refused once")
	}
	return s.ClientStream.CloseSend()
}

// A CloseSend that failed does not count as the first: the one after it,
// which half-closes the stream, is recorded too, with no error.
func TestCloseSendAfterAFailedOneIsRecorded(t *testing.T) {
	rec := recorder.New()
	p := newPair(t, bufnet, rec, rec, registerEcho, grpc.WithChainStreamInterceptor(failFirstCloseSend))
	ctx := ctxT(t)
	st, err := testpb.NewTestServiceClient(p.conn).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CloseSend(); status.Code(err) != codes.Unavailable {
		t.Fatalf("first CloseSend: %v, want the interceptor's Unavailable", err)
	}
	if err := st.CloseSend(); err != nil {
		t.Fatalf("second CloseSend: %v", err)
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("Recv: %v, want io.EOF", err)
	}
	if err := rec.Wait(ctx, allEnded); err != nil {
		t.Fatal(err)
	}
	var errs []error
	for _, e := range rec.Events() {
		if e.Kind == recorder.CloseSend {
			errs = append(errs, e.Err)
		}
	}
	if len(errs) != 2 || status.Code(errs[0]) != codes.Unavailable || errs[1] != nil {
		t.Errorf("recorded CloseSend events with errors %v, want 2: the refused one (Unavailable), then the one that half-closed (nil)\n%s", errs, rec)
	}
}

// setHeaderOnly sets a header and returns without sending anything: gRPC
// sends the header with the status.
type setHeaderOnly struct {
	testpb.UnimplementedTestServiceServer
}

func (setHeaderOnly) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	return stream.SetHeader(metadata.Pairs("set-only", "1"))
}

// A header set but never sent explicitly (no SendHeader, no message) goes
// out with the status: the server half records it when the handler returns.
func TestServerRecordsHeaderSetButNeverSent(t *testing.T) {
	rec := recorder.New()
	p := newPair(t, bufnet, rec, nil, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, setHeaderOnly{}) })
	ctx := ctxT(t)
	stream, err := testpb.NewTestServiceClient(p.conn).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	closeAndDrain(t, ctx, stream, rec)
	calls := rec.Calls()
	if len(calls) != 1 {
		t.Fatalf("got %d calls, want 1\n%s", len(calls), rec)
	}
	if got := calls[0].Header().Get("set-only"); len(got) != 1 || got[0] != "1" {
		t.Errorf("Call.Header() = %v, want the header the handler set (set-only: 1)\n%s", calls[0].Header(), rec)
	}
	var kinds []recorder.Kind
	for _, e := range calls[0].Events() {
		kinds = append(kinds, e.Kind)
	}
	if want := []recorder.Kind{recorder.Begin, recorder.Header, recorder.End}; !slices.Equal(kinds, want) {
		t.Errorf("server events %v, want %v\n%s", kinds, want, rec)
	}
}

// headerThenWait sends a header and waits for the call to end.
type headerThenWait struct {
	testpb.UnimplementedTestServiceServer
}

func (headerThenWait) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	if err := stream.SendHeader(metadata.Pairs("sent", "1")); err != nil {
		return err
	}
	<-stream.Context().Done()
	return stream.Context().Err()
}

// A client that never read the header (it canceled first) has no Header
// event of its own: Call.Header falls back to the header the server sent.
func TestCallHeaderFallsBackToTheServerSide(t *testing.T) {
	rec := recorder.New()
	p := newPair(t, bufnet, rec, rec, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, headerThenWait{}) })
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	if _, err := testpb.NewTestServiceClient(p.conn).FullDuplexCall(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rec.Wait(ctxT(t), func(evs []recorder.Event) bool {
		return slices.ContainsFunc(evs, func(e recorder.Event) bool { return e.Side == recorder.Server && e.Kind == recorder.Header })
	}); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := rec.Wait(ctxT(t), allEnded); err != nil {
		t.Fatal(err)
	}
	calls := rec.Calls()
	if len(calls) != 1 {
		t.Fatalf("got %d calls, want 1\n%s", len(calls), rec)
	}
	for _, e := range calls[0].Events() {
		if e.Side == recorder.Client && e.Kind == recorder.Header {
			t.Fatalf("the client recorded a Header it never read:\n%s", rec)
		}
	}
	if got := calls[0].Header().Get("sent"); len(got) != 1 || got[0] != "1" {
		t.Errorf("Call.Header() = %v, want the server's header (sent: 1)\n%s", calls[0].Header(), rec)
	}
}

// A client interceptor inside the recorder's that replaces the outgoing
// metadata drops the call-id header: the server half gets an id of its own
// and one RPC shows as two Calls, as the package doc says. Put after it in
// the chain, the recorder's interceptor adds the header to the metadata it
// made, and the RPC is one Call.
func TestAnInterceptorThatReplacesTheMetadataSplitsTheCallWhenItRunsInside(t *testing.T) {
	replace := grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(metadata.NewOutgoingContext(ctx, metadata.Pairs("authorization", "Bearer t")), method, req, reply, cc, opts...)
	})
	register := func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, interop.NewTestServer()) }
	for _, tc := range []struct {
		name  string
		dial  func(rec *recorder.Recorder) []grpc.DialOption
		calls int
	}{
		{"inside the recorder's", func(rec *recorder.Recorder) []grpc.DialOption { return append(rec.DialOptions(), replace) }, 2},
		{"outside the recorder's", func(rec *recorder.Recorder) []grpc.DialOption {
			return append([]grpc.DialOption{replace}, rec.DialOptions()...)
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := recorder.New()
			p := newPairOpts(t, bufnet, rec.ServerOptions(), register, tc.dial(rec)...)
			if _, err := testpb.NewTestServiceClient(p.conn).EmptyCall(t.Context(), &testpb.Empty{}); err != nil {
				t.Fatal(err)
			}
			if err := rec.Wait(t.Context(), func(evs []recorder.Event) bool {
				ends := 0
				for _, e := range evs {
					if e.Kind == recorder.End {
						ends++
					}
				}
				return ends == 2 // both halves
			}); err != nil {
				t.Fatal(err)
			}
			if got := len(rec.Calls()); got != tc.calls {
				t.Errorf("%d Calls for one RPC, want %d:\n%s", got, tc.calls, rec)
			}
			for _, e := range rec.Events() {
				if e.Side == recorder.Server && e.Kind == recorder.Begin && e.MD.Get("authorization") == nil {
					t.Errorf("the server's Begin lacks the interceptor's metadata: %v", e.MD)
				}
			}
		})
	}
}

// ownStatusErr is an error type of a handler's own with a GRPCStatus
// method.
type ownStatusErr struct{}

func (ownStatusErr) Error() string              { return "room r1 not found" }
func (ownStatusErr) GRPCStatus() *status.Status { return status.New(codes.NotFound, "no such room") }

type ownStatusServer struct {
	testpb.UnimplementedTestServiceServer
}

func (ownStatusServer) EmptyCall(context.Context, *testpb.Empty) (*testpb.Empty, error) {
	return nil, ownStatusErr{}
}

// A handler's error of a type of its own with a GRPCStatus method is
// recorded as the status gRPC sends, a status error, as the contract has
// Call.Err: the server half's End reads as the client's.
func TestEndOfAHandlerErrorWithAGRPCStatusMethodIsAStatusError(t *testing.T) {
	rec := recorder.New()
	p := newPair(t, bufnet, rec, rec, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, ownStatusServer{}) })
	_, err := testpb.NewTestServiceClient(p.conn).EmptyCall(t.Context(), &testpb.Empty{})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("EmptyCall: %v, want NotFound", err)
	}
	if err := rec.Wait(t.Context(), func(evs []recorder.Event) bool {
		ends := 0
		for _, e := range evs {
			if e.Kind == recorder.End {
				ends++
			}
		}
		return ends == 2
	}); err != nil {
		t.Fatal(err)
	}
	for _, e := range rec.Events() {
		if e.Kind != recorder.End {
			continue
		}
		if _, own := e.Err.(ownStatusErr); own || e.Err.Error() != err.Error() {
			t.Errorf("%v End: %#v; want the status error the client got, %v", e.Side, e.Err, err)
		}
	}
}
