package recorder_test

import (
	"context"
	"io"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
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
