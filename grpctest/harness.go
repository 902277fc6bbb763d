package grpctest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/streamtest/streamtest/internal/goid"
	"github.com/streamtest/streamtest/internal/shown"
	"github.com/streamtest/streamtest/internal/timeoutwarn"
	"github.com/streamtest/streamtest/internal/tlwindow"
	"github.com/streamtest/streamtest/recorder"
)

// Target is the address every harness connection dials. The passthrough
// scheme hands it unchanged to the harness's bufconn dialer.
const Target = "passthrough:///bufnet"

// Server is an in-process gRPC server on a bufconn listener with a client
// connection to it, the pair a test needs in one value. Build it with
// NewServer; it closes itself when the test ends.
type Server struct {
	t    testing.TB
	name string // t's, for the timelines of its subtests' failures
	cfg  *config
	id   string // value of the harness label

	// afterStop, if set (by a test of this package), runs in Close after
	// Stop, before Close waits for the handlers still running.
	afterStop func()

	lis       listener
	srv       *grpc.Server
	conn      *grpc.ClientConn
	rec       *recorder.Recorder
	serveDone chan error
	// rt is the t of Close's reports (see closeReport), set by close.
	rt *closeReport
	// Whether an interceptor runs outside the harness's unary and stream
	// interceptors (see outerInterceptor).
	outerUnary, outerStream atomic.Int32
	stopped                 atomic.Bool  // gRPC closed the listener: the server is stopped
	owners                  []*clientRef // of every ClientConn of the harness (under mu)

	// Label contexts: every goroutine the harness starts carries one of
	// these label sets, and goroutines inherit them (see leak.go).
	serverLabels context.Context
	clientLabels context.Context

	mu       sync.Mutex
	closed   bool
	dialed   []*grpc.ClientConn
	netConns map[*trackedConn]struct{}
	streams  map[*trackedStream]struct{}
	handlers map[string]int // running handlers by full method
	// handlerGoroutines maps the goroutines running this harness's handlers
	// to their methods (see Close).
	handlerGoroutines map[uint64]string
	running           int
	idle              chan struct{} // closed while running == 0
	// drops has one entry per Disconnect call: when it was called, so
	// that check (a) can tell a stream whose connection was dropped after
	// it opened, and whether the server had ended it before (Event.Time).
	drops   []time.Time
	adopted []blocker // Pending calls left blocked by this test
	panics  []handlerPanic
	// lateUses are the first calls on the streams of handlers that had
	// returned (WithLateSendCheck); lateUseCount counts them all
	// (usedAfterReturn).
	lateUses     []lateUse
	lateUseCount int

	// closeMu serializes Close; closeDone is set by the first one. Not a
	// sync.Once: its frames would sit between a report made by close and
	// the cleanup that runs it, and testing would print the report at
	// once.go instead of at the test's NewServer line.
	closeMu   sync.Mutex
	closeDone bool

	stopWarn func() // cancels the warning before go test's -timeout (timeoutwarn)

	// With WithTestGoroutineCheck, NewServer's caller (the test's
	// goroutine, testGoid) carries the harness's labels (testSet) until
	// Close (see giveBackTestLabels).
	testGoid  uint64
	testSet   savedLabels
	testSaved savedLabels
}

var harnessIDs atomic.Uint64

// NewServer starts a gRPC server on a bufconn listener (or TCP: WithTCP),
// registers services via register (which may be nil), dials it with
// grpc.NewClient("passthrough:///bufnet", ...) and registers Close with
// t.Cleanup. Mirrors httptest.NewServer. Unless WithoutRecorder is given,
// one Recorder records both sides. Invalid options fail the test with
// t.Fatalf, and so do server or dial options that grpc.NewServer or
// grpc.NewClient panics on (two grpc.StreamInterceptor options, say), and
// a register function that panics. Register every service in register,
// once: gRPC ends the process (its logger's Fatal) on a service registered
// twice, or registered on GRPC() after NewServer has started serving.
// NewServer may be called from a cleanup (testing runs the cleanups that
// cleanups register), but not with the t of a test that has ended, whose
// cleanups never run: nothing would close the harness, and the testing
// package cannot tell the two apart for it.
//
// A handler that panics does not crash the test binary: the harness
// recovers the panic, the client gets codes.Internal, and Close reports
// the panic and its stack. So does a handler that ends its goroutine with
// runtime.Goexit, as t.FailNow, t.Fatal or a testify require in a handler
// do (the harness runs each handler on a goroutine of its own: without
// it, gRPC would send no status and the client would wait for its
// context). Not when an interceptor set with grpc.UnaryInterceptor or
// grpc.StreamInterceptor (WithServerOptions) runs outside the harness's:
// that may be the service's own recovery, under test, so the handler runs
// on that interceptor's goroutine, as without the harness, and its panic
// goes on to it untouched (a Goexit there ends the call's goroutine, and
// the client waits for its context, as without the harness; Close reports
// it). A panic on a
// goroutine the handler started is beyond any interceptor and crashes the
// binary as usual.
//
// A test still running shortly before go test's -timeout ends the test
// binary (a tenth of the time left, at most 5s before) gets, on standard
// error, what the harness sees: the handlers still running, the client
// streams not finished and the end of the recorded timeline. The
// timeout's goroutine dump alone does not say what happened. (t must be
// a *testing.T, or have its Deadline method.)
func NewServer(t testing.TB, register func(*grpc.Server), opts ...Option) *Server {
	checkTB(t, "NewServer")
	t.Helper()
	cfg := buildConfig(opts)
	if len(cfg.errs) > 0 {
		t.Fatalf("grpctest.NewServer: %s", strings.Join(cfg.errs, "; "))
		return nil
	}
	s := &Server{
		t:         t,
		name:      testName(t),
		cfg:       cfg,
		id:        strconv.FormatUint(harnessIDs.Add(1), 10),
		serveDone: make(chan error, 1),
		netConns:  make(map[*trackedConn]struct{}),
		streams:   make(map[*trackedStream]struct{}),
		handlers:  make(map[string]int),
		idle:      make(chan struct{}),
	}
	close(s.idle)
	if cfg.tcp {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("grpctest.NewServer: WithTCP: %v", err)
			return nil
		}
		s.lis = tcpListener{l}
	} else {
		s.lis = bufconn.Listen(cfg.bufSize)
	}
	base := pprof.WithLabels(context.Background(), pprof.Labels(labelHarness, s.id))
	s.serverLabels = pprof.WithLabels(base, pprof.Labels(labelSide, "server"))
	s.clientLabels = pprof.WithLabels(base, pprof.Labels(labelSide, "client"))
	if !cfg.noRec {
		s.rec = cfg.rec
		if s.rec == nil {
			s.rec = recorder.New()
		}
	}

	sopts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.unaryServerInterceptor),
		grpc.ChainStreamInterceptor(s.streamServerInterceptor),
	}
	if s.rec != nil {
		sopts = append(sopts, s.rec.ServerOptions()...)
	}
	if w := cfg.window; w > 0 {
		sopts = append(sopts, grpc.StaticStreamWindowSize(w), grpc.StaticConnWindowSize(w))
	}
	sopts = append(sopts, cfg.serverOpts...)

	// grpc.NewServer may start stream workers, and Serve starts everything
	// else on the server side: run both on a labelled goroutine.
	if err := inLabels(s.serverLabels, func() { s.srv = grpc.NewServer(sopts...) }); err != nil {
		s.lis.Close()
		t.Fatalf("grpctest.NewServer: grpc.NewServer (with the options of WithServerOptions) %v", err)
		return nil
	}
	if register != nil {
		// On the test's goroutine, unlabelled: a goroutine that a
		// service's setup starts (a janitor, a watch loop) lives as long
		// as the service, which the test may stop in a cleanup of its own
		// that runs after Close. Check (c) leaves it alone.
		cleanup := func() { s.srv.Stop(); s.lis.Close() }
		if p, stack, ok := registerServices(register, s.srv, cleanup); !ok {
			t.Fatalf("grpctest.NewServer: the register function panicked: %v\n%s", p, stack)
			return nil
		}
	}
	inLabels(s.serverLabels, func() {
		lis := &trackingListener{listener: s.lis, s: s}
		go func() { s.serveDone <- s.srv.Serve(lis) }()
	})
	conn, err := s.newClient(nil)
	if err != nil {
		s.srv.Stop()
		s.lis.Close()
		t.Fatalf("grpctest.NewServer: grpc.NewClient: %v", err)
		return nil
	}
	s.conn = conn
	if cfg.testGoroutines {
		s.testGoid = goid.ID()
		s.testSaved = swapLabels(pprof.WithLabels(base, pprof.Labels(labelSide, "test")))
		s.testSet = savedLabels{getProfLabel()}
	}
	addOpen(s)
	s.stopWarn = timeoutwarn.Schedule(t, "grpctest", "its harness", s.stuckReport)
	t.Cleanup(s.Close)
	return s
}

// stuckTimeline is how many of the last recorded events stuckReport shows.
const stuckTimeline = 60

// stuckReport describes what the harness sees of a test that has run
// until shortly before go test's -timeout (see timeoutwarn): the handlers
// still running, the client streams not finished, and the end of the
// timeline.
func (s *Server) stuckReport() string {
	var b strings.Builder
	s.mu.Lock()
	counts := s.runningHandlersLocked()
	s.mu.Unlock()
	var running []string
	for _, m := range sortedKeys(counts) {
		running = append(running, fmt.Sprintf("%s (%d)", m, counts[m]))
	}
	if len(running) == 0 {
		b.WriteString("  no handler is running\n")
	} else {
		fmt.Fprintf(&b, "  handlers still running: %s\n", strings.Join(running, ", "))
	}
	open := s.openStreams()
	slices.SortFunc(open, func(a, b *trackedStream) int { return strings.Compare(a.origin, b.origin) })
	for _, ts := range open {
		fmt.Fprintf(&b, "  client stream %s opened at %s not finished\n", ts.method, ts.origin)
	}
	if s.rec == nil {
		return strings.TrimRight(b.String(), "\n")
	}
	evs := s.rec.Events()
	if n := len(evs); n > stuckTimeline {
		fmt.Fprintf(&b, "  timeline (the last %d of %d events):\n", stuckTimeline, n)
		evs = evs[n-stuckTimeline:]
	} else {
		b.WriteString("  timeline:\n")
	}
	b.WriteString(recorder.Timeline(evs))
	return strings.TrimRight(b.String(), "\n")
}

// registerServices calls register(srv), recovering a panic: ok is false
// if register panicked, with the panic's value and stack. If register did
// not return, cleanup runs first: a runtime.Goexit (t.FailNow in register)
// goes on ending the test's goroutine, and never returns to NewServer.
func registerServices(register func(*grpc.Server), srv *grpc.Server, cleanup func()) (p any, stack string, ok bool) {
	defer func() {
		if !ok {
			cleanup()
			p = recover()
			stack = panicStack()
		}
	}()
	register(srv)
	return nil, "", true
}

// inLabels runs f with the calling goroutine labelled like ctx, then gives
// it back the labels it had: goroutines f starts inherit ctx's labels. A
// panic in f (grpc.NewServer panics on some misuses of its options) is
// recovered and returned as an error, for the caller to report with
// t.Fatalf.
func inLabels(ctx context.Context, f func()) (err error) {
	defer swapLabels(ctx).restore()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panicked: %v", p)
		}
	}()
	f()
	return nil
}

func (s *Server) newClient(extra []grpc.DialOption) (*grpc.ClientConn, error) {
	owner := new(clientRef)
	s.mu.Lock()
	s.owners = append(s.owners, owner)
	s.mu.Unlock()
	dopts := []grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return s.dial(ctx, owner) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(s.unaryClientInterceptor),
		grpc.WithChainStreamInterceptor(s.streamClientInterceptor),
	}
	if s.rec != nil {
		dopts = append(dopts, s.rec.DialOptions()...)
	}
	if w := s.cfg.window; w > 0 {
		dopts = append(dopts, grpc.WithStaticStreamWindowSize(w), grpc.WithStaticConnWindowSize(w))
	}
	dopts = append(dopts, s.cfg.dialOpts...)
	dopts = append(dopts, extra...)
	var cc *grpc.ClientConn
	var err error
	// Connect leaves idle mode here, so the resolver, balancer and transport
	// goroutines of this channel are created on (and labelled like) this
	// goroutine instead of the goroutine of the first RPC.
	if perr := inLabels(s.clientLabels, func() {
		cc, err = grpc.NewClient(Target, dopts...)
		if err == nil {
			owner.cc.Store(cc)
			cc.Connect()
		}
	}); perr != nil {
		return nil, perr
	}
	return cc, err
}

// made panics, naming method, if s was not made by NewServer (a nil
// *Server, or a zero Server): there is no test to report to.
func (s *Server) made(method string) {
	if s == nil || s.t == nil {
		panic("grpctest: Server." + method + " called on a nil or zero Server: make one with NewServer")
	}
}

// Conn returns the shared client connection. It is closed by Close.
func (s *Server) Conn() *grpc.ClientConn {
	s.made("Conn")
	return s.conn
}

// Dial opens an extra client connection to the server, with the harness's
// dial options followed by opts. It is closed by Close. A connection that
// cannot be created fails the test with t.Fatalf.
func (s *Server) Dial(opts ...grpc.DialOption) *grpc.ClientConn {
	s.made("Dial")
	s.t.Helper()
	for i, o := range opts {
		if o == nil {
			s.t.Fatalf("grpctest: Server.Dial: option %d is nil", i)
			return nil
		}
	}
	cc, err := s.newClient(opts)
	if err != nil {
		s.t.Fatalf("grpctest: Server.Dial: grpc.NewClient: %v", err)
		return nil
	}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.dialed = append(s.dialed, cc)
	}
	s.mu.Unlock()
	if closed {
		cc.Close()
		s.t.Errorf("grpctest: Server.Dial called after Close: the returned connection is closed")
	}
	return cc
}

// Addr returns the address of the server's TCP listener, host:port on
// the loopback interface, for code that dials an address (see WithTCP).
// On bufconn (the default) there is no address to dial: it returns "",
// and Conn or Dial give connections.
func (s *Server) Addr() string {
	s.made("Addr")
	if _, ok := s.lis.(tcpListener); !ok {
		return ""
	}
	return s.lis.Addr().String()
}

// Recorder returns the recorder of both sides, or nil if the harness was
// built WithoutRecorder.
func (s *Server) Recorder() *recorder.Recorder {
	s.made("Recorder")
	return s.rec
}

// GRPC returns the underlying *grpc.Server. It is serving already:
// register services in NewServer's register function (gRPC ends the
// process on a RegisterService after Serve).
func (s *Server) GRPC() *grpc.Server {
	s.made("GRPC")
	return s.srv
}

// Disconnect drops every open transport of the harness at once, on both
// sides, as a network failure would: open streams fail with
// codes.Unavailable and running handlers see their context canceled. It
// returns once gRPC has torn down every dropped transport, client and
// server side, so the harness stays usable: the next RPC of the harness's
// own clients (Conn, Dial) dials a new transport. Of a connection that a
// client of the code's own made to Addr (WithTCP), Disconnect closes the
// server's end only: that client finds out by itself, as after a real
// network failure, so an RPC it starts right after Disconnect may still
// take the dropped transport and fail with codes.Unavailable. Disconnect
// after Close is reported with t.Errorf and does nothing.
func (s *Server) Disconnect() {
	s.made("Disconnect")
	s.t.Helper()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.t.Errorf("grpctest: Server.Disconnect called after Close: the harness has no connection left to drop")
		return
	}
	s.drops = append(s.drops, time.Now())
	conns := make([]*trackedConn, 0, len(s.netConns))
	for c := range s.netConns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.drop()
	}
	// gRPC closes a transport's connection after it has marked the
	// transport unusable: an RPC started before that would still pick it.
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.closeTimeout)
	defer cancel()
	for _, c := range conns {
		select {
		case <-c.released:
		case <-ctx.Done():
			s.t.Errorf("grpctest: Disconnect: gRPC did not close a dropped transport within %v", s.cfg.closeTimeout)
			return
		}
	}
	// A transport dropped while it was being set up leaves its channel in
	// TRANSIENT_FAILURE, where RPCs that do not wait for ready fail until
	// a reconnect after backoff. Reconnect the harness's channels at once,
	// and wait until each is READY or IDLE (the next RPC connects): every
	// channel that dials through the harness (not one with a dialer of the
	// test's own), unless the server has stopped (no RPC can succeed
	// then). Which channels a drop hit cannot be told: a transport may be
	// dropped before its client end is tracked.
	if s.stopped.Load() {
		return
	}
	s.mu.Lock()
	owners := slices.Clone(s.owners)
	s.mu.Unlock()
	for _, o := range owners {
		cc := o.cc.Load()
		if cc == nil || !o.dialed.Load() {
			continue
		}
		for {
			st := cc.GetState()
			if st == connectivity.Ready || st == connectivity.Idle || st == connectivity.Shutdown {
				break
			}
			if st == connectivity.TransientFailure {
				cc.ResetConnectBackoff()
			}
			if !cc.WaitForStateChange(ctx, st) {
				s.t.Errorf("grpctest: Disconnect: a connection of the harness did not reconnect within %v (still %v)", s.cfg.closeTimeout, st)
				return
			}
		}
	}
}

// Close tears the harness down in a fixed order and then runs the leak
// checks; see "Teardown" in the package doc. It is idempotent, registered
// with t.Cleanup by NewServer, and bounded: what is still stuck after the
// bound is reported with t.Errorf, naming the method.
//
// Close called from inside one of the harness's own handlers would wait for
// itself: it is reported with t.Errorf and does nothing. Close of a nil
// *Server (what NewServer returns when it fails) does nothing.
func (s *Server) Close() {
	if s == nil || s.t == nil {
		return
	}
	s.t.Helper()
	if method, ok := s.inHandler(); ok {
		s.t.Errorf("grpctest: Server.Close called from inside the handler of %s: Close waits for every handler to return, "+
			"so it would wait for itself. Return from the handler and let the test (or t.Cleanup) close the harness.", method)
		return
	}
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closeDone {
		return
	}
	s.closeDone = true
	s.close()
}

// closedTestLabels maps the label set of a closed harness that a test's
// goroutine may still carry (its Close ran elsewhere, or another harness
// of the test relabelled the goroutine after it) to the labels the
// goroutine had before that harness (WithTestGoroutineCheck).
var closedTestLabels sync.Map // unsafe.Pointer -> unsafe.Pointer

// giveBackTestLabels undoes NewServer's relabelling of the test's
// goroutine when Close runs on it and the goroutine still carries this
// harness's labels: it gets back the labels it had before, skipping those
// of harnesses closed since. Otherwise (Close on another goroutine, or a
// harness made after this one still open) the labels stay, and are
// remembered as a closed harness's, for the Close that gives them back.
func (s *Server) giveBackTestLabels() {
	if goid.ID() != s.testGoid || getProfLabel() != s.testSet.p {
		closedTestLabels.Store(s.testSet.p, s.testSaved.p)
		return
	}
	p := s.testSaved.p
	for {
		q, ok := closedTestLabels.LoadAndDelete(p)
		if !ok {
			break
		}
		p = q.(unsafe.Pointer)
	}
	setProfLabel(p)
}

func (s *Server) close() {
	s.t.Helper()
	if s.cfg.testGoroutines {
		s.giveBackTestLabels()
	}
	// The goroutines Close starts (to stop the server, to close the
	// connections) are its own: not those of whoever runs Close (a test
	// labelled by another harness, a handler), which check (c) would count
	// as theirs.
	defer swapLabels(context.Background()).restore()
	s.rt = &closeReport{TB: s.t, s: s}
	t := s.rt
	// Last: goroutines the handlers left may use their streams until the
	// leak check has waited for them.
	if s.cfg.lateSends {
		defer s.reportLateUses()
	}
	if s.stopWarn != nil {
		s.stopWarn()
	}
	removeOpen(s)
	s.mu.Lock()
	s.closed = true
	conns := append([]*grpc.ClientConn{s.conn}, s.dialed...)
	drops := s.drops
	s.mu.Unlock()

	// Check (a) needs the streams as they were: closing the connections
	// cancels them all.
	var unfinished []*trackedStream
	var ended map[*trackedStream]serverEnd
	if !s.cfg.noLeakCheck {
		unfinished = s.withoutDeadlineEnds(s.openStreams())
		ended = s.serverEnds(unfinished)
	}
	var outside []*trackedConn
	if s.cfg.connCheck {
		outside = s.outsideConns()
	}
	connsHeld := s.closeConns(conns)
	s.reportOutsideConns(outside)
	stuck := s.stop()
	s.lis.Close()
	s.awaitAdopted()
	s.reportPanics()

	if !s.cfg.noLeakCheck {
		unfinished = s.withoutEndedHandlerStreams(unfinished)
		reportStreams(t, unfinished, ended, drops)
	}
	if len(stuck) == 0 && s.cfg.noLeakCheck {
		return
	}
	// Check (c), and the stacks of stuck handlers for check (b).
	bound := 2 * s.cfg.closeTimeout
	if s.cfg.noLeakCheck {
		bound = 0 // only the handlers' stacks are wanted: a snapshot
	}
	start := time.Now()
	var handlers, others []goroutineGroup
	// With a handler stuck, gRPC's Serve and Stop may wait for it
	// (grpc.WaitForHandlers): they are reported as the handler, not as
	// leaks of their own.
	// Likewise, a ClientConn whose Close is blocked keeps its goroutines
	// until it returns: reported as that Close.
	held := func(g goroutineGroup) bool {
		return (len(stuck) > 0 && g.has(stopFrames)) || (connsHeld && g.isClientConn())
	}
	exempt := func(g goroutineGroup) bool { return held(g) || g.has(s.cfg.ignored) || g.isTestsOwn() }
	left := awaitLabelled(s.id, start.Add(bound), exempt)
	for _, g := range left {
		switch {
		case g.isHandler():
			handlers = append(handlers, g)
		case !exempt(g):
			others = append(others, g)
		}
	}
	if len(stuck) > 0 {
		s.reportHandlers(stuck, handlers)
	}
	if !s.cfg.noLeakCheck && len(others) > 0 {
		reportGoroutines(t, others, time.Since(start))
	}
}

// withoutEndedHandlerStreams drops from open the streams opened with a
// handler's context that has ended: such a stream ends with the handler.
// This harness's handlers have returned by now (when Close started, the
// test's cancel of their calls may not have reached them yet). A handler
// of another harness (a front service that calls this one, on a harness
// the test built earlier and so closes later) is ended by its own client's
// cancel, which may still be on its way: its streams get up to the close
// timeout for it.
func (s *Server) withoutEndedHandlerStreams(open []*trackedStream) []*trackedStream {
	timer := time.NewTimer(s.cfg.closeTimeout)
	defer timer.Stop()
	expired := false
	return slices.DeleteFunc(open, func(ts *trackedStream) bool {
		if !ts.handlerCtx {
			return false
		}
		if ts.otherHarness && !expired {
			select {
			case <-ts.ctx.Done():
			case <-timer.C:
				expired = true
			}
		}
		return ts.ctx.Err() != nil
	})
}

// closeConns closes the client connections, bounded by the close timeout
// (at least DefaultCloseTimeout).
// ClientConn.Close runs code of the test's: a client stats handler's
// HandleConn (ConnEnd), a resolver's or a balancer's Close. One that
// blocks is reported, with the stack of the Close it holds, and left to
// return on its own; Close goes on with the server. It reports whether
// one blocked.
func (s *Server) closeConns(conns []*grpc.ClientConn) (blocked bool) {
	s.t.Helper()
	labels := pprof.WithLabels(context.Background(), pprof.Labels(labelClosing, s.id))
	var wg sync.WaitGroup
	for _, cc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pprof.SetGoroutineLabels(labels)
			cc.Close()
		}()
	}
	closed := make(chan struct{})
	go func() {
		wg.Wait()
		close(closed)
	}()
	// A Close that blocks is rare, and one that is slow (a loaded machine,
	// the race detector) is not blocked: the bound is the close timeout,
	// but never less than DefaultCloseTimeout.
	bound := max(s.cfg.closeTimeout, DefaultCloseTimeout)
	timer := time.NewTimer(bound)
	defer timer.Stop()
	select {
	case <-closed:
		return false
	case <-timer.C:
	}
	var b strings.Builder
	fmt.Fprintf(&b, "grpctest: ClientConn.Close did not return within %v: gRPC runs the client's stats handlers "+
		"(HandleConn with *stats.ConnEnd) and its resolver's and balancer's Close from it, and one of them blocks; "+
		"it is left running, and Close goes on with the server", bound)
	// Close's own goroutines (a stats handler runs there), and the
	// ClientConn's that run code of the test's (a resolver's or a
	// balancer's Close runs on its serializer).
	closing := labelledWith(labelClosing, s.id)
	n := len(closing)
	for _, g := range labelled(s.id) {
		if g.isClientConn() && g.topFunction() != "" {
			closing = append(closing, g)
		}
	}
	for i, g := range withTracebacks(closing) {
		heading := fmt.Sprintf("%d goroutine(s) of ClientConn.Close blocked here:", g.count)
		if i >= n {
			heading = fmt.Sprintf("%d goroutine(s) of the ClientConn running code of the test's:", g.count)
		}
		b.WriteString("\n")
		g.render(&b, heading)
	}
	s.rt.Errorf("%s", b.String())
	return true
}

// outsideConns returns the server ends of the connections to Addr that
// no client of the harness made: code under test dialed them.
func (s *Server) outsideConns() []*trackedConn {
	if s.Addr() == "" {
		return nil // bufconn: only the harness's clients can dial it
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	own := make(map[string]bool)
	for c := range s.netConns {
		if !c.accepted {
			own[c.LocalAddr().String()] = true
		}
	}
	var out []*trackedConn
	for c := range s.netConns {
		if c.accepted && !own[c.RemoteAddr().String()] {
			out = append(out, c)
		}
	}
	return out
}

// reportOutsideConns waits, bounded by the close timeout, for the
// connections that code under test made to Addr to go away (gRPC's server
// closes its end once the client has closed its), and reports those that
// do not: a grpc.ClientConn the code never closed, whose goroutines (and
// reconnects) outlive the test.
func (s *Server) reportOutsideConns(conns []*trackedConn) {
	s.t.Helper()
	if len(conns) == 0 {
		return
	}
	timer := time.NewTimer(s.cfg.closeTimeout)
	defer timer.Stop()
	var open []string
	for _, c := range conns {
		select {
		case <-c.released:
			continue
		case <-timer.C:
			timer.Reset(0) // waited enough: the rest get no more time
		}
		select {
		case <-c.released:
		default:
			open = append(open, c.RemoteAddr().String())
		}
	}
	if len(open) == 0 {
		return
	}
	slices.Sort(open)
	s.rt.Errorf("grpctest: %d client connection(s) to Addr() %s that the harness did not make were still open %v after Close began (from %s): "+
		"the code under test did not Close a grpc.ClientConn it made for this address, and its goroutines (which reconnect) outlive the test; "+
		"close it before the test returns (defer conn.Close(), or t.Cleanup registered after NewServer) (WithClientConnCheck)",
		len(open), s.Addr(), s.cfg.closeTimeout, strings.Join(open, ", "))
}

// stop stops the server: GracefulStop bounded by the close timeout, then
// Stop, then the handlers are awaited with the same bound. It returns the
// handlers still running, by method.
func (s *Server) stop() map[string]int {
	s.t.Helper()
	d := s.cfg.closeTimeout
	graceful := make(chan struct{})
	go func() {
		s.srv.GracefulStop()
		close(graceful)
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-graceful:
	case <-timer.C:
		stopped := make(chan struct{})
		go func() {
			s.srv.Stop()
			close(stopped)
		}()
		// Stop returns at once, unless grpc.WaitForHandlers(true) makes it
		// wait for the handlers: then it has waited for them already.
		timer.Reset(d)
		select {
		case <-stopped:
			if s.afterStop != nil {
				s.afterStop()
			}
			timer.Reset(d)
			select {
			case <-s.idleChan():
			case <-timer.C:
			}
		case <-timer.C:
		}
	}
	// Serve returns once the server is stopped; waiting for it here keeps
	// its goroutine out of the leak check. Not while handlers are still
	// running: under grpc.WaitForHandlers(true) Serve waits for them.
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	var serveErr error
	if running == 0 {
		timer.Reset(d)
		select {
		case serveErr = <-s.serveDone:
		case <-timer.C:
		}
	} else {
		select {
		case serveErr = <-s.serveDone:
		default:
		}
	}
	if serveErr != nil && !errors.Is(serveErr, grpc.ErrServerStopped) {
		s.rt.Errorf("grpctest: Serve returned: %v", serveErr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running == 0 {
		return nil
	}
	return s.runningHandlersLocked()
}

// runningHandlersLocked returns how many handlers of each method are
// running. s.mu must be held.
func (s *Server) runningHandlersLocked() map[string]int {
	running := make(map[string]int)
	for m, n := range s.handlers {
		if n > 0 {
			running[m] = n
		}
	}
	return running
}

func (s *Server) idleChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idle
}

func (s *Server) reportHandlers(stuck map[string]int, stacks []goroutineGroup) {
	s.t.Helper()
	var byID map[uint64]string // tracebacks by goroutine number, if needed
	running := s.runningCalls()
	for _, m := range sortedKeys(stuck) {
		s.rt.focus(running[m]...)
	}
	for _, m := range sortedKeys(stuck) {
		var b strings.Builder
		fmt.Fprintf(&b, "grpctest: handler %s did not return after Stop (%d still running%s; waited %v for GracefulStop, then %v after Stop): "+
			"a handler must return once its context is done; select on ctx.Done() (unary) or stream.Context().Done() wherever it blocks",
			m, stuck[m], callsNote(running[m], stuck[m]), s.cfg.closeTimeout, s.cfg.closeTimeout)
		found := false
		for _, g := range stacks {
			if g.labels[labelMethod] == m {
				b.WriteString("\n")
				g.render(&b, fmt.Sprintf("where %d handler goroutine(s) are blocked:", g.count))
				found = true
			}
		}
		if !found {
			// A handler blocked in a call to another harness (a front
			// service's handler waiting on its backend) carries that
			// harness's labels meanwhile: found by its goroutine number.
			if byID == nil {
				byID = tracebacksByID()
			}
			for _, id := range s.handlerIDs(m) {
				if tb := byID[id]; tb != "" {
					b.WriteString("\n")
					goroutineGroup{count: 1, full: tb}.render(&b, "where a handler goroutine is blocked (in a call to another harness, whose labels it carries meanwhile):")
				}
			}
		}
		s.rt.Errorf("%s", strings.TrimRight(b.String(), "\n"))
	}
}

// runningCalls returns the ids of the calls whose server half the
// harness's recorder saw begin and not end, by method, in increasing
// order: the calls of the handlers still running.
func (s *Server) runningCalls() map[string][]uint64 {
	if s.rec == nil {
		return nil
	}
	out := make(map[string][]uint64)
	for _, b := range openHalves(s.rec.Events()) {
		if b.Side == recorder.Server && !slices.Contains(out[b.Method], b.CallID) { // once for a retried call's attempts
			out[b.Method] = append(out[b.Method], b.CallID)
		}
	}
	for _, ids := range out {
		slices.Sort(ids)
	}
	return out
}

// openHalves returns the Begin of each call half in evs that has not
// ended, in order: each Begin that no End of the same call, side and
// method follows (a retried call's server half has one Begin and End per
// attempt).
func openHalves(evs []recorder.Event) []recorder.Event {
	type half struct {
		id     uint64
		side   recorder.Side
		method string
	}
	ends := make(map[half]int) // Ends not yet matched with a Begin, counted from the end
	var open []recorder.Event
	for _, e := range slices.Backward(evs) {
		h := half{e.CallID, e.Side, e.Method}
		switch e.Kind {
		case recorder.End:
			ends[h]++
		case recorder.Begin:
			if ends[h] > 0 {
				ends[h]--
			} else {
				open = append(open, e)
			}
		}
	}
	slices.Reverse(open)
	return open
}

// handlerGoroutine is a running handler of a harness: its method and the
// number of its goroutine.
type handlerGoroutine struct {
	method string
	id     uint64
}

// runningHandlerGoroutines returns this harness's running handlers, in
// increasing goroutine number.
func (s *Server) runningHandlerGoroutines() []handlerGoroutine {
	s.mu.Lock()
	out := make([]handlerGoroutine, 0, len(s.handlerGoroutines))
	for id, m := range s.handlerGoroutines {
		out = append(out, handlerGoroutine{m, id})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b handlerGoroutine) int { return cmp.Compare(a.id, b.id) })
	return out
}

// handlerIDs returns the goroutine numbers of this harness's running
// handlers of method m, in increasing order.
func (s *Server) handlerIDs(m string) []uint64 {
	var ids []uint64
	for _, h := range s.runningHandlerGoroutines() {
		if h.method == m {
			ids = append(ids, h.id)
		}
	}
	return ids
}

// awaitAdopted waits, bounded, for the Pending calls of this test that were
// still blocked when the test ended: Close has just ended their streams.
func (s *Server) awaitAdopted() {
	s.t.Helper()
	s.mu.Lock()
	adopted := s.adopted
	s.adopted = nil
	s.mu.Unlock()
	if len(adopted) == 0 {
		return
	}
	timer := time.NewTimer(s.cfg.closeTimeout)
	defer timer.Stop()
	for _, p := range adopted {
		select {
		case <-p.doneChan():
			p.finish()
		case <-timer.C:
			tb := tracebacksByID()[p.goroutine()]
			if spinning(tb) {
				s.rt.Errorf("grpctest: %s was still running %v after Close ended the harness's streams, and not blocked: its goroutine is runnable, "+
					"so it is looping (retrying a call that fails at once, say); make the loop end when the test does (watch a context, or a stop channel)%s",
					p.describe(), s.cfg.closeTimeout, renderBlocked(tb))
			} else {
				s.rt.Errorf("grpctest: %s was still blocked %v after Close ended the harness's streams: "+
					"what it waits for is not a stream of this harness (if it is one of a harness of an enclosing test, that harness is still open); "+
					"end it (cancel its context) before the test returns%s", p.describe(), s.cfg.closeTimeout, renderBlocked(tb))
			}
			p.abandon(s.name) // a panic it ends with later is VerifyTestMain's to report
			// Later ones are reported without waiting again.
			timer.Reset(0)
		}
	}
}

// spinning reports whether the goroutine of traceback tb was runnable or
// running when the traceback was taken ("goroutine 7 [runnable]:"): not
// blocked on anything.
func spinning(tb string) bool {
	_, state, ok := strings.Cut(tb, "[")
	return ok && (strings.HasPrefix(state, "runnable") || strings.HasPrefix(state, "running"))
}

// adopt hands a blocked call to the harness, which awaits it after Close.
func (s *Server) adopt(b blocker) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.adopted = append(s.adopted, b)
	return true
}

// closeReport is the t of Close's reports: the first of them carries the
// harness's recorded timeline (cut around the calls in focus: see
// timeline), so that an unfinished stream, a stuck handler or a leak is
// read with what the calls did; the others refer to it.
type closeReport struct {
	testing.TB
	s     *Server
	shown bool
	// calls are the ids of the calls the reports are about, in the order
	// given to focus.
	calls []uint64
}

// focus notes calls the reports are about: a long timeline is cut around
// their events (see timeline).
func (c *closeReport) focus(ids ...uint64) { c.calls = append(c.calls, ids...) }

// Errorf reports as t.Errorf does, adding the timeline to the first report.
func (c *closeReport) Errorf(format string, args ...any) {
	c.TB.Helper()
	msg := fmt.Sprintf(format, args...)
	if rec := c.s.rec; rec != nil {
		if c.shown {
			msg += "\n(the recorded timeline is under Close's first report)"
		} else {
			c.shown = true
			msg += "\nrecorded timeline (up to Close, which ends the calls still open):\n" + strings.TrimRight(c.timeline(rec), "\n")
			shown.Mark(c.s) // for a report after Close's (the fake server's)
		}
	}
	c.TB.Errorf("%s", msg)
}

// maxFocus is how many calls a cut timeline of Close's is kept around.
const maxFocus = 5

// timeline renders rec's timeline for Close's first report, cut (if long)
// around the beginning of the calls in focus, and of the call halves that
// have not ended (a stuck handler's, a stream the client left open): up
// to maxFocus calls, those in focus first.
func (c *closeReport) timeline(rec *recorder.Recorder) string {
	begins := make(map[uint64]uint64) // a call's first Begin's Seq, by id
	evs := rec.Events()
	for _, e := range evs {
		if _, ok := begins[e.CallID]; !ok && e.Kind == recorder.Begin {
			begins[e.CallID] = e.Seq
		}
	}
	var opened []uint64 // the calls with a half not ended
	for _, b := range openHalves(evs) {
		opened = append(opened, b.CallID)
	}
	var focus []uint64
	seen := make(map[uint64]bool)
	for _, id := range append(slices.Clip(c.calls), opened...) {
		if seq, ok := begins[id]; ok && !seen[id] && len(focus) < maxFocus {
			seen[id] = true
			focus = append(focus, seq)
		}
	}
	return tlwindow.Cut(rec.String(), focus...)
}
