package fakes_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// tagged returns a unary request that carries id in its payload, as a
// client that makes up request IDs sends them.
func tagged(id string, size int32) *testpb.SimpleRequest {
	return &testpb.SimpleRequest{ResponseSize: size, Payload: &testpb.Payload{Body: []byte(id)}}
}

// echoID is a SendFunc reply: the response carries the request's ID.
func echoID(req *testpb.SimpleRequest) *testpb.SimpleResponse {
	return &testpb.SimpleResponse{Payload: &testpb.Payload{Body: req.GetPayload().GetBody()}}
}

// lookup is client code under test: it makes up a request ID, as real
// clients do, and checks that the response carries it back.
func lookup(ctx context.Context, client testpb.TestServiceClient, size int32) error {
	id := fmt.Sprintf("req-%d", rand.Uint64())
	res, err := client.UnaryCall(ctx, tagged(id, size))
	if err != nil {
		return err
	}
	if got := string(res.GetPayload().GetBody()); got != id {
		return fmt.Errorf("response for request %q, want %q", got, id)
	}
	return nil
}

// A request ID the test cannot know: RecvWith ignores it, SendFunc echoes it.
func TestServerRecvWithAndSendFuncEchoAnID(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).
		RecvWith(&testpb.SimpleRequest{ResponseSize: 3}, protocmp.IgnoreFields(&testpb.SimpleRequest{}, "payload")).
		SendFunc(echoID).
		Times(2)
	client := testpb.NewTestServiceClient(srv.Conn())
	for range 2 {
		if err := lookup(t.Context(), client, 3); err != nil {
			t.Fatal(err)
		}
	}
	srv.Close()
	spy.WantClean(t)
}

// RecvWith still compares what its options leave: a field they do not
// ignore fails the step, with a diff.
func TestServerRecvWithMismatch(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).
		RecvWith(&testpb.SimpleRequest{ResponseSize: 3}, protocmp.IgnoreFields(&testpb.SimpleRequest{}, "payload")).
		SendFunc(echoID)
	err := lookup(t.Context(), testpb.NewTestServiceClient(srv.Conn()), 4)
	wantCode(t, err, codes.FailedPrecondition)
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "step 1 RecvWith") || !strings.Contains(msg, "response_size") {
		t.Errorf("status message = %q; want it to name step 1 RecvWith and the field", msg)
	}
	srv.Close()
	spy.Want(t, 1, "not used as scripted", "step 1 RecvWith", "request mismatch (-want +got)", "ignored",
		`"response_size": int32(3)`, `"response_size": int32(4)`, "timeline:")
}

// Options cmp refuses (two comparers for the same type) fail the step
// with cmp's reason, not a panic in the fake's handler.
func TestServerRecvWithOptionsCmpRefuses(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	same := cmp.Comparer(func(a, b int32) bool { return true })
	srv.Expect(unaryCall).RecvWith(&testpb.SimpleRequest{ResponseSize: 3}, same, same).SendFunc(echoID)
	wantCode(t, lookup(t.Context(), testpb.NewTestServiceClient(srv.Conn()), 3), codes.FailedPrecondition)
	srv.Close()
	spy.Want(t, 1, "step 1 RecvWith", "cannot compare the request with the step's", "ambiguous set of applicable options", "got request {")
}

// Close's report of a call not made describes the new steps.
func TestServerFuncStepsDescribed(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).
		RecvWith(&testpb.SimpleRequest{ResponseSize: 3}, protocmp.IgnoreFields(&testpb.SimpleRequest{}, "payload")).
		SendFunc(echoID)
	srv.Expect(streamingIn).RecvFunc(func(*testpb.StreamingInputCallRequest) error { return nil })
	srv.Close()
	spy.Want(t, 1, "expected 1 call(s), got 0",
		"step 1 RecvWith({response_size:3}, 1 cmp option(s))",
		"step 2 SendFunc(func(*grpc_testing.SimpleRequest) *grpc_testing.SimpleResponse)",
		"step 1 RecvFunc(func(*grpc_testing.StreamingInputCallRequest) error)")
}

// The same request and options through Recv (no options) fail, so the
// ignored field is what made TestServerRecvWithAndSendFuncEchoAnID pass.
func TestServerRecvWithoutTheOptionsFails(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).Recv(&testpb.SimpleRequest{ResponseSize: 3}).SendFunc(echoID)
	wantCode(t, lookup(t.Context(), testpb.NewTestServiceClient(srv.Conn()), 3), codes.FailedPrecondition)
	srv.Close()
	spy.Want(t, 1, "step 1 Recv", "request mismatch", "payload")
}

// RecvFunc passes the request to the check, which may keep it; an error
// it returns fails the step, with the error and the request.
func TestServerRecvFunc(t *testing.T) {
	t.Run("accepts", func(t *testing.T) {
		spy := spytb.New(t)
		srv := fakes.NewServer(spy)
		var seen []string
		srv.Expect(fullDuplex).
			RecvFunc(func(r *dupReq) error { seen = append(seen, fmt.Sprint(len(r.GetResponseParameters()))); return nil }).
			Send(res(1)).
			RecvFunc(func(m proto.Message) error {
				seen = append(seen, string(m.ProtoReflect().Descriptor().Name()))
				return nil
			}).
			RecvEOF()
		if _, err := exchange(t.Context(), testpb.NewTestServiceClient(srv.Conn()), req(1, 2), req(3)); err != nil {
			t.Fatal(err)
		}
		srv.Close()
		spy.WantClean(t)
		wantMsgs(t, []string{"2", "StreamingOutputCallRequest"}, seen)
	})
	t.Run("rejects", func(t *testing.T) {
		spy := spytb.New(t)
		srv := fakes.NewServer(spy)
		srv.Expect(fullDuplex).RecvFunc(func(r *dupReq) error {
			if len(r.GetResponseParameters()) > 1 {
				return errors.New("one response at a time, please")
			}
			return nil
		}).Send(res(1))
		_, err := exchange(t.Context(), testpb.NewTestServiceClient(srv.Conn()), req(1, 2))
		wantCode(t, err, codes.FailedPrecondition)
		if msg := status.Convert(err).Message(); !strings.Contains(msg, "one response at a time, please") {
			t.Errorf("status message = %q; want the check's error", msg)
		}
		srv.Close()
		spy.Want(t, 1, "step 1 RecvFunc at script_func_test.go:",
			"the check rejected the request: one response at a time, please", "got request {", "size:2", "script_func_test.go")
	})
	t.Run("panics", func(t *testing.T) {
		spy := spytb.New(t)
		srv := fakes.NewServer(spy)
		srv.Expect(fullDuplex).RecvFunc(func(r *dupReq) error {
			_ = r.GetResponseParameters()[5] // the check's own bug
			return nil
		})
		_, err := exchange(t.Context(), testpb.NewTestServiceClient(srv.Conn()), req(1))
		wantCode(t, err, codes.FailedPrecondition)
		if msg := status.Convert(err).Message(); strings.Contains(msg, "TestServerRecvFunc.func") {
			t.Errorf("status message = %q; want the stack in Close's report only", msg)
		}
		srv.Close()
		r := spy.Want(t, 1, "step 1 RecvFunc", "the check panicked: runtime error: index out of range [5] with length 1",
			"fakes_test.TestServerRecvFunc.func3.1(", "script_func_test.go:")
		if strings.Contains(r.Msg, "reflect.Value") || strings.Contains(r.Msg, "runtime/panic.go") || strings.Contains(r.Msg, "fakes.(*Server).run") {
			t.Errorf("the panic's stack keeps frames around the check's own:\n%s", r.Msg)
		}
	})
}

// A check that calls t.FailNow (runtime.Goexit) on the call's goroutine
// would leave the fake's handler gone and its client waiting forever; the
// step fails instead, saying why.
func TestServerRecvFuncGoexit(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).RecvFunc(func(*testpb.SimpleRequest) error { runtime.Goexit(); return nil }).SendFunc(echoID)
	err := lookup(t.Context(), testpb.NewTestServiceClient(srv.Conn()), 1)
	wantCode(t, err, codes.FailedPrecondition)
	srv.Close()
	spy.Want(t, 1, "step 1 RecvFunc", "the check called runtime.Goexit", "it reports through the error it returns")
}

// What a SendFunc's function returns is checked when the call runs, as a
// Send step's message is when the script is built.
func TestServerSendFuncBadReply(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply any
		want  []string
	}{
		{"nil", func(*testpb.SimpleRequest) proto.Message { return nil },
			[]string{"step 2 SendFunc", "the function returned nil: want a grpc.testing.SimpleResponse", "the request was {"}},
		{"typed nil", func(*testpb.SimpleRequest) *testpb.SimpleResponse { return nil },
			[]string{"the function returned a nil *grpc_testing.SimpleResponse"}},
		{"another type", func(*testpb.SimpleRequest) proto.Message { return &testpb.SimpleRequest{} },
			[]string{"the function returned a grpc.testing.SimpleRequest (*grpc_testing.SimpleRequest), but the response type of " + unaryCall + " is grpc.testing.SimpleResponse"}},
		{"not a proto", func(*testpb.SimpleRequest) any { return "hello" },
			[]string{"the function returned a string, which is not a proto message"}},
		{"panic", func(*testpb.SimpleRequest) *testpb.SimpleResponse { panic("no reply for you") },
			[]string{"the function panicked: no reply for you", "script_func_test.go:"}},
		{"Goexit", func(*testpb.SimpleRequest) *testpb.SimpleResponse { runtime.Goexit(); return nil },
			[]string{"the function called runtime.Goexit (t.FailNow, t.Fatal or a testify require function?)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			srv := fakes.NewServer(spy)
			srv.Expect(unaryCall).RecvAny().SendFunc(tc.reply)
			_, err := testpb.NewTestServiceClient(srv.Conn()).UnaryCall(t.Context(), tagged("a", 1))
			wantCode(t, err, codes.FailedPrecondition)
			srv.Close()
			spy.Want(t, 1, append([]string{"not used as scripted"}, tc.want...)...)
		})
	}
}

// SendFunc on a stream answers each request in turn, with the last one
// received.
func TestServerSendFuncOnAStream(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	echoSizes := func(r *dupReq) *dupRes {
		return res(r.GetResponseParameters()[0].GetSize())
	}
	srv.Expect(fullDuplex).
		RecvAny().SendFunc(echoSizes).
		RecvAny().SendFunc(echoSizes).SendFunc(echoSizes).
		RecvEOF()
	got, err := exchange(t.Context(), testpb.NewTestServiceClient(srv.Conn()), req(4), req(7))
	if err != nil {
		t.Fatal(err)
	}
	wantMsgs(t, []*dupRes{res(4), res(7), res(7)}, got)
	srv.Close()
	spy.WantClean(t)
}

// Misuse of the new steps is reported at the line of the step, naming the
// signature wanted.
func TestServerFuncStepMisuse(t *testing.T) {
	var nilFunc func(*testpb.SimpleRequest) error
	for _, tc := range []struct {
		name  string
		build func(sc *fakes.Script)
		want  []string
	}{
		{"RecvFunc(nil)", func(sc *fakes.Script) { sc.RecvFunc(nil) },
			[]string{"step 1 RecvFunc", "RecvFunc(nil): want a func(*grpc_testing.SimpleRequest) error"}},
		{"RecvFunc of a typed nil func", func(sc *fakes.Script) { sc.RecvFunc(nilFunc) },
			[]string{"RecvFunc got a nil func(*grpc_testing.SimpleRequest) error"}},
		{"RecvFunc of a non-function", func(sc *fakes.Script) { sc.RecvFunc(42) },
			[]string{"RecvFunc got a int, which is not a function: want a func(*grpc_testing.SimpleRequest) error"}},
		{"RecvFunc of the wrong request type", func(sc *fakes.Script) { sc.RecvFunc(func(*dupReq) error { return nil }) },
			[]string{"RecvFunc got a func(*grpc_testing.StreamingOutputCallRequest) error: want a func(*grpc_testing.SimpleRequest) error", "for " + unaryCall}},
		{"RecvFunc returning bool", func(sc *fakes.Script) { sc.RecvFunc(func(*testpb.SimpleRequest) bool { return true }) },
			[]string{"RecvFunc got a func(*grpc_testing.SimpleRequest) bool"}},
		{"RecvFunc with two results", func(sc *fakes.Script) {
			sc.RecvFunc(func(*testpb.SimpleRequest) (bool, error) { return true, nil })
		}, []string{"RecvFunc got a func(*grpc_testing.SimpleRequest) (bool, error)"}},
		{"a second RecvFunc on a unary method", func(sc *fakes.Script) { sc.RecvAny().RecvFunc(func(any) error { return nil }) },
			[]string{"step 2 RecvFunc", "not client-streaming"}},
		{"SendFunc before any request", func(sc *fakes.Script) { sc.SendFunc(echoID) },
			[]string{"step 1 SendFunc", "no request to reply to", "add a Recv, RecvAny, RecvWith or RecvFunc step first"}},
		{"RecvEOF before the one request", func(sc *fakes.Script) { sc.RecvEOF() },
			[]string{"step 1 RecvEOF", "before the request", "not client-streaming"}},
		{"SendFunc of the wrong response type", func(sc *fakes.Script) {
			sc.RecvAny().SendFunc(func(*testpb.SimpleRequest) *dupRes { return nil })
		}, []string{"SendFunc got a func(*grpc_testing.SimpleRequest) *grpc_testing.StreamingOutputCallResponse: want a func(*grpc_testing.SimpleRequest) *grpc_testing.SimpleResponse"}},
		{"SendFunc of a variadic func", func(sc *fakes.Script) {
			sc.RecvAny().SendFunc(func(...*testpb.SimpleRequest) *testpb.SimpleResponse { return nil })
		}, []string{"SendFunc got a func(...*grpc_testing.SimpleRequest) *grpc_testing.SimpleResponse"}},
		{"SendFunc(nil)", func(sc *fakes.Script) { sc.RecvAny().SendFunc(nil) },
			[]string{"step 2 SendFunc", "SendFunc(nil): want a func(*grpc_testing.SimpleRequest) *grpc_testing.SimpleResponse"}},
		{"a Send and a SendFunc on a unary method", func(sc *fakes.Script) {
			sc.RecvAny().Send(&testpb.SimpleResponse{}).SendFunc(echoID)
		}, []string{"step 3 SendFunc", "not server-streaming"}},
		{"RecvWith of the wrong type", func(sc *fakes.Script) { sc.RecvWith(req(1)) },
			[]string{"step 1 RecvWith", "grpc.testing.StreamingOutputCallRequest", "grpc.testing.SimpleRequest"}},
		{"RecvWith(nil)", func(sc *fakes.Script) { sc.RecvWith(nil) },
			[]string{"RecvWith(nil): want a grpc.testing.SimpleRequest"}},
		{"RecvWith with cmpopts.IgnoreFields", func(sc *fakes.Script) {
			sc.RecvWith(&testpb.SimpleRequest{}, cmpopts.IgnoreFields(testpb.SimpleRequest{}, "Payload"))
		}, []string{"step 1 RecvWith", "cmpopts.IgnoreFields", "never apply", "protocmp.IgnoreFields"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			srv := fakes.NewServer(spy)
			sc := srv.Expect(unaryCall)
			tc.build(sc)
			sc.Times(0)
			r := spy.Want(t, 1, tc.want...)
			if !strings.Contains(r.Msg, "script_func_test.go") {
				t.Errorf("the misuse is not reported at the test's line:\n%s", r.Msg)
			}
		})
	}
}

// On a client-streaming method a script may expect the end of the
// requests first; a SendFunc after it still has no request to reply to,
// and a step that receives one after it is a misuse.
func TestServerStepsAfterRecvEOF(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(streamingIn).RecvEOF().
		SendFunc(func(*testpb.StreamingInputCallRequest) *testpb.StreamingInputCallResponse { return nil }).
		Times(0)
	spy.Want(t, 1, "step 2 SendFunc", "no request to reply to")
	srv.Expect(streamingIn).RecvEOF().RecvAny().Times(0)
	spy.Want(t, 2, "step 2 RecvAny", "a step that receives a request after RecvEOF")
	srv.Expect(streamingIn).RecvEOF().Send(&testpb.StreamingInputCallResponse{}).Times(0)
	spy.Want(t, 2) // nothing more: a response after the end of the requests is fine
}

// Return(nil) may follow a SendFunc on a unary method: it is the one
// response.
func TestServerSendFuncIsTheOneResponse(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).RecvAny().SendFunc(echoID).Return(nil)
	if err := lookup(t.Context(), testpb.NewTestServiceClient(srv.Conn()), 1); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	spy.WantClean(t)
}

// Calls a client makes at once may reach the server in any order, so one
// script per call would fail at random. One script for all of them, with
// Times(n), a check and a reply made from each request, does not.
func TestServerConcurrentCallsOneScript(t *testing.T) {
	const n = 8
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	var mu sync.Mutex
	seen := map[string]bool{}
	srv.Expect(unaryCall).
		RecvFunc(func(r *testpb.SimpleRequest) error {
			mu.Lock()
			defer mu.Unlock()
			id := string(r.GetPayload().GetBody())
			if seen[id] {
				return fmt.Errorf("request %s sent twice", id)
			}
			seen[id] = true
			return nil
		}).
		SendFunc(echoID).
		Times(n)
	client := testpb.NewTestServiceClient(srv.Conn())
	errs := make(chan error, n)
	for range n {
		go func() { errs <- lookup(t.Context(), client, 1) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	srv.Close()
	spy.WantClean(t)
	if len(seen) != n {
		t.Errorf("the check saw %d distinct requests, want %d", len(seen), n)
	}
}

// A check still running when its call ends (the client's deadline passed)
// does not hold the call: the step ends with the call, named in Close's
// report, whatever the check returns later.
func TestServerFuncOutlastsItsCall(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	release := make(chan struct{})
	srv.Expect(unaryCall).RecvFunc(func(*testpb.SimpleRequest) error { <-release; return nil }).SendFunc(echoID)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond) // the behaviour under test: a deadline
	defer cancel()
	wantCode(t, lookup(ctx, testpb.NewTestServiceClient(srv.Conn()), 1), codes.DeadlineExceeded)
	// The handler returns without waiting for the check.
	serverEnd := func(evs []recorder.Event) bool {
		return slices.ContainsFunc(evs, func(e recorder.Event) bool { return e.Side == recorder.Server && e.Kind == recorder.End })
	}
	wctx, wcancel := context.WithTimeout(t.Context(), waitLimit)
	defer wcancel()
	if err := srv.Recorder().Wait(wctx, serverEnd); err != nil {
		t.Fatalf("the handler did not end with its call: %v\n%s", err, srv.Recorder())
	}
	close(release) // the check returns nil now: too late
	srv.Close()
	spy.Want(t, 1, "did not complete its script", "ended during step 1 RecvFunc", "DeadlineExceeded",
		"the call ended while the step's function ran", "steps not reached", "step 2 SendFunc")
}

// A function still running at Close is the harness's leak report, with
// its stack, and no hint to exempt the goroutine fakes runs it on.
func TestServerFuncStillRunningAtClose(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy, grpctest.WithCloseTimeout(100*time.Millisecond))
	release, entered := make(chan struct{}), make(chan struct{})
	defer close(release)
	srv.Expect(fullDuplex).RecvFunc(func(*dupReq) error { close(entered); <-release; return nil })
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(req(1)); err != nil {
		t.Fatal(err)
	}
	<-entered
	cancel() // the call ends; the check stays blocked
	srv.Close()
	spy.WantText(t, "goroutine(s) started during this harness's life still running", "started by handler "+fullDuplex,
		"a function of a fakes script step (RecvFunc, RecvEach, SendFunc or Do) still running after its call ended",
		"TestServerFuncStillRunningAtClose.func1(", "script_func_test.go:",
		"not used as scripted", "ended during step 1 RecvFunc", "Canceled", "the call ended while the step's function ran")
	if text := spy.Text(); strings.Contains(text, "WithIgnoredGoroutines") || strings.Contains(text, "make each goroutine a handler starts") {
		t.Errorf("the leak report offers to exempt the goroutine, or blames the handler:\n%s", text)
	}
}

// Close called from inside a step's function would wait for itself: it is
// reported and does nothing, and the call goes on.
func TestServerCloseInsideFunc(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).RecvFunc(func(*testpb.SimpleRequest) error { srv.Close(); return nil }).SendFunc(echoID)
	if err := lookup(t.Context(), testpb.NewTestServiceClient(srv.Conn()), 1); err != nil {
		t.Fatal(err)
	}
	spy.Want(t, 1, "Server.Close called from inside the function of a script step (RecvFunc, RecvEach, SendFunc or Do)", "would wait for the call that runs the function")
	srv.Close()
	spy.Want(t, 1) // nothing more
}

// The stack of a panic shows the test's frames from the first panic on,
// down to the check: a check that re-panics in a defer, and one that calls
// its helper through reflect.
func TestServerFuncPanicStack(t *testing.T) {
	validate := func(r *testpb.SimpleRequest) error { panic("in the helper") }
	for _, tc := range []struct {
		name  string
		check any
		want  []string
	}{
		{"re-panic", func(*testpb.SimpleRequest) error {
			defer func() { panic(fmt.Sprint("again: ", recover())) }()
			panic("first")
		}, []string{"the check panicked: again: first", "TestServerFuncPanicStack.func2.1(", "TestServerFuncPanicStack.func2("}},
		{"reflect inside", func(r *testpb.SimpleRequest) error {
			return reflect.ValueOf(validate).Call([]reflect.Value{reflect.ValueOf(r)})[0].Interface().(error)
		}, []string{"the check panicked: in the helper", "TestServerFuncPanicStack.func1(", "TestServerFuncPanicStack.func3("}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			srv := fakes.NewServer(spy)
			srv.Expect(unaryCall).RecvFunc(tc.check).SendFunc(echoID)
			wantCode(t, lookup(t.Context(), testpb.NewTestServiceClient(srv.Conn()), 1), codes.FailedPrecondition)
			srv.Close()
			r := spy.Want(t, 1, append([]string{", in:"}, tc.want...)...)
			if strings.Contains(r.Msg, "fakes.(*Server)") || strings.Contains(r.Msg, "debug.Stack") {
				t.Errorf("the stack keeps frames of the library or of the recovery:\n%s", r.Msg)
			}
		})
	}
}

// fetch is client code under test: it looks up ids at once, one unary
// call each, and stops at the first error, canceling the calls still
// running, so how many calls reach the server depends on timing.
func fetch(ctx context.Context, client testpb.TestServiceClient, ids ...string) (map[string]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		id, got string
		err     error
	}
	results := make(chan result, len(ids))
	for _, id := range ids {
		go func() {
			res, err := client.UnaryCall(ctx, tagged(id, 1))
			results <- result{id, string(res.GetPayload().GetBody()), err}
		}()
	}
	got := map[string]string{}
	var first error
	for range ids {
		r := <-results
		if r.err != nil && first == nil {
			first = fmt.Errorf("%s: %w", r.id, r.err)
			cancel()
		}
		got[r.id] = r.got
	}
	return got, first
}

// One script for every call of a fan-out: SendFunc answers each request,
// with an error for one of them, and MaxTimes allows the calls the client
// canceled before they reached the server.
func TestServerSendFuncErrorAndMaxTimes(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).
		RecvAny().
		SendFunc(func(r *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
			if string(r.GetPayload().GetBody()) == "b3" {
				return nil, status.Error(codes.NotFound, "no b3")
			}
			return echoID(r), nil
		}).
		MaxTimes(6).
		AllowCancel() // fetch cancels the calls still running after the first error
	_, err := fetch(t.Context(), testpb.NewTestServiceClient(srv.Conn()), "b1", "b2", "b3", "b4", "b5", "b6")
	if status.Code(err) != codes.NotFound || !strings.HasPrefix(err.Error(), "b3: ") {
		t.Errorf("fetch = %v, want b3's NotFound", err)
	}
	srv.Close()
	spy.WantClean(t) // however many of the six calls reached the server
}

// The error of a SendFunc ends a stream as Return would: the steps after
// it do not run, and the call counts as complete.
func TestServerSendFuncErrorEndsAStream(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(fullDuplex).
		RecvAny().
		SendFunc(func(*dupReq) (*dupRes, error) { return res(1), nil }).
		RecvAny().
		SendFunc(func(r *dupReq) (*dupRes, error) { return nil, errors.New("plain error") }).
		RecvEOF().
		Send(res(9))
	got, err := exchange(t.Context(), testpb.NewTestServiceClient(srv.Conn()), req(1), req(2))
	wantCode(t, err, codes.Unknown) // a handler's error that is not a status
	if !strings.Contains(err.Error(), "plain error") {
		t.Errorf("exchange = %v, want the function's error", err)
	}
	wantMsgs(t, []*dupRes{res(1)}, got)
	srv.Close()
	spy.WantClean(t)
}

// The ranges of calls: what Close reports, and how calls are named.
func TestServerCallCounts(t *testing.T) {
	unary := func(t *testing.T, srv *fakes.Server, n int) {
		t.Helper()
		for range n {
			if _, err := testpb.NewTestServiceClient(srv.Conn()).UnaryCall(t.Context(), &testpb.SimpleRequest{}); err != nil &&
				status.Code(err) != codes.FailedPrecondition {
				t.Fatal(err)
			}
		}
	}
	script := func(srv *fakes.Server) *fakes.Script {
		return srv.Expect(unaryCall).RecvAny().Send(&testpb.SimpleResponse{})
	}
	for _, tc := range []struct {
		name  string
		set   func(sc *fakes.Script)
		calls int
		want  []string // in the one report; none if nil
	}{
		{"MinTimes met", func(sc *fakes.Script) { sc.MinTimes(2) }, 3, nil},
		{"MinTimes short", func(sc *fakes.Script) { sc.MinTimes(2) }, 1, []string{"expected at least 2 call(s), got 1"}},
		{"MaxTimes met", func(sc *fakes.Script) { sc.MaxTimes(2) }, 2, nil},
		{"MaxTimes none", func(sc *fakes.Script) { sc.MaxTimes(2) }, 0, nil},
		{"MaxTimes over", func(sc *fakes.Script) { sc.MaxTimes(2) }, 3, []string{"unexpected call", "expected at most 2 call(s), 2 made"}},
		{"range short", func(sc *fakes.Script) { sc.MinTimes(1).MaxTimes(3) }, 0, []string{"expected 1 to 3 calls, got 0"}},
		{"range met, either order", func(sc *fakes.Script) { sc.MaxTimes(3).MinTimes(1) }, 2, nil},
		{"AnyTimes none", func(sc *fakes.Script) { sc.AnyTimes() }, 0, nil},
		{"AnyTimes many", func(sc *fakes.Script) { sc.AnyTimes() }, 5, nil},
		{"Times after AnyTimes", func(sc *fakes.Script) { sc.AnyTimes().Times(1) }, 2, []string{"unexpected call", "expected 1 call(s), all made"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			srv := fakes.NewServer(spy)
			tc.set(script(srv))
			unary(t, srv, tc.calls)
			srv.Close()
			if tc.want == nil {
				spy.WantClean(t)
				return
			}
			spy.Want(t, 1, tc.want...)
		})
	}
}

// A call of a script that expects a range is named without a total.
func TestServerCallNamedInARange(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).Recv(&testpb.SimpleRequest{ResponseSize: 1}).Send(&testpb.SimpleResponse{}).MaxTimes(3)
	_, err := testpb.NewTestServiceClient(srv.Conn()).UnaryCall(t.Context(), &testpb.SimpleRequest{ResponseSize: 2})
	wantCode(t, err, codes.FailedPrecondition)
	srv.Close()
	r := spy.Want(t, 1, "(call 1): step 1 Recv")
	if strings.Contains(r.Msg, "call 1 of") {
		t.Errorf("a call of a range is named with a total:\n%s", r.Msg)
	}
}

// Call counts that cannot hold, or are negative, are misuses.
func TestServerCallCountMisuse(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(sc *fakes.Script)
		want []string
	}{
		{"MinTimes above MaxTimes", func(sc *fakes.Script) { sc.MaxTimes(2).MinTimes(3) }, []string{"MinTimes(3)", "at least 3 and at most 2 call(s) cannot both hold"}},
		{"MaxTimes below MinTimes", func(sc *fakes.Script) { sc.MinTimes(3).MaxTimes(2) }, []string{"MaxTimes(2)", "cannot both hold"}},
		{"negative MinTimes", func(sc *fakes.Script) { sc.MinTimes(-1) }, []string{"MinTimes(-1): n must be >= 0"}},
		{"negative MaxTimes", func(sc *fakes.Script) { sc.MaxTimes(-2) }, []string{"MaxTimes(-2): n must be >= 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			srv := fakes.NewServer(spy)
			sc := srv.Expect(unaryCall).RecvAny().Send(&testpb.SimpleResponse{})
			tc.set(sc)
			spy.Want(t, 1, tc.want...)
			sc.Times(0) // the script expects no call: the test makes none
		})
	}
}

// cancelAfterFirst is client code that gives up on a FullDuplexCall after
// its first response, and waits for nothing more.
func cancelAfterFirst(t *testing.T, srv *fakes.Server, first *dupReq) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stream, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(first); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
}

// A call its client cancels before the script completes is reported,
// naming the step, without blaming Close when the fake can tell (it waits
// for a canceled unary call's server half to end); with AllowCancel it is
// not reported at all, but a mismatch still is.
func TestServerAllowCancel(t *testing.T) {
	t.Run("reported", func(t *testing.T) {
		spy := spytb.New(t)
		srv := fakes.NewServer(spy, grpctest.WithCloseTimeout(100*time.Millisecond))
		entered, release := make(chan struct{}), make(chan struct{})
		defer close(release)
		srv.Expect(unaryCall).RecvFunc(func(*testpb.SimpleRequest) error { close(entered); <-release; return nil }).SendFunc(echoID)
		ctx, cancel := context.WithCancel(t.Context())
		call := grpctest.GoErr(t, func() error { return lookup(ctx, testpb.NewTestServiceClient(srv.Conn()), 1) })
		<-entered
		cancel()
		if _, err := call.Wait(waitLimit); status.Code(err) != codes.Canceled {
			t.Fatalf("the call: %v, want Canceled", err)
		}
		srv.Close()                                                        // right after the client's cancel
		spy.WantText(t, "still running", "TestServerAllowCancel.func1.1(") // the check, still blocked
		r := spy.Want(t, 2, "did not complete its script", "ended during step 1 RecvFunc", "Canceled")
		if strings.Contains(r.Msg, "Close had begun") {
			t.Errorf("the report blames Close for the client's cancel:\n%s", r.Msg)
		}
	})
	t.Run("allowed", func(t *testing.T) {
		spy := spytb.New(t)
		srv := fakes.NewServer(spy)
		srv.Expect(fullDuplex).Recv(req(1)).Send(res(1)).Recv(req(2)).Send(res(2)).AllowCancel()
		cancelAfterFirst(t, srv, req(1))
		srv.Close()
		spy.WantClean(t)
	})
	t.Run("mismatch still reported", func(t *testing.T) {
		spy := spytb.New(t)
		srv := fakes.NewServer(spy)
		srv.Expect(fullDuplex).Recv(req(1)).Send(res(1)).AllowCancel()
		_, err := exchange(t.Context(), testpb.NewTestServiceClient(srv.Conn()), req(2))
		wantCode(t, err, codes.FailedPrecondition)
		srv.Close()
		spy.Want(t, 1, "step 1 Recv", "request mismatch")
	})
}

// uploadChunks is client code under test: it streams chunks on a
// StreamingInputCall and returns the server's summary.
func uploadChunks(ctx context.Context, client testpb.TestServiceClient, chunks ...string) (*testpb.StreamingInputCallResponse, error) {
	stream, err := client.StreamingInputCall(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range chunks {
		if err := stream.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: []byte(c)}}); err != nil {
			break // the status comes from CloseAndRecv
		}
	}
	return stream.CloseAndRecv()
}

// RecvEach takes any number of requests, none included, and a SendFunc
// after it answers from what the check kept.
func TestServerRecvEach(t *testing.T) {
	for _, chunks := range [][]string{{"ab", "cde", "f"}, nil} {
		t.Run(fmt.Sprint(len(chunks), " chunks"), func(t *testing.T) {
			spy := spytb.New(t)
			srv := fakes.NewServer(spy)
			total := 0
			srv.Expect(streamingIn).
				RecvEach(func(r *testpb.StreamingInputCallRequest) error { total += len(r.GetPayload().GetBody()); return nil }).
				SendFunc(func(last *testpb.StreamingInputCallRequest) *testpb.StreamingInputCallResponse {
					return &testpb.StreamingInputCallResponse{AggregatedPayloadSize: int32(total)}
				})
			sum, err := uploadChunks(t.Context(), testpb.NewTestServiceClient(srv.Conn()), chunks...)
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for _, c := range chunks {
				want += len(c)
			}
			if int(sum.GetAggregatedPayloadSize()) != want {
				t.Errorf("summary %v, want %d bytes", sum, want)
			}
			srv.Close()
			spy.WantClean(t)
		})
	}
}

// A request RecvEach's check rejects is a mismatch naming its number.
func TestServerRecvEachRejects(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(streamingIn).
		RecvEach(func(r *testpb.StreamingInputCallRequest) error {
			if len(r.GetPayload().GetBody()) == 0 {
				return errors.New("an empty chunk")
			}
			return nil
		}).
		Send(&testpb.StreamingInputCallResponse{})
	_, err := uploadChunks(t.Context(), testpb.NewTestServiceClient(srv.Conn()), "a", "b", "", "c")
	wantCode(t, err, codes.FailedPrecondition)
	srv.Close()
	spy.Want(t, 1, "step 1 RecvEach", "request 3: the check rejected the request: an empty chunk")
}

// The request metadata a script expects: present, absent, different.
func TestServerMetadata(t *testing.T) {
	for _, tc := range []struct {
		name string
		sent metadata.MD
		want []string // in the one report; none if nil
	}{
		{"held", metadata.Pairs("authorization", "Bearer t0k3n", "x-tenant", "blue"), nil},
		{"missing", metadata.Pairs("x-tenant", "blue"), []string{"Metadata at script_func_test.go:", `authorization: want ["Bearer t0k3n"], got none`, `the call's metadata: md{x-tenant:"blue"}`}},
		{"different", metadata.Pairs("authorization", "Bearer other"), []string{`authorization: want ["Bearer t0k3n"], got ["Bearer other"]`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			srv := fakes.NewServer(spy)
			srv.Expect(unaryCall).
				Metadata(metadata.MD{"Authorization": {"Bearer t0k3n"}}). // keys match in lower case
				RecvAny().
				Send(&testpb.SimpleResponse{})
			ctx := metadata.NewOutgoingContext(t.Context(), tc.sent)
			_, err := testpb.NewTestServiceClient(srv.Conn()).UnaryCall(ctx, &testpb.SimpleRequest{})
			srv.Close()
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				spy.WantClean(t)
				return
			}
			wantCode(t, err, codes.FailedPrecondition)
			spy.Want(t, 1, tc.want...)
		})
	}
}

// Misuse of RecvEach and Metadata is reported at its line.
func TestServerRecvEachAndMetadataMisuse(t *testing.T) {
	count := func(*testpb.StreamingInputCallRequest) error { return nil }
	for _, tc := range []struct {
		name   string
		method string
		build  func(sc *fakes.Script)
		want   []string
	}{
		{"RecvEach on a unary method", unaryCall, func(sc *fakes.Script) { sc.RecvEach(func(*testpb.SimpleRequest) error { return nil }) },
			[]string{"step 1 RecvEach", "not client-streaming", "use RecvFunc"}},
		{"a Recv after RecvEach", streamingIn, func(sc *fakes.Script) { sc.RecvEach(count).RecvAny() },
			[]string{"step 2 RecvAny", "after RecvEach, which receives every request"}},
		{"RecvEach(nil)", streamingIn, func(sc *fakes.Script) { sc.RecvEach(nil) },
			[]string{"RecvEach(nil): want a func(*grpc_testing.StreamingInputCallRequest) error"}},
		{"Metadata(nil)", unaryCall, func(sc *fakes.Script) { sc.Metadata(nil) },
			[]string{"Metadata: no key to expect"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			srv := fakes.NewServer(spy)
			sc := srv.Expect(tc.method)
			tc.build(sc)
			sc.Times(0)
			spy.Want(t, 1, tc.want...)
		})
	}
}

// Metadata added once a call of the script arrived would check none of
// the calls made: a misuse.
func TestServerMetadataAfterTheCallArrived(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	sc := srv.Expect(unaryCall).RecvAny().Send(&testpb.SimpleResponse{})
	if _, err := testpb.NewTestServiceClient(srv.Conn()).UnaryCall(t.Context(), &testpb.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	sc.Metadata(metadata.Pairs("k", "v"))
	spy.Want(t, 1, "Metadata: added after 1 call(s) of the script arrived")
}

// AllowCancel does not hide a call that Close ended while its client was
// still waiting: the client did not cancel it.
func TestServerAllowCancelStillReportsWhatCloseEnded(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(fullDuplex).
		Recv(req(1)).
		SendHeader(metadata.Pairs("k", "v")).
		Sleep(time.Hour). // the behaviour under test: a call still running at Close
		Send(res(1)).
		AllowCancel()
	stream, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(req(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil { // the script is past SendHeader
		t.Fatal(err)
	}
	recv := grpctest.Go(t, func() (*dupRes, error) { return stream.Recv() })
	srv.Close()
	if _, err := recv.Wait(waitLimit); status.Code(err) != codes.Canceled {
		t.Errorf("the call Close ended: %v, want Canceled", err)
	}
	r := spy.Want(t, 2, "did not complete its script", "ended during step 3 Sleep", "Close had begun when the call ended")
	if strings.Contains(r.Msg, "the client canceled, or its deadline passed, during the Sleep") {
		t.Errorf("the report blames the client for what Close may have done:\n%s", r.Msg)
	}
	spy.WantText(t, "was never finished") // the harness's report of the stream: open at Close
}

// The status a client call gets when its ClientConn closes under it: how
// the fake tells a call Close ended from one its client canceled. A new
// grpc-go that words it otherwise fails this test, not users' tests.
func TestClientConnClosingMessage(t *testing.T) {
	spy := spytb.New(t) // the harness reports the stream open at Close
	srv := fakes.NewServer(spy)
	srv.Expect(fullDuplex).Recv(req(1)).SendHeader(metadata.Pairs("k", "v")).Hang()
	stream, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(req(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatal(err)
	}
	recv := grpctest.Go(t, func() (*dupRes, error) { return stream.Recv() })
	srv.Close()
	const want = "grpc: the client connection is closing" // fakes' closingMessage
	if _, err := recv.Wait(waitLimit); status.Code(err) != codes.Canceled || status.Convert(err).Message() != want {
		t.Errorf("Recv when the ClientConn closed: %v; want Canceled, %q", err, want)
	}
	for _, e := range srv.Recorder().Events() {
		if e.Kind == recorder.End && e.Side == recorder.Client && status.Convert(e.Err).Message() != want {
			t.Errorf("the recorded client End: %v; want %q", e.Err, want)
		}
	}
	spy.WantText(t, "was never finished")
}

// deep recurses n times, then panics.
func deep(n int) int {
	if n == 0 {
		panic("at the bottom")
	}
	return deep(n-1) + 1
}

// A panic deep in a check (a traceback of over 100 frames, which elides
// some) still shows the stack.
func TestServerFuncDeepPanicStack(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).RecvFunc(func(*testpb.SimpleRequest) error { deep(200); return nil }).SendFunc(echoID)
	wantCode(t, lookup(t.Context(), testpb.NewTestServiceClient(srv.Conn()), 1), codes.FailedPrecondition)
	srv.Close()
	spy.Want(t, 1, "the check panicked: at the bottom", ", in:", "fakes_test.deep(", "TestServerFuncDeepPanicStack.func1(")
}

// A SendFunc of a function with no result is a misuse, not a panic.
func TestServerSendFuncWithoutAResult(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).RecvAny().SendFunc(func(*testpb.SimpleRequest) {}).Times(0)
	spy.Want(t, 1, "step 2 SendFunc", "SendFunc got a func(*grpc_testing.SimpleRequest): want a func(*grpc_testing.SimpleRequest) *grpc_testing.SimpleResponse")
}

// A RecvEach check the call does not wait for (its client canceled) ends
// the call during the step, as any step: AllowCancel allows it, and
// without it the report says so, with no empty mismatch.
func TestServerRecvEachAbandoned(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprint("AllowCancel ", allow), func(t *testing.T) {
			spy := spytb.New(t)
			srv := fakes.NewServer(spy)
			entered, release := make(chan struct{}), make(chan struct{})
			sc := srv.Expect(streamingIn).
				RecvEach(func(*testpb.StreamingInputCallRequest) error { close(entered); <-release; return nil }).
				Send(&testpb.StreamingInputCallResponse{})
			if allow {
				sc.AllowCancel()
			}
			ctx, cancel := context.WithCancel(t.Context())
			stream, err := testpb.NewTestServiceClient(srv.Conn()).StreamingInputCall(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.Send(&testpb.StreamingInputCallRequest{}); err != nil {
				t.Fatal(err)
			}
			<-entered
			cancel()
			serverEnd := func(evs []recorder.Event) bool {
				return slices.ContainsFunc(evs, func(e recorder.Event) bool { return e.Side == recorder.Server && e.Kind == recorder.End })
			}
			wctx, wcancel := context.WithTimeout(t.Context(), waitLimit)
			defer wcancel()
			if err := srv.Recorder().Wait(wctx, serverEnd); err != nil {
				t.Fatalf("the handler did not end with its call: %v", err)
			}
			close(release)
			srv.Close()
			if allow {
				spy.WantClean(t)
				return
			}
			r := spy.Want(t, 1, "ended during step 1 RecvEach", "Canceled", "the call ended while the step's function ran")
			if strings.Contains(r.Msg, "request 1: ") {
				t.Errorf("the report has an empty mismatch:\n%s", r.Msg)
			}
		})
	}
}

// A SendFunc after a RecvEach that received nothing gets the request an
// earlier step received.
func TestServerRecvEachKeepsTheLastRequest(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	var got string
	srv.Expect(streamingIn).
		Recv(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: []byte("first")}}).
		RecvEach(func(*testpb.StreamingInputCallRequest) error { return nil }).
		SendFunc(func(last *testpb.StreamingInputCallRequest) *testpb.StreamingInputCallResponse {
			got = string(last.GetPayload().GetBody())
			return &testpb.StreamingInputCallResponse{}
		})
	if _, err := uploadChunks(t.Context(), testpb.NewTestServiceClient(srv.Conn()), "first"); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	spy.WantClean(t)
	if got != "first" {
		t.Errorf("SendFunc got %q, want the Recv's request, first", got)
	}
}

// A Metadata key with no value would check nothing: a misuse.
func TestServerMetadataKeyWithoutValue(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).Metadata(metadata.MD{"authorization": nil, "x": {}}).RecvAny().Send(&testpb.SimpleResponse{}).Times(0)
	spy.Want(t, 1, "Metadata: no value for authorization, x")
}

// sizes is a SendFunc reply for StreamingOutputCall: one response per
// size the request asks for.
func sizes(r *testpb.StreamingOutputCallRequest) []*testpb.StreamingOutputCallResponse {
	var out []*testpb.StreamingOutputCallResponse
	for _, p := range r.GetResponseParameters() {
		out = append(out, res(p.GetSize()))
	}
	return out
}

// readAll is client code under test: a StreamingOutputCall read to its end.
func readAll(ctx context.Context, client testpb.TestServiceClient, r *testpb.StreamingOutputCallRequest) ([]*dupRes, error) {
	stream, err := client.StreamingOutputCall(ctx, r)
	if err != nil {
		return nil, err
	}
	return recvAll(stream)
}

// A SendFunc that returns a slice sends a stream of responses made from
// one request: all of them, or none.
func TestServerSendFuncSlice(t *testing.T) {
	for _, n := range []int32{3, 0} {
		t.Run(fmt.Sprint(n, " responses"), func(t *testing.T) {
			spy := spytb.New(t)
			srv := fakes.NewServer(spy)
			srv.Expect(streamingOut).RecvAny().SendFunc(sizes)
			r := &testpb.StreamingOutputCallRequest{}
			var want []*dupRes
			for i := range n {
				r.ResponseParameters = append(r.ResponseParameters, &testpb.ResponseParameters{Size: i + 1})
				want = append(want, res(i+1))
			}
			got, err := readAll(t.Context(), testpb.NewTestServiceClient(srv.Conn()), r)
			if err != nil {
				t.Fatal(err)
			}
			wantMsgs(t, want, got)
			srv.Close()
			spy.WantClean(t)
		})
	}
}

// What is wrong with a slice a SendFunc returns fails the step, naming
// the response.
func TestServerSendFuncSliceBad(t *testing.T) {
	t.Run("a nil response", func(t *testing.T) {
		spy := spytb.New(t)
		srv := fakes.NewServer(spy)
		srv.Expect(streamingOut).RecvAny().SendFunc(func(*testpb.StreamingOutputCallRequest) []*dupRes { return []*dupRes{res(1), nil} })
		got, err := readAll(t.Context(), testpb.NewTestServiceClient(srv.Conn()), req(1))
		wantCode(t, err, codes.FailedPrecondition)
		if len(got) != 0 {
			t.Errorf("the client got %d responses before the failure, want none: the step sends nothing when one is bad", len(got))
		}
		srv.Close()
		spy.Want(t, 1, "step 2 SendFunc", "the function's response 2 of 2 is a nil *grpc_testing.StreamingOutputCallResponse")
	})
	t.Run("several on a unary method", func(t *testing.T) {
		spy := spytb.New(t)
		srv := fakes.NewServer(spy)
		srv.Expect(unaryCall).RecvAny().SendFunc(func(*testpb.SimpleRequest) []*testpb.SimpleResponse {
			return []*testpb.SimpleResponse{{}, {}}
		})
		_, err := testpb.NewTestServiceClient(srv.Conn()).UnaryCall(t.Context(), &testpb.SimpleRequest{})
		wantCode(t, err, codes.FailedPrecondition)
		srv.Close()
		spy.Want(t, 1, "the function returned 2 responses, but "+unaryCall+" is not server-streaming: it has exactly one")
	})
	t.Run("an error", func(t *testing.T) {
		spy := spytb.New(t)
		srv := fakes.NewServer(spy)
		srv.Expect(streamingOut).RecvAny().SendFunc(func(*testpb.StreamingOutputCallRequest) ([]*dupRes, error) {
			return nil, status.Error(codes.OutOfRange, "past the end")
		})
		_, err := readAll(t.Context(), testpb.NewTestServiceClient(srv.Conn()), req(1))
		wantCode(t, err, codes.OutOfRange)
		srv.Close()
		spy.WantClean(t)
	})
	t.Run("a slice of another type", func(t *testing.T) {
		spy := spytb.New(t)
		srv := fakes.NewServer(spy)
		srv.Expect(streamingOut).RecvAny().SendFunc(func(*testpb.StreamingOutputCallRequest) []*testpb.SimpleResponse { return nil }).Times(0)
		spy.Want(t, 1, "SendFunc got a func(*grpc_testing.StreamingOutputCallRequest) []*grpc_testing.SimpleResponse",
			"(or []*grpc_testing.StreamingOutputCallResponse for several responses)")
	})
}

// A large request is shown short where a step rejects it, in the
// client's status message and in Close's report, as the timeline shows
// messages (recorder.FormatMessage): binary bytes as their length, text
// quoted and cut.
func TestServerRejectedLargeRequestIsShort(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"binary", string(make([]byte, 64<<10)), "got request {payload:{body:<65536 bytes>}}"},
		{"text", strings.Repeat("a", 64<<10), `got request {payload:{body:"aaaa`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			srv := fakes.NewServer(spy)
			srv.Expect(streamingIn).
				RecvEach(func(*testpb.StreamingInputCallRequest) error { return errors.New("bad checksum") }).
				Send(&testpb.StreamingInputCallResponse{})
			_, err := uploadChunks(t.Context(), testpb.NewTestServiceClient(srv.Conn()), tc.body)
			wantCode(t, err, codes.FailedPrecondition)
			if n := len(err.Error()); n > 2000 {
				t.Errorf("the status message is %d bytes long; want the request cut short", n)
			}
			srv.Close()
			r := spy.Want(t, 1, "the check rejected the request: bad checksum; "+tc.want)
			if i := strings.Index(r.Msg, "timeline:"); i > 2000 {
				t.Errorf("the report before the timeline is %d bytes long; want the request cut short", i)
			}
		})
	}
}

// A function that takes the call's context answers by the request
// metadata: one script for calls with an old token and a new one, in any
// order.
func TestServerFuncWithContextAnswersByMetadata(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).
		RecvAny().
		SendFunc(func(ctx context.Context, r *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
			md, _ := metadata.FromIncomingContext(ctx)
			if tok := md.Get("authorization"); len(tok) != 1 || tok[0] != "Bearer new" {
				return nil, status.Errorf(codes.Unauthenticated, "token %q", tok)
			}
			return echoID(r), nil
		}).
		Times(4)
	client := testpb.NewTestServiceClient(srv.Conn())
	errs := make(chan error, 4)
	for _, tok := range []string{"old", "new", "old", "new"} {
		go func() {
			ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
			errs <- lookup(ctx, client, 1)
		}()
	}
	codesSeen := map[codes.Code]int{}
	for range 4 {
		codesSeen[status.Code(<-errs)]++
	}
	if codesSeen[codes.OK] != 2 || codesSeen[codes.Unauthenticated] != 2 {
		t.Errorf("codes %v, want two OK and two Unauthenticated", codesSeen)
	}
	srv.Close()
	spy.WantClean(t)
}

// A function that takes the call's context can wait for the call to end:
// a test can see that the client canceled the calls it no longer needed.
func TestServerFuncWithContextSeesTheCancel(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	canceled := make(chan string, 6)
	srv.Expect(unaryCall).
		RecvAny().
		SendFunc(func(ctx context.Context, r *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
			id := string(r.GetPayload().GetBody())
			if id == "b1" {
				return nil, status.Error(codes.NotFound, "no b1")
			}
			<-ctx.Done() // the others answer only when their call ends
			canceled <- id
			return nil, status.FromContextError(ctx.Err()).Err()
		}).
		MaxTimes(3).
		AllowCancel()
	_, err := fetch(t.Context(), testpb.NewTestServiceClient(srv.Conn()), "b1", "b2", "b3")
	if status.Code(err) != codes.NotFound {
		t.Errorf("fetch = %v, want b1's NotFound", err)
	}
	srv.Close() // waits for the functions' goroutines, the handlers' (a leak check)
	var ids []string
	for len(canceled) > 0 {
		ids = append(ids, <-canceled)
	}
	// The calls that reached the server before the cancel saw it; the
	// others never reached it.
	for _, id := range ids {
		if id != "b2" && id != "b3" {
			t.Errorf("a canceled call of %s, want b2 or b3", id)
		}
	}
	spy.WantClean(t)
}

// The context must come first, and be a context.Context.
func TestServerFuncContextMisuse(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).RecvFunc(func(*testpb.SimpleRequest, context.Context) error { return nil }).Times(0)
	spy.Want(t, 1, "RecvFunc got a func(*grpc_testing.SimpleRequest, context.Context) error", "with a context.Context before the request")
}

// A call whose connection broke (Disconnect) is not a cancel: the report
// says the client got Unavailable, and AllowCancel does not hide it.
func TestServerDisconnectIsNotACancel(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprint("AllowCancel ", allow), func(t *testing.T) {
			spy := spytb.New(t)
			srv := fakes.NewServer(spy)
			sc := srv.Expect(fullDuplex).Recv(req(1)).SendHeader(metadata.Pairs("k", "v")).Recv(req(2))
			if allow {
				sc.AllowCancel()
			}
			stream, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.Send(req(1)); err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Header(); err != nil {
				t.Fatal(err)
			}
			srv.Harness().Disconnect()
			if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
				t.Fatalf("Recv after Disconnect: %v, want Unavailable", err)
			}
			srv.Close()
			r := spy.Want(t, 1, "ended during step 3 Recv", "the client got Unavailable: the call's connection broke, as Disconnect breaks it")
			if strings.Contains(r.Msg, "Close had begun") {
				t.Errorf("the report blames Close:\n%s", r.Msg)
			}
		})
	}
}

// A script after one with no bound on its calls gets none: the report of
// its missing calls says why.
func TestServerScriptAfterAnUnboundedOne(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).RecvAny().Send(&testpb.SimpleResponse{}).AnyTimes()
	srv.Expect(unaryCall).RecvAny().Send(&testpb.SimpleResponse{Username: "never"})
	if _, err := testpb.NewTestServiceClient(srv.Conn()).UnaryCall(t.Context(), &testpb.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	spy.Want(t, 1, "expected 1 call(s), got 0", "earlier for the same method, takes every call: it has no MaxTimes")
}

// A client the recorder does not see (one the code dialed to the fake's
// Addr itself) cancels calls that AllowCancel allows: its cancel reaches
// the server a moment after the client's calls returned, and Close, right
// after, waits for it instead of ending the calls itself and reporting
// them. A fan-out's slow backends, answering only when the client gives
// up. (Without the wait, about half the runs failed.)
func TestServerAllowCancelOfAClientTheRecorderDoesNotSee(t *testing.T) {
	for range 10 {
		spy := spytb.New(t)
		srv := fakes.NewServer(spy, grpctest.WithTCP())
		srv.Expect(unaryCall).RecvAny().SendFunc(func(ctx context.Context, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}).MaxTimes(2).AllowCancel()
		cc, err := grpc.NewClient(srv.Harness().Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		calls := make([]*grpctest.Pending[struct{}], 2)
		for i := range calls {
			calls[i] = grpctest.GoErr(t, func() error {
				_, err := testpb.NewTestServiceClient(cc).UnaryCall(ctx, &testpb.SimpleRequest{})
				return err
			})
		}
		if err := srv.Recorder().Wait(t.Context(), func(evs []recorder.Event) bool {
			n := 0
			for _, e := range evs {
				if e.Side == recorder.Server && e.Kind == recorder.Recv {
					n++
				}
			}
			return n == 2
		}); err != nil {
			t.Fatal(err)
		}
		cancel()
		for _, c := range calls {
			if _, err := c.Wait(waitLimit); status.Code(err) != codes.Canceled {
				t.Fatalf("a call: %v, want Canceled", err)
			}
		}
		srv.Close()
		cc.Close()
		spy.WantClean(t)
	}
}

// A call canceled while a step's function runs ends, on the server, with
// the context's status as a handler returning ctx.Err() ends: its message
// is "context canceled", not that status's text again.
func TestAFunctionsCallCanceledEndsWithTheContextsStatus(t *testing.T) {
	srv := fakes.NewServer(t)
	srv.Expect(unaryCall).RecvAny().SendFunc(func(ctx context.Context, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}).AllowCancel()
	ctx, cancel := context.WithCancel(t.Context())
	call := grpctest.GoErr(t, func() error {
		_, err := testpb.NewTestServiceClient(srv.Conn()).UnaryCall(ctx, &testpb.SimpleRequest{})
		return err
	})
	serverEnd := func(evs []recorder.Event) (recorder.Event, bool) {
		for _, e := range evs {
			if e.Side == recorder.Server && e.Kind == recorder.End {
				return e, true
			}
		}
		return recorder.Event{}, false
	}
	if err := srv.Recorder().Wait(t.Context(), func(evs []recorder.Event) bool {
		return slices.ContainsFunc(evs, func(e recorder.Event) bool { return e.Side == recorder.Server && e.Kind == recorder.Recv })
	}); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := call.Wait(waitLimit); status.Code(err) != codes.Canceled {
		t.Fatalf("the call: %v, want Canceled", err)
	}
	if err := srv.Recorder().Wait(t.Context(), func(evs []recorder.Event) bool { _, ok := serverEnd(evs); return ok }); err != nil {
		t.Fatal(err)
	}
	e, _ := serverEnd(srv.Recorder().Events())
	if st := status.Convert(e.Err); st.Code() != codes.Canceled || st.Message() != "context canceled" {
		t.Errorf("the server half ended with %v, want Canceled \"context canceled\"", e.Err)
	}
}
