package grpctest

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamtest/streamtest/internal/goid"
)

// ErrStillBlocked is the error Pending.Wait returns (wrapped, with the
// timeout) when the call has not returned in time.
var ErrStillBlocked = errors.New("grpctest: call still blocked")

// Pending is a call running on its own goroutine, started by Go or GoErr,
// about which a test asserts whether it has returned: AssertBlocked, Wait,
// Done. A call still blocked when the test ends is awaited by the test's
// harness, or left to return and checked by VerifyTestMain; see
// "Blocking" in the package doc.
type Pending[T any] struct {
	t     testing.TB
	where string // file:line of the Go or GoErr call
	what  string // "Go", "GoErr", "SendUntilBlocked"
	done  chan struct{}

	// Set before done is closed.
	val        T
	err        error
	panicVal   any
	panicStack []byte
	exited     bool // fn ended its goroutine without returning (runtime.Goexit)

	reported atomic.Bool   // the panic or the exit was reported
	goid     atomic.Uint64 // the number of the goroutine that runs fn, once it runs

	// mu orders the end of fn (done closed) against the test's giving the
	// call up (its cleanup, or its harness that waited in vain): either
	// that sees done closed and reports a panic through t, or fn's end
	// sees cleanedUp, after which t may no longer be used.
	mu        sync.Mutex
	cleanedUp bool
}

// blocker is what a harness needs of a Pending it adopts, and
// VerifyTestMain of one a test left blocked.
type blocker interface {
	doneChan() <-chan struct{}
	describe() string
	finish()
	goroutine() uint64   // the number of the call's goroutine, 0 if unknown
	lateFailure() string // a panic or Goexit not reported (once), or ""
	// abandon hands the call, which its test's harness reported still
	// blocked, to VerifyTestMain for a panic or Goexit that may come later.
	abandon(test string)
}

// Go runs fn on a new goroutine and returns at once; the result tells
// whether fn has returned:
//
//	recv := grpctest.Go(t, stream.Recv)
//	recv.AssertBlocked(50 * time.Millisecond)
//	stream.Send(req)
//	res, err := recv.Wait(time.Second)
//
// A panic in fn is recovered and reported through t, and so is an fn that
// ends its goroutine without returning: runtime.Goexit, which is what
// t.FailNow, t.Fatal and testify's require do when they are called inside
// fn, off the test's goroutine (the testing package asks for them on the
// test's goroutine only). Wait then returns an error.
func Go[T any](t testing.TB, fn func() (T, error)) *Pending[T] {
	checkTB(t, "Go")
	t.Helper()
	return start(t, "Go", caller(2), fn)
}

// returned renders what the call returned: its error for GoErr's, else
// its value as the failure reports render messages, and its error.
func (p *Pending[T]) returned() string {
	if _, none := any(p.val).(struct{}); none {
		return fmt.Sprintf("%v", p.err)
	}
	return fmt.Sprintf("(%s, %v)", nilOrShort(p.val), p.err)
}

// GoErr is Go for a function that returns only an error:
//
//	send := grpctest.GoErr(t, func() error { return stream.Send(m) })
func GoErr(t testing.TB, fn func() error) *Pending[struct{}] {
	checkTB(t, "GoErr")
	t.Helper()
	var f func() (struct{}, error)
	if fn != nil {
		f = func() (struct{}, error) { return struct{}{}, fn() }
	}
	return start(t, "GoErr", caller(2), f)
}

func start[T any](t testing.TB, what, where string, fn func() (T, error)) *Pending[T] {
	t.Helper()
	p := &Pending[T]{t: t, where: where, what: what, done: make(chan struct{})}
	if fn == nil {
		p.err = fmt.Errorf("grpctest.%s: fn is nil", what)
		close(p.done)
		t.Errorf("grpctest.%s: fn is nil: pass the call to run, e.g. grpctest.Go(t, stream.Recv)", what)
		return p
	}
	t.Cleanup(p.cleanup)
	go p.run(fn)
	return p
}

func (p *Pending[T]) run(fn func() (T, error)) {
	p.goid.Store(goid.ID())
	returned := false
	defer func() {
		var r any
		if !returned {
			if r = recover(); r != nil {
				p.panicVal, p.panicStack = r, debug.Stack()
				p.err = fmt.Errorf("grpctest: %s panicked: %v", p.describe(), r)
			} else {
				// runtime.Goexit (or panic(nil) under GODEBUG=panicnil=1):
				// fn gave no result, and the zero T with a nil error would
				// read as one.
				p.exited = true
				p.err = fmt.Errorf("grpctest: %s did not return: its goroutine exited (runtime.Goexit)", p.describe())
			}
		}
		p.mu.Lock()
		close(p.done)
		late := p.cleanedUp
		p.mu.Unlock()
		if late && r != nil && !verifyingMain.Load() {
			// The test is over, and no VerifyTestMain will report it:
			// crash as an unrecovered panic would.
			panic(r)
		}
	}()
	p.val, p.err = fn()
	returned = true
}

func (p *Pending[T]) describe() string {
	return fmt.Sprintf("the call started by %s at %s", p.what, p.where)
}

func (p *Pending[T]) doneChan() <-chan struct{} { return p.done }

func (p *Pending[T]) goroutine() uint64 { return p.goid.Load() }

// lateFailure describes, once, a panic or an exit of fn that came after
// the test's cleanup, when t could no longer report it. Call it once done
// is closed.
func (p *Pending[T]) lateFailure() string {
	switch {
	case p.panicVal != nil && p.reported.CompareAndSwap(false, true):
		return fmt.Sprintf("%s panicked after its test had ended: %v\n%s", p.describe(), p.panicVal, p.panicStack)
	case p.exited && p.reported.CompareAndSwap(false, true):
		return fmt.Sprintf("%s ended its goroutine with runtime.Goexit after its test had ended "+
			"(t.FailNow, t.Fatal and require's assertions do that: call them on the test's goroutine)", p.describe())
	}
	return ""
}

// finish reports a panic or an exit of fn once, while t may still be used.
func (p *Pending[T]) finish() {
	p.t.Helper()
	switch {
	case p.panicVal != nil && p.reported.CompareAndSwap(false, true):
		p.t.Errorf("grpctest: %s panicked: %v\n%s", p.describe(), p.panicVal, p.panicStack)
	case p.exited && p.reported.CompareAndSwap(false, true):
		p.t.Errorf("grpctest: %s did not return: its goroutine exited with runtime.Goexit. "+
			"t.FailNow, t.Fatal and require's assertions do that; call them on the test's goroutine, "+
			"after Wait, or use t.Errorf and return the error", p.describe())
	}
}

// cleanup runs when the test ends. A call that returned is done with (its
// panic reported). A call still blocked is handed to the test's oldest open
// harness, whose Close ends every stream and then waits for the call,
// bounded, reporting it if it never returns. Without a harness of the
// test, the call is left to return when what it waits on ends (a cleanup
// registered before Go, which runs after this one, or a parent test, may
// end it), and noted: VerifyTestMain reports it, with its test and its
// stack, if it is still blocked when all tests have run.
func (p *Pending[T]) cleanup() {
	p.t.Helper()
	select {
	case <-p.done:
		p.finish()
		return
	default:
	}
	if hs := harnessesOf(p.t); len(hs) > 0 && hs[0].adopt(p) {
		return
	}
	p.giveUp(testName(p.t), false)
}

func (p *Pending[T]) abandon(test string) { p.giveUp(test, true) }

// giveUp ends the test's watch over the call: if it has returned, its
// panic is reported through t; else t is no longer used for it, and it is
// noted for VerifyTestMain (reported: its harness has reported it still
// blocked).
func (p *Pending[T]) giveUp(test string, reported bool) {
	p.mu.Lock()
	select {
	case <-p.done:
		p.mu.Unlock()
		p.finish()
		return
	default:
	}
	p.cleanedUp = true
	p.mu.Unlock()
	noteLeftBlocked(test, p, reported)
}

// AssertBlocked reports whether the call is still running after d. If it
// returns before d, the test fails with what it returned. Waiting for d is
// the point: this is the one place a test waits on the clock. A d <= 0
// asserts nothing: it is reported as a misuse, and AssertBlocked returns
// false.
func (p *Pending[T]) AssertBlocked(d time.Duration) bool {
	p.made("AssertBlocked")
	p.t.Helper()
	if d <= 0 {
		p.t.Errorf("grpctest: AssertBlocked(%v) on %s: d must be positive: pass how long the call must stay blocked, e.g. 50*time.Millisecond", d, p.describe())
		return false
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	returned := false
	select {
	case <-p.done:
		returned = true
	case <-timer.C:
		// A call that returned just as d ran out did not stay blocked.
		select {
		case <-p.done:
			returned = true
		default:
		}
	}
	if returned {
		p.finish()
		p.t.Errorf("grpctest: %s returned within %v, want still blocked after %v: it returned %s%s",
			p.describe(), d, d, p.returned(), timelines(p.t))
		return false
	}
	return true
}

// Wait waits up to timeout for the call to return and returns its result.
// If it is still blocked after timeout, the test fails, with the stack of
// the goroutine that runs the call and those of the test's harnesses'
// handlers still running (the other side of a deadlock) and of the
// goroutines those handlers started that still run, and Wait returns
// the zero T and an error wrapping ErrStillBlocked. A negative timeout
// (one computed from a deadline that has passed, say) is a misuse: it is
// reported, and Wait does not wait: it returns the call's result if the
// call has returned, else the zero T and an error saying so.
func (p *Pending[T]) Wait(timeout time.Duration) (T, error) {
	p.made("Wait")
	p.t.Helper()
	if timeout < 0 {
		p.t.Errorf("grpctest: Wait(%v) on %s: the timeout is negative: pass how long the call may still take, 0 for a call that must have returned", timeout, p.describe())
		select {
		case <-p.done:
			p.finish()
			return p.val, p.err
		default:
		}
		var zero T
		return zero, fmt.Errorf("grpctest: Wait(%v) on %s: negative timeout", timeout, p.describe())
	}
	select {
	case <-p.done: // a call that has returned is never late, even for timeout 0
		p.finish()
		return p.val, p.err
	default:
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		p.finish()
		return p.val, p.err
	case <-timer.C:
		p.t.Errorf("grpctest: %s still blocked after %v%s%s%s", p.describe(), timeout, blockedIn(p.goroutine()), runningHandlers(p.t), timelines(p.t))
		var zero T
		return zero, fmt.Errorf("%w after %v (%s)", ErrStillBlocked, timeout, p.describe())
	}
}

// Done returns a channel closed when the call has returned.
func (p *Pending[T]) Done() <-chan struct{} {
	p.made("Done")
	return p.done
}

// made panics, naming method, if p was not made by Go or GoErr (a nil
// *Pending, or a zero Pending, whose Done would never close): there is no
// test to report to.
func (p *Pending[T]) made(method string) {
	if p == nil || p.done == nil {
		panic("grpctest: Pending." + method + " called on a nil or zero Pending: get one from Go or GoErr")
	}
}

// MaxSendUntilBlocked bounds SendUntilBlocked: after this many Sends that
// all returned, it gives up and fails the test (the peer is reading).
const MaxSendUntilBlocked = 100_000

// SendUntilBlocked sends next(i) until one Send has not returned within d;
// returns how many Sends completed. The blocked Send is left pending, on a
// goroutine of SendUntilBlocked's, and returns when the peer reads enough
// or the stream ends. Until then the test must not Send on the stream
// itself (gRPC forbids concurrent Sends): to go on sending once the peer
// reads, wait for the pending message to arrive (e.g. Recorder.Wait for
// the server's Recv of message number n+1). A flow-control probe: with
// WithStaticWindow and a peer that does not read, the count follows from
// the window (see "Deterministic flow control" in the package doc).
//
// The Sends run one after another on one goroutine. A Send that fails, or
// MaxSendUntilBlocked Sends that all return, fail the test.
func SendUntilBlocked[M any](t testing.TB, s interface{ Send(M) error }, next func(i int) M, d time.Duration) int {
	checkTB(t, "SendUntilBlocked")
	t.Helper()
	switch {
	case s == nil:
		t.Errorf("grpctest.SendUntilBlocked: the stream is nil")
		return 0
	case next == nil:
		t.Errorf("grpctest.SendUntilBlocked: next is nil: pass a function returning the i-th message")
		return 0
	case d <= 0:
		t.Errorf("grpctest.SendUntilBlocked: d is %v: pass how long a Send must hang to count as blocked, e.g. 100*time.Millisecond", d)
		return 0
	}
	key, comparable := any(s), reflect.TypeOf(s).Comparable()
	if comparable {
		if v, ok := sendsLeftBlocked.Load(key); ok && !v.(*leftSend).ends(d) {
			t.Errorf("grpctest.SendUntilBlocked: a Send of an earlier SendUntilBlocked on this stream (at %s) is still blocked: "+
				"gRPC forbids concurrent Sends; wait for the peer to read what it sent (e.g. Recorder.Wait) before sending more", v.(*leftSend).where)
			return 0
		}
	}
	left := &leftSend{where: caller(2)}
	msgs := make(chan M)
	results := make(chan error, 1)
	sender := start(t, "SendUntilBlocked", left.where, func() (struct{}, error) {
		if comparable {
			defer sendsLeftBlocked.CompareAndDelete(key, left) // its Sends are over
		}
		for m := range msgs {
			err := s.Send(m)
			results <- err
			if err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, nil
	})
	defer close(msgs)
	timer := time.NewTimer(d)
	defer timer.Stop()
	for i := 0; i < MaxSendUntilBlocked; i++ {
		m := next(i)
		select {
		case msgs <- m:
		case <-sender.done:
			// The sender stopped (a panic in Send); report it.
			sender.finish()
			return i
		}
		failed := func(err error) {
			t.Helper()
			hint := ""
			if errors.Is(err, io.EOF) {
				hint = " (io.EOF: the stream has ended; Recv returns its status)"
			}
			t.Errorf("grpctest.SendUntilBlocked: Send %d failed before any Send blocked: %v%s%s", i, err, hint, timelines(t))
		}
		timer.Reset(d)
		select {
		case err := <-results:
			if err != nil {
				failed(err)
				return i
			}
		case <-sender.done:
			// The sender stops after a Send that failed, whose result is
			// then waiting, or that panicked.
			select {
			case err := <-results:
				failed(err)
			default:
				sender.finish()
			}
			return i
		case <-timer.C:
			if comparable {
				left.done = sender.done
				sendsLeftBlocked.Store(key, left)
				select {
				case <-sender.done: // it returned meanwhile: nothing is left blocked
					sendsLeftBlocked.CompareAndDelete(key, left)
				default:
				}
			}
			return i
		}
	}
	t.Errorf("grpctest.SendUntilBlocked: %d Sends all returned within %v each: nothing blocked; "+
		"the peer is reading, or nothing bounds what is in flight: a harness's stream needs WithStaticWindow "+
		"(gRPC's windows grow otherwise), a fakes stream fakes.WithSendBuffer (unlimited otherwise)", MaxSendUntilBlocked, d)
	return MaxSendUntilBlocked
}

// sendsLeftBlocked maps a stream to the SendUntilBlocked that left a Send
// blocked on it, until that Send returns, so that another SendUntilBlocked
// on the same stream, which would Send concurrently, is reported.
var sendsLeftBlocked sync.Map // stream (a comparable one) -> *leftSend

// leftSend is a SendUntilBlocked whose last Send may still be blocked.
type leftSend struct {
	where string
	done  <-chan struct{} // closed when its sender has returned
}

// ends reports whether the sender of l returns within d: a Send released
// just before (the peer read) lets its sender return a moment later.
func (l *leftSend) ends(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-l.done:
		return true
	case <-timer.C:
		return false
	}
}

// leftBlocked holds the calls tests left blocked without a harness to end
// them, for VerifyTestMain to report those that never returned, and those
// that panicked or called runtime.Goexit after their test had ended.
var leftBlocked struct {
	sync.Mutex
	calls []leftCall
}

type leftCall struct {
	test     string
	b        blocker
	late     string // the call's late failure, taken while pruning
	reported bool   // its harness has reported it still blocked
}

// verifyingMain is set while VerifyTestMain runs the tests: a call that
// panics after its test has ended is then reported by VerifyTestMain
// instead of crashing the binary.
var verifyingMain atomic.Bool

// maxLeftStacks bounds the stacks VerifyTestMain prints of calls left
// blocked; the others are counted.
const maxLeftStacks = 20

// noteLeftBlocked notes that test left the call b blocked (reported: and
// its harness has reported it so), and forgets the calls noted before that
// have returned since, unless they failed late.
func noteLeftBlocked(test string, b blocker, reported bool) {
	leftBlocked.Lock()
	defer leftBlocked.Unlock()
	kept := leftBlocked.calls[:0]
	for _, c := range leftBlocked.calls {
		select {
		case <-c.b.doneChan():
			if c.late == "" {
				c.late = c.b.lateFailure()
			}
			if c.late == "" {
				continue
			}
		default:
		}
		kept = append(kept, c)
	}
	clear(leftBlocked.calls[len(kept):])
	leftBlocked.calls = append(kept, leftCall{test: test, b: b, reported: reported})
}

// reportLeftBlocked takes the noted calls of the tests only accepts (nil:
// all), waits up to d in all for those still blocked to return, and writes
// to w a report of each that has not, with its test and its stack (at most
// maxLeftStacks stacks), and of each that panicked or called
// runtime.Goexit after its test had ended. It says whether it wrote one.
func reportLeftBlocked(w io.Writer, d time.Duration, only func(test string) bool) bool {
	leftBlocked.Lock()
	var calls, kept []leftCall
	for _, c := range leftBlocked.calls {
		if only == nil || only(c.test) {
			calls = append(calls, c)
		} else {
			kept = append(kept, c)
		}
	}
	leftBlocked.calls = kept
	leftBlocked.Unlock()
	if len(calls) == 0 {
		return false
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for _, c := range calls {
		select {
		case <-c.b.doneChan():
		case <-timer.C:
			timer.Reset(0) // the time is up: look at the others without waiting
		}
	}
	var dump map[uint64]string // taken once, for every stack
	found, stacks, unshown := false, 0, 0
	for _, c := range calls {
		select {
		case <-c.b.doneChan():
			late := c.late
			if late == "" {
				late = c.b.lateFailure()
			}
			if late != "" {
				found = true
				fmt.Fprintf(w, "grpctest: %s: %s\n", c.test, late)
			}
			continue
		default:
		}
		if c.reported {
			continue // its test failed on it already
		}
		found = true
		where := ""
		if stacks < maxLeftStacks {
			if dump == nil {
				dump = tracebacksByID()
			}
			where = renderBlocked(dump[c.b.goroutine()])
			stacks++
		} else {
			unshown++
		}
		fmt.Fprintf(w, "grpctest: %s: %s was still blocked when all tests had run: nothing the test ended released it "+
			"(its harness, had it one, would have ended its streams and awaited it); end what it waits on before the test returns "+
			"(cancel its context, finish its stream)%s\n", c.test, c.b.describe(), where)
	}
	if unshown > 0 {
		fmt.Fprintf(w, "grpctest: (%d of the calls above are reported without their stacks)\n", unshown)
	}
	return found
}

// blockedIn renders where goroutine id is, for the report of a call still
// blocked (see renderBlocked); "" if it is not found (it returned
// meanwhile).
func blockedIn(id uint64) string {
	if id == 0 {
		return ""
	}
	return renderBlocked(tracebacksByID()[id])
}

// maxHandlerStacks bounds the handler stacks runningHandlers shows.
const maxHandlerStacks = 4

// runningHandlers shows where the running handlers of t's harnesses are,
// for a report of a call still blocked: the other side of a deadlock; and
// where the goroutines those handlers started are, which may be the third
// party (a fan-out blocked on a channel a handler waits on). "" if none
// runs.
func runningHandlers(t testing.TB) string {
	hs := testHarnesses(t)
	var running []handlerGoroutine
	for _, s := range hs {
		running = append(running, s.runningHandlerGoroutines()...)
	}
	started := handlerStarted(hs)
	if len(running) == 0 {
		return started
	}
	slices.SortFunc(running, func(a, b handlerGoroutine) int { return cmp.Compare(a.id, b.id) })
	byID := tracebacksByID()
	var b strings.Builder
	fmt.Fprintf(&b, "\nthe harness's handlers still running (%d):", len(running))
	shown := 0
	for i, h := range running {
		tb := byID[h.id]
		if tb == "" {
			continue // it has just returned
		}
		if shown == maxHandlerStacks {
			fmt.Fprintf(&b, "\n  … and at most %d more", len(running)-i)
			break
		}
		shown++
		fmt.Fprintf(&b, "\n  %s%s", h.method, strings.ReplaceAll(renderBlocked(tb), "\n  ", "\n    "))
	}
	return b.String() + started
}

// handlerStarted shows the goroutines that the handlers of the harnesses
// hs started and that still run (at most maxHandlerStacks stacks), but
// those WithIgnoredGoroutines exempts, for runningHandlers; "" if there
// are none.
func handlerStarted(hs []*Server) string {
	var groups []goroutineGroup
	for _, s := range hs {
		for _, g := range labelled(s.id) {
			if g.startedBy() == byHandler && !g.isHandler() && !g.servesCall() && !g.isClientConn() && !g.has(s.cfg.ignored) {
				groups = append(groups, g)
			}
		}
	}
	if len(groups) == 0 {
		return ""
	}
	total := 0
	for _, g := range groups {
		total += g.count
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\ngoroutines the handlers started, still running (%d):\n", total)
	for i, g := range withTracebacks(groups) {
		if i == maxHandlerStacks {
			fmt.Fprintf(&b, "  … and %d more stack(s)\n", len(groups)-i)
			break
		}
		g.render(&b, "")
	}
	return strings.TrimRight(b.String(), "\n")
}

// tracebacksByID returns the traceback of every goroutine by its number.
func tracebacksByID() map[uint64]string {
	out := make(map[uint64]string)
	for _, tb := range allTracebacks() {
		if id, ok := goid.FromTraceback(tb); ok {
			out[id] = tb
		}
	}
	return out
}

// renderBlocked renders the traceback tb of a blocked call's goroutine
// after ", in:", without the frames of grpctest that run the call; "" for
// no traceback.
func renderBlocked(tb string) string {
	if tb == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(tb, "\n"), "\n")
	// Not the frames that run the call, nor who started them.
	runsCall := func(fn, loc string) bool {
		return strings.HasPrefix(fn, "created by ") || strings.HasPrefix(fn, "github.com/streamtest/streamtest/grpctest.") && !strings.Contains(loc, "_test.go:")
	}
	return ", in:\n  " + strings.Join(elideLibraryTop(dropFrames(lines, runsCall, "")), "\n  ")
}

// libraryFrames are the packages whose frames at the top of a blocked
// goroutine's stack say only how gRPC (or a fake stream) waits: the frame
// where the code called into them says what it waits for.
var libraryFrames = []string{
	"google.golang.org/grpc.",
	"google.golang.org/grpc/internal/",
	"github.com/streamtest/streamtest/recorder.",
	"github.com/streamtest/streamtest/fakes.",
}

func libraryFrame(fn string) bool { return hasPrefixIn(fn, libraryFrames) }

// elideLibraryTop replaces the frames at the top of a traceback (after its
// header line) that are gRPC's, the recorder's or a fake stream's with one
// line that counts them, but the last of them: the call the code made, such
// as a stream's Recv. A Recv blocked on a real stream is a dozen frames deep
// in gRPC's transport before the code's own frame shows. (grpc/interop's
// test service is code under test, not gRPC's machinery.)
func elideLibraryTop(lines []string) []string {
	if len(lines) == 0 {
		return lines
	}
	i, n := 1, 0 // lines[i] is the first frame not elided; n frames seen
	for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "\t") && libraryFrame(lines[i]) {
		i += 2
		n++
	}
	if n < 3 {
		return lines
	}
	out := make([]string, 0, len(lines)-2*(n-1)+1)
	out = append(out, lines[0], fmt.Sprintf("... (%d frames inside gRPC and streamtest elided)", n-1))
	return append(out, lines[i-2:]...)
}

// caller returns file:line of the function skip frames up from caller's
// caller (skip=2: the caller of the exported function).
func caller(skip int) string {
	_, file, line, ok := runtime.Caller(skip)
	if !ok {
		return "(unknown)"
	}
	return fmt.Sprintf("%s:%d", filepath.Base(file), line)
}
