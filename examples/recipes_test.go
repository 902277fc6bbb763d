package examples_test

// Recipes for the harness, the recorder and the message and order
// assertions: each test is one thing a user would copy. They run the Chat
// service with real grpc-go over an in-memory connection (one over
// loopback TCP).

import (
	"context"
	"errors"
	"io"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/examples"
	"github.com/streamtest/streamtest/examples/chatpb"
	"github.com/streamtest/streamtest/grpctest"
)

// A recorded client/server pair in three lines, then what both sides did.
func TestRecipeRecordedPair(t *testing.T) {
	s := grpctest.NewServer(t, examples.NewChatServer().Register)
	chat := chatpb.NewChatClient(s.Conn())
	ack, err := chat.Post(testContext(t), &chatpb.Message{Room: "lobby", User: "ana", Text: "hi"})
	if err != nil {
		t.Fatalf("Post: %v", err)
	}

	calls := s.Recorder().Calls()
	if len(calls) != 1 {
		t.Fatalf("recorded %d calls, want 1:\n%s", len(calls), s.Recorder())
	}
	call := calls[0]
	if call.Method() != chatpb.Chat_Post_FullMethodName || !call.Done() || call.Err() != nil {
		t.Errorf("call %s: done %v, err %v; want a finished OK Post", call.Method(), call.Done(), call.Err())
	}
	grpctest.AssertMessages(t, []any{&chatpb.Message{Room: "lobby", User: "ana", Text: "hi"}}, call.Requests())
	grpctest.AssertMessages(t, []any{ack}, call.Responses())
	t.Logf("timeline:\n%s", s.Recorder()) // what a failure would print
}

// RequireMessages on what Talk echoed: compared by content (protocmp).
func TestRecipeMessages(t *testing.T) {
	s := grpctest.NewServer(t, examples.NewChatServer().Register)
	stream, err := chatpb.NewChatClient(s.Conn()).Talk(testContext(t))
	if err != nil {
		t.Fatalf("Talk: %v", err)
	}
	var echoes []any
	for _, text := range []string{"hi", "how are you?"} {
		if err := stream.Send(&chatpb.Message{Room: "lobby", Text: text}); err != nil {
			t.Fatalf("Send: %v", err)
		}
		echo, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		echoes = append(echoes, echo)
	}
	stream.CloseSend()
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv after CloseSend: %v, want io.EOF", err)
	}

	want := []any{
		&chatpb.Message{Room: "lobby", Text: "hi", Seq: 1},
		&chatpb.Message{Room: "lobby", Text: "how are you?", Seq: 2},
	}
	grpctest.RequireMessages(t, want, echoes)                              // what the client got
	grpctest.RequireMessages(t, want, s.Recorder().Calls()[0].Responses()) // what the server sent
}

// What a message mismatch reports: a (-want +got) diff, then the timeline.
func TestRecipeMessagesMismatch(t *testing.T) {
	spy := newSpy(t) // stands in for t, to see the failure
	s := grpctest.NewServer(spy, examples.NewChatServer().Register)
	stream, err := chatpb.NewChatClient(s.Conn()).Talk(testContext(t))
	if err != nil {
		t.Fatalf("Talk: %v", err)
	}
	if err := stream.Send(&chatpb.Message{Room: "lobby", Text: "hi"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	echo, err := stream.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}

	// Wrong: Talk numbers its echoes from 1.
	completed := spy.run(func() {
		grpctest.RequireMessages(spy, []any{&chatpb.Message{Room: "lobby", Text: "hi", Seq: 0}}, []any{echo})
	})
	if completed {
		t.Errorf("RequireMessages returned on a mismatch; want it to stop the test (FailNow)")
	}
	report := wantReport(t, spy, "mismatch (-want +got)", "seq:", "recorded timeline:", "Talk")
	t.Logf("what the failure says:\n%s", report)

	stream.CloseSend()
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("Recv after CloseSend: %v, want io.EOF", err)
	}
}

// AssertOrder across both sides of a bidi stream, in causal order.
func TestRecipeOrder(t *testing.T) {
	s := grpctest.NewServer(t, examples.NewChatServer().Register)
	stream, err := chatpb.NewChatClient(s.Conn()).Talk(testContext(t))
	if err != nil {
		t.Fatalf("Talk: %v", err)
	}
	hi := &chatpb.Message{Room: "lobby", Text: "hi"}
	if err := stream.Send(hi); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("Recv: %v", err)
	}
	stream.CloseSend()
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv after CloseSend: %v, want io.EOF", err)
	}

	echo := &chatpb.Message{Room: "lobby", Text: "hi", Seq: 1}
	grpctest.AssertOrder(t, s.Recorder(),
		grpctest.ClientSends(hi),
		grpctest.ServerReceives(hi),
		grpctest.ServerSends(echo),
		grpctest.ClientReceives(echo),
		grpctest.ClientCloses(),
		grpctest.Ends(codes.OK),
	)
}

// AssertNever: what must not have happened. A bad message is refused with
// InvalidArgument, never stored, and no call fails with Internal.
func TestRecipeNever(t *testing.T) {
	s := grpctest.NewServer(t, examples.NewChatServer().Register)
	chat := chatpb.NewChatClient(s.Conn())
	bad := &chatpb.Message{Text: "no room"}
	if _, err := chat.Post(testContext(t), bad); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Post without a room: %v, want InvalidArgument", err)
	}
	if _, err := chat.Post(testContext(t), &chatpb.Message{Room: "lobby", Text: "hi"}); err != nil {
		t.Fatalf("Post: %v", err)
	}
	// Unary calls have ended when Post returns, on both sides.
	grpctest.AssertNever(t, s.Recorder(), grpctest.Ends(codes.Internal), grpctest.Ends(codes.Unknown))
	grpctest.AssertOrder(t, s.Recorder(), grpctest.ServerReceives(bad), grpctest.Ends(codes.InvalidArgument))
}

// AssertOrderWithin: events recorded on another goroutine than the call
// that causes them. The client's End of a canceled call is recorded when
// gRPC notices the cancel, and the server's when the handler returns:
// wait for both, no longer than needed.
func TestRecipeOrderWithin(t *testing.T) {
	s := grpctest.NewServer(t, examples.NewChatServer().Register)
	ctx, cancel := context.WithCancel(testContext(t))
	stream, err := chatpb.NewChatClient(s.Conn()).Subscribe(ctx, &chatpb.SubscribeRequest{Room: "lobby"})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if _, err := stream.Header(); err != nil { // subscribed
		t.Fatalf("Header: %v", err)
	}
	cancel()
	grpctest.AssertOrderWithin(t, s.Recorder(), testTimeout,
		grpctest.Ends(codes.Canceled), grpctest.Ends(codes.Canceled))
}

// Metadata steps: the request metadata the server got, and the header (or
// trailer) the client got, by the keys that matter (gRPC's own keys are
// there too).
func TestRecipeMetadata(t *testing.T) {
	s := grpctest.NewServer(t, examples.NewChatServer().Register)
	ctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(testContext(t), "x-user", "ana"))
	defer cancel()
	stream, err := chatpb.NewChatClient(s.Conn()).Subscribe(ctx, &chatpb.SubscribeRequest{Room: "lobby"})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatalf("Header: %v", err)
	}
	grpctest.AssertOrder(t, s.Recorder(),
		grpctest.ServerReceivesMetadata(metadata.Pairs("x-user", "ana")),
		grpctest.ClientReceivesHeader(metadata.Pairs(examples.RoomHeader, "lobby")))
}

// What an order mismatch reports: the step not found, what matched, and
// the nearest miss as a diff.
func TestRecipeOrderMismatch(t *testing.T) {
	spy := newSpy(t)
	s := grpctest.NewServer(spy, examples.NewChatServer().Register)
	stream, err := chatpb.NewChatClient(s.Conn()).Talk(testContext(t))
	if err != nil {
		t.Fatalf("Talk: %v", err)
	}
	hi := &chatpb.Message{Room: "lobby", Text: "hi"}
	if err := stream.Send(hi); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("Recv: %v", err)
	}
	stream.CloseSend()
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv after CloseSend: %v, want io.EOF", err)
	}

	// Wrong: the echo carries Seq 1, so this step is never matched.
	ok := grpctest.AssertOrder(spy, s.Recorder(),
		grpctest.ClientSends(hi),
		grpctest.ServerSends(hi),
	)
	if ok {
		t.Errorf("AssertOrder returned true for a step that never happened")
	}
	report := wantReport(t, spy, "step 2 of 2", "ServerSends", "matched so far", "mismatch (-want +got)", "recorded timeline:")
	t.Logf("what the failure says:\n%s", report)
	// Run the spy's cleanups (the harness's Close): nothing else to report.
	before := len(spy.reports())
	spy.finish()
	if after := len(spy.reports()); after != before {
		t.Errorf("Close reported on a clean harness: %v", spy.reports()[before:])
	}
}

// Code that dials an address itself (a gateway, a CLI, a worker) gets one
// from a harness on loopback TCP. Its calls are recorded on the server
// side; the connection it makes is its own to close.
func TestRecipeCodeThatDialsAnAddress(t *testing.T) {
	s := grpctest.NewServer(t, examples.NewChatServer().Register, grpctest.WithTCP())

	// The code under test: dials addr, posts, closes its connection.
	post := func(ctx context.Context, addr string, m *chatpb.Message) (*chatpb.Ack, error) {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		return chatpb.NewChatClient(conn).Post(ctx, m)
	}

	hi := &chatpb.Message{Room: "lobby", User: "ana", Text: "hi"}
	ack, err := post(testContext(t), s.Addr(), hi)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	grpctest.AssertOrder(t, s.Recorder(),
		grpctest.ServerReceives(hi), grpctest.ServerSends(ack), grpctest.Ends(codes.OK))
}
