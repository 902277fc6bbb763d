package recorder

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// serverCall is the state of the server half of one call.
type serverCall struct {
	r    *Recorder
	call *callInfo

	headerDone atomic.Bool // fast path for sendHeader once the header is out

	mu         sync.Mutex
	header     metadata.MD // set with SetHeader, not yet sent
	headerSent bool
	trailer    metadata.MD
	ended      bool
}

// begin reads the request metadata of ctx, strips this recorder's call-id
// header from it, records Begin and returns the context the handler should
// see.
func (r *Recorder) begin(ctx context.Context, method string) (*serverCall, context.Context) {
	now := time.Now()
	sc := &serverCall{r: r}
	// FromIncomingContext returns a fresh copy: ours to edit and keep.
	md, _ := metadata.FromIncomingContext(ctx)
	if vs := md.Get(CallIDHeader); len(vs) > 0 {
		if id, ok := r.parseTag(vs[len(vs)-1]); ok {
			sc.call = &callInfo{id: id, method: method}
		}
		md.Delete(CallIDHeader)
		ctx = metadata.NewIncomingContext(ctx, md)
	}
	if sc.call == nil {
		sc.call = r.newCall(method)
	}
	r.add(event{call: sc.call, side: Server, kind: Begin, at: now, md: md})
	return sc, grpc.NewContextWithServerTransportStream(ctx, &transportStream{sc: sc, inner: grpc.ServerTransportStreamFromContext(ctx)})
}

func (sc *serverCall) setHeader(md metadata.MD) {
	sc.mu.Lock()
	sc.header = metadata.Join(sc.header, md)
	sc.mu.Unlock()
}

// sendHeader records the header once it is on its way: explicitly (md
// added), or implicitly with the first message or at the end of the call.
func (sc *serverCall) sendHeader(md metadata.MD, explicit bool) {
	if sc.headerDone.Load() {
		return
	}
	sc.mu.Lock()
	if sc.headerSent {
		sc.mu.Unlock()
		return
	}
	h := metadata.Join(sc.header, md)
	sc.header = nil
	sc.headerSent = true
	sc.headerDone.Store(true)
	sc.mu.Unlock()
	if len(h) > 0 || explicit {
		sc.r.add(event{call: sc.call, side: Server, kind: Header, at: time.Now(), md: h})
	}
}

func (sc *serverCall) setTrailer(md metadata.MD) {
	sc.mu.Lock()
	sc.trailer = metadata.Join(sc.trailer, md)
	sc.mu.Unlock()
}

// end records the trailer and the handler's final status, once.
func (sc *serverCall) end(err error) {
	sc.mu.Lock()
	if sc.ended {
		sc.mu.Unlock()
		return
	}
	sc.ended = true
	tr := sc.trailer
	sc.mu.Unlock()
	sc.sendHeader(nil, false)
	now := time.Now()
	if len(tr) > 0 {
		sc.r.add(event{call: sc.call, side: Server, kind: Trailer, at: now, md: tr})
	}
	if err != nil {
		err = status.Convert(err).Err()
	}
	sc.r.add(event{call: sc.call, side: Server, kind: End, at: now, err: err})
}

// transportStream observes grpc.SetHeader, grpc.SendHeader and
// grpc.SetTrailer called with the handler's context.
type transportStream struct {
	sc    *serverCall
	inner grpc.ServerTransportStream
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
	err := t.inner.SendHeader(md)
	if err == nil {
		t.sc.sendHeader(md, true)
	}
	return err
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
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !r.records(info.FullMethod) {
			return handler(ctx, req)
		}
		sc, ctx := r.begin(ctx, info.FullMethod)
		sc.call.oneLog = true // one goroutine records this half: Begin is in log 1, the rest follows
		scratch := getScratch()
		defer putScratch(scratch)
		typ, b := wire(req, scratch)
		r.addMsg(event{call: sc.call, side: Server, kind: Recv, at: time.Now()}, typ, b, req)
		resp, err := handler(ctx, req)
		if err == nil {
			sc.sendHeader(nil, false)
			typ, b := wire(resp, scratch)
			r.addMsg(event{call: sc.call, side: Server, kind: Send, at: time.Now()}, typ, b, resp)
		}
		sc.end(err)
		return resp, err
	}
}

// StreamServerInterceptor records streaming calls on the server side. The
// server side of a call ends when the handler returns; End.Err is the
// handler's status.
func (r *Recorder) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if !r.records(info.FullMethod) {
			return handler(srv, ss)
		}
		w := r.wrapServer(ss, info.FullMethod)
		err := handler(srv, w)
		w.sc.end(err)
		return err
	}
}

// WrapServerStream returns ss wrapped so that its events are recorded, for
// users who build their own stream server interceptor. It records Begin at
// once; call EndServerStream with the handler's error when it returns.
func (r *Recorder) WrapServerStream(ss grpc.ServerStream, info *grpc.StreamServerInfo) grpc.ServerStream {
	if ss == nil {
		return nil
	}
	method := ""
	if info != nil {
		method = info.FullMethod
	}
	return r.wrapServer(ss, method)
}

// EndServerStream records the End of a stream returned by WrapServerStream
// (and its trailer, if the handler set one), with err as the handler's
// status. Only the first call counts; other streams are ignored.
func (r *Recorder) EndServerStream(ss grpc.ServerStream, err error) {
	if w, ok := ss.(*serverStream); ok && w.sc.r == r {
		w.sc.end(err)
	}
}

func (r *Recorder) wrapServer(ss grpc.ServerStream, method string) *serverStream {
	sc, ctx := r.begin(ss.Context(), method)
	return &serverStream{ServerStream: ss, sc: sc, ctx: ctx}
}

type serverStream struct {
	grpc.ServerStream
	sc  *serverCall
	ctx context.Context

	sendMu  sync.Mutex
	sendBuf []byte
	recvBuf []byte
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
	err := w.ServerStream.SendHeader(md)
	if err == nil {
		w.sc.sendHeader(md, true)
	}
	return err
}

func (w *serverStream) SetTrailer(md metadata.MD) {
	w.ServerStream.SetTrailer(md)
	w.sc.setTrailer(md)
}

func (w *serverStream) SendMsg(m any) error {
	w.sc.sendHeader(nil, false)
	start := time.Now()
	i, seq := w.sc.r.addSend(event{call: w.sc.call, side: Server, kind: Send, at: start, pending: true}, m)
	err := w.ServerStream.SendMsg(m)
	elapsed := time.Since(start)
	w.sendMu.Lock()
	typ, b := wire(m, &w.sendBuf)
	w.sc.r.finishSend(w.sc.call, i, seq, elapsed, err, typ, b, m)
	w.sendMu.Unlock()
	return err
}

func (w *serverStream) RecvMsg(m any) error {
	start := time.Now()
	err := w.ServerStream.RecvMsg(m)
	now := time.Now()
	switch {
	case err == nil:
		typ, b := wire(m, &w.recvBuf)
		w.sc.r.addMsg(event{call: w.sc.call, side: Server, kind: Recv, at: now, elapsed: now.Sub(start)}, typ, b, m)
	case errors.Is(err, io.EOF):
	default:
		w.sc.r.add(event{call: w.sc.call, side: Server, kind: Recv, at: now, elapsed: now.Sub(start), err: err})
	}
	return err
}
