package recorder

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// resetting runs op b.N times, reporting allocations, and calls reset
// after every 4096 ops (as the workload benchmarks do), so that what is
// recorded stays bounded and reused.
func resetting(b *testing.B, op, reset func()) {
	b.ReportAllocs()
	for i := range b.N {
		op()
		if i%4096 == 4095 {
			reset()
		}
	}
}

// BenchmarkRecordPath measures one recording of a 1 KiB message on one
// goroutine: by part (the clock, marshaling into a buffer, storing bytes
// marshaled already), and whole, as a Send and as a Recv record it (these
// marshal straight into the store).
func BenchmarkRecordPath(b *testing.B) {
	msg := &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: make([]byte, 1024)}}
	b.Run("part=now", func(b *testing.B) {
		r := New()
		for range b.N {
			_ = r.now()
		}
	})
	b.Run("part=time.Now", func(b *testing.B) {
		for range b.N {
			_ = time.Now()
		}
	})
	b.Run("part=wire", func(b *testing.B) {
		var scratch []byte
		b.ReportAllocs()
		for range b.N {
			wire(msg, &scratch)
		}
	})
	b.Run("part=store", func(b *testing.B) { // a record and a copy of bytes marshaled already
		s := store{arena: new(arena)}
		var scratch []byte
		_, w := wire(msg, &scratch)
		resetting(b, func() {
			rec, _ := s.push()
			s.keep(rec, w)
		}, func() {
			s.reset()
			s.arena.recycle(s.arena.detach())
		})
	})
	b.Run("part=send", func(b *testing.B) { // as clientStream.SendMsg records
		r := New()
		call := r.newCall("/m")
		resetting(b, func() {
			start := r.now()
			idx, seq := r.add(event{call: call, side: Client, kind: Send, at: start, pending: true}.withMsg(msg, nil))
			r.finish(call, Send, idx, seq, r.now()-start, nil)
		}, r.Reset)
	})
	b.Run("part=recv", func(b *testing.B) { // as clientStream.RecvMsg records
		r := New()
		call := r.newCall("/m")
		resetting(b, func() {
			start := r.now()
			now := r.now()
			r.add(event{call: call, side: Client, kind: Recv, at: now, elapsed: now - start}.withMsg(msg, nil))
		}, r.Reset)
	})
}

// BenchmarkRecordStoreRing measures the ring store alone: one record and a
// copy of a 1 KiB message marshaled already, into a full ring of 1024.
func BenchmarkRecordStoreRing(b *testing.B) {
	msg := &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: make([]byte, 1024)}}
	s := store{limit: 1024}
	var scratch []byte
	_, w := wire(msg, &scratch)
	b.ReportAllocs()
	for range b.N {
		rec, _ := s.push()
		s.keep(rec, w)
	}
}

// fakeSTS stands in for gRPC's server transport stream in
// BenchmarkUnaryInterceptors.
type fakeSTS struct{}

func (fakeSTS) Method() string                  { return "/grpc.testing.TestService/UnaryCall" }
func (fakeSTS) SetHeader(md metadata.MD) error  { return nil }
func (fakeSTS) SendHeader(md metadata.MD) error { return nil }
func (fakeSTS) SetTrailer(md metadata.MD) error { return nil }

// BenchmarkUnaryInterceptors measures what recording one unary call costs
// each side, without gRPC: the interceptors around an invoker and a
// handler that do nothing. One op is one call.
func BenchmarkUnaryInterceptors(b *testing.B) {
	const method = "/grpc.testing.TestService/UnaryCall"
	req := &testpb.SimpleRequest{Payload: &testpb.Payload{Body: make([]byte, 1024)}}
	resp := &testpb.SimpleResponse{Payload: &testpb.Payload{Body: make([]byte, 1024)}}
	b.Run("side=client", func(b *testing.B) {
		r := New()
		ci := r.UnaryClientInterceptor()
		invoker := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
			proto.Merge(reply.(proto.Message), resp)
			return nil
		}
		reply := new(testpb.SimpleResponse)
		ctx := context.Background()
		resetting(b, func() {
			proto.Reset(reply)
			if err := ci(ctx, method, req, reply, nil, invoker); err != nil {
				b.Fatal(err)
			}
		}, r.Reset)
	})
	b.Run("side=server", func(b *testing.B) {
		r := New()
		si := r.UnaryServerInterceptor()
		md := metadata.Pairs(":authority", "bufnet", "content-type", "application/grpc", "user-agent", "grpc-go/1.85.0", CallIDHeader, fmt.Sprintf("%d.1", r.id))
		ctx := grpc.NewContextWithServerTransportStream(metadata.NewIncomingContext(context.Background(), md), fakeSTS{})
		info := &grpc.UnaryServerInfo{FullMethod: method}
		handler := func(ctx context.Context, req any) (any, error) { return resp, nil }
		resetting(b, func() {
			if _, err := si(ctx, req, info, handler); err != nil {
				b.Fatal(err)
			}
		}, r.Reset)
	})
}

// keep stores a copy of b, bytes marshaled already, as rec's message
// bytes: what the store benchmarks measure the store alone with.
func (s *store) keep(rec *record, b []byte) {
	if s.limit > 0 {
		rec.buf = append(rec.buf[:0], b...)
		return
	}
	buf := s.arena.alloc(len(b))
	copy(buf, b)
	rec.buf = buf
}

// wire marshals m into *scratch (reused between calls) and returns its
// type and bytes, as the recorder marshals a message (the benchmarks
// measure that part alone, and store the bytes with keep). A value that is
// not a valid proto message, or that cannot be marshaled, comes back with
// a nil type.
func wire(m any, scratch *[]byte) (protoreflect.MessageType, []byte) {
	pm, typ := validProto(m)
	if pm == nil {
		return nil, nil
	}
	b, err := marshalOpts.MarshalAppend((*scratch)[:0], pm)
	if err != nil {
		return nil, nil
	}
	*scratch = b
	return typ, b
}
