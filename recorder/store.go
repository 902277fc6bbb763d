package recorder

import (
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Storage layout.
//
// Messages are not kept as Go values: a proto message is marshaled into byte
// storage when it is recorded and decoded again only when Events or Calls are
// read. Compared with cloning every message into a growing slice this keeps
// one allocation-free copy per message on the hot path and a compact heap.
//
// Without a limit, records live in chunks that are never copied when the
// log grows (4 records at first, inside the call half itself, doubling to
// 256), and message bytes in one arena that every call half of the
// Recorder shares: append-only blocks (4 KiB at first, doubling up to
// arenaMax) from which each message takes exactly its size, by bumping an
// atomic offset, and is marshaled straight into it (a message larger than
// arenaMaxMsg gets a block of its own). A short call therefore allocates
// nothing for its message bytes.
// Bytes in an arena block are never written twice while a snapshot may read
// them, so a snapshot can share them; Reset keeps blocks (unless a snapshot
// is being decoded at that moment) and chunks for reuse. With WithLimit(n) the records form a ring of
// n slots; each slot keeps its own byte buffer and reuses it when the slot is
// overwritten, so a full ring records without allocating.
const (
	recordsPerChunk = 256 // the largest chunk; the first ones are smaller
	arenaMin        = 4 << 10
	arenaMax        = 1 << 20
	// A message larger than this gets an arena block of its own.
	arenaMaxMsg = arenaMax / 4
)

// Unlimited stores start with small record chunks (4, 8, ... 256
// records), so that the many short calls of a test stay cheap, then
// continue with chunks of recordsPerChunk.
const (
	firstChunk   = 4
	smallChunks  = 7                                    // 4, 8, 16, 32, 64, 128, 256
	smallRecords = firstChunk<<smallChunks - firstChunk // 508 records in the small chunks
)

// chunkOf returns the chunk and the offset in it of record i.
func chunkOf(i uint64) (int, uint64) {
	if i >= smallRecords {
		i -= smallRecords
		return smallChunks + int(i/recordsPerChunk), i % recordsPerChunk
	}
	c, base := 0, uint64(0)
	for size := uint64(firstChunk); i >= base+size; size *= 2 {
		base += size
		c++
	}
	return c, i - base
}

// chunkSize returns the number of records of chunk c.
func chunkSize(c int) int {
	if c >= smallChunks-1 {
		return recordsPerChunk
	}
	return firstChunk << c
}

// callInfo is shared by every record of one half (client or server) of one
// call.
type callInfo struct {
	id     uint64
	method string
	// Unlimited mode: this half's records, in two logs: what its sending
	// goroutine records (Send, CloseSend) and everything else, so that the
	// sender and the receiver of one stream never wait for each other's
	// lock.
	logs [2]atomic.Pointer[callLog]
	// oneLog: one goroutine records the whole half (unary calls), so one
	// log is enough.
	oneLog bool
	// The fields above are read by both goroutines of a stream half; rest
	// is written by its receiver. A cache line apart, the receiver's writes
	// do not slow down the sender's reads.
	_ [64]byte
	// rest is log 1, allocated with the call half; log 0, needed by
	// streams only, is allocated on its first event.
	rest callLog
}

// logIndex says which of the call half's logs an event of kind goes to.
func (c *callInfo) logIndex(kind Kind) int {
	if !c.oneLog && (kind == Send || kind == CloseSend) {
		return 0
	}
	return 1
}

// callLog holds the records of one half of one call in a recorder without
// a limit. Each half has its own lock, so that the goroutines of different
// streams (and the two sides of one stream) never wait for each other's
// lock. (They share the arena, whose hot path is one atomic add.)
type callLog struct {
	mu     sync.Mutex
	st     store
	ended  bool        // an End was recorded: Reset may drop the log
	pruned atomic.Bool // dropped from Recorder.logs by Reset (set under mu)
}

// record is one stored event.
//
// Its small fields are packed into one word (120 bytes in all): records
// are written once per event, and every byte is memory traffic.
type record struct {
	seq     uint64
	call    *callInfo
	side    uint8 // Side
	kind    uint8 // Kind
	pending bool  // a Send whose SendMsg has not returned yet
	// The message of a Send or Recv: typ and buf for a proto message (buf
	// holds its wire form), raw for anything else, hasMsg for either.
	hasMsg bool
	// cloned: raw is a clone of a proto message that could not be
	// marshaled, handed out as a clone of its own to every reader.
	cloned  bool
	at      time.Duration // since Recorder.base
	elapsed time.Duration
	err     error
	md      metadata.MD
	typ     protoreflect.MessageType
	buf     []byte
	raw     any
}

type store struct {
	limit   int    // 0: unlimited
	n       uint64 // records pushed since the last reset
	dropped uint64

	// The first chunk and the first chunk headers live in the store itself,
	// so that a short call half records without allocating for them.
	inline       [firstChunk]record
	inlineChunks [smallChunks][]record

	chunks [][]record // unlimited mode
	// spareChunks are record chunks kept by reset for reuse (snapshots copy
	// records, so they never alias a chunk).
	spareChunks [][]record
	arena       *arena // unlimited mode: where message bytes go

	ring []record // limited mode
}

// first returns the index of the oldest record still kept.
func (s *store) first() uint64 {
	if s.limit > 0 && s.n > uint64(s.limit) {
		return s.n - uint64(s.limit)
	}
	return 0
}

// at returns the record with index i, or nil if it is gone.
func (s *store) at(i uint64) *record {
	if i >= s.n || i < s.first() {
		return nil
	}
	if s.limit > 0 {
		return &s.ring[i%uint64(s.limit)]
	}
	c, off := chunkOf(i)
	return &s.chunks[c][off]
}

// push returns a cleared slot for the next record and its index.
func (s *store) push() (*record, uint64) {
	i := s.n
	s.n++
	if s.limit > 0 {
		if len(s.ring) < s.limit {
			s.ring = append(s.ring, record{})
		} else {
			s.dropped++
		}
		slot := &s.ring[i%uint64(s.limit)]
		buf := slot.buf[:0]
		*slot = record{buf: buf}
		return slot, i
	}
	c, off := chunkOf(i)
	if c == len(s.chunks) {
		if c == 0 {
			s.chunks = append(s.inlineChunks[:0], s.inline[:])
		} else if n := len(s.spareChunks); n > 0 && chunkSize(c) == recordsPerChunk {
			s.chunks = append(s.chunks, s.spareChunks[n-1])
			s.spareChunks = s.spareChunks[:n-1]
		} else {
			s.chunks = append(s.chunks, make([]record, chunkSize(c)))
		}
	}
	slot := &s.chunks[c][off]
	*slot = record{} // a reused chunk holds old records
	return slot, i
}

// keepMarshal marshals pm straight into rec's message bytes. It reports
// false, storing nothing, if pm cannot be marshaled.
func (s *store) keepMarshal(rec *record, pm proto.Message) error {
	if s.limit > 0 {
		b, err := marshalOpts.MarshalAppend(rec.buf[:0], pm)
		if err != nil {
			return err
		}
		rec.buf = b
		return nil
	}
	n := marshalOpts.Size(pm)
	// buf has capacity n exactly: should pm have grown since Size (changed
	// concurrently, against gRPC's rules), MarshalAppend moves to a new
	// slice instead of writing past buf.
	buf := s.arena.alloc(n)
	b, err := cachedSize.MarshalAppend(buf[:0], pm)
	if err != nil {
		return err
	}
	rec.buf = b
	return nil
}

// cachedSize marshals a message whose Size was just computed.
var cachedSize = proto.MarshalOptions{AllowPartial: true, UseCachedSize: true}

// snapshot copies the kept records. Message bytes that a later push could
// overwrite (ring slots) are copied into one new block; arena bytes are
// shared (see arena.readers).
func (s *store) snapshot() []record {
	lo := s.first()
	out := make([]record, 0, s.n-lo)
	if s.limit == 0 {
		for i := lo; i < s.n; i++ {
			out = append(out, *s.at(i))
		}
		return out
	}
	size := 0
	for i := lo; i < s.n; i++ {
		size += len(s.at(i).buf)
	}
	block := make([]byte, 0, size)
	for i := lo; i < s.n; i++ {
		rec := *s.at(i)
		if rec.buf != nil {
			start := len(block)
			block = append(block, rec.buf...)
			rec.buf = block[start:len(block):len(block)]
		}
		out = append(out, rec)
	}
	return out
}

// keepClone stores a clone of m as rec's message, if m is a proto message:
// one that could not be marshaled (invalid UTF-8 in a string field, say),
// or whose bytes would not decode to it (an extension of a type
// GlobalTypes does not know: see extensions.go), is kept as a clone
// instead of the caller's own message, which the caller may change.
// Anything else is stored as given.
func keepClone(rec *record, m any) {
	if pm, _ := validProto(m); pm != nil {
		rec.raw = proto.Clone(pm)
		rec.cloned = true
		return
	}
	rec.raw = m
}

// reset forgets every record. Its message bytes stay in the arena until
// the arena is reset (see Recorder.Reset). The records it keeps room for
// are cleared, so that they hold on to nothing: not the arena blocks that
// Reset leaves to the garbage collector, not metadata or messages.
func (s *store) reset() {
	for i, c := range s.chunks {
		if len(c) == recordsPerChunk && len(s.spareChunks)*recordsPerChunk < 1<<16 {
			clear(c)
			s.spareChunks = append(s.spareChunks, c)
		} else if i == 0 {
			clear(c) // the inline chunk
		}
	}
	s.n, s.dropped = 0, 0
	s.chunks = nil
	s.ring = nil
}

// arena is the byte storage for the messages of every call half of an
// unlimited Recorder. Message bytes are carved from the block being filled
// by bumping its offset, without a lock; a lock is taken only by a message
// that finds the block full (to start a new one) or that gets a block of
// its own.
type arena struct {
	cur atomic.Pointer[arenaBlock] // the block being filled; nil after reset

	// readers counts snapshots whose message bytes are still being decoded:
	// reset recycles no block while there are any.
	readers atomic.Int32

	mu        sync.Mutex
	next      int           // size of the next new block
	blocks    []*arenaBlock // every block handed out from since the last reset
	spare     []*arenaBlock // blocks kept by reset for reuse
	spareSize int
	reused    int // spare blocks taken for reuse, ever (for tests)
}

type arenaBlock struct {
	buf []byte
	off atomic.Int64 // bytes handed out; may pass len(buf) once the block is full
}

// maxSpare bounds the arena bytes reset keeps for reuse.
const maxSpare = 64 << 20

// alloc returns n bytes of the arena for a message, with capacity n.
//
// Safe for concurrent use. Writes into the bytes must be done under the lock
// of the log that will refer to them (see reset).
func (a *arena) alloc(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	if n > arenaMaxMsg {
		return a.own(n)
	}
	for {
		b := a.cur.Load()
		if b != nil {
			if end := b.off.Add(int64(n)); end <= int64(len(b.buf)) {
				return b.buf[end-int64(n) : end : end]
			}
		}
		a.grow(b, n)
	}
}

// grow replaces full, the block that could not fit n more bytes (nil if
// there was none), with a new one, unless another goroutine did already.
func (a *arena) grow(full *arenaBlock, n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cur.Load() != full {
		return
	}
	b := a.takeSpare(n)
	if b == nil {
		if a.next < arenaMin {
			a.next = arenaMin
		}
		b = &arenaBlock{buf: make([]byte, max(a.next, n))}
		if a.next < arenaMax {
			a.next *= 2
		}
	}
	a.blocks = append(a.blocks, b)
	a.cur.Store(b)
}

// own returns n bytes in a block of their own (a spare one that fits, or a
// new one of n bytes): for a message too large to share a block.
func (a *arena) own(n int) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.takeSpare(n)
	if b == nil {
		b = &arenaBlock{buf: make([]byte, n)}
	}
	a.blocks = append(a.blocks, b)
	return b.buf[:n:n]
}

// takeSpare removes from the spare blocks the latest one that has room for
// n bytes and returns it, emptied; nil if none has. Reusing blocks spares
// the runtime from freeing, returning to the OS, faulting in and zeroing
// the same memory again. a.mu must be held.
func (a *arena) takeSpare(n int) *arenaBlock {
	for i := len(a.spare) - 1; i >= 0; i-- {
		if b := a.spare[i]; len(b.buf) >= n {
			a.spare = append(a.spare[:i], a.spare[i+1:]...)
			a.spareSize -= len(b.buf)
			a.reused++
			b.off.Store(0)
			return b
		}
	}
	return nil
}

// detach makes the blocks in use unavailable to alloc and returns them:
// the first step of a reset. New messages go to new blocks from now on.
func (a *arena) detach() []*arenaBlock {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cur.Store(nil)
	old := a.blocks
	a.blocks = nil
	return old
}

// recycle keeps old, blocks returned by detach, for reuse, up to maxSpare
// bytes. The caller guarantees that no record refers to them any more and
// that nobody writes into them (every log was reset after detach, under
// its lock). Blocks a snapshot may still be reading are left to the
// garbage collector instead.
func (a *arena) recycle(old []*arenaBlock) {
	keep := a.readers.Load() == 0
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, b := range old {
		if !keep || a.spareSize+len(b.buf) > maxSpare {
			break
		}
		a.spare = append(a.spare, b)
		a.spareSize += len(b.buf)
	}
	// The list itself serves again.
	clear(old)
	if len(a.blocks) == 0 {
		a.blocks = old[:0]
	}
}
