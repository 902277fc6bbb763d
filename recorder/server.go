package recorder

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// serverCall is the state of the server half of one call.
type serverCall struct {
	r    *Recorder
	call *callInfo // &info
	info callInfo
	ts   transportStream

	headerDone atomic.Bool // fast path for implicitHeader once the header is out

	mu         sync.Mutex
	header     metadata.MD // set with SetHeader, not yet sent
	headerSent bool        // sent, or being sent (sending)
	sending    bool        // an explicit SendHeader is in gRPC's hands (see explicitHeader)
	implicit   bool        // a SendMsg came while sending: it may have sent the header itself
	late       metadata.MD // SetHeader calls gRPC took while sending
	headerRec  recordRef   // the recorded Header, if any
	trailer    metadata.MD
	ended      bool
	pair       *pairState // shared with the client half of a stream (see pairState)
}

// recordRef names a record, for Recorder.amend.
type recordRef struct {
	i, seq uint64
	ok     bool
}

// begin fills in sc for a call of method whose handler context is ctx: it
// reads the request metadata, strips this recorder's call-id header from
// it, and returns the context the handler should see and the Begin event,
// for the caller to record.
func (r *Recorder) begin(ctx context.Context, method string, sc *serverCall) (context.Context, event) {
	now := r.now()
	sc.r, sc.call = r, &sc.info
	sc.info.method = method
	// FromIncomingContext returns a fresh copy: ours to edit and keep.
	md, _ := metadata.FromIncomingContext(ctx)
	carried, _ := ctx.Value(carriedIDs{}).([]string)
	id, others, stripped := r.callID(md, carried)
	sc.info.id = id
	if stripped {
		ctx = metadata.NewIncomingContext(ctx, md)
	}
	if len(others) > 0 || len(carried) > 0 {
		ctx = context.WithValue(ctx, carriedIDs{}, others)
	}
	sc.ts = transportStream{sc: sc, inner: grpc.ServerTransportStreamFromContext(ctx)}
	return grpc.NewContextWithServerTransportStream(ctx, &sc.ts), event{call: sc.call, side: Server, kind: Begin, at: now, md: md}
}

// setHeader notes what a SetHeader that gRPC took adds to the header.
// gRPC refuses a SetHeader once the header is out, so one it took while
// the header was being sent (from another goroutine) went out with it,
// and is added to its record.
func (sc *serverCall) setHeader(md metadata.MD) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	switch {
	case sc.sending:
		sc.late = metadata.Join(sc.late, md)
	case !sc.headerSent:
		sc.header = metadata.Join(sc.header, md)
	case sc.headerRec.ok:
		sc.r.amend(sc.call, Header, sc.headerRec, func(rec *record) { rec.md = metadata.Join(rec.md, md) })
	default:
		sc.recordHeaderLocked(md.Copy()) // the header had nothing to record before; md is the caller's
	}
}

// implicitHeader records the header gRPC sends with the first message, if
// it has not been sent before (see explicitHeader).
func (sc *serverCall) implicitHeader() {
	if sc.headerDone.Load() {
		return
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.sending {
		sc.implicit = true
	} else if h := sc.takeHeaderLocked(); len(h) > 0 {
		sc.recordHeaderLocked(h)
	}
}

// takeHeaderLocked marks the header sent and returns what SetHeader gave
// for it, if it has not been sent (nor is being sent) before; else nil.
// Call with sc.mu held.
func (sc *serverCall) takeHeaderLocked() metadata.MD {
	if sc.headerSent {
		return nil
	}
	sc.headerSent = true
	sc.headerDone.Store(true)
	h := sc.header
	sc.header = nil
	return h
}

// explicitHeader records the header an explicit SendHeader(md) sends and
// calls send(md). Like a Send, the Header takes its Seq before send is
// called, so that it comes before the client's Header in the timeline;
// the lock is not held while gRPC sends. Afterwards:
//   - sent: SetHeader calls gRPC took meanwhile (from other goroutines)
//     went out with it, and are added to the record;
//   - refused while a SendMsg of another goroutine came: that SendMsg sent
//     the header, with what SetHeader gave: the record stands for it;
//   - refused otherwise (invalid metadata, say): the record keeps the
//     error, and the header counts as not sent, to be recorded when gRPC
//     sends it later.
func (sc *serverCall) explicitHeader(md metadata.MD, send func(metadata.MD) error) error {
	sc.mu.Lock()
	if sc.headerSent { // sent, or being sent: gRPC refuses a second
		sc.mu.Unlock()
		return send(md)
	}
	prev := sc.header
	sc.header = nil
	sc.headerSent, sc.sending = true, true
	sc.recordHeaderLocked(metadata.Join(prev, md))
	ref := sc.headerRec
	sc.mu.Unlock()

	err := send(md)

	sc.mu.Lock()
	defer sc.mu.Unlock()
	late, implicit := sc.late, sc.implicit
	sc.sending, sc.late, sc.implicit = false, nil, false
	switch {
	case err == nil:
		sc.headerDone.Store(true)
		if len(late) > 0 {
			sc.r.amend(sc.call, Header, ref, func(rec *record) { rec.md = metadata.Join(rec.md, late) })
		}
	case implicit:
		sc.headerDone.Store(true)
		sc.r.amend(sc.call, Header, ref, func(rec *record) { rec.md = metadata.Join(prev, late) })
	default:
		sc.r.amend(sc.call, Header, ref, func(rec *record) { rec.err = err })
		sc.header = metadata.Join(prev, late)
		sc.headerSent = false
		sc.headerRec = recordRef{}
	}
	return err
}

// recordHeaderLocked records md as the header sent. Call with sc.mu held.
func (sc *serverCall) recordHeaderLocked(md metadata.MD) {
	i, seq := sc.r.add(event{call: sc.call, side: Server, kind: Header, at: sc.r.now(), md: md})
	sc.headerRec = recordRef{i, seq, true}
}

func (sc *serverCall) setTrailer(md metadata.MD) {
	sc.mu.Lock()
	sc.trailer = metadata.Join(sc.trailer, md)
	sc.mu.Unlock()
}

// end records, once, the header if it was never sent, the response of a
// unary call (resp, if not nil), the trailer and the handler's final
// status, all under one lock.
func (sc *serverCall) end(err error, resp *event) {
	sc.mu.Lock()
	if sc.ended {
		sc.mu.Unlock()
		return
	}
	sc.ended = true
	tr := sc.trailer
	h := sc.takeHeaderLocked() // never sent: gRPC sends it with the status
	sc.mu.Unlock()
	var es [4]event
	n := 0
	if len(h) > 0 {
		es[n] = event{call: sc.call, side: Server, kind: Header, at: sc.r.now(), md: h}
		n++
	}
	if resp != nil {
		es[n] = *resp
		n++
	}
	now := sc.r.now()
	if len(tr) > 0 {
		es[n] = event{call: sc.call, side: Server, kind: Trailer, at: now, md: tr}
		n++
	}
	st := endStatus(err)
	es[n] = event{call: sc.call, side: Server, kind: End, at: now, err: st}
	sc.r.add(es[:n+1]...)
	if c := status.Code(st); sc.pair != nil && c != codes.Canceled && c != codes.DeadlineExceeded {
		// Ended on its own, not by the client's cancel or deadline (which
		// the client's End reports anyway): see contextEnded.
		sc.pair.serverEnded.Store(true)
	}
}

// abandoned records the End of a handler that did not return: it
// panicked, or its goroutine exited through runtime.Goexit (as t.FailNow
// makes it). The recorder does not recover the panic: it goes on,
// untouched, to the interceptor further out that recovers it (a recovery
// middleware, grpctest's harness) or to the runtime, and the status the
// client gets is that interceptor's.
func (sc *serverCall) abandoned() {
	sc.end(status.Error(codes.Internal, "recorder: the handler did not return: it panicked, or called runtime.Goexit (t.FailNow or t.Fatal in a handler)"), nil)
}

// transportStream observes grpc.SetHeader, grpc.SendHeader and
// grpc.SetTrailer called with the handler's context.
type transportStream struct {
	sc    *serverCall
	inner grpc.ServerTransportStream
}

// ServerCallID returns the CallID under which r records the call whose
// handler has context ctx (the context a handler gets, or stream.Context()
// of its stream, when r's server interceptors record the call), and
// whether r records that call: the server-side twin of CallID. With it a
// handler, or a fake server, can find its own call in Calls or Events.
// It finds the call through the grpc.ServerTransportStream that r's
// interceptor puts in the handler's context: behind an interceptor
// further in that puts one of its own there
// (grpc.NewContextWithServerTransportStream), it finds none.
func (r *Recorder) ServerCallID(ctx context.Context) (uint64, bool) {
	if r == nil || ctx == nil {
		return 0, false
	}
	r.ready()
	// Each recorder that records the call wraps the transport stream in
	// the context (see begin); another interceptor may wrap it too, or
	// put its own there, which ends the search.
	ts, _ := grpc.ServerTransportStreamFromContext(ctx).(*transportStream)
	for ts != nil {
		if ts.sc.r == r {
			return ts.sc.info.id, true
		}
		ts, _ = ts.inner.(*transportStream)
	}
	return 0, false
}

func (t *transportStream) Method() string {
	if t.inner == nil {
		return t.sc.call.method
	}
	return t.inner.Method()
}

func (t *transportStream) SetHeader(md metadata.MD) error {
	if t.inner == nil {
		return errors.New("recorder: no server transport stream in context")
	}
	err := t.inner.SetHeader(md)
	if err == nil {
		t.sc.setHeader(md)
	}
	return err
}

func (t *transportStream) SendHeader(md metadata.MD) error {
	if t.inner == nil {
		return errors.New("recorder: no server transport stream in context")
	}
	return t.sc.explicitHeader(md, t.inner.SendHeader)
}

func (t *transportStream) SetTrailer(md metadata.MD) error {
	if t.inner == nil {
		return errors.New("recorder: no server transport stream in context")
	}
	err := t.inner.SetTrailer(md)
	if err == nil {
		t.sc.setTrailer(md)
	}
	return err
}

// UnaryServerInterceptor records unary calls on the server side: Begin,
// Recv (the request), Header, Send (the response), Trailer and End.
func (r *Recorder) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	r.ready()
	r.markServing()
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		method := "" // gRPC always gives info; a hand-made chain may not
		if info != nil {
			method = info.FullMethod
		}
		if !r.records(method) {
			return handler(ctx, req)
		}
		if ctx == nil {
			ctx = context.Background()
		}
		sc := &serverCall{}
		ctx, begin := r.begin(ctx, method, sc)
		sc.info.oneLog = true // one goroutine records this half, in one log
		r.add(begin, event{call: sc.call, side: Server, kind: Recv, at: begin.at}.withMsg(req, nil))
		returned := false
		defer func() {
			if !returned {
				sc.abandoned()
			}
		}()
		resp, err := handler(ctx, req)
		returned = true
		if err == nil {
			send := event{call: sc.call, side: Server, kind: Send, at: r.now()}.withMsg(resp, nil)
			// gRPC has yet to marshal it: a failure is the call's status
			// (a strict Send's, found when it is copied, too).
			send.strict, send.err = serverMarshalCheck(begin.md, req, resp, send.pm != nil)
			sc.end(send.err, &send)
		} else {
			sc.end(err, nil)
		}
		return resp, err
	}
}

// StreamServerInterceptor records streaming calls on the server side. The
// server side of a call ends when the handler returns; End.Err is the
// handler's status.
func (r *Recorder) StreamServerInterceptor() grpc.StreamServerInterceptor {
	r.ready()
	r.markServing()
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		method := "" // gRPC always gives info and ss; a hand-made chain may not
		if info != nil {
			method = info.FullMethod
		}
		if ss == nil || !r.records(method) {
			return handler(srv, ss)
		}
		w := r.wrapServer(ss, method)
		returned := false
		defer func() {
			if !returned {
				w.sc.abandoned()
			}
		}()
		err := handler(srv, w)
		returned = true
		w.sc.end(err, nil)
		return err
	}
}

// WrapServerStream returns ss wrapped so that its events are recorded, for
// users who build their own stream server interceptor. It records Begin at
// once; call EndServerStream with the handler's error when it returns. A
// method that WithMethods leaves out gets ss back unwrapped. With a nil
// info the call is recorded under an empty method (as by the server
// interceptors called with one); a nil ss gives nil.
func (r *Recorder) WrapServerStream(ss grpc.ServerStream, info *grpc.StreamServerInfo) grpc.ServerStream {
	r.ready()
	if ss == nil {
		return nil
	}
	method := ""
	if info != nil {
		method = info.FullMethod
	}
	if !r.records(method) {
		return ss
	}
	return r.wrapServer(ss, method)
}

// EndServerStream records the End of a stream returned by WrapServerStream
// (and its trailer, if the handler set one), with err as the handler's
// status. Only the first call counts; other streams are ignored.
func (r *Recorder) EndServerStream(ss grpc.ServerStream, err error) {
	if w, ok := ss.(*serverStream); ok && w.sc.r == r {
		w.sc.end(err, nil)
	}
}

func (r *Recorder) wrapServer(ss grpc.ServerStream, method string) *serverStream {
	r.markServing()
	w := &serverStream{ServerStream: ss}
	w.sc = &w.call
	ctx := ss.Context()
	if ctx == nil { // a stream of the user's that has none
		ctx = context.Background()
	}
	ctx, begin := r.begin(ctx, method, w.sc)
	w.ctx = ctx
	if p, ok := r.takePair(w.sc.info.id); ok {
		w.sc.pair = p
	}
	r.add(begin)
	return w
}

type serverStream struct {
	grpc.ServerStream
	call serverCall // allocated with the wrapper
	sc   *serverCall
	ctx  context.Context

	sendExt, recvExt extCache // of SendMsg's goroutine, of RecvMsg's
}

func (w *serverStream) Context() context.Context { return w.ctx }

func (w *serverStream) SetHeader(md metadata.MD) error {
	err := w.ServerStream.SetHeader(md)
	if err == nil {
		w.sc.setHeader(md)
	}
	return err
}

func (w *serverStream) SendHeader(md metadata.MD) error {
	return w.sc.explicitHeader(md, w.ServerStream.SendHeader)
}

func (w *serverStream) SetTrailer(md metadata.MD) {
	w.ServerStream.SetTrailer(md)
	w.sc.setTrailer(md)
}

func (w *serverStream) SendMsg(m any) error {
	w.sc.implicitHeader()
	start := w.sc.r.now()
	i, seq := w.sc.r.add(event{call: w.sc.call, side: Server, kind: Send, at: start, pending: true}.withMsg(m, &w.sendExt))
	err := w.ServerStream.SendMsg(m)
	elapsed := w.sc.r.now() - start
	w.sc.r.finish(w.sc.call, Send, i, seq, elapsed, err)
	return err
}

func (w *serverStream) RecvMsg(m any) error {
	start := w.sc.r.now()
	err := w.ServerStream.RecvMsg(m)
	now := w.sc.r.now()
	switch {
	case err == nil:
		w.sc.r.add(event{call: w.sc.call, side: Server, kind: Recv, at: now, elapsed: now - start}.withMsg(m, &w.recvExt))
	case errors.Is(err, io.EOF):
	default:
		w.sc.r.add(event{call: w.sc.call, side: Server, kind: Recv, at: now, elapsed: now - start, err: err})
	}
	return err
}
