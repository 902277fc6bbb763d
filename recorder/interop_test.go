package recorder_test

import (
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/interop"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/recorder"
)

const (
	emptyCall  = "/grpc.testing.TestService/EmptyCall"
	unaryCall  = "/grpc.testing.TestService/UnaryCall"
	inputCall  = "/grpc.testing.TestService/StreamingInputCall"
	outputCall = "/grpc.testing.TestService/StreamingOutputCall"
	duplexCall = "/grpc.testing.TestService/FullDuplexCall"
)

func registerInterop(s *grpc.Server) {
	testpb.RegisterTestServiceServer(s, interop.NewTestServer())
}

type wantCall struct {
	method         string
	reqs, resps    int
	code           codes.Code
	headerKey      string // if set, Header() must have it
	trailerKey     string // if set, Trailer() must have it
	serverOptional bool   // the server half may never have started
}

// TestInterop runs grpc-go's interop client cases against its interop
// server with one recorder on both sides, over bufconn and TCP loopback, and
// checks that the recorder holds exactly what each case exchanged.
func TestInterop(t *testing.T) {
	cases := []struct {
		name  string
		run   func(ctx context.Context, tc testpb.TestServiceClient)
		calls []wantCall
		sopts []grpc.ServerOption // more server options, after the recorder's
	}{
		{"EmptyUnary", func(ctx context.Context, tc testpb.TestServiceClient) { interop.DoEmptyUnaryCall(ctx, tc) },
			[]wantCall{{method: emptyCall, reqs: 1, resps: 1}}, nil},
		{"LargeUnary", func(ctx context.Context, tc testpb.TestServiceClient) { interop.DoLargeUnaryCall(ctx, tc) },
			[]wantCall{{method: unaryCall, reqs: 1, resps: 1}}, nil},
		{"ClientStreaming", func(ctx context.Context, tc testpb.TestServiceClient) { interop.DoClientStreaming(ctx, tc) },
			[]wantCall{{method: inputCall, reqs: 4, resps: 1}}, nil},
		{"ServerStreaming", func(ctx context.Context, tc testpb.TestServiceClient) { interop.DoServerStreaming(ctx, tc) },
			[]wantCall{{method: outputCall, reqs: 1, resps: 4}}, nil},
		{"PingPong", func(ctx context.Context, tc testpb.TestServiceClient) { interop.DoPingPong(ctx, tc) },
			[]wantCall{{method: duplexCall, reqs: 4, resps: 4}}, nil},
		{"EmptyStream", func(ctx context.Context, tc testpb.TestServiceClient) { interop.DoEmptyStream(ctx, tc) },
			[]wantCall{{method: duplexCall}}, nil},
		// The interop case cancels the call and then half-closes it. gRPC
		// may send the half-close before it has processed the cancel;
		// the server then answers, and CloseAndRecv can return that
		// answer, OK, for which the interop helper stops the test binary
		// (logger.Fatalf; 1 run in about 40 under -race). The server's
		// handler therefore starts only once the cancel has reached it.
		{"CancelAfterBegin", func(ctx context.Context, tc testpb.TestServiceClient) { interop.DoCancelAfterBegin(ctx, tc) },
			[]wantCall{{method: inputCall, code: codes.Canceled, serverOptional: true}},
			[]grpc.ServerOption{grpc.ChainStreamInterceptor(startOnceCanceled)}},
		{"CancelAfterFirstResponse", func(ctx context.Context, tc testpb.TestServiceClient) { interop.DoCancelAfterFirstResponse(ctx, tc) },
			[]wantCall{{method: duplexCall, reqs: 1, resps: 1, code: codes.Canceled}}, nil},
		{"CustomMetadata", func(ctx context.Context, tc testpb.TestServiceClient) { interop.DoCustomMetadata(ctx, tc) },
			[]wantCall{
				{method: unaryCall, reqs: 1, resps: 1, headerKey: "x-grpc-test-echo-initial", trailerKey: "x-grpc-test-echo-trailing-bin"},
				{method: duplexCall, reqs: 1, resps: 1, headerKey: "x-grpc-test-echo-initial", trailerKey: "x-grpc-test-echo-trailing-bin"},
			}, nil},
		{"StatusCodeAndMessage", func(ctx context.Context, tc testpb.TestServiceClient) { interop.DoStatusCodeAndMessage(ctx, tc) },
			[]wantCall{
				{method: unaryCall, reqs: 1, code: codes.Unknown},
				{method: duplexCall, reqs: 1, code: codes.Unknown},
			}, nil},
	}
	for _, n := range []network{bufnet, tcp} {
		for _, tc := range cases {
			t.Run(n.String()+"/"+tc.name, func(t *testing.T) {
				rec := recorder.New()
				p := newPairOpts(t, n, append(rec.ServerOptions(), tc.sopts...), registerInterop, rec.DialOptions()...)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				tc.run(ctx, testpb.NewTestServiceClient(p.conn))

				// The client half is over when the case returns; wait for the
				// server halves that started to end too.
				if err := rec.Wait(ctx, allEnded); err != nil {
					t.Fatalf("calls did not end: %v\n%s", err, rec)
				}
				checkCalls(t, rec, tc.calls)
				checkCausal(t, rec)
			})
		}
	}
}

// startOnceCanceled holds a handler until its call is canceled.
func startOnceCanceled(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	<-ss.Context().Done()
	return h(srv, ss)
}

// allEnded reports whether every side of every call that began has ended.
func allEnded(events []recorder.Event) bool {
	open := map[[2]uint64]int{}
	for _, e := range events {
		k := [2]uint64{e.CallID, uint64(e.Side)}
		switch e.Kind {
		case recorder.Begin:
			open[k]++
		case recorder.End:
			open[k]--
		}
	}
	for _, n := range open {
		if n != 0 {
			return false
		}
	}
	return len(events) > 0
}

func checkCalls(t *testing.T, rec *recorder.Recorder, want []wantCall) {
	t.Helper()
	calls := rec.Calls()
	if len(calls) != len(want) {
		t.Fatalf("got %d calls, want %d\n%s", len(calls), len(want), rec)
	}
	for i, c := range calls {
		w := want[i]
		if c.Method() != w.method {
			t.Errorf("call %d: method %s, want %s", i, c.Method(), w.method)
		}
		if got := len(c.Requests()); got != w.reqs {
			t.Errorf("call %d (%s): %d requests, want %d", i, w.method, got, w.reqs)
		}
		if got := len(c.Responses()); got != w.resps {
			t.Errorf("call %d (%s): %d responses, want %d", i, w.method, got, w.resps)
		}
		if !c.Done() {
			t.Errorf("call %d (%s): not done", i, w.method)
		}
		if got := status.Code(c.Err()); got != w.code {
			t.Errorf("call %d (%s): code %v, want %v (err %v)", i, w.method, got, w.code, c.Err())
		}
		if w.headerKey != "" && len(c.Header().Get(w.headerKey)) == 0 {
			t.Errorf("call %d (%s): header %v lacks %q", i, w.method, c.Header(), w.headerKey)
		}
		if w.trailerKey != "" && len(c.Trailer().Get(w.trailerKey)) == 0 {
			t.Errorf("call %d (%s): trailer %v lacks %q", i, w.method, c.Trailer(), w.trailerKey)
		}
		var sides [2]bool
		for _, e := range c.Events() {
			sides[e.Side] = true
			if e.Kind == recorder.Begin && len(e.MD.Get(recorder.CallIDHeader)) > 0 {
				t.Errorf("call %d: %s Begin metadata still has %s", i, e.Side, recorder.CallIDHeader)
			}
		}
		if !sides[recorder.Client] || (!sides[recorder.Server] && !w.serverOptional) {
			t.Errorf("call %d (%s): sides recorded %v, want both in one call\n%s", i, w.method, sides, rec)
		}
	}
	if t.Failed() {
		t.Logf("timeline:\n%s", rec)
	}
}

// checkCausal checks that Seq is strictly increasing and that, for every
// message, the sender's Send comes before the receiver's Recv.
func checkCausal(t *testing.T, rec *recorder.Recorder) {
	t.Helper()
	events := rec.Events()
	for i := 1; i < len(events); i++ {
		if events[i].Seq <= events[i-1].Seq {
			t.Fatalf("Seq not increasing at %d: %d after %d", i, events[i].Seq, events[i-1].Seq)
		}
	}
	for _, c := range rec.Calls() {
		var cs, sr, ss, cr []uint64
		for _, e := range c.Events() {
			if e.Err != nil {
				continue
			}
			switch {
			case e.Side == recorder.Client && e.Kind == recorder.Send:
				cs = append(cs, e.Seq)
			case e.Side == recorder.Server && e.Kind == recorder.Recv:
				sr = append(sr, e.Seq)
			case e.Side == recorder.Server && e.Kind == recorder.Send:
				ss = append(ss, e.Seq)
			case e.Side == recorder.Client && e.Kind == recorder.Recv:
				cr = append(cr, e.Seq)
			}
		}
		if len(sr) > len(cs) || len(cr) > len(ss) {
			t.Errorf("call %d: more received than sent: client sent %d, server received %d; server sent %d, client received %d\n%s",
				c.ID(), len(cs), len(sr), len(ss), len(cr), rec)
			continue
		}
		for i := range sr {
			if cs[i] >= sr[i] {
				t.Errorf("call %d: request %d: client Send #%d not before server Recv #%d\n%s", c.ID(), i, cs[i], sr[i], rec)
			}
		}
		for i := range cr {
			if ss[i] >= cr[i] {
				t.Errorf("call %d: response %d: server Send #%d not before client Recv #%d\n%s", c.ID(), i, ss[i], cr[i], rec)
			}
		}
	}
}

// A client recorded on its own records the trailer its stream received:
// Call.Trailer has it with no server half to fall back on.
func TestClientOnlyStreamRecordsTrailer(t *testing.T) {
	const key = "x-grpc-test-echo-trailing-bin" // the interop server echoes it as a trailer
	rec := recorder.New()
	p := newPair(t, bufnet, nil, rec, registerInterop)
	ctx := ctxT(t)
	stream, err := testpb.NewTestServiceClient(p.conn).FullDuplexCall(metadata.AppendToOutgoingContext(ctx, key, "\xab\xab\xab"))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("Recv: %v, want io.EOF", err)
	}
	if got := stream.Trailer().Get(key); len(got) != 1 {
		t.Fatalf("the stream's own trailer has %s=%q: the server did not echo it", key, got)
	}
	calls := rec.Calls()
	if len(calls) != 1 || !calls[0].Done() {
		t.Fatalf("want 1 ended call\n%s", rec)
	}
	if got := calls[0].Trailer().Get(key); len(got) != 1 || got[0] != "\xab\xab\xab" {
		t.Errorf("Call.Trailer()[%s] = %q, want the trailer the client received\n%s", key, got, rec)
	}
	var kinds []recorder.Kind
	for _, e := range calls[0].Events() {
		if e.Kind != recorder.Header { // none with a trailers-only answer: gRPC's choice
			kinds = append(kinds, e.Kind)
		}
	}
	if want := []recorder.Kind{recorder.Begin, recorder.CloseSend, recorder.Trailer, recorder.End}; !slices.Equal(kinds, want) {
		t.Errorf("client events %v, want %v\n%s", kinds, want, rec)
	}
}

// A unary call that fails before the server sends a header (a
// trailers-only answer) records no Header: Call.Header is nil, as for a
// call without one.
func TestUnaryFailureWithoutHeaderRecordsNoHeader(t *testing.T) {
	rec := recorder.New()
	p := newPair(t, bufnet, rec, rec, registerInterop)
	ctx := ctxT(t)
	_, err := testpb.NewTestServiceClient(p.conn).UnaryCall(ctx, &testpb.SimpleRequest{
		ResponseStatus: &testpb.EchoStatus{Code: int32(codes.NotFound), Message: "no such thing"},
	})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("UnaryCall: %v, want NotFound", err)
	}
	if err := rec.Wait(ctx, allEnded); err != nil {
		t.Fatal(err)
	}
	calls := rec.Calls()
	if len(calls) != 1 {
		t.Fatalf("got %d calls, want 1\n%s", len(calls), rec)
	}
	for _, e := range calls[0].Events() {
		if e.Kind == recorder.Header {
			t.Errorf("event %d: %s Header %v recorded, but no header was sent\n%s", e.Seq, e.Side, e.MD, rec)
		}
	}
	if h := calls[0].Header(); h != nil {
		t.Errorf("Call.Header() = %#v, want nil (no header)", h)
	}
	if got := status.Code(calls[0].Err()); got != codes.NotFound {
		t.Errorf("Call.Err() code %v, want NotFound", got)
	}
}
