package fakes_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/recorder"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// waitingService's FullDuplexCall ends only when its call does: the
// client's stream ends by what the client does, not by the server.
type waitingService struct {
	testpb.UnimplementedTestServiceServer
}

func (waitingService) FullDuplexCall(st testpb.TestService_FullDuplexCallServer) error {
	<-st.Context().Done()
	return status.FromContextError(st.Context().Err()).Err()
}

// A Send that fails with an error of the stream's own (not io.EOF) ends a
// real grpc-go client stream: its Recv returns that error at once, and its
// Context ends. Client code that, after a failed Send, calls Recv for the
// status must not hang on the fake where it would not on a real stream.
func TestFailedSendEndsTheStreamAsGRPCs(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(st grpc.BidiStreamingClient[dupReq, dupRes]) error
	}{
		{"Send after CloseSend", func(st grpc.BidiStreamingClient[dupReq, dupRes]) error {
			if err := st.CloseSend(); err != nil {
				return err
			}
			return st.Send(req(1))
		}},
		{"SendMsg of a message the codec cannot marshal", func(st grpc.BidiStreamingClient[dupReq, dupRes]) error {
			return st.SendMsg("not a proto message")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outcome := func(st grpc.BidiStreamingClient[dupReq, dupRes]) (sendCode, recvCode codes.Code, ctxEnded bool, nextSend error) {
				t.Helper()
				sendErr := tc.fail(st)
				if sendErr == nil {
					t.Fatalf("the Send did not fail")
				}
				if _, err := grpctest.Go(t, func() (metadata.MD, error) { return st.Header() }).Wait(waitLimit); err != nil && status.Code(err) == codes.Unknown {
					t.Errorf("Header after the failed Send: %v", err) // still waiting: Wait's own error
				}
				recv := grpctest.Go(t, func() (*dupRes, error) { return st.Recv() })
				_, recvErr := recv.Wait(waitLimit)
				return status.Code(sendErr), status.Code(recvErr), st.Context().Err() != nil, st.Send(req(2))
			}

			srv := grpctest.NewServer(t, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, waitingService{}) })
			real, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			realSend, realRecv, realCtx, realNext := outcome(real)

			rec := recorder.New()
			fake := fakes.NewClientStream[dupReq, dupRes](t.Context(), fakes.WithMethod(fullDuplex), fakes.WithRecorder(rec))
			fakeSend, fakeRecv, fakeCtx, fakeNext := outcome(fake)
			if _, err := fake.Next(t.Context()); !errors.Is(err, io.EOF) {
				t.Errorf("the test's Next after the stream ended: %v, want io.EOF (the code sends nothing more)", err)
			}
			fake.Respond(res(1)) // the server answers late: nothing reaches the ended stream
			fake.Finish(nil)

			if realSend != fakeSend || realRecv != fakeRecv || realCtx != fakeCtx {
				t.Errorf("real: Send %v, then Recv %v, Context ended %v; fake: Send %v, then Recv %v, Context ended %v",
					realSend, realRecv, realCtx, fakeSend, fakeRecv, fakeCtx)
			}
			if errors.Is(realNext, io.EOF) != errors.Is(fakeNext, io.EOF) || status.Code(realNext) != status.Code(fakeNext) {
				t.Errorf("a Send after the failed one: real %v, fake %v; want the same", realNext, fakeNext)
			}
			if realRecv != realSend {
				t.Errorf("real Recv after the failed Send = %v, want the Send's %v", realRecv, realSend)
			}
			var ends []recorder.Event
			for _, e := range rec.Events() {
				if e.Kind == recorder.End {
					ends = append(ends, e)
				}
			}
			if len(ends) != 1 || status.Code(ends[0].Err) != fakeSend {
				t.Errorf("fake's recorded Ends %v, want one with %v\n%s", ends, fakeSend, rec)
			}
		})
	}
}

// The fake does not wait: the Recv after the failed Send returns at once,
// without a deadline to end it.
func TestFailedSendRecvDoesNotWait(t *testing.T) {
	fake := fakes.NewClientStream[dupReq, dupRes](t.Context(), fakes.WithMethod(fullDuplex))
	if err := fake.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if err := fake.Send(req(1)); status.Code(err) != codes.Internal {
		t.Fatalf("Send after CloseSend = %v, want Internal", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := fake.Next(ctx); err == nil {
		t.Errorf("Next found a request the failed Send did not send")
	}
	if _, err := grpctest.Go(t, func() (*dupRes, error) { return fake.Recv() }).Wait(waitLimit); status.Code(err) != codes.Internal {
		t.Errorf("Recv after the failed Send = %v, want its Internal", err)
	}
}

// With WithRecorder, a stream that a Send ended records its End when the
// code's Recv returns the error, after the responses it received, as the
// recorder does on a real stream.
func TestFailedSendEndRecordedAsGRPCs(t *testing.T) {
	rec := recorder.New()
	fake := fakes.NewClientStream[dupReq, dupRes](t.Context(), fakes.WithMethod(fullDuplex), fakes.WithRecorder(rec))
	fake.Respond(res(1))
	if err := fake.Send(req(1)); err != nil {
		t.Fatal(err)
	}
	if err := fake.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if err := fake.Send(req(2)); status.Code(err) != codes.Internal {
		t.Fatalf("Send after CloseSend: %v, want Internal", err)
	}
	if _, err := fake.Recv(); err != nil {
		t.Fatalf("Recv of the response given before: %v", err)
	}
	if _, err := fake.Recv(); status.Code(err) != codes.Internal {
		t.Fatalf("Recv after the response: %v, want the Send's Internal", err)
	}
	grpctest.AssertOrder(t, rec, grpctest.ClientReceives(res(1)), grpctest.Ends(codes.Internal))
}

// A second CloseAndRecv, after the one response, returns io.EOF, as grpc's.
func TestSecondCloseAndRecvAsGRPCs(t *testing.T) {
	fake := fakes.NewClientStream[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse](t.Context(), fakes.WithMethod(streamingIn))
	fake.Respond(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: 1})
	if _, err := fake.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	fakeErr := func() error { _, err := fake.CloseAndRecv(); return err }()

	srv := fakes.NewServer(t)
	srv.Expect(streamingIn).RecvEOF().Send(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: 1})
	real, err := testpb.NewTestServiceClient(srv.Conn()).StreamingInputCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := real.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	_, realErr := real.CloseAndRecv()
	if !errors.Is(realErr, io.EOF) || !errors.Is(fakeErr, io.EOF) {
		t.Errorf("a second CloseAndRecv: real %v, fake %v; want io.EOF from both", realErr, fakeErr)
	}
}
