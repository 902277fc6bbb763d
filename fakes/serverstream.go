package fakes

import (
	"context"
	"errors"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// ServerStream is an in-memory server stream for calling a streaming
// handler directly, without a network: the handler gets the ServerStream as
// its stream argument, the test plays the client with Push, CloseSend and
// Cancel and reads what the handler sent with Next or Responses.
//
// *ServerStream[Req, Res] implements grpc.BidiStreamingServer[Req, Res],
// grpc.ClientStreamingServer[Req, Res] and grpc.ServerStreamingServer[Res],
// so generated handler signatures accept it. It behaves like a real stream:
// Recv returns io.EOF after CloseSend and the pushed messages; after Cancel
// Send and Recv fail with codes.Canceled; a nil message is an error (where
// grpc-go would send an empty message: see the package doc), not a
// panic; the header is sent once (by SendHeader or the first Send) and
// SetHeader/SendHeader after that fail; every message is deep-copied on its
// way through, so neither side can change what the other got.
//
// The stream ends when the test calls End with the handler's result (a real
// server ends the stream when the handler returns) or Cancel. After that
// Send and Recv fail with codes.Canceled, as on a real server, and Next
// returns the unread responses and then io.EOF or End's error.
//
// The stream has no test to report to, so what the test leaves out goes
// unreported: a handler that reads until io.EOF waits, as on a real
// server, until the test calls CloseSend (or Cancel, or the context given
// to NewServerStream ends), so a test that forgot CloseSend and calls the
// handler itself hangs until go test's -timeout (call it
// with a context that has a deadline, or through grpctest.Go, to bound the
// wait); without End the recorded timeline has no End; and the service
// method of a server-streaming call takes its request as an argument (the
// generated handler reads it with RecvMsg first), so a request pushed to a
// test that calls the method directly is never read.
//
// It is safe for one goroutine sending and one receiving (the handler) while
// the test uses the test-side methods from others. Make it with
// NewServerStream: on a zero ServerStream or a nil pointer, the methods
// that return an error return codes.FailedPrecondition saying so, Context
// is canceled, and the others do nothing.
type ServerStream[Req, Res any] struct {
	p      *pipe
	cancel context.CancelFunc
	ss     grpc.ServerStream // the core, or a recorder's wrapper around it
	core   *serverCore[Req, Res]

	// clientStreams and serverStreams are the method's kind (see
	// WithMethod): a method without client streaming has exactly one
	// request, one without server streaming one response.
	clientStreams, serverStreams bool

	// guarded by p.mu
	canceled bool
	ended    bool
	pushed   bool // a request was pushed (one, without client streaming)
	received bool // the handler received a request
	nexted   bool // Next returned a response
	// With a recorder: the handler's calls in progress (calls), and a
	// channel Cancel waits on for them to return (idle, closed when calls
	// drops to 0).
	calls int
	idle  chan struct{}
}

// cancelWait bounds how long Cancel waits for the handler's calls it ended
// to return before it records the End.
const cancelWait = time.Second

var (
	_ grpc.BidiStreamingServer[int, string]   = (*ServerStream[int, string])(nil)
	_ grpc.ClientStreamingServer[int, string] = (*ServerStream[int, string])(nil)
	_ grpc.ServerStreamingServer[string]      = (*ServerStream[int, string])(nil)
)

// errZeroServerStream is what the methods of a ServerStream that
// NewServerStream did not make return.
var errZeroServerStream = status.Error(codes.FailedPrecondition,
	"fakes: a ServerStream not made by NewServerStream (a zero value or a nil pointer): build it with fakes.NewServerStream")

// canceledContext is the Context of a stream that no constructor made: a
// caller waiting on it does not hang.
var canceledContext = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// usable reports whether NewServerStream made s.
func (s *ServerStream[Req, Res]) usable() bool { return s != nil && s.p != nil }

// NewServerStream returns a server stream whose handler-side context is
// derived from ctx (put request metadata in it with
// metadata.NewIncomingContext) and, as a real server's, carries the stream:
// grpc.SetHeader, grpc.SendHeader and grpc.SetTrailer called with it act on
// the stream, and grpc.Method returns the method (WithMethod). With
// WithRecorder it records the events a real server stream of the method
// named by WithMethod would, starting with Begin now.
func NewServerStream[Req, Res any](ctx context.Context, opts ...Option) *ServerStream[Req, Res] {
	cfg := newConfig(DefaultServerMethod, opts)
	ctx = cfg.checkContext("NewServerStream", ctx)
	checkTypes[Req, Res](cfg)
	sctx, cancel := context.WithCancel(ctx)
	s := &ServerStream[Req, Res]{cancel: cancel}
	s.clientStreams, s.serverStreams = cfg.streamKind()
	s.core = &serverCore[Req, Res]{s: s}
	// The handler's context carries the stream, as a real server's does:
	// grpc.SetHeader, grpc.SendHeader, grpc.SetTrailer and grpc.Method
	// work with it.
	s.p = newPipe(grpc.NewContextWithServerTransportStream(sctx, transportStream[Req, Res]{s.core}), cfg)
	s.ss = s.core
	if cfg.rec != nil {
		s.ss = cfg.rec.WrapServerStream(s.core, &grpc.StreamServerInfo{
			FullMethod: cfg.method, IsClientStream: s.clientStreams, IsServerStream: s.serverStreams,
		})
	}
	return s
}

// ---- test side: the client's half ----

// Push queues requests for the handler's Recv, in order. Pushing a nil
// request, or pushing after CloseSend, is a misuse: the stream fails every
// later operation with codes.FailedPrecondition naming it. On a method
// without client streaming (see WithMethod) the one request also ends the
// requests, as a grpc client's one Send does: the handler's next Recv
// returns io.EOF, and a second request is a misuse.
func (s *ServerStream[Req, Res]) Push(reqs ...*Req) {
	if !s.usable() {
		return
	}
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, r := range reqs {
		switch {
		case !s.clientStreams && s.pushed:
			p.misuseLocked("Push: a second request, but %s is not client-streaming: its call has exactly one request; push once", p.cfg.method)
			return
		case p.in.closed:
			p.misuseLocked("Push after CloseSend: the client half is closed; push every request before CloseSend")
			return
		case r == nil:
			p.misuseLocked("Push got a nil %T at position %d; push messages, and CloseSend to end the requests", r, i)
			return
		case untyped(r):
			p.misuseLocked("Push got a %T with no message type at position %d; make it with dynamicpb.NewMessage", r, i)
			return
		}
		p.in.msgs = append(p.in.msgs, cloneMsg(r)) // the test may reuse r
		s.pushed = true
		if !s.clientStreams {
			p.in.closed = true
		}
	}
	p.broadcastLocked()
}

// CloseSend half-closes the client side: the handler's Recv returns io.EOF
// once it has received every pushed request. Calling it again does nothing.
func (s *ServerStream[Req, Res]) CloseSend() {
	if !s.usable() {
		return
	}
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	p.in.closed = true
	p.broadcastLocked()
}

// Cancel cancels the stream as a client canceling its call would: the
// handler's context is canceled, Send and Recv (even blocked ones) return a
// status with codes.Canceled, and the stream ends. With WithRecorder, End
// is recorded with codes.Canceled (unless End was called first) once the
// handler's calls in progress have returned, so that their failures come
// before it, as on a real server; a call the handler makes after that is
// recorded after the End. Calling it again does nothing.
func (s *ServerStream[Req, Res]) Cancel() {
	if !s.usable() {
		return
	}
	p := s.p
	p.mu.Lock()
	first := !s.ended && !s.canceled
	s.canceled = true
	p.mu.Unlock()
	s.cancel()
	p.mu.Lock()
	p.broadcastLocked()
	p.mu.Unlock()
	if first && p.cfg.rec != nil {
		// A real server records the End when the handler returns, after
		// the Send or Recv the cancel made fail: so does the fake, for
		// the calls in progress now.
		s.awaitCalls()
		p.cfg.rec.EndServerStream(s.ss, status.Error(codes.Canceled, context.Canceled.Error()))
	}
}

// enter counts a handler's call that a recorder records (see awaitCalls);
// when it reports true, call leave when the call returns.
func (s *ServerStream[Req, Res]) enter() bool {
	if s.p.cfg.rec == nil {
		return false
	}
	s.p.mu.Lock()
	s.calls++
	s.p.mu.Unlock()
	return true
}

func (s *ServerStream[Req, Res]) leave() {
	s.p.mu.Lock()
	if s.calls--; s.calls == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
	s.p.mu.Unlock()
}

// awaitCalls waits, at most cancelWait, until the handler's calls in
// progress have returned, and so have been recorded.
func (s *ServerStream[Req, Res]) awaitCalls() {
	s.p.mu.Lock()
	if s.calls == 0 {
		s.p.mu.Unlock()
		return
	}
	if s.idle == nil {
		s.idle = make(chan struct{})
	}
	idle := s.idle
	s.p.mu.Unlock()
	waitAtMost(idle, cancelWait)
}

// End records that the handler returned err, ending the stream like a real
// server does: the handler's context is canceled, later Send and Recv fail
// with codes.Canceled, and Next returns the unread responses, then io.EOF
// (err == nil) or err as a client gets it (the status grpc makes of it, in
// which errors.Is still finds err: see ClientStream.Finish), or
// codes.Internal if the trailer has metadata gRPC refuses (see
// SetTrailer). With WithRecorder it records End with err's status.
// Only the first End or Cancel counts.
//
//	err := srv.FullDuplexCall(stream)
//	stream.End(err)
func (s *ServerStream[Req, Res]) End(err error) {
	if !s.usable() {
		return
	}
	p := s.p
	p.mu.Lock()
	first := !s.ended && !s.canceled
	if first {
		s.ended = true
		err = rpcErr(err)
		p.out.closed = true
		p.out.err = err
		if problem, key, inValue := mdProblem(p.trailer); problem != "" {
			// grpc-go logs such a trailer and sends it; its client ends
			// the call with Internal in place of the handler's status.
			p.out.err = status.Error(codes.Internal, "fakes: "+clientTrailerErr(key, inValue)+
				": the handler's trailer (SetTrailer) has metadata gRPC refuses; a client gets this in place of the handler's status")
		}
	}
	p.mu.Unlock()
	s.cancel()
	p.mu.Lock()
	p.broadcastLocked()
	p.mu.Unlock()
	if first && p.cfg.rec != nil {
		p.cfg.rec.EndServerStream(s.ss, err)
	}
}

// Responses returns a snapshot of every response the handler sent so far,
// read by Next or not, in order. Each is a copy taken when it was sent. The
// response of a Send still blocked (WithSendBuffer) is included; that of a
// Send that failed is not.
func (s *ServerStream[Req, Res]) Responses() []*Res {
	if !s.usable() {
		return nil
	}
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	return snapshot[Res](&s.p.out)
}

// Next waits for the next response the handler sent that Next has not
// returned yet. After the stream ended and every response was read it
// returns io.EOF, or End's error; after Cancel, a status with
// codes.Canceled; if ctx ends first, ctx.Err(). Reading releases a Send
// blocked by WithSendBuffer. A nil ctx is an error (codes.InvalidArgument);
// the stream is unchanged.
func (s *ServerStream[Req, Res]) Next(ctx context.Context) (*Res, error) {
	if !s.usable() {
		return nil, errZeroServerStream
	}
	if ctx == nil {
		return nil, nilContextErr("ServerStream.Next")
	}
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	m, err := p.takeLocked(ctx, &p.out, true, nil)
	if err != nil {
		return nil, err
	}
	if !s.serverStreams && s.nexted {
		// What a grpc client's RecvMsg returns when a server sends a
		// second response where the method has one.
		return nil, status.Error(codes.Internal, "cardinality violation: expected <EOF> for non server-streaming RPCs, but received another message")
	}
	s.nexted = true
	return cloneMsg(m.(*Res)), nil // Responses keeps the original
}

// Header returns what the handler gave SetHeader and SendHeader so far
// (a copy), whether or not it has been sent.
func (s *ServerStream[Req, Res]) Header() metadata.MD {
	if !s.usable() {
		return nil
	}
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	return s.p.header.Copy()
}

// WaitHeader waits until the handler has sent its header (SendHeader, or
// its first Send) and returns it (a copy), as a client's stream.Header
// does: a test uses it to know that the handler got that far, such as a
// watch handler that sends its header once it has subscribed. If the
// stream ends first (End), it returns what the handler gave SetHeader,
// which a real server sends with the status; after Cancel, a status with
// codes.Canceled; if ctx ends first, ctx.Err(). A nil ctx is an error
// (codes.InvalidArgument).
func (s *ServerStream[Req, Res]) WaitHeader(ctx context.Context) (metadata.MD, error) {
	if !s.usable() {
		return nil, errZeroServerStream
	}
	if ctx == nil {
		return nil, nilContextErr("ServerStream.WaitHeader")
	}
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		switch {
		case p.bad != nil:
			return nil, p.bad
		case p.headerSent || s.ended:
			return p.header.Copy(), nil
		case s.canceled:
			return nil, s.doneErrLocked()
		case p.ctx.Err() != nil: // the context NewServerStream was given ended
			return nil, p.ctxErr()
		}
		if err := p.waitLocked(ctx); err != nil {
			return nil, err
		}
	}
}

// Trailer returns what the handler gave SetTrailer so far (a copy).
func (s *ServerStream[Req, Res]) Trailer() metadata.MD {
	if !s.usable() {
		return nil
	}
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	return s.p.trailer.Copy()
}

// ---- handler side: grpc.ServerStream and the generic interfaces ----

// Send sends a response to the client (the test). See WithSendBuffer for
// when it blocks.
func (s *ServerStream[Req, Res]) Send(m *Res) error {
	if !s.usable() {
		return errZeroServerStream
	}
	if m == nil {
		return s.core.SendMsg(m) // rejected before it reaches a recorder
	}
	return s.SendMsg(m)
}

// SendAndClose sends the one response of a client-streaming call. As in
// grpc, it is Send; the handler then returns.
func (s *ServerStream[Req, Res]) SendAndClose(m *Res) error { return s.Send(m) }

// Recv returns the next pushed request, io.EOF after CloseSend and the
// pushed requests, or a status error once the stream is canceled or ended.
// It blocks until one of those.
func (s *ServerStream[Req, Res]) Recv() (*Req, error) {
	if !s.usable() {
		return nil, errZeroServerStream
	}
	m := new(Req)
	if err := s.RecvMsg(m); err != nil {
		return nil, err
	}
	return m, nil
}

// SetHeader merges md into the header to send. As grpc's, it fails
// (codes.Internal) once the header has been sent, or for metadata gRPC
// refuses (a key not in [0-9a-z-_.], a value that is not printable ASCII
// under a key without -bin), and fails after the stream has ended.
func (s *ServerStream[Req, Res]) SetHeader(md metadata.MD) error {
	if !s.usable() {
		return errZeroServerStream
	}
	return s.ss.SetHeader(md)
}

// SendHeader sends the header (merged with md); it fails if the header was
// already sent, md has metadata gRPC refuses (as SetHeader) or the stream
// has ended.
func (s *ServerStream[Req, Res]) SendHeader(md metadata.MD) error {
	if !s.usable() {
		return errZeroServerStream
	}
	if s.enter() {
		defer s.leave()
	}
	return s.ss.SendHeader(md)
}

// SetTrailer merges md into the trailer; ignored after the stream ended.
// Metadata gRPC refuses (as SetHeader) is taken, as grpc-go takes it after
// logging an error; then, as its client does, Next ends with
// codes.Internal in place of End's error.
func (s *ServerStream[Req, Res]) SetTrailer(md metadata.MD) {
	if !s.usable() {
		return
	}
	s.ss.SetTrailer(md)
}

// Context returns the handler's context: derived from NewServerStream's ctx,
// canceled by Cancel and End.
func (s *ServerStream[Req, Res]) Context() context.Context {
	if !s.usable() {
		return canceledContext
	}
	return s.ss.Context()
}

// SendMsg is Send for a message given as any; it must be a *Res.
func (s *ServerStream[Req, Res]) SendMsg(m any) error {
	if !s.usable() {
		return errZeroServerStream
	}
	if s.enter() {
		defer s.leave()
	}
	return s.ss.SendMsg(m)
}

// RecvMsg is Recv into m, which must be a *Req.
func (s *ServerStream[Req, Res]) RecvMsg(m any) error {
	if !s.usable() {
		return errZeroServerStream
	}
	if s.enter() {
		defer s.leave()
	}
	return s.ss.RecvMsg(m)
}

// serverCore implements grpc.ServerStream on the pipe; a recorder wraps it.
type serverCore[Req, Res any] struct{ s *ServerStream[Req, Res] }

func (c *serverCore[Req, Res]) Context() context.Context { return c.s.p.ctx }

func (c *serverCore[Req, Res]) SendMsg(m any) error {
	s, p := c.s, c.s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.beginLocked(); err != nil {
		return err
	}
	res, ok := m.(*Res)
	if !ok {
		return typeErr("SendMsg", m, (*Res)(nil))
	}
	if res == nil {
		return nilErr("Send", res)
	}
	if untyped(res) {
		return untypedErr("Send", res)
	}
	if err := s.doneErrLocked(); err != nil {
		return err
	}
	p.headerSent = true
	return p.putLocked(&p.out, cloneMsg(res), s.doneErrLocked)
}

func (c *serverCore[Req, Res]) RecvMsg(m any) error {
	s, p := c.s, c.s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.beginLocked(); err != nil {
		return err
	}
	dst, ok := m.(*Req)
	if !ok {
		return typeErr("RecvMsg", m, (*Req)(nil))
	}
	if dst == nil {
		return nilErr("RecvMsg", dst)
	}
	if err := s.doneErrLocked(); err != nil {
		return err
	}
	v, err := p.takeLocked(p.ctx, &p.in, false, nil)
	if err != nil {
		if e := s.doneErrLocked(); e != nil {
			return e
		}
		if errors.Is(err, io.EOF) && !s.clientStreams && !s.received {
			// grpc's words, for a client that half-closed without its
			// one request.
			return status.Error(codes.Internal, "cardinality violation: received no request message from non-client-streaming RPC")
		}
		return err
	}
	s.received = true
	return copyMsg(dst, v.(*Req))
}

func (c *serverCore[Req, Res]) SetHeader(md metadata.MD) error {
	s, p := c.s, c.s.p
	if err := p.badErr(); err != nil { // even for an empty md: the test's bug is reported
		return err
	}
	if md.Len() == 0 {
		return nil
	}
	if problem, _, _ := mdProblem(md); problem != "" {
		return status.Error(codes.Internal, "fakes: SetHeader: "+problem)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := s.doneErrLocked(); err != nil {
		return err
	}
	if p.bad != nil {
		return p.bad
	}
	if p.headerSent {
		return status.Error(codes.Internal, "fakes: SetHeader after the header was sent (by SendHeader or the first Send)")
	}
	joinMD(&p.header, md)
	return nil
}

func (c *serverCore[Req, Res]) SendHeader(md metadata.MD) error {
	s, p := c.s, c.s.p
	if problem, _, _ := mdProblem(md); problem != "" {
		return status.Error(codes.Internal, "fakes: SendHeader: "+problem)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := s.doneErrLocked(); err != nil {
		return err
	}
	if p.bad != nil {
		return p.bad
	}
	if p.headerSent {
		return status.Error(codes.Internal, "fakes: SendHeader called after the header was sent (by SendHeader or the first Send)")
	}
	joinMD(&p.header, md)
	p.headerSent = true
	p.broadcastLocked()
	return nil
}

func (c *serverCore[Req, Res]) SetTrailer(md metadata.MD) {
	s, p := c.s, c.s.p
	if md.Len() == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.ended || s.canceled {
		return
	}
	joinMD(&p.trailer, md)
}

// doneErrLocked returns the error of a handler-side operation on a stream
// that has ended or been canceled, nil while it is live.
func (s *ServerStream[Req, Res]) doneErrLocked() error {
	switch {
	case s.ended:
		return status.Error(codes.Canceled, "fakes: the stream has ended (End was called): context canceled")
	case s.canceled:
		return status.Error(codes.Canceled, "fakes: the stream was canceled (Cancel was called): context canceled")
	}
	return s.p.ctxErr()
}

// transportStream is the grpc.ServerTransportStream in the handler's
// context: what grpc.SetHeader, grpc.SendHeader, grpc.SetTrailer and
// grpc.Method reach. A recorder's own, in the context it gives the
// handler, records them and hands them on to this one.
type transportStream[Req, Res any] struct{ c *serverCore[Req, Res] }

func (t transportStream[Req, Res]) Method() string { return t.c.s.p.cfg.method }

func (t transportStream[Req, Res]) SetHeader(md metadata.MD) error { return t.c.SetHeader(md) }

func (t transportStream[Req, Res]) SendHeader(md metadata.MD) error { return t.c.SendHeader(md) }

func (t transportStream[Req, Res]) SetTrailer(md metadata.MD) error {
	if err := t.c.s.p.badErr(); err != nil {
		return err
	}
	t.c.SetTrailer(md)
	return nil
}
