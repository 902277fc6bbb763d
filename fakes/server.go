package fakes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/goid"
	"github.com/streamtest/streamtest/internal/msgdiff"
	"github.com/streamtest/streamtest/internal/rpcstatus"
	"github.com/streamtest/streamtest/internal/shown"
	"github.com/streamtest/streamtest/internal/timeoutwarn"
	"github.com/streamtest/streamtest/internal/tlwindow"
	"github.com/streamtest/streamtest/recorder"
)

// Server is a scripted fake gRPC server for any service whose generated Go
// code is linked into the test: no handler to write, only the calls the
// client under test should make, as Scripts.
//
//	srv := fakes.NewServer(t)
//	srv.Expect("/grpc.testing.TestService/FullDuplexCall").
//		Recv(&testpb.StreamingOutputCallRequest{...}).
//		Send(&testpb.StreamingOutputCallResponse{...}).
//		RecvEOF()
//	client := testgrpc.NewTestServiceClient(srv.Conn())
//	// ... run the code under test with client ...
//	// at the end of the test: unmet expectations and surprises are errors.
//
// Requests are decoded with the method's descriptor from
// protoregistry.GlobalFiles into the registered Go type (so they compare
// with protocmp against the user's generated messages), and the server
// answers every method through grpc.UnknownServiceHandler.
//
// A call runs the first Script of its method (in Expect order) that has
// calls left (Times). Calls that the client makes at once may arrive in
// any order, so a script per call would fail at random: script them as
// one, with Times(n) (or MaxTimes, if the client stops early), and let
// RecvFunc check and SendFunc answer each request (and AllowCancel, if
// the client cancels the calls it no longer needs). A step that does not match what the client did ends
// the call with codes.FailedPrecondition and a message naming the step, the
// want and the got (a protocmp diff); a call with no Script left ends with
// codes.FailedPrecondition too. At Close (registered with t.Cleanup), every
// mismatch, every expected call that did not happen, every call that did
// not complete its script (naming the step it ended in, with the error that
// ended it, and the steps after it, not reached) and every unexpected call
// is reported with t.Errorf, followed by the recorded timeline, at the
// test's NewServer line (see Close).
type Server struct {
	t testing.TB
	h *grpctest.Server

	mu      sync.Mutex
	scripts []*Script
	// atLine counts the scripts made at each file:line of Expect (a loop
	// makes several), for their names in reports.
	atLine map[string]*atomic.Int32
	// unexpected counts the unexpected calls by what the report says of
	// them, in the order of their first (a client retrying one in a loop
	// adds a count, not a line).
	unexpected      map[string]int
	unexpectedOrder []string
	closing         bool            // Close has begun: it ends the calls still running
	inFunc          map[uint64]bool // goroutines running a step's function (see call)
	stopWarn        func()          // cancels the warning before go test's -timeout (timeoutwarn)
	running         int             // calls in run: awaitClientEnds waits only if some are

	// closeMu serializes Close; closeDone is set by the first one. Not a
	// sync.Once: its frames (and a closure's) would sit between a report
	// made at Close and the cleanup that runs it, and testing would print
	// the report there instead of at the test's NewServer line.
	closeMu   sync.Mutex
	closeDone bool
}

// NewServer starts a scripted fake server on a grpctest harness built with
// opts (grpctest.NewServer) and registers its Close with t.Cleanup. Server
// options in opts (e.g. fakes.FailAfter or fakes.Delay interceptors through
// grpctest.WithServerOptions) apply to the fake's calls, but for a
// grpc.UnknownServiceHandler: the fake serves every call with one of its
// own, given after opts, which replaces it.
//
// A fault such an interceptor injects into a scripted call is a failure of
// the step it hits: FailAfter's error, or a Delay that outlasts the client's
// deadline, ends the call before its script completes, and Close reports
// the call as not completing its script (naming that step), even if the
// client coped with the fault. Delay passes when every delayed step
// completes in time. To break a stream and pass, let the script break it:
// script the steps the client gets through, then Return the failure.
//
//	srv := fakes.NewServer(t)
//	// the first call breaks after one response, as FailAfter(method, 2, err) would break it
//	srv.Expect(method).Recv(req1).Send(res1).Return(status.Error(codes.Unavailable, "injected"))
//	// the client's retry resumes where it broke
//	srv.Expect(method).Recv(req2).Send(res2).RecvEOF()
//
// Keep FailAfter for a real server (grpctest.NewServer with the service's
// handlers), which has no script to complete.
//
// A test still running shortly before go test's -timeout is told, on
// standard error, which step each call is in and which expected calls
// were not made, besides what the harness tells (grpctest.NewServer).
func NewServer(t testing.TB, opts ...grpctest.Option) *Server {
	if t == nil {
		panic("fakes.NewServer: t is nil: pass the test's t")
	}
	t.Helper() // reports made by the Close t.Cleanup runs are printed at the caller's line
	s := &Server{t: t, unexpected: make(map[string]int)}
	opts = append(opts[:len(opts):len(opts)], grpctest.WithServerOptions(grpc.UnknownServiceHandler(s.handle)))
	s.h = grpctest.NewServer(t, func(*grpc.Server) {}, opts...)
	if s.h == nil {
		return nil // NewServer reported why
	}
	s.stopWarn = timeoutwarn.Schedule(t, "fakes", "the fake server", s.stuckReport)
	t.Cleanup(s.Close)
	return s
}

// stuckReport describes the calls of a test that has run until shortly
// before go test's -timeout (see timeoutwarn): the step each call still
// running is in, and the calls expected and not made yet.
func (s *Server) stuckReport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, sc := range s.scripts {
		for _, run := range sc.calls {
			if run.done < len(run.steps) && run.stopped == "" && run.failed == "" {
				st := run.steps[run.done]
				fmt.Fprintf(&b, "  %s (%s) is in step %d %s (%s)\n", sc.name(), run.name, run.done+1, st, st.where)
			}
		}
		if n := len(sc.calls); n < sc.min {
			fmt.Fprintf(&b, "  %s expects %s, %d made so far\n", sc.name(), sc.expected(), n)
		}
	}
	if b.Len() == 0 {
		return "  no call is in a step, and every expected call was made"
	}
	return strings.TrimRight(b.String(), "\n")
}

// Conn returns the harness's client connection to the fake.
func (s *Server) Conn() *grpc.ClientConn {
	s.made("Conn")
	return s.h.Conn()
}

// Recorder returns the recorder of both sides of every call (nil if the
// harness was built with grpctest.WithoutRecorder).
func (s *Server) Recorder() *recorder.Recorder {
	s.made("Recorder")
	return s.h.Recorder()
}

// Harness returns the grpctest harness the fake runs on, for Dial and
// Disconnect.
func (s *Server) Harness() *grpctest.Server {
	s.made("Harness")
	return s.h
}

// made panics, naming method, if s was not made by NewServer (a nil
// *Server, or a zero Server): there is no test to report to.
func (s *Server) made(method string) {
	if s == nil || s.h == nil {
		panic("fakes: Server." + method + " called on a nil or zero Server: make one with NewServer")
	}
}

// Close closes the harness (client connections first, then the server,
// waiting for running calls), then reports with t.Errorf everything that
// did not go as scripted (the first ten problems, numbered, and how many
// more), with the recorded timeline. It is idempotent and registered with
// t.Cleanup by NewServer; call it earlier to check before the test ends.
// Its reports, the harness's included (grpctest.Server.Close), are printed
// at the test's NewServer line when t.Cleanup runs it, at the test's Close
// line when the test calls it. Close called from inside the function of a
// script step (RecvFunc, RecvEach, SendFunc or Do) would wait for itself:
// it is reported with t.Errorf and does nothing. Close of a nil *Server
// (what NewServer returns when it fails) does nothing.
func (s *Server) Close() {
	if s == nil || s.h == nil {
		return
	}
	s.t.Helper()
	s.mu.Lock()
	inFunc := s.inFunc[goid.ID()]
	s.mu.Unlock()
	if inFunc {
		s.t.Errorf("fakes: Server.Close called from inside the function of a script step (RecvFunc, RecvEach, SendFunc or Do): Close waits for every call to end, " +
			"so it would wait for the call that runs the function. Return from the function and let the test (or t.Cleanup) close the server.")
		return
	}
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closeDone {
		return
	}
	s.closeDone = true
	s.stopWarn()
	deadline := time.Now().Add(clientEndsBound) // for both waits
	s.awaitClientEnds(deadline)
	s.awaitUnseenEnds(deadline)
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	printed := shown.Watch(s.h) // its harness's own: a recorder may be shared
	s.h.Close()
	s.awaitClientHalves(time.Now().Add(clientHalvesBound))
	s.verify(printed())
}

// clientHalvesBound bounds how long Close waits for the recorder to show
// how the client halves of the calls that ended during Close ended (see
// awaitClientHalves): the recorder's goroutine has normally done so long
// before; a test in which Close did end a call waits this long.
const clientHalvesBound = 200 * time.Millisecond

// awaitClientHalves waits, until deadline, for the recorder to show how
// the client half of each call that ended once Close had begun ended,
// for clientEnds. The recorder records a client half's End when its
// context ends on a goroutine of its own (context.AfterFunc): a test that
// cancels its call and closes the fake at once can get here first, and
// the call would be taken for one Close ended (1 run in about 400 under
// load). A call Close did end may never get a client End (its client did
// not cancel nor read again): only such a test, failing anyway, waits the
// bound out.
func (s *Server) awaitClientHalves(deadline time.Time) {
	r := s.h.Recorder()
	if r == nil {
		return
	}
	want := map[uint64]bool{}
	s.mu.Lock()
	for _, sc := range s.scripts {
		for _, run := range sc.calls {
			if run.hasID && run.endedBy == endMaybeClose {
				want[run.callID] = true
			}
		}
	}
	s.mu.Unlock()
	if len(want) == 0 {
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	_ = r.Wait(ctx, func(evs []recorder.Event) bool {
		n := 0
		for _, e := range evs {
			if e.Side == recorder.Client && e.Kind == recorder.End && want[e.CallID] {
				n++
			}
		}
		return n >= len(want)
	})
}

// clientEndsBound bounds how long Close waits for the server halves of
// calls their clients have ended (see awaitClientEnds).
const clientEndsBound = time.Second

// awaitClientEnds waits, before Close begins, for the server half of every
// call whose client half has ended to end too. A client's cancel reaches
// the server a moment after the client returns: without the wait, a test
// that closes the fake right after its client canceled would find such a
// call ended during Close, and Close could not tell that the client ended
// it (see stop). Each step honours the call's context, so the wait is
// short; it is bounded all the same. Without a recorder, or a call of a
// method it does not record, there is nothing to wait on.
func (s *Server) awaitClientEnds(deadline time.Time) {
	r := s.h.Recorder()
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	if r == nil || running == 0 {
		return // nothing to wait for, nor to decode the timeline for
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	_ = r.Wait(ctx, func(evs []recorder.Event) bool {
		const clientEnded, serverBegan, serverEnded = 1, 2, 4
		state := map[uint64]int{}
		for _, e := range evs {
			switch {
			case e.Kind == recorder.End && e.Side == recorder.Client:
				state[e.CallID] |= clientEnded
			case e.Kind == recorder.Begin && e.Side == recorder.Server:
				state[e.CallID] |= serverBegan
			case e.Kind == recorder.End && e.Side == recorder.Server:
				state[e.CallID] |= serverEnded
			}
		}
		for _, st := range state {
			if st == clientEnded|serverBegan {
				return false
			}
		}
		return true
	})
}

// awaitUnseenEnds is awaitClientEnds for the calls whose client the
// recorder does not see (a client the code dialed to the harness's Addr
// itself, or no recorder at all): before Close begins, it waits for each
// call still in a step that Close would cut short (any but Hang) to end or
// finish, until deadline (awaitClientEnds's too). A client's cancel
// reaches the server a moment after the client's call returned, and a
// call whose context ends before Close begins counts as its client's
// doing (see stop). A call that is still running at the deadline is
// reported as it was; only such a test, failing anyway, waits it out.
func (s *Server) awaitUnseenEnds(deadline time.Time) {
	s.mu.Lock()
	var waits []*callRun
	for _, sc := range s.scripts {
		for _, run := range sc.calls {
			if run.finished == nil || run.done == len(run.steps) || run.steps[run.done].kind == stepHang {
				continue
			}
			select {
			case <-run.finished: // it has ended: nothing to wait for, nor to decode the timeline for
			default:
				waits = append(waits, run)
			}
		}
	}
	s.mu.Unlock()
	if len(waits) == 0 {
		return
	}
	if r := s.h.Recorder(); r != nil {
		seen := map[uint64]bool{}
		for _, e := range r.Events() {
			if e.Side == recorder.Client && e.Kind == recorder.Begin {
				seen[e.CallID] = true
			}
		}
		waits = slices.DeleteFunc(waits, func(run *callRun) bool { return run.hasID && seen[run.callID] })
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for _, run := range waits {
		select {
		case <-run.ctx.Done():
			s.mu.Lock()
			run.endedBeforeClose = true // the watch in run may not have run yet
			s.mu.Unlock()
		case <-run.finished:
		case <-timer.C:
			return
		}
	}
}

// Expect adds a Script for one call of fullMethod ("/pkg.Service/Method";
// "pkg.Service/Method", the form recorder.WithMethods also takes, means the
// same) and returns it for its steps. A method that is not in
// protoregistry.GlobalFiles (its generated Go package is not linked into
// the test, or the name is misspelled) is reported with t.Errorf here,
// naming what is registered; the returned Script then does nothing. So is
// an Expect after Close.
func (s *Server) Expect(fullMethod string) *Script {
	s.made("Expect")
	s.t.Helper()
	given := fullMethod
	fullMethod = withSlash(fullMethod)
	sc := &Script{s: s, method: fullMethod, given: given, where: callerLine(2), min: 1, max: 1}
	md, problem := lookupMethod(fullMethod)
	if problem != "" {
		s.t.Errorf("fakes: Expect(%q): %s", given, problem)
		return sc
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		// Close has checked the scripts: this one would never be.
		s.t.Errorf("fakes: Expect(%q) after Close: the fake server is closed and the script would never run or be checked; "+
			"call Expect before Close and before the calls it scripts", given)
		return sc
	}
	sc.md = md
	if s.atLine == nil {
		s.atLine = make(map[string]*atomic.Int32)
	}
	n := s.atLine[sc.where]
	if n == nil {
		n = new(atomic.Int32)
		s.atLine[sc.where] = n
	}
	sc.nth, sc.atLine = n.Add(1), n
	s.scripts = append(s.scripts, sc)
	return sc
}

// handle serves every call: it is the grpc.UnknownServiceHandler.
func (s *Server) handle(_ any, ss grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(ss)
	sc, run, why := s.start(method, previousAttempts(ss.Context()))
	if sc == nil {
		return status.Error(codes.FailedPrecondition, why)
	}
	return s.run(ss, sc, run)
}

// previousAttempts returns how many attempts gRPC made before the call
// whose handler context is ctx (see rpcstatus.PreviousAttempts).
func previousAttempts(ctx context.Context) int {
	md, _ := metadata.FromIncomingContext(ctx)
	return rpcstatus.PreviousAttempts(md)
}

// start picks the Script for a call of method and records the call, or
// records an unexpected call and says why. attempts is the call's
// previousAttempts.
func (s *Server) start(method string, attempts int) (*Script, *callRun, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var used []string
	for _, sc := range s.scripts {
		if sc.method != method {
			continue
		}
		if sc.takesCallLocked() {
			n := len(sc.calls) + 1
			run := &callRun{ordinal: n, name: sc.callNameLocked(n), steps: append([]scriptStep(nil), sc.steps...), wantMD: sc.wantMD.Copy()}
			sc.calls = append(sc.calls, run)
			return sc, run, ""
		}
		switch {
		case sc.max == 0:
			used = append(used, fmt.Sprintf("%s expects no call", sc.name()))
		case sc.min == sc.max:
			used = append(used, fmt.Sprintf("%s expected %s, all made", sc.name(), sc.expected()))
		default:
			used = append(used, fmt.Sprintf("%s expected %s, %d made", sc.name(), sc.expected(), len(sc.calls)))
		}
	}
	why := fmt.Sprintf("fakes: unexpected call to %s: no Expect for it", method)
	if len(used) > 0 {
		why = fmt.Sprintf("fakes: unexpected call to %s: %s", method, strings.Join(used, "; "))
	}
	report := why // the call's status has no room for the hint
	if attempts > 0 {
		// Without the attempt's number: the attempts of a call are
		// counted as one problem.
		report += " (it is gRPC's retry of a call: its request metadata has grpc-previous-rpc-attempts; the retry policy of the client's service config retries the status a script gave: " +
			"script each attempt, with Times(n) or one Expect per attempt, or end the call with a code the policy does not retry)"
	}
	if s.unexpected[report] == 0 {
		s.unexpectedOrder = append(s.unexpectedOrder, report)
	}
	s.unexpected[report]++
	return nil, nil, why
}

// run runs the steps of one call.
func (s *Server) run(ss grpc.ServerStream, sc *Script, run *callRun) error {
	ctx := ss.Context()
	s.mu.Lock()
	s.running++
	if r := s.h.Recorder(); r != nil {
		run.callID, run.hasID = r.ServerCallID(ctx)
		if run.hasID && run.callID != uint64(run.ordinal) {
			// The script counts its own calls; the timeline counts all.
			run.name += fmt.Sprintf(", the timeline's call %d", run.callID)
		}
	}
	run.ctx, run.finished = ctx, make(chan struct{})
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running--
		close(run.finished)
		s.mu.Unlock()
	}()
	// Whether the call's context ended before Close began, which Close
	// does not know once it has begun (see stop).
	stopWatch := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		if !s.closing {
			run.endedBeforeClose = true
		}
		s.mu.Unlock()
	})
	defer stopWatch()
	if len(run.wantMD) > 0 {
		got, _ := metadata.FromIncomingContext(ctx)
		if d := metadataMismatch(run.wantMD, got); d != "" {
			msg := fmt.Sprintf("fakes: %s (%s): Metadata at %s: %s", sc.name(), run.name, sc.mdWhere, d)
			s.fail(run, msg)
			return status.Error(codes.FailedPrecondition, msg)
		}
	}
	inType := messageType(sc.md.Input())
	sent := 0              // Send steps done
	var last proto.Message // the last request received, for SendFunc
	for i, st := range run.steps {
		where := fmt.Sprintf("%s (%s): step %d %s at %s", sc.name(), run.name, i+1, stepNames[st.kind], st.where)
		var err error
		var mismatch, detail string // detail: more for Close's report than for the status
		switch st.kind {
		case stepRecv, stepRecvAny, stepRecvEOF, stepRecvWith, stepRecvFunc:
			var got proto.Message
			got, mismatch, detail, err = s.recvStep(ss, inType, st)
			if got != nil {
				last = got
			}
		case stepRecvEach:
			var got proto.Message
			got, mismatch, detail, err = s.recvEach(ss, inType, st)
			if got != nil {
				last = got
			}
		case stepSend:
			err = ss.SendMsg(st.msg)
		case stepSendFunc:
			var ms []proto.Message
			var result error
			ms, result, mismatch, detail, err = sc.reply(ctx, st, last)
			if result != nil { // the function ends the call, as Return(result)
				s.progress(run, len(run.steps))
				return result
			}
			for _, m := range ms {
				if mismatch != "" || err != nil {
					break
				}
				err = ss.SendMsg(m)
			}
		case stepDo:
			var result error
			result, mismatch, detail, err = s.do(ctx, st)
			if result != nil { // the function ends the call, as Return(result)
				s.progress(run, len(run.steps))
				return result
			}
		case stepSendHeader:
			err = ss.SendHeader(st.md)
		case stepSetTrailer:
			ss.SetTrailer(st.md)
		case stepSleep:
			err = sleepCtx(ctx, st.d)
		case stepHang:
			<-ctx.Done()
			s.progress(run, i+1)
			return status.FromContextError(ctx.Err()).Err()
		case stepReturn: // Script.Return takes nil only after the one response of a method that has one
			s.progress(run, i+1)
			return st.err
		}
		switch {
		case mismatch != "":
			msg := fmt.Sprintf("fakes: %s: %s", where, mismatch)
			s.fail(run, msg+detail)
			return status.Error(codes.FailedPrecondition, msg)
		case err != nil && ctx.Err() == nil && st.kind == stepSendHeader && status.Code(err) == codes.Internal:
			// The script is wrong, not the call: the builder rejects a
			// SendHeader after a Send and metadata gRPC refuses, so here a
			// function of the script sent the header (grpc.SendHeader), or
			// the client does not take a header that large. A transport
			// that closes fails SendHeader with another code.
			msg := fmt.Sprintf("fakes: %s: %v", where, err)
			if strings.Contains(err.Error(), "called multiple times") {
				msg += " (a function of the script sent the header before this step with grpc.SendHeader; send it from one place)"
			}
			s.fail(run, msg)
			return status.Error(codes.FailedPrecondition, msg)
		case err != nil:
			why, clientHint := err.Error(), ""
			c := status.Code(err)
			switch ctxEnd := c == codes.Canceled || c == codes.DeadlineExceeded; {
			case ctxEnd && st.kind == stepSleep:
				clientHint = " (the client canceled, or its deadline passed, during the Sleep; for a call the client is meant to cancel, script the steps before it and end with Hang)"
			case errors.As(err, new(abandonedErr)):
				why += " (the call ended while the step's function ran, and did not wait for it to return: a function still running at Close is reported by the leak check)"
			}
			if c == codes.Canceled || c == codes.DeadlineExceeded {
				waitAtMost(ctx.Done(), ctxEndWait) // gRPC may fail a Send for a cancel before it cancels the call's context
			}
			s.stop(ctx, run, why, clientHint)
			return err
		}
		if st.kind == stepSend || st.kind == stepSendFunc {
			sent++
		}
		s.progress(run, i+1)
	}
	end := fmt.Sprintf("%s (%s): after the last step (no Return or Hang)", sc.name(), run.name)
	if msg := noResponse(sc, sent, end); msg != "" {
		s.fail(run, msg)
		return status.Error(codes.FailedPrecondition, msg)
	}
	return nil
}

// ctxEndWait bounds how long run waits for a call's context to end after
// a stream operation failed with the status of a cancel or a deadline (the
// client's RST_STREAM reached the transport): that comes a moment before
// gRPC cancels the call's context, which stop reads to tell who ended the
// call.
const ctxEndWait = 100 * time.Millisecond

// waitAtMost waits until ch is closed, d at most.
func waitAtMost(ch <-chan struct{}, d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C:
	}
}

// noResponse returns the failure of a call at where that is about to end
// OK after sent Send steps, "" if it may: a method without server streaming
// ends OK only with its one response (grpc's client would get codes.Internal,
// "cardinality violation", without a word about the script).
func noResponse(sc *Script, sent int, where string) string {
	if sent > 0 || sc.md.IsStreamingServer() {
		return ""
	}
	return fmt.Sprintf("fakes: %s: the call would end OK without a response: the method is not server-streaming, "+
		"a call that ends OK sends exactly one response; add a Send step, or Return an error", where)
}

// recvStep runs a step that receives: Recv, RecvAny, RecvEOF, RecvWith
// or RecvFunc. It returns the request received (nil if none), what does
// not match the step (and detail, for Close's report only), or the error
// that ended the call.
func (s *Server) recvStep(ss grpc.ServerStream, inType protoreflect.MessageType, st scriptStep) (got proto.Message, mismatch, detail string, err error) {
	got = inType.New().Interface()
	err = ss.RecvMsg(got)
	eof := errors.Is(err, io.EOF)
	switch {
	case eof && st.kind == stepRecvEOF:
		return nil, "", "", nil
	case eof && (st.kind == stepRecv || st.kind == stepRecvWith):
		return nil, fmt.Sprintf("want request %s, got the end of the requests (the client half-closed)", recorder.FormatMessage(st.msg)), "", nil
	case eof:
		return nil, "want a request, got the end of the requests (the client half-closed)", "", nil
	case err != nil:
		return nil, "", "", err
	case st.kind == stepRecvEOF:
		return got, fmt.Sprintf("want the end of the requests (the client half-closes), got another request %s", recorder.FormatMessage(got)), "", nil
	case (st.kind == stepRecv || st.kind == stepRecvWith) && len(st.opts) == 0:
		if msgdiff.Same(st.msg, got) {
			return got, "", "", nil
		}
		return got, requestDiff(st.msg, got, nil), "", nil
	case st.kind == stepRecvWith:
		return got, requestDiff(st.msg, got, st.opts), "", nil
	case st.kind == stepRecvFunc:
		mismatch, detail, err = s.check(ss.Context(), st, got)
		return got, mismatch, detail, err
	}
	return got, "", "", nil
}

// metadataMismatch describes how the request metadata got lacks want
// (see Script.Metadata): "" if it does not.
func metadataMismatch(want, got metadata.MD) string {
	keys := slices.Sorted(maps.Keys(want))
	var bad []string
	for _, k := range keys {
		switch g := got[k]; {
		case len(g) == 0:
			bad = append(bad, fmt.Sprintf("%s: want %q, got none", k, want[k]))
		case !slices.Equal(g, want[k]):
			bad = append(bad, fmt.Sprintf("%s: want %q, got %q", k, want[k], g))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	have := recorder.FormatMetadata(got)
	if have == "" {
		have = "none but gRPC's own"
	}
	return fmt.Sprintf("request metadata mismatch: %s (the call's metadata: %s)", strings.Join(bad, "; "), have)
}

// check runs the check of a RecvFunc or RecvEach step on a request got:
// it returns what is wrong with it (and detail, for Close's report only),
// or the error that ended the call while the check ran.
func (s *Server) check(ctx context.Context, st scriptStep, got proto.Message) (mismatch, detail string, err error) {
	r := s.call(ctx, st.fn, got)
	switch {
	case r.how == abandoned:
		return "", "", funcAbandoned(ctx)
	case r.how == panicked:
		return fmt.Sprintf("the check panicked: %v; got request %s", r.out, recorder.FormatMessage(got)), r.stack, nil
	case r.how == exited:
		return fmt.Sprintf("the check %s: it reports through the error it returns; got request %s", goexitHint, recorder.FormatMessage(got)), "", nil
	case r.out != nil:
		return fmt.Sprintf("the check rejected the request: %v; got request %s", r.out, recorder.FormatMessage(got)), "", nil
	}
	return "", "", nil
}

// recvEach runs a RecvEach step: it checks every request until the end of
// the requests. It returns the last request (nil if none), what does not
// match (and detail, for Close's report only), or the error that ended
// the call.
func (s *Server) recvEach(ss grpc.ServerStream, inType protoreflect.MessageType, st scriptStep) (last proto.Message, mismatch, detail string, err error) {
	for n := 1; ; n++ {
		got := inType.New().Interface()
		err := ss.RecvMsg(got)
		if errors.Is(err, io.EOF) {
			return last, "", "", nil
		}
		if err != nil {
			return last, "", "", err
		}
		last = got
		mismatch, detail, err := s.check(ss.Context(), st, got)
		switch {
		case err != nil:
			return last, "", "", err
		case mismatch != "":
			return last, fmt.Sprintf("request %d: %s", n, mismatch), detail, nil
		}
	}
}

// requestDiff describes how got differs from want, compared with protocmp
// and opts: "" if it does not.
func requestDiff(want, got proto.Message, opts []cmp.Option) string {
	d, err := msgdiff.Diff(want, got, opts)
	switch {
	case err != nil:
		return fmt.Sprintf("cannot compare the request with the step's: %v; got request %s", err, recorder.FormatMessage(got))
	case d != "":
		return "request mismatch (-want +got):\n" + d
	}
	return ""
}

// do runs a Do step's function. It returns the error the function ended
// the call with, what went wrong in it (and detail, for Close's report
// only), or the error that ended the call while it ran.
func (s *Server) do(ctx context.Context, st scriptStep) (result error, mismatch, detail string, err error) {
	r := s.call(ctx, st.fn, nil)
	switch r.how {
	case abandoned:
		return nil, "", "", funcAbandoned(ctx)
	case panicked:
		return nil, fmt.Sprintf("the function panicked: %v", r.out), r.stack, nil
	case exited:
		return nil, "the function " + goexitHint, "", nil
	}
	result, _ = r.out.(error)
	return result, "", "", nil
}

// reply runs a SendFunc step's function on the last request received.
// It returns the responses it made (one, or those of the slice it
// returned), or the error it returned instead (the call's result), or
// what is wrong with what it did (and detail, for Close's report only),
// or the error that ended the call while it ran.
func (sc *Script) reply(ctx context.Context, st scriptStep, last proto.Message) (ms []proto.Message, result error, mismatch, detail string, err error) {
	r := sc.s.call(ctx, st.fn, last)
	switch r.how {
	case abandoned:
		return nil, nil, "", "", funcAbandoned(ctx)
	case panicked:
		return nil, nil, fmt.Sprintf("the function panicked: %v; the request was %s", r.out, recorder.FormatMessage(last)), r.stack, nil
	case exited:
		return nil, nil, fmt.Sprintf("the function %s; the request was %s", goexitHint, recorder.FormatMessage(last)), "", nil
	}
	if r.err != nil {
		return nil, r.err, "", "", nil
	}
	outs := []any{r.out}
	if v := reflect.ValueOf(r.out); st.fn.Type().Out(0).Kind() == reflect.Slice {
		outs = outs[:0]
		for i := range v.Len() {
			outs = append(outs, v.Index(i).Interface())
		}
		if n := len(outs); n != 1 && !sc.md.IsStreamingServer() {
			return nil, nil, fmt.Sprintf("the function returned %d responses, but %s is not server-streaming: it has exactly one; the request was %s",
				n, sc.method, recorder.FormatMessage(last)), "", nil
		}
	}
	want := sc.md.Output().FullName()
	for i, out := range outs {
		what := "the function returned"
		if len(outs) != 1 || st.fn.Type().Out(0).Kind() == reflect.Slice {
			what = fmt.Sprintf("the function's response %d of %d is", i+1, len(outs))
		}
		pm, ok := out.(proto.Message)
		bad := ""
		switch {
		case out == nil:
			bad = fmt.Sprintf("%s nil: want a %s", what, want)
		case !ok:
			bad = fmt.Sprintf("%s a %T, which is not a proto message: want a %s", what, out, want)
		case !pm.ProtoReflect().IsValid():
			bad = fmt.Sprintf("%s a nil %T: want a %s", what, out, want)
		case pm.ProtoReflect().Descriptor().FullName() != want:
			bad = fmt.Sprintf("%s a %s (%T), but the response type of %s is %s",
				what, pm.ProtoReflect().Descriptor().FullName(), out, sc.method, want)
		}
		if bad != "" {
			return nil, nil, fmt.Sprintf("%s; the request was %s", bad, recorder.FormatMessage(last)), "", nil
		}
		ms = append(ms, pm)
	}
	return ms, nil, "", "", nil
}

// funcAbandoned is the error of a step whose function the call did not
// wait for: the call's context ended while it ran.
func funcAbandoned(ctx context.Context) error {
	return abandonedErr{status.FromContextError(ctx.Err()).Err()}
}

// abandonedErr is the context's status, for a call that ended while a
// step's function ran (see funcAbandoned).
type abandonedErr struct{ error }

func (e abandonedErr) Unwrap() error { return e.error }

// GRPCStatus is the context's status itself: as a wrapped status, gRPC
// would send it with the wrapping's text ("rpc error: code = Canceled
// desc = context canceled") as its message.
func (e abandonedErr) GRPCStatus() *status.Status { return status.Convert(e.error) }

// outcome is how a function of the test's that a step called ended.
type outcome int

const (
	returned  outcome = iota
	panicked          // out is what it panicked with
	exited            // runtime.Goexit: t.FailNow, a testify require function
	abandoned         // the call ended (its client canceled) while it ran
)

// goexitHint explains a function of the test's that called runtime.Goexit.
const goexitHint = "called runtime.Goexit (t.FailNow, t.Fatal or a testify require function?), " +
	"which must not be called on the call's goroutine"

// funcRun is one run of a step's function, by runFunc.
type funcRun struct {
	done  chan struct{} // closed when the function has ended
	out   any           // its result, or what it panicked with
	err   error         // its second result, an error, if it has one (SendFunc's)
	how   outcome
	stack string
}

// call calls fn, a function that Script.checkFunc accepted, with arg
// (or Do's, with the context alone), on a goroutine of its own, so that
// neither a panic nor runtime.Goexit in it takes the fake's handler down
// (a handler that exits leaves its client waiting forever). It waits for
// fn to end, or for ctx, the call's context: a function still running when
// the call ends (its client canceled, or its deadline passed), or that
// returns after that, is abandoned, as the call is; one still running is
// left to run.
//
// If fn panics, out is what it panicked with and stack the frames from the
// panic to fn's call, after ", in:" (each on a line of its own, indented
// as a part of Close's report; "" if there are none).
func (s *Server) call(ctx context.Context, fn reflect.Value, arg proto.Message) *funcRun {
	r := &funcRun{done: make(chan struct{})}
	go s.runFunc(ctx, r, fn, arg)
	select {
	case <-r.done:
	case <-ctx.Done():
		return &funcRun{how: abandoned}
	}
	if r.how == returned && ctx.Err() != nil {
		return &funcRun{how: abandoned}
	}
	return r
}

// runFunc runs fn(arg) for call, noting its goroutine for Close. A method,
// not a closure: panicStack looks for its frame.
func (s *Server) runFunc(ctx context.Context, r *funcRun, fn reflect.Value, arg proto.Message) {
	id := goid.ID()
	s.mu.Lock()
	if s.inFunc == nil {
		s.inFunc = make(map[uint64]bool)
	}
	s.inFunc[id] = true
	s.mu.Unlock()
	r.how = exited // unless it returns or panics
	defer func() {
		s.mu.Lock()
		delete(s.inFunc, id)
		s.mu.Unlock()
		close(r.done)
	}()
	defer func() {
		if v := recover(); v != nil {
			r.out, r.how, r.stack = v, panicked, panicStack()
		}
	}()
	ft := fn.Type()
	ctxArg := reflect.ValueOf(&ctx).Elem()
	args := []reflect.Value{ctxArg} // Do's function takes the context alone
	if ft.NumIn() != 1 || ft.In(0) != ctxArg.Type() {
		in := reflect.ValueOf(arg)
		if arg == nil { // a SendFunc after a RecvEach that received nothing
			in = reflect.Zero(ft.In(ft.NumIn() - 1))
		}
		args = []reflect.Value{in}
		if ft.NumIn() == 2 { // the call's context first (see Script.checkFunc)
			args = []reflect.Value{ctxArg, in}
		}
	}
	results := fn.Call(args)
	r.out = results[0].Interface()
	if len(results) == 2 {
		r.err, _ = results[1].Interface().(error)
	}
	r.how = returned
}

// runFuncFrame begins the traceback line of runFunc's frame.
const runFuncFrame = "github.com/streamtest/streamtest/fakes.(*Server).runFunc("

// panicStack returns, inside a deferred function of runFunc recovering a
// panic, the frames from the first panic to the call of the step's
// function, after ", in:": neither runtime's frames nor the library's. A
// frame is a function line and a location line (indented); a traceback of
// over 100 frames has a line saying how many it elides between them.
func panicStack() string {
	lines := strings.Split(strings.TrimSpace(string(debug.Stack())), "\n")
	from, to := -1, -1 // line 0 is "goroutine N [running]:"
	for i := 1; i < len(lines) && to < 0; i++ {
		switch fn := lines[i]; {
		case strings.HasPrefix(fn, "\t"): // a location
		case from < 0 && strings.HasPrefix(fn, "panic("):
			from = i + 2
		case strings.HasPrefix(fn, runFuncFrame):
			to = i
		}
	}
	if from < 0 || to <= from {
		return ""
	}
	for to-2 > from && (strings.HasPrefix(lines[to-2], "reflect.Value.call(") || strings.HasPrefix(lines[to-2], "reflect.Value.Call(")) {
		to -= 2
	}
	return ", in:\n\t\t" + strings.Join(lines[from:to], "\n\t\t")
}

func (s *Server) progress(run *callRun, done int) {
	s.mu.Lock()
	run.done = done
	s.mu.Unlock()
}

func (s *Server) fail(run *callRun, msg string) {
	s.mu.Lock()
	run.failed = msg
	s.mu.Unlock()
}

// stop records why run, whose context is ctx, ended before its script
// was complete.
//
// Close ends every call still running (it closes the client connections
// first): a call whose context ends once Close has begun may have been
// canceled by its client just before (a cancel reaches the server a
// moment later), or ended by Close. If run's watch saw the context end
// before Close began, the client ended it; else verify asks the recorder
// how the client half ended (see clientEnds). clientHint is said of a
// call its client ended (and not of one Close may have ended).
func (s *Server) stop(ctx context.Context, run *callRun, why, clientHint string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ended := ctx.Err() != nil
	if d, ok := ctx.Deadline(); ended && ok && !time.Now().Before(d) {
		why += " (the call's deadline had passed)"
	}
	switch {
	case ended && (!s.closing || run.endedBeforeClose):
		run.endedBy = endClient
	case s.closing:
		run.endedBy = endMaybeClose
	}
	run.stopped, run.clientHint = why, clientHint
}

// halfClosed reports whether the recorded events show the client of call
// id half-closing (a CloseSend that did not fail); true without a recorder
// (it cannot tell: say nothing).
func (s *Server) halfClosed(id uint64, events func() []recorder.Event) bool {
	if s.h.Recorder() == nil {
		return true
	}
	for _, e := range events() {
		if e.CallID == id && e.Side == recorder.Client && e.Kind == recorder.CloseSend && e.Err == nil {
			return true
		}
	}
	return false
}

// closingMessage is the status message of a client call that the closing
// of its ClientConn ended (grpc-go's ErrClientConnClosing, which is
// deprecated for use in code; TestClientConnClosingMessage pins it).
const closingMessage = "grpc: the client connection is closing"

// clientEnds asks the recorder how the client half of each call that
// ended with its context, or once Close had begun, ended: such a call is
// its client's doing if the client half ended canceled or past its
// deadline, but not by the closing of its ClientConn, and a call whose
// client got Unavailable lost its connection (Disconnect), which no
// client chose.
// events returns the recorded events. s.mu must be held.
func (s *Server) clientEnds(events func() []recorder.Event) {
	var ended []*callRun
	for _, sc := range s.scripts {
		for _, run := range sc.calls {
			// A call its client canceled before its handler began can
			// also end during Close without its context ending: its
			// handler meets the closing transport instead.
			if run.hasID && (run.endedBy == endClient || run.endedBy == endMaybeClose) {
				ended = append(ended, run)
			}
		}
	}
	r := s.h.Recorder()
	if len(ended) == 0 || r == nil {
		return
	}
	ends := map[uint64]error{}
	for _, e := range events() {
		if e.Kind == recorder.End && e.Side == recorder.Client {
			ends[e.CallID] = e.Err
		}
	}
	for _, run := range ended {
		err, ok := ends[run.callID]
		switch st := status.Convert(err); {
		case !ok || err == nil:
		case st.Code() == codes.Unavailable && run.endedBy == endClient:
			run.endedBy = endDropped
		case run.endedBy == endMaybeClose && (st.Code() == codes.Canceled || st.Code() == codes.DeadlineExceeded) && st.Message() != closingMessage:
			run.endedBy = endClient
		}
	}
}

// verify reports everything that did not go as scripted; printed says
// that the harness's Close printed the recorded timeline in a report of
// its own.
func (s *Server) verify(printed bool) {
	s.t.Helper() // as every frame between the report and Close (see closeMu)
	s.mu.Lock()
	// The recorded events, decoded once for clientEnds and halfClosed.
	var evs []recorder.Event
	events := func() []recorder.Event {
		if evs == nil && s.h.Recorder() != nil {
			evs = s.h.Recorder().Events()
		}
		return evs
	}
	s.clientEnds(events)
	var problems []string
	for _, sc := range s.scripts {
		for _, run := range sc.calls {
			switch {
			case run.failed != "":
				// The text the client got, less its package prefix: the
				// report names the package once.
				problems = append(problems, strings.TrimPrefix(run.failed, "fakes: "))
			case run.done < len(run.steps) && run.endedBy == endClient && sc.allowCancel:
				// Its client canceled it, or its deadline passed: allowed.
			case run.done < len(run.steps):
				// run.done steps completed: the call ended during the next
				// one, or was still in it at Close.
				st := run.steps[run.done]
				how := "ended during"
				why := run.stopped
				// The step waits for the client to half-close, and it
				// never did: the likely cause, whatever ended the call.
				noHalfClose := (st.kind == stepRecvEOF || st.kind == stepRecvEach) && run.hasID && !s.halfClosed(run.callID, events)
				switch {
				case why == "":
					how, why = "was still in", "still running at Close"
				case run.endedBy == endMaybeClose:
					why += " [Close had begun when the call ended: Close, which ends every call still running, may have ended it, or its client just before]"
				case run.endedBy == endDropped:
					why += " (the client got Unavailable: the call's connection broke, as Disconnect breaks it)"
				case run.clientHint != "":
					why += run.clientHint
				case run.endedBy == endClient && noHalfClose:
					// Not AllowCancel: the client gave up waiting for a
					// response the script sends only after its CloseSend.
					why += " (the client canceled the call, or its deadline passed, while the step waited for it to half-close; if it may cancel there, add AllowCancel() to the script)"
				case run.endedBy == endClient:
					// Whatever the step's operation failed with (a cancel's
					// status, or the transport's as the cancel reached it).
					why += " (the client canceled the call, or its deadline passed, before the script's end: if the client should have finished the call (read to the end, or read its one response), that is the bug; if it may cancel there, add AllowCancel() to the script)"
				}
				if noHalfClose {
					why += "; the step waits for the client to half-close, and it never did (no CloseSend): " +
						"call CloseSend, or CloseAndRecv, once the requests are sent"
				}
				problems = append(problems, fmt.Sprintf("%s (%s): did not complete its script: the call %s step %d %s (%s): %s%s",
					sc.name(), run.name, how, run.done+1, st, st.where, why, notReached(run.steps, run.done)))
			}
		}
		if n := len(sc.calls); n < sc.min {
			note := ""
			if s.unservedCalls(sc.method, events) {
				note = " (a call the client canceled before it reached the server does not count: gRPC runs no handler for it)"
			}
			problems = append(problems, fmt.Sprintf("%s: expected %s, got %d%s%s%s",
				sc.name(), sc.expected(), n, note, s.takenBefore(sc), sc.missingSteps()))
		}
	}
	for _, why := range s.unexpectedOrder {
		if n := s.unexpected[why]; n > 1 {
			why = fmt.Sprintf("%s (%d calls like this one)", why, n)
		}
		problems = append(problems, why)
	}
	s.mu.Unlock()
	if len(problems) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "fakes: the fake server was not used as scripted (%d problem(s)):", len(problems))
	for i, p := range problems {
		if i == maxProblems {
			fmt.Fprintf(&b, "\n  … and %d more problem(s)", len(problems)-maxProblems)
			break
		}
		// An item's own lines (a diff, the steps not reached) are
		// indented under it.
		num := fmt.Sprintf("  %d. ", i+1)
		fmt.Fprintf(&b, "\n%s%s", num, strings.ReplaceAll(strings.TrimRight(p, "\n"), "\n", "\n"+strings.Repeat(" ", len(num))))
	}
	switch r := s.h.Recorder(); {
	case r != nil && printed:
		b.WriteString("\n(the recorded timeline is under the harness's report above)")
	case r != nil:
		fmt.Fprintf(&b, "\nrecorded timeline:\n%s", tlwindow.Cut(r.String()))
	}
	s.t.Errorf("%s", b.String())
}

// maxProblems bounds the problems Close lists.
const maxProblems = 10

// unservedCalls reports whether a call of method may have been canceled
// before it reached the server: the recorder has a client half of one
// without a server half, or there is no recorder to tell. s.mu must be
// held.
func (s *Server) unservedCalls(method string, events func() []recorder.Event) bool {
	if s.h.Recorder() == nil {
		return true
	}
	clientOnly := map[uint64]bool{}
	for _, e := range events() {
		if e.Method != method || e.Kind != recorder.Begin {
			continue
		}
		if e.Side == recorder.Client {
			if _, seen := clientOnly[e.CallID]; !seen {
				clientOnly[e.CallID] = true
			}
		} else {
			clientOnly[e.CallID] = false
		}
	}
	for _, only := range clientOnly {
		if only {
			return true
		}
	}
	return false
}

// takenBefore notes, for a script that got fewer calls than it expects,
// an earlier script of its method with no bound on its calls (MinTimes or
// AnyTimes without MaxTimes), which takes every call; "" if there is
// none. s.mu must be held.
func (s *Server) takenBefore(sc *Script) string {
	for _, other := range s.scripts {
		if other == sc {
			return ""
		}
		if other.method == sc.method && other.max < 0 {
			return fmt.Sprintf("; %s, earlier for the same method, takes every call: it has no MaxTimes", other.name())
		}
	}
	return ""
}

// messageType returns the Go type registered for d, so that decoded
// requests are the user's generated messages; a dynamic type if none is.
func messageType(d protoreflect.MessageDescriptor) protoreflect.MessageType {
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(d.FullName()); err == nil {
		return mt
	}
	return dynamicpb.NewMessageType(d)
}

// lookupMethod finds fullMethod in protoregistry.GlobalFiles, or says what
// is wrong and what is registered.
func lookupMethod(fullMethod string) (protoreflect.MethodDescriptor, string) {
	if err := checkMethod(fullMethod); err != nil {
		return nil, err.Error()
	}
	d, md := findMethod(fullMethod)
	if md != nil {
		return md, ""
	}
	svc, name, _ := strings.Cut(fullMethod[1:], "/")
	sd, ok := d.(protoreflect.ServiceDescriptor)
	switch {
	case d == nil:
		return nil, fmt.Sprintf("no service %s is registered: import its generated Go package in the test (a blank import is enough) or fix the name; %s",
			svc, registeredServices(protoreflect.FullName(svc)))
	case !ok:
		return nil, fmt.Sprintf("%s is not a service", svc)
	}
	var names []string
	for i := 0; i < sd.Methods().Len(); i++ {
		names = append(names, string(sd.Methods().Get(i).Name()))
	}
	return nil, fmt.Sprintf("service %s has no method %s; its methods are %s", svc, name, strings.Join(names, ", "))
}

// findMethod looks fullMethod ("/pkg.Service/Method") up in
// protoregistry.GlobalFiles: d is what its service name names there (nil
// if nothing), md the method (nil unless d is a service that has it).
func findMethod(fullMethod string) (d protoreflect.Descriptor, md protoreflect.MethodDescriptor) {
	svc, name, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return nil, nil
	}
	if sd, ok := d.(protoreflect.ServiceDescriptor); ok {
		md = sd.Methods().ByName(protoreflect.Name(name))
	}
	return d, md
}

// registeredServices lists the registered services most likely meant by
// want: those of its package or with its name, else all (at most 25).
func registeredServices(want protoreflect.FullName) string {
	var all, near []string
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			sd := fd.Services().Get(i)
			all = append(all, string(sd.FullName()))
			if sd.ParentFile().Package() == want.Parent() || sd.Name() == want.Name() {
				near = append(near, string(sd.FullName()))
			}
		}
		return true
	})
	sort.Strings(all)
	sort.Strings(near)
	if len(near) > 0 {
		return "similar registered services: " + strings.Join(near, ", ")
	}
	if len(all) == 0 {
		return "no service is registered"
	}
	more := ""
	if len(all) > 25 {
		more = fmt.Sprintf(" and %d more", len(all)-25)
		all = all[:25]
	}
	return "registered services: " + strings.Join(all, ", ") + more
}
