package grpctest

// What the harness tracks, and how: running handlers and the goroutine
// labels of the server side (server interceptors), open client streams and
// the labels of the client side (client interceptors and stream wrapper),
// bufconn connections (for Disconnect), and the open harnesses of each
// test (for Pending and the assertions).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/internal/goid"
	"github.com/streamtest/streamtest/recorder"
)

// handlerBegin counts a handler of method as running and labels its
// goroutine; it returns what handlerEnd needs to undo that, and
// the handler's context with the harness's labels added, so that pprof.Do
// in the handler (which sets the goroutine's labels from its context, and
// restores them from it) keeps them.
func (s *Server) handlerBegin(ctx context.Context, method string) (context.Context, handlerRun) {
	run := handlerRun{method: method, goid: goid.ID()}
	s.mu.Lock()
	if s.running == 0 {
		s.idle = make(chan struct{})
	}
	s.running++
	s.handlers[method]++
	if s.handlerGoroutines == nil {
		s.handlerGoroutines = make(map[uint64]string)
	}
	s.handlerGoroutines[run.goid] = method
	s.mu.Unlock()
	labels := pprof.Labels(labelHarness, s.id, labelSide, "server", labelMethod, method)
	run.saved = swapLabels(pprof.WithLabels(s.serverLabels, labels))
	return pprof.WithLabels(ctx, labels), run
}

// handlerRun is what handlerBegin hands to handlerEnd: the method, the
// handler's goroutine (its ID is read once: reading it costs a traceback)
// and the labels that goroutine had before.
type handlerRun struct {
	method string
	goid   uint64
	saved  savedLabels
}

// handlerEnd undoes handlerBegin, on the same goroutine.
func (s *Server) handlerEnd(run handlerRun) {
	run.saved.restore()
	s.mu.Lock()
	delete(s.handlerGoroutines, run.goid)
	s.handlers[run.method]--
	s.running--
	if s.running == 0 {
		close(s.idle)
	}
	s.mu.Unlock()
}

// unaryServerInterceptor and streamServerInterceptor count running handlers
// by method and label the handler goroutine with its method, so goroutines
// a handler starts are attributed to it. They and the functions that run
// the handler (runUnary, runStream) are listed in handlerFrames (leak.go).
//
// They recover a handler's panic, which would otherwise crash the test
// binary and lose every other test's result: the client gets Internal,
// and Close reports the panic with its stack. They run the handler on a
// goroutine of their own and wait for it, so that a handler that ends its
// goroutine with runtime.Goexit (t.FailNow, t.Fatal or a testify require
// in a handler) still ends its call, with Internal: gRPC writes a call's
// status on the goroutine that called the handler, and without it the
// client would wait until its context ended.
//
// Neither when an interceptor runs outside theirs (one set with
// grpc.UnaryInterceptor or grpc.StreamInterceptor, which gRPC runs before
// every chained one): that may be the service's own recovery, under test,
// so the handler runs on gRPC's goroutine, as without the harness, and its
// panic goes on to that interceptor untouched (with its stack; an
// interceptor that locks its goroutine to an OS thread keeps the handler
// on it).
func (s *Server) unaryServerInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if s.outerInterceptor(&s.outerUnary, "unaryServerInterceptor", "getChainUnaryHandler") {
		ctx, hr := s.handlerBegin(ctx, info.FullMethod)
		defer s.handlerEnd(hr)
		returned := false
		defer s.outerExit(info.FullMethod, &returned)
		resp, err := handler(ctx, req)
		returned = true
		return resp, err
	}
	var run handlerOutcome
	done := make(chan struct{})
	go s.runUnary(ctx, req, info.FullMethod, handler, &run, done)
	<-done
	if !run.returned {
		return nil, run.status(info.FullMethod)
	}
	return run.resp, run.err
}

func (s *Server) streamServerInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if s.outerInterceptor(&s.outerStream, "streamServerInterceptor", "getChainStreamHandler") {
		ctx, hr := s.handlerBegin(ss.Context(), info.FullMethod)
		defer s.handlerEnd(hr)
		returned := false
		defer s.outerExit(info.FullMethod, &returned)
		ls := &labelledServerStream{ServerStream: ss, ctx: ctx, s: s, method: info.FullMethod}
		defer ls.ended.Store(true)
		err := handler(srv, ls)
		returned = true
		return err
	}
	var run handlerOutcome
	done := make(chan struct{})
	go s.runStream(srv, ss, info.FullMethod, handler, &run, done)
	<-done
	if !run.returned {
		return run.status(info.FullMethod)
	}
	return run.err
}

// outerInterceptor reports whether an interceptor runs outside the
// harness's interceptor named method (gRPC's chain calls it through
// chain): read from the stack on the first call, kept in *known (0: not
// known yet, 1: no, 2: yes). A server's interceptors never change.
func (s *Server) outerInterceptor(known *atomic.Int32, method, chain string) bool {
	switch known.Load() {
	case 1:
		return false
	case 2:
		return true
	}
	outer := calledByChain(method, chain)
	if outer {
		known.Store(2)
	} else {
		known.Store(1)
	}
	return outer
}

// outerExit, deferred when the handler runs on gRPC's goroutine (an
// interceptor runs outside the harness's), lets a panic of the handler of
// method go on to that interceptor, raised again where it was stopped, so
// that the handler's frames are still on the stack it sees. A Goexit
// (t.FailNow in the handler) cannot be stopped: gRPC sends the client no
// status, and Close reports it.
func (s *Server) outerExit(method string, returned *bool) {
	if *returned {
		return
	}
	if p := recover(); p != nil {
		panic(p)
	}
	s.mu.Lock()
	s.panics = append(s.panics, handlerPanic{method: method,
		what:   goexitWhat,
		client: "gRPC sent the client no status: with an interceptor outside the harness's (grpc.UnaryInterceptor or grpc.StreamInterceptor), the handler runs on gRPC's goroutine, which Goexit ended; the call waited for its context",
		stack:  panicStack()})
	s.mu.Unlock()
}

// panicStack returns the stack of the calling goroutine, a deferred call
// that recovers, from the panic (or the Goexit) on, without the frames
// that dispatch a call to its handler.
func panicStack() string {
	stack := string(debug.Stack())
	// The frames above the panic are the caller's, which recovers.
	if i := strings.Index(stack, "\npanic("); i >= 0 {
		stack = stack[i+1:]
	} else if i := strings.Index(stack, "\nruntime.Goexit("); i >= 0 {
		stack = stack[i+1:]
	}
	return strings.Join(elideDispatch(strings.Split(stack, "\n")), "\n")
}

// goexitWhat is what a handler that ended without returning or a panic
// value did, for the reports of keepPanic and outerExit.
const goexitWhat = "did not return: it called runtime.Goexit (t.FailNow, t.Fatal or a testify require in a handler?) or panicked with nil"

// handlerOutcome is how a handler run by runUnary or runStream ended.
type handlerOutcome struct {
	returned bool
	resp     any
	err      error
	what     string // if it did not return: "panicked: ...", or what else happened
}

// status is the call's status when the handler did not return.
func (run *handlerOutcome) status(method string) error {
	return status.Errorf(codes.Internal, "grpctest: the handler of %s %s (the harness reports it with its stack when it closes)", method, run.what)
}

// runUnary runs a unary handler for unaryServerInterceptor, on a goroutine
// of its own, and closes done when the handler has returned, panicked or
// ended the goroutine.
func (s *Server) runUnary(ctx context.Context, req any, method string, handler grpc.UnaryHandler, run *handlerOutcome, done chan<- struct{}) {
	defer close(done)
	ctx, hr := s.handlerBegin(ctx, method)
	defer s.handlerEnd(hr)
	defer s.keepPanic(method, run)
	run.resp, run.err = handler(ctx, req)
	run.returned = true
}

// runStream is runUnary for streamServerInterceptor.
func (s *Server) runStream(srv any, ss grpc.ServerStream, method string, handler grpc.StreamHandler, run *handlerOutcome, done chan<- struct{}) {
	defer close(done)
	ctx, hr := s.handlerBegin(ss.Context(), method)
	defer s.handlerEnd(hr)
	defer s.keepPanic(method, run)
	ls := &labelledServerStream{ServerStream: ss, ctx: ctx, s: s, method: method}
	defer ls.ended.Store(true)
	run.err = handler(srv, ls)
	run.returned = true
}

// keepPanic, deferred by runUnary and runStream, stops a panic of the
// handler of method and keeps it, with its stack, for Close to report:
// before the handler counts as ended (handlerEnd), so that a Close
// waiting for it finds the panic. A nil panic value is runtime.Goexit
// (which goes on ending the goroutine), or panic(nil) under
// GODEBUG=panicnil=1, which recover has stopped: reported alike.
func (s *Server) keepPanic(method string, run *handlerOutcome) {
	if run.returned {
		return
	}
	p := recover()
	stack := panicStack()
	run.what = fmt.Sprintf("panicked: %v", p)
	if p == nil {
		run.what = goexitWhat
	}
	s.mu.Lock()
	s.panics = append(s.panics, handlerPanic{method: method, what: run.what, client: "the client got Internal", stack: stack})
	s.mu.Unlock()
}

// calledByChain reports whether the harness's interceptor method (named
// by method) was called by gRPC's chain on behalf of an interceptor that
// runs before it (chain names the closure that does that): read from the
// stack, once per server (see outerInterceptor).
func calledByChain(method, chain string) bool {
	pcs := make([]uintptr, 128)
	n := runtime.Callers(2, pcs)
	for n == len(pcs) { // a deep panic: the harness's frame is further down
		pcs = make([]uintptr, 2*len(pcs))
		n = runtime.Callers(2, pcs)
	}
	frames := runtime.CallersFrames(pcs[:n])
	own := "github.com/streamtest/streamtest/grpctest.(*Server)." + method
	isOwn := func(fn string) bool { return fn == own || fn == own+"-fm" } // the method, or its method-value wrapper
	for {
		f, more := frames.Next()
		if isOwn(f.Function) {
			for more {
				f, more = frames.Next()
				if !isOwn(f.Function) {
					return strings.Contains(f.Function, chain)
				}
			}
			return false
		}
		if !more {
			return false
		}
	}
}

// handlerPanic is a handler's panic, for Close to report.
type handlerPanic struct {
	method string
	what   string // "panicked: <value>", or what else happened
	client string // what the client got
	stack  string
}

// reportPanics reports the handlers' panics that keepPanic kept.
func (s *Server) reportPanics() {
	s.t.Helper()
	s.mu.Lock()
	panics := s.panics
	s.panics = nil
	s.mu.Unlock()
	for _, p := range panics {
		s.rt.Errorf("grpctest: the handler of %s %s\n(%s)\n%s", p.method, p.what, p.client, p.stack)
	}
}

type labelledServerStream struct {
	grpc.ServerStream
	ctx    context.Context
	s      *Server
	method string
	ended  atomic.Bool // the handler has returned (or panicked, or called Goexit)
}

func (ss *labelledServerStream) Context() context.Context { return ss.ctx }

// SendMsg, SendHeader, SetHeader and SetTrailer note, WithLateSendCheck, a
// call made late: after the handler ended (by a goroutine it started and
// left the stream to) and gRPC ended the call (the stream's context is
// done), for Close to report: gRPC writes the call's status when the
// handler returns, so what is sent or set then is lost. A call in the
// moment between the two may have been in time, and is not noted. RecvMsg
// is not checked: a reader goroutine whose Recv fails once the handler has
// returned loses nothing.

func (ss *labelledServerStream) SendMsg(m any) error {
	if ss.late() {
		ss.s.usedAfterReturn(ss.method, "Send")
	}
	return ss.ServerStream.SendMsg(m)
}

func (ss *labelledServerStream) SendHeader(md metadata.MD) error {
	if ss.late() {
		ss.s.usedAfterReturn(ss.method, "SendHeader")
	}
	return ss.ServerStream.SendHeader(md)
}

func (ss *labelledServerStream) SetHeader(md metadata.MD) error {
	if ss.late() {
		ss.s.usedAfterReturn(ss.method, "SetHeader")
	}
	return ss.ServerStream.SetHeader(md)
}

func (ss *labelledServerStream) SetTrailer(md metadata.MD) {
	if ss.late() {
		ss.s.usedAfterReturn(ss.method, "SetTrailer")
	}
	ss.ServerStream.SetTrailer(md)
}

// late reports whether, WithLateSendCheck, the handler has ended and gRPC
// has ended its call.
func (ss *labelledServerStream) late() bool {
	return ss.s.cfg.lateSends && ss.ended.Load() && ss.ctx.Err() != nil
}

// maxLateUses bounds the late calls a harness keeps (with their stacks)
// for Close to report; it counts the rest.
const maxLateUses = 5

// lateUse is a call on the stream of a handler that had ended, and how
// many calls alike (the same operation, method and stack) were made.
type lateUse struct {
	method, op string
	stack      string // of the goroutine that made the call, from its caller on
	n          int
}

// usedAfterReturn notes a late call op on a stream of method, made by the
// calling goroutine, for Close to report: counted with a call alike, or
// kept if there is room, or counted.
func (s *Server) usedAfterReturn(method, op string) {
	u := lateUse{method: method, op: op, stack: callerStack(), n: 1}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lateUseCount++
	for i := range s.lateUses {
		if k := &s.lateUses[i]; k.method == u.method && k.op == u.op && k.stack == u.stack {
			k.n++
			return
		}
	}
	if len(s.lateUses) < maxLateUses {
		s.lateUses = append(s.lateUses, u)
	}
}

// callerStack returns the stack of the calling goroutine from the frame
// that called the stream on: without the goroutine's header line and the
// frames of debug.Stack, the harness, the recorder, gRPC's stream wrappers
// and any other stream wrapper's methods (an interceptor's, the fakes'
// faults), a function line and its file line each.
func callerStack() string {
	lines := strings.Split(strings.TrimRight(string(debug.Stack()), "\n"), "\n")[1:]
	for len(lines) >= 2 && (strings.HasPrefix(lines[0], "runtime/debug.") ||
		strings.HasPrefix(lines[0], "github.com/streamtest/streamtest/grpctest.") ||
		strings.HasPrefix(lines[0], "github.com/streamtest/streamtest/recorder.") ||
		strings.HasPrefix(lines[0], "google.golang.org/grpc.") ||
		streamMethodFrame.MatchString(lines[0])) {
		lines = lines[2:]
	}
	return strings.Join(lines, "\n")
}

// streamMethodFrame matches the function line of a stream wrapper's method
// that passes a call on: "pkg.(*wrapper).SendMsg(...)", "pkg.w.SetTrailer(...)".
var streamMethodFrame = regexp.MustCompile(`\.(SendMsg|SendHeader|SetHeader|SetTrailer)\(`)

// reportLateUses reports the calls on ended handlers' streams.
func (s *Server) reportLateUses() {
	s.t.Helper()
	s.mu.Lock()
	uses, n := s.lateUses, s.lateUseCount
	s.lateUses, s.lateUseCount = nil, 0
	s.mu.Unlock()
	if n == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "grpctest: %d call(s) on the stream of a handler that had returned, made after gRPC had ended the call (WithLateSendCheck): "+
		"gRPC writes the call's status when the handler returns, so what was sent (or set) on the stream then was lost; "+
		"keep the handler running until the goroutines that use its stream are done: have it wait for them (a sync.WaitGroup, an errgroup) before it returns "+
		"(the stream's context is done only after the handler returns)", n)
	shown := 0
	for _, u := range uses {
		times := ""
		if u.n > 1 {
			times = fmt.Sprintf(" (%d times)", u.n)
		}
		fmt.Fprintf(&b, "\n%s on the stream of %s, after its handler returned%s, by:\n  %s", u.op, u.method, times, strings.ReplaceAll(u.stack, "\n", "\n  "))
		shown += u.n
	}
	if n > shown {
		fmt.Fprintf(&b, "\n… and %d more such call(s)", n-shown)
	}
	s.rt.Errorf("%s", b.String())
}

// unaryClientInterceptor and streamClientInterceptor label the calling
// goroutine while gRPC starts the call, so that what gRPC starts on it (a
// reconnect after Disconnect, a stream's watcher goroutine) carries the
// harness label. Afterwards the caller gets back exactly the labels it had
// (swapLabels), whatever ctx carries: a goroutine given a handler's context
// does not take the handler's label, and a handler that calls out with a
// context of its own keeps its label.
func (s *Server) unaryClientInterceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	defer swapLabels(s.clientLabels).restore()
	return invoker(ctx, method, req, reply, cc, opts...)
}

func (s *Server) streamClientInterceptor(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	cs, err := func() (grpc.ClientStream, error) {
		defer swapLabels(s.clientLabels).restore() // a panic too gives the caller its labels back
		return streamer(ctx, desc, cc, method, opts...)
	}()
	if err != nil {
		return nil, err
	}
	var deadline time.Time
	if t := cc.GetMethodConfig(method).Timeout; t != nil && *t >= 0 {
		// The service config's: gRPC ends the stream then. Counted from
		// now, after gRPC started counting, so never earlier than gRPC's:
		// a stream is not taken for finished while it is open.
		deadline = time.Now().Add(*t)
	}
	ts := &trackedStream{ClientStream: cs, s: s, cc: cc, ctx: ctx, method: method, origin: callSite(), serverStreams: desc.ServerStreams, clientStreams: desc.ClientStreams, deadline: deadline}
	_, ts.handlerCtx = pprof.Label(ctx, labelMethod)
	id, _ := pprof.Label(ctx, labelHarness)
	ts.otherHarness = ts.handlerCtx && id != s.id
	s.mu.Lock()
	ts.disconnects = len(s.drops)
	s.streams[ts] = struct{}{}
	s.mu.Unlock()
	return ts, nil
}

// pastDeadline reports whether the deadline the service config gives the
// stream has passed: by the clock, or, as gRPC counts it from slightly
// earlier, by the stream's own context, which gRPC ends then. (Reading
// that context commits the call to its attempt, which no longer matters
// at Close.)
func (ts *trackedStream) pastDeadline() bool {
	if ts.deadline.IsZero() {
		return false
	}
	return !time.Now().Before(ts.deadline) || ts.ClientStream.Context().Err() != nil
}

func (s *Server) openStreams() []*trackedStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	var open []*trackedStream
	for ts := range s.streams {
		if ts.ctx.Err() == nil && !ts.done.Load() && !ts.pastDeadline() && ts.cc.GetState() != connectivity.Shutdown {
			open = append(open, ts)
		}
	}
	return open
}

// withoutDeadlineEnds drops from open the streams whose service-config
// deadline the harness's recorder saw pass (a client End with
// DeadlineExceeded): the recorder counts that deadline from before the
// call started and the stream's deadline from after, so a test that
// waited for the recorded End may get to Close a moment before gRPC's own
// timer ends the stream. That moment is waited for (it has come by the
// stream's deadline).
func (s *Server) withoutDeadlineEnds(open []*trackedStream) []*trackedStream {
	if s.rec == nil {
		return open
	}
	var ended map[uint64]bool // calls with a client End DeadlineExceeded
	return slices.DeleteFunc(open, func(ts *trackedStream) bool {
		if ts.deadline.IsZero() {
			return false
		}
		id, ok := s.rec.CallID(ts.ClientStream.Context())
		if !ok {
			return false
		}
		if ended == nil {
			ended = make(map[uint64]bool)
			for _, e := range s.rec.Events() {
				if e.Side == recorder.Client && e.Kind == recorder.End && status.Code(e.Err) == codes.DeadlineExceeded {
					ended[e.CallID] = true
				}
			}
		}
		if !ended[id] {
			return false
		}
		timer := time.NewTimer(time.Until(ts.deadline))
		defer timer.Stop()
		select {
		case <-ts.ClientStream.Context().Done():
		case <-timer.C:
		}
		return true
	})
}

// trackedStream follows one client stream until it is finished in one of
// the ways gRPC documents as releasing its resources: RecvMsg returned an
// error (io.EOF included), a call without server streaming received its
// response, SendMsg or Header returned an error other than io.EOF, or its
// context ended, the deadline the service config gives it passed, or its
// ClientConn was closed (checked at Close, before Close closes the
// connections).
type trackedStream struct {
	grpc.ClientStream
	s             *Server
	cc            *grpc.ClientConn
	ctx           context.Context
	method        string
	origin        string
	serverStreams bool
	// handlerCtx: ctx is (or derives from) the context of a handler of a
	// harness, which gRPC cancels when the handler returns.
	handlerCtx bool
	// otherHarness: that handler is another harness's.
	otherHarness bool
	// deadline is the one the service config's "timeout" gives the call,
	// if any: once it has passed, gRPC has ended and released the stream.
	deadline time.Time
	// disconnects is the number of Disconnect calls before the stream
	// opened: a larger number at Close means its connection was dropped.
	disconnects int
	done        atomic.Bool
	// clientStreams: the method is client-streaming; halfClosed: the
	// client called CloseSend (for Close's report of a stream left open).
	clientStreams bool
	halfClosed    atomic.Bool
	// callID is the id the harness's recorder gave the stream's call (0
	// if none), set by serverEnds for Close's report.
	callID uint64
}

// CloseSend notes the half-close, for Close's report of streams left open.
func (ts *trackedStream) CloseSend() error {
	ts.halfClosed.Store(true)
	return ts.ClientStream.CloseSend()
}

func (ts *trackedStream) finish() {
	if ts.done.CompareAndSwap(false, true) {
		ts.s.mu.Lock()
		delete(ts.s.streams, ts)
		ts.s.mu.Unlock()
	}
}

// The stream methods label the calling goroutine like the interceptors do,
// and restore its own labels the same way: a transparent retry picks a
// transport, and may reconnect, inside them.

// inLabels runs f with the harness's client labels, and gives the calling
// goroutine its own back when f returns or panics.
func (ts *trackedStream) inLabels(f func() error) error {
	defer swapLabels(ts.s.clientLabels).restore()
	return f()
}

func (ts *trackedStream) RecvMsg(m any) error {
	err := ts.inLabels(func() error { return ts.ClientStream.RecvMsg(m) })
	if err != nil || !ts.serverStreams {
		ts.finish()
	}
	return err
}

func (ts *trackedStream) SendMsg(m any) error {
	err := ts.inLabels(func() error { return ts.ClientStream.SendMsg(m) })
	if err != nil && !errors.Is(err, io.EOF) {
		ts.finish()
	}
	return err
}

func (ts *trackedStream) Header() (metadata.MD, error) {
	var md metadata.MD
	err := ts.inLabels(func() (err error) {
		md, err = ts.ClientStream.Header()
		return err
	})
	if err != nil {
		ts.finish()
	}
	return md, err
}

// ---- connection tracking, for Disconnect

// dial connects a client connection of the harness (owner) to the server.
func (s *Server) dial(ctx context.Context, owner *clientRef) (net.Conn, error) {
	owner.dialed.Store(true)
	c, err := s.lis.DialContext(ctx)
	if err != nil {
		return nil, err
	}
	return s.track(c, false), nil
}

// clientRef is a ClientConn of the harness (set once grpc.NewClient has
// returned it) and whether it has dialed through the harness, for
// Disconnect.
type clientRef struct {
	cc     atomic.Pointer[grpc.ClientConn]
	dialed atomic.Bool
}

func (s *Server) track(c net.Conn, accepted bool) *trackedConn {
	tc := &trackedConn{Conn: c, s: s, released: make(chan struct{}), accepted: accepted}
	s.mu.Lock()
	s.netConns[tc] = struct{}{}
	s.mu.Unlock()
	return tc
}

// trackedConn is one end of a connection to the harness, tracked for
// Disconnect.
// released is closed when its owner (a gRPC transport) closes it.
type trackedConn struct {
	net.Conn
	s        *Server
	once     sync.Once
	released chan struct{}
	accepted bool // the server's end; else the end of a client of the harness
}

func (c *trackedConn) untrack() {
	c.s.mu.Lock()
	delete(c.s.netConns, c)
	c.s.mu.Unlock()
}

// drop closes the connection under its owner's feet.
func (c *trackedConn) drop() {
	c.untrack()
	c.Conn.Close()
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.untrack()
		close(c.released)
	})
	return c.Conn.Close()
}

// listener is what the harness listens on and dials: a bufconn.Listener,
// or a tcpListener.
type listener interface {
	net.Listener
	DialContext(ctx context.Context) (net.Conn, error)
}

// tcpListener is a TCP listener that dials itself.
type tcpListener struct{ net.Listener }

func (l tcpListener) DialContext(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", l.Addr().String())
}

type trackingListener struct {
	listener
	s *Server
}

// Close is called by gRPC when the server stops (Stop, GracefulStop).
func (l *trackingListener) Close() error {
	l.s.stopped.Store(true)
	return l.listener.Close()
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.s.track(c, true), nil
}

// ---- the open harnesses of each test, so Pending and the assertions can
// find the harness of their test.

var registry struct {
	sync.Mutex
	open []*Server
}

func addOpen(s *Server) {
	registry.Lock()
	registry.open = append(registry.open, s)
	registry.Unlock()
}

func removeOpen(s *Server) {
	registry.Lock()
	defer registry.Unlock()
	for i, o := range registry.open {
		if o == s {
			registry.open = slices.Delete(registry.open, i, i+1) // clears the freed slot: a closed harness is not kept
			return
		}
	}
}

// harnessesOf returns the open harnesses built with t, oldest first.
func harnessesOf(t testing.TB) []*Server {
	registry.Lock()
	defer registry.Unlock()
	var out []*Server
	for _, s := range registry.open {
		if sameTB(s.t, t) {
			out = append(out, s)
		}
	}
	return out
}

// testHarnesses returns the open harnesses of t (harnessesOf), or if it
// has none, those of the test of its name or of the nearest enclosing test
// (harnessesOfEnclosing): a subtest using its parent's harness.
func testHarnesses(t testing.TB) []*Server {
	if hs := harnessesOf(t); len(hs) > 0 {
		return hs
	}
	return harnessesOfEnclosing(t)
}

// testRecorders returns the recorders of t's harnesses (testHarnesses),
// each once (harnesses may share one: WithRecorder), oldest first.
func testRecorders(t testing.TB) []*recorder.Recorder {
	var recs []*recorder.Recorder
	for _, s := range testHarnesses(t) {
		if s.rec != nil && !slices.Contains(recs, s.rec) {
			recs = append(recs, s.rec)
		}
	}
	return recs
}

// harnessesOfEnclosing returns the open harnesses built with the test of
// t's name (with another testing.TB, such as a wrapper around t), or else
// with the nearest test that encloses t and has any (t's name continues
// that test's after a "/"), oldest first. Names are all it has to go by: a
// subtest whose own name holds a "/" ("a/b") reads as a child of a sibling
// named "a", and gets that sibling's harnesses if it has any open.
func harnessesOfEnclosing(t testing.TB) []*Server {
	name := testName(t)
	if name == "" {
		return nil
	}
	registry.Lock()
	defer registry.Unlock()
	var out []*Server
	nearest := ""
	for _, s := range registry.open {
		if s.name == "" || !(s.name == name || strings.HasPrefix(name, s.name+"/")) || len(s.name) < len(nearest) {
			continue
		}
		if len(s.name) > len(nearest) {
			nearest, out = s.name, out[:0]
		}
		out = append(out, s)
	}
	return out
}

// testName returns t.Name(), or "" for a TB that cannot give one (a
// wrapper around a nil TB).
func testName(t testing.TB) (name string) {
	defer func() {
		if recover() != nil {
			name = ""
		}
	}()
	return t.Name()
}

// sameTB compares two testing.TB values without panicking on a TB whose
// dynamic type is not comparable.
func sameTB(a, b testing.TB) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

// inHandler returns the method of this harness's handler running on the
// calling goroutine, if any.
func (s *Server) inHandler() (string, bool) {
	id := goid.ID()
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.handlerGoroutines[id]
	return m, ok
}
