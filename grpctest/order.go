package grpctest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/streamtest/streamtest/internal/msgdiff"
	"github.com/streamtest/streamtest/internal/tlwindow"
	"github.com/streamtest/streamtest/recorder"
)

// Step is one expected event of an ordered assertion (AssertOrder). Match
// reports whether an event is this step; String describes the step in
// failure messages.
//
// The constructors below match messages that were sent or received (not a
// Send or Recv that failed), metadata, half-closes and ends. Any type with
// these two methods is a Step too, for what they do not cover: see the
// example of a step that matches a Send that failed.
type Step interface {
	Match(recorder.Event) bool
	String() string
}

// messageStep matches a successful Send or Recv of one side, carrying msg
// (any message if msg is nil). A typed nil message, in msg (made empty by
// the constructors) or recorded for a Send of one, is an empty message of
// its type, as gRPC sends it.
type messageStep struct {
	name string
	side recorder.Side
	kind recorder.Kind
	msg  any
	opts []cmp.Option // With's
}

func (s messageStep) sameKind(e recorder.Event) bool {
	return e.Side == s.side && e.Kind == s.kind && e.Err == nil
}

func (s messageStep) Match(e recorder.Event) bool {
	switch {
	case !s.sameKind(e):
		return false
	case s.msg == nil:
		return true
	case msgdiff.Untyped(e.Msg): // a message of no type (a nil *dynamicpb.Message) equals none
		return false
	case len(s.opts) > 0:
		return cmpEqual(s.msg, emptyIfNil(e.Msg), s.opts)
	}
	return equal(s.msg, emptyIfNil(e.Msg))
}

func (s messageStep) String() string {
	switch {
	case s.msg == nil:
		return s.name + "(any message)"
	case len(s.opts) > 0:
		return fmt.Sprintf("With(%s(%s), %d cmp option(s))", s.name, short(s.msg), len(s.opts))
	}
	return s.name + "(" + short(s.msg) + ")"
}

// With returns step, a message step (ClientSends, ServerReceives,
// ServerSends, ClientReceives, or one of them in InCall), comparing its
// message with the cmp options opts too, as AssertMessagesWith does: to
// ignore a field the test cannot know, such as an ID or a timestamp the
// code makes up, or to compare floats within a margin.
//
//	grpctest.With(grpctest.ServerSends(&pb.Ack{Seq: 2}),
//		protocmp.IgnoreFields(&pb.Ack{}, "sent_at"))
//
// A failure's nearest-miss diff uses the options too. With on a step that
// compares no message (Ends, ClientCloses, a nil msg), on a nil step, or
// with cmpopts.IgnoreFields or IgnoreUnexported on a proto message (which
// never apply to one: use protocmp's options), gives a step that
// AssertOrder and AssertNever report as a misuse.
func With(step Step, opts ...cmp.Option) Step {
	switch st := step.(type) {
	case nil:
		return badStep{"With(nil, ...)", "With needs a message step"}
	case badStep: // a misuse already: reported as it is
		return st
	case callStep:
		inner := With(st.step, opts...)
		if b, ok := inner.(badStep); ok {
			return b
		}
		return callStep{st.id, inner}
	case messageStep:
		_, isProto := st.msg.(proto.Message)
		switch {
		case st.msg == nil:
			return badStep{"With(" + st.String() + ", ...)", "the step matches any message: there is no message for the options to compare"}
		case isProto && msgdiff.StructOptions(opts):
			return badStep{"With(" + st.String() + ", ...)", "cmpopts.IgnoreFields and cmpopts.IgnoreUnexported name the fields of Go structs, " +
				"but proto messages are compared as protocmp.Transform makes them, maps of their fields, so those options never apply: " +
				"use protocmp.IgnoreFields(&pb.M{}, \"field_name\") and protocmp's other options"}
		}
		st.opts = append(slices.Clip(st.opts), opts...)
		return st
	}
	return badStep{"With(" + step.String() + ", ...)", "the step compares no message: With is for ClientSends, ServerReceives, ServerSends and ClientReceives"}
}

// badStep is a step that could not be made (a misuse of With, a message
// with no message type): it matches nothing, and AssertOrder and
// AssertNever report it as a misuse.
type badStep struct{ name, why string }

func (s badStep) Match(recorder.Event) bool { return false }
func (s badStep) String() string            { return s.name }

// newMessageStep is the step of a message constructor, or the badStep of
// a message with no message type, which could match nothing.
func newMessageStep(name string, side recorder.Side, kind recorder.Kind, msg any) Step {
	msg = emptyIfNil(msg)
	if msgdiff.Untyped(msg) {
		return badStep{fmt.Sprintf("%s(%T of no message type)", name, msg), "a *dynamicpb.Message with no message type matches no message: make it with dynamicpb.NewMessage"}
	}
	return messageStep{name, side, kind, msg, nil}
}

// ClientSends matches the client sending msg (a Send event of the client
// side that did not fail). Messages compare as in AssertMessages, except
// that a typed nil message (such as (*pb.Msg)(nil)) is an empty message of
// its type, as gRPC sends it, on either side. A nil msg matches any
// message.
func ClientSends(msg any) Step {
	return newMessageStep("ClientSends", recorder.Client, recorder.Send, msg)
}

// ServerReceives matches the server receiving msg (nil: any message; a
// typed nil: an empty one).
func ServerReceives(msg any) Step {
	return newMessageStep("ServerReceives", recorder.Server, recorder.Recv, msg)
}

// ServerSends matches the server sending msg (nil: any message; a typed
// nil: an empty one).
func ServerSends(msg any) Step {
	return newMessageStep("ServerSends", recorder.Server, recorder.Send, msg)
}

// ClientReceives matches the client receiving msg (nil: any message; a
// typed nil: an empty one).
func ClientReceives(msg any) Step {
	return newMessageStep("ClientReceives", recorder.Client, recorder.Recv, msg)
}

type closeStep struct{}

func (closeStep) Match(e recorder.Event) bool {
	return e.Side == recorder.Client && e.Kind == recorder.CloseSend
}
func (closeStep) String() string { return "ClientCloses()" }

// ClientCloses matches the client half-closing the stream (CloseSend).
func ClientCloses() Step { return closeStep{} }

// mdStep matches an event of one side and kind (the server's Begin, the
// client's Header or Trailer) whose metadata holds md.
type mdStep struct {
	name string
	side recorder.Side
	kind recorder.Kind
	md   metadata.MD // keys lower case
	keys []string    // md's, sorted
}

func (s mdStep) Match(e recorder.Event) bool {
	if !s.sameKind(e) {
		return false
	}
	_, differs := s.mismatch(e.MD)
	return !differs
}

// mismatch returns the first of the step's keys, in sorted order, that md
// lacks or holds with other values than the step's, in order (a key given
// without values: with any values), and whether there is one.
func (s mdStep) mismatch(md metadata.MD) (string, bool) {
	for _, k := range s.keys {
		g, ok := md[k]
		if !ok || len(s.md[k]) > 0 && !slices.Equal(g, s.md[k]) {
			return k, true
		}
	}
	return "", false
}

// sameKind reports whether e is of the step's side and kind, and did not
// fail.
func (s mdStep) sameKind(e recorder.Event) bool {
	return e.Side == s.side && e.Kind == s.kind && e.Err == nil
}

func (s mdStep) String() string {
	if len(s.md) == 0 {
		return s.name + "(any metadata)"
	}
	return s.name + "(" + s.formatMD() + ")"
}

// formatMD renders the step's metadata as the timeline renders metadata,
// md{k:"v" k2:["a" "b"]}, but with every key (gRPC's own too, which the
// timeline leaves out), and k:any for a key given without values.
func (s mdStep) formatMD() string {
	var b strings.Builder
	b.WriteString("md{")
	for i, k := range s.keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch vs := s.md[k]; len(vs) {
		case 0:
			fmt.Fprintf(&b, "%s:any", k)
		case 1:
			fmt.Fprintf(&b, "%s:%q", k, vs[0])
		default:
			fmt.Fprintf(&b, "%s:%q", k, vs)
		}
	}
	b.WriteByte('}')
	return b.String()
}

// newMDStep is the step of a metadata constructor: md's keys lower case,
// as gRPC keeps them.
func newMDStep(name string, side recorder.Side, kind recorder.Kind, md metadata.MD) Step {
	lower := make(metadata.MD, len(md))
	for _, k := range slices.Sorted(maps.Keys(md)) { // "K" before "k", every time
		lk := strings.ToLower(k)
		lower[lk] = append(lower[lk], md[k]...)
	}
	return mdStep{name, side, kind, lower, slices.Sorted(maps.Keys(lower))}
}

// ServerReceivesMetadata matches the server half of a call beginning with
// request metadata that holds md: every key of md with its values, in
// order (a key given without values: with any); the request may hold
// other keys too, gRPC's own among them. The recorder's call-id header is
// not part of it. A nil md matches any call's beginning.
//
//	grpctest.ServerReceivesMetadata(metadata.Pairs("authorization", "Bearer t"))
func ServerReceivesMetadata(md metadata.MD) Step {
	return newMDStep("ServerReceivesMetadata", recorder.Server, recorder.Begin, md)
}

// ClientReceivesHeader matches the client receiving a response header that
// holds md, as ServerReceivesMetadata matches request metadata. A call
// that fails before the server sends a header (a trailers-only response)
// records no header: assert its trailer.
func ClientReceivesHeader(md metadata.MD) Step {
	return newMDStep("ClientReceivesHeader", recorder.Client, recorder.Header, md)
}

// ClientReceivesTrailer matches the client receiving a trailer that holds
// md, as ServerReceivesMetadata matches request metadata. A trailer is
// recorded only when the server set one (grpc.SetTrailer, or the
// stream's SetTrailer; the status is the End's), so even a nil md needs
// one.
func ClientReceivesTrailer(md metadata.MD) Step {
	return newMDStep("ClientReceivesTrailer", recorder.Client, recorder.Trailer, md)
}

// endStep matches End events with a status code: of one side, if sided.
type endStep struct {
	code  codes.Code
	side  recorder.Side
	sided bool
}

func (s endStep) Match(e recorder.Event) bool {
	return e.Kind == recorder.End && s.ofSide(e) && status.Code(e.Err) == s.code
}

// ofSide reports whether e is of the step's side (any, if it has none).
func (s endStep) ofSide(e recorder.Event) bool { return !s.sided || e.Side == s.side }

func (s endStep) String() string {
	switch {
	case !s.sided:
		return "Ends(" + s.code.String() + ")"
	case s.side == recorder.Client:
		return "ClientEnds(" + s.code.String() + ")"
	}
	return "ServerEnds(" + s.code.String() + ")"
}

// Ends matches the End event of either side with status code code
// (codes.OK for a call that succeeded). The two sides of one call need not
// end with the same code: when a client's deadline passes, its side ends
// with DeadlineExceeded, while gRPC may end the server's with
// DeadlineExceeded or Canceled, whichever it notices first. One
// Ends(codes.DeadlineExceeded) step matches the client's End; two, one for
// each side, would fail whenever the server's ended Canceled.
//
// To say that the call succeeded as its client saw it, use ClientEnds: a
// server half can end OK while its client gets an error (a response over
// the client's receive limit, an interceptor of the client's that fails
// the call).
func Ends(code codes.Code) Step { return endStep{code: code} }

// ClientEnds matches the End of a call's client half with status code
// code: the status the client code got (codes.OK: the call succeeded).
func ClientEnds(code codes.Code) Step {
	return endStep{code: code, side: recorder.Client, sided: true}
}

// ServerEnds matches the End of a call's server half with status code
// code: the status the handler returned (with the recorder's server
// interceptors, Internal for a handler that panicked). When the client's
// deadline passes, the server half ends with DeadlineExceeded or with
// Canceled, whichever gRPC notices first (mostly Canceled, over bufconn):
// assert the deadline with ClientEnds(codes.DeadlineExceeded), as Ends
// explains. That holds for the client that set the deadline: a call the
// handler makes downstream with its own context, which carries the
// deadline on, ends on the client side with DeadlineExceeded or Canceled
// too, as the upstream cancel may reach the handler's context before the
// downstream call's own timer fires.
func ServerEnds(code codes.Code) Step {
	return endStep{code: code, side: recorder.Server, sided: true}
}

// callStep is a step that matches events of one call only.
type callStep struct {
	id   uint64
	step Step
}

func (s callStep) Match(e recorder.Event) bool { return e.CallID == s.id && s.step.Match(e) }
func (s callStep) String() string {
	return fmt.Sprintf("InCall(%d, %s)", s.id, s.step)
}

// InCall returns step restricted to the events of the call with this id,
// for tests whose calls exchange the same messages (a broadcast, say) and
// must say whose stream sent or received one. The id of a call whose
// client stream the test holds is recorder's CallID of its context:
//
//	id, _ := srv.Recorder().CallID(stream.Context())
//	grpctest.AssertOrder(t, srv.Recorder(),
//		grpctest.InCall(id, grpctest.ClientReceives(msg)))
//
// (Recorder.Calls gives the ids of every recorded call.) A nil step stays
// nil, and AssertOrder reports it; so it does an id of 0, which CallID
// returns for a context of no recorded call.
func InCall(id uint64, step Step) Step {
	switch step.(type) {
	case nil:
		return nil
	case badStep: // a misuse: reported as it is
		return step
	}
	return callStep{id, step}
}

// AssertOrder reports whether the recorded events contain steps in this
// order: each step matches an event with a larger Seq than the event the
// previous step matched; events in between are allowed. Steps match the
// earliest such event. On failure it prints which step was not found after
// which event, the nearest miss (for a message step, a (-want +got) diff
// against the nearest event of its side and kind; for an Ends step, the End
// events with their status), and the timeline; and, if the recorder
// dropped events (recorder.WithLimit), says so right after its first line,
// and if it records only some methods (recorder.WithMethods), names them
// before the timeline (which, when nothing was recorded, says so and which
// names cannot match a method).
//
// Order across the two sides is the order of Seq, which follows causality
// (a Send comes before the peer's Recv of that message, a response after
// the request the handler read to make it) but nothing else: two events
// that do not cause each other, such as the server's Recv of the last
// request and the client's CloseSend after its Send, may be recorded in
// either order from one run to the next. Steps in a fixed order for such a
// pair make a flaky test; list only steps that one causes the next, or
// check the two in separate assertions.
//
//	grpctest.AssertOrder(t, srv.Recorder(),
//		grpctest.ClientSends(req), grpctest.ServerReceives(req),
//		grpctest.ServerSends(res), grpctest.ClientReceives(res),
//		grpctest.Ends(codes.OK))
func AssertOrder(t testing.TB, r *recorder.Recorder, steps ...Step) bool {
	checkTB(t, "AssertOrder")
	t.Helper()
	return assertOrder(t, r, steps)
}

// RequireOrder is AssertOrder followed by t.FailNow on failure.
func RequireOrder(t testing.TB, r *recorder.Recorder, steps ...Step) {
	checkTB(t, "RequireOrder")
	t.Helper()
	if !assertOrder(t, r, steps) {
		t.FailNow()
	}
}

// AssertOrderWithin is AssertOrder for events that may still be on their
// way: it waits up to d for the recorded events to contain steps in order
// (checking again as each event is recorded, with Recorder.Wait), returns
// true as soon as they do, and reports as AssertOrder does if they do not
// within d. It doubles as a test's synchronisation point, without a count
// function over Recorder.Wait: RequireOrderWithin(t, r, 5*time.Second,
// ServerSends(nil), ServerSends(nil)) waits for the server's second
// response (nil matches any message), and ServerReceives(nil) twice for
// the second subscriber's request. Some events are recorded on another goroutine than the call
// that causes them: the client's End of a canceled call (context.AfterFunc),
// the peer's Recv of a message just sent, a server's End after the client
// has its response. AssertOrder right after the call can miss them;
// AssertOrderWithin waits for them, and no longer; a failing one takes all
// of d, as events that would satisfy the steps could still come. A d <= 0
// is reported as a misuse.
//
//	cancel()
//	grpctest.AssertOrderWithin(t, srv.Recorder(), 5*time.Second,
//		grpctest.Ends(codes.Canceled), grpctest.Ends(codes.Canceled))
func AssertOrderWithin(t testing.TB, r *recorder.Recorder, d time.Duration, steps ...Step) bool {
	checkTB(t, "AssertOrderWithin")
	t.Helper()
	return assertOrderWithin(t, r, d, steps)
}

// RequireOrderWithin is AssertOrderWithin followed by t.FailNow on failure.
func RequireOrderWithin(t testing.TB, r *recorder.Recorder, d time.Duration, steps ...Step) {
	checkTB(t, "RequireOrderWithin")
	t.Helper()
	if !assertOrderWithin(t, r, d, steps) {
		t.FailNow()
	}
}

func assertOrderWithin(t testing.TB, r *recorder.Recorder, d time.Duration, steps []Step) bool {
	t.Helper()
	if !checkSteps(t, "AssertOrderWithin", r, steps, "the expected events, e.g. Ends(codes.Canceled)") {
		return false
	}
	if d <= 0 {
		t.Errorf("grpctest.AssertOrderWithin: d = %v: pass how long to wait for the events, e.g. 5*time.Second (AssertOrder waits for nothing)", d)
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if r.Wait(ctx, func(events []recorder.Event) bool {
		_, i := matchOrder(events, steps)
		return i < 0
	}) == nil {
		return true // (a second look could miss events a ring dropped since)
	}
	return checkOrder(t, r, steps, d) // says what is missing
}

func assertOrder(t testing.TB, r *recorder.Recorder, steps []Step) bool {
	t.Helper()
	if !checkSteps(t, "AssertOrder", r, steps, "the expected events, e.g. ClientSends(req), ServerReceives(req)") {
		return false
	}
	return checkOrder(t, r, steps, 0)
}

// checkOrder reports whether r's events contain steps in order, and if
// not, why; waited is how long AssertOrderWithin waited for them.
func checkOrder(t testing.TB, r *recorder.Recorder, steps []Step, waited time.Duration) bool {
	t.Helper()
	events := r.Events()
	dropped := r.Dropped()
	matched, i := matchOrder(events, steps)
	if i < 0 {
		return true
	}
	msg := orderFailure(r, events, dropped, waited, steps, matched, i)
	if len(events) == 0 {
		msg += otherRecorders(t, r)
	}
	t.Errorf("%s", msg)
	return false
}

// otherRecorders says, for a failure on a recorder that recorded nothing,
// which open harnesses of t (or of its enclosing test) record into another
// recorder that did record events: the assertion may have been given the
// wrong one.
func otherRecorders(t testing.TB, r *recorder.Recorder) string {
	var b strings.Builder
	for _, other := range testRecorders(t) {
		if other == r {
			continue
		}
		if n := len(other.Events()); n > 0 {
			fmt.Fprintf(&b, "\nthe recorder given recorded nothing, but a harness of this test (NewServer) records into another one, whose Server.Recorder() holds %d events: was the assertion given the wrong recorder?", n)
		}
	}
	return b.String()
}

// matchOrder matches steps to events in order, each step to the earliest
// event after the previous step's: it returns the index in events of each
// step matched, and the index of the first step not matched, or -1.
func matchOrder(events []recorder.Event, steps []Step) (matched []int, missing int) {
	matched = make([]int, 0, len(steps))
	pos := 0
	for i, st := range steps {
		j := find(events, pos, st)
		if j < 0 {
			return matched, i
		}
		matched = append(matched, j)
		pos = j + 1
	}
	return matched, -1
}

// checkSteps reports a misuse of fn, an assertion over r's events: a nil
// recorder, no steps (want says what to pass), a nil step.
func checkSteps(t testing.TB, fn string, r *recorder.Recorder, steps []Step, want string) bool {
	t.Helper()
	switch {
	case r == nil:
		t.Errorf("grpctest.%s: the recorder is nil (was the harness built WithoutRecorder?)", fn)
		return false
	case len(steps) == 0:
		t.Errorf("grpctest.%s: no steps given: pass %s", fn, want)
		return false
	}
	for i, st := range steps {
		if st == nil {
			t.Errorf("grpctest.%s: step %d is nil", fn, i+1)
			return false
		}
		inner := st // the step inside any InCall
		for cs, ok := st.(callStep); ok; cs, ok = cs.step.(callStep) {
			if cs.id == 0 {
				t.Errorf("grpctest.%s: step %d, %s: call ids start at 1; 0 is what Recorder.CallID returns for a context "+
					"of no recorded call (check its ok)", fn, i+1, st)
				return false
			}
			inner = cs.step
		}
		if b, ok := inner.(badStep); ok {
			t.Errorf("grpctest.%s: step %d, %s: %s", fn, i+1, b.name, b.why)
			return false
		}
	}
	return true
}

// earlierMatches says which events before events[from] (the one after the
// previous step's, Seq prev) the step st matches: one no step has matched
// means the order differs; if every one was matched by an earlier step, it
// says so: the steps want such an event more often than it happened, or an
// earlier step took it (matching steps to events first come, first
// served finds an order whenever there is one, so there is none).
func earlierMatches(events []recorder.Event, from int, st Step, steps []Step, matched []int, prev uint64) string {
	var seqs, by []string // of the earlier events that match, taken by a step
	for j := range from {
		if !st.Match(events[j]) {
			continue
		}
		k := slices.Index(matched, j)
		if k < 0 {
			return fmt.Sprintf("the step matches event %d (%s), which comes before event %d: the order differs\n",
				events[j].Seq, describeEvent(events[j]), prev)
		}
		seqs = append(seqs, strconv.FormatUint(events[j].Seq, 10))
		by = append(by, strconv.Itoa(k+1))
	}
	switch len(seqs) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf("the step matches only event %s, which step %s already matched "+
			"(each step takes the first event it can after the previous step's): no other event matches it\n", seqs[0], by[0])
	default:
		return fmt.Sprintf("the step matches only events %s, which steps %s already matched "+
			"(each step takes the first event it can after the previous step's): no other event matches it\n", strings.Join(seqs, ", "), strings.Join(by, ", "))
	}
}

func find(events []recorder.Event, from int, st Step) int {
	for j := from; j < len(events); j++ {
		if st.Match(events[j]) {
			return j
		}
	}
	return -1
}

func orderFailure(r *recorder.Recorder, events []recorder.Event, dropped uint64, waited time.Duration, steps []Step, matched []int, i int) string {
	var b strings.Builder
	st := steps[i]
	// A recorder that dropped events is likely the cause: say so first.
	droppedNote := func() {
		if dropped > 0 {
			fmt.Fprintf(&b, "%d earlier events were dropped by WithLimit (these %d are the newest): "+
				"the events the steps look for may be among them; raise the limit, or Reset the recorder just before the calls\n",
				dropped, len(events))
		}
	}
	within := ""
	if waited > 0 {
		within = fmt.Sprintf(" within %v", waited)
	}
	from := 0
	var focus []uint64 // the events the failure is about, for tlwindow.Cut
	if i == 0 {
		fmt.Fprintf(&b, "grpctest: order: step 1 of %d, %s, not found%s in the %d recorded events\n", len(steps), st, within, len(events))
		droppedNote()
	} else {
		prev := events[matched[i-1]]
		from = matched[i-1] + 1
		focus = append(focus, prev.Seq)
		fmt.Fprintf(&b, "grpctest: order: step %d of %d, %s, not found%s after event %d (%s, matched by step %d, %s)\n",
			i+1, len(steps), st, within, prev.Seq, describeEvent(prev), i, steps[i-1])
		droppedNote()
		b.WriteString("matched so far:\n")
		for k, j := range matched {
			// A long list shows its head and the steps before the one
			// not found.
			if len(matched) > maxMatchedListed && k >= matchedHead && k < len(matched)-(maxMatchedListed-matchedHead) {
				if k == matchedHead {
					fmt.Fprintf(&b, "  … steps %d to %d matched too\n", k+1, len(matched)-(maxMatchedListed-matchedHead))
				}
				continue
			}
			fmt.Fprintf(&b, "  step %d %s = event %d\n", k+1, steps[k], events[j].Seq)
		}
		b.WriteString(earlierMatches(events, from, st, steps, matched, prev.Seq))
	}
	if filter := r.Methods(); len(events) == 0 && filter != nil {
		// No nearest miss to look for: the filter is the likely reason
		// (what the recorder's rendering says below).
		fmt.Fprintf(&b, "nothing was recorded, and the recorder records only the calls of the methods WithMethods names: %q (were the calls of another method?)\n", filter)
		fmt.Fprintf(&b, "recorded timeline:\n%s", r.String())
		return strings.TrimRight(b.String(), "\n")
	}
	// The nearest miss of a step restricted to one call is among that
	// call's events.
	evs, f := events, from
	restricted := false // evs holds the events of one call only
	for {
		cs, ok := st.(callStep)
		if !ok {
			break
		}
		restricted = true
		var own []recorder.Event
		nf := 0
		for k, e := range evs {
			if e.CallID == cs.id {
				if k < f {
					nf++
				}
				own = append(own, e)
			}
		}
		if len(own) == 0 && len(evs) > 0 {
			fmt.Fprintf(&b, "no event of call %d was recorded (Recorder.Calls gives the ids of the calls recorded; CallID, a call's id from its context)\n", cs.id)
		}
		evs, f, st = own, nf, cs.step
	}
	if dropped == 0 { // else the ring may have dropped that side's events
		b.WriteString(sideNotRecorded(evs, st))
	}
	near := evs[f:]
	var after uint64 // the Seq of the event the previous step matched
	if i > 0 {
		after = events[matched[i-1]].Seq
	}
	switch st := st.(type) {
	case messageStep:
		if note, seq := failedLike(near, st); note != "" {
			focus = append(focus, seq)
			b.WriteString(note)
		}
		if st.msg != nil {
			if note, first := otherTypes(near, st); note != "" {
				// A diff against a message of another type says only that.
				focus = append(focus, first)
				b.WriteString(note)
			} else if e, d, ok := nearest(near, st); ok {
				focus = append(focus, e.Seq)
				fmt.Fprintf(&b, "nearest event of that kind, event %d (%s): mismatch (-want +got):\n%s", e.Seq, describeEvent(e), d)
				if pe, pd, ok := nearerBefore(evs[:f], events, matched, st, d); ok {
					focus = append(focus, pe.Seq)
					fmt.Fprintf(&b, "nearer, but before event %d: event %d (%s): mismatch (-want +got):\n%s", after, pe.Seq, describeEvent(pe), pd)
				}
			}
		}
	case mdStep:
		note, seqs := nearestMD(st, near, after, restricted)
		focus = append(focus, seqs...)
		b.WriteString(note)
	case endStep:
		b.WriteString(nearestEnds(st, evs, f, after, restricted, waited, dropped))
	}
	if len(events) == 0 {
		// The recorder's own rendering says why, when WithMethods is the
		// reason.
		fmt.Fprintf(&b, "recorded timeline:\n%s", r.String())
		return strings.TrimRight(b.String(), "\n")
	}
	if filter := r.Methods(); filter != nil {
		fmt.Fprintf(&b, "the recorder records only the calls of the methods WithMethods names: %q\n", filter)
	}
	fmt.Fprintf(&b, "recorded timeline:\n%s", tlwindow.Cut(recorder.Timeline(events), focus...))
	return strings.TrimRight(b.String(), "\n")
}

// stepSide returns the side whose events st matches, if it matches one
// side only.
func stepSide(st Step) (recorder.Side, bool) {
	switch st := st.(type) {
	case messageStep:
		return st.side, true
	case mdStep:
		return st.side, true
	case closeStep:
		return recorder.Client, true
	case endStep:
		return st.side, st.sided
	}
	return 0, false
}

// sideNotRecorded says, when events hold events of one side only and st
// looks for the other, that the other side was not recorded: the
// recorder saw a server whose client it does not record (a client dialed
// without its DialOptions, a fakes.ServerStream, which records the
// handler's side), or a client whose server it does not. "" otherwise.
func sideNotRecorded(events []recorder.Event, st Step) string {
	side, ok := stepSide(st)
	if !ok || len(events) == 0 || slices.ContainsFunc(events, func(e recorder.Event) bool { return e.Side == side }) {
		return ""
	}
	if side == recorder.Client {
		return "no event of the client side was recorded, only the server's: the recorder did not record these calls' clients " +
			"(a client dialed without the recorder's DialOptions, or a fakes.ServerStream, which records its handler's side only)\n"
	}
	return "no event of the server side was recorded, only the client's: the recorder did not record these calls' server " +
		"(a server built without the recorder's ServerOptions, or a fakes.ClientStream, which records the code's side only)\n"
}

// failedLike says which of events is the first Send or Recv that the
// message step st would have matched but for its error, and its Seq: a
// Send after the call ended, say, which gRPC refused. "" if none is.
func failedLike(events []recorder.Event, st messageStep) (string, uint64) {
	for _, e := range events {
		if e.Side != st.side || e.Kind != st.kind || e.Err == nil || e.Msg == nil {
			continue
		}
		ok := e
		ok.Err = nil
		if !st.Match(ok) {
			continue
		}
		return fmt.Sprintf("event %d (%s) holds such a message, but failed: %s; message steps match only the Sends and Recvs "+
			"that succeeded (a Step of your own can match a failed one: see Step)\n", e.Seq, describeEvent(e), sendErr(e.Err)), e.Seq
	}
	return "", 0
}

// otherTypes says, when events of the step's side and kind hold messages
// but none of the step's type, which types they hold: a step matches only
// a message of the type recorded (the generated type, or with another
// codec the type given to SendMsg or RecvMsg), and the Seq of the first
// such event. It returns "" when the step's type is among them, or cmp
// options may make other types equal.
func otherTypes(events []recorder.Event, st messageStep) (string, uint64) {
	if len(st.opts) > 0 {
		return "", 0
	}
	want := messageType(st.msg)
	var types []string
	first := uint64(0)
	for _, e := range events {
		if !st.sameKind(e) {
			continue
		}
		got := messageType(e.Msg)
		if got == want {
			return "", 0
		}
		if first == 0 {
			first = e.Seq
		}
		if !slices.Contains(types, got) {
			types = append(types, got)
		}
	}
	if len(types) == 0 {
		return "", 0
	}
	const maxTypes = 3
	more := ""
	if len(types) > maxTypes {
		more = fmt.Sprintf(" and %d other types", len(types)-maxTypes)
		types = types[:maxTypes]
	}
	return fmt.Sprintf("none of the events searched of that kind holds a %s, the step's type: they hold %s%s (the first at event %d); a step matches only a message of the type that was sent or received\n",
		want, strings.Join(types, ", "), more, first), first
}

// nearest finds, among events of the step's side and kind, the one whose
// message differs least from the step's (see nearer); the first of equals.
func nearest(events []recorder.Event, st messageStep) (recorder.Event, string, bool) {
	// A message of the step's own type is nearer than any of another type,
	// whose diff is short only because it lists the differing types.
	sameType := false
	for _, e := range events {
		if st.sameKind(e) && messageType(e.Msg) == messageType(st.msg) {
			sameType = true
			break
		}
	}
	var best recorder.Event
	bestDiff := ""
	for _, e := range events {
		if !st.sameKind(e) || sameType && messageType(e.Msg) != messageType(st.msg) || msgdiff.Untyped(e.Msg) {
			continue
		}
		d, err := diff(st.msg, emptyIfNil(e.Msg), st.opts)
		if err != nil || d == "" {
			continue
		}
		if bestDiff == "" || nearer(d, bestDiff) {
			best, bestDiff = e, d
		}
	}
	return best, bestDiff, bestDiff != ""
}

// nearerBefore finds, among earlier (the events before the one the
// previous step matched), a message that no step took (events[j] for j in
// matched) and that differs from st's less than d, the nearest miss after
// it, does: a message both changed and out of order. Only messages of the
// step's type count: a diff of types only is short.
func nearerBefore(earlier, events []recorder.Event, matched []int, st messageStep, d string) (recorder.Event, string, bool) {
	if len(matched) == 0 {
		return recorder.Event{}, "", false // no previous step
	}
	taken := make(map[uint64]bool, len(matched))
	for _, j := range matched {
		taken[events[j].Seq] = true
	}
	untaken := slices.DeleteFunc(slices.Clone(earlier), func(e recorder.Event) bool {
		return taken[e.Seq] || messageType(e.Msg) != messageType(st.msg)
	})
	e, diff, ok := nearest(untaken, st)
	return e, diff, ok && nearer(diff, d)
}

// nearer reports whether diff a shows a smaller difference than b: fewer
// lines that differ (fields, list elements), then fewer bytes.
func nearer(a, b string) bool {
	if la, lb := changedLines(a), changedLines(b); la != lb {
		return la < lb
	}
	return len(a) < len(b)
}

// changedLines counts the lines of a cmp diff that differ (- and +).
func changedLines(diff string) int {
	n := 0
	for line := range strings.Lines(diff) {
		if strings.HasPrefix(line, "-") || strings.HasPrefix(line, "+") {
			n++
		}
	}
	return n
}

// messageType names the type of a message: its proto full name, or its Go
// type for other messages, so that a typed nil is of its type.
func messageType(m any) string {
	if msgdiff.Untyped(m) { // its methods may panic (a nil *dynamicpb.Message)
		return fmt.Sprintf("%T of no message type", m)
	}
	if pm, ok := m.(proto.Message); ok {
		if d := pm.ProtoReflect().Descriptor(); d != nil {
			return string(d.FullName())
		}
	}
	return fmt.Sprintf("%T", m)
}

// nearestMD describes the events a metadata step could have matched but
// for their metadata (at most maxNearestEnds of them), each with the first
// key that differs, and returns their Seqs; or says there is none (after
// event after, if not 0; in the call, if restricted to one).
func nearestMD(st mdStep, events []recorder.Event, after uint64, restricted bool) (string, []uint64) {
	what := fmt.Sprintf("%s %s", st.side, st.kind)
	var parts []string
	var seqs []uint64
	n := 0
	for _, e := range events {
		if !st.sameKind(e) {
			continue
		}
		n++
		if len(parts) == maxNearestEnds {
			continue
		}
		seqs = append(seqs, e.Seq)
		part := fmt.Sprintf("event %d (%s)", e.Seq, st.mdDiff(e.MD))
		if md := recorder.FormatMetadata(e.MD); md != "" {
			part += " " + md
		}
		parts = append(parts, part)
	}
	if n == 0 {
		hint := ""
		if st.kind == recorder.Trailer {
			hint = " (a call records a trailer only when the server set one: an empty trailer is none)"
		}
		in := ""
		if restricted {
			in = " in the call"
		}
		where := "no " + what + " event was recorded" + in
		if after > 0 {
			where = fmt.Sprintf("no %s event%s comes after event %d", what, in, after)
		}
		return where + hint + "\n", nil
	}
	more := ""
	if n > len(parts) {
		more = fmt.Sprintf(", and %d more", n-len(parts))
	}
	return fmt.Sprintf("nearest: the %s events hold other metadata: %s%s\n", what, strings.Join(parts, ", "), more), seqs
}

// mdDiff names the first of the step's keys (in sorted order) that got
// lacks, or holds with other values (see mismatch).
func (s mdStep) mdDiff(got metadata.MD) string {
	k, differs := s.mismatch(got)
	g, ok := got[k]
	switch {
	case !differs:
		return "it holds them all"
	case !ok:
		return fmt.Sprintf("no %s", k)
	default:
		return fmt.Sprintf("%s: want %q, got %q", k, s.md[k], g)
	}
}

// boolInt is 1 for true, 0 for false.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// maxNearestEnds bounds the End events a failed Ends step lists (alike
// ones counted as one).
const maxNearestEnds = 4

// nearestEnds describes the End events an Ends step could have matched but
// for their code: those of events[from:] (after after, the Seq of the event
// the previous step matched, if not 0), or if there are none, the earlier
// ones. restricted says events are those of the step's call only; dropped
// counts the events the recorder's ring dropped before them.
func nearestEnds(st endStep, events []recorder.Event, from int, after uint64, restricted bool, waited time.Duration, dropped uint64) string {
	// Ends alike (side, method and status) are listed once, with a count:
	// three hundred unary calls that ended OK do not hide the stream
	// that ended Canceled. Those that ended with an error come first.
	list := func(evs []recorder.Event) string {
		type group struct {
			e    recorder.Event
			text string
			n    int
		}
		var groups []*group
		byText := map[string]*group{}
		for _, e := range evs {
			if e.Kind != recorder.End || !st.ofSide(e) {
				continue
			}
			text := fmt.Sprintf("%s end %s (%s)", e.Side, endStatus(e.Err), e.Method)
			if g := byText[text]; g != nil {
				g.n++
				continue
			}
			g := &group{e: e, text: text, n: 1}
			byText[text] = g
			groups = append(groups, g)
		}
		slices.SortStableFunc(groups, func(a, b *group) int {
			return boolInt(a.e.Err == nil) - boolInt(b.e.Err == nil)
		})
		var parts []string
		for k, g := range groups {
			if k == maxNearestEnds {
				parts = append(parts, "…")
				break
			}
			part := fmt.Sprintf("event %d %s", g.e.Seq, g.text)
			if g.n > 1 {
				part += fmt.Sprintf(" and %d more like it", g.n-1)
			}
			parts = append(parts, part)
		}
		return strings.Join(parts, ", ")
	}
	afterText := ""
	if after > 0 {
		afterText = fmt.Sprintf(" after event %d", after)
	}
	end, half := "End", "call"
	if st.sided {
		end, half = st.side.String()+" End", "call's "+st.side.String()+" half"
	}
	ofCall, earlier := "", "earlier "+end+" events"
	if restricted {
		ofCall, earlier = " of the call", "its earlier "+end+" events"
	}
	if l := list(events[from:]); l != "" {
		return fmt.Sprintf("nearest: the %s events%s%s end with other codes: %s\n%s", end, ofCall, afterText, l, notEnded(events, waited))
	}
	if l := list(events[:from]); l != "" {
		return fmt.Sprintf("no %s event%s%s; %s: %s\n%s", end, ofCall, afterText, earlier, l, notEnded(events, waited))
	}
	if dropped > 0 { // not "none was recorded": the ring may have dropped it
		return fmt.Sprintf("no %s event%s among the %d events kept: it may have been among the %d the ring dropped\n", end, ofCall, len(events), dropped)
	}
	none := fmt.Sprintf("no %s event was recorded: no %s had ended", end, half)
	if restricted {
		none = "the call has no End event: it had not ended"
		if st.sided {
			none = fmt.Sprintf("the call has no %s event: its %s half had not ended", end, st.side)
		}
	}
	if waited > 0 {
		return fmt.Sprintf("%s %v after AssertOrderWithin began (end or cancel the call; a server half ends only when its handler returns, "+
			"which a handler that does not watch its context may never do)\n", none, waited)
	}
	return none + " when AssertOrder read the recorder (end the call before asserting, or wait for its End with AssertOrderWithin)\n"
}

// notEnded names the call halves of events that began and have no End
// (yet), and says that an End may still be on its way: a canceled call's
// client End and a server's End are recorded on other goroutines than the
// test's. "" if every half ended.
func notEnded(events []recorder.Event, waited time.Duration) string {
	type half struct {
		id   uint64
		side recorder.Side
	}
	var open []half
	for _, e := range events {
		h := half{e.CallID, e.Side}
		switch e.Kind {
		case recorder.Begin:
			open = append(open, h)
		case recorder.End:
			if i := slices.Index(open, h); i >= 0 {
				open = slices.Delete(open, i, i+1)
			}
		}
	}
	if len(open) == 0 {
		return ""
	}
	var parts []string
	for i, h := range open {
		if i == maxNearestEnds {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, fmt.Sprintf("call %d %s", h.id, h.side))
	}
	if waited > 0 {
		return fmt.Sprintf("still not ended %v after AssertOrderWithin began: %s (end or cancel the call)\n", waited, strings.Join(parts, ", "))
	}
	return fmt.Sprintf("not ended yet when AssertOrder read the recorder: %s; an End is recorded when the call ends, "+
		"on another goroutine for a canceled call's client and for a server: AssertOrderWithin waits for it\n", strings.Join(parts, ", "))
}

// endStatus renders the status of an End event: its code, and its message
// when it has one.
func endStatus(err error) string {
	st := status.Convert(err)
	if st.Message() == "" {
		return st.Code().String()
	}
	return st.Code().String() + " (" + strconv.Quote(truncate(st.Message(), 80)) + ")"
}

// sendErr renders the error of a Send or Recv: io.EOF as itself (a Send's
// io.EOF means the call had ended), a status as endStatus does.
func sendErr(err error) string {
	if errors.Is(err, io.EOF) {
		return "io.EOF"
	}
	return endStatus(err)
}

func describeEvent(e recorder.Event) string {
	return fmt.Sprintf("%s %s %s", e.Side, e.Kind, e.Method)
}

// truncate cuts s to at most n bytes, at a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// A failed order's "matched so far" lists at most maxMatchedListed steps:
// the first matchedHead and the last ones, before the step not found.
const (
	maxMatchedListed = 20
	matchedHead      = 5
)
