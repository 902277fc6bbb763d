package fakes_test

import (
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/recorder"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

type (
	inReq = testpb.StreamingInputCallRequest
	inRes = testpb.StreamingInputCallResponse
)

// kindServer serves the three streaming methods of TestService with a
// header and a trailer, answering as the fake client streams of
// TestClientStreamRecordsLikeARealCallOfEachKind are told to.
type kindServer struct {
	testpb.UnimplementedTestServiceServer
	header, trailer metadata.MD
	respond         bool  // StreamingInputCall sends its response
	err             error // what the handler returns
}

func (s kindServer) setMD(st grpc.ServerStream) error {
	if s.header != nil {
		if err := st.SetHeader(s.header); err != nil {
			return err
		}
	}
	st.SetTrailer(s.trailer)
	return nil
}

func (s kindServer) StreamingInputCall(st testpb.TestService_StreamingInputCallServer) error {
	if err := s.setMD(st); err != nil {
		return err
	}
	n := 0
	for {
		r, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		n += len(r.GetPayload().GetBody())
	}
	if s.respond {
		if err := st.SendAndClose(&inRes{AggregatedPayloadSize: int32(n)}); err != nil {
			return err
		}
	}
	return s.err
}

func (s kindServer) StreamingOutputCall(r *dupReq, st testpb.TestService_StreamingOutputCallServer) error {
	if err := s.setMD(st); err != nil {
		return err
	}
	for _, p := range r.GetResponseParameters() {
		if err := st.Send(res(p.GetSize())); err != nil {
			return err
		}
	}
	return s.err
}

func (s kindServer) FullDuplexCall(st testpb.TestService_FullDuplexCallServer) error {
	if err := s.setMD(st); err != nil {
		return err
	}
	for {
		r, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return s.err
		}
		if err != nil {
			return err
		}
		for _, p := range r.GetResponseParameters() {
			if err := st.Send(res(p.GetSize())); err != nil {
				return err
			}
		}
	}
}

// upload is client code of a client-streaming call.
func upload(stream grpc.ClientStreamingClient[inReq, inRes]) error {
	for _, b := range []string{"ab", "c"} {
		if err := stream.Send(&inReq{Payload: &testpb.Payload{Body: []byte(b)}}); err != nil {
			return err
		}
	}
	_, err := stream.CloseAndRecv()
	return err
}

// drain is client code of a server-streaming call.
func drain(stream grpc.ServerStreamingClient[dupRes]) error {
	for {
		if _, err := stream.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// traced is a recorded event without what differs between runs.
type traced struct {
	Kind string
	Msg  any
	MD   metadata.MD
	Code codes.Code
}

// clientTrace returns the client side of the one call r recorded, and
// whether the call is done.
func clientTrace(t *testing.T, r *recorder.Recorder) ([]traced, bool) {
	t.Helper()
	var out []traced
	for _, e := range r.Events() {
		if e.Side != recorder.Client {
			continue
		}
		md := e.MD
		if e.Kind == recorder.Begin {
			md = nil // the fake's context carries no outgoing metadata
		}
		if md != nil {
			md = md.Copy()
			delete(md, "content-type")
		}
		out = append(out, traced{e.Kind.String(), e.Msg, md, status.Code(e.Err)})
	}
	calls := r.Calls()
	if len(calls) != 1 {
		t.Fatalf("recorded %d calls, want 1:\n%s", len(calls), r)
	}
	return out, calls[0].Done()
}

// A fake client stream named (WithMethod) after a method of each streaming
// kind records the client-side events a real call of that method records
// for the same exchange, Header, Trailer and End included.
func TestClientStreamRecordsLikeARealCallOfEachKind(t *testing.T) {
	hd, tr := metadata.Pairs("h", "1"), metadata.Pairs("t", "2")
	aborted := status.Error(codes.Aborted, "no")
	realUpload := func(ctx context.Context, client testpb.TestServiceClient) error {
		stream, err := client.StreamingInputCall(ctx)
		if err != nil {
			return err
		}
		return upload(stream)
	}
	cases := []struct {
		name   string
		srv    kindServer
		method string
		real   func(ctx context.Context, client testpb.TestServiceClient) error
		fake   func(ctx context.Context, opts ...fakes.Option) error
	}{
		{"client-streaming", kindServer{header: hd, trailer: tr, respond: true}, testpb.TestService_StreamingInputCall_FullMethodName,
			realUpload,
			func(ctx context.Context, opts ...fakes.Option) error {
				c := fakes.NewClientStream[inReq, inRes](ctx, opts...)
				_ = c.RespondHeader(hd)
				_ = c.RespondTrailer(tr)
				c.Respond(&inRes{AggregatedPayloadSize: 3})
				c.Finish(nil)
				return upload(c)
			}},
		{"client-streaming, without Finish", kindServer{header: hd, trailer: tr, respond: true}, testpb.TestService_StreamingInputCall_FullMethodName,
			realUpload,
			func(ctx context.Context, opts ...fakes.Option) error {
				c := fakes.NewClientStream[inReq, inRes](ctx, opts...)
				_ = c.RespondHeader(hd)
				_ = c.RespondTrailer(tr)
				c.Respond(&inRes{AggregatedPayloadSize: 3})
				return upload(c)
			}},
		{"client-streaming, an error after the response", kindServer{header: hd, trailer: tr, respond: true, err: aborted}, testpb.TestService_StreamingInputCall_FullMethodName,
			realUpload,
			func(ctx context.Context, opts ...fakes.Option) error {
				// The client sees the error only: the fake gives just that.
				c := fakes.NewClientStream[inReq, inRes](ctx, opts...)
				_ = c.RespondHeader(hd)
				_ = c.RespondTrailer(tr)
				c.Finish(aborted)
				return upload(c)
			}},
		{"client-streaming, OK without a response", kindServer{header: hd, trailer: tr}, testpb.TestService_StreamingInputCall_FullMethodName,
			realUpload,
			func(ctx context.Context, opts ...fakes.Option) error {
				c := fakes.NewClientStream[inReq, inRes](ctx, opts...)
				_ = c.RespondHeader(hd)
				_ = c.RespondTrailer(tr)
				c.Finish(nil)
				return upload(c)
			}},
		{"server-streaming", kindServer{header: hd, trailer: tr}, testpb.TestService_StreamingOutputCall_FullMethodName,
			func(ctx context.Context, client testpb.TestServiceClient) error {
				stream, err := client.StreamingOutputCall(ctx, req(1, 2))
				if err != nil {
					return err
				}
				return drain(stream)
			},
			func(ctx context.Context, opts ...fakes.Option) error {
				c := fakes.NewClientStream[dupReq, dupRes](ctx, opts...)
				_ = c.RespondHeader(hd)
				_ = c.RespondTrailer(tr)
				c.Respond(res(1), res(2))
				c.Finish(nil)
				// what the generated StreamingOutputCall does before it
				// returns the stream
				if err := c.Send(req(1, 2)); err != nil {
					return err
				}
				if err := c.CloseSend(); err != nil {
					return err
				}
				return drain(c)
			}},
		{"bidi", kindServer{header: hd, trailer: tr}, testpb.TestService_FullDuplexCall_FullMethodName,
			func(ctx context.Context, client testpb.TestServiceClient) error {
				stream, err := client.FullDuplexCall(ctx)
				if err != nil {
					return err
				}
				return pingPongClient(stream)
			},
			func(ctx context.Context, opts ...fakes.Option) error {
				c := fakes.NewClientStream[dupReq, dupRes](ctx, opts...)
				_ = c.RespondHeader(hd)
				_ = c.RespondTrailer(tr)
				c.Respond(res(1), res(2), res(3))
				c.Finish(nil)
				return pingPongClient(c)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := grpctest.NewServer(t, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, tc.srv) })
			realErr := tc.real(t.Context(), testpb.NewTestServiceClient(h.Conn()))
			h.Close()
			rec := recorder.New()
			// Bounded, so that a fake that waits for what never comes fails
			// the test (DeadlineExceeded) instead of hanging it.
			ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
			defer cancel()
			fakeErr := tc.fake(ctx, fakes.WithRecorder(rec), fakes.WithMethod(tc.method))
			if status.Code(realErr) != status.Code(fakeErr) {
				t.Errorf("the code under test returned %v on the fake, %v on a real call; want the same code", fakeErr, realErr)
			}

			want, wantDone := clientTrace(t, h.Recorder())
			got, gotDone := clientTrace(t, rec)
			if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
				t.Errorf("client events of the fake differ from a real call's (-real +fake):\n%s\nreal:\n%s\nfake:\n%s", d, h.Recorder(), rec)
			}
			if !wantDone || !gotDone {
				t.Errorf("Done() = %v on the fake, %v on a real call; want true", gotDone, wantDone)
			}
		})
	}
}

// On a method without server streaming, Recv returns the one response as
// soon as Respond has queued it, without waiting for Finish (Respond is what
// the code's Recv returns next), and that ends the code's call: Send and
// Recv return io.EOF after it (Next too, once drained), Trailer returns the
// trailer set before, and a later RespondTrailer is an error.
func TestClientStreamOneResponseEndsTheCall(t *testing.T) {
	method := fakes.WithMethod(testpb.TestService_StreamingInputCall_FullMethodName)
	c := fakes.NewClientStream[inReq, inRes](t.Context(), method)
	if err := c.RespondTrailer(metadata.Pairs("t", "1")); err != nil {
		t.Fatal(err)
	}
	c.Respond(&inRes{AggregatedPayloadSize: 3})
	if err := c.Send(&inReq{}); err != nil {
		t.Fatal(err)
	}
	// Bounded, so that a CloseAndRecv waiting for Finish fails the test
	// instead of hanging it.
	m, err := grpctest.Go(t, c.CloseAndRecv).Wait(waitLimit)
	if err != nil {
		t.Fatalf("CloseAndRecv after Respond without Finish = %v; want the response", err)
	}
	wantMsgs(t, []*inRes{{AggregatedPayloadSize: 3}}, []*inRes{m})
	if _, err := c.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("Recv after the one response = %v, want io.EOF", err)
	}
	if d := cmp.Diff(metadata.Pairs("t", "1"), c.Trailer()); d != "" {
		t.Errorf("Trailer() after the one response (-want +got):\n%s", d)
	}
	if err := c.RespondTrailer(metadata.Pairs("late", "1")); err == nil {
		t.Error("RespondTrailer after the code received the one response = nil, want an error")
	}
	c.Finish(status.Error(codes.Aborted, "late")) // the call is over: nothing changes
	if _, err := c.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("Recv after a late Finish = %v, want io.EOF", err)
	}
	if _, err := c.Next(t.Context()); err != nil {
		t.Fatalf("Next = %v, want the request sent", err)
	}
	if _, err := c.Next(t.Context()); !errors.Is(err, io.EOF) {
		t.Errorf("Next after the requests = %v, want io.EOF", err)
	}

	// A Send blocked by WithSendBuffer returns io.EOF once the one response
	// ended the call, whether it blocked before the Recv or not.
	c = fakes.NewClientStream[inReq, inRes](t.Context(), method, fakes.WithSendBuffer(0))
	send := grpctest.GoErr(t, func() error { return c.Send(&inReq{}) })
	c.Respond(&inRes{})
	if _, err := c.Recv(); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, send); !errors.Is(err, io.EOF) {
		t.Errorf("Send blocked when the one response ended the call = %v, want io.EOF", err)
	}
	if err := c.Send(&inReq{}); !errors.Is(err, io.EOF) {
		t.Errorf("Send after the one response = %v, want io.EOF", err)
	}
	if _, err := c.Next(t.Context()); !errors.Is(err, io.EOF) {
		t.Errorf("Next after the one response, no request delivered = %v, want io.EOF", err)
	}

	// The call has one result, whatever the order of the test's calls and
	// the code's: the response (Respond finishes the stream with OK, and a
	// later Finish changes nothing), or Finish's error.
	for _, tc := range []struct {
		name    string
		respond bool
		err     error
		want    codes.Code
	}{
		{"Finish(err) without a response", false, status.Error(codes.Aborted, "no"), codes.Aborted},
		{"Finish(err) after the response", true, status.Error(codes.Aborted, "no"), codes.OK},
		{"Finish(nil) without a response", false, nil, codes.Internal},
		{"Finish(nil) after the response", true, nil, codes.OK},
	} {
		for _, codeFirst := range []bool{false, true} {
			c := fakes.NewClientStream[inReq, inRes](t.Context(), method)
			type result struct {
				m   *inRes
				err error
			}
			got := make(chan result, 1)
			recv := func() {
				m, err := c.CloseAndRecv()
				got <- result{m, err}
			}
			if codeFirst { // the code waits in CloseAndRecv while the test responds
				go recv()
			}
			if tc.respond {
				c.Respond(&inRes{AggregatedPayloadSize: 3})
			}
			c.Finish(tc.err)
			if !codeFirst {
				recv()
			}
			r := <-got
			if status.Code(r.err) != tc.want || (r.err == nil) != (r.m != nil) {
				t.Errorf("%s (code first: %v): CloseAndRecv = %v, %v; want code %v", tc.name, codeFirst, r.m, r.err, tc.want)
			}
		}
	}

	// The usual shape of a test of client-streaming code: read the
	// requests, respond, finish. The code, running all along, gets the
	// response every time, whenever the scheduler lets it run.
	for range 100 {
		c := fakes.NewClientStream[inReq, inRes](t.Context(), method)
		done := make(chan error, 1)
		go func() { done <- upload(c) }()
		for {
			if _, err := c.Next(t.Context()); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
		c.Respond(&inRes{AggregatedPayloadSize: 3})
		runtime.Gosched()
		c.Finish(status.Error(codes.Aborted, "ignored: the response was the result"))
		if err := <-done; err != nil {
			t.Fatalf("the code got %v, want the response", err)
		}
	}

	// A response given up front does not end the test's half: the code
	// still streams its requests through an unbuffered stream, each Send
	// waiting for the test's Next, then gets the response.
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	c = fakes.NewClientStream[inReq, inRes](ctx, method, fakes.WithSendBuffer(0))
	c.Respond(&inRes{AggregatedPayloadSize: 7})
	if tr := c.Trailer(); tr != nil {
		t.Errorf("Trailer before the code received the response = %v, want nil", tr)
	}
	uploaded := make(chan error, 1)
	go func() { uploaded <- upload(c) }()
	for i := range 2 {
		if _, err := c.Next(ctx); err != nil {
			t.Fatalf("Next %d after an early Respond: %v", i+1, err)
		}
	}
	if err := <-uploaded; err != nil {
		t.Errorf("the code, after an early Respond: %v", err)
	}

	// A trailer must come before the one response.
	c = fakes.NewClientStream[inReq, inRes](t.Context(), method)
	c.Respond(&inRes{})
	if err := c.RespondTrailer(metadata.Pairs("k", "v")); err == nil || !strings.Contains(err.Error(), "before Respond") {
		t.Errorf("RespondTrailer after Respond = %v; want an error saying to set it before", err)
	}

	// A second response is a misuse, at the Recv that would see it: queued
	// before the code's Recv, or after it.
	for _, second := range []func(c *fakes.ClientStream[inReq, inRes]) error{
		func(c *fakes.ClientStream[inReq, inRes]) error {
			c.Respond(&inRes{}, &inRes{})
			_, err := c.CloseAndRecv()
			return err
		},
		func(c *fakes.ClientStream[inReq, inRes]) error {
			c.Respond(&inRes{})
			c.Respond(&inRes{})
			_, err := c.Recv()
			return err
		},
		func(c *fakes.ClientStream[inReq, inRes]) error {
			c.Respond(&inRes{})
			if _, err := c.Recv(); err != nil {
				t.Fatal(err)
			}
			c.Respond(&inRes{})
			_, err := c.Recv()
			return err
		},
	} {
		c := fakes.NewClientStream[inReq, inRes](t.Context(), method)
		err := second(c)
		wantCode(t, err, codes.FailedPrecondition)
		if !strings.Contains(err.Error(), "second response") || !strings.Contains(err.Error(), "not server-streaming") {
			t.Errorf("Recv after a second Respond = %v; want it to name the misuse", err)
		}
		if _, err := c.Next(t.Context()); status.Code(err) != codes.FailedPrecondition {
			t.Errorf("Next after a second Respond = %v; want the misuse", err)
		}
	}

	// The same stream without WithMethod is bidirectional: Recv returns
	// each response as it comes, and more follow.
	b := fakes.NewClientStream[inReq, inRes](t.Context())
	b.Respond(&inRes{AggregatedPayloadSize: 3}, &inRes{})
	for range 2 {
		if _, err := b.Recv(); err != nil {
			t.Fatal(err)
		}
	}
}
