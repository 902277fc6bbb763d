package fakes

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/streamtest/streamtest/internal/msgdiff"
	"github.com/streamtest/streamtest/internal/rpcstatus"
)

// pipe is the engine shared by ServerStream and ClientStream: two message
// queues, one toward the code under test (in) and one from it (out), plus
// the header and trailer, behind one mutex. Waiters block on wake, which is
// closed and replaced on every change, so every wait can also select on a
// context.
type pipe struct {
	ctx  context.Context // the stream's context: Send and Recv fail once it ends
	cfg  *config
	mu   sync.Mutex
	wake chan struct{}

	bad   error // first misuse (bad option, test-side API misuse); every later operation returns it
	calls int   // Send and Recv calls so far, for WithFailAt

	in  queue // toward the code under test: pushed requests, or responses
	out queue // from the code under test: sent responses, or requests

	header     metadata.MD
	headerSent bool
	trailer    metadata.MD
}

// queue is one direction of a stream.
type queue struct {
	msgs   []any
	next   int   // index of the first unread message
	closed bool  // no more messages: the reader gets err (io.EOF if nil) after msgs
	err    error // end of stream error, nil for io.EOF
}

func (q *queue) unread() int { return len(q.msgs) - q.next }

func newPipe(ctx context.Context, cfg *config) *pipe {
	return &pipe{ctx: ctx, cfg: cfg, wake: make(chan struct{}), bad: cfg.err()}
}

// broadcastLocked wakes every waiter. p.mu must be held.
func (p *pipe) broadcastLocked() {
	close(p.wake)
	p.wake = make(chan struct{})
}

// waitLocked releases p.mu until the pipe changes, ctx ends or the stream's
// context ends, and returns ctx.Err(). p.mu must be held.
func (p *pipe) waitLocked(ctx context.Context) error {
	ch := p.wake
	p.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	case <-p.ctx.Done():
	}
	p.mu.Lock()
	return ctx.Err()
}

// beginLocked counts a Send or Recv call and returns the error it must fail
// with before doing anything: an injected one (WithFailAt) or a misuse.
func (p *pipe) beginLocked() error {
	p.calls++
	if err, ok := p.cfg.failAt[p.calls]; ok {
		return err
	}
	return p.bad
}

// badErr returns the stream's bad options or first misuse (p.bad), nil if
// none.
func (p *pipe) badErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bad
}

// misuseLocked records the first misuse by the test and wakes waiters so that
// they report it.
func (p *pipe) misuseLocked(format string, args ...any) {
	if p.bad == nil {
		p.bad = status.Errorf(codes.FailedPrecondition, "fakes: "+format, args...)
	}
	p.broadcastLocked()
}

// ctxErr returns the status a stream operation fails with once the stream's
// context has ended, nil before.
func (p *pipe) ctxErr() error {
	if err := p.ctx.Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	return nil
}

// putLocked appends m to q for the reader and waits, bounded by the stream's
// context, until at most cfg.buffer messages of q are unread. stop reports a
// reason to stop waiting early (the stream ended); its error is returned.
// A put that fails delivers nothing: m, still unread then, is taken out of
// q, so that Next never returns it and Responses and Sent do not list it.
func (p *pipe) putLocked(q *queue, m any, stop func() error) error {
	q.msgs = append(q.msgs, m)
	p.broadcastLocked()
	for p.cfg.buffer >= 0 && q.unread() > p.cfg.buffer {
		err := p.ctxErr()
		if err == nil {
			err = stop()
		}
		if err == nil {
			err = p.bad
		}
		if err != nil {
			p.unputLocked(q, m)
			return err
		}
		_ = p.waitLocked(p.ctx)
	}
	return nil
}

// unputLocked takes m out of q if it is still unread. p.mu must be held.
func (p *pipe) unputLocked(q *queue, m any) {
	for i := len(q.msgs) - 1; i >= q.next; i-- {
		if q.msgs[i] == m {
			q.msgs = slices.Delete(q.msgs, i, i+1)
			p.broadcastLocked()
			return
		}
	}
}

// takeLocked returns the next unread message of q; io.EOF or q.err once q is
// closed and drained. It waits for one, bounded by the stream's context.
// When the test reads (test is true) the wait is bounded by ctx instead,
// unread messages are returned even after the stream's context ended, and
// io.EOF is returned once eof reports true and q is drained.
func (p *pipe) takeLocked(ctx context.Context, q *queue, test bool, eof func() bool) (any, error) {
	for {
		if !test {
			if err := p.ctxErr(); err != nil {
				return nil, err
			}
		}
		if p.bad != nil {
			return nil, p.bad
		}
		if q.unread() > 0 {
			m := q.msgs[q.next]
			q.next++
			p.broadcastLocked()
			return m, nil
		}
		if q.closed {
			if q.err != nil {
				return nil, q.err
			}
			return nil, io.EOF
		}
		if test {
			if eof != nil && eof() {
				return nil, io.EOF
			}
			if err := p.ctxErr(); err != nil {
				return nil, err
			}
		}
		if err := p.waitLocked(ctx); err != nil && test {
			return nil, err
		} // the stream's own context ending is reported at the top
	}
}

// typeErr is the error of SendMsg/RecvMsg given a message of the wrong type.
func typeErr(op string, got, want any) error {
	return status.Errorf(codes.Internal, "fakes: %s got a %T, this stream carries %T", op, got, want)
}

// nilErr is the error of a Send of a nil message, or a RecvMsg into one.
func nilErr(op string, m any) error {
	if op == "RecvMsg" {
		return status.Errorf(codes.InvalidArgument, "fakes: RecvMsg(nil): cannot receive into a nil %T; pass new(T)", m)
	}
	if untyped(m) { // a nil *dynamicpb.Message: grpc-go's codec panics on it
		return status.Errorf(codes.InvalidArgument, "fakes: %s(nil): a nil %T has no message type and cannot be sent (grpc-go's codec panics on it): make it with dynamicpb.NewMessage", op, m)
	}
	return status.Errorf(codes.InvalidArgument, "fakes: %s(nil): a nil %T cannot be sent (grpc-go would send it as an empty message; a nil is nearly always a bug): send a message, &T{} for an empty one", op, m)
}

// untyped reports whether m is a proto message with no message type: a
// dynamicpb.Message not made by dynamicpb.NewMessage. It cannot be copied,
// marshaled or shown.
func untyped(m any) bool { return msgdiff.Untyped(m) }

// untypedErr is the error of a Send of an untyped message.
func untypedErr(op string, m any) error {
	return status.Errorf(codes.InvalidArgument, "fakes: %s: a %T with no message type cannot be sent; make it with dynamicpb.NewMessage", op, m)
}

// rpcErr is err as the other end of a stream gets it: the status grpc
// makes of a handler's error (see rpcstatus.Of), and err itself for
// errors.Is and errors.As, but for an err that is or wraps io.EOF or a
// context error: errors.Is would find those where a real client's error
// never holds them, and take the error for the end of the stream, or for
// the code's own cancel or deadline. A status error is returned as it is.
func rpcErr(err error) error {
	if err == nil || rpcstatus.IsStatusError(err) {
		return err
	}
	st := rpcstatus.Of(err)
	if st.Code() == codes.OK {
		return nil // an error whose GRPCStatus is OK: grpc ends the call OK
	}
	if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return st.Err()
	}
	return &peerErr{st: st, err: err}
}

// peerErr is a test's error (Finish's, End's) as the code at the other end
// of a fake stream gets it. It reads as the status grpc would deliver (its
// Error text, GRPCStatus for status.Code and status.FromError, errors.Is
// with another status error), and it unwraps to the test's error, so that
// errors.Is(err, yours) holds, as the contract has Recv return Finish's
// error. A real client never gets the server's Go error: code under test
// that must work against a real server tells errors apart by status.Code.
type peerErr struct {
	st  *status.Status
	err error
}

func (e *peerErr) Error() string              { return e.st.Err().Error() }
func (e *peerErr) GRPCStatus() *status.Status { return e.st }
func (e *peerErr) Unwrap() error              { return e.err }

// Is matches another status error as grpc's own status errors do.
func (e *peerErr) Is(target error) bool { return errors.Is(e.st.Err(), target) }

// cloneMsg returns a copy of m, as the receiver of a real stream would
// decode it: the sender may reuse m after Send returns. A proto message is
// deep-copied; any other type is copied by assignment (see the package
// doc).
func cloneMsg[T any](m *T) *T {
	if pm, ok := any(m).(proto.Message); ok {
		return any(proto.Clone(pm)).(*T)
	}
	c := new(T)
	*c = *m
	return c
}

// copyMsg overwrites dst with a copy of src, deep for a proto message (see
// cloneMsg). A dynamic message dst of another type than src's gets what
// gRPC would give it: src's encoding decoded as dst's type; a decoding
// error is the status gRPC's is.
func copyMsg[T any](dst, src *T) error {
	pm, ok := any(dst).(proto.Message)
	if !ok {
		*dst = *src
		return nil
	}
	sm := any(src).(proto.Message)
	if d, dynamic := pm.(*dynamicpb.Message); dynamic {
		switch dd := d.Descriptor(); {
		case dd == nil:
			// A zero dynamic message (Recv's new(T)) has no type to reset
			// or merge into: it takes the type and fields of a copy of src.
			*d = *proto.Clone(sm).(*dynamicpb.Message)
			return nil
		case dd.FullName() != sm.ProtoReflect().Descriptor().FullName():
			b, err := proto.Marshal(sm)
			if err == nil {
				proto.Reset(d)
				err = proto.Unmarshal(b, d)
			}
			if err != nil {
				return status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %v", err)
			}
			return nil
		}
	}
	proto.Reset(pm)
	proto.Merge(pm, sm)
	return nil
}

// snapshot returns copies of the messages put in q so far, read or not,
// as *T: a test that changes one changes no later snapshot.
func snapshot[T any](q *queue) []*T {
	out := make([]*T, len(q.msgs))
	for i, m := range q.msgs {
		out[i] = cloneMsg(m.(*T))
	}
	return out
}

// joinMD merges a copy of md into *dst.
func joinMD(dst *metadata.MD, md metadata.MD) {
	*dst = metadata.Join(*dst, md)
}
