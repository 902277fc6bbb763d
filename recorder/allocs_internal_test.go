package recorder

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
)

// nopClientStream and nopServerStream accept every message and every
// call, for measuring the wrappers alone.
type nopClientStream struct{ grpc.ClientStream }

func (nopClientStream) Context() context.Context { return context.Background() }
func (nopClientStream) SendMsg(any) error        { return nil }
func (nopClientStream) RecvMsg(any) error        { return nil }
func (nopClientStream) Header() (metadata.MD, error) {
	return nil, nil
}

type nopServerStream struct{ grpc.ServerStream }

func (nopServerStream) Context() context.Context     { return context.Background() }
func (nopServerStream) SendMsg(any) error            { return nil }
func (nopServerStream) RecvMsg(any) error            { return nil }
func (nopServerStream) SetHeader(metadata.MD) error  { return nil }
func (nopServerStream) SendHeader(metadata.MD) error { return nil }

// TestStreamMessagesDoNotAllocate: once warm, recording the messages of a
// stream allocates nothing, on either side. The records go into the
// store's chunks and the bytes into its arena, both kept for reuse by
// Reset. (A SendMsg that kept its error by address allocated on every
// call: 1 allocation per ping-pong op, until this test.)
func TestStreamMessagesDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	r := New()
	const method = "/grpc.testing.TestService/FullDuplexCall"
	cs := r.WrapClientStream(nopClientStream{}, nil, method)
	ss := r.WrapServerStream(nopServerStream{}, &grpc.StreamServerInfo{FullMethod: method, IsClientStream: true, IsServerStream: true})
	req := &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: make([]byte, 1024)}}
	res := &testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: make([]byte, 1024)}}
	in, out := new(testpb.StreamingOutputCallRequest), new(testpb.StreamingOutputCallResponse)
	// A cycle of ops and a Reset allocates a few things per cycle (the
	// store's first, small record chunks, and its list of chunks, which
	// grows with their number): compare two cycle lengths, so that what
	// is left is what the messages cost.
	allocs := func(ops int) float64 {
		cycle := func() {
			for range ops {
				if cs.SendMsg(req) != nil || ss.RecvMsg(in) != nil || ss.SendMsg(res) != nil || cs.RecvMsg(out) != nil {
					t.Fatal("a nop stream failed")
				}
			}
			r.Reset()
		}
		cycle()
		return testing.AllocsPerRun(10, cycle)
	}
	short, long := allocs(100), allocs(300)
	if extra := long - short; extra >= 8 { // 800 more messages: fewer than 1 per 100
		t.Errorf("a cycle of 100 ops (400 recorded messages) and a Reset: %.0f allocations; of 300 ops: %.0f; "+
			"want about as many: nothing per message once warm", short, long)
	}
}
