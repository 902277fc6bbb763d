package recorder

import (
	"context"
	"runtime"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// stubStream is a grpc.ClientStream whose RecvMsg tells entered when it is
// called and returns what the test sends on recv.
type stubStream struct {
	ctx     context.Context
	entered chan struct{}
	recv    chan error
}

func (s *stubStream) Header() (metadata.MD, error) { return nil, nil }
func (s *stubStream) Trailer() metadata.MD         { return nil }
func (s *stubStream) CloseSend() error             { return nil }
func (s *stubStream) Context() context.Context     { return s.ctx }
func (s *stubStream) SendMsg(any) error            { return nil }
func (s *stubStream) RecvMsg(m any) error {
	s.entered <- struct{}{}
	return <-s.recv
}

// stubbed wraps a stubStream with a fresh recorder and starts a RecvMsg on
// it. The context watch is removed, so that the test calls contextEnded
// itself, when it chooses. cancel ends the call's context.
func stubbed(t *testing.T) (r *Recorder, w *clientStream, stub *stubStream, recvErr chan error, ctx context.Context, cancel func()) {
	r = New()
	ctx, cancel = context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stub = &stubStream{ctx: ctx, entered: make(chan struct{}, 1), recv: make(chan error, 1)}
	w = r.WrapClientStream(stub, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/s/M").(*clientStream)
	w.stop()
	recvErr = make(chan error, 1)
	go func() { recvErr <- w.RecvMsg(new(testpb.Payload)) }()
	<-stub.entered
	return r, w, stub, recvErr, ctx, cancel
}

func kinds(ev []Event) []Kind {
	var ks []Kind
	for _, e := range ev {
		ks = append(ks, e.Kind)
	}
	return ks
}

// TestContextEndWaitsForTheRecvInProgress ends the context while a
// RecvMsg waits, and that RecvMsg then returns a message (it had arrived):
// the End must come after that Recv, however the two goroutines run.
func TestContextEndWaitsForTheRecvInProgress(t *testing.T) {
	r, w, stub, recvErr, ctx, cancel := stubbed(t)
	w.grace = time.Hour // only the RecvMsg's return may end the wait
	cancel()
	ended := make(chan struct{})
	go func() {
		w.contextEnded(ctx)
		close(ended)
	}()
	// Let contextEnded get as far as it goes on its own: waiting for the
	// RecvMsg (it has published its channel), or done.
	deadline := time.Now().Add(10 * time.Second)
	for w.recvs.returned.Load() == nil {
		select {
		case <-ended:
		default:
			if time.Now().Before(deadline) {
				runtime.Gosched()
				continue
			}
			t.Fatal("contextEnded neither waits nor returns")
		}
		break
	}
	stub.recv <- nil
	if err := <-recvErr; err != nil {
		t.Fatalf("RecvMsg: %v", err)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("contextEnded still waits 10s after the RecvMsg it waited for returned")
	}
	ev := r.Events()
	if ks := kinds(ev); len(ks) != 3 || ks[0] != Begin || ks[1] != Recv || ks[2] != End {
		t.Fatalf("events %v, want Begin, Recv, End\n%s", ks, r)
	}
	if ev[1].Err != nil || ev[1].Msg == nil {
		t.Errorf("Recv = %v, %v; want the message RecvMsg returned", ev[1].Msg, ev[1].Err)
	}
	if status.Code(ev[2].Err) != codes.Canceled {
		t.Errorf("End.Err = %v, want Canceled", ev[2].Err)
	}
}

// TestContextEndDoesNotWaitForever: a RecvMsg that does not return after
// the context ends (a stream below the recorder that ignores it) delays
// the End by the grace period only; what it returns later is recorded
// after the End, as every RecvMsg is.
func TestContextEndDoesNotWaitForever(t *testing.T) {
	r, w, stub, recvErr, ctx, cancel := stubbed(t)
	w.grace = 20 * time.Millisecond
	cancel()
	w.contextEnded(ctx) // returns after the grace period
	ev := r.Events()
	if ks := kinds(ev); len(ks) != 2 || ks[1] != End || status.Code(ev[1].Err) != codes.Canceled {
		t.Fatalf("events %v, want Begin, End (Canceled)\n%s", ks, r)
	}
	stub.recv <- status.Error(codes.Canceled, "late")
	<-recvErr
	ev = r.Events()
	if ks := kinds(ev); len(ks) != 3 || ks[1] != End || ks[2] != Recv || status.Code(ev[2].Err) != codes.Canceled {
		t.Errorf("after the late RecvMsg returned: events %v, want Begin, End, Recv (Canceled)\n%s", ks, r)
	}
}

// sendEndsCall is a grpc.ClientStream whose SendMsg does what gRPC's does
// with a message over the size limit: it ends the call, canceling the
// stream's context, and then (here, once released) returns its error.
type sendEndsCall struct {
	stubStream
	cancel  context.CancelFunc
	release chan struct{}
}

func (s *sendEndsCall) SendMsg(any) error {
	s.cancel()
	<-s.release
	return status.Error(codes.ResourceExhausted, "trying to send message larger than max")
}

// TestContextEndWaitsForTheSendInProgress: the context ends inside a
// SendMsg, whose error ended the call; context.AfterFunc's goroutine must
// not record Canceled before SendMsg returns that error. (The soak showed
// it: 2 runs in 20 of TestWrappedStreamEndsWithTheSendError.)
func TestContextEndWaitsForTheSendInProgress(t *testing.T) {
	r := New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stub := &sendEndsCall{stubStream: stubStream{ctx: ctx}, cancel: cancel, release: make(chan struct{})}
	w := r.WrapClientStream(stub, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/s/M").(*clientStream)
	w.grace = time.Hour // only SendMsg's return may end the wait
	sent := make(chan error, 1)
	go func() { sent <- w.SendMsg(new(testpb.Payload)) }()
	// context.AfterFunc runs contextEnded once SendMsg cancels: let it get
	// as far as it goes on its own (waiting for the SendMsg, or done).
	deadline := time.Now().Add(10 * time.Second)
	for w.sends.returned.Load() == nil && !w.ended.Load() {
		if time.Now().After(deadline) {
			t.Fatal("contextEnded neither waits nor ends the call")
		}
		runtime.Gosched()
	}
	if w.ended.Load() {
		t.Fatalf("the End was recorded while the SendMsg that ended the call had not returned:\n%s", r)
	}
	close(stub.release)
	if err := <-sent; status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("SendMsg: %v", err)
	}
	if err := r.Wait(boundedContext(t), func(ev []Event) bool { return len(ev) > 0 && ev[len(ev)-1].Kind == End }); err != nil {
		t.Fatal(err)
	}
	ev := r.Events()
	if end := ev[len(ev)-1]; status.Code(end.Err) != codes.ResourceExhausted {
		t.Errorf("End.Err = %v, want the SendMsg's ResourceExhausted\n%s", end.Err, r)
	}
}

// boundedContext is a context that ends after 10s or with the test.
func boundedContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
