package recorder

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"
)

// recordMsg records m as a Send, stored the way the interceptors store
// every message.
func recordMsg(r *Recorder, call *callInfo, m any) {
	r.add(event{call: call, side: Client, kind: Send, at: r.now()}.withMsg(m, nil))
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

// payloadOf returns a message whose body tells what it must look like:
// 300+b bytes, all b.
func payloadOf(b byte) *testpb.Payload {
	return &testpb.Payload{Body: bytes.Repeat([]byte{b}, 300+int(b))}
}

// checkPayload reports whether e carries a message made by payloadOf,
// intact: a message whose bytes were overwritten by another's (a block
// reused too early) comes back with mixed bytes, a wrong length, or not
// at all.
func checkPayload(e Event) error {
	p, ok := e.Msg.(*testpb.Payload)
	if !ok || len(p.Body) == 0 || len(p.Body) != 300+int(p.Body[0]) || !bytes.Equal(p.Body, bytes.Repeat(p.Body[:1], len(p.Body))) {
		return fmt.Errorf("read back a damaged message: %T %v", e.Msg, e.Msg)
	}
	return nil
}

// TestSharedArenaUnderConcurrentResets has calls record into the arena
// they share while another goroutine resets the recorder and a third
// reads. Writers record through both paths (a Recv; a Send left pending
// until it finishes), and end their calls now and then,
// so that Reset prunes logs and they register again. The reader takes a
// snapshot every few hundred messages, of a recorder with hundreds of
// logs (so snapshots take long), and most Resets happen while none is
// being read: blocks are recycled and reused under the writers' feet.
// Every message read back must be intact, and after the last Reset every
// call's later messages must all be there.
func TestSharedArenaUnderConcurrentResets(t *testing.T) {
	const writers, idle = 4, 300
	n := 20_000
	if raceEnabled {
		n = 4_000
	}
	r := New()
	for range idle { // logs that snapshots and Resets must get through
		c := r.newCall("/s/Idle")
		recordMsg(r, c, payloadOf(1))
	}
	// Whether a Reset finds a block no snapshot reads, and a writer then
	// needs one, is up to the scheduler: a round recycles none once in a
	// few dozen runs. Rounds repeat until one has (at most maxRounds).
	const maxRounds = 10
	reused, rounds := 0, 0
	for reused == 0 && rounds < maxRounds {
		rounds++
		read := make(chan struct{}, 1)
		stop := make(chan struct{})
		var side sync.WaitGroup
		errs := make(chan error, 2)
		side.Go(func() { // reader
			for {
				select {
				case <-stop:
					return
				case <-read:
				}
				for _, e := range r.Events() {
					if e.Kind == End {
						continue
					}
					if err := checkPayload(e); err != nil {
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
		for w := range writers {
			wg.Go(func() {
				call := r.newCall(fmt.Sprintf("/s/M%d", w))
				for i := range n {
					m := payloadOf(byte(w*64 + i%64))
					if i%2 == 0 {
						recordMsg(r, call, m)
					} else {
						start := r.now()
						idx, seq := r.add(event{call: call, side: Client, kind: Send, at: start, pending: true}.withMsg(m, nil))
						r.finish(call, Send, idx, seq, r.now()-start, nil)
					}
					if i%97 == 96 {
						r.add(event{call: call, side: Client, kind: End, at: r.now()})
						call = r.newCall(fmt.Sprintf("/s/M%d", w))
					}
					if i%300 == 0 {
						select {
						case read <- struct{}{}:
						default:
						}
					}
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
		r.arena.mu.Lock()
		reused = r.arena.reused
		r.arena.mu.Unlock()
	}
	if reused == 0 {
		t.Errorf("no arena block was reused in %d rounds: the test did not exercise recycling", rounds)
	}
	t.Logf("%d arena blocks reused in %d rounds", reused, rounds)

	// Quiet now: one more round per call must come back whole.
	r.Reset()
	for w := range writers {
		call := r.newCall(fmt.Sprintf("/s/M%d", w))
		for i := range 64 {
			recordMsg(r, call, payloadOf(byte(w*64+i)))
		}
	}
	ev := r.Events()
	if len(ev) != writers*64 {
		t.Fatalf("after the last Reset: %d events, want %d", len(ev), writers*64)
	}
	for _, e := range ev {
		if err := checkPayload(e); err != nil {
			t.Fatal(err)
		}
	}
}

// pauseReset starts Reset on another goroutine while holding the lock of
// blocker, a log Reset comes to after first, and returns once Reset has
// reset first and so waits for blocker. release lets Reset finish.
func pauseReset(r *Recorder, first, blocker *callLog) (release func()) {
	blocker.mu.Lock()
	done := make(chan struct{})
	go func() {
		r.Reset()
		close(done)
	}()
	for {
		first.mu.Lock()
		n := first.st.n
		first.mu.Unlock()
		if n == 0 {
			break
		}
		runtime.Gosched()
	}
	return func() {
		blocker.mu.Unlock()
		<-done
	}
}

// twoLogs returns a recorder with two calls that recorded one message
// each, and their logs in the order Reset goes through them.
func twoLogs() (*Recorder, [2]*callInfo, [2]*callLog) {
	r := New()
	c := [2]*callInfo{r.newCall("/a"), r.newCall("/b")}
	recordMsg(r, c[0], payloadOf(1))
	recordMsg(r, c[1], payloadOf(2))
	return r, c, [2]*callLog{r.logs[0], r.logs[1]}
}

// TestRecordDuringResetSurvivesIt records into a log that Reset has
// already reset while Reset is still going through the others: that
// record outlives the Reset, so its bytes must not be in a block Reset
// recycles (they would be if Reset took the arena's blocks at its end
// instead of its start).
func TestRecordDuringResetSurvivesIt(t *testing.T) {
	r, c, l := twoLogs()
	release := pauseReset(r, l[0], l[1])
	recordMsg(r, c[0], payloadOf(0xAA))
	release()
	for range 16 { // over the recycled block from its start, past 0xAA's place
		recordMsg(r, c[1], payloadOf(0xBB))
	}
	ev := r.Events()
	if len(ev) != 17 {
		t.Fatalf("%d events, want 17", len(ev))
	}
	for i, e := range ev {
		want := byte(0xBB)
		if i == 0 {
			want = 0xAA
		}
		if err := checkPayload(e); err != nil || e.Msg.(*testpb.Payload).Body[0] != want {
			t.Fatalf("event %d: %v, %v; want a body of %#x", i, err, e.Msg, want)
		}
	}
}

// TestNoReuseBeforeEveryLogIsReset takes, while Reset is going through
// the logs, a snapshot of a log Reset has not reached yet (as a snapshot
// that starts after Reset does), while another call records: Reset must
// not recycle the old blocks before it has reset every log, or that
// call's messages would overwrite what the snapshot reads.
func TestNoReuseBeforeEveryLogIsReset(t *testing.T) {
	r, c, l := twoLogs()
	release := pauseReset(r, l[0], l[1])
	for range 16 {
		recordMsg(r, c[0], payloadOf(0xCC))
	}
	// What Recorder.snapshot does with l[1], whose lock the test holds.
	r.arena.readers.Add(1)
	got := r.decode(l[1].st.snapshot(), nil)
	r.arena.readers.Add(-1)
	release()
	if len(got) != 1 {
		t.Fatalf("%d records in the log Reset had not reached, want 1", len(got))
	}
	if err := checkPayload(got[0]); err != nil || got[0].Msg.(*testpb.Payload).Body[0] != 2 {
		t.Fatalf("the record Reset had not reached yet: %v, %v; want a body of 2s", err, got[0].Msg)
	}
}

// TestSnapshotCountsItselfBeforeCopying holds a log's lock while a
// snapshot starts: the snapshot, waiting to copy that log (having perhaps
// copied others, whose bytes it shares), must already count as a reader,
// or a Reset in between would recycle blocks it is about to decode.
func TestSnapshotCountsItselfBeforeCopying(t *testing.T) {
	r, _, l := twoLogs()
	l[1].mu.Lock()
	type snap struct {
		recs []record
		done func()
	}
	got := make(chan snap, 1)
	go func() {
		recs, done := r.snapshot()
		got <- snap{recs, done}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for r.arena.readers.Load() == 0 {
		if time.Now().After(deadline) {
			l[1].mu.Unlock()
			<-got
			t.Fatal("a snapshot waiting for a log's lock does not count as a reader of the arena")
		}
		runtime.Gosched()
	}
	l[1].mu.Unlock()
	sn := <-got
	if len(sn.recs) != 2 {
		t.Errorf("snapshot has %d records, want 2", len(sn.recs))
	}
	sn.done()
	if n := r.arena.readers.Load(); n != 0 {
		t.Errorf("after done, %d readers; want 0", n)
	}
}

// TestLargeMessagesReuseTheirBlocks records messages too large to share
// an arena block, resetting in between: once warm, their blocks are
// reused, not allocated per message.
func TestLargeMessagesReuseTheirBlocks(t *testing.T) {
	msg := &testpb.Payload{Body: make([]byte, 300<<10)}
	r := New()
	call := r.newCall("/m")
	cycle := func() {
		for range 3 {
			recordMsg(r, call, msg)
		}
		r.Reset()
	}
	cycle()
	if allocs := testing.AllocsPerRun(20, cycle); allocs > 0 {
		t.Errorf("recording three 300 KiB messages and resetting: %.1f allocations; want 0 once warm", allocs)
	}
}

// TestResetDuringASnapshotFreesTheBlocks resets while a snapshot is
// being read: the old blocks cannot be reused then, and once the snapshot
// is done nothing may keep them from the garbage collector (the records
// Reset keeps room for are cleared).
func TestResetDuringASnapshotFreesTheBlocks(t *testing.T) {
	msg := &testpb.Payload{Body: make([]byte, 1024)}
	base := heapAfterGC()
	r := New()
	call := r.newCall("/m")
	for range 32 << 10 {
		recordMsg(r, call, msg)
	}
	_, done := r.snapshot()
	r.Reset()
	done()
	grown := int64(heapAfterGC()) - int64(base)
	t.Logf("after Reset during a snapshot: heap %d KiB above where it started", grown>>10)
	if grown > 8<<20 {
		t.Errorf("heap %d KiB above its start after recording 32 MiB and resetting: the old arena blocks are still reachable", grown>>10)
	}
	runtime.KeepAlive(r)
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
		r.add(event{call: call, side: Client, kind: Recv, at: now}.withMsg(req, nil))
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
