package recorder_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/streamtest/streamtest/recorder"
)

// echoServer answers each FullDuplexCall request with a response carrying
// the request's payload, and counts StreamingInputCall payload bytes.
type echoServer struct {
	testpb.UnimplementedTestServiceServer
	sawCallID chan bool // if not nil, reports whether a handler saw the call-id header
}

func (s *echoServer) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	if s.sawCallID != nil {
		md, _ := metadata.FromIncomingContext(stream.Context())
		s.sawCallID <- len(md.Get(recorder.CallIDHeader)) > 0
	}
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: req.GetPayload()}); err != nil {
			return err
		}
	}
}

func (s *echoServer) StreamingInputCall(stream testpb.TestService_StreamingInputCallServer) error {
	n := 0
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: int32(n)})
		}
		if err != nil {
			return err
		}
		n += len(req.GetPayload().GetBody())
	}
}

func (s *echoServer) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return &testpb.SimpleResponse{Payload: req.GetPayload()}, nil
}

func registerEcho(s *grpc.Server) { testpb.RegisterTestServiceServer(s, &echoServer{}) }

func payload(body string) *testpb.Payload { return &testpb.Payload{Body: []byte(body)} }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestMutationAfterSendLeavesRecordUnchanged(t *testing.T) {
	rec := recorder.New()
	p := newPair(t, bufnet, rec, rec, registerEcho)
	ctx := ctxT(t)
	stream, err := testpb.NewTestServiceClient(p.conn).StreamingInputCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msg := &testpb.StreamingInputCallRequest{Payload: payload("first")}
	if err := stream.Send(msg); err != nil {
		t.Fatal(err)
	}
	msg.Payload.Body[0] = 'X' // mutate in place, then reuse the message
	msg.Payload.Body = append(msg.Payload.Body, "-more"...)
	if err := stream.Send(msg); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	if err := rec.Wait(ctx, allEnded); err != nil {
		t.Fatal(err)
	}
	reqs := rec.Calls()[0].Requests()
	want := []string{"first", "Xirst-more"}
	if len(reqs) != len(want) {
		t.Fatalf("got %d requests, want %d", len(reqs), len(want))
	}
	for i, r := range reqs {
		if got := string(r.(*testpb.StreamingInputCallRequest).GetPayload().GetBody()); got != want[i] {
			t.Errorf("request %d recorded as %q, want %q", i, got, want[i])
		}
	}
	// Events hands out fresh copies: changing one changes nothing recorded.
	reqs[0].(*testpb.StreamingInputCallRequest).Payload.Body[0] = 'Z'
	if got := string(rec.Calls()[0].Requests()[0].(*testpb.StreamingInputCallRequest).GetPayload().GetBody()); got != "first" {
		t.Errorf("modifying a snapshot changed the record: %q", got)
	}
}

func TestWithLimitKeepsLastEvents(t *testing.T) {
	const sends, limit = 1000, 8
	rec := recorder.New(recorder.WithLimit(limit))
	p := newPair(t, bufnet, nil, rec, registerEcho)
	ctx := ctxT(t)
	stream, err := testpb.NewTestServiceClient(p.conn).StreamingInputCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rec.Reset() // forget Begin: from here on exactly `sends` events
	for i := range sends {
		if err := stream.Send(&testpb.StreamingInputCallRequest{Payload: payload(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	events := rec.Events()
	if got := rec.Dropped(); got != sends-limit {
		t.Errorf("Dropped() = %d, want %d", got, sends-limit)
	}
	if len(events) != limit {
		t.Fatalf("kept %d events, want %d", len(events), limit)
	}
	for i, e := range events {
		want := fmt.Sprint(sends - limit + i)
		got := string(e.Msg.(*testpb.StreamingInputCallRequest).GetPayload().GetBody())
		if e.Kind != recorder.Send || got != want {
			t.Errorf("event %d: %v %q, want send %q", i, e.Kind, got, want)
		}
	}
	wantNote := fmt.Sprintf("  (%d earlier events dropped: WithLimit(%d) keeps the newest)\n", sends-limit, limit)
	if s := rec.String(); !strings.HasPrefix(s, wantNote) || strings.Count(s, "\n") != limit+1 {
		t.Errorf("String() does not begin with the note %q and then one line per kept event:\n%s", wantNote, s)
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	rec.Reset()
	if s := rec.String(); strings.Contains(s, "dropped") {
		t.Errorf("String() after Reset still notes dropped events:\n%s", s)
	}
	if rec.Dropped() != 0 || len(rec.Events()) != 0 {
		t.Errorf("after Reset: Dropped %d, %d events; want 0, 0", rec.Dropped(), len(rec.Events()))
	}
}

func TestWithMethodsRecordsOnlyThose(t *testing.T) {
	rec := recorder.New(recorder.WithMethods("/grpc.testing.TestService/UnaryCall"))
	p := newPair(t, bufnet, rec, rec, registerEcho)
	ctx := ctxT(t)
	tc := testpb.NewTestServiceClient(p.conn)
	stream, err := tc.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&testpb.StreamingOutputCallRequest{Payload: payload("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	stream.CloseSend()
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatal(err)
	}
	if got := rec.Events(); len(got) != 0 {
		t.Fatalf("recorded %d events of a filtered-out method:\n%s", len(got), recorder.Timeline(got))
	}
	if _, err := tc.UnaryCall(ctx, &testpb.SimpleRequest{Payload: payload("u")}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Wait(ctx, allEnded); err != nil {
		t.Fatal(err)
	}
	calls := rec.Calls()
	if len(calls) != 1 || calls[0].Method() != unaryCall {
		t.Fatalf("want exactly the unary call recorded, got:\n%s", rec)
	}
}

func TestWait(t *testing.T) {
	rec := recorder.New()
	p := newPair(t, bufnet, rec, rec, registerEcho)
	ctx := ctxT(t)
	stream, err := testpb.NewTestServiceClient(p.conn).StreamingInputCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	serverGot := func(n int) func([]recorder.Event) bool {
		return func(events []recorder.Event) bool {
			c := 0
			for _, e := range events {
				if e.Side == recorder.Server && e.Kind == recorder.Recv {
					c++
				}
			}
			return c >= n
		}
	}

	t.Run("returns when the condition holds", func(t *testing.T) {
		done := make(chan error, 1)
		go func() { done <- rec.Wait(ctx, serverGot(3)) }()
		for i := range 3 {
			select {
			case err := <-done:
				t.Fatalf("Wait returned %v after %d sends, before the condition held", err, i)
			default:
			}
			if err := stream.Send(&testpb.StreamingInputCallRequest{Payload: payload("m")}); err != nil {
				t.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			t.Fatalf("Wait = %v, want nil", err)
		}
	})

	t.Run("returns ctx.Err when the context ends first", func(t *testing.T) {
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- rec.Wait(wctx, serverGot(100)) }()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait = %v, want context.Canceled", err)
		}
		dctx, dcancel := context.WithTimeout(ctx, time.Millisecond)
		defer dcancel()
		if err := rec.Wait(dctx, serverGot(100)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait = %v, want context.DeadlineExceeded", err)
		}
	})

	t.Run("true at once returns nil even with a done context", func(t *testing.T) {
		dctx, dcancel := context.WithCancel(ctx)
		dcancel()
		if err := rec.Wait(dctx, serverGot(1)); err != nil {
			t.Fatalf("Wait = %v, want nil", err)
		}
	})

	t.Run("nil condition is an error", func(t *testing.T) {
		if err := rec.Wait(ctx, nil); err == nil {
			t.Fatal("Wait(nil) = nil, want an error")
		}
	})
	if _, err := stream.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentStreamsKeepPerCallOrder(t *testing.T) {
	const streams, msgs = 32, 50
	rec := recorder.New()
	p := newPair(t, bufnet, rec, rec, registerEcho)
	ctx := ctxT(t)
	tc := testpb.NewTestServiceClient(p.conn)
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for s := range streams {
		wg.Go(func() {
			stream, err := tc.FullDuplexCall(ctx)
			if err != nil {
				errs <- err
				return
			}
			for i := range msgs {
				body := fmt.Sprintf("%d/%d", s, i)
				if err := stream.Send(&testpb.StreamingOutputCallRequest{Payload: payload(body)}); err != nil {
					errs <- err
					return
				}
				if _, err := stream.Recv(); err != nil {
					errs <- err
					return
				}
			}
			stream.CloseSend()
			if _, err := stream.Recv(); err != io.EOF {
				errs <- fmt.Errorf("stream %d: final Recv = %v, want io.EOF", s, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := rec.Wait(ctx, allEnded); err != nil {
		t.Fatal(err)
	}
	calls := rec.Calls()
	if len(calls) != streams {
		t.Fatalf("got %d calls, want %d", len(calls), streams)
	}
	for _, c := range calls {
		reqs, resps := c.Requests(), c.Responses()
		if len(reqs) != msgs || len(resps) != msgs {
			t.Fatalf("call %d: %d requests, %d responses; want %d each", c.ID(), len(reqs), len(resps), msgs)
		}
		var stream int
		fmt.Sscanf(string(reqs[0].(*testpb.StreamingOutputCallRequest).GetPayload().GetBody()), "%d/", &stream)
		for i := range msgs {
			want := fmt.Sprintf("%d/%d", stream, i)
			if got := string(reqs[i].(*testpb.StreamingOutputCallRequest).GetPayload().GetBody()); got != want {
				t.Errorf("call %d request %d = %q, want %q", c.ID(), i, got, want)
			}
			if got := string(resps[i].(*testpb.StreamingOutputCallResponse).GetPayload().GetBody()); got != want {
				t.Errorf("call %d response %d = %q, want %q", c.ID(), i, got, want)
			}
		}
	}
	checkCausal(t, rec)
}

// callSeesHeader makes one FullDuplexCall through a pair recorded by srv
// and cli (either may be nil) and reports whether the handler saw
// CallIDHeader.
func callSeesHeader(t *testing.T, srv, cli *recorder.Recorder) bool {
	t.Helper()
	saw := make(chan bool, 1)
	p := newPair(t, bufnet, srv, cli, func(s *grpc.Server) {
		testpb.RegisterTestServiceServer(s, &echoServer{sawCallID: saw})
	})
	ctx := ctxT(t)
	stream, err := testpb.NewTestServiceClient(p.conn).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stream.CloseSend()
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatal(err)
	}
	for _, r := range []*recorder.Recorder{srv, cli} {
		if r != nil {
			if err := r.Wait(ctx, allEnded); err != nil {
				t.Fatal(err)
			}
		}
	}
	return <-saw
}

func TestCorrelationNeedsTheSameRecorder(t *testing.T) {
	// A recorder that records no server sends no header.
	if callSeesHeader(t, nil, recorder.New()) {
		t.Errorf("a recorder that records only clients sent %s", recorder.CallIDHeader)
	}

	// One that records a server too sends it...
	serving := recorder.New()
	_ = serving.StreamServerInterceptor()
	if !callSeesHeader(t, nil, serving) {
		t.Errorf("a recorder that records servers too sent no %s", recorder.CallIDHeader)
	}

	// ...and another recorder's server does not take its id, but strips it
	// from what the handler sees and from what it records.
	srvRec := recorder.New()
	if callSeesHeader(t, srvRec, serving) {
		t.Errorf("the handler saw another recorder's %s", recorder.CallIDHeader)
	}
	for _, r := range []*recorder.Recorder{srvRec, serving} {
		calls := r.Calls()
		last := calls[len(calls)-1]
		if last.Events()[0].Kind != recorder.Begin || len(last.Events()[0].MD.Get(recorder.CallIDHeader)) > 0 {
			t.Errorf("Begin = %v, want a Begin without %s", last.Events()[0], recorder.CallIDHeader)
		}
		for _, e := range last.Events() {
			if r == srvRec && e.Side != recorder.Server {
				t.Errorf("the server's recorder has a %s event", e.Side)
			}
		}
	}
	if n := len(srvRec.Calls()); n != 1 {
		t.Errorf("the server's recorder has %d calls, want 1", n)
	}

	// With one recorder both halves share the id and the handler never sees
	// the header.
	rec := recorder.New()
	if callSeesHeader(t, rec, rec) {
		t.Errorf("handler saw %s although the recorder strips it", recorder.CallIDHeader)
	}
	calls := rec.Calls()
	if len(calls) != 1 || len(calls[0].Events()) < 4 {
		t.Fatalf("one recorder on both sides: got %d calls, want 1 with both halves\n%s", len(calls), rec)
	}
	sides := map[recorder.Side]bool{}
	for _, e := range calls[0].Events() {
		sides[e.Side] = true
	}
	if !sides[recorder.Client] || !sides[recorder.Server] {
		t.Errorf("the call has events of %v only\n%s", sides, rec)
	}
}

func TestNilAndWrongTypedMessagesGiveErrorEvents(t *testing.T) {
	rec := recorder.New()
	p := newPair(t, bufnet, rec, rec, registerEcho)
	ctx := ctxT(t)
	desc := &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}

	for _, tc := range []struct {
		name string
		send any
	}{
		{"nil", nil},
		{"typed nil proto", (*testpb.StreamingOutputCallRequest)(nil)},
		{"not a proto message", 42},
	} {
		t.Run("send "+tc.name, func(t *testing.T) {
			rec.Reset()
			cs, err := p.conn.NewStream(ctx, desc, duplexCall)
			if err != nil {
				t.Fatal(err)
			}
			sendErr := cs.SendMsg(tc.send)
			var sends []recorder.Event
			for _, e := range rec.Events() {
				if e.Side == recorder.Client && e.Kind == recorder.Send {
					sends = append(sends, e)
				}
			}
			if len(sends) != 1 {
				t.Fatalf("got %d client send events, want 1\n%s", len(sends), rec)
			}
			if sendErr != nil && sends[0].Err == nil {
				t.Errorf("SendMsg returned %v but the event has no error", sendErr)
			}
			if tc.send == 42 && sendErr == nil {
				t.Errorf("SendMsg(42) succeeded; expected gRPC's proto codec to reject it")
			}
			if tc.send == nil && sends[0].Msg != nil {
				t.Errorf("SendMsg(nil) recorded %v, want a nil message", sends[0].Msg)
			}
			_ = recorder.Timeline(rec.Events()) // renders without panicking
			cs.CloseSend()
			for cs.RecvMsg(new(testpb.StreamingOutputCallResponse)) == nil {
			}
		})
	}

	t.Run("recv into the wrong type", func(t *testing.T) {
		rec.Reset()
		cs, err := p.conn.NewStream(ctx, desc, duplexCall)
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.SendMsg(&testpb.StreamingOutputCallRequest{Payload: payload("x")}); err != nil {
			t.Fatal(err)
		}
		var notProto int
		err = cs.RecvMsg(&notProto)
		if err == nil {
			t.Fatal("RecvMsg into an int succeeded")
		}
		var failed bool
		for _, e := range rec.Events() {
			if e.Side == recorder.Client && e.Kind == recorder.Recv && e.Err != nil {
				failed = true
			}
		}
		if !failed {
			t.Errorf("no client recv event with an error\n%s", rec)
		}
	})
}

// rawCodec is a custom codec whose messages are not proto messages.
type rawCodec struct{}

type rawMsg struct{ text string }

func (rawCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(*rawMsg)
	if !ok {
		return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
	}
	return []byte(m.text), nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(*rawMsg)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	m.text = string(data)
	return nil
}

func (rawCodec) Name() string { return "streamtest-raw" }

func init() { encoding.RegisterCodec(rawCodec{}) }

func TestNonProtoMessagesStoredAsGiven(t *testing.T) {
	rec := recorder.New()
	desc := grpc.StreamDesc{StreamName: "Echo", ClientStreams: true, ServerStreams: true,
		Handler: func(_ any, ss grpc.ServerStream) error {
			for {
				m := new(rawMsg)
				if err := ss.RecvMsg(m); err != nil {
					if err == io.EOF {
						return nil
					}
					return err
				}
				if err := ss.SendMsg(&rawMsg{text: strings.ToUpper(m.text)}); err != nil {
					return err
				}
			}
		}}
	p := newPair(t, bufnet, rec, rec, func(s *grpc.Server) {
		s.RegisterService(&grpc.ServiceDesc{ServiceName: "raw.Raw", HandlerType: (*any)(nil), Streams: []grpc.StreamDesc{desc}}, struct{}{})
	}, grpc.WithDefaultCallOptions(grpc.CallContentSubtype(rawCodec{}.Name())))
	ctx := ctxT(t)
	cs, err := p.conn.NewStream(ctx, &desc, "/raw.Raw/Echo")
	if err != nil {
		t.Fatal(err)
	}
	sent := &rawMsg{text: "hi"}
	if err := cs.SendMsg(sent); err != nil {
		t.Fatal(err)
	}
	got := new(rawMsg)
	if err := cs.RecvMsg(got); err != nil {
		t.Fatal(err)
	}
	cs.CloseSend()
	if err := cs.RecvMsg(new(rawMsg)); err != io.EOF {
		t.Fatal(err)
	}
	if err := rec.Wait(ctx, allEnded); err != nil {
		t.Fatal(err)
	}
	c := rec.Calls()[0]
	if reqs := c.Requests(); len(reqs) != 1 || reqs[0] != any(sent) {
		t.Errorf("Requests() = %v, want the very value sent", reqs)
	}
	if resps := c.Responses(); len(resps) != 1 || resps[0].(*rawMsg).text != "HI" {
		t.Errorf("Responses() = %v, want one *rawMsg HI", resps)
	}
}

func TestClientEndsWhenContextEnds(t *testing.T) {
	rec := recorder.New()
	p := newPair(t, bufnet, rec, rec, registerEcho)
	ctx, cancel := context.WithTimeout(ctxT(t), 50*time.Millisecond)
	defer cancel()
	stream, err := testpb.NewTestServiceClient(p.conn).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = stream // never read: the call still ends, on the deadline
	if err := rec.Wait(ctxT(t), allEnded); err != nil {
		t.Fatal(err)
	}
	c := rec.Calls()[0]
	if got := status.Code(c.Err()); got != codes.DeadlineExceeded || !c.Done() {
		t.Fatalf("call ended with %v (done %v), want DeadlineExceeded\n%s", c.Err(), c.Done(), rec)
	}
}

func TestUnaryRecorded(t *testing.T) {
	rec := recorder.New()
	p := newPair(t, tcp, rec, rec, registerEcho)
	ctx := ctxT(t)
	tc := testpb.NewTestServiceClient(p.conn)
	req := &testpb.SimpleRequest{Payload: payload("ping")}
	if _, err := tc.UnaryCall(ctx, req); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.EmptyCall(ctx, &testpb.Empty{}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("EmptyCall: %v, want Unimplemented", err)
	}
	if err := rec.Wait(ctx, allEnded); err != nil {
		t.Fatal(err)
	}
	calls := rec.Calls()
	if len(calls) != 2 {
		t.Fatalf("got %d calls, want 2\n%s", len(calls), rec)
	}
	if !proto.Equal(calls[0].Requests()[0].(proto.Message), req) {
		t.Errorf("request = %v, want %v", calls[0].Requests()[0], req)
	}
	if got := calls[0].Responses(); len(got) != 1 || !bytes.Equal(got[0].(*testpb.SimpleResponse).GetPayload().GetBody(), []byte("ping")) {
		t.Errorf("responses = %v", got)
	}
	if status.Code(calls[1].Err()) != codes.Unimplemented {
		t.Errorf("EmptyCall recorded %v, want Unimplemented", calls[1].Err())
	}
	checkCausal(t, rec)
}

func TestWithMethodsShortNames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		match bool
	}{
		{"/grpc.testing.TestService/UnaryCall", true},
		{"grpc.testing.TestService/UnaryCall", true},
		{"TestService/UnaryCall", true},
		{"UnaryCall", true},
		{"naryCall", false},
		{"Service/UnaryCall", false},
		{"/UnaryCall", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := recorder.New(recorder.WithMethods(tc.name))
			p := newPair(t, bufnet, rec, rec, registerEcho)
			ctx := ctxT(t)
			if _, err := testpb.NewTestServiceClient(p.conn).UnaryCall(ctx, &testpb.SimpleRequest{}); err != nil {
				t.Fatal(err)
			}
			if got := len(rec.Calls()) == 1; got != tc.match {
				t.Errorf("WithMethods(%q) recorded UnaryCall: %v, want %v", tc.name, got, tc.match)
			}
			if got := rec.Methods(); !slices.Equal(got, []string{tc.name}) {
				t.Errorf("Methods() = %q, want [%q]", got, tc.name)
			}
			note := fmt.Sprintf("(no events recorded; WithMethods records only %q", tc.name)
			if got := strings.Contains(rec.String(), note); got == tc.match {
				t.Errorf("String() has the note %q: %v, want %v:\n%s", note, got, !tc.match, rec)
			}
		})
	}
}

// A recorder that records nothing because of WithMethods says so, and
// names the names that cannot match a method.
func TestStringNotesWithMethods(t *testing.T) {
	const hint = `, name methods in full: "/pkg.Service/Method")`
	for _, tc := range []struct {
		names []string
		want  string // String() of the empty recorder
	}{
		{nil, "  (no events recorded)\n"},
		{[]string{}, "  (no events recorded; WithMethods was given no name, so no method is recorded)\n"},
		{[]string{"/chat.Chat/Talk", "Talk", "Chat/Talk"}, `  (no events recorded; WithMethods records only "/chat.Chat/Talk", "Talk", "Chat/Talk")` + "\n"},
		{[]string{"chat.Chat"}, `  (no events recorded; WithMethods records only "chat.Chat" (a service? it matches only a method of that name` + hint + ")\n"},
		{[]string{"", "/Talk", "/chat.Chat/", "chat.Chat/Talk/", "/chat.Chat/Talk/x"}, `  (no events recorded; WithMethods records only "" (matches no method name` + hint +
			`, "/Talk" (matches no method name` + hint + `, "/chat.Chat/" (matches no method name` + hint +
			`, "chat.Chat/Talk/" (matches no method name` + hint + `, "/chat.Chat/Talk/x" (matches no method name` + hint + ")\n"},
	} {
		var opts []recorder.Option
		if tc.names != nil {
			opts = append(opts, recorder.WithMethods(tc.names...))
		}
		rec := recorder.New(opts...)
		if got := rec.String(); got != tc.want {
			t.Errorf("WithMethods(%q): String() =\n%s\nwant\n%s", tc.names, got, tc.want)
		}
		if got := rec.Methods(); !slices.Equal(got, tc.names) || (got == nil) != (tc.names == nil) {
			t.Errorf("WithMethods(%q): Methods() = %#v", tc.names, got)
		}
	}
	// Several WithMethods add up, and Methods lists them in order.
	rec := recorder.New(recorder.WithMethods("A"), recorder.WithMethods("B", "C"))
	if got := rec.Methods(); !slices.Equal(got, []string{"A", "B", "C"}) {
		t.Errorf("Methods() = %q, want [A B C]", got)
	}
	got := rec.Methods()
	got[0] = "changed"
	if rec.Methods()[0] != "A" {
		t.Error("Methods returned the recorder's own slice: changing it changed the recorder's")
	}
	var nilRec *recorder.Recorder
	if nilRec.Methods() != nil {
		t.Error("Methods of a nil Recorder is not nil")
	}
}

// stallServer's StreamingInputCall reads nothing until release is closed,
// so that the client's Sends end up blocked on flow control.
type stallServer struct {
	testpb.UnimplementedTestServiceServer
	release chan struct{}
}

func (s *stallServer) StreamingInputCall(stream testpb.TestService_StreamingInputCallServer) error {
	<-s.release
	n := 0
	for {
		if _, err := stream.Recv(); err == io.EOF {
			return stream.SendAndClose(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: int32(n)})
		} else if err != nil {
			return err
		}
		n++
	}
}

// TestBlockedSendIsRecordedWithItsMessage: a Send blocked on flow control
// is in the timeline, pending, with the message it is sending; the client
// reuses one message for every Send, changing it after each returns, and
// every recorded Send keeps what it sent.
func TestBlockedSendIsRecordedWithItsMessage(t *testing.T) {
	rec := recorder.New()
	srv := &stallServer{release: make(chan struct{})}
	p := newPair(t, bufnet, rec, rec, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, srv) })
	ctx := ctxT(t)
	stream, err := testpb.NewTestServiceClient(p.conn).StreamingInputCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const size = 16 << 10
	var returned atomic.Int64 // Sends that have returned
	sent := make(chan error, 1)
	go func() {
		msg := &testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: make([]byte, size)}}
		for i := range 64 { // 1 MiB: far more than the flow-control windows hold
			msg.Payload.Body[0] = byte(i)
			if err := stream.Send(msg); err != nil {
				sent <- err
				return
			}
			returned.Add(1)
		}
		sent <- nil
	}()

	// The Send that does not return: its event is there, with message i.
	var blocked []recorder.Event
	err = rec.Wait(ctx, func(events []recorder.Event) bool {
		sends := clientSends(events)
		if len(sends) == 0 || int64(len(sends)) != returned.Load()+1 || recorder.PendingSends(rec) == 0 {
			return false
		}
		blocked = sends
		return true
	})
	if err != nil {
		t.Fatalf("no Send blocked: %v\n%s", err, rec)
	}
	last := blocked[len(blocked)-1]
	if body := last.Msg.(*testpb.StreamingInputCallRequest).GetPayload().GetBody(); len(body) != size || int(body[0]) != len(blocked)-1 {
		t.Errorf("the blocked Send (#%d) recorded body[0]=%d, len %d", len(blocked)-1, body[0], len(body))
	}

	close(srv.release)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	if err := rec.Wait(ctx, allEnded); err != nil {
		t.Fatal(err)
	}
	sends := clientSends(rec.Events())
	if len(sends) != 64 {
		t.Fatalf("%d client Sends recorded, want 64", len(sends))
	}
	for i, e := range sends {
		if body := e.Msg.(*testpb.StreamingInputCallRequest).GetPayload().GetBody(); int(body[0]) != i {
			t.Errorf("Send %d recorded body[0]=%d", i, body[0])
		}
	}
	if recorder.PendingSends(rec) != 0 {
		t.Errorf("Sends still pending after the call ended")
	}
}

func clientSends(events []recorder.Event) []recorder.Event {
	var out []recorder.Event
	for _, e := range events {
		if e.Side == recorder.Client && e.Kind == recorder.Send {
			out = append(out, e)
		}
	}
	return out
}

// Event.MD is a copy: changing the metadata of an event that Events handed
// out changes nothing recorded, as for messages.
func TestEventsHandOutMetadataCopies(t *testing.T) {
	rec := recorder.New()
	p := newPair(t, bufnet, rec, rec, registerEcho)
	ctx := ctxT(t)
	callCtx := metadata.AppendToOutgoingContext(ctx, "k", "v")
	if _, err := testpb.NewTestServiceClient(p.conn).UnaryCall(callCtx, &testpb.SimpleRequest{Payload: payload("u")}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Wait(ctx, allEnded); err != nil {
		t.Fatal(err)
	}
	begins := 0
	for _, e := range rec.Events() {
		if e.Kind != recorder.Begin {
			continue
		}
		begins++
		if got := e.MD.Get("k"); len(got) != 1 || got[0] != "v" {
			t.Fatalf("%s Begin recorded k=%q, want [v]", e.Side, got)
		}
		e.MD.Set("k", "changed")
		e.MD.Set("added", "x")
	}
	if begins != 2 {
		t.Fatalf("got %d Begin events, want 2 (client and server)\n%s", begins, rec)
	}
	for _, e := range rec.Events() {
		if e.Kind != recorder.Begin {
			continue
		}
		if got := e.MD.Get("k"); len(got) != 1 || got[0] != "v" {
			t.Errorf("%s Begin: k=%q after changing an earlier snapshot, want [v]: Events handed out the recorded metadata, not a copy", e.Side, got)
		}
		if got := e.MD.Get("added"); got != nil {
			t.Errorf("%s Begin: a key added to an earlier snapshot shows in the record: added=%q", e.Side, got)
		}
	}
}

// The zero Recorder is an empty one: its times count from its first use,
// a Recv that blocked shows for how long, and the two halves of a call
// share their id.
func TestZeroRecorderRecordsAsNewDoes(t *testing.T) {
	before := time.Now()
	rec := new(recorder.Recorder)
	p := newPair(t, bufnet, rec, rec, registerEcho)
	echoOnce(t, p.conn)
	if err := rec.Wait(ctxT(t), allEnded); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	calls := rec.Calls()
	if len(calls) != 1 || calls[0].ID() == 0 {
		t.Fatalf("calls: %v, want one call with an id", calls)
	}
	sides := map[recorder.Side]bool{}
	for _, e := range rec.Events() {
		sides[e.Side] = true
		if e.Time.Before(before) || e.Time.After(after) {
			t.Errorf("event %d at %v, not between %v and %v", e.Seq, e.Time, before, after)
		}
	}
	if !sides[recorder.Client] || !sides[recorder.Server] {
		t.Errorf("one call of both sides, but the sides recorded are %v:\n%s", sides, rec)
	}
}

// Wait on a zero Recorder while another goroutine makes its interceptors:
// both set it up, once (the race detector watches its times).
func TestZeroRecorderWaitWhileInstalled(t *testing.T) {
	rec := new(recorder.Recorder)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- rec.Wait(ctx, func(evs []recorder.Event) bool { return len(evs) > 0 }) }()
	_ = rec.DialOptions()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Wait = %v, want context.Canceled", err)
	}
}
