package recorder_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/recorder"
)

// enteredRecv is a stream client interceptor, chained after the
// recorder's, that tells on entered when a RecvMsg has been called.
func enteredRecv(entered chan<- struct{}) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		cs, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			return nil, err
		}
		return &signalStream{ClientStream: cs, entered: entered}, nil
	}
}

type signalStream struct {
	grpc.ClientStream
	entered chan<- struct{}
}

func (s *signalStream) RecvMsg(m any) error {
	s.entered <- struct{}{}
	return s.ClientStream.RecvMsg(m)
}

// clientKinds returns the kinds of the client-side events of the calls in
// events, and the error of the last one's Recv, if any.
func clientKinds(events []recorder.Event) (kinds []recorder.Kind, recvErr error) {
	for _, e := range events {
		if e.Side != recorder.Client {
			continue
		}
		kinds = append(kinds, e.Kind)
		if e.Kind == recorder.Recv {
			recvErr = e.Err
		}
	}
	return kinds, recvErr
}

// TestCancelWhileRecvIsWaiting cancels a stream while its RecvMsg is
// waiting, many times: the client side must record the same events every
// time, the failed Recv and then End, both Canceled. (The recorder
// notices the cancellation through the context and gRPC through the
// stream; if the first to notice ended the call, the Recv would be
// recorded or not depending on which came first.)
func TestCancelWhileRecvIsWaiting(t *testing.T) {
	rec := recorder.New()
	entered := make(chan struct{}, 1)
	p := newPair(t, bufnet, rec, rec, registerEcho, grpc.WithChainStreamInterceptor(enteredRecv(entered)))
	tc := testpb.NewTestServiceClient(p.conn)
	for i := range 100 {
		rec.Reset()
		ctx, cancel := context.WithCancel(ctxT(t))
		stream, err := tc.FullDuplexCall(ctx)
		if err != nil {
			t.Fatal(err)
		}
		recvErr := make(chan error, 1)
		go func() { recvErr <- stream.RecvMsg(new(testpb.StreamingOutputCallResponse)) }()
		<-entered // the recorder's RecvMsg is under way
		cancel()
		if err := <-recvErr; status.Code(err) != codes.Canceled {
			t.Fatalf("RecvMsg after cancel: %v, want Canceled", err)
		}
		if err := rec.Wait(ctxT(t), func(ev []recorder.Event) bool {
			for _, e := range ev {
				if e.Side == recorder.Client && e.Kind == recorder.End {
					return true
				}
			}
			return false
		}); err != nil {
			t.Fatalf("iteration %d: no client End: %v\n%s", i, err, rec)
		}
		kinds, err := clientKinds(rec.Events())
		want := []recorder.Kind{recorder.Begin, recorder.Recv, recorder.End}
		if len(kinds) != len(want) || kinds[0] != want[0] || kinds[1] != want[1] || kinds[2] != want[2] || status.Code(err) != codes.Canceled {
			t.Fatalf("iteration %d: client events %v (Recv error %v), want %v with a Canceled Recv\n%s", i, kinds, err, want, rec)
		}
	}
}
