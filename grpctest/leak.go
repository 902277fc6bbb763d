package grpctest

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/internal/goid"
	"github.com/streamtest/streamtest/internal/rpcstatus"
	"github.com/streamtest/streamtest/recorder"
)

// Goroutine labels set by the harness. Every goroutine a harness starts
// carries labelHarness; goroutines inherit labels from their creator, so
// everything gRPC and the handlers start for this harness carries it too.
const (
	labelHarness = "streamtest.harness" // harness id
	labelSide    = "streamtest.side"    // "server", "client" or "test"
	labelMethod  = "streamtest.method"  // full method, on handler goroutines and their children
	// labelClosing (harness id) marks the goroutines on which Close closes
	// the client connections; they do not carry labelHarness, as they are
	// not the harness's to check.
	labelClosing = "streamtest.closing"
)

// handlerFrames are the functions that run a handler: a goroutine with one
// of them on its stack is a handler that has not returned (check (b)), not
// a goroutine it left behind (check (c)).
//
// The interceptors wait, on gRPC's goroutine, for the goroutine on which
// they run the handler (runUnary, runStream): both count as the handler.
var handlerFrames = []string{
	"github.com/streamtest/streamtest/grpctest.(*Server).unaryServerInterceptor",
	"github.com/streamtest/streamtest/grpctest.(*Server).streamServerInterceptor",
	"github.com/streamtest/streamtest/grpctest.(*Server).runUnary",
	"github.com/streamtest/streamtest/grpctest.(*Server).runStream",
}

// stopFrames are on the stack of gRPC's Serve, Stop and GracefulStop,
// which wait for running handlers under grpc.WaitForHandlers(true): while a
// handler is stuck (check (b)), they are its consequence, not a leak.
var stopFrames = []string{
	"google.golang.org/grpc.(*Server).Serve",
	"google.golang.org/grpc.(*Server).Stop",
	"google.golang.org/grpc.(*Server).GracefulStop",
}

// benignFunctions are process-wide background goroutines that may be
// started lazily from a harness goroutine (and so carry its label) but are
// singletons of a library, not leaks of a test. gRPC itself starts none
// that outlive a closed ClientConn and a stopped Server; these are the
// loggers and metric workers commonly linked into gRPC programs, and the
// standard library's signal loop, which the first signal.Notify of the
// process starts (goleak ignores it by default too).
var benignFunctions = []string{
	"os/signal.loop",
	"github.com/golang/glog.(*loggingT).flushDaemon",
	"k8s.io/klog/v2.(*loggingT).flushDaemon",
	"k8s.io/klog.(*loggingT).flushDaemon",
	"go.opencensus.io/stats/view.(*worker).start",
}

// scanFunctions are on the stack of a goroutine that is running a leak
// scan: a Close, of this harness or another. It is not a leak, even when it
// carries the harness's label (a goroutine a handler started may close the
// harness), and counting it would make the scan wait for itself.
var scanFunctions = []string{"github.com/streamtest/streamtest/grpctest.labelled"}

// goleakOptions are the gRPC-aware defaults of VerifyNoLeaks and
// VerifyTestMain.
func goleakOptions(extra []goleak.Option) []goleak.Option {
	opts := make([]goleak.Option, 0, len(benignFunctions)+len(extra))
	for _, f := range benignFunctions {
		opts = append(opts, goleak.IgnoreAnyFunction(f))
	}
	return append(opts, extra...)
}

// VerifyNoLeaks fails t if goroutines other than the test framework's are
// still running, retrying with backoff (goleak) while they exit. It is
// process-wide, so it cannot be used in parallel tests: the per-harness
// check of Close is the parallel-safe one. Known benign background
// goroutines are ignored; opts add goleak options such as
// goleak.IgnoreCurrent. In a test with a harness, register it with
// t.Cleanup before NewServer, so that it runs after the harness's Close
// (cleanups run last first); a deferred call runs before Close and
// reports the harness's own goroutines.
func VerifyNoLeaks(t testing.TB, opts ...goleak.Option) {
	checkTB(t, "VerifyNoLeaks")
	t.Helper()
	if i := slices.Index(opts, nil); i >= 0 {
		t.Errorf("grpctest.VerifyNoLeaks: option %d is nil", i)
		return
	}
	if err := goleak.Find(goleakOptions(opts)...); err != nil {
		t.Errorf("grpctest: goroutines still running at the end of the test (process-wide check; a harness's Close attributes its own leaks to a method):\n%v", err)
	}
}

// VerifyTestMain runs the tests of m and then fails the test binary if
// goroutines are still running, like goleak.VerifyTestMain with the known
// benign background goroutines ignored. Call it from TestMain:
//
//	func TestMain(m *testing.M) { grpctest.VerifyTestMain(m) }
//
// It also adds tracebacklabels=1 to the binary's GODEBUG (os.Setenv),
// unless GODEBUG sets tracebacklabels already: goroutine tracebacks then
// show pprof labels, which lets a harness's report show its own
// goroutine's traceback when goroutines of other tests have the same stack
// (see the package documentation). Panic tracebacks show them too, and
// processes the tests start inherit the setting, as they inherit the rest
// of the environment.
//
// When the tests have run, it first reports the calls of Go, GoErr and
// SendUntilBlocked that a test left blocked with no harness to end them:
// those still blocked (after DefaultCloseTimeout in all), naming the test
// and with the call's stack, and those that panicked or called
// runtime.Goexit after their test had ended (without VerifyTestMain, such
// a panic crashes the binary, and such a Goexit goes unseen). Any of these
// fails the binary, even when a test failed. goleak then looks for
// goroutines only if the tests passed and there was no such report (the
// calls' goroutines would be reported twice).
func VerifyTestMain(m *testing.M, opts ...goleak.Option) {
	if m == nil {
		panic("grpctest.VerifyTestMain: m is nil: pass TestMain's *testing.M")
	}
	if i := slices.Index(opts, nil); i >= 0 {
		panic(fmt.Sprintf("grpctest.VerifyTestMain: option %d is nil", i))
	}
	enableTracebackLabels()
	goleak.VerifyTestMain(blockedCalls{m}, goleakOptions(opts)...)
}

// blockedCalls runs the tests, then reports the calls they left blocked.
type blockedCalls struct{ m *testing.M }

func (b blockedCalls) Run() int {
	verifyingMain.Store(true)
	code := b.m.Run()
	if reportLeftBlocked(os.Stderr, DefaultCloseTimeout, nil) && code == 0 {
		code = 1
	}
	return code
}

// tracebackLabelsOn reports whether goroutine tracebacks show labels:
// GODEBUG's last tracebacklabels setting is 1.
func tracebackLabelsOn() bool {
	v, _ := tracebackLabelsSetting()
	return v == "1"
}

// tracebackLabelsSetting returns the value of GODEBUG's last
// tracebacklabels setting, and whether it has one. The settings are split
// as the runtime splits them: " tracebacklabels=1" (with a space) is not
// one, for the runtime or here.
func tracebackLabelsSetting() (value string, set bool) {
	for _, kv := range strings.Split(os.Getenv("GODEBUG"), ",") {
		if k, v, _ := strings.Cut(kv, "="); k == "tracebacklabels" {
			value, set = v, true
		}
	}
	return value, set
}

// enableTracebackLabels adds tracebacklabels=1 to GODEBUG unless it has a
// tracebacklabels setting. The runtime reads GODEBUG again when it is set.
func enableTracebackLabels() {
	if _, set := tracebackLabelsSetting(); set {
		return
	}
	env := os.Getenv("GODEBUG")
	if env != "" {
		env += ","
	}
	os.Setenv("GODEBUG", env+"tracebacklabels=1")
}

// ---- check (a): client streams

func reportStreams(t *closeReport, open []*trackedStream, ended map[*trackedStream]serverEnd, drops []time.Time) {
	t.Helper()
	type key struct{ method, origin string }
	type group struct {
		n int
		// ends are the server Ends recorded before any Disconnect that
		// came after the stream opened; dropped counts the streams a
		// Disconnect dropped, hedged those of them the server had ended
		// before it. foreign counts the streams opened with the context
		// of another harness's handler, still running.
		ends                     []serverEnd
		dropped, hedged, foreign int
		// notHalfClosed counts the client-streaming (not bidirectional)
		// streams the server had not ended and the client never
		// half-closed.
		notHalfClosed int
		// ids are the calls' ids in the timeline, as the recorder tagged
		// them.
		ids []uint64
	}
	groups := make(map[key]*group)
	for _, ts := range open {
		k := key{ts.method, ts.origin}
		g := groups[k]
		if g == nil {
			g = new(group)
			groups[k] = g
		}
		g.n++
		if ts.callID != 0 {
			g.ids = append(g.ids, ts.callID)
		}
		if ts.otherHarness {
			g.foreign++
		}
		e, isEnded := ended[ts]
		if ts.disconnects < len(drops) {
			g.dropped++
			if !isEnded || e.Time.After(drops[ts.disconnects]) {
				continue // ended by the drop, or after it: Unavailable
			}
			g.hedged++
		}
		if isEnded {
			g.ends = append(g.ends, e)
		} else if ts.clientStreams && !ts.serverStreams && !ts.halfClosed.Load() {
			g.notHalfClosed++
		}
	}
	keys := make([]key, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.method, b.method), cmp.Compare(a.origin, b.origin))
	})
	for _, k := range keys {
		slices.Sort(groups[k].ids)
		t.focus(groups[k].ids...)
	}
	for _, k := range keys {
		g := groups[k]
		t.Errorf("grpctest: client stream %s opened at %s was never finished (%d open at Close%s): "+
			"drain the stream or cancel its context (call Recv until it returns io.EOF or an error, or cancel the context passed to the RPC)%s%s%s%s",
			k.method, k.origin, g.n, callsNote(g.ids, g.n), halfCloseNote(g.n, g.notHalfClosed), serverEndedNote(g.n, g.ends), droppedNote(g.n, g.dropped, g.hedged), foreignNote(g.n, g.foreign))
	}
}

// maxCallsNamed is how many call ids callsNote names.
const maxCallsNamed = 5

// callsNote names the calls of the recorded timeline that a report on n
// calls is about, given the ids of those the timeline shows, in
// increasing order: ": call 7 in the timeline", ": calls 7, 9 and 3 more
// in the timeline"; and how many of the n it does not show, if any.
func callsNote(ids []uint64, n int) string {
	var b strings.Builder
	switch {
	case len(ids) == 0:
		return ""
	case len(ids) == 1:
		fmt.Fprintf(&b, ": call %d in the timeline", ids[0])
	default:
		named := make([]string, 0, maxCallsNamed)
		for _, id := range ids[:min(len(ids), maxCallsNamed)] {
			named = append(named, strconv.FormatUint(id, 10))
		}
		if rest := len(ids) - len(named); rest > 0 {
			fmt.Fprintf(&b, ": calls %s and %d more in the timeline", strings.Join(named, ", "), rest)
		} else {
			last := len(named) - 1
			fmt.Fprintf(&b, ": calls %s and %s in the timeline", strings.Join(named[:last], ", "), named[last])
		}
	}
	if untold := n - len(ids); untold > 0 {
		fmt.Fprintf(&b, ", %d not found in it", untold)
	}
	return b.String()
}

// halfCloseNote says, for n client-streaming streams opened at one line
// (not bidirectional ones, whose handlers may answer as they go),
// how many the client never half-closed while the server had not ended
// them: a handler that reads requests until io.EOF waits for CloseSend.
func halfCloseNote(n, notHalfClosed int) string {
	which := "its client never half-closed it"
	switch {
	case notHalfClosed == 0:
		return ""
	case n > 1:
		which = fmt.Sprintf("the client never half-closed %d of them", notHalfClosed)
	}
	return fmt.Sprintf("; %s (no CloseSend), and a handler that reads the requests until io.EOF waits for that: "+
		"call CloseSend, or CloseAndRecv, once the requests are sent", which)
}

// foreignNote says, for n streams opened at one line, how many were opened
// with the context of a handler of another harness that was still running
// at the close timeout.
func foreignNote(n, foreign int) string {
	if foreign == 0 {
		return ""
	}
	which := "it was"
	if n > 1 {
		which = fmt.Sprintf("%d of them were", foreign)
	}
	return fmt.Sprintf("; %s opened with the context of a handler of another harness, still running when this one closed: "+
		"build this harness first, so that it closes after the one whose handler calls it, or end that handler's calls before the test ends", which)
}

// serverEndedNote says, for n streams opened at one line, which the server
// had already ended when Close started: their status was waiting for a
// Recv. Two kinds of end are told apart, as a Recv would not have returned
// their status: an attempt that ended with a code the method's retry
// policy retries, before it responded (gRPC retries the call at the
// client's next operation, and a Recv waits for the new attempt); and
// Canceled, which a server half of a stream the client did not cancel
// gets when the connection goes away (the client sees Unavailable,
// mostly), unless the handler returned it.
func serverEndedNote(n int, ends []serverEnd) string {
	if len(ends) == 0 {
		return ""
	}
	slices.SortFunc(ends, func(a, b serverEnd) int { return cmp.Compare(a.Seq, b.Seq) })
	var retried, canceled, plain []serverEnd
	for _, e := range ends {
		switch {
		case e.retryable:
			retried = append(retried, e)
		case status.Code(e.Err) == codes.Canceled:
			canceled = append(canceled, e)
		default:
			plain = append(plain, e)
		}
	}
	var b strings.Builder
	if len(plain) > 0 {
		e := plain[0]
		switch {
		case n == 1 && e.Err == nil:
			fmt.Fprintf(&b, "; the server ended it with OK at event %d: Recv would have returned the responses not yet received, then io.EOF", e.Seq)
		case n == 1:
			fmt.Fprintf(&b, "; the server ended it with %s at event %d: a Recv would have returned that status (after any responses not yet received)",
				endStatus(e.Err), e.Seq)
		default:
			fmt.Fprintf(&b, "; the server had ended %d of them (the first with %s at event %d): a Recv would have returned their status (io.EOF for OK), after any responses not yet received",
				len(plain), endStatus(e.Err), e.Seq)
		}
	}
	if len(retried) > 0 {
		e := retried[0]
		const retry = "gRPC retries such a call when the client next reads or writes, unless the call is committed (stream.Context() was called, or its messages overflowed the retry buffer): " +
			"a Recv would then have started another attempt and waited for its responses or status"
		if n == 1 {
			fmt.Fprintf(&b, "; the server ended attempt %d with %s at event %d, before any response, and the method's retry policy retries that code, with attempts left: %s",
				e.attempt, endStatus(e.Err), e.Seq, retry)
		} else {
			fmt.Fprintf(&b, "; the server ended an attempt of %d of them (the first with %s at event %d) before any response, with a code the method's retry policy retries, with attempts left: %s",
				len(retried), endStatus(e.Err), e.Seq, retry)
		}
	}
	if len(canceled) > 0 {
		which := "its server half ended"
		if n > 1 {
			which = fmt.Sprintf("the server half of %d of them ended", len(canceled))
		}
		fmt.Fprintf(&b, "; %s Canceled (the first at event %d) while the client had not canceled: unless the handler returned Canceled itself, "+
			"the connection went away (a GOAWAY, keepalive's MaxConnectionAge, a transport error), and a Recv would have returned the error the client got for that (mostly Unavailable)",
			which, canceled[0].Seq)
	}
	return b.String()
}

// droppedNote says, for n streams opened at one line, how many had their
// connection dropped by a Disconnect called after they opened: a Recv on
// those returns Unavailable, unless (hedged of them) the server had ended
// the stream before the drop and its status reached the client first.
func droppedNote(n, dropped, hedged int) string {
	switch {
	case dropped == 0:
		return ""
	case n == 1 && hedged == 1:
		return "; but Disconnect dropped its connection after that: if it did so before the status reached the client, a Recv would have returned Unavailable instead"
	case n == 1:
		return "; Disconnect dropped its connection after it opened: a Recv would have returned Unavailable"
	case hedged == 0:
		return fmt.Sprintf("; Disconnect dropped the connection of %d of them after they opened: a Recv on those would have returned Unavailable", dropped)
	default:
		return fmt.Sprintf("; Disconnect dropped the connection of %d of them after they opened: a Recv on those would have returned Unavailable "+
			"(on the %d the server had ended before, only if the drop came before their status reached the client)", dropped, hedged)
	}
}

// serverEnds finds, in the harness's recorder, the server End of each of
// the streams that has one: the streams the server has ended but the
// client never read to the end. A stream's call is the one the recorder
// tagged it with (Recorder.CallID), which it notes in the stream's
// callID.
func (s *Server) serverEnds(open []*trackedStream) map[*trackedStream]serverEnd {
	if s.rec == nil || len(open) == 0 {
		return nil
	}
	var ends map[uint64]serverEnd
	out := make(map[*trackedStream]serverEnd)
	for _, ts := range open {
		id, ok := s.rec.CallID(ts.ClientStream.Context())
		if !ok {
			continue
		}
		ts.callID = id
		if ends == nil {
			ends = make(map[uint64]serverEnd)
			responded := make(map[uint64]bool) // by the call's latest attempt
			attempt := make(map[uint64]int)    // the latest attempt's number, from 1
			for _, e := range s.rec.Events() {
				if e.Side != recorder.Server {
					continue
				}
				switch e.Kind {
				case recorder.Begin: // a first attempt, or gRPC's retry
					delete(ends, e.CallID)
					delete(responded, e.CallID)
					attempt[e.CallID] = attemptOf(e.MD)
				case recorder.Header, recorder.Send:
					responded[e.CallID] = true
				case recorder.End:
					ends[e.CallID] = serverEnd{Event: e, responded: responded[e.CallID], attempt: attempt[e.CallID]}
				}
			}
		}
		if e, ok := ends[id]; ok && e.Method == ts.method {
			e.retryable = !e.responded && retries(ts.cc, ts.method, status.Code(e.Err), e.attempt)
			out[ts] = e
		}
	}
	return out
}

// serverEnd is the server End of a stream's call, of its latest attempt.
type serverEnd struct {
	recorder.Event
	// responded: the attempt sent a header or a message before it ended.
	// retryable: it did not, and ended with a code that the method's
	// retry policy retries, with attempts left: gRPC retries the call at
	// the client's next operation on the stream (unless the call is
	// committed).
	responded, retryable bool
	attempt              int // the attempt's number, from 1
}

// attemptOf returns the number of the attempt (from 1) whose server Begin
// has request metadata md.
func attemptOf(md metadata.MD) int { return rpcstatus.PreviousAttempts(md) + 1 }

// retries reports whether the service config of cc gives method a retry
// policy that retries code after attempt number attempt.
func retries(cc *grpc.ClientConn, method string, code codes.Code, attempt int) bool {
	p := cc.GetMethodConfig(method).RetryPolicy
	return p != nil && attempt < p.MaxAttempts && p.RetryableStatusCodes[code]
}

// callSite names the first caller outside gRPC, generated code and this
// module's library packages: the line that opened the stream. When that
// line is not in a test function (a helper of the test's, or the code
// under test), the lines of the test's files that led to it follow, up to
// the test function's: "room_test.go:24 (in join, called at
// room_test.go:51)". A helper's t.Helper mark is the testing package's
// own, and without them the streams a helper opens for several callers
// would all be "room_test.go:24".
func callSite() string {
	var pcs [64]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	var site string
	var callers []string
	for {
		f, more := frames.Next()
		switch {
		case site == "":
			if skipFrame(f) {
				break
			}
			site = fmt.Sprintf("%s:%d", filepath.Base(f.File), f.Line)
			if testFunction(f.Function) {
				return site
			}
			callers = append(callers, "in "+shortFunction(f.Function)+", called at")
		case strings.HasSuffix(f.File, "_test.go"):
			callers = append(callers, fmt.Sprintf("%s:%d", filepath.Base(f.File), f.Line))
			if testFunction(f.Function) || len(callers) == maxCallers {
				more = false
			}
		}
		if !more {
			break
		}
	}
	switch {
	case site == "":
		return "(unknown)"
	case len(callers) < 2: // no line of a test's file led to it
		return site
	}
	return fmt.Sprintf("%s (%s %s)", site, callers[0], strings.Join(callers[1:], ", "))
}

// maxCallers bounds the lines callSite gives after the stream's own (the
// first entry names the function).
const maxCallers = 4

// testFunction reports whether fn, a function's full name, is a test,
// benchmark, fuzz test or example function: TestXxx and the like, as go
// test finds them (a closure within one, such as open := func() {...},
// may be a helper, and a method never is one).
func testFunction(fn string) bool {
	name := shortFunction(fn)
	if strings.ContainsAny(name, ".[") {
		return false // a closure, a method or a generic function
	}
	for _, prefix := range []string{"Test", "Benchmark", "Fuzz", "Example"} {
		if rest, ok := strings.CutPrefix(name, prefix); ok {
			r, _ := utf8.DecodeRuneInString(rest)
			return rest == "" || !unicode.IsLower(r)
		}
	}
	return false
}

// shortFunction returns fn without its package path: "join",
// "(*fixture).open", "TestRoom.func1".
func shortFunction(fn string) string {
	fn = fn[strings.LastIndex(fn, "/")+1:]
	if _, after, ok := strings.Cut(fn, "."); ok {
		return after
	}
	return fn
}

func skipFrame(f runtime.Frame) bool {
	switch {
	case strings.HasPrefix(f.Function, "google.golang.org/grpc"),
		strings.HasPrefix(f.Function, "runtime."),
		strings.HasSuffix(f.File, "_grpc.pb.go"):
		return true
	case strings.HasPrefix(f.Function, "github.com/streamtest/streamtest/grpctest."),
		strings.HasPrefix(f.Function, "github.com/streamtest/streamtest/recorder."):
		return !strings.HasSuffix(f.File, "_test.go")
	}
	return false
}

// ---- checks (b) and (c): goroutines carrying the harness label

// goroutineGroup is one record of the goroutine profile: goroutines with
// the same stack and labels.
type goroutineGroup struct {
	count  int
	labels map[string]string
	frames []frame
	full   string // a full traceback of one of them (state, created by), if found
	// alike is, when full may be another goroutine's, how many goroutines
	// have this stack: some are not in the group (another harness's, the
	// test's own), and without labels in tracebacks they cannot be told
	// apart. 0 when full is one of the group's.
	alike int
}

type frame struct{ fn, loc string }

func (g goroutineGroup) key() string {
	var b strings.Builder
	for _, f := range g.frames {
		b.WriteString(f.fn)
		b.WriteByte('@')
		b.WriteString(f.loc)
		b.WriteByte('\n')
	}
	return b.String()
}

func (g goroutineGroup) has(fns []string) bool {
	for _, f := range g.frames {
		if slices.Contains(fns, f.fn) {
			return true
		}
	}
	return false
}

func (g goroutineGroup) isHandler() bool { return g.has(handlerFrames) }

// testRoots are the outermost functions of the goroutines on which the
// testing package runs a test, benchmark, fuzz target or example.
var testRoots = []string{
	"testing.tRunner",
	"testing.fRunner",
	"testing.(*B).run1.func1",
	"testing.(*B).launch",
	"main.main", // examples run on the main goroutine (runtime frames are not kept)
}

// pendingFrames are on the stack of the goroutine that runs a call started
// with Go or GoErr.
var pendingFrames = []string{"github.com/streamtest/streamtest/grpctest.(*Pending[...]).run"}

// isTestsOwn reports whether g, labelled by WithTestGoroutineCheck, is not
// one for check (c) to report: the goroutine of the test itself (or of a
// subtest it started), waiting for the Close that scans when Close runs on
// another goroutine; or a call the test started with Go or GoErr, which
// Close reports on its own when it is left blocked (see Blocking).
func (g goroutineGroup) isTestsOwn() bool {
	if g.startedBy() != byTest || len(g.frames) == 0 {
		return false
	}
	return slices.Contains(testRoots, g.frames[len(g.frames)-1].fn) || g.has(pendingFrames)
}

// callFrames are on the stack of the goroutine on which gRPC serves a
// call, from before the interceptors run (v1.85 has handleStream and
// processRPC; earlier versions processUnaryRPC and processStreamingRPC).
var callFrames = []string{
	"google.golang.org/grpc.(*Server).handleStream",
	"google.golang.org/grpc.(*Server).processRPC",
	"google.golang.org/grpc.(*Server).processUnaryRPC",
	"google.golang.org/grpc.(*Server).processStreamingRPC",
}

// servesCall reports whether g is still serving a call outside the
// handlers the harness counts: held by code that gRPC runs on the call's
// goroutine outside the harness's interceptors (an interceptor set with
// grpc.UnaryInterceptor or grpc.StreamInterceptor, a stats handler, a
// codec), before or after the handler.
func (g goroutineGroup) servesCall() bool { return !g.isHandler() && g.has(callFrames) }

// clientConnFrames begin the functions of a grpc.ClientConn's goroutines:
// the serializers of its resolver and balancer, and its transports'
// reader, writer and keepalive.
var clientConnFrames = []string{
	"google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).",
	"google.golang.org/grpc/internal/transport.(*http2Client).",
	"google.golang.org/grpc/internal/transport.NewHTTP2Client.",
}

// isClientConn reports whether g runs part of a grpc.ClientConn.
func (g goroutineGroup) isClientConn() bool {
	for _, f := range g.frames {
		for _, prefix := range clientConnFrames {
			if strings.HasPrefix(f.fn, prefix) {
				return true
			}
		}
	}
	return false
}

// Who started a goroutine the harness labelled.
const (
	byHandler = iota // a handler (labelMethod names it)
	byClient         // the client side of the harness
	byServer         // the server side, outside any handler
	byTest           // the test's goroutine (WithTestGoroutineCheck)
	byCount
)

// startedBy says who started g: byHandler, byClient, byServer or byTest.
func (g goroutineGroup) startedBy() int {
	switch {
	case g.labels[labelMethod] != "":
		return byHandler
	case g.labels[labelSide] == "client":
		return byClient
	case g.labels[labelSide] == "test":
		return byTest
	default:
		return byServer
	}
}

func (g goroutineGroup) origin() string {
	switch g.startedBy() {
	case byHandler:
		return "handler " + g.labels[labelMethod]
	case byClient:
		return "the harness's gRPC client"
	case byTest:
		return "the test, or code it called, after NewServer (WithTestGoroutineCheck)"
	default:
		return "the harness's gRPC server"
	}
}

// render writes the group's stack under a heading; an empty heading says
// how many goroutines it stands for and who started them.
func (g goroutineGroup) render(b *strings.Builder, heading string) {
	if heading == "" {
		heading = fmt.Sprintf("%d goroutine(s) like this one, started by %s:", g.count, g.origin())
	}
	b.WriteString("  ")
	b.WriteString(heading)
	b.WriteByte('\n')
	if g.full != "" {
		lines := strings.Split(strings.TrimRight(g.full, "\n"), "\n")
		if g.alike > 0 {
			anonymize(lines, g.alike)
		}
		for _, l := range elideDispatch(lines) {
			b.WriteString("    ")
			b.WriteString(l)
			b.WriteByte('\n')
		}
		return
	}
	for _, f := range g.frames {
		fmt.Fprintf(b, "    %s\n        %s\n", f.fn, f.loc)
	}
}

// anonymize edits the lines of a traceback that may be another
// goroutine's than the group's (one of alike with the same stack): its
// goroutine number, and its creator's, would be the wrong ones.
func anonymize(lines []string, alike int) {
	if _, rest, ok := strings.Cut(lines[0], " ["); ok {
		lines[0] = fmt.Sprintf("goroutine ? [%s (one of %d goroutines with this stack, some not this harness's, "+
			"which tracebacks tell apart only with GODEBUG=tracebacklabels=1: grpctest.VerifyTestMain sets it "+
			"unless GODEBUG has a tracebacklabels setting already)", strings.TrimSuffix(rest, ":"), alike)
	}
	for i, l := range lines {
		if strings.HasPrefix(l, "created by ") {
			if j := strings.LastIndex(l, " in goroutine "); j > 0 {
				lines[i] = l[:j]
			}
		}
	}
}

// dispatchFrames are the functions between gRPC's stream goroutine and a
// handler: noise in a handler's stack.
var dispatchFrames = []string{
	"google.golang.org/grpc.(*Server).",
	"google.golang.org/grpc.getChain",
	"google.golang.org/grpc.NewServer.chain",
	"github.com/streamtest/streamtest/grpctest.(*Server).",
	"github.com/streamtest/streamtest/recorder.",
}

// elideDispatch returns the lines of a traceback without the dispatch
// frames, with one line in their place that says so.
func elideDispatch(lines []string) []string {
	return dropFrames(lines, func(fn, _ string) bool { return dispatchFrame(fn) }, "... (gRPC and grpctest dispatch frames elided)")
}

// dropFrames returns the lines of a traceback without the frames that drop
// selects; a frame is a function line and its location line, which starts
// with a tab. Other lines (the goroutine's header, "...N frames
// elided...") stand alone and are kept. A marker, if not "", takes the
// place of the first frame dropped.
func dropFrames(lines []string, drop func(fn, loc string) bool, marker string) []string {
	out := make([]string, 0, len(lines))
	marked := false
	for i := 0; i < len(lines); i++ {
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "\t") {
			fn, loc := lines[i], lines[i+1]
			i++
			if !drop(fn, loc) {
				out = append(out, fn, loc)
			} else if marker != "" && !marked {
				out = append(out, marker)
				marked = true
			}
			continue
		}
		out = append(out, lines[i])
	}
	return out
}

func dispatchFrame(line string) bool { return hasPrefixIn(line, dispatchFrames) }

// hasPrefixIn reports whether s starts with one of prefixes.
func hasPrefixIn(s string, prefixes []string) bool {
	return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(s, p) })
}

// labelled returns the goroutines carrying the label of harness id, except
// benign ones, read from the goroutine profile (debug=1 prints labels).
func labelled(id string) []goroutineGroup {
	return slices.DeleteFunc(labelledWith(labelHarness, id), goroutineGroup.benign)
}

// benign reports whether g is one of gRPC's benign goroutines or the
// scan's own, which no leak check reports.
func (g goroutineGroup) benign() bool { return g.has(benignFunctions) || g.has(scanFunctions) }

// labelledWith returns the goroutines whose label key is value, read from
// the goroutine profile.
func labelledWith(key, value string) []goroutineGroup {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return nil
	}
	return groupsIn(buf.String(), key, value)
}

// groupsIn returns the goroutines of a debug=1 goroutine profile whose
// label key is value.
func groupsIn(profile, key, value string) []goroutineGroup {
	needle := strconv.Quote(key) + ":" + strconv.Quote(value)
	// The first line is "goroutine profile: total N"; records follow, one
	// per blank-line separated block.
	_, body, _ := strings.Cut(profile, "\n")
	var out []goroutineGroup
	var keys []string // out's frames, as key gives them
	for _, rec := range strings.Split(body, "\n\n") {
		if !strings.Contains(rec, needle) {
			continue
		}
		g, ok := parseRecord(rec)
		if !ok || g.labels[key] != value || len(g.frames) == 0 {
			continue // no frame but the runtime's: a goroutine exiting
		}
		// The profile groups goroutines by their exact PCs: one caught
		// between two instructions of a line (not yet parked) is a record
		// of its own. By frames and labels they are one group.
		k := g.key()
		i := 0
		for i < len(out) && !(keys[i] == k && maps.Equal(out[i].labels, g.labels)) {
			i++
		}
		if i < len(out) {
			out[i].count += g.count
			continue
		}
		out = append(out, g)
		keys = append(keys, k)
	}
	return out
}

// parseRecord parses one record of a debug=1 goroutine profile:
//
//	1 @ 0x47d92e 0x4158ee
//	# labels: {"k":"v", "k2":"v2"}
//	#	0x4dc0f8	main.main.func1.1+0x18	/tmp/x/main.go:12
func parseRecord(rec string) (goroutineGroup, bool) {
	var g goroutineGroup
	lines := strings.Split(strings.TrimSpace(rec), "\n")
	if len(lines) == 0 {
		return g, false
	}
	head := strings.Fields(lines[0])
	if len(head) < 2 || head[1] != "@" {
		return g, false
	}
	n, err := strconv.Atoi(head[0])
	if err != nil {
		return g, false
	}
	g.count = n
	for _, l := range lines[1:] {
		if rest, ok := strings.CutPrefix(l, "# labels: "); ok {
			g.labels = parseLabels(rest)
			continue
		}
		fields := strings.Split(strings.TrimPrefix(l, "#"), "\t")
		// "", pc, fn+off, [tabs...] file:line
		var parts []string
		for _, f := range fields {
			if f = strings.TrimSpace(f); f != "" {
				parts = append(parts, f)
			}
		}
		if len(parts) < 3 {
			continue
		}
		fn := parts[1]
		if i := strings.LastIndex(fn, "+0x"); i > 0 {
			fn = fn[:i]
		}
		if internalFunc(fn) {
			continue
		}
		g.frames = append(g.frames, frame{fn: fn, loc: parts[len(parts)-1]})
	}
	return g, g.labels != nil
}

func internalFunc(fn string) bool {
	return strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "internal/runtime/")
}

// parseLabels parses the label set printed by the profile:
// {"k":"v", "k2":"v2"}.
func parseLabels(s string) map[string]string {
	m := make(map[string]string)
	s = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "{"), "}")
	for s != "" {
		k, err := strconv.QuotedPrefix(s)
		if err != nil {
			break
		}
		s = strings.TrimLeft(strings.TrimPrefix(s[len(k):], ":"), " ")
		v, err := strconv.QuotedPrefix(s)
		if err != nil {
			break
		}
		s = strings.TrimPrefix(s[len(v):], ", ")
		uk, _ := strconv.Unquote(k)
		uv, _ := strconv.Unquote(v)
		m[uk] = uv
	}
	return m
}

// awaitLabelled retries, with exponential backoff and until deadline, until
// no goroutine of harness id is left but stuck handlers and those that
// wait for them (held), and returns what is left (handlers and held
// included), with full tracebacks where they can be matched.
func awaitLabelled(id string, deadline time.Time, held func(goroutineGroup) bool) []goroutineGroup {
	delay := 20 * time.Microsecond
	pending := func(gs []goroutineGroup) bool {
		return slices.ContainsFunc(gs, func(g goroutineGroup) bool { return !g.isHandler() && !held(g) })
	}
	for {
		left := labelled(id)
		if !pending(left) && raceEnabled && tracebackLabelsOn() {
			// Under the race detector the goroutine profile has been seen
			// to leave a goroutine out (Go 1.26, beside two busy loops: a
			// handler's leaked goroutine missing from the profile while
			// its traceback showed it, labels and all; 3 in about 1,200
			// runs of a test, none in 1,500 without -race). Before it
			// concludes that nothing is left, the scan asks the tracebacks
			// too, when they show labels. (It costs a dump of every
			// goroutine, about 0.4 ms per Close.)
			left = withLabelledTracebacks(left, id)
		}
		if !pending(left) || !time.Now().Before(deadline) {
			return withTracebacks(left)
		}
		if delay < time.Millisecond {
			runtime.Gosched()
		}
		time.Sleep(delay)
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// withLabelledTracebacks adds to groups, read from the goroutine profile,
// the goroutines whose tracebacks carry the label of harness id and that
// the profile left out. Tracebacks show labels only with
// GODEBUG=tracebacklabels=1 (VerifyTestMain sets it); without, groups
// are returned as they are.
func withLabelledTracebacks(groups []goroutineGroup, id string) []goroutineGroup {
	type key struct{ frames, labels string }
	keyOf := func(g goroutineGroup) key { return key{g.key(), fmt.Sprint(g.labels)} }
	counted := make(map[key]int)
	for _, g := range groups {
		counted[keyOf(g)] += g.count
	}
	seen := make(map[key]int)
	var extra []goroutineGroup
	self := goid.ID() // the scan's own goroutine, which the profile leaves out too
	for _, tb := range allTracebacks() {
		labels, ok := tracebackLabels(tb)
		if !ok || labels[labelHarness] != id {
			continue
		}
		if n, ok := goid.FromTraceback(tb); ok && n == self {
			continue
		}
		g := goroutineGroup{count: 1, labels: labels, frames: tracebackFrames(tb)}
		if len(g.frames) == 0 || g.benign() {
			continue
		}
		k := keyOf(g)
		seen[k]++
		if seen[k] <= counted[k] {
			continue // the profile has it
		}
		if i := slices.IndexFunc(extra, func(e goroutineGroup) bool { return keyOf(e) == k }); i >= 0 {
			extra[i].count++
			continue
		}
		extra = append(extra, g)
	}
	return append(groups, extra...)
}

// tracebackFrames returns the frames of one goroutine of a runtime.Stack
// dump as the goroutine profile gives them (function, file:line), without
// the runtime's (see tracebackKey).
func tracebackFrames(tb string) []frame {
	lines := strings.Split(tb, "\n")
	var out []frame
	for i := 1; i+1 < len(lines); i += 2 {
		fnLine, locLine := lines[i], lines[i+1]
		if strings.HasPrefix(fnLine, "created by ") || !strings.HasPrefix(locLine, "\t") {
			break
		}
		fn := fnLine
		if j := strings.LastIndex(fn, "("); j > 0 {
			fn = fn[:j]
		}
		if internalFunc(fn) {
			continue
		}
		loc := strings.TrimSpace(locLine)
		if j := strings.LastIndex(loc, " +0x"); j > 0 {
			loc = loc[:j]
		}
		out = append(out, frame{fn: fn, loc: loc})
	}
	return out
}

// allTracebacks returns the traceback of every goroutine (runtime.Stack),
// one per element, from a dump of at most 64 MiB.
func allTracebacks() []string {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) || len(buf) >= 64<<20 {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	return strings.Split(string(buf), "\n\n")
}

// withTracebacks adds to each group the full traceback of one goroutine
// with the same stack, taken from runtime.Stack: it shows the goroutine's
// state and where it was created.
func withTracebacks(groups []goroutineGroup) []goroutineGroup {
	if len(groups) == 0 {
		return groups
	}
	byKey := make(map[string][]string)
	for _, tb := range allTracebacks() {
		k := tracebackKey(tb)
		byKey[k] = append(byKey[k], tb)
	}
	for i := range groups {
		groups[i].full, groups[i].alike = pickTraceback(byKey[groups[i].key()], groups[i])
	}
	return groups
}

// pickTraceback returns, of the tracebacks tbs of goroutines with g's
// stack, one of g's goroutines', and 0. Tracebacks show labels only with
// GODEBUG=tracebacklabels=1; then it is the one with g's labels (or none,
// if they have all exited). Without labels, any is g's when there are no
// more of them than g has goroutines; when there are more, some are
// another harness's, or the test's: it returns the first, and how many
// there are, for render to say it may be another's.
func pickTraceback(tbs []string, g goroutineGroup) (string, int) {
	labelled := false
	for _, tb := range tbs {
		l, ok := tracebackLabels(tb)
		if ok && maps.Equal(l, g.labels) {
			return tb, 0
		}
		labelled = labelled || ok
	}
	switch {
	case len(tbs) == 0 || labelled:
		return "", 0
	case len(tbs) <= g.count:
		return tbs[0], 0
	}
	return tbs[0], len(tbs)
}

// tracebackLabels returns the labels a traceback's first line shows with
// GODEBUG=tracebacklabels=1:
//
//	goroutine 7 [chan receive labels:{"k": "v", "k2": "v2"}]:
func tracebackLabels(tb string) (map[string]string, bool) {
	head, _, _ := strings.Cut(tb, "\n")
	_, set, ok := strings.Cut(head, " labels:{")
	if !ok {
		return nil, false
	}
	return parseLabels("{" + strings.TrimSuffix(set, "]:")), true
}

// tracebackKey computes goroutineGroup.key for one goroutine of a
// runtime.Stack dump:
//
//	goroutine 7 [chan receive]:
//	main.main.func1.1()
//		/tmp/x/main.go:12 +0x18
//	created by main.main.func1 in goroutine 1
//		/tmp/x/main.go:11 +0x5c
func tracebackKey(tb string) string {
	return goroutineGroup{frames: tracebackFrames(tb)}.key()
}

func reportGoroutines(t testing.TB, groups []goroutineGroup, waited time.Duration) {
	t.Helper()
	var b strings.Builder
	total, conns := 0, 0
	for _, g := range groups {
		total += g.count
		if g.isClientConn() {
			conns += g.count
		}
	}
	fmt.Fprintf(&b, "grpctest: %d goroutine(s) started during this harness's life still running %v after Close: %s",
		total, waited.Round(time.Millisecond), leakHints(groups))
	if conns > 0 {
		fmt.Fprintf(&b, ". %d of them run a grpc.ClientConn (its resolver and balancer, or a transport) that was never closed: "+
			"Close every ClientConn the code creates (canceling a context does not stop one)", conns)
	}
	for _, g := range groups {
		if fn := g.topFunction(); fn != "" && !g.isClientConn() && !g.servesCall() {
			fmt.Fprintf(&b, ". A goroutine meant to outlive the test (a process-wide worker started on first use) can be exempted: "+
				"grpctest.WithIgnoredGoroutines(%q), and goleak.IgnoreAnyFunction in VerifyTestMain", fn)
			break
		}
	}
	b.WriteByte('\n')
	for _, g := range groups {
		g.render(&b, "")
	}
	t.Errorf("%s", strings.TrimRight(b.String(), "\n"))
}

// leakHints says how to fix the leaks of groups, by who started them.
func leakHints(groups []goroutineGroup) string {
	var by [byCount]bool
	serving, scriptFunc := false, false
	for _, g := range groups {
		switch {
		case g.servesCall():
			serving = true
		case g.runsScriptFunc():
			scriptFunc = true
		default:
			by[g.startedBy()] = true
		}
	}
	var hints []string
	if scriptFunc {
		hints = append(hints, "a function of a fakes script step (RecvFunc, RecvEach, SendFunc or Do) still running after its call ended: "+
			"make it return when the call ends: watch ctx.Done() of the call's context (Do's function gets it; the others can take it as their first parameter)")
	}
	if serving {
		hints = append(hints, "a goroutine still serving a call outside the handler: code that gRPC runs on the call's goroutine outside the harness's interceptors "+
			"(an interceptor set with grpc.UnaryInterceptor or grpc.StreamInterceptor, a stats handler's HandleRPC, a codec), "+
			"so the call was never counted as a running handler, did not return after Stop; make it return when the call's context is done")
	}
	if by[byHandler] {
		hints = append(hints, "make each goroutine a handler starts return when the handler's context is done, or wait for it before the handler returns")
	}
	if by[byClient] {
		hints = append(hints, "a goroutine started on the client side while it called the harness (by the code under test, or a client interceptor) must return when its call ends, or be stopped before the test returns")
	}
	if by[byTest] {
		hints = append(hints, "a goroutine the test started after NewServer (itself, or in the code under test it called) must be stopped before the harness closes "+
			"(when the test ends, or where it calls Close): make it return when its work or its context ends, and stop it with a defer or a t.Cleanup registered after NewServer "+
			"(a cleanup registered before NewServer runs after Close; a Close the test calls itself runs before its defers)")
	}
	if by[byServer] {
		hints = append(hints, "a goroutine started on the server outside any handler (a server interceptor, a stats handler) must be stopped when the server stops")
	}
	return strings.Join(hints, "; ")
}

// topFunction returns what to name to exempt g: the goroutine's own
// function (the outermost frame outside the standard library and gRPC),
// which names this goroutine and no other. Exempting where it blocks
// instead (io.(*pipe).read, a library's wait) would hide every goroutine
// blocked there. "" if there is none, or if it is one of this module's
// (such as the goroutine fakes runs a script's function on): those run a
// test's code for one call and are never meant to outlive it.
func (g goroutineGroup) topFunction() string {
	for i := len(g.frames) - 1; i >= 0; i-- {
		if fn := g.frames[i].fn; !standardLibrary(fn) && !strings.HasPrefix(fn, "google.golang.org/grpc") {
			if ownLibrary(fn) {
				return ""
			}
			return fn
		}
	}
	return ""
}

// scriptFuncRunner is the function fakes runs a script step's function on.
const scriptFuncRunner = "github.com/streamtest/streamtest/fakes.(*Server).runFunc"

// runsScriptFunc reports whether g's goroutines run the function of a
// fakes script step (see scriptFuncRunner).
func (g goroutineGroup) runsScriptFunc() bool {
	return slices.ContainsFunc(g.frames, func(f frame) bool { return f.fn == scriptFuncRunner })
}

// ownLibrary reports whether fn, a full function name, is of one of this
// module's packages, not counting their tests.
func ownLibrary(fn string) bool {
	rest, ok := strings.CutPrefix(fn, "github.com/streamtest/streamtest/")
	if !ok {
		return false
	}
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		rest = rest[i+1:]
	}
	pkg, _, _ := strings.Cut(rest, ".")
	return !strings.HasSuffix(pkg, "_test")
}

// standardLibrary reports whether fn, a full function name, is of the
// standard library: the first element of its package path has no dot
// ("io.", "net/http.", but not "example.com/x." nor "main."). A module
// path without a dot counts too, which only drops a hint.
func standardLibrary(fn string) bool {
	first := fn
	if i := strings.IndexByte(first, '/'); i >= 0 {
		first = first[:i]
	} else if i := strings.IndexByte(first, '.'); i >= 0 {
		first = first[:i]
	}
	return first != "main" && !strings.Contains(first, ".")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
