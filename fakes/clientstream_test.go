package fakes_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/interop"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/recorder"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

func newClient(t testing.TB, opts ...fakes.Option) *fakes.ClientStream[dupReq, dupRes] {
	t.Helper()
	return fakes.NewClientStream[dupReq, dupRes](t.Context(), opts...)
}

// fakeTestService is a TestServiceClient whose FullDuplexCall returns a fake
// stream; the other methods are not used.
type fakeTestService struct {
	testpb.TestServiceClient
	stream *fakes.ClientStream[dupReq, dupRes]
}

func (f fakeTestService) FullDuplexCall(context.Context, ...grpc.CallOption) (grpc.BidiStreamingClient[dupReq, dupRes], error) {
	return f.stream, nil
}

// actAsInteropServer plays interop's FullDuplexCall handler on the test side
// of c: one response per requested size, Finish(nil) after CloseSend.
func actAsInteropServer(t testing.TB, c *fakes.ClientStream[dupReq, dupRes]) error {
	for {
		r, err := c.Next(t.Context())
		if errors.Is(err, io.EOF) {
			c.Finish(nil)
			return nil
		}
		if err != nil {
			return err
		}
		for _, p := range r.GetResponseParameters() {
			c.Respond(res(p.GetSize()))
		}
	}
}

// grpc-go's interop client DoPingPong, run against a fake stream; the test
// answers as the server would.
func TestClientStreamDrivesInteropPingPong(t *testing.T) {
	c := newClient(t)
	served := grpctest.GoErr(t, func() error { return actAsInteropServer(t, c) })
	interop.DoPingPong(t.Context(), fakeTestService{stream: c})
	if err := waitErr(t, served); err != nil {
		t.Fatalf("fake server: %v", err)
	}
	if !c.Closed() {
		t.Error("Closed() = false after DoPingPong's CloseSend")
	}
	if got := len(c.Sent()); got != 4 {
		t.Errorf("DoPingPong sent %d requests, want 4", got)
	}
}

func TestClientStreamRecvAndFinish(t *testing.T) {
	c := newClient(t)
	c.Respond(res(1), res(2))
	if err := c.RespondTrailer(metadata.Pairs("t", "1")); err != nil {
		t.Fatal(err)
	}
	if got := c.Trailer(); got != nil {
		t.Errorf("Trailer before Finish = %v, want nil", got)
	}
	c.Finish(nil)
	c.Finish(status.Error(codes.Internal, "ignored")) // only the first counts
	// Finished up front: Sends are accepted until the code has seen the end.
	if err := c.Send(req(9)); err != nil {
		t.Fatalf("Send after Finish, before the end was received = %v, want nil", err)
	}
	var got []*dupRes
	for {
		m, err := c.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	wantMsgs(t, []*dupRes{res(1), res(2)}, got)
	wantMsgs(t, []string{"1"}, c.Trailer().Get("t"))
	if err := c.Send(req(1)); err != io.EOF {
		t.Errorf("Send after Finish = %v, want io.EOF as grpc", err)
	}
}

func TestClientStreamFinishWithError(t *testing.T) {
	c := newClient(t)
	c.Respond(res(1))
	c.Finish(status.Error(codes.ResourceExhausted, "slow down"))
	if _, err := c.Recv(); err != nil {
		t.Fatal(err)
	}
	_, err := c.Recv()
	wantCode(t, err, codes.ResourceExhausted)

	c = newClient(t)
	c.Finish(errStr("plain"))
	_, err = c.Recv()
	wantCode(t, err, codes.Unknown)
}

func TestClientStreamContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	c := fakes.NewClientStream[dupReq, dupRes](ctx)
	recv := grpctest.GoErr(t, func() error { _, err := c.Recv(); return err })
	if !recv.AssertBlocked(stillBlocked) {
		t.FailNow()
	}
	cancel()
	wantCode(t, waitErr(t, recv), codes.Canceled)
	if err := c.Send(req(1)); err != io.EOF { // as grpc's: the status is Recv's
		t.Errorf("Send after cancel: %v, want io.EOF", err)
	}
	c.Respond(res(1))
	_, err := c.Recv()
	wantCode(t, err, codes.Canceled)
	_, err = c.Next(t.Context())
	wantCode(t, err, codes.Canceled)
}

func TestClientStreamSendAfterCloseSend(t *testing.T) {
	c := newClient(t)
	if err := c.Send(req(1)); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseSend(); err != nil {
		t.Fatalf("second CloseSend = %v, want nil as grpc", err)
	}
	wantCode(t, c.Send(req(2)), codes.Internal)
	wantMsgs(t, []*dupReq{req(1)}, c.Sent())
	if _, err := c.Next(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err := c.Next(t.Context())
	wantEOF(t, err)
}

func TestClientStreamNilAndWrongType(t *testing.T) {
	c := newClient(t)
	err := c.Send(nil)
	wantCode(t, err, codes.InvalidArgument)
	if !strings.Contains(err.Error(), "*grpc_testing.StreamingOutputCallRequest") {
		t.Errorf("Send(nil) = %v; want it to name the type", err)
	}
	err = c.SendMsg(&testpb.Empty{})
	wantCode(t, err, codes.Internal)
	if !strings.Contains(err.Error(), "*grpc_testing.Empty") {
		t.Errorf("SendMsg(wrong type) = %v; want it to name both types", err)
	}
	wantCode(t, c.RecvMsg(&testpb.Empty{}), codes.Internal)
	wantCode(t, c.RecvMsg((*dupRes)(nil)), codes.InvalidArgument)

	c = newClient(t)
	c.Respond(nil)
	_, err = c.Recv()
	wantCode(t, err, codes.FailedPrecondition)
	if !strings.Contains(err.Error(), "Respond got a nil") {
		t.Errorf("Recv after Respond(nil) = %v; want it to name the misuse", err)
	}

	c = newClient(t)
	c.Finish(nil)
	c.Respond(res(1))
	_, err = c.Recv()
	wantCode(t, err, codes.FailedPrecondition)
	if !strings.Contains(err.Error(), "Respond after Finish") {
		t.Errorf("Recv after a late Respond = %v; want it to name the misuse", err)
	}
}

func TestClientStreamHeader(t *testing.T) {
	c := newClient(t)
	header := grpctest.GoErr(t, func() error {
		md, err := c.Header()
		if err == nil && (len(md.Get("h")) != 1 || md.Get("h")[0] != "v") {
			err = errStr("header " + md.String())
		}
		return err
	})
	if !header.AssertBlocked(stillBlocked) {
		t.FailNow()
	}
	if err := c.RespondHeader(metadata.Pairs("h", "v")); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, header); err != nil {
		t.Fatalf("Header: %v", err)
	}
	if err := c.RespondHeader(metadata.Pairs("h", "again")); err == nil {
		t.Error("second RespondHeader succeeded; a header is sent once")
	}

	// The first Respond sends an empty header.
	c = newClient(t)
	c.Respond(res(1))
	md, err := c.Header()
	if d := cmp.Diff(metadata.Pairs("content-type", "application/grpc"), md); err != nil || d != "" {
		t.Errorf("Header after Respond = %v, %v; want only content-type, nil; mismatch (-want +got):\n%s", md, err, d)
	}
	if err := c.RespondHeader(metadata.Pairs("h", "late")); err == nil {
		t.Error("RespondHeader after Respond succeeded")
	}

	// Finished without a header (trailers only): nil, nil.
	c = newClient(t)
	c.Finish(status.Error(codes.NotFound, "no"))
	if md, err := c.Header(); md != nil || err != nil {
		t.Errorf("Header of a trailers-only stream = %v, %v; want nil, nil", md, err)
	}
	if err := c.RespondHeader(nil); err == nil {
		t.Error("RespondHeader after Finish succeeded")
	}
	if err := c.RespondTrailer(nil); err == nil {
		t.Error("RespondTrailer after Finish succeeded")
	}
}

func TestClientStreamCloseAndRecv(t *testing.T) {
	c := fakes.NewClientStream[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse](t.Context())
	var stream testpb.TestService_StreamingInputCallClient = c
	if err := stream.Send(&testpb.StreamingInputCallRequest{}); err != nil {
		t.Fatal(err)
	}
	c.Respond(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: 1})
	c.Finish(nil)
	got, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	wantMsgs(t, []*testpb.StreamingInputCallResponse{{AggregatedPayloadSize: 1}}, []*testpb.StreamingInputCallResponse{got})
	if !c.Closed() {
		t.Error("Closed() = false after CloseAndRecv")
	}

	c = fakes.NewClientStream[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse](t.Context())
	c.Finish(nil)
	_, err = c.CloseAndRecv()
	wantCode(t, err, codes.Internal)
}

func TestClientStreamCopiesMessages(t *testing.T) {
	c := newClient(t)
	m := req(1)
	for i := range 3 {
		m.ResponseParameters[0].Size = int32(i)
		if err := c.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	wantMsgs(t, []*dupReq{req(0), req(1), req(2)}, c.Sent())
}

func TestClientStreamSendBuffer(t *testing.T) {
	c := newClient(t, fakes.WithSendBuffer(1))
	if err := c.Send(req(1)); err != nil {
		t.Fatal(err)
	}
	send := grpctest.GoErr(t, func() error { return c.Send(req(2)) })
	if !send.AssertBlocked(stillBlocked) {
		t.FailNow()
	}
	if _, err := c.Next(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, send); err != nil {
		t.Fatalf("Send: %v", err)
	}

	// Finish releases a blocked Send with io.EOF, as a server ending the call.
	c = newClient(t, fakes.WithSendBuffer(0))
	send = grpctest.GoErr(t, func() error { return c.Send(req(1)) })
	if !send.AssertBlocked(stillBlocked) {
		t.FailNow()
	}
	c.Finish(nil)
	if err := waitErr(t, send); err != io.EOF {
		t.Fatalf("Send released by Finish = %v, want io.EOF", err)
	}
}

func TestClientStreamFailAt(t *testing.T) {
	injected := status.Error(codes.Unavailable, "injected")
	c := newClient(t, fakes.WithFailAt(1, injected))
	if _, err := c.Recv(); err != injected {
		t.Fatalf("call 1 = %v, want the injected error", err)
	}
	c.Respond(res(1))
	if _, err := c.Recv(); err != nil { // only call 1 fails
		t.Fatalf("call 2: %v", err)
	}
}

// A Recv that fails without ending the stream (WithFailAt, a message of the
// wrong type) leaves Header waiting for the header, with or without a
// recorder (which reads the header after every Recv, without blocking).
func TestClientStreamHeaderWaitsAfterAFailedRecv(t *testing.T) {
	for _, rec := range []*recorder.Recorder{nil, recorder.New()} {
		opts := []fakes.Option{fakes.WithFailAt(1, errStr("injected"))}
		if rec != nil {
			opts = append(opts, fakes.WithRecorder(rec))
		}
		c := newClient(t, opts...)
		_, err := grpctest.Go(t, c.Recv).Wait(waitLimit)
		if err == nil || err.Error() != "injected" {
			t.Fatalf("Recv = %v, want the injected error", err)
		}
		if err := c.RecvMsg(new(dupReq)); status.Code(err) != codes.Internal {
			t.Fatalf("RecvMsg of the wrong type = %v, want codes.Internal", err)
		}
		header := grpctest.Go(t, c.Header)
		if !header.AssertBlocked(stillBlocked) {
			t.FailNow()
		}
		if err := c.RespondHeader(metadata.Pairs("k", "v")); err != nil {
			t.Fatal(err)
		}
		md, err := header.Wait(waitLimit)
		if err != nil || len(md.Get("k")) != 1 {
			t.Errorf("Header after a failed Recv (recorder %v) = %v, %v; want k=v", rec != nil, md, err)
		}
	}
}

// One goroutine sending and one receiving on each side at once, with a
// small buffer so that Sends block: run with -race.
func TestStreamsConcurrentSendAndRecv(t *testing.T) {
	const n = 200
	s := newDuplex(t, fakes.WithSendBuffer(1))
	c := newClient(t, fakes.WithSendBuffer(1))

	// Code under test on both fakes: a sender and a receiver goroutine each.
	handlerSends := grpctest.GoErr(t, func() error {
		for i := range n {
			if err := s.Send(res(int32(i % 7))); err != nil {
				return err
			}
		}
		return nil
	})
	handlerRecvs := grpctest.Go(t, func() (int, error) {
		for i := 0; ; i++ {
			if _, err := s.Recv(); err != nil {
				if errors.Is(err, io.EOF) {
					return i, nil
				}
				return i, err
			}
		}
	})
	clientSends := grpctest.GoErr(t, func() error {
		for i := range n {
			if err := c.Send(req(int32(i % 7))); err != nil {
				return err
			}
		}
		return c.CloseSend()
	})
	clientRecvs := grpctest.Go(t, func() (int, error) {
		for i := 0; ; i++ {
			if _, err := c.Recv(); err != nil {
				if errors.Is(err, io.EOF) {
					return i, nil
				}
				return i, err
			}
		}
	})

	// The test pipes the fake client's requests into the fake server and the
	// server's responses back: both test sides run concurrently too.
	pipeReqs := grpctest.GoErr(t, func() error {
		for {
			r, err := c.Next(t.Context())
			if errors.Is(err, io.EOF) {
				s.CloseSend()
				return nil
			}
			if err != nil {
				return err
			}
			s.Push(r)
		}
	})
	for range n {
		m, err := s.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		c.Respond(m)
	}
	// Finish only once every request went through: a Send after the server
	// finished would get io.EOF, as on a real stream.
	if err := waitErr(t, pipeReqs); err != nil {
		t.Fatalf("pipe: %v", err)
	}
	c.Finish(nil)

	for name, p := range map[string]*grpctest.Pending[struct{}]{"handler sends": handlerSends, "client sends": clientSends} {
		if err := waitErr(t, p); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, p := range map[string]*grpctest.Pending[int]{"handler recvs": handlerRecvs, "client recvs": clientRecvs} {
		got, err := p.Wait(waitLimit)
		if err != nil || got != n {
			t.Errorf("%s: %d messages, %v; want %d, nil", name, got, err, n)
		}
	}
}

// A Send that the test's cancel fails returns after the call's End is
// recorded: the code under test has returned, and the test checks the
// End at once. (It used to be recorded by context.AfterFunc, later, and
// an AssertOrder right after missed it in about one run in three.)
func TestCanceledSendHasItsEndRecorded(t *testing.T) {
	for range 20 {
		ctx, cancel := context.WithCancel(t.Context())
		rec := recorder.New()
		cs := fakes.NewClientStream[dupReq, dupRes](ctx, fakes.WithSendBuffer(0), fakes.WithRecorder(rec))
		send := grpctest.GoErr(t, func() error {
			if err := cs.Send(&dupReq{}); err != nil {
				return err
			}
			return cs.Send(&dupReq{}) // blocks: nobody reads it
		})
		if _, err := cs.Next(t.Context()); err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, err := send.Wait(time.Second); err != io.EOF {
			t.Fatalf("Send after cancel: %v, want io.EOF, as grpc's", err)
		}
		grpctest.AssertOrder(t, rec, grpctest.ClientSends(nil), grpctest.Ends(codes.Canceled))
	}
}
