package fakes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// ClientStream is an in-memory client stream for testing code that uses a
// streaming client without a server: give the ClientStream to the code under
// test where it expects the stream a generated client returns; the test
// plays the server with Respond, RespondHeader, RespondTrailer and Finish,
// and reads what the code sent with Next or Sent.
//
// Code that takes the generated client interface (a chatpb.ChatClient), not
// a stream, gets the ClientStream from a fake of that interface: embed the
// interface, and in the method the code calls, build the ClientStream with
// the call's ctx (so that the code's cancel or deadline ends it) and return
// it. For a method without client streaming, do first what the generated
// method does before it returns the stream: Send the request, then
// CloseSend. The one Send half-closes the stream on its own, as grpc's
// does, but only the CloseSend is recorded (a ClientCloses step) and makes
// Closed report true, as with a generated client. See the example.
//
// *ClientStream[Req, Res] implements grpc.BidiStreamingClient[Req, Res],
// grpc.ClientStreamingClient[Req, Res] and grpc.ServerStreamingClient[Res].
// It behaves like a real stream: Recv returns the responses, then io.EOF
// (Finish(nil)) or Finish's error (on a method without server streaming,
// its one response ends the call: see NewClientStream); once the context
// given to NewClientStream ends, Recv fails with its status
// (codes.Canceled or codes.DeadlineExceeded) and Send returns io.EOF; Send
// after the code received the end of the stream returns io.EOF (see
// Finish) and Send after CloseSend an error, as grpc's do; a nil message
// is an error (where grpc-go would send an empty message: see the package
// doc), not a panic; a Send that fails where grpc's SendMsg fails
// (after CloseSend, a message that is not a proto) ends the stream, as
// grpc's does: Recv returns the responses already given, then that
// error, later Sends return io.EOF (after CloseSend: the same error again,
// as grpc's), the Context ends, Header and Next stop waiting, and
// responses the test gives after that are dropped; messages
// are deep-copied on their way through.
//
// It is safe for one goroutine sending and one receiving (the code under
// test) while the test uses the test-side methods from others. Make it
// with NewClientStream: on a zero ClientStream or a nil pointer, the
// methods that return an error return codes.FailedPrecondition saying so,
// Context is canceled, and the others do nothing.
type ClientStream[Req, Res any] struct {
	p    *pipe
	cs   grpc.ClientStream // the core, or a recorder's wrapper around it
	core *clientCore[Req, Res]

	// serverStreams is false for a method without server streaming (see
	// WithMethod): its one response, once Recv has returned it, ends the
	// code's call (see callEndedLocked).
	serverStreams bool
	// clientStreams is false for a method without client streaming: its
	// one Send also half-closes the stream, as grpc's does.
	clientStreams bool

	// view is what Context returns: the stream's context, canceled too
	// once the code has seen the end of the call, as grpc's is.
	view       context.Context
	cancelView context.CancelFunc

	// guarded by p.mu
	finished  bool  // Finish called
	responded bool  // the one response of a method without server streaming was given: the call's result
	sawEnd    bool  // a Recv returned the end of the stream (of the call): Send returns io.EOF
	received  bool  // a Recv returned a response
	closeSent bool  // the code called CloseSend (the one Send of a method without client streaming ends the requests too)
	sendErr   error // a Send failed with this error, not io.EOF: the stream ended with it
}

// callEndedLocked reports whether the code under test received the one
// response of a method without server streaming, which ended its call:
// nothing the test gives after it (a trailer, Finish's error) reaches the
// code. p.mu must be held.
func (c *ClientStream[Req, Res]) callEndedLocked() bool {
	return !c.serverStreams && c.received
}

var (
	_ grpc.BidiStreamingClient[int, string]   = (*ClientStream[int, string])(nil)
	_ grpc.ClientStreamingClient[int, string] = (*ClientStream[int, string])(nil)
	_ grpc.ServerStreamingClient[string]      = (*ClientStream[int, string])(nil)
)

// errZeroClientStream is what the methods of a ClientStream that
// NewClientStream did not make return.
var errZeroClientStream = status.Error(codes.FailedPrecondition,
	"fakes: a ClientStream not made by NewClientStream (a zero value or a nil pointer): build it with fakes.NewClientStream")

// usable reports whether NewClientStream made c.
func (c *ClientStream[Req, Res]) usable() bool { return c != nil && c.p != nil }

// NewClientStream returns a client stream whose context is ctx: cancel ctx
// to cancel the stream, as with a real one. With WithRecorder it records the
// events a real client stream of the method named by WithMethod would,
// starting with Begin now (the client side ends when Recv returns an error
// or io.EOF, when a method without server streaming has received its one
// response, or when ctx ends).
//
// On a method without server streaming (a client-streaming method named by
// WithMethod, and registered: see there) the call has exactly one result,
// as grpc's client sees it: either its one response, with status OK, or an
// error. Respond gives the response, which is then the call's result:
// Recv, and so CloseAndRecv, returns it with OK whenever it comes, and a
// later Finish changes nothing the code receives. To end the call with an error, call Finish(err)
// instead of Respond (a real server that sends its response and then
// returns an error gives the client that error only). Finish(nil) without
// a response gives codes.Internal, as grpc's "cardinality violation". A
// second response is a misuse (see Respond), and so is a trailer after the
// response (RespondTrailer returns an error): give it before. Once the
// code has received the one response, Send and Recv return io.EOF (a
// Send before that returns nil, as a real stream's may). So, with
// WithRecorder, the call records Recv, then Trailer (if any) and End when
// Recv returns, the same events whatever the order of the test's calls
// and the code's.
func NewClientStream[Req, Res any](ctx context.Context, opts ...Option) *ClientStream[Req, Res] {
	cfg := newConfig(DefaultClientMethod, opts)
	ctx = cfg.checkContext("NewClientStream", ctx)
	if cfg.rec != nil {
		// As the recorder's client interceptor tags a real stream's
		// context: Recorder.CallID(c.Context()) names the recorded call.
		// A context the test tagged itself (TagContext) keeps its tag.
		if _, tagged := cfg.rec.CallID(ctx); !tagged {
			ctx = cfg.rec.TagContext(ctx, cfg.method)
		}
	}
	checkTypes[Req, Res](cfg)
	cli, srv := cfg.streamKind()
	c := &ClientStream[Req, Res]{p: newPipe(ctx, cfg), serverStreams: srv, clientStreams: cli}
	c.view, c.cancelView = context.WithCancel(ctx)
	c.core = &clientCore[Req, Res]{c: c}
	c.cs = c.core
	if cfg.rec != nil {
		desc := &grpc.StreamDesc{StreamName: cfg.method[strings.LastIndex(cfg.method, "/")+1:], ClientStreams: cli, ServerStreams: srv}
		c.cs = cfg.rec.WrapClientStream(c.core, desc, cfg.method)
	}
	return c
}

// ---- test side: the server's half ----

// Respond queues responses for the code's Recv, in order. The first one
// sends the header if RespondHeader has not. On a method without server
// streaming, the one response is also the call's result, OK (see
// NewClientStream). Responding with nil or after Finish, or a second time
// on a method without server streaming (which has exactly one response),
// is a misuse: the stream fails
// every later operation with codes.FailedPrecondition naming it, the
// code's Recv and the test's Next included. Responses before the misuse
// stay queued, but a Recv returns the misuse first.
func (c *ClientStream[Req, Res]) Respond(res ...*Res) {
	if !c.usable() {
		return
	}
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, r := range res {
		switch {
		case !c.serverStreams && len(p.in.msgs) > 0:
			p.misuseLocked("Respond: a second response, but %s is not server-streaming: its call has exactly one response; respond once", p.cfg.method)
			return
		case c.finished:
			p.misuseLocked("Respond after Finish: the server half has ended; respond before Finish")
			return
		case r == nil:
			p.misuseLocked("Respond got a nil %T at position %d; respond with messages, and Finish to end the stream", r, i)
			return
		case untyped(r):
			p.misuseLocked("Respond got a %T with no message type at position %d; make it with dynamicpb.NewMessage", r, i)
			return
		}
		if c.sendErr != nil {
			continue // the code's stream has ended (a Send failed): nothing more reaches it, as from a real server
		}
		p.headerSent = true
		p.in.msgs = append(p.in.msgs, cloneMsg(r)) // the test may reuse r
		if !c.serverStreams {
			// The one response is the call's result: the code's Recv
			// returns it with OK whenever it comes, and Finish cannot
			// change that (but still ends the test's half, for Sends).
			c.responded = true
			p.in.closed = true
			p.in.err = nil
		}
	}
	p.broadcastLocked()
}

// RespondHeader sends the response header that the code's Header() returns
// (grpc's ClientStream interface takes the name Header). It returns an error
// if the header was already sent, by RespondHeader or by the first Respond,
// or the stream was finished, and for metadata a grpc-go server cannot
// send (a key not in [0-9a-z-_.], a value that is not printable ASCII under
// a key without -bin) or leaves out (a key gRPC reserves, such as
// content-type or grpc-status).
func (c *ClientStream[Req, Res]) RespondHeader(md metadata.MD) error {
	if !c.usable() {
		return errZeroClientStream
	}
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.bad != nil:
		return p.bad
	case p.headerSent:
		return errors.New("fakes: RespondHeader after the header was sent (by RespondHeader or the first Respond); a header is sent once")
	case c.finished:
		return errors.New("fakes: RespondHeader after Finish: send the header before finishing the stream")
	}
	if problem, _, _ := mdProblem(md); problem != "" {
		return errors.New("fakes: RespondHeader: " + problem + ": a grpc-go server cannot send it (its SendHeader fails)")
	}
	if problem := reservedProblem(md); problem != "" {
		return errors.New("fakes: RespondHeader: " + problem)
	}
	joinMD(&p.header, md)
	p.headerSent = true
	p.broadcastLocked()
	return nil
}

// RespondTrailer merges md into the trailer that the code's Trailer()
// returns once the stream has finished. It returns an error after Finish,
// on a method without server streaming after Respond, whose one response
// is the call's result (set the trailer first), for metadata gRPC
// refuses (as RespondHeader), which a grpc-go client would get as
// codes.Internal in place of the call's status, and for a key gRPC
// reserves or that carries the status (grpc-status,
// grpc-status-details-bin: give the status, with its details, to Finish).
func (c *ClientStream[Req, Res]) RespondTrailer(md metadata.MD) error {
	if !c.usable() {
		return errZeroClientStream
	}
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.bad != nil:
		return p.bad
	case !c.serverStreams && len(p.in.msgs) > 0:
		return fmt.Errorf("fakes: RespondTrailer after Respond: %s is not server-streaming, and its one response is the call's result; "+
			"set the trailer before Respond", p.cfg.method)
	case c.finished:
		return errors.New("fakes: RespondTrailer after Finish: set the trailer before finishing the stream")
	}
	if problem, key, inValue := mdProblem(md); problem != "" {
		return fmt.Errorf("fakes: RespondTrailer: %s: a grpc-go server sends it, and its client ends the call with codes.Internal (%s) in place of the status", problem, clientTrailerErr(key, inValue))
	}
	if problem := trailerProblem(md); problem != "" {
		return errors.New("fakes: RespondTrailer: " + problem)
	}
	joinMD(&p.trailer, md)
	return nil
}

// Finish ends the server's half: after the queued responses the code's Recv
// returns io.EOF (err == nil) or err. The error Recv returns reads as the
// status a real client gets from a handler that returned err (its text,
// status.Code and status.FromError: status errors are kept, a wrapped one
// keeps its code, an error type with a GRPCStatus method gives that
// status, context errors map to their codes, others become codes.Unknown),
// and errors.Is and errors.As find err in it, but for an err that is or
// wraps io.EOF or a context error: those would read as the end of the
// stream, or as the code's own cancel or deadline. A real client's error
// never holds the server's Go error, so code that must work against a
// real server should tell errors apart by status.Code. Only the first
// call counts.
//
// On a method without server streaming, Respond's one response is already
// the call's result, OK, and a Finish after it changes nothing the code's
// Recv returns (it still ends the test's half, for Sends as below); call
// Finish(err) instead of Respond to end the call with an error.
// Finish(nil) without a response gives the code codes.Internal (see
// NewClientStream).
//
// A real client's Sends after the server finished are either buffered or
// return io.EOF, depending on timing. The fake picks the answer that lets a
// test Respond and Finish up front: Sends are accepted until the code has
// received the end, or the one response of a method without server
// streaming (then they return io.EOF), except that a Send that would
// block (WithSendBuffer), or is blocked, returns io.EOF. A Send that returns
// io.EOF sent nothing: its request is not in Sent and Next never returns it.
func (c *ClientStream[Req, Res]) Finish(err error) {
	if !c.usable() {
		return
	}
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.finished {
		return
	}
	c.finished = true
	if !c.responded && c.sendErr == nil {
		p.in.closed = true
		p.in.err = rpcErr(err)
	}
	p.broadcastLocked()
}

// Sent returns a snapshot of every request the code sent so far, read by
// Next or not, in order. Each is a copy taken when it was sent. The request
// of a Send still blocked (WithSendBuffer) is included; that of a Send that
// failed (io.EOF) is not.
func (c *ClientStream[Req, Res]) Sent() []*Req {
	if !c.usable() {
		return nil
	}
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return snapshot[Req](&c.p.out)
}

// Closed reports whether the code called CloseSend (or CloseAndRecv).
func (c *ClientStream[Req, Res]) Closed() bool {
	if !c.usable() {
		return false
	}
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return c.closeSent
}

// Next waits for the next request the code sent that Next has not returned
// yet. Once every request was read and the code called CloseSend (or
// received the end of a finished stream, or the one response of a method
// without server streaming, after which it cannot send), it returns
// io.EOF; once the stream's context ended, its status; if ctx ends first,
// ctx.Err(). Reading releases a Send blocked by WithSendBuffer. A
// nil ctx is an error (codes.InvalidArgument); the stream is unchanged.
func (c *ClientStream[Req, Res]) Next(ctx context.Context) (*Req, error) {
	if !c.usable() {
		return nil, errZeroClientStream
	}
	if ctx == nil {
		return nil, nilContextErr("ClientStream.Next")
	}
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	m, err := p.takeLocked(ctx, &p.out, true, func() bool { return c.sawEnd || c.sendErr != nil })
	if err != nil {
		return nil, err
	}
	return cloneMsg(m.(*Req)), nil // Sent keeps the original
}

// ---- code side: grpc.ClientStream and the generic interfaces ----

// Send sends a request to the server (the test). See WithSendBuffer for
// when it blocks.
func (c *ClientStream[Req, Res]) Send(m *Req) error {
	if !c.usable() {
		return errZeroClientStream
	}
	if m == nil {
		return c.core.SendMsg(m) // rejected before it reaches a recorder
	}
	return c.cs.SendMsg(m)
}

// Recv returns the next response, io.EOF after Finish(nil) and the
// responses, Finish's error, or the context's status. It blocks until one
// of those. On a method without server streaming (see NewClientStream) it
// returns the one response as soon as it is queued (Finish's error instead
// if the stream finished with one before), and io.EOF after it.
func (c *ClientStream[Req, Res]) Recv() (*Res, error) {
	if !c.usable() {
		return nil, errZeroClientStream
	}
	m := new(Res)
	if err := c.cs.RecvMsg(m); err != nil {
		return nil, err
	}
	return m, nil
}

// CloseAndRecv half-closes the stream and returns the one response of a
// client-streaming call. A stream finished without a response is an error
// (codes.Internal), as in grpc.
func (c *ClientStream[Req, Res]) CloseAndRecv() (*Res, error) {
	if !c.usable() {
		return nil, errZeroClientStream
	}
	if err := c.cs.CloseSend(); err != nil {
		return nil, err
	}
	m, err := c.Recv()
	if !errors.Is(err, io.EOF) {
		return m, err
	}
	c.p.mu.Lock()
	received := c.received
	c.p.mu.Unlock()
	if received {
		return nil, io.EOF // a second CloseAndRecv, after the response: as grpc's
	}
	// A stream of a method the fake does not know to be client-streaming
	// (no WithMethod) finished without a response: grpc's client would
	// get codes.Internal, a cardinality violation.
	return nil, status.Error(codes.Internal, "fakes: CloseAndRecv: the stream finished (Finish(nil)) without a response; "+
		"Respond with one before Finish")
}

// Header waits for the response header: it returns what RespondHeader gave
// (nothing more if the first Respond sent the header) plus
// "content-type: application/grpc", as a grpc-go server always sends; or
// nil once the stream finished without a header or the context ended. A
// Recv that failed without ending the stream (WithFailAt, a message of the
// wrong type) does not end the wait.
func (c *ClientStream[Req, Res]) Header() (metadata.MD, error) {
	if !c.usable() {
		return nil, errZeroClientStream
	}
	c.core.waitHeader()
	return c.cs.Header() // through the recorder, if any, which records it
}

// Trailer returns the trailer set with RespondTrailer once the stream has
// finished, or on a method without server streaming once Recv has returned
// the one response; nil before.
func (c *ClientStream[Req, Res]) Trailer() metadata.MD {
	if !c.usable() {
		return nil
	}
	return c.cs.Trailer()
}

// CloseSend half-closes the stream: the test's Next returns io.EOF after the
// requests sent before. It always returns nil, as grpc's does.
func (c *ClientStream[Req, Res]) CloseSend() error {
	if !c.usable() {
		return errZeroClientStream
	}
	return c.cs.CloseSend()
}

// Context returns the stream's context: derived from the one given to
// NewClientStream, and canceled, as a real stream's, once the code has
// received the end of the call (Recv returned io.EOF or the call's error,
// or the one response of a method without server streaming), or a Send
// ended the stream. An error WithFailAt injects is not the end: the
// stream stays usable.
func (c *ClientStream[Req, Res]) Context() context.Context {
	if !c.usable() {
		return canceledContext
	}
	return c.view
}

// SendMsg is Send for a message given as any; it must be a *Req.
func (c *ClientStream[Req, Res]) SendMsg(m any) error {
	if !c.usable() {
		return errZeroClientStream
	}
	return c.cs.SendMsg(m)
}

// RecvMsg is Recv into m, which must be a *Res.
func (c *ClientStream[Req, Res]) RecvMsg(m any) error {
	if !c.usable() {
		return errZeroClientStream
	}
	return c.cs.RecvMsg(m)
}

// clientCore implements grpc.ClientStream on the pipe; a recorder wraps it.
type clientCore[Req, Res any] struct{ c *ClientStream[Req, Res] }

// Context is the context a recorder's wrapper watches for the end of
// the call: the context the stream was made with, as grpc's interceptors
// get the call's (ClientStream.Context, which the code sees, also ends
// when the stream does, as a real stream's).
func (k *clientCore[Req, Res]) Context() context.Context { return k.c.p.ctx }

func (k *clientCore[Req, Res]) SendMsg(m any) error {
	c, p := k.c, k.c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	ends, err := k.sendLocked(m)
	if err != nil && ends && c.sendErr == nil {
		// grpc's SendMsg ends the stream with the errors of its own (but
		// io.EOF, which says the status is for RecvMsg): RecvMsg returns
		// what was received, then this error, and the stream's context
		// ends. The fake's stricter checks (a nil message, a proto of
		// another type, which grpc sends) and an error WithFailAt injects
		// (one of a stream further in) end nothing.
		c.sendErr = err
		if !p.in.closed {
			p.in.closed = true
			p.in.err = err
		}
		c.cancelView()
		p.broadcastLocked()
	}
	return err
}

// sendLocked is SendMsg; ends says that err is an error grpc's SendMsg
// ends the stream with.
func (k *clientCore[Req, Res]) sendLocked(m any) (ends bool, err error) {
	c, p := k.c, k.c.p
	if err := p.beginLocked(); err != nil {
		return false, err
	}
	req, ok := m.(*Req)
	if !ok {
		_, isProto := m.(proto.Message)
		return !isProto, typeErr("SendMsg", m, (*Req)(nil)) // grpc's codec cannot marshal it
	}
	if req == nil {
		return false, nilErr("Send", req)
	}
	if untyped(req) {
		return false, untypedErr("Send", req)
	}
	if p.out.closed { // checked first, as grpc's does
		return true, status.Error(codes.Internal, "fakes: SendMsg called after CloseSend")
	}
	if p.ctx.Err() != nil {
		return false, c.contextEOF()
	}
	// After Finish, a Send that would block, or that comes after the code saw
	// the end (or after a Send ended the stream), returns io.EOF as grpc's
	// does: the status is for Recv to report.
	if c.sawEnd || c.sendErr != nil || (c.finished && p.cfg.buffer >= 0 && p.out.unread() >= p.cfg.buffer) {
		return false, io.EOF
	}
	if !c.clientStreams {
		p.out.closed = true // the one request ends the requests, as grpc's SendMsg ends them
	}
	err = p.putLocked(&p.out, cloneMsg(req), func() error {
		if c.finished || c.sawEnd || c.sendErr != nil {
			return io.EOF
		}
		return nil
	})
	if err != nil && p.bad == nil && p.ctx.Err() != nil {
		return false, c.contextEOF() // a blocked Send the context ended, as above
	}
	return false, err
}

// contextEOF is what Send returns once the stream's context has ended:
// io.EOF, as grpc's, whose status is for Recv to report. It returns once
// Context (derived from the stream's context) has ended too: the context
// package closes a parent's Done before it cancels the children, and code
// (a recorder) that sees the Send fail may look at Context at once.
func (c *ClientStream[Req, Res]) contextEOF() error {
	<-c.view.Done()
	return io.EOF
}

func (k *clientCore[Req, Res]) RecvMsg(m any) error {
	c, p := k.c, k.c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.beginLocked(); err != nil {
		return err
	}
	dst, ok := m.(*Res)
	if !ok {
		return typeErr("RecvMsg", m, (*Res)(nil))
	}
	if dst == nil {
		return nilErr("RecvMsg", dst)
	}
	if c.callEndedLocked() {
		return io.EOF // the one response ended the call, as in grpc
	}
	v, err := p.takeLocked(p.ctx, &p.in, false, nil)
	if err != nil {
		if p.bad == nil {
			c.cancelView() // the call is over, as grpc's ends it
		}
		if p.ctx.Err() == nil && p.bad == nil {
			c.sawEnd = true // the end Finish queued
		}
		if errors.Is(err, io.EOF) && !c.serverStreams {
			return status.Errorf(codes.Internal, "fakes: cardinality violation: the stream finished (Finish(nil)) without a response, "+
				"but %s is not server-streaming: Respond with its one response before Finish", p.cfg.method)
		}
		return err
	}
	if !c.serverStreams {
		// The one response ends the call (Respond makes a second one a
		// misuse). If Finish has already ended the stream with an error,
		// that is the call's status, which grpc's returns instead.
		c.sawEnd = true
		c.cancelView()
		if p.in.closed && p.in.err != nil {
			return p.in.err
		}
	}
	c.received = true
	return copyMsg(dst, v.(*Res))
}

func (k *clientCore[Req, Res]) CloseSend() error {
	p := k.c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bad != nil {
		return p.bad
	}
	k.c.closeSent = true
	p.out.closed = true
	p.broadcastLocked()
	return nil
}

// waitHeader waits until Header has its answer: the header was sent, the
// stream finished, its context ended or the stream was misused.
func (k *clientCore[Req, Res]) waitHeader() {
	c, p := k.c, k.c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.bad == nil && !p.headerSent && !c.finished && c.sendErr == nil && p.ctx.Err() == nil {
		_ = p.waitLocked(p.ctx)
	}
}

// Header returns the header if it was sent, nil if not, without waiting:
// ClientStream.Header waits first. A recorder calls it after every RecvMsg
// until it has the header, and must not block after a RecvMsg that failed
// without ending the stream (which a real stream's RecvMsg never does).
func (k *clientCore[Req, Res]) Header() (metadata.MD, error) {
	p := k.c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.bad != nil:
		return nil, p.bad
	case !p.headerSent:
		return nil, nil
	}
	md := withContentType(p.header)
	return md, nil
}

func (k *clientCore[Req, Res]) Trailer() metadata.MD {
	c, p := k.c, k.c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if !c.finished && !c.callEndedLocked() {
		return nil
	}
	if !p.headerSent {
		// A trailers-only response (no header, no message): grpc-go's
		// server puts its content-type there, and the client's Trailer
		// shows it.
		return withContentType(p.trailer)
	}
	return p.trailer.Copy()
}

// withContentType returns a copy of md with the content-type every
// grpc-go server sends, unless md has one.
func withContentType(md metadata.MD) metadata.MD {
	md = md.Copy()
	if len(md.Get("content-type")) == 0 {
		md.Set("content-type", "application/grpc")
	}
	return md
}
