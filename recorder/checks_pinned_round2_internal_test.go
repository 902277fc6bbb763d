package recorder

// Tests that pin internals of the recorder a second mutation run found
// unpinned: each fails when the code it names is broken.

import (
	"context"
	"fmt"
	"io"
	"testing"

	"google.golang.org/grpc"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
)

// eofStream is a client stream whose RecvMsg returns io.EOF.
type eofStream struct{ grpc.ClientStream }

func (eofStream) RecvMsg(any) error            { return io.EOF }
func (eofStream) Header() (metadata.MD, error) { return nil, nil }
func (eofStream) Trailer() metadata.MD         { return nil }
func (eofStream) Context() context.Context     { return context.Background() }

// A stream through the client interceptor of a recorder that also records
// servers stores a pair for its server half; when its server half never
// took it (a server this recorder does not record), the stream's End
// drops it: none is left counted out.
func TestClientEndDropsThePairItsServerNeverTook(t *testing.T) {
	r := New()
	r.markServing()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	streamer := func(context.Context, *grpc.StreamDesc, *grpc.ClientConn, string, ...grpc.CallOption) (grpc.ClientStream, error) {
		return eofStream{}, nil
	}
	cs, err := r.StreamClientInterceptor()(ctx, &grpc.StreamDesc{ServerStreams: true}, nil, "/s.S/M", streamer)
	if err != nil {
		t.Fatal(err)
	}
	if n := r.pairsOut.Load(); n != 1 {
		t.Fatalf("%d pairs counted out while the call is in progress, want 1", n)
	}
	if err := cs.RecvMsg(new(struct{})); err != io.EOF {
		t.Fatalf("RecvMsg: %v, want io.EOF", err)
	}
	if n := r.pairsOut.Load(); n != 0 {
		t.Errorf("%d pairs counted out after the call's End, want 0", n)
	}
	left := 0
	r.pairs.Range(func(any, any) bool { left++; return true })
	if left != 0 {
		t.Errorf("%d pairs left in the map after the call's End", left)
	}
}

// A server half that finds its own call id among the values a recorder
// further out carried takes it out of them: a second wrapper of the same
// recorder further in (its interceptor given twice, a fakes stream built
// on the handler's context) gets a call of its own, not the same id.
func TestServerHalfTakesItsCarriedIDOut(t *testing.T) {
	r := New()
	ctx := context.WithValue(context.Background(), carriedIDs{}, []string{fmt.Sprintf("%d.%d", r.id, 5)})
	var sc1, sc2 serverCall
	ctx1, _ := r.begin(ctx, "/s.S/M", &sc1)
	if sc1.info.id != 5 {
		t.Fatalf("the first server half has id %d, want 5, the carried one", sc1.info.id)
	}
	r.begin(ctx1, "/s.S/M", &sc2)
	if sc2.info.id == 5 {
		t.Errorf("the second server half, further in, has id 5 too: the carried value was left for it")
	}
}

// In ring mode (WithLimit), a record that takes the slot of a dropped one
// reuses its message buffer: once the ring is full and warm, recording
// messages allocates nothing.
func TestRingReusesTheBuffersOfDroppedRecords(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	r := New(WithLimit(16))
	const method = "/grpc.testing.TestService/FullDuplexCall"
	cs := r.WrapClientStream(nopClientStream{}, nil, method)
	req := &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: make([]byte, 1024)}}
	out := new(testpb.StreamingOutputCallResponse)
	ops := func() {
		for range 100 {
			if cs.SendMsg(req) != nil || cs.RecvMsg(out) != nil {
				t.Fatal("a nop stream failed")
			}
		}
	}
	ops() // fills the ring, and every slot's buffer
	if n := testing.AllocsPerRun(10, ops); n >= 8 {
		t.Errorf("100 ops (200 recorded messages) on a full ring: %.0f allocations, want none per message", n)
	}
	if r.Dropped() == 0 {
		t.Error("nothing dropped: the ring was never full")
	}
}
