package recorder

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Recorder captures the events of gRPC calls, client and server side, into
// one ordered log. Install it with ServerOptions and DialOptions (or the
// individual interceptors) and read the log with Events, Calls or String.
//
// A Recorder is safe for concurrent use by any number of calls. Its zero
// value (a Recorder field, new(Recorder)) is an empty Recorder, as New()
// with no options returns: its times count from its first use.
type Recorder struct {
	id       uint64              // distinguishes this recorder's call-id headers from another's
	methods  map[string]struct{} // nil: record every method
	suffixes []string            // WithMethods names given without the leading "/"
	names    []string            // WithMethods names as given, for Methods and String
	base     time.Time
	waiters  atomic.Int32 // Wait calls in progress: read on every event, rarely written
	serving  atomic.Bool  // a server-side interceptor or wrapper was made: see tag
	setUp    sync.Once    // sets id and base of a zero Recorder: see ready

	// seq and ids are written by every goroutine that records; each has a
	// cache line of its own, so that their writes do not slow down the reads
	// of the fields above (or each other).
	_   [64]byte
	seq atomic.Uint64 // last Seq handed out
	_   [56]byte
	ids atomic.Uint64 // last call id handed out
	_   [56]byte

	arena arena // no limit: the bytes of every recorded message

	// pairs holds, by call id, the pairState of each stream whose client
	// half StreamClientInterceptor records and tags, until its server half
	// begins (and takes it) or its client half ends.
	pairs    sync.Map
	pairsOut atomic.Int64 // pairs stored and not taken out (a hint: see pairState)

	mu     sync.Mutex
	st     store         // WithLimit: the ring of every call (guarded by mu)
	logs   []*callLog    // no limit: the log of every call half (see callLog)
	notify chan struct{} // closed and cleared on the next event; nil while nobody waits
}

// Option configures a Recorder.
type Option func(*Recorder)

// WithLimit keeps at most n events: the log becomes a ring, older events are
// dropped and counted by Dropped. n <= 0 means no limit (the default).
// Events, Calls, Wait and the assertions see only what is kept (see Wait).
func WithLimit(n int) Option {
	return func(r *Recorder) {
		if n < 0 {
			n = 0
		}
		r.st.limit = n
	}
}

// WithMethods records only calls of these methods. Name them in full,
// "/pkg.Service/Method"; a name without the leading slash is matched as the
// end of the full name, so "pkg.Service/Method", "Service/Method" and
// "Method" also work (the last matches that method of every service).
// Other calls pass through the interceptors untouched and cost nothing
// measurable; WrapServerStream and WrapClientStream return their streams
// unwrapped. Several WithMethods add up; Methods lists them. A recorder
// that recorded nothing says, in String, which methods it records, and
// which names cannot match a method name (a service's name, "").
func WithMethods(names ...string) Option {
	return func(r *Recorder) {
		if r.methods == nil {
			r.methods = make(map[string]struct{}, len(names))
		}
		r.names = append(r.names, names...)
		for _, m := range names {
			if strings.HasPrefix(m, "/") {
				r.methods[m] = struct{}{}
			} else {
				r.suffixes = append(r.suffixes, m)
			}
		}
	}
}

// recorderIDs numbers the recorders of this process, from a random start:
// a call-id header names its recorder by number, and a server recorded in
// another process (whose recorders count from a start of their own) must
// not take a call of its client's for one of its own.
var recorderIDs = func() *atomic.Uint64 {
	var n atomic.Uint64
	n.Store(uint64(rand.Uint32()))
	return &n
}()

// New returns an empty Recorder.
func New(opts ...Option) *Recorder {
	r := new(Recorder)
	r.ready()
	for _, o := range opts {
		if o != nil {
			o(r)
		}
	}
	return r
}

// ready gives r its id and the base of its times, once: New calls it, and
// so does every exported method that records or reads, for a zero
// Recorder. The methods that run per call (TagContext, the Wrap and End
// functions) pay one atomic load for it; the interceptors are made once.
func (r *Recorder) ready() {
	if r == nil {
		return
	}
	r.setUp.Do(func() {
		r.id, r.base = recorderIDs.Add(1), time.Now()
	})
}

// markServing notes that r has made a server-side interceptor or wrapper
// (see tag).
func (r *Recorder) markServing() {
	if r != nil {
		r.serving.Store(true)
	}
}

// now returns the time since r.base, the time of every event. It reads
// only the monotonic clock (time.Since's fast path), at about half the
// cost of time.Now.
func (r *Recorder) now() time.Duration { return time.Since(r.base) }

// records reports whether calls of method are recorded: not by a nil
// Recorder, whose interceptors pass every call through.
func (r *Recorder) records(method string) bool {
	if r == nil {
		return false
	}
	if r.methods == nil {
		return true
	}
	if _, ok := r.methods[method]; ok {
		return true
	}
	for _, suf := range r.suffixes {
		if rest, ok := strings.CutSuffix(method, suf); ok && (strings.HasSuffix(rest, "/") || strings.HasSuffix(rest, ".")) {
			return true
		}
	}
	return false
}

// logOf returns the log of a call half for events of kind, creating and
// registering it on first use.
func (r *Recorder) logOf(call *callInfo, kind Kind) *callLog {
	p := &call.logs[call.logIndex(kind)]
	if l := p.Load(); l != nil {
		return l
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if l := p.Load(); l != nil {
		return l
	}
	l := &call.rest
	if p == &call.logs[0] {
		l = &callLog{}
	}
	l.st.arena = &r.arena
	r.logs = append(r.logs, l)
	p.Store(l)
	return l
}

// lockLog locks the log of a call half for events of kind, registering it
// again first if Reset dropped it.
func (r *Recorder) lockLog(call *callInfo, kind Kind) *callLog {
	l := r.logOf(call, kind)
	for {
		if l.pruned.Load() {
			r.mu.Lock()
			if l.pruned.Load() {
				r.logs = append(r.logs, l)
				l.pruned.Store(false)
			}
			r.mu.Unlock()
		}
		l.mu.Lock()
		if !l.pruned.Load() {
			return l
		}
		l.mu.Unlock()
	}
}

// event is the part of a record its producer fills in.
type event struct {
	call    *callInfo
	side    Side
	kind    Kind
	at      time.Duration // since Recorder.base: see now
	elapsed time.Duration
	err     error
	md      metadata.MD
	pending bool
	// strict: gRPC marshals this message after the interceptor has let go
	// of it (a unary call's), with the proto codec's checks: should that
	// fail, the event, and an End recorded with it, carry gRPC's error.
	strict bool

	// The message of a Send or Recv: raw is the message as given (any
	// value, nil included). For a valid proto message, pm is the message,
	// to be marshaled straight into the store, and typ its type.
	typ protoreflect.MessageType
	pm  proto.Message
	raw any
}

// add appends events of one call half, all bound for the same log (see
// callInfo.logIndex), under one lock and with consecutive Seqs, and returns
// the index (in its store) and the Seq of the first.
//
// Without a limit the events go into the log of their call half, under
// that log's lock; their Seqs come from an atomic counter bumped under the
// same lock, so each log is in Seq order and a snapshot that reads the
// counter first sees every event up to it (see snapshot). With a limit,
// into the shared ring under r.mu.
//
// Messages are marshaled under that lock, straight into the store: one
// copy instead of two. Marshaling runs no code of the caller's (short of
// a legacy message type's own Marshal method), and the lock is released
// even if it panics.
func (r *Recorder) add(es ...event) (uint64, uint64) {
	call := es[0].call
	st, l := r.lockStore(call, es[0].kind)
	defer r.unlockStore(l)
	seq := r.seq.Add(uint64(len(es))) - uint64(len(es)) + 1
	var first uint64
	ended := false
	var callErr error // a strict message's failure, for the End of the batch
	for j := range es {
		e := &es[j]
		rec, i := st.push()
		if j == 0 {
			first = i
		}
		rec.seq = seq + uint64(j)
		rec.call = call
		rec.side = uint8(e.side)
		rec.kind = uint8(e.kind)
		rec.pending = e.pending
		rec.at = e.at
		rec.elapsed = e.elapsed
		rec.err = e.err
		rec.md = e.md
		if e.kind == Send || e.kind == Recv {
			var err error
			if e.pm != nil {
				err = st.keepMarshal(rec, e.pm)
			}
			if e.pm != nil && err == nil {
				rec.hasMsg = true
				rec.typ = e.typ
			} else if e.raw != nil || e.err == nil {
				rec.hasMsg = true
				keepClone(rec, e.raw)
			}
			if e.strict && e.pm != nil && rec.err == nil {
				if err == nil {
					err = proto.CheckInitialized(e.pm) // gRPC's marshal checks required fields
				}
				rec.err = grpcMarshalError(err)
				callErr = rec.err
			}
		}
		if e.kind == End && rec.err == nil {
			rec.err = callErr
		}
		ended = ended || e.kind == End
	}
	if l != nil && ended {
		// Both logs of the half may go at the next Reset.
		l.ended = true
		if other := call.logs[0].Load(); other != nil && other != l { // the sender's log
			other.mu.Lock()
			other.ended = true
			other.mu.Unlock()
		}
	}
	return first, seq
}

// withMsg returns e carrying message m. c, if not nil, is the cache of
// the goroutine that sends (or receives) on one stream: see extCache.
func (e event) withMsg(m any, c *extCache) event {
	e.raw = m
	e.pm, e.typ = validProto(m)
	if e.pm != nil && c.mayHoldExtensions(e.typ) && unresolvedExtensions(e.pm.ProtoReflect()) {
		e.pm, e.typ = nil, nil // kept as a clone: see extensions.go
	}
	return e
}

// validProto returns m and its type if m is a proto message that can be
// marshaled (not nil, not a typed nil), else nils. A message of the first
// Go protobuf API (golang/protobuf before 1.4, gogo), which gRPC's proto
// codec also marshals, is returned wrapped: unwrap turns what is decoded
// back into its own type.
func validProto(m any) (proto.Message, protoreflect.MessageType) {
	var pm proto.Message
	switch v := m.(type) {
	case proto.Message:
		pm = v
	case protoadapt.MessageV1:
		// The three methods alone do not make a message of the first API:
		// its fields carry protobuf struct tags, which the descriptor
		// protobuf derives from them shows. A type of another codec that
		// happens to have the methods is stored as given.
		pm = protoadapt.MessageV2Of(v)
		if pm != nil && pm.ProtoReflect().Descriptor().Fields().Len() == 0 {
			return nil, nil
		}
	}
	if pm == nil {
		return nil, nil
	}
	if nilDynamic(pm) {
		return nil, nil // stored as given
	}
	rm := pm.ProtoReflect()
	if !rm.IsValid() {
		return nil, nil
	}
	return pm, rm.Type()
}

// nilDynamic reports whether m is a nil *dynamicpb.Message: a message of
// no type, whose methods panic.
func nilDynamic(m any) bool {
	d, ok := m.(*dynamicpb.Message)
	return ok && d == nil
}

// finish completes an event of call recorded when its call was made (a
// Send, a CloseSend that failed, an explicit header): the call returned
// err after elapsed. kind is the event's kind, which picks its log.
//
// A Send is recorded, message and all, when SendMsg is called: its Seq and
// its message are those of that moment (an interceptor further in that
// changes the message does not change the record), and a snapshot taken
// while SendMsg blocks shows it pending, with its message.
func (r *Recorder) finish(call *callInfo, kind Kind, i, seq uint64, elapsed time.Duration, err error) {
	r.amend(call, kind, recordRef{i: i, seq: seq}, func(rec *record) {
		rec.pending = false
		rec.elapsed = elapsed
		rec.err = err
	})
}

// amend changes, with f, the record of an event of kind of call that add
// returned ref for, unless the ring has dropped it.
func (r *Recorder) amend(call *callInfo, kind Kind, ref recordRef, f func(*record)) {
	st, l := r.lockStore(call, kind)
	defer r.unlockStore(l)
	if rec := st.at(ref.i); rec != nil && rec.seq == ref.seq {
		f(rec)
	}
}

// lockStore locks and returns the store an event of kind of call goes to:
// the shared ring under r.mu with a limit (l is nil), else the call half's
// log. Release it with unlockStore(l).
func (r *Recorder) lockStore(call *callInfo, kind Kind) (st *store, l *callLog) {
	if r.st.limit > 0 {
		r.mu.Lock()
		return &r.st, nil
	}
	l = r.lockLog(call, kind)
	return &l.st, l
}

// unlockStore releases what lockStore locked and wakes waiting Wait calls.
func (r *Recorder) unlockStore(l *callLog) {
	if l == nil {
		r.wakeLocked()
		r.mu.Unlock()
		return
	}
	l.mu.Unlock()
	r.wake()
}

// wake tells waiting Wait calls that something was recorded.
func (r *Recorder) wake() {
	if r.waiters.Load() == 0 {
		return
	}
	r.mu.Lock()
	r.wakeLocked()
	r.mu.Unlock()
}

func (r *Recorder) wakeLocked() {
	if r.notify != nil {
		close(r.notify)
		r.notify = nil
	}
}

// marshalOpts marshal recorded messages: required fields are not checked
// (a message gRPC accepted is recorded as it was).
var marshalOpts = proto.MarshalOptions{AllowPartial: true}

// Events returns a snapshot of the kept events, sorted by Seq. Messages are
// decoded afresh for every call, so a caller may modify what it gets.
func (r *Recorder) Events() []Event {
	if r == nil {
		return nil
	}
	recs, done := r.snapshot()
	defer done()
	return r.decode(recs, nil)
}

// snapshot copies the kept records in Seq order; done must be called once
// their message bytes have been decoded.
//
// Without a limit it reads the Seq counter first, then every log: an event
// with a Seq up to the counter was appended, under its log's lock, before
// the counter was read, so it is in the copy, and events after it are left
// out. The copy is a gap-free prefix of the timeline.
func (r *Recorder) snapshot() ([]record, func()) {
	if r.st.limit > 0 {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.st.snapshot(), func() {}
	}
	// Counted as a reader before copying anything: see Reset.
	r.arena.readers.Add(1)
	upTo := r.seq.Load()
	r.mu.Lock()
	logs := append([]*callLog(nil), r.logs...)
	r.mu.Unlock()
	var recs []record
	for _, l := range logs {
		l.mu.Lock()
		part := l.st.snapshot()
		l.mu.Unlock()
		n := len(part)
		for n > 0 && part[n-1].seq > upTo {
			n--
		}
		recs = append(recs, part[:n]...)
	}
	slices.SortFunc(recs, func(a, b record) int { return cmp.Compare(a.seq, b.seq) })
	return recs, func() { r.arena.readers.Add(-1) }
}

// decode turns records into events. cache, if not nil, maps Seq to messages
// decoded earlier (they never change once recorded) and is filled in.
func (r *Recorder) decode(recs []record, cache map[uint64]any) []Event {
	r.ready() // r.base, of a zero Recorder that Wait reads first
	now := time.Since(r.base)
	out := make([]Event, len(recs))
	for i := range recs {
		rec := &recs[i]
		e := &out[i]
		e.Seq = rec.seq
		e.CallID = rec.call.id
		e.Method = rec.call.method
		e.Side = Side(rec.side)
		e.Kind = Kind(rec.kind)
		e.Err = rec.err
		e.Time = r.base.Add(rec.at)
		e.Elapsed = rec.elapsed
		if rec.pending {
			e.Elapsed = now - rec.at // still inside SendMsg: blocked so far
		}
		if rec.md != nil {
			e.MD = rec.md.Copy()
		}
		if !rec.hasMsg {
			continue
		}
		if rec.typ == nil {
			e.Msg = rec.raw
			if rec.cloned {
				e.Msg = unwrap(proto.Clone(rec.raw.(proto.Message)))
			}
			continue
		}
		if m, ok := cache[rec.seq]; ok {
			e.Msg = m
			continue
		}
		e.Msg = decodeMsg(rec.typ, rec.buf)
		if cache != nil {
			cache[rec.seq] = e.Msg
		}
	}
	return out
}

func decodeMsg(typ protoreflect.MessageType, b []byte) any {
	m := typ.New().Interface()
	// No recursion limit: Marshal has none, so a message nested deeper
	// than Unmarshal's default (10,000) must still decode.
	if err := (proto.UnmarshalOptions{AllowPartial: true, Merge: true, RecursionLimit: math.MaxInt}).Unmarshal(b, m); err != nil {
		// Bytes we marshaled ourselves always decode; this would be a bug.
		return fmt.Errorf("recorder: cannot decode recorded %s: %w", typ.Descriptor().FullName(), err)
	}
	return unwrap(m)
}

// unwrap returns the message of the first Go protobuf API that m wraps
// (see validProto), or m.
func unwrap(m proto.Message) any {
	if v1 := protoadapt.MessageV1Of(m); v1 != nil {
		if _, ok := v1.(proto.Message); !ok {
			return v1
		}
	}
	return m
}

// Calls returns a snapshot of the kept events grouped by call, one Call per
// RPC in order of its first kept event.
func (r *Recorder) Calls() []*Call {
	return groupCalls(r.Events())
}

// Methods returns the names given to WithMethods, as given and in order,
// or nil if r records every method. Failure messages quote them: a name
// that matches no method the test calls records nothing.
func (r *Recorder) Methods() []string {
	if r == nil || r.methods == nil {
		return nil
	}
	return append([]string{}, r.names...)
}

// Dropped returns how many events were dropped because of WithLimit since
// New or the last Reset.
func (r *Recorder) Dropped() uint64 {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.dropped
}

// Reset forgets every kept event and the Dropped count. Seq numbers keep
// increasing: events of calls still in flight are recorded after the reset
// with higher Seq than anything before it.
func (r *Recorder) Reset() {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.st.reset()
	// New messages go to new arena blocks from here on. Once every log has
	// been reset below, under its lock, no record refers to the old blocks
	// and no writer is still marshaling into them (writers allocate and
	// write under their log's lock): they can be reused, unless a snapshot
	// that started before is still reading them.
	old := r.arena.detach()
	kept := r.logs[:0]
	for _, l := range r.logs {
		l.mu.Lock()
		l.st.reset()
		if l.ended {
			l.pruned.Store(true) // an event after its End registers it again
		} else {
			kept = append(kept, l)
		}
		l.mu.Unlock()
	}
	clear(r.logs[len(kept):])
	r.logs = kept
	r.arena.recycle(old)
	if r.pairsOut.Load() != 0 {
		// What a stream dropped unfinished, whose server half never
		// began, left behind (see pairState).
		r.pairs.Clear()
		r.pairsOut.Store(0)
	}
	r.wakeLocked()
	r.mu.Unlock()
}

// Wait blocks until cond(snapshot) is true, re-evaluating it whenever new
// events have been recorded; it returns ctx.Err() if ctx ends first. cond is
// first evaluated at once, and never while the recorder's lock is held.
//
// This is how a test waits for "the server has received N messages": never
// with time.Sleep.
//
// cond sees the events the recorder keeps: with WithLimit, an event pushed
// out of the ring by later ones is gone, and a condition that needs it
// never holds again. Give such a Wait a context with a deadline, and make
// the condition hold on what is left (count with Dropped, or Reset before
// the calls it waits for).
//
// cond must not modify the messages of the events it gets: Wait decodes
// each message once, and every evaluation of cond gets the same copy (not
// the recorder's record, which no one can change). Take Events or Calls
// for messages of your own.
func (r *Recorder) Wait(ctx context.Context, cond func(events []Event) bool) error {
	switch {
	case r == nil:
		return errors.New("recorder: Wait called on a nil Recorder")
	case ctx == nil:
		return errors.New("recorder: Wait called with a nil context")
	case cond == nil:
		return errors.New("recorder: Wait called with a nil condition")
	}
	r.waiters.Add(1)
	defer r.waiters.Add(-1)
	cache := make(map[uint64]any)
	for {
		r.mu.Lock()
		if r.notify == nil {
			r.notify = make(chan struct{})
		}
		ch := r.notify
		r.mu.Unlock()
		recs, done := r.snapshot()

		events := r.decode(recs, cache)
		done()
		if cond(events) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
