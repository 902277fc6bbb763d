package recorder

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"testing"

	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"
)

// recordMsg records m as a Send, stored the way the interceptors store
// every message.
func recordMsg(r *Recorder, call *callInfo, m any) {
	r.add(event{call: call, side: Client, kind: Send, at: r.now()}.withMsg(m))
}

// newCall returns a call half of r, for tests that record without gRPC.
func (r *Recorder) newCall(method string) *callInfo {
	return &callInfo{id: r.ids.Add(1), method: method}
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestRingHeapIsFlat records 1M (100k with -short or -race) 1 KiB messages into a
// WithLimit(1024) recorder and checks that the retained heap after the
// first pass over the ring does not grow: the bound is 256 KiB over the
// whole run, against about 1.2 MiB that the full ring itself holds.
func TestRingHeapIsFlat(t *testing.T) {
	total := 1_000_000
	if testing.Short() || raceEnabled {
		total = 100_000
	}
	r := New(WithLimit(1024))
	call := r.newCall("/grpc.testing.TestService/FullDuplexCall")
	msg := &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: make([]byte, 1024)}}
	for range 10_000 {
		recordMsg(r, call, msg)
	}
	base := heapAfterGC()
	for i := 10_000; i < total; i++ {
		msg.Payload.Body[0] = byte(i)
		recordMsg(r, call, msg)
	}
	end := heapAfterGC()
	growth := int64(end) - int64(base)
	t.Logf("ring of 1024: heap %d KiB after 10k messages, %d KiB after %d (growth %d bytes)", base>>10, end>>10, total, growth)
	if growth > 256<<10 {
		t.Errorf("retained heap grew by %d bytes over %d messages with WithLimit(1024); want it flat (< 256 KiB)", growth, total)
	}
	if got := r.Dropped(); got != uint64(total-1024) {
		t.Errorf("Dropped() = %d, want %d", got, total-1024)
	}
	runtime.KeepAlive(r)
}

// TestUnlimitedHeapPerMessage measures what an unlimited recorder retains
// per recorded 1 KiB message (wire bytes plus one record) and bounds it.
func TestUnlimitedHeapPerMessage(t *testing.T) {
	const n = 20_000
	msg := &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: make([]byte, 1024)}}
	wireSize := proto.Size(msg)
	base := heapAfterGC()
	r := New()
	call := r.newCall("/grpc.testing.TestService/FullDuplexCall")
	for range n {
		recordMsg(r, call, msg)
	}
	end := heapAfterGC()
	per := float64(int64(end)-int64(base)) / n
	t.Logf("unlimited recorder retains %.0f bytes per %d-byte message (%.0f bytes of overhead)", per, wireSize, per-float64(wireSize))
	if per > float64(wireSize)+512 {
		t.Errorf("retains %.0f bytes per %d-byte message; want at most %d", per, wireSize, wireSize+512)
	}
	runtime.KeepAlive(r)
}

// TestResetKeepsBlocksASnapshotReads takes a snapshot, resets the recorder
// and records other messages before decoding it: the arena block the
// snapshot refers to must not have been reused for them. Once no snapshot
// is being read, Reset does reuse blocks: the next messages go into the
// same memory.
func TestResetKeepsBlocksASnapshotReads(t *testing.T) {
	r := New()
	call := r.newCall("/m")
	body := func(round, i int) []byte { return bytes.Repeat([]byte{byte(round*16 + i)}, 100+i) }
	for i := range 10 {
		recordMsg(r, call, &testpb.Payload{Body: body(0, i)})
	}
	recs, done := r.snapshot()
	r.Reset()
	for i := range 10 {
		recordMsg(r, call, &testpb.Payload{Body: body(1, i)})
	}
	got := r.decode(recs, nil)
	done()
	for i, e := range got {
		if p, ok := e.Msg.(*testpb.Payload); !ok || !bytes.Equal(p.Body, body(0, i)) {
			t.Fatalf("snapshot taken before Reset, message %d: got %v, want a body of %d bytes %d: its block was reused while the snapshot was read", i, e.Msg, 100+i, i)
		}
	}

	// With no snapshot being read, Reset recycles: recording reuses the
	// block (the first message lands where the last round's first did).
	r = New()
	call = r.newCall("/m")
	for i := range 10 {
		recordMsg(r, call, &testpb.Payload{Body: body(0, i)})
	}
	first := r.arena.cur.Load()
	r.Reset()
	recordMsg(r, call, &testpb.Payload{Body: body(2, 0)})
	if r.arena.cur.Load() != first {
		t.Errorf("after a Reset with no snapshot being read, recording started a new arena block instead of reusing the spare one")
	}
	// Enough to fill that block and more: a block must be in use or spare,
	// never both, or a new block would be the one being filled.
	for i := 1; i < 60; i++ {
		recordMsg(r, call, &testpb.Payload{Body: body(2, i%16)})
	}
	for i, e := range r.Events() {
		if p, ok := e.Msg.(*testpb.Payload); !ok || !bytes.Equal(p.Body, body(2, i%16)) {
			t.Fatalf("recorded after Reset, message %d: got %v, want a body of %d bytes %d", i, e.Msg, 100+i%16, 32+i%16)
		}
	}
}

// TestSharedArenaUnderConcurrentResets has several calls record into the
// arena they share while another goroutine resets the recorder and a third
// reads: every message read back must be one that was recorded, intact (a
// block reused while a writer or a reader still used it would show up as
// a body of mixed bytes), and after the last Reset every call's later
// messages must all be there.
func TestSharedArenaUnderConcurrentResets(t *testing.T) {
	const writers = 4
	n := 4_000
	if raceEnabled {
		n = 1_000
	}
	r := New()
	check := func(e Event) error {
		p, ok := e.Msg.(*testpb.Payload)
		if !ok || len(p.Body) != 300+int(p.Body[0]) || !bytes.Equal(p.Body, bytes.Repeat(p.Body[:1], len(p.Body))) {
			return fmt.Errorf("read back a damaged message: %T %v", e.Msg, e.Msg)
		}
		return nil
	}
	stop := make(chan struct{})
	var side sync.WaitGroup
	errs := make(chan error, 2)
	side.Go(func() { // reader
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, e := range r.Events() {
				if err := check(e); err != nil {
					errs <- err
					return
				}
			}
		}
	})
	side.Go(func() { // resetter
		for {
			select {
			case <-stop:
				return
			default:
				r.Reset()
			}
		}
	})
	var wg sync.WaitGroup
	calls := make([]*callInfo, writers)
	for w := range writers {
		calls[w] = r.newCall(fmt.Sprintf("/s/M%d", w))
		wg.Go(func() {
			for i := range n {
				b := byte(w*64 + i%64)
				recordMsg(r, calls[w], &testpb.Payload{Body: bytes.Repeat([]byte{b}, 300+int(b))})
			}
		})
	}
	wg.Wait()
	close(stop)
	side.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Quiet now: one more round per call must come back whole.
	r.Reset()
	for w := range writers {
		for i := range 64 {
			b := byte(w*64 + i)
			recordMsg(r, calls[w], &testpb.Payload{Body: bytes.Repeat([]byte{b}, 300+int(b))})
		}
	}
	ev := r.Events()
	if len(ev) != writers*64 {
		t.Fatalf("after the last Reset: %d events, want %d", len(ev), writers*64)
	}
	for _, e := range ev {
		if err := check(e); err != nil {
			t.Fatal(err)
		}
	}
}

// TestShortCallsStaySmall bounds what a recorder retains per short call
// (one half of a unary call with a 100-byte request and response): a test
// that makes thousands of calls must not pay for buffers sized for streams.
func TestShortCallsStaySmall(t *testing.T) {
	const calls = 5_000
	req := &testpb.Payload{Body: make([]byte, 100)}
	base := heapAfterGC()
	r := New()
	for range calls {
		call := r.newCall("/grpc.testing.TestService/UnaryCall")
		call.oneLog = true
		now := r.now()
		r.add(event{call: call, side: Client, kind: Begin, at: now})
		recordMsg(r, call, req)
		r.add(event{call: call, side: Client, kind: Recv, at: now}.withMsg(req))
		r.add(event{call: call, side: Client, kind: End, at: now})
	}
	per := float64(int64(heapAfterGC())-int64(base)) / calls
	t.Logf("a recorder retains %.0f bytes per short call half (4 events, two 103-byte messages)", per)
	if per > 1536 {
		t.Errorf("retains %.0f bytes per short call half; want at most 1.5 KiB", per)
	}
	if got := len(r.Events()); got != 4*calls {
		t.Errorf("kept %d events, want %d", got, 4*calls)
	}
	runtime.KeepAlive(r)
}
