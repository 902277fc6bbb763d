package fakes_test

import (
	"context"
	"errors"
	"io"
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
		{"client-streaming, an error after the response", kindServer{header: hd, trailer: tr, respond: true, err: aborted}, testpb.TestService_StreamingInputCall_FullMethodName,
			realUpload,
			func(ctx context.Context, opts ...fakes.Option) error {
				c := fakes.NewClientStream[inReq, inRes](ctx, opts...)
				_ = c.RespondHeader(hd)
				_ = c.RespondTrailer(tr)
				c.Respond(&inRes{AggregatedPayloadSize: 3})
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
			fakeErr := tc.fake(t.Context(), fakes.WithRecorder(rec), fakes.WithMethod(tc.method))
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

// On a method without server streaming, Recv returns the one response with
// the end of the stream, as grpc's does: it waits for Finish, and a second
// response is a cardinality violation.
func TestClientStreamOneResponseComesWithTheEnd(t *testing.T) {
	method := fakes.WithMethod(testpb.TestService_StreamingInputCall_FullMethodName)
	c := fakes.NewClientStream[inReq, inRes](t.Context(), method)
	c.Respond(&inRes{AggregatedPayloadSize: 3})
	got := grpctest.Go(t, c.CloseAndRecv)
	if !got.AssertBlocked(stillBlocked) {
		t.Fatal("CloseAndRecv returned the response before Finish; grpc's waits for the status")
	}
	c.Finish(nil)
	m, err := got.Wait(waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	wantMsgs(t, []*inRes{{AggregatedPayloadSize: 3}}, []*inRes{m})

	c = fakes.NewClientStream[inReq, inRes](t.Context(), method)
	c.Respond(&inRes{}, &inRes{})
	c.Finish(nil)
	_, err = c.CloseAndRecv()
	wantCode(t, err, codes.Internal)

	// The same stream without WithMethod is bidirectional: Recv returns
	// each response as it comes.
	b := fakes.NewClientStream[inReq, inRes](t.Context())
	b.Respond(&inRes{AggregatedPayloadSize: 3})
	if _, err := b.Recv(); err != nil {
		t.Fatal(err)
	}
}
