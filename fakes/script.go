package fakes

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/streamtest/streamtest/internal/msgdiff"
	"github.com/streamtest/streamtest/recorder"
)

// Script is what the fake server does in one call of one method: steps run
// in order, in the call's handler. Build it with Server.Expect and chain
// the step methods:
//
//	srv.Expect("/streamtest.examples.chat.v1.Chat/Talk").
//		Recv(&chatpb.Message{Room: "r", Text: "hi"}).
//		Send(&chatpb.Message{Room: "r", Text: "hi", Seq: 1}).
//		RecvEOF().
//		Return(nil)
//
// Recv compares a request with a message given; RecvWith does so with cmp
// options (to ignore a field the test cannot know, such as an ID the client
// makes up), RecvFunc with a function of the test's. SendFunc makes a
// response from the last request received (to echo that ID).
//
// A script without Return or Hang ends the call with OK after its last step.
// Requests the client sent that no step received are dropped then, as a real
// server drops them when its handler returns: a script that should see that
// the client sends nothing more says so with RecvEOF (or RecvEach), where
// another request is a mismatch. Each step method checks its argument
// against the method's descriptor at once (a message of the wrong type, a
// second request on a method without client streaming, a step after Return,
// Return(nil) before the one response of a method without server
// streaming...) and reports a misuse with t.Errorf at that line. The step is
// dropped: the script runs without it, and if its call is not made, Close's
// report lists the steps the script has and says how many were rejected.
//
// The fake checks requests at the steps that receive them, and nowhere
// else: on a method without client streaming a call that sends a second
// request passes unless a RecvEOF step follows the step that receives the
// first (grpc-go fails such a call inside the handler's one RecvMsg, below
// the interceptors; the fake runs under them, and an extra RecvMsg of its
// own would be seen by FailAfter, Delay and the recorder as the call's).
//
// On a method without server streaming a call that ends OK sends exactly
// one response. Return(nil) before the Send is a misuse (reported, and the
// step dropped); a call that reaches the end of a script without a Send
// ends with codes.FailedPrecondition naming the script instead of OK, and
// Close reports it.
//
// Build a script before the client makes the call it describes; the steps
// of a call are fixed when the call arrives, and a step added to the
// script after that is a misuse.
type Script struct {
	s      *Server
	method string
	given  string                        // the name as Expect was given it (perhaps without the slash), for reports
	md     protoreflect.MethodDescriptor // nil: Expect failed, the script is inert
	where  string                        // file:line of Expect
	nth    int32                         // of the scripts made at where, this is the nth (from 1)
	atLine *atomic.Int32                 // how many scripts were made at where; nil if Expect failed

	// guarded by s.mu
	steps       []scriptStep
	rejected    int         // step method calls reported as misuse, their steps dropped
	min, max    int         // how many calls are expected (Times and friends); max < 0: no bound
	allowCancel bool        // AllowCancel: a call its client cancels need not complete
	wantMD      metadata.MD // Metadata: what the request metadata must hold
	mdWhere     string      // file:line of the first Metadata call
	minSet      bool        // MinTimes or Times gave min, MaxTimes leaves it
	maxSet      bool        // MaxTimes or Times gave max, MinTimes leaves it
	final       bool        // Return or Hang added: no step may follow
	calls       []*callRun  // calls that used this script, in order
}

type stepKind int

const (
	stepRecv stepKind = iota
	stepRecvAny
	stepRecvEOF
	stepSend
	stepSendHeader
	stepSetTrailer
	stepSleep
	stepHang
	stepReturn
	stepRecvWith
	stepRecvFunc
	stepSendFunc
	stepRecvEach
	stepDo
)

var stepNames = [...]string{"Recv", "RecvAny", "RecvEOF", "Send", "SendHeader", "SetTrailer", "Sleep", "Hang", "Return",
	"RecvWith", "RecvFunc", "SendFunc", "RecvEach", "Do"}

// recvKinds are the steps that receive a request; sendKinds those that
// send a response.
var (
	recvKinds = []stepKind{stepRecv, stepRecvAny, stepRecvWith, stepRecvFunc, stepRecvEach}
	sendKinds = []stepKind{stepSend, stepSendFunc}
)

type scriptStep struct {
	kind  stepKind
	msg   proto.Message
	opts  []cmp.Option  // RecvWith's
	fn    reflect.Value // RecvFunc's and RecvEach's check, SendFunc's reply, Do's f
	md    metadata.MD
	d     time.Duration
	err   error
	where string // file:line of the step method call
}

// String names the step for failure messages: its kind and argument.
func (st scriptStep) String() string {
	name := stepNames[st.kind]
	switch st.kind {
	case stepRecv, stepSend:
		return fmt.Sprintf("%s(%s)", name, recorder.FormatMessage(st.msg))
	case stepRecvWith:
		return fmt.Sprintf("%s(%s, %d cmp option(s))", name, recorder.FormatMessage(st.msg), len(st.opts))
	case stepRecvFunc, stepSendFunc, stepRecvEach, stepDo:
		return fmt.Sprintf("%s(%s)", name, st.fn.Type())
	case stepSendHeader, stepSetTrailer:
		// Not %v: grpc's metadata.MD redacts itself when printed so.
		md := recorder.FormatMetadata(st.md)
		if md == "" {
			md = "md{}"
		}
		return fmt.Sprintf("%s(%s)", name, md)
	case stepSleep:
		return fmt.Sprintf("%s(%v)", name, st.d)
	case stepReturn:
		if st.err == nil {
			return name + "(nil)"
		}
		return fmt.Sprintf("%s(%v)", name, st.err)
	}
	return name + "()"
}

// callRun is the progress of one call that runs a script.
type callRun struct {
	ordinal    int          // the script's n-th call
	name       string       // "call 2 of 3": the call among the script's, when it arrived (see callNameLocked)
	wantMD     metadata.MD  // the script's Metadata when the call arrived
	steps      []scriptStep // the steps fixed when the call arrived
	done       int          // steps completed
	stopped    string       // why the call ended during step done+1 (an error there), "" if it did not
	clientHint string       // said of stopped if the client ended the call (see Server.stop)
	endedBy    endCause     // who ended the call, if stopped (see Server.stop and Server.clientEnds)
	// endedBeforeClose: run's watch of the call's context saw it end
	// before Close began.
	endedBeforeClose bool
	callID           uint64 // the recorder's, if hasID
	hasID            bool
	failed           string // a mismatch (already the complete message), "" if none
	// While the call runs: its context, and finished, closed when its
	// handler returns (see awaitUnseenEnds).
	ctx      context.Context
	finished chan struct{}
}

// endCause is who ended a call that stopped before its script was
// complete.
type endCause int

const (
	endOwn        endCause = iota // an error of the call's own, before Close, with its context live
	endClient                     // its client: it canceled, or its deadline passed
	endMaybeClose                 // it ended once Close had begun: Close may have ended it
	endDropped                    // its connection broke (its client got Unavailable: Disconnect)
)

// Recv expects the next request to equal want (compared with protocmp);
// want must be of the method's request type. A different request, or the
// client half-closing instead, is a mismatch.
func (sc *Script) Recv(want any) *Script {
	sc.made("Recv")
	sc.s.t.Helper()
	return sc.add(stepRecv, func(st *scriptStep) string {
		m, msg := sc.checkMsg("Recv", want, sc.md.Input())
		st.msg = m
		if msg == "" {
			msg = sc.oneRequest()
		}
		return msg
	})
}

// RecvAny expects a request, whatever it is. The client half-closing instead
// is a mismatch.
func (sc *Script) RecvAny() *Script {
	sc.made("RecvAny")
	sc.s.t.Helper()
	return sc.add(stepRecvAny, func(*scriptStep) string { return sc.oneRequest() })
}

// RecvEOF expects the client to have half-closed: no request is left. A
// request instead is a mismatch.
func (sc *Script) RecvEOF() *Script {
	sc.made("RecvEOF")
	sc.s.t.Helper()
	return sc.add(stepRecvEOF, func(*scriptStep) string {
		if !sc.md.IsStreamingClient() && sc.countLocked(recvKinds...) == 0 {
			return "RecvEOF before the request: the method is not client-streaming, so its one request comes first; put a step that receives it (Recv, RecvAny...) before RecvEOF"
		}
		return ""
	})
}

// Send sends msg, which must be of the method's response type.
func (sc *Script) Send(msg any) *Script {
	sc.made("Send")
	sc.s.t.Helper()
	return sc.add(stepSend, func(st *scriptStep) string {
		m, bad := sc.checkMsg("Send", msg, sc.md.Output())
		st.msg = m
		if bad == "" {
			bad = sc.oneResponse()
		}
		return bad
	})
}

// RecvWith expects the next request to equal want as compared with
// protocmp and opts, as grpctest.AssertMessagesWith compares: for a request
// with fields the test cannot know, such as an ID or a timestamp the
// client makes up,
//
//	RecvWith(&pb.Req{Text: "hi"}, protocmp.IgnoreFields(&pb.Req{}, "request_id"))
//
// want must be of the method's request type. The options see a proto
// message as protocmp.Transform makes it, a map of its fields:
// cmpopts.IgnoreFields and cmpopts.IgnoreUnexported, which name the fields
// of Go structs, never apply, and are a misuse here.
func (sc *Script) RecvWith(want any, opts ...cmp.Option) *Script {
	sc.made("RecvWith")
	sc.s.t.Helper()
	return sc.add(stepRecvWith, func(st *scriptStep) string {
		m, msg := sc.checkMsg("RecvWith", want, sc.md.Input())
		st.msg = m
		st.opts = append([]cmp.Option(nil), opts...)
		if msg == "" && msgdiff.StructOptions(opts) {
			msg = "RecvWith got cmpopts.IgnoreFields or cmpopts.IgnoreUnexported, which name the fields of Go structs; " +
				"proto messages are compared as maps of their fields, so they would never apply: use protocmp.IgnoreFields(&pb.M{}, \"field_name\")"
		}
		if msg == "" {
			msg = sc.oneRequest()
		}
		return msg
	})
}

// RecvFunc expects a request and passes it to check, which returns nil if
// it is a request the call may get, or an error saying what is wrong with
// it: a mismatch, reported with the error and the request. check is a
// func(*pb.Req) error, where *pb.Req is the method's request type (or an
// interface it implements, such as proto.Message), or takes the call's
// context first, func(ctx context.Context, req *pb.Req) error, for the
// request metadata (metadata.FromIncomingContext) or to see the call end
// (ctx.Done); a check that panics is a mismatch too, reported with its
// stack. Use it for what equality cannot
// say ("a request ID is set", "the offset is past the last one"), or to
// keep a request for a later SendFunc or for the test.
//
// The check runs while the call's handler waits, once per call of the
// script (calls may run at once): it reports through its error, not with
// t.FailNow or a testify require function, which a check that does is
// reported as calling. A call that ends while its check runs (the client
// canceled, or its deadline passed) ends during the step, as during a
// Sleep, whatever the check returns; a check still running then is left to
// run, and the harness's leak check reports it if it has not returned by
// Close.
func (sc *Script) RecvFunc(check any) *Script {
	sc.made("RecvFunc")
	sc.s.t.Helper()
	return sc.add(stepRecvFunc, func(st *scriptStep) string {
		fn, bad := sc.checkFunc("RecvFunc", check, reflect.TypeFor[error]())
		st.fn = fn
		if bad == "" {
			bad = sc.oneRequest()
		}
		return bad
	})
}

// RecvEach passes every request the client sends to check, until the
// client half-closes: any number of requests, none included, then the end
// of the requests, as RecvEOF expects. check is as RecvFunc's, and an
// error it returns for a request is a mismatch, naming the request's
// number. For an upload of a number of chunks the test does not fix:
//
//	var total int
//	srv.Expect(method).
//		RecvEach(func(c *pb.Chunk) error { total += len(c.GetData()); return nil }).
//		SendFunc(func(*pb.Chunk) *pb.Summary { return &pb.Summary{Bytes: int64(total)} })
//
// A SendFunc after it gets the last request (nil if there was none). No
// step that receives a request may follow it. The steps after it run once
// the client has half-closed: a bidi client that waits for an answer
// before it half-closes waits forever (and the script with it) — script
// such a conversation with RecvFunc and SendFunc steps, one per request.
func (sc *Script) RecvEach(check any) *Script {
	sc.made("RecvEach")
	sc.s.t.Helper()
	return sc.add(stepRecvEach, func(st *scriptStep) string {
		fn, bad := sc.checkFunc("RecvEach", check, reflect.TypeFor[error]())
		st.fn = fn
		if bad == "" && !sc.md.IsStreamingClient() {
			bad = "the method is not client-streaming: it has exactly one request; use RecvFunc"
		}
		return bad
	})
}

// SendFunc sends the response that reply makes from the last request the
// call received (by an earlier Recv, RecvAny, RecvWith, RecvFunc or
// RecvEach step): for responses that echo what the client made up, such
// as a request ID.
// reply is a func(*pb.Req) *pb.Res, where *pb.Req is the method's request
// type (or an interface it implements, such as proto.Message) and *pb.Res
// its response type (or an interface such as proto.Message, the message
// then checked when the call runs).
//
//	Recv(...).SendFunc(func(req *pb.Req) *pb.Res { return &pb.Res{RequestId: req.GetRequestId()} })
//
// Like RecvFunc's check, reply may take the call's context first (to
// answer by the request metadata, or to wait for the call to end).
//
// reply may also be a func(*pb.Req) (*pb.Res, error), to answer some
// requests with an error: a non-nil error ends the call with it as the
// handler's result, as Return(err) would (its response is not sent, and
// the steps after the SendFunc do not run), and the call counts as having
// completed its script. And it may return a []*pb.Res instead of one
// response, to send a stream of responses made from one request (a
// download that resumes from the offset the request gives): each is
// sent in order, none if the slice is empty. On a method without server
// streaming the slice must hold exactly one.
//
//	RecvAny().SendFunc(func(req *pb.GetRequest) (*pb.Item, error) {
//		if req.GetId() == "missing" {
//			return nil, status.Error(codes.NotFound, "no such item")
//		}
//		return &pb.Item{Id: req.GetId()}, nil
//	}).MaxTimes(10)
//
// A reply that returns nil or a message of another type, panics or calls
// runtime.Goexit (t.FailNow) ends the call with codes.FailedPrecondition,
// and Close reports it. Like RecvFunc's check, it runs once per call of
// the script, calls may run at once, and a call that ends while it runs
// ends during the step. A response computed from every request, or from
// state the service keeps, is a job for a handler of the test's own on a
// grpctest.NewServer.
func (sc *Script) SendFunc(reply any) *Script {
	sc.made("SendFunc")
	sc.s.t.Helper()
	return sc.add(stepSendFunc, func(st *scriptStep) string {
		fn, bad := sc.checkFunc("SendFunc", reply, nil)
		st.fn = fn
		if bad == "" && sc.countLocked(recvKinds...) == 0 {
			bad = "SendFunc before any step that receives a request: there is no request to reply to; " +
				"add a Recv, RecvAny, RecvWith or RecvFunc step first, or use Send"
		}
		if bad == "" {
			bad = sc.oneResponse()
		}
		return bad
	})
}

// Do runs f, a function of the test's, as a step: it gets the call's
// context, and the script goes on when f returns nil. It is for what a
// script cannot say with a message: wait for the test to let it go on
// (a watch that sends its next event when the test has changed the
// state), count or log the step, or see that the call ends.
//
//	next := make(chan struct{})
//	srv.Expect(watch).RecvAny().Send(first).
//		Do(func(ctx context.Context) error {
//			select {
//			case <-next: // the test has checked the first event
//				return nil
//			case <-ctx.Done(): // the client gave up
//				return ctx.Err()
//			}
//		}).
//		Send(second).Hang()
//
// A non-nil error ends the call with it as the handler's result, as
// Return(err) would: the steps after it do not run, and the call counts
// as having completed its script. f returning once the call's context
// has ended counts as the call ending during the step (reported unless
// AllowCancel, as a cancel during any step is). Like SendFunc's reply, f
// runs on a goroutine of its own, once per call of the script: a panic
// or runtime.Goexit (t.FailNow) in it ends the call with
// codes.FailedPrecondition, and Close reports it; an f still running
// when the call ends is left to the leak check. A nil f is a misuse.
func (sc *Script) Do(f func(ctx context.Context) error) *Script {
	sc.made("Do")
	sc.s.t.Helper()
	return sc.add(stepDo, func(st *scriptStep) string {
		if f == nil {
			return "Do(nil): want a func(context.Context) error"
		}
		st.fn = reflect.ValueOf(f)
		return ""
	})
}

// SendHeader sends the response header md. It comes before the first
// Send (which sends the header), once. A key gRPC reserves (content-type,
// grpc-status, ...) is a misuse: a grpc-go server leaves it out.
func (sc *Script) SendHeader(md metadata.MD) *Script {
	sc.made("SendHeader")
	sc.s.t.Helper()
	return sc.add(stepSendHeader, func(st *scriptStep) string {
		st.md = md.Copy()
		if bad := scriptMDProblem(md); bad != "" {
			return bad
		}
		switch {
		case sc.countLocked(sendKinds...) > 0:
			return "SendHeader after a Send: the first response sends the header; put SendHeader before the first Send"
		case sc.countLocked(stepSendHeader) > 0:
			return "a second SendHeader: the header is sent once; merge the metadata into one SendHeader"
		}
		return ""
	})
}

// SetTrailer adds md to the trailer sent with the call's status. A key
// gRPC reserves (grpc-status, grpc-message, content-type, ...) or
// grpc-status-details-bin is a misuse: the status, and its details, are
// Return's.
func (sc *Script) SetTrailer(md metadata.MD) *Script {
	sc.made("SetTrailer")
	sc.s.t.Helper()
	return sc.add(stepSetTrailer, func(st *scriptStep) string {
		st.md = md.Copy()
		if bad := scriptMDProblem(md); bad != "" {
			return bad
		}
		return detailsProblem(md)
	})
}

// Sleep waits d before the next step (a timer, not a sleeping goroutine).
// It expects the client to wait d: if the client cancels the call, or its
// deadline passes, before d is up, the wait and the call end at once and
// the script is not completed, so Close reports the call, naming the
// Sleep (unless AllowCancel). A Sleep that ends before the client gives up
// passes. Sleep is for a slow server that the client waits for; to test a
// client's timeout or cancel, script the steps before it and end the
// script with Hang, which a cancel completes.
func (sc *Script) Sleep(d time.Duration) *Script {
	sc.made("Sleep")
	sc.s.t.Helper()
	return sc.add(stepSleep, func(st *scriptStep) string {
		st.d = d
		if d < 0 {
			return fmt.Sprintf("Sleep(%v): negative duration", d)
		}
		return ""
	})
}

// Hang keeps the call open until the client cancels it (or its deadline
// passes, or the server closes): a stream that never ends by itself, with
// no implied end of responses. It must be the last step.
func (sc *Script) Hang() *Script {
	sc.made("Hang")
	sc.s.t.Helper()
	return sc.add(stepHang, nil)
}

// Return ends the call with err as the handler's result: nil is OK, a
// status error gives its code, anything else codes.Unknown. It must be the
// last step. On a method without server streaming, Return(nil) must follow
// the Send of the one response; an error may be returned without one.
func (sc *Script) Return(err error) *Script {
	sc.made("Return")
	sc.s.t.Helper()
	return sc.add(stepReturn, func(st *scriptStep) string {
		st.err = err
		if err == nil && !sc.md.IsStreamingServer() && sc.countLocked(sendKinds...) == 0 {
			return "Return(nil) before the response: the method is not server-streaming, a call that ends OK sends exactly one response; " +
				"add Send(response) first, or Return an error"
		}
		return ""
	})
}

// Times says the whole scripted call is expected n times (default 1): each
// of n calls of the method runs all the steps. Close reports fewer calls;
// more are unexpected calls. Times(0) expects no call at all.
func (sc *Script) Times(n int) *Script {
	sc.made("Times")
	sc.s.t.Helper()
	return sc.setTimes("Times", n, func() { sc.min, sc.max, sc.minSet, sc.maxSet = n, n, true, true })
}

// MinTimes says the scripted call is expected at least n times: Close
// reports fewer calls. Without MaxTimes there is no upper bound: every
// later call of the method runs this script (a Script after it for the
// same method gets none).
func (sc *Script) MinTimes(n int) *Script {
	sc.made("MinTimes")
	sc.s.t.Helper()
	return sc.setTimes("MinTimes", n, func() {
		sc.min, sc.minSet = n, true
		if !sc.maxSet {
			sc.max = -1
		}
	})
}

// MaxTimes says the scripted call is expected at most n times: more are
// unexpected calls, or go to the next Script of the method. Without
// MinTimes there is no lower bound: no call at all is fine. For a client
// that makes a number of calls that depends on timing (one that stops
// fanning out at the first error), MaxTimes (or MinTimes and MaxTimes)
// with RecvFunc and SendFunc scripts them all.
func (sc *Script) MaxTimes(n int) *Script {
	sc.made("MaxTimes")
	sc.s.t.Helper()
	return sc.setTimes("MaxTimes", n, func() {
		sc.max, sc.maxSet = n, true
		if !sc.minSet {
			sc.min = 0
		}
	})
}

// AnyTimes says the scripted call may be made any number of times, none
// included: every call of the method runs this script (a Script after it
// for the same method gets none), and Close reports no missing call.
func (sc *Script) AnyTimes() *Script {
	sc.made("AnyTimes")
	sc.s.t.Helper()
	return sc.setTimes("AnyTimes", 0, func() { sc.min, sc.max, sc.minSet, sc.maxSet = 0, -1, true, true })
}

// Metadata expects the call's request metadata to hold want: each key of
// want with want's values, in order; other keys may be there too (gRPC
// adds some of its own). Keys match in lower case, as gRPC sends them. It
// is checked when the call arrives, before the first step: a call without
// it ends with codes.FailedPrecondition, and Close reports the keys that
// differ and the metadata the call had. Calling it again adds keys.
//
//	srv.Expect(method).Metadata(metadata.Pairs("authorization", "Bearer t0k3n")).RecvAny()...
func (sc *Script) Metadata(want metadata.MD) *Script {
	sc.made("Metadata")
	t := sc.s.t
	t.Helper()
	where := callerLine(2)
	if sc.md == nil {
		return sc // Expect already reported the unknown method
	}
	sc.s.mu.Lock()
	defer sc.s.mu.Unlock()
	bad := ""
	var empty []string
	for k, vs := range want {
		if len(vs) == 0 {
			empty = append(empty, k)
		}
	}
	slices.Sort(empty)
	switch {
	case len(want) == 0:
		bad = "no key to expect: give the metadata the call must hold"
	case len(empty) > 0:
		bad = fmt.Sprintf("no value for %s: give the values the call must send", strings.Join(empty, ", "))
	default:
		if bad = requestMDProblem(want); bad == "" {
			bad = sc.lateLocked("check")
		}
	}
	if bad != "" {
		t.Errorf("fakes: %s: Metadata: %s", sc.name(), bad)
		return sc
	}
	if sc.wantMD == nil {
		sc.wantMD, sc.mdWhere = metadata.MD{}, where
	}
	for k, vs := range want {
		sc.wantMD.Append(k, vs...) // lower-cases k
	}
	return sc
}

// AllowCancel says that a call of the script may end before it completes
// its steps because its client canceled it or its deadline passed: Close
// does not report such a call. A call canceled before it reached the
// server never comes to the script at all, so the script's count of calls
// must allow for that too: MaxTimes(1) in place of the default Times(1)
// (or MaxTimes(n) for n calls), else Close reports a call too few now and
// then. It is for clients that cancel calls they
// no longer need, such as the rest of a fan-out after its first error
// (errgroup.WithContext). A mismatch is still reported, and so are a call
// whose connection broke (Disconnect: its client got Unavailable) and a
// call that Close ended: one the client left running. A client's cancel
// reaches the server a moment after the client's call returned, so Close
// first waits, a second at most, for the server half of a call whose
// client ended to end too: through the harness's recorder, which shows how
// each client half ended, and for a call whose client it does not see (a
// client the code dialed to the harness's Addr itself, with
// grpctest.WithTCP, or grpctest.WithoutRecorder) by waiting for the
// call's context, unless the call is in a Hang step. Where the recorder
// does not show how the client half ended (a client of the code's own,
// grpctest.WithoutRecorder, a WithMethods that leaves the method out, or a
// server interceptor inside it that replaces the call's
// grpc.ServerTransportStream: see recorder.Recorder.ServerCallID), a call
// whose connection broke counts as canceled by its client, and a call
// whose cancel reached the server too late for that wait (after the
// second, or before gRPC had started its handler) is reported as one Close
// may have ended, with a note that says so.
//
// Without AllowCancel, a canceled call is reported, which catches a client
// that gives up on a call it should finish, but only now and then: a script
// checks what the server got, and a client that cancels just after the
// script's last step has let it complete. To check that the client read
// the response, assert it on the client's side (grpctest.ClientReceives on
// the server's Recorder).
func (sc *Script) AllowCancel() *Script {
	sc.made("AllowCancel")
	sc.s.t.Helper()
	sc.s.mu.Lock()
	defer sc.s.mu.Unlock()
	sc.allowCancel = true
	return sc
}

// setTimes checks n and the server's state for the call-count method
// name, then applies set, reporting a misuse with t.Errorf instead.
func (sc *Script) setTimes(name string, n int, set func()) *Script {
	t := sc.s.t
	t.Helper()
	sc.s.mu.Lock()
	defer sc.s.mu.Unlock()
	call := fmt.Sprintf("%s(%d)", name, n)
	if name == "AnyTimes" {
		call = "AnyTimes()"
	}
	switch {
	case n < 0:
		t.Errorf("fakes: %s: %s: n must be >= 0", sc.name(), call)
		return sc
	case sc.s.closing && sc.md != nil:
		t.Errorf("fakes: %s: %s after Close: the fake server is closed and has checked the calls", sc.name(), call)
		return sc
	}
	oldMin, oldMax, oldMinSet, oldMaxSet := sc.min, sc.max, sc.minSet, sc.maxSet
	set()
	if sc.max >= 0 && sc.min > sc.max {
		t.Errorf("fakes: %s: %s: at least %d and at most %d call(s) cannot both hold", sc.name(), call, sc.min, sc.max)
		sc.min, sc.max, sc.minSet, sc.maxSet = oldMin, oldMax, oldMinSet, oldMaxSet
	}
	return sc
}

// takesCallLocked reports whether another call may run sc.
func (sc *Script) takesCallLocked() bool { return sc.max < 0 || len(sc.calls) < sc.max }

// expected describes how many calls sc expects, for messages.
func (sc *Script) expected() string {
	switch {
	case sc.min == sc.max:
		return fmt.Sprintf("%d call(s)", sc.min)
	case sc.max < 0:
		return fmt.Sprintf("at least %d call(s)", sc.min)
	case sc.min == 0:
		return fmt.Sprintf("at most %d call(s)", sc.max)
	}
	return fmt.Sprintf("%d to %d calls", sc.min, sc.max)
}

// callNameLocked names the n-th call of sc in messages: "call 2 of 3"
// when sc expects a number of calls, "call 2" when a range.
func (sc *Script) callNameLocked(n int) string {
	if sc.min == sc.max {
		return fmt.Sprintf("call %d of %d", n, sc.max)
	}
	return fmt.Sprintf("call %d", n)
}

// made panics, naming method, if sc was not made by Server.Expect (a nil
// *Script, or a zero Script): there is no test to report to.
func (sc *Script) made(method string) {
	if sc == nil || sc.s == nil {
		panic("fakes: Script." + method + " called on a nil or zero Script: get one from Server.Expect")
	}
}

// add appends a step after fill has checked and completed it; fill returns
// a description of a misuse, reported with t.Errorf (the step is dropped).
func (sc *Script) add(kind stepKind, fill func(*scriptStep) string) *Script {
	t := sc.s.t
	t.Helper()
	st := scriptStep{kind: kind, where: callerLine(3)}
	if sc.md == nil {
		return sc // Expect already reported the unknown method
	}
	sc.s.mu.Lock()
	defer sc.s.mu.Unlock()
	bad := sc.lateLocked("step")
	switch {
	case bad != "":
	case sc.final:
		bad = fmt.Sprintf("a step after %s, which ends the call", stepNames[sc.steps[len(sc.steps)-1].kind])
	case slices.Contains(recvKinds, kind) && sc.countLocked(stepRecvEach) > 0:
		bad = "a step that receives a request after RecvEach, which receives every request the client sends"
	case slices.Contains(recvKinds, kind) && sc.countLocked(stepRecvEOF) > 0:
		bad = "a step that receives a request after RecvEOF, which expects the client to have sent its last request"
	case fill != nil:
		bad = fill(&st)
	}
	if bad != "" {
		sc.rejected++
		t.Errorf("fakes: %s: step %d %s: %s", sc.name(), len(sc.steps)+1, stepNames[kind], bad)
		return sc
	}
	sc.steps = append(sc.steps, st)
	if kind == stepReturn || kind == stepHang {
		sc.final = true
	}
	return sc
}

// lateLocked says why adding a step or check (what) to sc now is a
// misuse, "" if it is not: Close ran, or a call of the script arrived,
// whose steps and checks were fixed then.
func (sc *Script) lateLocked(what string) string {
	if sc.s.closing {
		return fmt.Sprintf("the fake server is closed (Close ran): the %s would never run; script every step before Close", what)
	}
	if n := len(sc.calls); n > 0 {
		return fmt.Sprintf("added after %d call(s) of the script arrived: a call's steps are fixed when it arrives, "+
			"so the %s would not run in them; script every step before the client makes the call", n, what)
	}
	return ""
}

// oneRequest says why one more step that receives a request is a misuse
// (a method without client streaming has exactly one request), "" if it
// is not.
func (sc *Script) oneRequest() string {
	if !sc.md.IsStreamingClient() && sc.countLocked(recvKinds...) >= 1 {
		return "the method is not client-streaming: it has exactly one request"
	}
	return ""
}

// oneResponse says why one more step that sends a response is a misuse
// (a method without server streaming has exactly one response), "" if it
// is not.
func (sc *Script) oneResponse() string {
	if !sc.md.IsStreamingServer() && sc.countLocked(sendKinds...) >= 1 {
		return "the method is not server-streaming: it has exactly one response"
	}
	return ""
}

// checkFunc checks that f is a function of one argument that takes the
// method's request and returns out (RecvFunc's error), or, if out is nil,
// the method's response and maybe an error (SendFunc's). It returns f, or a
// description of what is wrong that names the signature wanted.
func (sc *Script) checkFunc(step string, f any, out reflect.Type) (reflect.Value, string) {
	in := goType(sc.md.Input())
	res := goType(sc.md.Output())
	want := fmt.Sprintf("func(%s) error", in)
	if out == nil {
		want = fmt.Sprintf("func(%s) %s or a func(%s) (%s, error) (or []%s for several responses)", in, res, in, res, res)
	}
	v := reflect.ValueOf(f)
	switch {
	case f == nil:
		return reflect.Value{}, fmt.Sprintf("%s(nil): want a %s", step, want)
	case v.Kind() != reflect.Func:
		return reflect.Value{}, fmt.Sprintf("%s got a %T, which is not a function: want a %s", step, f, want)
	case v.IsNil():
		return reflect.Value{}, fmt.Sprintf("%s got a nil %T: want a %s", step, f, want)
	}
	ft := v.Type()
	// The request, after the call's context if the function takes it.
	n := ft.NumIn()
	ok := (n == 1 || n == 2 && ft.In(0) == reflect.TypeFor[context.Context]()) &&
		!ft.IsVariadic() && in.AssignableTo(ft.In(n-1)) && ft.NumOut() > 0
	switch {
	case !ok:
	case out != nil:
		ok = ft.NumOut() == 1 && ft.Out(0) == out
	default:
		// The response type itself, or an interface it implements (the
		// message is checked when the call runs), or a slice of either,
		// and maybe an error.
		r := ft.Out(0)
		if r.Kind() == reflect.Slice {
			r = r.Elem()
		}
		ok = (ft.NumOut() == 1 || ft.NumOut() == 2 && ft.Out(1) == reflect.TypeFor[error]()) &&
			(r == res || r.Kind() == reflect.Interface && res.Implements(r))
	}
	if !ok {
		return reflect.Value{}, fmt.Sprintf("%s got a %s: want a %s (with a context.Context before the request if it needs the call's), for %s",
			step, ft, want, sc.method)
	}
	return v, ""
}

// goType is the Go type of the messages of d that requests are decoded
// into (see messageType): the generated type registered for it, else
// *dynamicpb.Message.
func goType(d protoreflect.MessageDescriptor) reflect.Type {
	return reflect.TypeOf(messageType(d).Zero().Interface())
}

// countLocked counts the script's steps of the given kinds.
func (sc *Script) countLocked(kinds ...stepKind) int {
	n := 0
	for _, st := range sc.steps {
		for _, k := range kinds {
			if st.kind == k {
				n++
			}
		}
	}
	return n
}

// checkMsg checks that m is a non-nil proto message of type want and
// returns a copy of it, or a description of what is wrong.
func (sc *Script) checkMsg(step string, m any, want protoreflect.MessageDescriptor) (proto.Message, string) {
	what := "request"
	if strings.HasPrefix(step, "Send") {
		what = "response"
	}
	pm, ok := m.(proto.Message)
	switch {
	case m == nil:
		return nil, fmt.Sprintf("%s(nil): want a %s, the %s type of %s", step, want.FullName(), what, sc.method)
	case !ok:
		return nil, fmt.Sprintf("%s got a %T, which is not a proto message; the %s type of %s is %s", step, m, what, sc.method, want.FullName())
	case untyped(m): // a nil one too, whose methods panic
		return nil, fmt.Sprintf("%s got a %T with no message type (nil, or not made by dynamicpb.NewMessage); want a %s", step, m, want.FullName())
	case !pm.ProtoReflect().IsValid():
		return nil, fmt.Sprintf("%s got a nil %T; want a %s", step, m, want.FullName())
	}
	if got := pm.ProtoReflect().Descriptor().FullName(); got != want.FullName() {
		return nil, fmt.Sprintf("%s got a %s (%T), but the %s type of %s is %s", step, got, m, what, sc.method, want.FullName())
	}
	return proto.Clone(pm), ""
}

// name names the script in messages: Expect("/m") at file:line.
func (sc *Script) name() string {
	if sc.atLine != nil {
		if n := sc.atLine.Load(); n > 1 {
			// Made in a loop, or by a helper: which one.
			return fmt.Sprintf("Expect(%q) at %s (script %d of the %d made there)", sc.given, sc.where, sc.nth, n)
		}
	}
	return fmt.Sprintf("Expect(%q) at %s", sc.given, sc.where)
}

// callerLine returns file:line of the caller skip frames up.
func callerLine(skip int) string {
	_, file, line, ok := runtime.Caller(skip)
	if !ok {
		return "?"
	}
	return fmt.Sprintf("%s:%d", filepath.Base(file), line)
}

// notReached describes the steps after the i-th (0-based), which the call
// did not reach: a list after "; steps not reached:", or that there were
// none.
func notReached(steps []scriptStep, i int) string {
	if i+1 >= len(steps) {
		return "; no step after it"
	}
	return "; steps not reached:" + describeSteps(steps, i+1)
}

// missingSteps describes the steps of a call of sc that was not made, for
// Close's report: the script's steps, and the step method calls rejected as
// misuse (reported at their line), whose steps are not in the script.
func (sc *Script) missingSteps() string {
	switch {
	case len(sc.steps) == 0 && sc.rejected > 0:
		return fmt.Sprintf("; the script has no steps: its %d step(s) were rejected as misuse, reported at their lines", sc.rejected)
	case len(sc.steps) == 0:
		return "; the script has no steps"
	case sc.rejected > 0:
		return fmt.Sprintf("; steps not reached in the missing call(s), without the %d step(s) rejected as misuse (reported at their lines):%s",
			sc.rejected, describeSteps(sc.steps, 0))
	}
	return "; steps not reached in the missing call(s):" + describeSteps(sc.steps, 0)
}

// describeSteps lists steps[from:] one per line, numbered from 1.
func describeSteps(steps []scriptStep, from int) string {
	var b strings.Builder
	for i := from; i < len(steps); i++ {
		fmt.Fprintf(&b, "\n  step %d %s (%s)", i+1, steps[i], steps[i].where)
	}
	return b.String()
}
