package grpctest_test

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"
)

// pingPong runs the interop ping-pong on a harness built with spy and
// returns the harness and the call's requests and responses.
func pingPong(t *testing.T, spy *spytb.TB) (*grpctest.Server, []any, []any) {
	t.Helper()
	srv := grpctest.NewServer(spy, interopService)
	interop.DoPingPong(t.Context(), client(srv))
	waitFor(t, srv.Recorder(), func(e recorder.Event) bool { return e.Side == recorder.Server && e.Kind == recorder.End })
	calls := srv.Recorder().Calls()
	if len(calls) != 1 {
		t.Fatalf("recorded %d calls, want 1:\n%s", len(calls), srv.Recorder())
	}
	return srv, calls[0].Requests(), calls[0].Responses()
}

func TestAssertOrderPassesOnTheRecordedOrder(t *testing.T) {
	spy := spytb.New(t)
	srv, reqs, ress := pingPong(t, spy)
	if len(reqs) != 4 || len(ress) != 4 {
		t.Fatalf("ping-pong recorded %d requests and %d responses, want 4 and 4", len(reqs), len(ress))
	}
	var steps []grpctest.Step
	for i := range reqs {
		steps = append(steps,
			grpctest.ClientSends(reqs[i]), grpctest.ServerReceives(reqs[i]),
			grpctest.ServerSends(ress[i]), grpctest.ClientReceives(ress[i]))
	}
	// Both halves end after the last response. (The recorder takes
	// CloseSend's Seq when CloseSend returns, so the server's End may come
	// before it; only the client's End surely follows it.)
	steps = append(steps, grpctest.Ends(codes.OK), grpctest.Ends(codes.OK))
	if !grpctest.AssertOrder(spy, srv.Recorder(), steps...) {
		t.Errorf("AssertOrder returned false")
	}
	if !grpctest.AssertOrder(spy, srv.Recorder(), grpctest.ClientReceives(ress[3]), grpctest.ClientCloses(), grpctest.Ends(codes.OK)) {
		t.Errorf("AssertOrder returned false")
	}
	// Gaps are allowed, and nil messages match any message.
	ok := grpctest.AssertOrder(spy, srv.Recorder(),
		grpctest.ClientSends(reqs[0]), grpctest.ClientReceives(ress[3]), grpctest.Ends(codes.OK))
	ok = ok && grpctest.AssertOrder(spy, srv.Recorder(),
		grpctest.ClientSends(nil), grpctest.ServerReceives(nil), grpctest.ServerSends(nil), grpctest.ClientReceives(nil))
	if !ok {
		t.Errorf("AssertOrder with gaps or nil messages returned false")
	}
	// RequireOrder on a true order must not stop the test.
	if spy.Run(func() { grpctest.RequireOrder(spy, srv.Recorder(), grpctest.ClientSends(nil), grpctest.Ends(codes.OK)) }).FailedNow {
		t.Errorf("RequireOrder called FailNow on a true order")
	}
	spy.End()
	spy.WantClean(t)
}

func TestAssertOrderReportsWrongOrder(t *testing.T) {
	spy := spytb.New(t)
	srv, reqs, ress := pingPong(t, spy)
	// The response is received before the second request is sent, not after.
	ok := grpctest.AssertOrder(spy, srv.Recorder(), grpctest.ClientReceives(ress[0]), grpctest.ClientSends(reqs[0]))
	if ok {
		t.Errorf("AssertOrder returned true on a wrong order")
	}
	spy.Want(t, 1, "step 2 of 2, ClientSends(", "not found after event",
		"matched by step 1, ClientReceives(", "matched so far:",
		"the step matches event", "which comes before", "recorded timeline:", "client  send")
}

// A step whose only matching events earlier steps matched already: the
// report says so, instead of calling it an order difference (or a count
// one: in the third case the order is what is wrong).
func TestAssertOrderSaysTheStepsWantAnEventOnceMore(t *testing.T) {
	spy := spytb.New(t)
	srv, reqs, _ := pingPong(t, spy)
	for _, tc := range []struct {
		steps []grpctest.Step
		want  string
	}{
		{[]grpctest.Step{grpctest.ClientSends(reqs[0]), grpctest.ClientSends(reqs[0])},
			"the step matches only event "},
		{[]grpctest.Step{grpctest.Ends(codes.OK), grpctest.Ends(codes.OK), grpctest.Ends(codes.OK)},
			"the step matches only events "},
		{[]grpctest.Step{grpctest.ClientSends(nil), grpctest.ClientSends(reqs[0])}, // sent first, once
			"the step matches only event "},
	} {
		spy := spytb.New(t)
		if grpctest.AssertOrder(spy, srv.Recorder(), tc.steps...) {
			t.Errorf("AssertOrder(%v) returned true", tc.steps)
		}
		r := spy.Want(t, 1, tc.want, "already matched (each step takes the first event it can after the previous step's): no other event matches it")
		if strings.Contains(r.Msg, "comes before") {
			t.Errorf("the report blames the order:\n%s", r.Msg)
		}
	}
	spy.End()
	spy.WantClean(t)
}

func TestAssertOrderShowsNearMissDiff(t *testing.T) {
	spy := spytb.New(t)
	srv, reqs, _ := pingPong(t, spy)
	wrong := proto.Clone(reqs[1].(proto.Message)).(*testgrpc.StreamingOutputCallRequest)
	wrong.ResponseParameters[0].Size = 7
	if grpctest.AssertOrder(spy, srv.Recorder(), grpctest.ClientSends(reqs[0]), grpctest.ClientSends(wrong)) {
		t.Errorf("AssertOrder returned true for a message never sent")
	}
	spy.Want(t, 1, "step 2 of 2", "mismatch (-want +got):", "size:", "recorded timeline:")
}

func TestAssertOrderReportsMissingFirstStepAndStatus(t *testing.T) {
	spy := spytb.New(t)
	srv, _, _ := pingPong(t, spy)
	if grpctest.AssertOrder(spy, srv.Recorder(), grpctest.Ends(codes.Unavailable)) {
		t.Errorf("AssertOrder returned true for a status that never happened")
	}
	spy.Want(t, 1, "step 1 of 1, Ends(Unavailable), not found in the", "recorded events", "recorded timeline:")
}

func TestRequireOrderFailsNow(t *testing.T) {
	spy := spytb.New(t)
	srv, _, _ := pingPong(t, spy)
	if !spy.Run(func() { grpctest.RequireOrder(spy, srv.Recorder(), grpctest.Ends(codes.Internal)) }).FailedNow {
		t.Errorf("RequireOrder did not call FailNow")
	}
	spy.Want(t, 1, "Ends(Internal)")
}

func TestEndsMatchesEitherSideWithItsCode(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	interop.DoStatusCodeAndMessage(t.Context(), client(srv)) // two calls ending with code 2 (Unknown)
	interop.DoUnimplementedMethod(t.Context(), srv.Conn())
	r := srv.Recorder()
	waitFor(t, r, func(e recorder.Event) bool {
		return e.Kind == recorder.End && e.Method == "/grpc.testing.TestService/UnimplementedCall"
	})
	if !grpctest.AssertOrder(spy, r, grpctest.Ends(codes.Unknown), grpctest.Ends(codes.Unknown), grpctest.Ends(codes.Unimplemented)) {
		t.Errorf("AssertOrder returned false")
	}
	spy.End()
	spy.WantClean(t)
}

func TestAssertOrderMisuse(t *testing.T) {
	rec := recorder.New()
	cases := []struct {
		name  string
		r     *recorder.Recorder
		steps []grpctest.Step
		want  string
	}{
		{"nil recorder", nil, []grpctest.Step{grpctest.ClientCloses()}, "the recorder is nil (was the harness built WithoutRecorder?)"},
		{"no steps", rec, nil, "no steps given"},
		{"nil step", rec, []grpctest.Step{grpctest.ClientCloses(), nil}, "step 2 is nil"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			if grpctest.AssertOrder(spy, tc.r, tc.steps...) {
				t.Errorf("AssertOrder returned true")
			}
			spy.Want(t, 1, tc.want)
		})
	}
}

func TestStepStrings(t *testing.T) {
	for _, tc := range []struct {
		step grpctest.Step
		want string
	}{
		{grpctest.ClientSends(nil), "ClientSends(any message)"},
		{grpctest.ServerReceives(&testgrpc.Empty{}), "ServerReceives(*grpc_testing.Empty{})"},
		{grpctest.ServerSends(&testgrpc.Payload{Body: []byte("hi")}), `ServerSends(*grpc_testing.Payload{body:"hi"})`},
		{grpctest.ClientReceives("text"), `ClientReceives("text")`},
		{grpctest.ClientCloses(), "ClientCloses()"},
		{grpctest.Ends(codes.DeadlineExceeded), "Ends(DeadlineExceeded)"},
		{grpctest.ClientEnds(codes.OK), "ClientEnds(OK)"},
		{grpctest.With(grpctest.ServerSends(&testgrpc.Empty{}), protocmp.IgnoreEmptyMessages()), "With(ServerSends(*grpc_testing.Empty{}), 1 cmp option(s))"},
		{grpctest.ServerEnds(codes.Internal), "ServerEnds(Internal)"},
	} {
		if got := tc.step.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
	// Long bytes are summed up as the timeline sums them up.
	long := grpctest.ClientSends(&testgrpc.Payload{Body: []byte(strings.Repeat("x", 500))}).String()
	if len(long) > 160 || !strings.HasSuffix(long, "… <500 bytes>})") {
		t.Errorf("a long message renders as %d bytes (%q), want it cut short", len(long), long)
	}
	if s := grpctest.ClientSends(&testgrpc.Payload{Body: make([]byte, 4096)}).String(); s != "ClientSends(*grpc_testing.Payload{body:<4096 bytes>})" {
		t.Errorf("4096 zero bytes render as %q", s)
	}
}

// A typed nil message in a step is an empty message of its type, not a
// wildcard; so is a typed nil the client sent (gRPC sends it as an empty
// message, and the recorder keeps what the client passed).
func TestAssertOrderTypedNilIsAnEmptyMessage(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	if _, err := client(srv).EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
		t.Fatal(err)
	}
	empty := (*testgrpc.Empty)(nil)
	if !grpctest.AssertOrder(spy, srv.Recorder(),
		grpctest.ClientSends(empty), grpctest.ServerReceives(empty), grpctest.ServerSends(empty), grpctest.ClientReceives(empty)) {
		t.Errorf("typed nil steps did not match the recorded empty messages")
	}
	spy.WantClean(t)

	srv.Recorder().Reset()
	if _, err := client(srv).UnaryCall(t.Context(), &testgrpc.SimpleRequest{ResponseSize: 3}); err != nil {
		t.Fatal(err)
	}
	if grpctest.AssertOrder(spy, srv.Recorder(), grpctest.ServerSends((*testgrpc.SimpleResponse)(nil))) {
		t.Errorf("a typed nil step matched a message that is not empty")
	}
	report := spy.Want(t, 1, "ServerSends(*grpc_testing.SimpleResponse{})", "mismatch (-want +got):")
	if strings.Contains(report.Msg, "@invalid") {
		t.Errorf("the diff compares against a nil message, not an empty one:\n%s", report.Msg)
	}

	spy = spytb.New(t)
	srv.Recorder().Reset()
	stream, err := client(srv).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send((*testgrpc.StreamingOutputCallRequest)(nil)); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("Recv: %v, want io.EOF", err)
	}
	if !grpctest.AssertOrder(spy, srv.Recorder(),
		grpctest.ClientSends(&testgrpc.StreamingOutputCallRequest{}), grpctest.ServerReceives(&testgrpc.StreamingOutputCallRequest{})) {
		t.Errorf("an empty-message step did not match the typed nil the client sent")
	}
	spy.WantClean(t)
}

// An Ends step that is not found lists the End events it could have
// matched but for their code, with their status.
func TestAssertOrderShowsNearestEnds(t *testing.T) {
	spy := spytb.New(t)
	srv, reqs, _ := pingPong(t, spy)
	if grpctest.AssertOrder(spy, srv.Recorder(), grpctest.ClientSends(reqs[0]), grpctest.Ends(codes.Canceled)) {
		t.Errorf("AssertOrder returned true for a status that never happened")
	}
	spy.Want(t, 1, "step 2 of 2, Ends(Canceled), not found after event",
		"nearest: the End events after event ", " end with other codes: event ",
		"server end OK ("+fullDuplex+")", "client end OK ("+fullDuplex+")", "recorded timeline:")

	// Only earlier End events: they are listed as such.
	spy2 := spytb.New(t)
	if grpctest.AssertOrder(spy2, srv.Recorder(), grpctest.Ends(codes.OK), grpctest.Ends(codes.OK), grpctest.Ends(codes.OK)) {
		t.Errorf("AssertOrder returned true for three Ends of one call")
	}
	spy2.Want(t, 1, "step 3 of 3, Ends(OK)", "; earlier End events: event ", "server end OK (")

	// The status message is shown.
	spy = spytb.New(t)
	srv = grpctest.NewServer(spy, interopService)
	interop.DoStatusCodeAndMessage(t.Context(), client(srv))
	waitFor(t, srv.Recorder(), func(e recorder.Event) bool { return e.Kind == recorder.End && e.Method == fullDuplex })
	if grpctest.AssertOrder(spy, srv.Recorder(), grpctest.Ends(codes.Internal)) {
		t.Errorf("AssertOrder returned true for a status that never happened")
	}
	spy.Want(t, 1, "step 1 of 1, Ends(Internal)", "nearest: the End events end with other codes: event ",
		`end Unknown ("test status message") (`+unaryCall+")")

	// Nothing ended yet: say so.
	spy = spytb.New(t)
	if grpctest.AssertOrder(spy, recorder.New(), grpctest.Ends(codes.OK)) {
		t.Errorf("AssertOrder returned true on an empty recorder")
	}
	spy.Want(t, 1, "no End event was recorded", "AssertOrderWithin")

	// A call still open: named, with where its End would come from.
	spy = spytb.New(t)
	srv = grpctest.NewServer(spy, interopService)
	if _, err := client(srv).UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stream, err := client(srv).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	if grpctest.AssertOrder(spy, srv.Recorder(), grpctest.Ends(codes.Canceled)) {
		t.Errorf("AssertOrder found an End of a call not canceled")
	}
	spy.Want(t, 1, "nearest: the End events end with other codes: event ",
		"not ended yet when AssertOrder read the recorder: call 2 client, call 2 server; ", "AssertOrderWithin waits for it")
}

// textEcho echoes request payloads: UnaryCall in a SimpleResponse,
// FullDuplexCall in a StreamingOutputCallResponse per request.
type textEcho struct {
	testgrpc.UnimplementedTestServiceServer
}

func (textEcho) UnaryCall(_ context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return &testgrpc.SimpleResponse{Payload: req.GetPayload()}, nil
}

func (textEcho) FullDuplexCall(stream testgrpc.TestService_FullDuplexCallServer) error {
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: req.GetPayload()}); err != nil {
			return err
		}
	}
}

// The nearest miss of a message step is a message of the step's type, if
// there is one: a message of another type only looks near because its
// diff lists the differing types and little else.
func TestAssertOrderNearestIsOfTheStepsType(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(textEcho{}))
	text := func(s string) *testgrpc.Payload { return &testgrpc.Payload{Body: []byte(s)} }
	stream, err := client(srv).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&testgrpc.StreamingOutputCallRequest{Payload: text("ack cpu=0.10 host=a")}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	if _, err := client(srv).UnaryCall(t.Context(), &testgrpc.SimpleRequest{Payload: text("x")}); err != nil {
		t.Fatal(err)
	}
	want := &testgrpc.StreamingOutputCallResponse{Payload: text("ack cpu=0.10 host=b")}
	if grpctest.AssertOrder(spy, srv.Recorder(), grpctest.ClientReceives(want)) {
		t.Fatal("AssertOrder found a response that was not received")
	}
	r := spy.Want(t, 1, "nearest event of that kind, event ", fullDuplex, `"ack cpu=0.10 host=a"`, `"ack cpu=0.10 host=b"`)
	if strings.Contains(r.Msg, "SimpleResponse") {
		t.Errorf("the nearest miss is a message of another type:\n%s", r.Msg)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("Recv after CloseSend: %v, want io.EOF", err)
	}
}

// A recorder that dropped events (WithLimit) is the likely cause of a step
// not found: the failure says so before anything else.
func TestAssertOrderSaysEventsWereDropped(t *testing.T) {
	spy := spytb.New(t)
	rec := recorder.New(recorder.WithLimit(3))
	srv := grpctest.NewServer(spy, interopService, grpctest.WithRecorder(rec))
	interop.DoPingPong(t.Context(), client(srv))
	waitFor(t, rec, func(e recorder.Event) bool { return e.Side == recorder.Server && e.Kind == recorder.End })
	if rec.Dropped() == 0 {
		t.Fatalf("the recorder dropped no events:\n%s", rec)
	}
	for _, steps := range [][]grpctest.Step{
		{grpctest.ClientSends(nil)},
		{grpctest.Ends(codes.OK), grpctest.ClientSends(nil)},
	} {
		spy := spytb.New(t)
		if grpctest.AssertOrder(spy, rec, steps...) {
			t.Fatalf("AssertOrder found a ClientSends among the last 3 events:\n%s", rec)
		}
		r := spy.Want(t, 1, " earlier events were dropped by WithLimit (these 3 are the newest)", "raise the limit")
		if first, _, _ := strings.Cut(r.Msg, "\n"); strings.Contains(first, "dropped") {
			t.Errorf("the note is not on its own line:\n%s", r.Msg)
		}
	}
	// Nothing dropped: no note.
	spy2 := spytb.New(t)
	grpctest.AssertOrder(spy2, recorder.New(), grpctest.Ends(codes.OK))
	if r := spy2.Want(t, 1, "Ends(OK)"); strings.Contains(r.Msg, "dropped") {
		t.Errorf("a recorder that dropped nothing is said to have dropped events:\n%s", r.Msg)
	}
}

// A recorder that records only some methods (recorder.WithMethods) is the
// likely cause of a step not found: the failure names its methods, and the
// harness's timeline says that nothing was recorded and why.
func TestFailuresNameTheRecordersMethods(t *testing.T) {
	const typo = "/grpc.testing.TestService/FullDuplex" // the method is FullDuplexCall
	spy := spytb.New(t)
	rec := recorder.New(recorder.WithMethods(typo))
	srv := grpctest.NewServer(spy, interopService, grpctest.WithRecorder(rec))
	interop.DoPingPong(t.Context(), client(srv))
	if grpctest.AssertOrder(spy, rec, grpctest.ClientSends(nil)) {
		t.Fatalf("AssertOrder found a ClientSends in a recorder that records nothing:\n%s", rec)
	}
	spy.Want(t, 1, fmt.Sprintf("recorded timeline:\n  (no events recorded; WithMethods records only %q)", typo))

	// A service's name: the timeline says that it matches no method.
	spy = spytb.New(t)
	grpctest.AssertOrder(spy, recorder.New(recorder.WithMethods("grpc.testing.TestService")), grpctest.Ends(codes.OK))
	r := spy.Want(t, 1, `nothing was recorded, and the recorder records only the calls of the methods WithMethods names: ["grpc.testing.TestService"] (were the calls of another method?)`,
		`(no events recorded; WithMethods records only "grpc.testing.TestService" (a service? it matches only a method of that name`)
	if strings.Contains(r.Msg, "no call had ended") {
		t.Errorf("the report blames the calls' timing, not the filter:\n%s", r.Msg)
	}

	// Events of the methods recorded, but not the step's: the failure
	// names the methods.
	spy = spytb.New(t)
	rec = recorder.New(recorder.WithMethods("UnaryCall"))
	srv = grpctest.NewServer(spy, interopService, grpctest.WithRecorder(rec))
	if _, err := client(srv).UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	interop.DoPingPong(t.Context(), client(srv))
	grpctest.AssertOrder(spy, rec, grpctest.ClientSends(&testgrpc.StreamingOutputCallRequest{}))
	spy.Want(t, 1, `the recorder records only the calls of the methods WithMethods names: ["UnaryCall"]`)
	spy = spytb.New(t)
	if grpctest.AssertMessages(spy, []any{&testgrpc.StreamingOutputCallRequest{ResponseType: testgrpc.PayloadType_COMPRESSABLE}}, nil) {
		t.Fatal("AssertMessages passed on a missing message")
	}
	spy.Want(t, 1, fmt.Sprintf("recorded timeline:\n  (no events recorded; WithMethods records only %q)", typo))

	// A recorder of every method: no note.
	spy = spytb.New(t)
	srv = grpctest.NewServer(spy, interopService)
	if grpctest.AssertOrder(spy, srv.Recorder(), grpctest.ClientSends(nil)) {
		t.Fatal("AssertOrder found a ClientSends before any call")
	}
	if r := spy.Want(t, 1, "ClientSends"); strings.Contains(r.Msg, "WithMethods") || strings.Contains(r.Msg, "nothing was recorded, and") {
		t.Errorf("a recorder of every method is said to record only some:\n%s", r.Msg)
	}
}

// InCall ties a step to one call: two calls that exchange the same
// messages are told apart, a step of the other call does not match, and
// the nearest miss is looked for in the call's own events.
func TestAssertOrderInCall(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	req := &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}}}
	var ids []uint64
	for range 2 {
		id, ok := srv.Recorder().CallID(echoAll(t, client(srv), req))
		if !ok {
			t.Fatal("no CallID for a stream of the harness")
		}
		ids = append(ids, id)
	}
	waitFor(t, srv.Recorder(), func(e recorder.Event) bool {
		return e.CallID == ids[1] && e.Side == recorder.Server && e.Kind == recorder.End
	})
	rec := srv.Recorder()

	// Steps of the second call match its own events.
	if !grpctest.AssertOrder(spy, rec, grpctest.InCall(ids[1], grpctest.ClientSends(req)), grpctest.InCall(ids[1], grpctest.Ends(codes.OK))) {
		t.Errorf("AssertOrder failed on the second call's own events")
	}
	// The first call's End comes before the second call's Send: in call 1
	// this order does not hold.
	bad := spytb.New(t)
	if grpctest.AssertOrder(bad, rec, grpctest.InCall(ids[1], grpctest.ClientSends(req)), grpctest.InCall(ids[0], grpctest.Ends(codes.OK))) {
		t.Errorf("AssertOrder matched an End of call %d after the Send of call %d", ids[0], ids[1])
	}
	bad.Want(t, 1, fmt.Sprintf("InCall(%d, Ends(OK)), not found after event", ids[0]), "earlier End events: event ")

	// The nearest miss of a message step is the call's own (the first
	// call's Send, as near, comes first in the timeline).
	other := &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 2}}}
	near := spytb.New(t)
	if grpctest.AssertOrder(near, rec, grpctest.InCall(ids[1], grpctest.ClientSends(other))) {
		t.Errorf("AssertOrder matched a message never sent")
	}
	r := near.Want(t, 1, fmt.Sprintf("InCall(%d, ClientSends(", ids[1]), "nearest event of that kind, event ", "mismatch (-want +got)")
	var send uint64
	for _, e := range rec.Events() {
		if e.CallID == ids[1] && e.Side == recorder.Client && e.Kind == recorder.Send {
			send = e.Seq
		}
	}
	if !strings.Contains(r.Msg, fmt.Sprintf("nearest event of that kind, event %d ", send)) {
		t.Errorf("the nearest miss is not call %d's Send (event %d):\n%s", ids[1], send, r.Msg)
	}
	if grpctest.InCall(1, nil) != nil {
		t.Errorf("InCall of a nil step is not nil")
	}
}

// A failed InCall(id, Ends) step describes the call's own End events,
// after the event the previous step matched (which may be another call's),
// and says when the call has not ended, though others have.
func TestAssertOrderInCallEndsNearestMiss(t *testing.T) {
	srv := grpctest.NewServer(t, interopService)
	rec := srv.Recorder()
	req := &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}}}
	a, err := client(srv).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	idA, _ := rec.CallID(a.Context())
	b, err := client(srv).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	idB, _ := rec.CallID(b.Context())
	if err := b.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Recv(); err != io.EOF {
		t.Fatalf("b: %v", err)
	}
	if err := a.Send(req); err != nil { // after b's End
		t.Fatal(err)
	}
	if _, err := a.Recv(); err != nil {
		t.Fatal(err)
	}
	var sendA uint64
	for _, e := range rec.Events() {
		if e.CallID == idA && e.Side == recorder.Client && e.Kind == recorder.Send {
			sendA = e.Seq
		}
	}
	spy := spytb.New(t)
	grpctest.AssertOrder(spy, rec, grpctest.InCall(idA, grpctest.ClientSends(nil)), grpctest.InCall(idB, grpctest.Ends(codes.Aborted)))
	spy.Want(t, 1, fmt.Sprintf("no End event of the call after event %d; its earlier End events: event ", sendA), "end OK (")

	spy = spytb.New(t)
	grpctest.AssertOrder(spy, rec, grpctest.InCall(idA, grpctest.Ends(codes.OK)))
	if r := spy.Want(t, 1, "the call has no End event"); strings.Contains(r.Msg, "no call had ended") {
		t.Errorf("says no call had ended, but call %d has:\n%s", idB, r.Msg)
	}
	if err := a.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Recv(); err != io.EOF {
		t.Fatalf("a: %v", err)
	}
}

// Once a Send has failed because the test canceled the call, the client's
// End is in the recorder: AssertOrder finds it without a Recorder.Wait.
// (The End used to be recorded by context.AfterFunc, on a goroutine of its
// own, and was missed in about one run in seven when the Send was blocked
// on flow control at the cancel.)
func TestOrderSeesTheEndOfACanceledSend(t *testing.T) {
	srv := grpctest.NewServer(t, service(silentHandler{}), grpctest.WithStaticWindow(64<<10))
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := client(srv).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := &testgrpc.StreamingOutputCallRequest{Payload: payload(16 << 10)}
	send := grpctest.GoErr(t, func() error {
		for {
			if err := stream.Send(req); err != nil {
				return err
			}
		}
	})
	send.AssertBlocked(20 * time.Millisecond) // on flow control: the silent handler reads nothing
	cancel()
	if _, err := send.Wait(time.Second); err == nil {
		t.Fatal("Send returned no error after the cancel")
	}
	var clientEnd []recorder.Event
	for _, e := range srv.Recorder().Events() {
		if e.Side == recorder.Client && e.Kind == recorder.End {
			clientEnd = append(clientEnd, e)
		}
	}
	if len(clientEnd) != 1 || status.Code(clientEnd[0].Err) != codes.Canceled {
		t.Errorf("client End events %v, want one, Canceled, before the failed Send returned\n%s", clientEnd, srv.Recorder())
	}
	grpctest.AssertOrder(t, srv.Recorder(), grpctest.ClientSends(req), grpctest.Ends(codes.Canceled))
}

// failingHandler's FullDuplexCall fails at once, without a response.
type failingHandler struct {
	testgrpc.UnimplementedTestServiceServer
}

func (failingHandler) FullDuplexCall(testgrpc.TestService_FullDuplexCallServer) error {
	return status.Error(codes.NotFound, "nothing here")
}

// Message steps match only Sends and Recvs that did not fail: a Recv that
// returned the call's error is not the client receiving a message.
func TestAssertOrderMessageStepsSkipFailedEvents(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(failingHandler{}))
	stream, err := client(srv).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.NotFound {
		t.Fatalf("Recv: %v, want NotFound", err)
	}
	waitFor(t, srv.Recorder(), func(e recorder.Event) bool { return e.Side == recorder.Client && e.Kind == recorder.End })
	failedRecv := false
	for _, e := range srv.Recorder().Events() {
		failedRecv = failedRecv || (e.Side == recorder.Client && e.Kind == recorder.Recv && e.Err != nil)
	}
	if !failedRecv {
		t.Fatalf("no failed client Recv recorded:\n%s", srv.Recorder())
	}
	if grpctest.AssertOrder(spy, srv.Recorder(), grpctest.ClientReceives(nil)) {
		t.Errorf("AssertOrder matched ClientReceives(any message) with a Recv that failed")
	}
	spy.Want(t, 1, "step 1 of 1, ClientReceives(any message), not found in the")
	spy.End()
}

// nopClientStream is a client stream that accepts every message, for
// recording a known number of events through WrapClientStream.
type nopClientStream struct{ grpc.ClientStream }

func (nopClientStream) Context() context.Context { return context.Background() }
func (nopClientStream) SendMsg(any) error        { return nil }

// The dropped-events note appears from the first dropped event on.
func TestAssertOrderSaysOneEventWasDropped(t *testing.T) {
	rec := recorder.New(recorder.WithLimit(2))
	cs := rec.WrapClientStream(nopClientStream{}, nil, fullDuplex) // Begin
	for range 2 {
		if err := cs.SendMsg(&testgrpc.StreamingOutputCallRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := rec.Dropped(); n != 1 {
		t.Fatalf("the recorder dropped %d events, want 1:\n%s", n, rec)
	}
	spy := spytb.New(t)
	if grpctest.AssertOrder(spy, rec, grpctest.ClientCloses()) {
		t.Fatalf("AssertOrder found a CloseSend that never happened:\n%s", rec)
	}
	spy.Want(t, 1, "1 earlier events were dropped by WithLimit (these 2 are the newest)")
}

// A failed Ends step lists End events alike (side, method, status) once,
// with a count, those with an error first, and at most maxNearestEnds (4)
// of them, then "…".
func TestAssertOrderListsAtMostFourEnds(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	for range 3 {
		if _, err := client(srv).EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
			t.Fatal(err)
		}
	}
	failing := []codes.Code{codes.NotFound, codes.PermissionDenied}
	for _, c := range failing {
		req := &testgrpc.SimpleRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(c), Message: "no"}}
		if _, err := client(srv).UnaryCall(t.Context(), req); status.Code(err) != c {
			t.Fatalf("UnaryCall: %v, want %v", err, c)
		}
	}
	if err := srv.Recorder().Wait(t.Context(), func(evs []recorder.Event) bool { return countEnds(evs) == 10 }); err != nil {
		t.Fatal(err)
	}
	nearestLine := func(prefix string) string {
		t.Helper()
		r := spy.Want(t, -1, prefix)
		_, line, _ := strings.Cut(r.Msg, prefix)
		line, _, _ = strings.Cut(line, "\n")
		return line
	}

	// Both sides: 2 OK groups and 4 error groups, errors first.
	if grpctest.AssertOrder(spy, srv.Recorder(), grpctest.Ends(codes.Canceled)) {
		t.Fatalf("AssertOrder returned true for a status that never happened")
	}
	line := nearestLine("nearest: the End events end with other codes: ")
	if n := strings.Count(line, ", "); n != 4 || !strings.HasSuffix(line, ", …") || strings.Contains(line, " OK ") {
		t.Errorf("the nearest line lists %d End events, OK among them: %v; want the 4 that ended with errors, then \"…\":\n%s", n, strings.Contains(line, " OK "), line)
	}

	// The server side: the NotFound and PermissionDenied ends first, then
	// the three OK ends as one.
	if grpctest.AssertOrder(spy, srv.Recorder(), grpctest.ServerEnds(codes.Canceled)) {
		t.Fatalf("AssertOrder returned true for a status that never happened")
	}
	line = nearestLine("nearest: the server End events end with other codes: ")
	want := regexp.MustCompile(`^event \d+ server end NotFound \("no"\) \(/grpc.testing.TestService/UnaryCall\), ` +
		`event \d+ server end PermissionDenied \("no"\) \(/grpc.testing.TestService/UnaryCall\), ` +
		`event \d+ server end OK \(/grpc.testing.TestService/EmptyCall\) and 2 more like it$`)
	if !want.MatchString(line) {
		t.Errorf("the nearest line is\n%s\nwant it to match %s", line, want)
	}
	spy.End()
}

func countEnds(evs []recorder.Event) int {
	n := 0
	for _, e := range evs {
		if e.Kind == recorder.End {
			n++
		}
	}
	return n
}

// A step's message matches an event's as AssertMessages compares them: an
// Any is compared by what it holds, not by its packed bytes, whose map
// order is the packer's choice. (proto.Equal alone said they differ.)
func TestStepsCompareAnyByContents(t *testing.T) {
	pack := func(keys ...string) *anypb.Any {
		var value []byte
		for _, k := range keys { // a map field's entries concatenate
			b, err := proto.Marshal(&structpb.Struct{Fields: map[string]*structpb.Value{k: structpb.NewBoolValue(true)}})
			if err != nil {
				t.Fatal(err)
			}
			value = append(value, b...)
		}
		return &anypb.Any{TypeUrl: "type.googleapis.com/google.protobuf.Struct", Value: value}
	}
	rec := recorder.New()
	cs := rec.WrapClientStream(nopClientStream{}, nil, fullDuplex)
	if err := cs.SendMsg(pack("a", "b")); err != nil {
		t.Fatal(err)
	}
	spy := spytb.New(t)
	same, other := pack("b", "a"), pack("a", "c")
	if !grpctest.AssertMessages(spy, []any{same}, []any{rec.Calls()[0].Requests()[0]}) ||
		!grpctest.AssertOrder(spy, rec, grpctest.ClientSends(same)) {
		t.Errorf("the same Struct packed in another order does not match:\n%s", spy.Text())
	}
	if grpctest.AssertOrder(spy, rec, grpctest.ClientSends(other)) {
		t.Errorf("AssertOrder matched an Any holding other contents")
	}
	spy.Want(t, 1, "ClientSends", `"c"`)
}

// AssertOrderWithin waits for events still to come, returns as soon as they
// are recorded, and reports as AssertOrder does when they do not come.
func TestAssertOrderWithin(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	req := &testgrpc.SimpleRequest{ResponseSize: 3}
	steps := []grpctest.Step{grpctest.ClientSends(req), grpctest.ServerReceives(req), grpctest.Ends(codes.OK), grpctest.Ends(codes.OK)}
	waiting := grpctest.Go(t, func() (bool, error) {
		return grpctest.AssertOrderWithin(spy, srv.Recorder(), time.Minute, steps...), nil
	})
	if !waiting.AssertBlocked(blockFor) {
		t.Fatal("AssertOrderWithin returned before the call was made")
	}
	if _, err := client(srv).UnaryCall(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if ok, err := waiting.Wait(10 * time.Second); !ok || err != nil {
		t.Errorf("AssertOrderWithin = %v, %v once the events were recorded, want true", ok, err)
	}
	spy.WantClean(t)

	// Events that never come: the report says how long it waited.
	spy = spytb.New(t)
	if grpctest.AssertOrderWithin(spy, srv.Recorder(), blockFor, grpctest.ClientSends(req), grpctest.Ends(codes.Internal)) {
		t.Error("AssertOrderWithin passed on an End that never happened")
	}
	spy.Want(t, 1, "grpctest: order: step 2 of 2, Ends(Internal), not found within 50ms after event 2 (client send", "recorded timeline:")
	if !spy.Run(func() { grpctest.RequireOrderWithin(spy, srv.Recorder(), blockFor, grpctest.Ends(codes.Internal)) }).FailedNow {
		t.Error("RequireOrderWithin did not stop the test")
	}
	spy.Want(t, 2, "step 1 of 1, Ends(Internal), not found within 50ms in the")

	// An End that does not come: the report does not suggest waiting.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if _, err := client(srv).FullDuplexCall(ctx); err != nil {
		t.Fatal(err)
	}
	spy = spytb.New(t)
	grpctest.AssertOrderWithin(spy, srv.Recorder(), blockFor, grpctest.Ends(codes.Canceled))
	if r := spy.Want(t, 1, "still not ended 50ms after AssertOrderWithin began: call 2 client", "(end or cancel the call)"); strings.Contains(r.Msg, "AssertOrderWithin waits") {
		t.Errorf("AssertOrderWithin's failure recommends AssertOrderWithin:\n%s", r.Msg)
	}

	// Misuse.
	for _, tc := range []struct {
		name string
		call func(*spytb.TB) bool
		want string
	}{
		{"d <= 0", func(s *spytb.TB) bool {
			return grpctest.AssertOrderWithin(s, srv.Recorder(), 0, grpctest.Ends(codes.OK))
		}, "grpctest.AssertOrderWithin: d = 0s: pass how long to wait"},
		{"nil recorder", func(s *spytb.TB) bool {
			return grpctest.AssertOrderWithin(s, nil, time.Second, grpctest.Ends(codes.OK))
		}, "grpctest.AssertOrderWithin: the recorder is nil"},
		{"no steps", func(s *spytb.TB) bool { return grpctest.AssertOrderWithin(s, srv.Recorder(), time.Second) }, "grpctest.AssertOrderWithin: no steps given"},
	} {
		s := spytb.New(t)
		if tc.call(s) {
			t.Errorf("%s: AssertOrderWithin returned true", tc.name)
		}
		s.Want(t, 1, tc.want)
	}
}

// A call whose server half ends OK while its client gets an error (a
// response over the client's receive limit): Ends(OK) matches the
// server's End, ClientEnds and ServerEnds tell the halves apart, and a
// failed ClientEnds lists only client Ends as its nearest misses.
func TestClientEndsAndServerEnds(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	req := &testgrpc.SimpleRequest{ResponseSize: 2048}
	_, err := client(srv).UnaryCall(t.Context(), req, grpc.MaxCallRecvMsgSize(1024))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("UnaryCall: %v, want ResourceExhausted", err)
	}
	r := srv.Recorder()
	waitFor(t, r, func(e recorder.Event) bool { return e.Side == recorder.Server && e.Kind == recorder.End })
	for _, steps := range [][]grpctest.Step{
		{grpctest.ClientSends(req), grpctest.Ends(codes.OK)},
		{grpctest.ClientSends(req), grpctest.ServerEnds(codes.OK)},
		{grpctest.ClientSends(req), grpctest.ClientEnds(codes.ResourceExhausted)},
	} {
		if !grpctest.AssertOrder(spy, r, steps...) {
			t.Errorf("AssertOrder(%v) returned false", steps)
		}
	}
	spy.WantClean(t)

	if grpctest.AssertOrder(spy, r, grpctest.ClientSends(req), grpctest.ClientEnds(codes.OK)) {
		t.Errorf("AssertOrder(ClientEnds(OK)) returned true for a call whose client got ResourceExhausted")
	}
	rep := spy.Want(t, 1, "ClientEnds(OK)", "nearest: the client End events after event 2 end with other codes: event ", " client end ResourceExhausted")
	if strings.Contains(rep.Msg, "server end OK") {
		t.Errorf("the nearest misses of ClientEnds list the server's End:\n%s", rep.Msg)
	}
	if grpctest.AssertOrder(spy, r, grpctest.ServerEnds(codes.ResourceExhausted)) {
		t.Errorf("AssertOrder(ServerEnds(ResourceExhausted)) returned true for a server half that ended OK")
	}
	spy.Want(t, 2, "ServerEnds(ResourceExhausted)", "nearest: the server End events end with other codes: event ", " server end OK")
}

// A ClientEnds step of a call whose client half has not ended says so,
// naming the half.
func TestClientEndsOfAnOpenCall(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stream, err := client(srv).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := srv.Recorder().CallID(stream.Context())
	if grpctest.AssertOrder(spy, srv.Recorder(), grpctest.InCall(id, grpctest.ClientEnds(codes.OK))) {
		t.Errorf("AssertOrder returned true for a call still open")
	}
	spy.Want(t, 1, "the call has no client End event: its client half had not ended")
	cancel()
}

// A failure over a long timeline shows it cut down: the first and last
// events, and those around the event the previous step matched, with the
// runs left out counted.
func TestAssertOrderCutsALongTimeline(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	stream, err := client(srv).StreamingInputCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	reqs := make([]*testgrpc.StreamingInputCallRequest, 300)
	for i := range reqs {
		reqs[i] = &testgrpc.StreamingInputCallRequest{Payload: &testgrpc.Payload{Body: []byte(fmt.Sprint(i))}}
		if err := stream.Send(reqs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	r := srv.Recorder()
	waitFor(t, r, func(e recorder.Event) bool { return e.Side == recorder.Server && e.Kind == recorder.End })
	var sent recorder.Event
	for _, e := range r.Events() {
		if e.Side == recorder.Client && e.Kind == recorder.Send && proto.Equal(e.Msg.(proto.Message), reqs[150]) {
			sent = e
		}
	}
	if grpctest.AssertOrder(spy, r, grpctest.ClientSends(reqs[150]), grpctest.ServerSends(&testgrpc.StreamingInputCallResponse{AggregatedPayloadSize: 999})) {
		t.Fatal("AssertOrder returned true")
	}
	rep := spy.Want(t, 1, "events: the first 20, the last 40 and those around the events in question are shown", "events left out")
	if !strings.Contains(rep.Msg, fmt.Sprintf("\n%5d  call 1", sent.Seq)) {
		t.Errorf("the cut timeline leaves out event %d, which the first step matched:\n%s", sent.Seq, rep.Msg)
	}
	if strings.Contains(rep.Msg, fmt.Sprintf("\n%5d  call 1", sent.Seq-60)) {
		t.Errorf("the cut timeline shows event %d, far from the events in question:\n%s", sent.Seq-60, rep.Msg)
	}
	if n := strings.Count(rep.Msg, "\n"); n > 200 {
		t.Errorf("the report has %d lines, want the timeline cut short", n)
	}
}

// With compares a step's message with cmp options: a field the test
// cannot know is ignored, and the nearest miss's diff ignores it too.
func TestWithComparesWithOptions(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	sent := &testgrpc.SimpleRequest{ResponseSize: 3, Payload: &testgrpc.Payload{Body: []byte(fmt.Sprint(time.Now().UnixNano()))}}
	if _, err := client(srv).UnaryCall(t.Context(), sent); err != nil {
		t.Fatal(err)
	}
	r := srv.Recorder()
	waitFor(t, r, func(e recorder.Event) bool { return e.Side == recorder.Server && e.Kind == recorder.End })
	ignorePayload := protocmp.IgnoreFields(&testgrpc.SimpleRequest{}, "payload")
	want := &testgrpc.SimpleRequest{ResponseSize: 3}
	if !grpctest.AssertOrder(spy, r, grpctest.With(grpctest.ClientSends(want), ignorePayload), grpctest.With(grpctest.ServerReceives(want), ignorePayload)) {
		t.Errorf("AssertOrder with the payload ignored returned false")
	}
	id := r.Calls()[0].ID()
	if !grpctest.AssertOrder(spy, r, grpctest.With(grpctest.InCall(id, grpctest.ClientSends(want)), ignorePayload)) {
		t.Errorf("AssertOrder with InCall inside With returned false")
	}
	spy.WantClean(t)
	if grpctest.AssertOrder(spy, r, grpctest.ClientSends(want)) {
		t.Errorf("AssertOrder without the option returned true")
	}
	spy.Want(t, 1, "ClientSends(")
	if grpctest.AssertOrder(spy, r, grpctest.With(grpctest.ClientSends(&testgrpc.SimpleRequest{ResponseSize: 4}), ignorePayload)) {
		t.Errorf("AssertOrder with another response size returned true")
	}
	rep := spy.Want(t, 2, "With(ClientSends(", "1 cmp option(s))", "mismatch (-want +got)", "response_size")
	if strings.Contains(rep.Msg, "payload") && strings.Contains(rep.Msg[:strings.Index(rep.Msg, "recorded timeline:")], "body") {
		t.Errorf("the nearest miss's diff shows the ignored payload:\n%s", rep.Msg)
	}
}

// With on a step it cannot apply to gives a step that AssertOrder reports
// as a misuse.
func TestWithMisuse(t *testing.T) {
	msg := &testgrpc.SimpleRequest{ResponseSize: 1}
	for _, tc := range []struct {
		name string
		step grpctest.Step
		want string
	}{
		{"Ends", grpctest.With(grpctest.Ends(codes.OK), protocmp.IgnoreEmptyMessages()), "step 1, With(Ends(OK), ...): the step compares no message"},
		{"any message", grpctest.With(grpctest.ClientSends(nil), protocmp.IgnoreEmptyMessages()), "the step matches any message"},
		{"nil", grpctest.With(nil), "With(nil, ...): With needs a message step"},
		{"struct options", grpctest.With(grpctest.ClientSends(msg), cmpopts.IgnoreFields(testgrpc.SimpleRequest{}, "Payload")), "use protocmp.IgnoreFields"},
		{"in a call", grpctest.With(grpctest.InCall(1, grpctest.ClientCloses()), protocmp.IgnoreEmptyMessages()), "the step compares no message"},
		{"InCall around it", grpctest.InCall(1, grpctest.With(grpctest.ClientSends(nil), protocmp.IgnoreEmptyMessages())), "the step matches any message"},
		{"InCall around struct options", grpctest.InCall(1, grpctest.With(grpctest.ClientSends(msg), cmpopts.IgnoreFields(testgrpc.SimpleRequest{}, "Payload"))), "use protocmp.IgnoreFields"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			if grpctest.AssertOrder(spy, recorder.New(), tc.step) {
				t.Errorf("AssertOrder returned true")
			}
			spy.Want(t, 1, "grpctest.AssertOrder: ", tc.want)
			if grpctest.AssertNever(spy, recorder.New(), tc.step) {
				t.Errorf("AssertNever returned true")
			}
			spy.Want(t, 2, "grpctest.AssertNever: ", tc.want)
		})
	}
}

// A long list of matched steps is cut: its head, a count, and the steps
// just before the one not found.
func TestAssertOrderCapsMatchedSoFar(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	var steps []grpctest.Step
	for range 30 {
		if _, err := client(srv).EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, grpctest.ClientEnds(codes.OK))
	}
	steps = append(steps, grpctest.Ends(codes.Internal))
	grpctest.AssertOrder(spy, srv.Recorder(), steps...)
	r := spy.Want(t, 1, "step 31 of 31, Ends(Internal), not found", "matched so far:\n  step 1 ClientEnds(OK) = event",
		"  step 5 ClientEnds(OK) = event", "\n  … steps 6 to 15 matched too\n  step 16 ClientEnds(OK) = event", "  step 30 ClientEnds(OK) = event")
	if n := strings.Count(r.Msg, "ClientEnds(OK) = event"); n != 20 {
		t.Errorf("%d matched steps listed, want 20:\n%s", n, r.Msg)
	}
	spy.End()
}

// An assertion given a recorder that recorded nothing, while the test's
// harness recorded into its own, says so; given the harness's, it passes.
func TestAssertOrderNamesTheHarnesssRecorderWhenGivenAnEmptyOne(t *testing.T) {
	spy := spytb.New(t)
	srv, reqs, _ := pingPong(t, spy)
	if !grpctest.AssertOrder(spy, srv.Recorder(), grpctest.ClientSends(reqs[0])) {
		t.Errorf("AssertOrder returned false on the harness's recorder")
	}
	if grpctest.AssertOrder(spy, recorder.New(), grpctest.ClientSends(reqs[0])) {
		t.Errorf("AssertOrder returned true on an empty recorder")
	}
	n := len(srv.Recorder().Events())
	spy.Want(t, 1, "not found in the 0 recorded events",
		fmt.Sprintf("the recorder given recorded nothing, but a harness of this test (NewServer) records into another one, whose Server.Recorder() holds %d events: was the assertion given the wrong recorder?", n))
	// An empty recorder the test's harness records into gets no such hint.
	empty := recorder.New()
	spy2 := spytb.New(t)
	grpctest.NewServer(spy2, interopService, grpctest.WithRecorder(empty))
	grpctest.AssertOrder(spy2, empty, grpctest.ClientSends(nil))
	if r := spy2.Want(t, 1, "not found in the 0 recorded events"); strings.Contains(r.Msg, "wrong recorder") {
		t.Errorf("the hint names the harness's own recorder:\n%s", r.Msg)
	}
	spy.End()
	spy2.End()
}

type notAProto struct{ Name string }

// A message step of a type no event of its side and kind holds says so,
// instead of diffing messages of two types.
func TestAssertOrderSaysNoEventHoldsTheStepsType(t *testing.T) {
	spy := spytb.New(t)
	srv, reqs, ress := pingPong(t, spy)
	if !grpctest.AssertOrder(spy, srv.Recorder(), grpctest.ServerSends(ress[0])) {
		t.Errorf("AssertOrder returned false on a recorded response")
	}
	for i, tc := range []struct {
		step grpctest.Step
		want string
	}{
		{grpctest.ServerSends(&notAProto{Name: "x"}), "none of the events searched of that kind holds a *grpctest_test.notAProto, the step's type: they hold grpc.testing.StreamingOutputCallResponse (the first at event 5); a step matches only a message of the type that was sent or received"},
		{grpctest.ServerSends(reqs[0]), "none of the events searched of that kind holds a grpc.testing.StreamingOutputCallRequest, the step's type: they hold grpc.testing.StreamingOutputCallResponse"},
	} {
		if grpctest.AssertOrder(spy, srv.Recorder(), tc.step) {
			t.Errorf("AssertOrder(%v) returned true", tc.step)
		}
		if r := spy.Want(t, i+1, tc.want); strings.Contains(r.Msg, "mismatch (-want +got)") {
			t.Errorf("the report diffs messages of two types:\n%s", r.Msg)
		}
	}
	spy.End()
}

// The metadata steps match the server's request metadata and the client's
// header and trailer by the keys they name (other keys may be there), and
// a failed one names the first key that differs.
func TestMetadataSteps(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	trailing := string([]byte{0x0a, 0x0b})
	ctx := metadata.NewOutgoingContext(t.Context(), metadata.Pairs(
		"x-user", "ana",
		"x-grpc-test-echo-initial", "hello", // the interop server echoes it in its header
		"x-grpc-test-echo-trailing-bin", trailing, // and this one in its trailer
	))
	if _, err := client(srv).UnaryCall(ctx, &testgrpc.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client(srv).EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Recorder().Wait(t.Context(), func(evs []recorder.Event) bool { return countEnds(evs) == 4 }); err != nil {
		t.Fatal(err)
	}
	rec := srv.Recorder()
	if !grpctest.AssertOrder(spy, rec,
		grpctest.ServerReceivesMetadata(metadata.Pairs("x-user", "ana")),
		grpctest.ClientReceivesHeader(metadata.Pairs("x-grpc-test-echo-initial", "hello")),
		grpctest.ClientReceivesTrailer(metadata.Pairs("x-grpc-test-echo-trailing-bin", trailing)),
		grpctest.ClientEnds(codes.OK)) {
		t.Errorf("AssertOrder returned false on the call's metadata")
	}
	// Keys are matched lower case; a key without values matches any; nil
	// matches any metadata.
	if !grpctest.AssertOrder(spy, rec,
		grpctest.ServerReceivesMetadata(metadata.MD{"X-User": nil}),
		grpctest.ClientReceivesHeader(nil), grpctest.ClientReceivesTrailer(nil)) {
		t.Errorf("AssertOrder returned false on keys without values and nil metadata")
	}
	spy.WantClean(t)

	for i, tc := range []struct {
		step grpctest.Step
		want []string
	}{
		{grpctest.ClientReceivesTrailer(metadata.Pairs("x-grpc-test-echo-trailing-bin", "zz")), []string{
			`step 1 of 1, ClientReceivesTrailer(md{x-grpc-test-echo-trailing-bin:"zz"}), not found`,
			`nearest: the client trailer events hold other metadata: event `,
			`(x-grpc-test-echo-trailing-bin: want ["zz"], got ["\n\v"])`}},
		{grpctest.ServerReceivesMetadata(metadata.Pairs("x-user", "bob")), []string{
			`nearest: the server begin events hold other metadata: event `,
			`(x-user: want ["bob"], got ["ana"])`, `(no x-user)`}},
		// The recorder's call-id header is not part of what was recorded.
		{grpctest.ServerReceivesMetadata(metadata.MD{recorder.CallIDHeader: nil}), []string{
			"(no " + recorder.CallIDHeader + ")"}},
		{grpctest.InCall(2, grpctest.ClientReceivesTrailer(nil)), []string{
			"InCall(2, ClientReceivesTrailer(any metadata))",
			"no client trailer event was recorded in the call (a call records a trailer only when the server set one: an empty trailer is none)"}},
		{grpctest.InCall(101, grpctest.ClientReceivesHeader(nil)), []string{"no event of call 101 was recorded (Recorder.Calls gives the ids"}},
		// A step on a key of gRPC's own shows it, and the event's value.
		{grpctest.ServerReceivesMetadata(metadata.Pairs("user-agent", "curl")), []string{
			`ServerReceivesMetadata(md{user-agent:"curl"})`, `(user-agent: want ["curl"], got ["grpc-go/`}},
		// A key given twice, in two cases, is one key with both values,
		// upper case first.
		{grpctest.ClientReceivesHeader(metadata.MD{"x-a": {"2"}, "X-A": {"1"}, "x-b": nil}), []string{
			`ClientReceivesHeader(md{x-a:["1" "2"] x-b:any})`}},
	} {
		if grpctest.AssertOrder(spy, rec, tc.step) {
			t.Errorf("AssertOrder(%v) returned true", tc.step)
		}
		spy.Want(t, i+1, tc.want...)
	}
	spy.End()
}

// A call that fails before its server sent anything gets its status in a
// trailers-only response, whose content-type gRPC gives the client as
// trailer metadata: no trailer step matches it (ClientReceivesTrailer(nil)
// did), as the server set no trailer; one the server set, before it
// failed, is matched by its keys.
func TestTrailerStepsOnATrailersOnlyResponse(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	fail := &testgrpc.SimpleRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.NotFound), Message: "no"}}
	if _, err := client(srv).UnaryCall(t.Context(), fail); status.Code(err) != codes.NotFound {
		t.Fatalf("UnaryCall: %v, want NotFound", err)
	}
	rec := srv.Recorder()
	if !grpctest.AssertNever(spy, rec, grpctest.ClientReceivesTrailer(nil)) {
		t.Errorf("AssertNever(ClientReceivesTrailer(nil)) failed on a call whose server set no trailer")
	}
	spy.WantClean(t)

	ctx := metadata.AppendToOutgoingContext(t.Context(), "x-grpc-test-echo-trailing-bin", "\x01") // the interop server sets it as its trailer
	if _, err := client(srv).UnaryCall(ctx, fail); status.Code(err) != codes.NotFound {
		t.Fatalf("UnaryCall: %v, want NotFound", err)
	}
	if grpctest.AssertNever(spy, rec, grpctest.ClientReceivesTrailer(nil)) {
		t.Errorf("AssertNever(ClientReceivesTrailer(nil)) passed on a call whose server set a trailer")
	}
	spy.Want(t, 1, "ClientReceivesTrailer(any metadata)")
	if !grpctest.AssertOrder(spy, rec, grpctest.InCall(2, grpctest.ClientReceivesTrailer(metadata.Pairs("x-grpc-test-echo-trailing-bin", "\x01")))) {
		t.Errorf("the trailer the server set is not matched")
	}
	spy.End()
}

// nilDynSender's handler sends a nil *dynamicpb.Message, whose methods
// panic: the recorder records it as given, and gRPC's codec panics (the
// harness recovers it).
type nilDynSender struct {
	testgrpc.UnimplementedTestServiceServer
}

func (nilDynSender) StreamingOutputCall(_ *testgrpc.StreamingOutputCallRequest, stream testgrpc.TestService_StreamingOutputCallServer) error {
	var d *dynamicpb.Message
	return stream.SendMsg(d)
}

// An event holding a message of no type matches no message step, and a
// failure's nearest miss and type note pass over it instead of panicking.
func TestAssertOrderOverAnEventOfNoMessageType(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(nilDynSender{}))
	stream, err := client(srv).StreamingOutputCall(t.Context(), &testgrpc.StreamingOutputCallRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Internal {
		t.Fatalf("Recv: %v, want Internal (the handler's panic)", err)
	}
	srv.Close()
	spy.Want(t, 1, "panicked")
	check := spytb.New(t)
	if !grpctest.AssertOrder(check, srv.Recorder(), grpctest.ServerSends(nil)) {
		t.Errorf("ServerSends(nil) did not match the Send of the nil *dynamicpb.Message")
	}
	for i, step := range []grpctest.Step{
		grpctest.ServerSends(&testgrpc.StreamingOutputCallResponse{}),
		grpctest.With(grpctest.ServerSends(&testgrpc.StreamingOutputCallResponse{}), protocmp.IgnoreEmptyMessages()),
	} {
		if grpctest.AssertOrder(check, srv.Recorder(), step) {
			t.Errorf("AssertOrder(%v) returned true", step)
		}
		check.Want(t, i+1, "not found", "<nil *dynamicpb.Message>")
	}
}

// A message step matches only a message that was sent: a Send that failed
// (the client sent on after the server had ended the call) is left out,
// and the failure says that the event holds the message but failed. A
// Send of another message, failed or not, gets no such note.
func TestAssertOrderNotesAFailedSendOfTheMessage(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	stream, err := client(srv).FullDuplexCall(spy.Context())
	if err != nil {
		t.Fatal(err)
	}
	bad := &testgrpc.StreamingOutputCallRequest{
		ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.InvalidArgument), Message: "bad batch"},
	}
	again := &testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: []byte("again")}}
	if err := stream.Send(bad); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Recv: %v, want InvalidArgument", err)
	}
	if err := stream.Send(again); err != io.EOF {
		t.Fatalf("Send after the call ended: %v, want io.EOF", err)
	}
	r := srv.Recorder()

	if grpctest.AssertOrder(spy, r, grpctest.ServerEnds(codes.InvalidArgument), grpctest.ClientSends(again)) {
		t.Error("AssertOrder matched a Send that failed")
	}
	rep := spy.Want(t, 1, "step 2 of 2, ClientSends(", "not found after event ",
		") holds such a message, but failed: io.EOF; message steps match only the Sends and Recvs that succeeded (a Step of your own can match a failed one: see Step)")
	if !regexp.MustCompile(`event (\d+) \(client send /grpc.testing.TestService/FullDuplexCall\) holds such a message`).MatchString(rep.Msg) {
		t.Errorf("the note does not name the failed Send's event:\n%s", rep.Msg)
	}

	// Another message: the failed Send is not it.
	other := &testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: []byte("other")}}
	spy2 := spytb.New(t)
	if grpctest.AssertOrder(spy2, r, grpctest.ClientSends(other)) {
		t.Error("AssertOrder matched a message never sent")
	}
	if rep := spy2.Want(t, 1, "step 1 of 1, ClientSends("); strings.Contains(rep.Msg, "but failed") {
		t.Errorf("the failure notes a failed Send of another message:\n%s", rep.Msg)
	}
	spy.End()
	spy.Want(t, 1) // Close found nothing more
}

// echoReq is a request textEcho echoes (its payload; the status, which
// only the recorder sees, makes a second field to differ in).
func echoReq(body string, st *testgrpc.EchoStatus) *testgrpc.StreamingOutputCallRequest {
	return &testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: []byte(body)}, ResponseStatus: st}
}

// echoAll makes a FullDuplexCall that sends each of reqs and reads the one
// response the service gives to each (textEcho's echo, or interop's for a
// request of one response size), then half-closes and reads io.EOF. It
// returns the stream's context, for Recorder.CallID.
func echoAll(t *testing.T, c testgrpc.TestServiceClient, reqs ...*testgrpc.StreamingOutputCallRequest) context.Context {
	t.Helper()
	stream, err := c.FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range reqs {
		if err := stream.Send(m); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("Recv after CloseSend: %v, want io.EOF", err)
	}
	return stream.Context()
}

// A message both changed and out of order: the nearest miss after the
// previous step's event is shown, and, when an event before it that no
// step took differs less (fewer fields), that one too, with its own diff.
func TestAssertOrderShowsANearerMissBeforeThePreviousStep(t *testing.T) {
	req := echoReq
	code := func(c int32) *testgrpc.EchoStatus { return &testgrpc.EchoStatus{Code: c} }
	for _, tc := range []struct {
		name        string
		first, last *testgrpc.StreamingOutputCallRequest // sent before "a", "b", and after them
		want        *testgrpc.StreamingOutputCallRequest // step 2's, after step 1's ClientSends("b")
		nearer      string                               // the body of the nearer miss shown, if any
	}{
		// One field off before, two after (the body and the status).
		{"nearer before", req("flush", nil), req("c", code(4)), req("flush", code(5)), "flush"},
		// Three lines off before, one after.
		{"nearest after", req("x", nil), req("flush", &testgrpc.EchoStatus{Code: 5, Message: "m"}), req("flush", code(5)), ""},
		// Step 1's own event, one field off, is not shown: it is taken.
		{"the nearer one is taken", req("x", nil), req("b", code(4)), req("b", code(5)), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			srv := grpctest.NewServer(spy, service(textEcho{}))
			echoAll(t, client(srv), tc.first, req("a", nil), req("b", nil), tc.last)
			if grpctest.AssertOrder(spy, srv.Recorder(), grpctest.ClientSends(req("b", nil)), grpctest.ClientSends(tc.want)) {
				t.Fatal("AssertOrder found a request that was not sent")
			}
			r := spy.Want(t, 1, "step 2 of 2", "nearest event of that kind, event ")
			// (cmp's diffs vary their spaces on purpose: look for words.)
			_, section, shown := strings.Cut(r.Msg, "nearer, but before")
			section, _, _ = strings.Cut(section, "recorded timeline:")
			header := regexp.MustCompile(`^ event \d+: event \d+ \(client send [^)]*\): mismatch \(-want \+got\):\n`)
			switch {
			case tc.nearer == "" && shown:
				t.Errorf("the report shows a nearer miss before the previous step's event, want none:\n%s", r.Msg)
			case tc.nearer != "" && (!shown || !header.MatchString(section) || !strings.Contains(section, strconv.Quote(tc.nearer)) || !strings.Contains(section, `"response_status"`)):
				t.Errorf("the report does not show the request %q as a nearer miss before the previous step's event:\n%s", tc.nearer, r.Msg)
			}
		})
	}
}

// The nearest miss is the message with the fewest differing lines (fields,
// elements), not the shortest diff: a long text in the one field that
// differs does not push it behind a message that differs everywhere.
func TestAssertOrderNearestHasTheFewestDifferences(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(textEcho{}))
	req := echoReq
	echoAll(t, client(srv), req("x", nil), req("flush", &testgrpc.EchoStatus{Code: 5, Message: strings.Repeat("m", 300)}))
	if grpctest.AssertOrder(spy, srv.Recorder(), grpctest.ClientSends(req("flush", &testgrpc.EchoStatus{Code: 5}))) {
		t.Fatal("AssertOrder found a request that was not sent")
	}
	r := spy.Want(t, 1, "nearest event of that kind, event ")
	if _, d, _ := strings.Cut(r.Msg, "mismatch (-want +got):"); !strings.Contains(strings.Split(d, "recorded timeline:")[0], `"message": string("mmmmmmmm`) {
		t.Errorf("the nearest miss is not the request that differs in its status's message only:\n%s", r.Msg)
	}
}

// A step of a side the recorder holds no event of says that side was not
// recorded: a fakes.ServerStream records its handler's side only (the
// test plays the client), a fakes.ClientStream the code's side only.
func TestAssertOrderSaysASideWasNotRecorded(t *testing.T) {
	req := &testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: []byte("r")}}

	rec := recorder.New()
	ss := fakes.NewServerStream[testgrpc.StreamingOutputCallRequest, testgrpc.StreamingOutputCallResponse](
		t.Context(), fakes.WithRecorder(rec), fakes.WithMethod("grpc.testing.TestService/FullDuplexCall"))
	ss.Push(req)
	ss.CloseSend()
	ss.End(textEcho{}.FullDuplexCall(ss))
	if spy := spytb.New(t); !grpctest.AssertOrder(spy, rec, grpctest.ServerReceives(req), grpctest.ServerEnds(codes.OK)) {
		t.Errorf("the handler's side of a fake server stream:\n%s", spy.Text())
	}
	spy := spytb.New(t)
	if grpctest.AssertOrder(spy, rec, grpctest.ServerReceives(req), grpctest.ClientCloses()) {
		t.Error("AssertOrder matched a client event on a recorder that holds none")
	}
	spy.Want(t, 1, "step 2 of 2, ClientCloses()", "no event of the client side was recorded, only the server's", "fakes.ServerStream")

	rec = recorder.New()
	cs := fakes.NewClientStream[testgrpc.StreamingOutputCallRequest, testgrpc.StreamingOutputCallResponse](
		t.Context(), fakes.WithRecorder(rec), fakes.WithMethod("grpc.testing.TestService/FullDuplexCall"))
	if err := cs.Send(req); err != nil {
		t.Fatal(err)
	}
	spy = spytb.New(t)
	if grpctest.AssertOrder(spy, rec, grpctest.ServerReceives(req)) {
		t.Error("AssertOrder matched a server event on a recorder that holds none")
	}
	spy.Want(t, 1, "step 1 of 1, ServerReceives(", "no event of the server side was recorded, only the client's", "fakes.ClientStream")

	// A side that was recorded gets no such note.
	spy = spytb.New(t)
	if grpctest.AssertOrder(spy, rec, grpctest.ClientSends(&testgrpc.StreamingOutputCallRequest{})) {
		t.Error("AssertOrder matched a request never sent")
	}
	if r := spy.Want(t, 1, "step 1 of 1, ClientSends("); strings.Contains(r.Msg, "was recorded, only") {
		t.Errorf("the note about a side not recorded, on a side recorded:\n%s", r.Msg)
	}
	cs.Finish(nil)
}

// The nearer miss before the previous step's event is of the step's type:
// a message of another type (an earlier call of another method) is not
// near because its diff lists little but the two types.
func TestAssertOrderNearerMissBeforeIsOfTheStepsType(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(textEcho{}))
	c := client(srv)
	if _, err := c.UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	req := echoReq
	echoAll(t, c, req("a", nil), req("c", &testgrpc.EchoStatus{Message: "x"}))
	if grpctest.AssertOrder(spy, srv.Recorder(), grpctest.ClientSends(req("a", nil)), grpctest.ClientSends(req("flush", &testgrpc.EchoStatus{Code: 5, Message: "y"}))) {
		t.Fatal("AssertOrder found a request that was not sent")
	}
	r := spy.Want(t, 1, "step 2 of 2", "nearest event of that kind, event ")
	if strings.Contains(r.Msg, "nearer, but before") {
		t.Errorf("the report shows a message of another type as a nearer miss:\n%s", r.Msg)
	}
}
