package recorder

import (
	"testing"
	"time"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// BenchmarkRecordPath measures one recording of a 1 KiB message on one
// goroutine, by part: the clock, marshaling, and storing.
func BenchmarkRecordPath(b *testing.B) {
	msg := &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: make([]byte, 1024)}}
	b.Run("part=now", func(b *testing.B) {
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
	b.Run("part=store", func(b *testing.B) {
		r := New()
		call := r.newCall("/m")
		var scratch []byte
		typ, w := wire(msg, &scratch)
		now := time.Now()
		b.ReportAllocs()
		for i := range b.N {
			r.addMsg(event{call: call, side: Client, kind: Send, at: now}, typ, w, msg)
			if i%4096 == 4095 {
				r.Reset()
			}
		}
	})
	b.Run("part=all", func(b *testing.B) {
		r := New()
		call := r.newCall("/m")
		var scratch []byte
		b.ReportAllocs()
		for i := range b.N {
			start := time.Now()
			typ, w := wire(msg, &scratch)
			idx, seq := r.addMsg(event{call: call, side: Client, kind: Send, at: start, pending: true}, typ, w, msg)
			r.finish(call, idx, seq, time.Since(start), nil)
			if i%4096 == 4095 {
				r.Reset()
			}
		}
	})
}

func BenchmarkRecordStoreRing(b *testing.B) {
	msg := &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: make([]byte, 1024)}}
	r := New(WithLimit(1024))
	call := r.newCall("/m")
	var scratch []byte
	typ, w := wire(msg, &scratch)
	now := time.Now()
	b.ReportAllocs()
	for range b.N {
		r.addMsg(event{call: call, side: Client, kind: Send, at: now}, typ, w, msg)
	}
}
