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

// The recorder counts a service-config deadline from before the call
// started, the harness from after: a test that waits for the recorded
// client End (AssertOrderWithin, as the docs advise) may close the harness
// before gRPC's own timer has ended the stream. That stream is finished
// too, not left open (Close reported it in about 1 run of 10). Close
// waits for gRPC's timer: an interceptor that takes its time before it
// opens the stream (slowStart) puts gRPC's deadline 150ms after the
// recorder's.
func TestStreamEndedByItsServiceConfigDeadlineIsFinished(t *testing.T) {
	for _, tc := range []struct {
		name string
		runs int
		opts []grpc.DialOption
	}{
		{"plain", 20, nil},
		{"slow start", 1, []grpc.DialOption{grpc.WithChainStreamInterceptor(slowStart)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range tc.runs {
				spy := spytb.New(t)
				srv := grpctest.NewServer(spy, service(ctxWaiter{}), grpctest.WithDialOptions(append(tc.opts,
					grpc.WithDefaultServiceConfig(`{"methodConfig":[{"name":[{"service":"grpc.testing.TestService"}],"timeout":"0.02s"}]}`))...))
				st, err := client(srv).FullDuplexCall(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if err := st.Send(&testgrpc.StreamingOutputCallRequest{}); err != nil && tc.opts == nil {
					t.Fatal(err)
				}
				if !grpctest.AssertOrderWithin(t, srv.Recorder(), 5*time.Second, grpctest.ClientEnds(codes.DeadlineExceeded)) {
					return
				}
				srv.Close()
				if st.Context().Err() == nil {
					t.Error("Close returned before gRPC's deadline ended the stream")
				}
				spy.End()
				if len(spy.Reports()) > 0 {
					t.Fatalf("reports:\n%s", spy.Text())
				}
			}
		})
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
// came 150ms early here, and an open stream went unreported. (Without a
// recorder: the recorder counts from before the streamer ran, and Close
// waits for gRPC's deadline once the recorder has seen it pass; see
// TestStreamEndedByItsServiceConfigDeadlineIsFinished.)
func TestOpenStreamBeforeGRPCsDeadlineIsReported(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(ctxWaiter{}), grpctest.WithoutRecorder(), grpctest.WithDialOptions(
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
