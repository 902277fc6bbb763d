package fakes_test

import (
	"context"
	"errors"
	"fmt"
	"google.golang.org/protobuf/proto"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

const (
	unaryCall     = "/grpc.testing.TestService/UnaryCall"
	streamingOut  = "/grpc.testing.TestService/StreamingOutputCall"
	streamingIn   = "/grpc.testing.TestService/StreamingInputCall"
	unknownMethod = "/grpc.testing.TestService/NoSuchCall"
)

// exchange is client code under test: it sends reqs on a FullDuplexCall,
// half-closes and returns every response and the final status.
func exchange(ctx context.Context, client testpb.TestServiceClient, reqs ...*dupReq) ([]*dupRes, error) {
	stream, err := client.FullDuplexCall(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range reqs {
		if err := stream.Send(r); err != nil {
			break // the status comes from Recv
		}
	}
	if err := stream.CloseSend(); err != nil {
		return nil, err
	}
	return recvAll(stream)
}

// recvAll receives from stream until it ends: the responses, and nil for
// io.EOF or the error that ended it.
func recvAll[M any](stream interface{ Recv() (*M, error) }) ([]*M, error) {
	var got []*M
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, m)
	}
}

func TestServerScriptedBidi(t *testing.T) {
	srv := fakes.NewServer(t)
	srv.Expect(fullDuplex).
		SendHeader(metadata.Pairs("h", "1")).
		Recv(req(1)).
		Send(res(1)).
		Recv(req(2)).
		Send(res(2)).
		RecvEOF().
		SetTrailer(metadata.Pairs("t", "2")).
		Return(nil)

	client := testpb.NewTestServiceClient(srv.Conn())
	got, err := exchange(t.Context(), client, req(1), req(2))
	if err != nil {
		t.Fatal(err)
	}
	wantMsgs(t, []*dupRes{res(1), res(2)}, got)
	calls := srv.Recorder().Calls()
	if len(calls) != 1 {
		t.Fatalf("recorded %d calls, want 1:\n%s", len(calls), srv.Recorder())
	}
	wantMsgs(t, []string{"1"}, calls[0].Header().Get("h"))
	wantMsgs(t, []string{"2"}, calls[0].Trailer().Get("t"))
	// Only what causality guarantees: a message is sent before it is received,
	// and the script's RecvEOF waits for the client's CloseSend.
	grpctest.AssertOrder(t, srv.Recorder(),
		grpctest.ClientSends(req(1)), grpctest.ServerReceives(req(1)),
		grpctest.ServerSends(res(1)), grpctest.ClientReceives(res(1)), grpctest.ClientReceives(res(2)))
	grpctest.AssertOrder(t, srv.Recorder(), grpctest.ClientCloses(), grpctest.Ends(codes.OK))
}

func TestServerScriptedUnaryAndOtherKinds(t *testing.T) {
	srv := fakes.NewServer(t)
	srv.Expect(unaryCall).
		Recv(&testpb.SimpleRequest{ResponseSize: 3}).
		Send(&testpb.SimpleResponse{Username: "u"})
	srv.Expect(streamingOut).
		Recv(req(1, 2)).
		Send(res(1)).
		Send(res(2))
	srv.Expect(streamingIn).
		RecvAny().
		RecvAny().
		RecvEOF().
		Send(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: 2})
	client := testpb.NewTestServiceClient(srv.Conn())

	got, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{ResponseSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	wantMsgs(t, []*testpb.SimpleResponse{{Username: "u"}}, []*testpb.SimpleResponse{got})

	out, err := client.StreamingOutputCall(t.Context(), req(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	var outs []*dupRes
	for {
		m, err := out.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, m)
	}
	wantMsgs(t, []*dupRes{res(1), res(2)}, outs)

	in, err := client.StreamingInputCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := in.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: []byte{1}}}); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := in.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	if sum.GetAggregatedPayloadSize() != 2 {
		t.Errorf("CloseAndRecv = %v, want size 2", sum)
	}
}

func TestServerReturnStatus(t *testing.T) {
	srv := fakes.NewServer(t)
	srv.Expect(fullDuplex).RecvAny().Return(status.Error(codes.NotFound, "no such room"))
	_, err := exchange(t.Context(), testpb.NewTestServiceClient(srv.Conn()), req(1))
	wantCode(t, err, codes.NotFound)
}

func TestServerMismatchEndsCallAndIsReported(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(fullDuplex).Recv(req(1)).Send(res(1))

	_, err := exchange(t.Context(), testpb.NewTestServiceClient(srv.Conn()), req(2))
	wantCode(t, err, codes.FailedPrecondition)
	for _, part := range []string{"step 1 Recv", "request mismatch (-want +got)", `"size"`, fullDuplex} {
		if !strings.Contains(status.Convert(err).Message(), part) {
			t.Errorf("status message does not contain %q:\n%s", part, status.Convert(err).Message())
		}
	}
	spy.End()
	spy.WantText(t, "not used as scripted", "step 1 Recv", "mismatch (-want +got)", "server_test.go", "timeline:")
}

// A mismatch in a large bytes field is shown as a summary with the offset
// of the first difference, as in grpctest's diffs, not byte by byte.
func TestServerMismatchInALargePayload(t *testing.T) {
	want := &testpb.SimpleRequest{Payload: &testpb.Payload{Body: make([]byte, 64<<10)}}
	got := proto.Clone(want).(*testpb.SimpleRequest)
	got.Payload.Body[40000] = 1
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).Recv(want).Send(&testpb.SimpleResponse{})
	_, err := testpb.NewTestServiceClient(srv.Conn()).UnaryCall(t.Context(), got)
	wantCode(t, err, codes.FailedPrecondition)
	spy.End()
	spy.WantText(t, "request mismatch (-want +got)", "65536 bytes", "first difference at byte 40000")
}

func TestServerHalfCloseInsteadOfRequestIsAMismatch(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(fullDuplex).Recv(req(1)).RecvAny()
	_, err := exchange(t.Context(), testpb.NewTestServiceClient(srv.Conn()), req(1))
	wantCode(t, err, codes.FailedPrecondition)
	if !strings.Contains(err.Error(), "step 2 RecvAny") || !strings.Contains(err.Error(), "the client half-closed") {
		t.Errorf("status = %v; want it to name step 2 and the half-close", err)
	}
	spy.End()
	spy.WantText(t, "step 2 RecvAny")
}

func TestServerRecvEOFMismatch(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(fullDuplex).RecvEOF()
	_, err := exchange(t.Context(), testpb.NewTestServiceClient(srv.Conn()), req(5))
	wantCode(t, err, codes.FailedPrecondition)
	if !strings.Contains(err.Error(), "step 1 RecvEOF") || !strings.Contains(err.Error(), "size:5") {
		t.Errorf("status = %v; want it to name the step and the request got", err)
	}
	spy.End()
	spy.WantText(t, "step 1 RecvEOF")
}

func TestServerStepsNotReachedAreReported(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(fullDuplex).Recv(req(1)).Send(res(1)).Recv(req(2)).Send(res(2)).RecvEOF()

	// A client that gives up after the first response.
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(req(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	spy.End()
	spy.WantText(t, "(call 1 of 1): did not complete its script", "ended during step 3 Recv(", "steps not reached",
		"step 4 Send", "step 5 RecvEOF", "Canceled")
}

func TestServerExpectedCallNotMadeIsReported(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(fullDuplex).Recv(req(1)).SendHeader(metadata.Pairs("watch", "on")).SetTrailer(nil).RecvEOF()
	spy.End()
	spy.WantText(t, "expected 1 call(s), got 0", "step 1 Recv", `step 2 SendHeader(md{watch:"on"})`, "step 3 SetTrailer(md{})", "step 4 RecvEOF")
}

// The report of an expected call not made says what its script holds even
// when misuse left it without steps, instead of an empty list.
func TestServerExpectedCallNotMadeAfterMisuse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(srv *fakes.Server)
		want  []string
	}{
		{"every step rejected", func(srv *fakes.Server) { srv.Expect(streamingIn).Send(res(1)) },
			[]string{"expected 1 call(s), got 0; the script has no steps: its 1 step(s) were rejected as misuse, reported at their lines"}},
		{"a step rejected", func(srv *fakes.Server) { srv.Expect(streamingOut).Recv(req(1)).Recv(req(2)) },
			[]string{"expected 1 call(s), got 0; steps not reached in the missing call(s), without the 1 step(s) rejected as misuse", "step 1 Recv("}},
		{"no steps", func(srv *fakes.Server) { srv.Expect(fullDuplex) },
			[]string{"expected 1 call(s), got 0; the script has no steps"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			tc.build(fakes.NewServer(spy))
			spy.End()
			r := spy.Want(t, -1, tc.want...)
			if _, after, ok := strings.Cut(r.Msg, "missing call(s)"); ok && !strings.Contains(after, "step 1") {
				t.Errorf("the report announces the steps of the missing call but lists none:\n%s", r.Msg)
			}
		})
	}
}

func TestServerUnexpectedCallIsReported(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	_, err := testpb.NewTestServiceClient(srv.Conn()).UnaryCall(t.Context(), &testpb.SimpleRequest{})
	wantCode(t, err, codes.FailedPrecondition)
	if !strings.Contains(err.Error(), "unexpected call to "+unaryCall) {
		t.Errorf("status = %v; want it to name the unexpected call", err)
	}
	spy.End()
	spy.WantText(t, "unexpected call to "+unaryCall, "no Expect for it")
}

// A client that retries an unexpected call in a loop gets one line in the
// report, with the count, not one per call.
func TestServerUnexpectedCallsRepeatedAreCounted(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).RecvAny().Return(status.Error(codes.PermissionDenied, "no"))
	c := testpb.NewTestServiceClient(srv.Conn())
	for range 5 {
		_, err := c.UnaryCall(t.Context(), &testpb.SimpleRequest{})
		if status.Code(err) == codes.FailedPrecondition {
			continue
		}
		wantCode(t, err, codes.PermissionDenied)
	}
	if _, err := c.EmptyCall(t.Context(), &testpb.Empty{}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("EmptyCall: %v, want FailedPrecondition", err)
	}
	spy.End()
	r := spy.Want(t, 1, "(2 problem(s))", "unexpected call to "+unaryCall+": "+`Expect("`+unaryCall+`")`, "expected 1 call(s), all made (4 calls like this one)",
		"unexpected call to /grpc.testing.TestService/EmptyCall: no Expect for it\n")
	if list, _, _ := strings.Cut(r.Msg, "timeline:"); strings.Count(list, "unexpected call to "+unaryCall) != 1 {
		t.Errorf("the repeated call is listed more than once:\n%s", r.Msg)
	}
}

// A call that gRPC retries (a retry policy in the client's service
// config) comes to the fake server once per attempt: an attempt the
// scripts did not expect is reported as gRPC's retry, with the way out.
// A first attempt gets no such note.
func TestServerUnexpectedRetryIsNamed(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy, grpctest.WithDialOptions(grpc.WithDefaultServiceConfig(`{"methodConfig":[{"name":[{"service":"grpc.testing.TestService"}],
		"retryPolicy":{"maxAttempts":2,"initialBackoff":"0.01s","maxBackoff":"0.01s","backoffMultiplier":1.0,"retryableStatusCodes":["UNAVAILABLE"]}}]}`)))
	srv.Expect(unaryCall).RecvAny().Return(status.Error(codes.Unavailable, "try again"))
	c := testpb.NewTestServiceClient(srv.Conn())
	// The second attempt's answer, FailedPrecondition; or, now and then
	// under -race, io.EOF: grpc-go's unary call returns what SendMsg
	// returned when the server answered first (grpc/grpc-go#7230).
	if _, err := c.UnaryCall(t.Context(), &testpb.SimpleRequest{}); status.Code(err) != codes.FailedPrecondition && !errors.Is(err, io.EOF) {
		t.Fatalf("UnaryCall: %v, want FailedPrecondition (or io.EOF)", err)
	}
	if _, err := c.EmptyCall(t.Context(), &testpb.Empty{}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("EmptyCall: %v, want FailedPrecondition", err)
	}
	spy.End()
	r := spy.Want(t, 1, "unexpected call to "+unaryCall+": "+`Expect("`+unaryCall+`")`, "expected 1 call(s), all made (it is gRPC's retry of a call: its request metadata has grpc-previous-rpc-attempts;",
		"script each attempt, with Times(n) or one Expect per attempt, or end the call with a code the policy does not retry)",
		"unexpected call to /grpc.testing.TestService/EmptyCall: no Expect for it\n")
	if list, _, _ := strings.Cut(r.Msg, "timeline:"); strings.Count(list, "gRPC's retry") != 1 || strings.Contains(r.Msg[len(list):], "gRPC's retry") {
		t.Errorf("the retry note is not on the retried call's report alone (not in the call's status either):\n%s", r.Msg)
	}
}

func TestServerTimes(t *testing.T) {
	call := func(t testing.TB, srv *fakes.Server) error {
		_, err := testpb.NewTestServiceClient(srv.Conn()).UnaryCall(t.Context(), &testpb.SimpleRequest{})
		return err
	}
	t.Run("exact", func(t *testing.T) {
		spy := spytb.New(t)
		srv := fakes.NewServer(spy)
		srv.Expect(unaryCall).RecvAny().Send(&testpb.SimpleResponse{}).Times(3)
		for range 3 {
			if err := call(t, srv); err != nil {
				t.Fatal(err)
			}
		}
		spy.End()
		spy.WantClean(t)
	})
	t.Run("under", func(t *testing.T) {
		spy := spytb.New(t)
		srv := fakes.NewServer(spy)
		srv.Expect(unaryCall).RecvAny().Send(&testpb.SimpleResponse{}).Times(3)
		for range 2 {
			if err := call(t, srv); err != nil {
				t.Fatal(err)
			}
		}
		spy.End()
		spy.WantText(t, "expected 3 call(s), got 2")
	})
	t.Run("over", func(t *testing.T) {
		spy := spytb.New(t)
		srv := fakes.NewServer(spy)
		srv.Expect(unaryCall).RecvAny().Send(&testpb.SimpleResponse{}).Times(2)
		for range 2 {
			if err := call(t, srv); err != nil {
				t.Fatal(err)
			}
		}
		wantCode(t, call(t, srv), codes.FailedPrecondition)
		spy.End()
		spy.WantText(t, "unexpected call to "+unaryCall, "expected 2 call(s), all made")
	})
	t.Run("zero", func(t *testing.T) {
		spy := spytb.New(t)
		srv := fakes.NewServer(spy)
		srv.Expect(unaryCall).Times(0)
		wantCode(t, call(t, srv), codes.FailedPrecondition)
		spy.End()
		spy.WantText(t, "unexpected call to "+unaryCall, "expects no call")
	})
	t.Run("scripts in order", func(t *testing.T) {
		srv := fakes.NewServer(t)
		srv.Expect(unaryCall).RecvAny().Send(&testpb.SimpleResponse{Username: "first"})
		srv.Expect(unaryCall).RecvAny().Send(&testpb.SimpleResponse{Username: "second"})
		for _, want := range []string{"first", "second"} {
			got, err := testpb.NewTestServiceClient(srv.Conn()).UnaryCall(t.Context(), &testpb.SimpleRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if got.GetUsername() != want {
				t.Errorf("got %q, want %q", got.GetUsername(), want)
			}
		}
	})
}

func TestServerHang(t *testing.T) {
	srv := fakes.NewServer(t)
	srv.Expect(fullDuplex).Recv(req(1)).Send(res(1)).Hang()

	ctx, cancel := context.WithCancel(t.Context())
	stream, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(req(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	// Even after the client half-closes, the stream stays open: no implied EOF.
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	recv := grpctest.Go(t, stream.Recv)
	recv.AssertBlocked(stillBlocked)
	cancel()
	_, err = recv.Wait(waitLimit)
	wantCode(t, err, codes.Canceled)
}

func TestServerSleepHonoursDeadline(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(fullDuplex).Sleep(time.Hour).Send(res(1))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := exchange(ctx, testpb.NewTestServiceClient(srv.Conn()))
	wantCode(t, err, codes.DeadlineExceeded)
	spy.End() // returns at once: the Sleep ended with the call
	spy.WantText(t, "(call 1 of 1): did not complete its script", "ended during step 1 Sleep(1h0m0s)", "end with Hang", "step 2 Send")
}

// notReachedSteps returns what a report lists as steps not reached: the
// text after "steps not reached:" up to the timeline, "" without a list.
func notReachedSteps(report string) string {
	_, list, ok := strings.Cut(report, "steps not reached:")
	if !ok {
		return ""
	}
	list, _, _ = strings.Cut(list, "timeline:")
	return list
}

// A step the call reached and ended in is named as such, never listed among
// the steps not reached; only the steps after it are.
func TestServerStepThatEndedTheCallIsNotListedAsNotReached(t *testing.T) {
	t.Run("an injected failure in the middle", func(t *testing.T) {
		spy := spytb.New(t)
		srv := fakes.NewServer(spy, grpctest.WithServerOptions(grpc.ChainStreamInterceptor(
			fakes.FailAfter(fullDuplex, 2, errInjected))))
		srv.Expect(fullDuplex).Recv(req(1)).Send(res(1)).Recv(req(2)).Send(res(2))
		_, err := exchange(t.Context(), testpb.NewTestServiceClient(srv.Conn()), req(1), req(2))
		wantCode(t, err, codes.Unavailable)
		spy.End()
		spy.Want(t, 1, "did not complete its script: the call ended during step 3 Recv(", "injected by fakes.FailAfter")
		if list := notReachedSteps(spy.Text()); strings.Contains(list, "step 3") || !strings.Contains(list, "step 4 Send(") {
			t.Errorf("steps not reached:%s\nwant step 4 only (step 3 was reached and failed)", list)
		}
	})
	t.Run("a client cancel during a Recv", func(t *testing.T) {
		spy := cancelAfterFirstResponse(t, func(sc *fakes.Script) { sc.Send(res(1)).Recv(req(1)).Send(res(2)) })
		spy.Want(t, 1, "did not complete its script: the call ended during step 2 Recv(", "Canceled",
			"the client canceled the call, or its deadline passed, before the script's end: if the client should have finished the call (read to the end, or read its one response), that is the bug; if it may cancel there, add AllowCancel() to the script")
	})
	t.Run("a client cancel during a last Sleep", func(t *testing.T) {
		spy := cancelAfterFirstResponse(t, func(sc *fakes.Script) { sc.Send(res(1)).Sleep(time.Hour) })
		spy.Want(t, 1, "did not complete its script: the call ended during step 2 Sleep(1h0m0s)", "Canceled", "no step after it", "end with Hang")
		if list := notReachedSteps(spy.Text()); list != "" {
			t.Errorf("report lists steps not reached:%s\nwant none (the Sleep, the last step, was reached)", list)
		}
	})
}

// cancelAfterFirstResponse runs a FullDuplexCall on a fake server whose
// script script adds the steps of, cancels it once the first response has
// come, and returns the spy once the fake has closed.
func cancelAfterFirstResponse(t *testing.T, script func(*fakes.Script)) *spytb.TB {
	t.Helper()
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	script(srv.Expect(fullDuplex))
	cancel := openAndReceiveOne(t, srv)
	cancel()
	spy.End()
	return spy
}

// openAndReceiveOne opens a FullDuplexCall on srv and receives one
// response; it returns the cancel of the call's context.
func openAndReceiveOne(t *testing.T, srv *fakes.Server) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		cancel()
		t.Fatal(err)
	}
	return cancel
}

func TestServerSleep(t *testing.T) {
	srv := fakes.NewServer(t)
	srv.Expect(fullDuplex).Sleep(time.Millisecond).Send(res(1))
	got, err := exchange(t.Context(), testpb.NewTestServiceClient(srv.Conn()))
	if err != nil {
		t.Fatal(err)
	}
	wantMsgs(t, []*dupRes{res(1)}, got)
}

// A header can be sent once, before the first response: a SendHeader
// after a Send, or a second one, is a misuse, reported at its line and
// dropped (the call runs without it).
func TestServerLateSendHeaderIsAMisuse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(sc *fakes.Script)
		want  string
	}{
		{"after a Send", func(sc *fakes.Script) { sc.Send(res(1)).SendHeader(metadata.Pairs("late", "1")) }, "SendHeader after a Send"},
		{"twice", func(sc *fakes.Script) {
			sc.SendHeader(metadata.Pairs("a", "1")).SendHeader(metadata.Pairs("b", "2")).Send(res(1))
		}, "a second SendHeader"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			srv := fakes.NewServer(spy)
			tc.build(srv.Expect(fullDuplex))
			spy.Want(t, 1, "step 2 SendHeader", tc.want)
			if _, err := exchange(t.Context(), testpb.NewTestServiceClient(srv.Conn())); err != nil {
				t.Fatalf("the call, without the step: %v", err)
			}
			srv.Close()
			spy.Want(t, 1) // nothing more
		})
	}
}

// Steps added once a call of the script has arrived would run in none of
// the calls already made: a misuse, reported at the step's line.
func TestServerStepAfterTheCallArrived(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	sc := srv.Expect(fullDuplex).Recv(req(1)).Send(res(1))
	stream, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(req(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	sc.Recv(req(2)).Send(res(2)) // too late: the call has its steps
	spy.Want(t, 2, "step 3 Recv", "added after 1 call(s) of the script arrived", "would not run", "script every step before the client makes the call")
	spy.Want(t, 2, "step 3 Send", "added after 1 call(s)")
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv after the script's last step: %v, want io.EOF", err)
	}
	srv.Close()
	spy.Want(t, 2)
}

func TestServerMisuseAtThePointOfMisuse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(srv *fakes.Server)
		want  []string
	}{
		{"Send of the wrong type", func(srv *fakes.Server) { srv.Expect(fullDuplex).Send(&testpb.SimpleResponse{}) },
			[]string{"step 1 Send", "grpc.testing.SimpleResponse", "grpc.testing.StreamingOutputCallResponse", "server_test.go"}},
		{"Recv of the wrong type", func(srv *fakes.Server) { srv.Expect(fullDuplex).Recv(&testpb.SimpleRequest{}) },
			[]string{"step 1 Recv", "grpc.testing.SimpleRequest", "grpc.testing.StreamingOutputCallRequest"}},
		{"Recv of a non-proto", func(srv *fakes.Server) { srv.Expect(fullDuplex).Recv("hello") },
			[]string{"Recv got a string", "not a proto message"}},
		{"Send of nil", func(srv *fakes.Server) { srv.Expect(fullDuplex).Send(nil) },
			[]string{"Send(nil)", "grpc.testing.StreamingOutputCallResponse"}},
		{"Send of a typed nil", func(srv *fakes.Server) { srv.Expect(fullDuplex).Send((*dupRes)(nil)) },
			[]string{"nil *grpc_testing.StreamingOutputCallResponse"}},
		{"second request of a unary method", func(srv *fakes.Server) { srv.Expect(unaryCall).RecvAny().RecvAny() },
			[]string{"step 2 RecvAny", "not client-streaming"}},
		{"second response of a unary method", func(srv *fakes.Server) {
			srv.Expect(unaryCall).RecvAny().Send(&testpb.SimpleResponse{}).Send(&testpb.SimpleResponse{})
		}, []string{"step 3 Send", "not server-streaming"}},
		{"step after Return", func(srv *fakes.Server) { srv.Expect(fullDuplex).Return(nil).RecvEOF() },
			[]string{"step 2 RecvEOF", "after Return"}},
		{"step after Hang", func(srv *fakes.Server) { srv.Expect(fullDuplex).Hang().Send(res(1)) },
			[]string{"step 2 Send", "after Hang"}},
		{"negative Times", func(srv *fakes.Server) { srv.Expect(fullDuplex).Times(-1) },
			[]string{"Times(-1)"}},
		{"negative Sleep", func(srv *fakes.Server) { srv.Expect(fullDuplex).Sleep(-time.Second) },
			[]string{"Sleep(-1s)"}},
		{"unknown method", func(srv *fakes.Server) { srv.Expect(unknownMethod).RecvAny() },
			[]string{`Expect("/grpc.testing.TestService/NoSuchCall")`, "has no method NoSuchCall", "FullDuplexCall", "UnaryCall"}},
		{"unknown service", func(srv *fakes.Server) { srv.Expect("/grpc.testing.NoSuchService/Call") },
			[]string{"no service grpc.testing.NoSuchService is registered", "grpc.testing.TestService"}},
		{"not a method name", func(srv *fakes.Server) { srv.Expect("TestService.FullDuplexCall") },
			[]string{"/pkg.Service/Method"}},
		{"a descriptor's full name", func(srv *fakes.Server) { srv.Expect("grpc.testing.TestService.FullDuplexCall") },
			[]string{`(or "pkg.Service/Method"); the name of a method's descriptor, "pkg.Service.Method", is "/grpc.testing.TestService/FullDuplexCall" here`}},
		{"spaces", func(srv *fakes.Server) { srv.Expect(" grpc.testing.TestService/FullDuplexCall") },
			[]string{`Expect(" grpc.testing.TestService/FullDuplexCall")`, "the name has spaces in it"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			srv := fakes.NewServer(spy)
			tc.build(srv)
			spy.WantText(t, tc.want...)
		})
	}
}

// An Expect of an unknown method reports once, at Expect, not again at Close.
func TestServerUnknownMethodReportedOnce(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unknownMethod).Recv(req(1)).Send(res(1))
	spy.End()
	spy.Want(t, 1) // at Expect
}

func TestServerCleanRunReportsNothing(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(fullDuplex).Recv(req(1)).Send(res(1)).RecvEOF()
	if _, err := exchange(t.Context(), testpb.NewTestServiceClient(srv.Conn()), req(1)); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	srv.Close() // idempotent
	spy.End()
	spy.WantClean(t)
}

// A call of a method without server streaming cannot end OK without its
// one response. Reaching the end of a script without a Send fails the call
// with codes.FailedPrecondition naming the script, and Close reports it
// (grpc's client alone would get an unexplained "cardinality violation").
func TestServerCallWithoutItsOneResponse(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).Recv(&testpb.SimpleRequest{})
	srv.Expect(streamingIn).RecvAny().RecvEOF()
	client := testpb.NewTestServiceClient(srv.Conn())

	_, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	wantCode(t, err, codes.FailedPrecondition)
	for _, part := range []string{unaryCall, "after the last step", "without a response", "not server-streaming", "add a Send step"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("UnaryCall = %v; want it to contain %q", err, part)
		}
	}
	in, err := client.StreamingInputCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Send(&testpb.StreamingInputCallRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err = in.CloseAndRecv()
	wantCode(t, err, codes.FailedPrecondition)

	srv.Close()
	spy.Want(t, 1, "not used as scripted (2 problem(s))", unaryCall, streamingIn, "without a response")
}

// Return(nil) before the one response is rejected at its line; the call
// then ends at the end of the script, without a response, which Close
// reports too. Returning an error without a response is fine, and so is
// Return(nil) after the Send.
func TestServerReturnNilWithoutTheOneResponse(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).Recv(&testpb.SimpleRequest{}).Return(nil)
	spy.Want(t, 1, "step 2 Return", "Return(nil) before the response", "not server-streaming")

	srv.Expect(unaryCall).RecvAny().Return(status.Error(codes.NotFound, "no"))
	srv.Expect(unaryCall).RecvAny().Send(&testpb.SimpleResponse{}).Return(nil)
	srv.Expect(streamingOut).RecvAny().Return(nil) // server-streaming: no response is fine
	if n := len(spy.Reports()); n != 1 {
		t.Fatalf("legal scripts reported:\n%s", spy.Text())
	}

	client := testpb.NewTestServiceClient(srv.Conn())
	_, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = client.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	wantCode(t, err, codes.NotFound)
	if _, err = client.UnaryCall(t.Context(), &testpb.SimpleRequest{}); err != nil {
		t.Errorf("UnaryCall with its response = %v", err)
	}
	out, err := client.StreamingOutputCall(t.Context(), req())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := out.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("StreamingOutputCall scripted without responses: Recv = %v, want io.EOF", err)
	}

	srv.Close()
	spy.Want(t, 2, "not used as scripted (1 problem(s))", "after the last step", "without a response")
}

// A request no step receives is dropped when the script ends, as a real
// server drops it; RecvEOF is how a script says the client sends nothing
// more, and then the request is a mismatch.
func TestServerUnreadRequest(t *testing.T) {
	for _, withEOF := range []bool{false, true} {
		t.Run(fmt.Sprint("RecvEOF=", withEOF), func(t *testing.T) {
			spy := spytb.New(t)
			srv := fakes.NewServer(spy)
			sc := srv.Expect(fullDuplex).Recv(req(1)).Send(res(1))
			if withEOF {
				sc.RecvEOF()
			}
			got, err := exchange(t.Context(), testpb.NewTestServiceClient(srv.Conn()), req(1), req(2))
			srv.Close()
			if !withEOF {
				if err != nil || len(got) != 1 {
					t.Errorf("exchange: %d response(s), %v; want the one response, OK", len(got), err)
				}
				spy.WantClean(t)
				return
			}
			wantCode(t, err, codes.FailedPrecondition)
			spy.Want(t, 1, "step 3 RecvEOF", "want the end of the requests (the client half-closes), got another request {response_parameters:[{size:2}]}")
		})
	}
}

// A call left waiting in RecvEOF because its client never half-closed is
// reported with a note that says so; one waiting in a Recv for a request
// the client never sent is not.
func TestServerClientNeverHalfClosed(t *testing.T) {
	for _, step := range []string{"RecvEOF", "Recv"} {
		t.Run(step, func(t *testing.T) {
			spy := spytb.New(t)
			srv := fakes.NewServer(spy, grpctest.WithCloseTimeout(100*time.Millisecond))
			chunk := &testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: []byte("x")}}
			sc := srv.Expect(streamingIn).Recv(chunk)
			if step == "RecvEOF" {
				sc.RecvEOF()
			} else {
				sc.Recv(chunk)
			}
			sc.Send(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: 1})
			stream, err := testpb.NewTestServiceClient(srv.Conn()).StreamingInputCall(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.Send(chunk); err != nil {
				t.Fatal(err)
			}
			// The script has the chunk: it waits in its step 2.
			if err := srv.Recorder().Wait(t.Context(), func(evs []recorder.Event) bool {
				return slices.ContainsFunc(evs, func(e recorder.Event) bool { return e.Side == recorder.Server && e.Kind == recorder.Recv })
			}); err != nil {
				t.Fatal(err)
			}
			srv.Close() // the test forgot CloseSend
			// The harness reports the stream left open too.
			r := spy.Want(t, 2, "did not complete its script", "step 2 "+step)
			note := strings.Contains(r.Msg, "the step waits for the client to half-close, and it never did (no CloseSend)")
			if note != (step == "RecvEOF") {
				t.Errorf("the note on CloseSend is there: %v, want %v:\n%s", note, step == "RecvEOF", r.Msg)
			}
		})
	}
}

// A client that gives up (cancels) while the script waits for its
// CloseSend is told about the CloseSend, not to allow the cancel; one that
// gives up while the script waits for a request is told to allow it.
func TestServerClientCanceledWithoutHalfClosing(t *testing.T) {
	for _, step := range []string{"RecvEach", "Recv"} {
		t.Run(step, func(t *testing.T) {
			spy := spytb.New(t)
			srv := fakes.NewServer(spy)
			chunk := &testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: []byte("x")}}
			sc := srv.Expect(streamingIn)
			if step == "RecvEach" {
				sc.RecvEach(func(*testpb.StreamingInputCallRequest) error { return nil })
			} else {
				sc.Recv(chunk).Recv(chunk) // the client sends one
			}
			sc.Send(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: 1})
			ctx, cancel := context.WithCancel(t.Context())
			stream, err := testpb.NewTestServiceClient(srv.Conn()).StreamingInputCall(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.Send(chunk); err != nil {
				t.Fatal(err)
			}
			// The script has the chunk: the client gives up.
			waitServer := func(k recorder.Kind) {
				t.Helper()
				if err := srv.Recorder().Wait(t.Context(), func(evs []recorder.Event) bool {
					return slices.ContainsFunc(evs, func(e recorder.Event) bool { return e.Side == recorder.Server && e.Kind == k })
				}); err != nil {
					t.Fatal(err)
				}
			}
			waitServer(recorder.Recv)
			cancel()
			waitServer(recorder.End)
			srv.Close()
			r := spy.Want(t, 1, "did not complete its script")
			hint := strings.Contains(r.Msg, "before the script's end: if the client should have finished the call (read to the end, or read its one response), that is the bug; if it may cancel there, add AllowCancel()")
			note := strings.Contains(r.Msg, "while the step waited for it to half-close; if it may cancel there, add AllowCancel() to the script") &&
				strings.Contains(r.Msg, "the step waits for the client to half-close, and it never did (no CloseSend)")
			if each := step == "RecvEach"; hint == each || note != each {
				t.Errorf("AllowCancel hint %v, CloseSend note %v; want %v and %v:\n%s", hint, note, !each, each, r.Msg)
			}
		})
	}
}

// The note that a call canceled before it reached the server does not
// count comes only when the recorder shows such a call.
func TestServerExpectedCallNoteOnlyForCanceledCalls(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).RecvAny().Send(&testpb.SimpleResponse{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := testpb.NewTestServiceClient(srv.Conn()).UnaryCall(ctx, &testpb.SimpleRequest{}); status.Code(err) != codes.Canceled {
		t.Fatalf("UnaryCall with a canceled context: %v", err)
	}
	spy.End()
	spy.Want(t, 1, "expected 1 call(s), got 0 (a call the client canceled before it reached the server does not count: gRPC runs no handler for it)")
}

// A long list of problems is cut after ten; the items do not repeat the
// package's name, which the report's first line gives.
func TestServerCloseCapsItsProblems(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).Recv(&testpb.SimpleRequest{ResponseSize: 1}).Send(&testpb.SimpleResponse{}).Times(30)
	for i := range 30 {
		_, err := testpb.NewTestServiceClient(srv.Conn()).UnaryCall(t.Context(), &testpb.SimpleRequest{ResponseSize: int32(i + 2)})
		if status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("call %d: %v, want the fake's FailedPrecondition", i, err)
		}
	}
	spy.End()
	r := spy.Want(t, 1, "fakes: the fake server was not used as scripted (30 problem(s)):\n  1. Expect(", "\n  10. Expect(", "\n  … and 20 more problem(s)\nrecorded timeline:\n")
	list, _, _ := strings.Cut(r.Msg, "recorded timeline:") // the timeline shows the statuses the client got, "fakes: ..."
	if strings.Contains(list, "11. ") || strings.Count(list, "fakes: ") != 1 {
		t.Errorf("more than ten problems listed, or the package named in the items:\n%s", r.Msg)
	}
	// An item's own lines are indented under its text, for "10." too.
	_, tenth, _ := strings.Cut(strings.ReplaceAll(list, "\u00a0", " "), "\n  10. ") // go-cmp puts in non-breaking spaces at random
	// Six spaces for "  10. ", then the diff's own two.
	if lines := strings.Split(tenth, "\n"); len(lines) < 2 || !strings.HasPrefix(lines[1], "      "+"  (*grpc_testing.SimpleRequest)") {
		t.Errorf("item 10's diff is not indented under it:\n%s", tenth)
	}
}

// A report names a call as its script counts it and, when that differs,
// as the timeline does.
func TestServerReportNamesTheTimelinesCall(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect("/grpc.testing.TestService/EmptyCall").RecvAny().Send(&testpb.Empty{})
	srv.Expect(unaryCall).Recv(&testpb.SimpleRequest{ResponseSize: 1}).Send(&testpb.SimpleResponse{})
	client := testpb.NewTestServiceClient(srv.Conn())
	if _, err := client.EmptyCall(t.Context(), &testpb.Empty{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{ResponseSize: 2}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("UnaryCall: %v, want the fake's FailedPrecondition", err)
	}
	spy.End()
	r := spy.Want(t, 1, `Expect("/grpc.testing.TestService/UnaryCall") at server_test.go:`, "(call 1 of 1, the timeline's call 2): step 1 Recv")
	if strings.Contains(r.Msg, "EmptyCall\") at server_test.go") {
		t.Errorf("the call that went as scripted is reported:\n%s", r.Msg)
	}
}

// When the harness's Close reports too (here a stream never finished), the
// recorded timeline is printed once, under the harness's report, and the
// fake server's report refers to it.
func TestServerCloseShowsOneTimeline(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(fullDuplex).Recv(req(1)).Send(res(1)).RecvEOF()
	stream, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(req(2)); err != nil { // not the request the script wants
		t.Fatal(err)
	}
	spy.End()
	if n := strings.Count(spy.Text(), "recorded timeline"); n != 2 { // the timeline, and the reference to it
		t.Errorf("'recorded timeline' %d times, want 2:\n%s", n, spy.Text())
	}
	spy.Want(t, 2, "was never finished", "\nrecorded timeline (up to Close")
	spy.Want(t, 2, "fakes: the fake server was not used as scripted", "\n(the recorded timeline is under the harness's report above)")
}

// Expect and WithMethod take a method name without its leading slash, as
// recorder.WithMethods does; a name that is not a method's still fails.
func TestMethodNamesWithoutTheLeadingSlash(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(strings.TrimPrefix(unaryCall, "/")).Recv(&testpb.SimpleRequest{ResponseSize: 1}).Send(&testpb.SimpleResponse{Username: "u"})
	res, err := testpb.NewTestServiceClient(srv.Conn()).UnaryCall(t.Context(), &testpb.SimpleRequest{ResponseSize: 1})
	if err != nil || res.GetUsername() != "u" {
		t.Fatalf("UnaryCall: %v, %v; want the scripted response", res, err)
	}
	srv.Close()
	spy.WantClean(t)

	c := fakes.NewClientStream[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse](t.Context(),
		fakes.WithMethod(strings.TrimPrefix(streamingOut, "/")))
	if err := c.Send(&testpb.StreamingOutputCallRequest{}); err != nil {
		t.Fatal(err)
	}
	// Server streaming, as the registered method says: the one Send
	// half-closed the requests, so a second is refused.
	if err := c.Send(&testpb.StreamingOutputCallRequest{}); status.Code(err) != codes.Internal {
		t.Errorf("second Send on a server-streaming method named without its slash: %v, want Internal", err)
	}

	spy = spytb.New(t)
	srv = fakes.NewServer(spy)
	srv.Expect("UnaryCall")
	spy.Want(t, 1, `fakes: Expect("UnaryCall"): want a full method name of the form "/pkg.Service/Method"`)
	srv.Close()

	// A report on the script quotes the name as the test wrote it.
	spy = spytb.New(t)
	srv = fakes.NewServer(spy)
	srv.Expect(strings.TrimPrefix(unaryCall, "/"))
	srv.Close()
	spy.Want(t, 1, `Expect("grpc.testing.TestService/UnaryCall") at server_test.go:`)
}

// As AllowCancel's doc says: a client that cancels once the script has
// completed is not reported by the script, though it never read the last
// response; an assertion on the client's side catches that.
func TestServerCancelAfterTheScriptCompleted(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(fullDuplex).Send(res(1)).Send(res(2))
	cancel := openAndReceiveOne(t, srv)
	serverEnded := func(evs []recorder.Event) bool {
		return slices.ContainsFunc(evs, func(e recorder.Event) bool { return e.Side == recorder.Server && e.Kind == recorder.End })
	}
	if err := srv.Recorder().Wait(t.Context(), serverEnded); err != nil {
		t.Fatal(err)
	}
	cancel() // never reads res(2)
	spy.End()
	spy.WantClean(t)

	client := spytb.New(t)
	grpctest.AssertOrder(client, srv.Recorder(), grpctest.ClientReceives(res(1)), grpctest.ClientReceives(res(2)))
	client.Want(t, 1, "ClientReceives(")
}

// Scripts made at one line (in a loop, or by a helper) are told apart in
// reports; a script alone at its line keeps its plain name.
func TestServerScriptsMadeAtOneLineAreNumbered(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	for _, n := range []int32{1, 2, 3} {
		srv.Expect(fullDuplex).Recv(req(n)).Send(res(n))
	}
	srv.Expect(unaryCall).RecvAny()
	got, err := exchange(t.Context(), testpb.NewTestServiceClient(srv.Conn()), req(1))
	if err != nil {
		t.Fatal(err)
	}
	wantMsgs(t, []*dupRes{res(1)}, got)
	spy.End()
	text := spy.Text()
	for _, want := range []string{"(script 2 of the 3 made there)", "(script 3 of the 3 made there)", `Expect("` + unaryCall + `") at server_test.go:`} {
		if !strings.Contains(text, want) {
			t.Errorf("reports do not name %q:\n%s", want, text)
		}
	}
	for _, unwanted := range []string{"(script 1 of the 3 made there)", "of the 1 made there"} {
		if strings.Contains(text, unwanted) {
			t.Errorf("reports name %q (script 1 completed; a script alone at its line keeps its plain name):\n%s", unwanted, text)
		}
	}
}
