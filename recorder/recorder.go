package recorder

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Recorder captures the events of gRPC calls, client and server side, into
// one ordered log. Install it with ServerOptions and DialOptions (or the
// individual interceptors) and read the log with Events, Calls or String.
//
// A Recorder is safe for concurrent use by any number of calls. Its zero
// value is not usable: create one with New.
type Recorder struct {
	id       uint64              // distinguishes this recorder's call-id headers from another's
	methods  map[string]struct{} // nil: record every method
	suffixes []string            // WithMethods names given without the leading "/"
	base     time.Time
	ids      atomic.Uint64 // last call id handed out

	mu     sync.Mutex
	seq    uint64
	st     store
	notify chan struct{} // closed and cleared on the next event; nil while nobody waits

	// live holds the client halves of calls in flight, by id, until their
	// server half attaches or they end, so that both halves share one
	// callInfo.
	live map[uint64]*callInfo
}

// Option configures a Recorder.
type Option func(*Recorder)

// WithLimit keeps at most n events: the log becomes a ring, older events are
// dropped and counted by Dropped. n <= 0 means no limit (the default).
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
// measurable. Several WithMethods add up.
func WithMethods(names ...string) Option {
	return func(r *Recorder) {
		if r.methods == nil {
			r.methods = make(map[string]struct{}, len(names))
		}
		for _, m := range names {
			if strings.HasPrefix(m, "/") {
				r.methods[m] = struct{}{}
			} else {
				r.suffixes = append(r.suffixes, m)
			}
		}
	}
}

var recorderIDs atomic.Uint64

// New returns an empty Recorder.
func New(opts ...Option) *Recorder {
	r := &Recorder{id: recorderIDs.Add(1), base: time.Now()}
	for _, o := range opts {
		if o != nil {
			o(r)
		}
	}
	return r
}

func (r *Recorder) records(method string) bool {
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

func (r *Recorder) newCall(method string) *callInfo {
	return &callInfo{id: r.ids.Add(1), method: method}
}

// newClientCall starts the client half of a call whose server half may be
// recorded by this recorder too.
func (r *Recorder) newClientCall(method string) *callInfo {
	c := r.newCall(method)
	r.mu.Lock()
	if r.live == nil {
		r.live = make(map[uint64]*callInfo)
	}
	r.live[c.id] = c
	r.mu.Unlock()
	return c
}

// attach returns the callInfo of the server half of call id: the client
// half's if it is still in flight.
func (r *Recorder) attach(id uint64, method string) *callInfo {
	r.mu.Lock()
	c := r.live[id]
	delete(r.live, id)
	r.mu.Unlock()
	if c == nil || c.method != method {
		c = &callInfo{id: id, method: method}
	}
	return c
}

// event is the part of a record its producer fills in.
type event struct {
	call    *callInfo
	side    Side
	kind    Kind
	at      time.Time
	elapsed time.Duration
	err     error
	md      metadata.MD
	pending bool
}

// add appends an event without a message and returns its index and Seq.
func (r *Recorder) add(e event) (uint64, uint64) {
	return r.addMsg(e, nil, nil, nil)
}

// addMsg appends an event. For a proto message, typ and wire describe it;
// otherwise raw is the message as given (any value, nil included) and typ is nil.
func (r *Recorder) addMsg(e event, typ protoreflect.MessageType, wire []byte, raw any) (uint64, uint64) {
	r.mu.Lock()
	rec, i := r.st.push()
	r.seq++
	rec.seq = r.seq
	rec.call = e.call
	rec.side = e.side
	rec.kind = e.kind
	rec.pending = e.pending
	rec.at = e.at.Sub(r.base)
	rec.elapsed = e.elapsed
	rec.err = e.err
	rec.md = e.md
	switch {
	case (e.kind == Send || e.kind == Recv) && typ != nil:
		rec.hasMsg = true
		rec.typ = typ
		r.keepMsg(rec, e, typ, wire)
	case e.kind == Send || e.kind == Recv:
		if raw != nil || e.err == nil {
			rec.hasMsg = true
			rec.raw = raw
		}
	case e.kind == End && e.side == Client && r.live != nil:
		delete(r.live, e.call.id)
	}
	seq := rec.seq
	if r.notify != nil {
		close(r.notify)
		r.notify = nil
	}
	r.mu.Unlock()
	return i, seq
}

// keepMsg stores the wire bytes of rec's message. Without a limit, a Recv
// whose bytes equal those of the matching Send of the peer shares them, and
// a Send offers its bytes to the peer's Recv. (In a ring, slots reuse their
// buffers, so nothing is shared.)
func (r *Recorder) keepMsg(rec *record, e event, typ protoreflect.MessageType, wire []byte) {
	if r.st.limit > 0 {
		r.st.keep(rec, wire)
		return
	}
	if e.kind == Recv {
		if ref, ok := e.call.sent[1-e.side].pop(); ok && ref.typ == typ && bytes.Equal(ref.buf, wire) {
			rec.buf = ref.buf
			return
		}
		r.st.keep(rec, wire)
		return
	}
	r.st.keep(rec, wire)
	e.call.sent[e.side].push(msgRef{typ: typ, buf: rec.buf})
}

// finish completes a pending Send: SendMsg returned err after elapsed.
func (r *Recorder) finish(i, seq uint64, elapsed time.Duration, err error) {
	r.mu.Lock()
	if rec := r.st.at(i); rec != nil && rec.seq == seq {
		rec.pending = false
		rec.elapsed = elapsed
		rec.err = err
		if r.notify != nil {
			close(r.notify)
			r.notify = nil
		}
	}
	r.mu.Unlock()
}

// scratchPool holds marshal buffers for unary calls, which have no stream
// to keep one in.
var scratchPool = sync.Pool{New: func() any { return new([]byte) }}

func getScratch() *[]byte { return scratchPool.Get().(*[]byte) }

func putScratch(b *[]byte) {
	if cap(*b) <= 64<<10 {
		scratchPool.Put(b)
	}
}

// wire marshals m for storage into *scratch (reused between calls) and
// returns its type and bytes. A value that is not a valid proto message
// comes back with a nil type, to be stored as given.
func wire(m any, scratch *[]byte) (protoreflect.MessageType, []byte) {
	pm, ok := m.(proto.Message)
	if !ok || pm == nil {
		return nil, nil
	}
	rm := pm.ProtoReflect()
	if !rm.IsValid() {
		return nil, nil
	}
	b, err := proto.MarshalOptions{AllowPartial: true}.MarshalAppend((*scratch)[:0], pm)
	if err != nil {
		return nil, nil
	}
	*scratch = b
	return rm.Type(), b
}

// Events returns a snapshot of the kept events, sorted by Seq. Messages are
// decoded afresh for every call, so a caller may modify what it gets.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	recs, done := r.st.snapshot()
	r.mu.Unlock()
	defer done()
	return r.decode(recs, nil)
}

// decode turns records into events. cache, if not nil, maps Seq to messages
// decoded earlier (they never change once recorded) and is filled in.
func (r *Recorder) decode(recs []record, cache map[uint64]any) []Event {
	now := time.Since(r.base)
	out := make([]Event, len(recs))
	for i := range recs {
		rec := &recs[i]
		e := &out[i]
		e.Seq = rec.seq
		e.CallID = rec.call.id
		e.Method = rec.call.method
		e.Side = rec.side
		e.Kind = rec.kind
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
	if err := (proto.UnmarshalOptions{AllowPartial: true, Merge: true}).Unmarshal(b, m); err != nil {
		// Bytes we marshaled ourselves always decode; this would be a bug.
		return fmt.Errorf("recorder: cannot decode recorded %s: %w", typ.Descriptor().FullName(), err)
	}
	return m
}

// Calls returns a snapshot of the kept events grouped by call, one Call per
// RPC in order of its first kept event.
func (r *Recorder) Calls() []*Call {
	return groupCalls(r.Events())
}

// Dropped returns how many events were dropped because of WithLimit since
// New or the last Reset.
func (r *Recorder) Dropped() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.dropped
}

// Reset forgets every kept event and the Dropped count. Seq numbers keep
// increasing: events of calls still in flight are recorded after the reset
// with higher Seq than anything before it.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.st.reset()
	if r.notify != nil {
		close(r.notify)
		r.notify = nil
	}
	r.mu.Unlock()
}

// Wait blocks until cond(snapshot) is true, re-evaluating it whenever new
// events have been recorded; it returns ctx.Err() if ctx ends first. cond is
// first evaluated at once, and never while the recorder's lock is held.
//
// This is how a test waits for "the server has received N messages": never
// with time.Sleep.
func (r *Recorder) Wait(ctx context.Context, cond func(events []Event) bool) error {
	if cond == nil {
		return fmt.Errorf("recorder: Wait called with a nil condition")
	}
	cache := make(map[uint64]any)
	for {
		r.mu.Lock()
		recs, done := r.st.snapshot()
		if r.notify == nil {
			r.notify = make(chan struct{})
		}
		ch := r.notify
		r.mu.Unlock()

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
