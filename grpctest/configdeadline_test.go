package grpctest_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"
)

type ctxWaiter struct {
	testgrpc.UnimplementedTestServiceServer
}

func (ctxWaiter) FullDuplexCall(st testgrpc.TestService_FullDuplexCallServer) error {
	<-st.Context().Done()
	return status.FromContextError(st.Context().Err()).Err()
}

// A stream whose service-config deadline has passed is over: gRPC ended
// it and released it (its context ended), and the recorder shows its End.
func TestStreamPastItsServiceConfigDeadlineIsFinished(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(ctxWaiter{}), grpctest.WithDialOptions(
		grpc.WithDefaultServiceConfig(`{"methodConfig":[{"name":[{"service":"grpc.testing.TestService"}],"timeout":"0.05s"}]}`)))
	st, err := client(srv).FullDuplexCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	<-st.Context().Done() // gRPC's deadline
	if err := srv.Recorder().Wait(t.Context(), func(evs []recorder.Event) bool {
		return slices.ContainsFunc(evs, func(e recorder.Event) bool { return e.Side == recorder.Client && e.Kind == recorder.End })
	}); err != nil {
		t.Fatal(err)
	}
	spy.End()
	if len(spy.Reports()) > 0 {
		t.Errorf("reports:\n%s\n%s", spy.Text(), srv.Recorder())
	}
}

// refusingStream refuses a request without a payload, as a client-side
// validator would, without ending the call.
type refusingStream struct{ grpc.ClientStream }

func (r refusingStream) SendMsg(m any) error {
	if req, ok := m.(*testgrpc.StreamingOutputCallRequest); ok && req.Payload == nil {
		return status.Error(codes.InvalidArgument, "payload required")
	}
	return r.ClientStream.SendMsg(m)
}

func refusing(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return refusingStream{cs}, nil
}

// A Send that an interceptor further in refuses does not end the call:
// it goes on, and when the test cancels it, the client's End is Canceled.
func TestRefusedSendDoesNotEndTheCall(t *testing.T) {
	srv := grpctest.NewServer(t, interopService, grpctest.WithDialOptions(grpc.WithChainStreamInterceptor(refusing)))
	ctx, cancel := context.WithCancel(t.Context())
	st, err := client(srv).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&testgrpc.StreamingOutputCallRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Send without a payload: %v, want InvalidArgument", err)
	}
	if err := st.Send(&testgrpc.StreamingOutputCallRequest{Payload: payload(1), ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}}}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatalf("Recv: %v", err)
	}
	cancel()
	rec := srv.Recorder()
	if err := rec.Wait(t.Context(), func(evs []recorder.Event) bool {
		return slices.ContainsFunc(evs, func(e recorder.Event) bool { return e.Kind == recorder.End && e.Side == recorder.Client })
	}); err != nil {
		t.Fatal(err)
	}
	for _, e := range rec.Events() {
		if e.Kind == recorder.End && e.Side == recorder.Client && status.Code(e.Err) != codes.Canceled {
			t.Errorf("client End %v, want Canceled\n%s", e.Err, rec)
		}
	}
}

// slowStart does work before it opens the stream (a token fetch, a rate
// limiter): gRPC starts counting the service config's timeout only then.
func slowStart(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	<-time.After(150 * time.Millisecond) // the behaviour under test: a slow start
	return streamer(ctx, desc, cc, method, opts...)
}

// Check (a) takes a stream for finished only once gRPC's own deadline
// has passed: a harness deadline counted from before the streamer ran
// came 150ms early here, and an open stream went unreported.
func TestOpenStreamBeforeGRPCsDeadlineIsReported(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(ctxWaiter{}), grpctest.WithDialOptions(
		grpc.WithDefaultServiceConfig(`{"methodConfig":[{"name":[{"service":"grpc.testing.TestService"}],"timeout":"0.3s"}]}`),
		grpc.WithChainStreamInterceptor(slowStart)))
	st, err := client(srv).FullDuplexCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	<-time.After(200 * time.Millisecond) // the behaviour under test: past a deadline counted from the call, before gRPC's
	if err := st.Context().Err(); err != nil {
		t.Skipf("the stream ended already (a loaded machine): %v", err)
	}
	srv.Close()
	spy.End()
	spy.Want(t, 1, "client stream /grpc.testing.TestService/FullDuplexCall", "was never finished")
}
