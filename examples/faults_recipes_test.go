package examples_test

// Recipes for fault injection on a real server: drop the connection
// mid-stream (Disconnect), break streams after n messages (FailAfter, or
// FailFirst for the first streams only), and slow them down (Delay). Each
// tests a piece of client code that must survive the fault.

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/examples"
	"github.com/streamtest/streamtest/examples/chatpb"
	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/recorder"
)

// follow is client code under test: it reads a room until it has n
// messages. When the connection drops (codes.Unavailable) it subscribes
// again and skips the backlog it has already seen, by Seq.
func follow(ctx context.Context, chat chatpb.ChatClient, room string, n int) ([]*chatpb.Message, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var got []*chatpb.Message
	for len(got) < n {
		stream, err := chat.Subscribe(ctx, &chatpb.SubscribeRequest{Room: room})
		if err != nil {
			return got, err
		}
		for len(got) < n {
			msg, err := stream.Recv()
			if status.Code(err) == codes.Unavailable {
				break // resubscribe
			}
			if err != nil {
				return got, err
			}
			if msg.GetSeq() > int64(len(got)) { // not seen before
				got = append(got, msg)
			}
		}
	}
	return got, nil
}

// Disconnect mid-stream: the client sees codes.Unavailable and carries on
// with a new stream on the same connection.
func TestRecipeDisconnect(t *testing.T) {
	s := grpctest.NewServer(t, examples.NewChatServer().Register)
	chat := chatpb.NewChatClient(s.Conn())
	ctx := testContext(t)
	rec := s.Recorder()
	for _, text := range []string{"one", "two"} {
		if _, err := chat.Post(ctx, &chatpb.Message{Room: "lobby", Text: text}); err != nil {
			t.Fatalf("Post: %v", err)
		}
	}

	result := grpctest.Go(t, func() ([]*chatpb.Message, error) { return follow(ctx, chat, "lobby", 3) })
	// Once the client has read the backlog, drop the connection.
	if err := rec.Wait(ctx, func(ev []recorder.Event) bool {
		return count(ev, chatpb.Chat_Subscribe_FullMethodName, recorder.Client, recorder.Recv) == 2
	}); err != nil {
		t.Fatalf("the client did not read the backlog: %v\n%s", err, rec)
	}
	s.Disconnect()
	// Once the second subscription is live, post the third message.
	if err := rec.Wait(ctx, func(ev []recorder.Event) bool {
		return count(ev, chatpb.Chat_Subscribe_FullMethodName, recorder.Server, recorder.Header) == 2
	}); err != nil {
		t.Fatalf("the client did not subscribe again: %v\n%s", err, rec)
	}
	if _, err := chat.Post(ctx, &chatpb.Message{Room: "lobby", Text: "three"}); err != nil {
		t.Fatalf("Post after Disconnect: %v", err)
	}

	got, err := result.Wait(testTimeout)
	if err != nil {
		t.Fatalf("follow: %v", err)
	}
	grpctest.AssertMessages(t, []any{
		&chatpb.Message{Room: "lobby", Text: "one", Seq: 1},
		&chatpb.Message{Room: "lobby", Text: "two", Seq: 2},
		&chatpb.Message{Room: "lobby", Text: "three", Seq: 3},
	}, grpctest.Msgs(got))
	// The first stream ended with Unavailable on the client side.
	grpctest.AssertOrder(t, rec,
		grpctest.ClientReceives(&chatpb.Message{Room: "lobby", Text: "two", Seq: 2}),
		grpctest.Ends(codes.Unavailable),
		grpctest.ClientReceives(&chatpb.Message{Room: "lobby", Text: "three", Seq: 3}))
}

// echoAll is client code under test: it says each message on Talk and
// waits for its echo. When the stream fails with codes.Unavailable it opens
// a new one and resends what was not echoed yet, up to attempts streams.
func echoAll(ctx context.Context, chat chatpb.ChatClient, msgs []*chatpb.Message, attempts int) ([]*chatpb.Message, error) {
	var echoes []*chatpb.Message
	var err error
	for try := 0; try < attempts && len(echoes) < len(msgs); try++ {
		echoes, err = echoSome(ctx, chat, msgs, echoes)
		if status.Code(err) != codes.Unavailable {
			return echoes, err
		}
	}
	return echoes, err
}

// echoSome is one attempt of echoAll, on one stream.
func echoSome(ctx context.Context, chat chatpb.ChatClient, msgs, echoes []*chatpb.Message) ([]*chatpb.Message, error) {
	stream, err := chat.Talk(ctx)
	if err != nil {
		return echoes, err
	}
	for _, m := range msgs[len(echoes):] {
		if err := stream.Send(m); err != nil && !errors.Is(err, io.EOF) {
			return echoes, err
		} // on io.EOF the stream has ended: Recv returns why
		echo, err := stream.Recv()
		if err != nil {
			return echoes, err // the stream is finished: nothing to cancel
		}
		echoes = append(echoes, echo)
	}
	stream.CloseSend()
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		return echoes, err
	}
	return echoes, nil
}

// FailAfter breaks every Talk stream after 4 messages (2 received, 2
// echoed): the client's retry loop needs 3 streams for 5 messages.
func TestRecipeFailAfterRetry(t *testing.T) {
	unavailable := status.Error(codes.Unavailable, "injected: connection reset")
	s := grpctest.NewServer(t, examples.NewChatServer().Register,
		grpctest.WithServerOptions(grpc.ChainStreamInterceptor(
			fakes.FailAfter(chatpb.Chat_Talk_FullMethodName, 4, unavailable))))
	chat := chatpb.NewChatClient(s.Conn())

	var msgs []*chatpb.Message
	for _, text := range []string{"a", "b", "c", "d", "e"} {
		msgs = append(msgs, &chatpb.Message{Room: "lobby", Text: text})
	}
	echoes, err := echoAll(testContext(t), chat, msgs, 5)
	if err != nil {
		t.Fatalf("echoAll: %v", err)
	}
	// Talk numbers echoes per stream: 1, 2 on each of the three streams.
	var seqs []int64
	for _, e := range echoes {
		seqs = append(seqs, e.GetSeq())
	}
	if d := cmp.Diff([]int64{1, 2, 1, 2, 1}, seqs); d != "" {
		t.Errorf("echo seqs mismatch (-want +got):\n%s", d)
	}
	// The recorder saw three calls: two broken, one complete.
	var ends []codes.Code
	for _, c := range s.Recorder().Calls() {
		ends = append(ends, status.Code(c.Err()))
	}
	if d := cmp.Diff([]codes.Code{codes.Unavailable, codes.Unavailable, codes.OK}, ends); d != "" {
		t.Errorf("call status mismatch (-want +got):\n%s\n%s", d, s.Recorder())
	}

	// Without the retry loop the client fails on the first stream.
	if _, err := echoAll(testContext(t), chat, msgs, 1); status.Code(err) != codes.Unavailable {
		t.Errorf("echoAll with one attempt: %v, want Unavailable", err)
	}
}

// FailFirst breaks only the first Talk stream, after 2 messages: the
// retry, on a second stream, goes through whole.
func TestRecipeFailFirstThenRecover(t *testing.T) {
	unavailable := status.Error(codes.Unavailable, "injected: connection reset")
	s := grpctest.NewServer(t, examples.NewChatServer().Register,
		grpctest.WithServerOptions(grpc.ChainStreamInterceptor(
			fakes.FailFirst(chatpb.Chat_Talk_FullMethodName, 1, 2, unavailable))))
	var msgs []*chatpb.Message
	for _, text := range []string{"a", "b", "c"} {
		msgs = append(msgs, &chatpb.Message{Room: "lobby", Text: text})
	}
	echoes, err := echoAll(testContext(t), chatpb.NewChatClient(s.Conn()), msgs, 2)
	if err != nil {
		t.Fatalf("echoAll: %v", err)
	}
	if len(echoes) != 3 {
		t.Errorf("%d echoes, want 3\n%s", len(echoes), s.Recorder())
	}
	grpctest.AssertOrder(t, s.Recorder(), grpctest.ClientEnds(codes.Unavailable), grpctest.ClientEnds(codes.OK))
}

// sayWithin is client code under test: say (see the fakes recipes) with a
// deadline.
func sayWithin(ctx context.Context, chat chatpb.ChatClient, msg *chatpb.Message, timeout time.Duration) (*chatpb.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return say(ctx, chat, msg)
}

// Delay slows a real server down: a slow call within its deadline succeeds.
func TestRecipeDelayWithinDeadline(t *testing.T) {
	s := grpctest.NewServer(t, examples.NewChatServer().Register,
		grpctest.WithServerOptions(grpc.ChainStreamInterceptor(
			fakes.Delay(chatpb.Chat_Talk_FullMethodName, 20*time.Millisecond)))) // per message, server side
	chat := chatpb.NewChatClient(s.Conn())

	echo, err := sayWithin(testContext(t), chat, &chatpb.Message{Room: "lobby", Text: "hi"}, testTimeout)
	if err != nil {
		t.Fatalf("sayWithin a generous deadline: %v", err)
	}
	grpctest.AssertMessages(t, []any{&chatpb.Message{Room: "lobby", Text: "hi", Seq: 1}}, []any{echo})
}

// Delay past the client's deadline: the client gives up with
// DeadlineExceeded, and the delayed handler ends with the call.
func TestRecipeDelayPastDeadline(t *testing.T) {
	s := grpctest.NewServer(t, examples.NewChatServer().Register,
		grpctest.WithServerOptions(grpc.ChainStreamInterceptor(
			fakes.Delay(chatpb.Chat_Talk_FullMethodName, time.Hour))))
	chat := chatpb.NewChatClient(s.Conn())

	const timeout = 50 * time.Millisecond // the behaviour under test
	if _, err := sayWithin(testContext(t), chat, &chatpb.Message{Room: "lobby", Text: "hi"}, timeout); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("sayWithin a deadline shorter than the delay: %v, want DeadlineExceeded", err)
	}
	// Close, at the end of the test, reports a handler still in its
	// one-hour delay: Delay must honour the call's deadline.
}
