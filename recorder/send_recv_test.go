package recorder_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/recorder"
)

// gateRecv is a stream further in than the recorder whose RecvMsg, once
// gRPC's has returned a message, reports it and returns only once release
// is closed: it stands for a scheduler that delays the goroutine between
// gRPC's return and the recorder's bookkeeping.
type gateRecv struct {
	grpc.ClientStream
	got, release chan struct{}
}

func (g *gateRecv) RecvMsg(m any) error {
	err := g.ClientStream.RecvMsg(m)
	if err == nil && g.got != nil {
		close(g.got)
		g.got = nil
		<-g.release
	}
	return err
}

// A SendMsg that makes gRPC end the call while a RecvMsg is in progress
// that then returns a message (not the end of the call) left the End to
// a RecvMsg that records none: through StreamClientInterceptor, which
// watches the caller's context (here one that never ends), the End was
// lost (found by a review). The RecvMsg records it as it leaves.
func TestSendErrorWhileRecvReturnsAMessage(t *testing.T) {
	for _, how := range []string{"StreamClientInterceptor", "WrapClientStream"} {
		t.Run(how, func(t *testing.T) {
			rec := recorder.New()
			got, release := make(chan struct{}), make(chan struct{})
			inner := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
				cs, err := streamer(ctx, desc, cc, method, opts...)
				if err != nil {
					return nil, err
				}
				return &gateRecv{ClientStream: cs, got: got, release: release}, nil
			}
			var p *pair
			if how == "StreamClientInterceptor" {
				p = newPair(t, bufnet, rec, rec, registerEcho, grpc.WithChainStreamInterceptor(inner))
			} else {
				ci, si := ownInterceptors(rec, true)
				p = newPairOpts(t, bufnet, []grpc.ServerOption{grpc.StreamInterceptor(si)}, registerEcho,
					grpc.WithChainStreamInterceptor(ci, inner))
			}
			st, err := testpb.NewTestServiceClient(p.conn).FullDuplexCall(context.Background(), grpc.MaxCallSendMsgSize(100))
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Send(&testpb.StreamingOutputCallRequest{Payload: payload("hi")}); err != nil {
				t.Fatal(err)
			}
			recvd := make(chan error, 1)
			go func() { _, err := st.Recv(); recvd <- err }()
			<-got // the echo is in; the Recv is on its way out
			big := &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: make([]byte, 1000)}}
			if err := st.Send(big); status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("Send: %v, want ResourceExhausted", err)
			}
			close(release)
			if err := <-recvd; err != nil {
				t.Fatalf("Recv: %v, want the echo", err)
			}
			// The code is done: gRPC says a SendMsg error other than io.EOF
			// is the call's status, and no RecvMsg is needed.
			wctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if err := rec.Wait(wctx, func(ev []recorder.Event) bool { _, ok := findEnd(ev, recorder.Client); return ok }); err != nil {
				t.Fatalf("no client End 3s after the failed Send and the Recv returned: %v\n%s", err, rec)
			}
			if e, _ := endOf(rec, recorder.Client); status.Code(e.Err) != codes.ResourceExhausted {
				t.Errorf("client End %v, want ResourceExhausted\n%s", e.Err, rec)
			}
		})
	}
}
