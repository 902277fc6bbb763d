package recorder_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/recorder"
)

// A Send that makes gRPC end the call while another goroutine waits in
// Header records the End before Send returns, through the interceptor
// and through WrapClientStream alike: Header records no End, so the Send
// does not leave it one (found by a review: the End was lost, or a
// second late).
func TestSendErrorWhileHeaderWaits(t *testing.T) {
	for _, how := range []string{"StreamClientInterceptor", "WrapClientStream"} {
		t.Run(how, func(t *testing.T) {
			rec := recorder.New()
			var p *pair
			if how == "StreamClientInterceptor" {
				p = newPair(t, bufnet, rec, rec, registerEcho)
			} else {
				ci, si := ownInterceptors(rec, true)
				p = newPairOpts(t, bufnet, []grpc.ServerOption{grpc.StreamInterceptor(si)}, registerEcho, grpc.WithStreamInterceptor(ci))
			}
			st, err := testpb.NewTestServiceClient(p.conn).StreamingInputCall(context.Background(), grpc.MaxCallSendMsgSize(100))
			if err != nil {
				t.Fatal(err)
			}
			// Header waits: the server sends no header before the
			// client's CloseSend.
			header := grpctest.Go(t, st.Header)
			header.AssertBlocked(20 * time.Millisecond)
			big := &testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: make([]byte, 1000)}}
			if err := st.Send(big); status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("Send: %v, want ResourceExhausted", err)
			}
			e, ok := endOf(rec, recorder.Client)
			if !ok || status.Code(e.Err) != codes.ResourceExhausted {
				t.Errorf("client End right after the failed Send: %v (found: %v), want ResourceExhausted\n%s", e.Err, ok, rec)
			}
			if _, err := header.Wait(10 * time.Second); err != nil {
				t.Fatalf("Header after the call ended: %v", err)
			}
		})
	}
}
