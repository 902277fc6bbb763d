package examples_test

// Recipes for the fakes: in-memory streams that drive a handler, or client
// code, without a network; and a scripted fake server that stands in for
// a real one, down to a server that hangs.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/streamtest/streamtest/examples"
	"github.com/streamtest/streamtest/examples/chatpb"
	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/recorder"
)

// Drive the Talk handler directly, one message at a time, with a fake
// server stream; record it to assert the order as on a real stream.
func TestRecipeFakeServerStreamTalk(t *testing.T) {
	ctx := testContext(t)
	rec := recorder.New()
	stream := fakes.NewServerStream[chatpb.Message, chatpb.Message](ctx,
		fakes.WithRecorder(rec), fakes.WithMethod(chatpb.Chat_Talk_FullMethodName))
	talk := grpctest.GoErr(t, func() error { return examples.NewChatServer().Talk(stream) })

	stream.Push(&chatpb.Message{Room: "lobby", Text: "hi"})
	first, err := stream.Next(ctx) // wait for the echo before sending more
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	talk.AssertBlocked(stillBlocked) // the handler waits for the next message
	stream.Push(&chatpb.Message{Room: "lobby", Text: "bye"})
	stream.CloseSend()
	_, err = talk.Wait(testTimeout)
	stream.End(err) // a fake stream ends when the test says the handler returned
	if err != nil {
		t.Fatalf("Talk returned %v, want nil after CloseSend", err)
	}

	grpctest.AssertMessages(t, []any{&chatpb.Message{Room: "lobby", Text: "hi", Seq: 1}}, []any{first})
	grpctest.AssertMessages(t, []any{
		&chatpb.Message{Room: "lobby", Text: "hi", Seq: 1},
		&chatpb.Message{Room: "lobby", Text: "bye", Seq: 2},
	}, grpctest.Msgs(stream.Responses()))
	grpctest.AssertOrder(t, rec,
		grpctest.ServerReceives(&chatpb.Message{Room: "lobby", Text: "hi"}),
		grpctest.ServerSends(&chatpb.Message{Room: "lobby", Text: "hi", Seq: 1}),
		grpctest.ServerReceives(&chatpb.Message{Room: "lobby", Text: "bye"}),
		grpctest.Ends(codes.OK))
}

// Drive a watch handler (server streaming, runs until the client leaves)
// with a fake stream: WaitHeader says when it has subscribed, so what is
// posted after it must reach it; Cancel is the client leaving.
func TestRecipeFakeWatch(t *testing.T) {
	ctx := testContext(t)
	chat := examples.NewChatServer()
	stream := fakes.NewServerStream[chatpb.SubscribeRequest, chatpb.Message](ctx)
	watch := grpctest.GoErr(t, func() error {
		return chat.Subscribe(&chatpb.SubscribeRequest{Room: "lobby", SkipBacklog: true}, stream)
	})
	if _, err := stream.WaitHeader(ctx); err != nil { // subscribed: no sleep, no retry loop
		t.Fatalf("WaitHeader: %v", err)
	}
	if _, err := chat.Post(ctx, &chatpb.Message{Room: "lobby", Text: "after"}); err != nil {
		t.Fatalf("Post: %v", err)
	}
	got, err := stream.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	grpctest.AssertMessages(t, []any{&chatpb.Message{Room: "lobby", Text: "after", Seq: 1}}, []any{got})

	stream.Cancel() // the client leaves: the handler must return
	_, err = watch.Wait(testTimeout)
	stream.End(err)
	if status.Code(err) != codes.Canceled {
		t.Errorf("Subscribe returned %v after the client left, want Canceled", err)
	}
}

// Call the Upload handler synchronously with a fake stream: push, CloseSend,
// then check what SendAndClose sent.
func TestRecipeFakeServerStreamUpload(t *testing.T) {
	chat := examples.NewChatServer()
	stream := fakes.NewServerStream[chatpb.Message, chatpb.Summary](testContext(t))
	stream.Push(
		&chatpb.Message{Room: "lobby", Text: "hi", Seq: 7},
		&chatpb.Message{Room: "lobby", Text: "there", Seq: 8},
	)
	stream.CloseSend() // Recv returns io.EOF after the pushed messages

	err := chat.Upload(stream)
	stream.End(err)
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	grpctest.AssertMessages(t, []any{&chatpb.Summary{Count: 2, Bytes: 7, LastSeq: 8}}, grpctest.Msgs(stream.Responses()))
	if got := len(chat.Messages("lobby")); got != 2 {
		t.Errorf("the room holds %d messages, want 2", got)
	}

	// The error path, same way: a message without a room fails the call.
	bad := fakes.NewServerStream[chatpb.Message, chatpb.Summary](testContext(t))
	bad.Push(&chatpb.Message{Text: "no room"})
	bad.CloseSend()
	err = chat.Upload(bad)
	bad.End(err)
	if status.Code(err) != codes.InvalidArgument || len(bad.Responses()) != 0 {
		t.Errorf("Upload of a message without a room: %v, %d responses; want InvalidArgument and none", err, len(bad.Responses()))
	}
}

// uploadBatch is client code under test: it sends msgs numbered 1, 2, ...
// on an Upload stream and checks that the server's Summary counted them all.
func uploadBatch(stream grpc.ClientStreamingClient[chatpb.Message, chatpb.Summary], msgs []*chatpb.Message) (*chatpb.Summary, error) {
	for i, m := range msgs {
		m = proto.CloneOf(m)
		m.Seq = int64(i + 1)
		if err := stream.Send(m); errors.Is(err, io.EOF) {
			break // the server ended the call; CloseAndRecv returns its status
		} else if err != nil {
			return nil, err
		}
	}
	sum, err := stream.CloseAndRecv()
	if err != nil {
		return nil, err
	}
	if sum.GetCount() != int64(len(msgs)) || sum.GetLastSeq() != int64(len(msgs)) {
		return sum, fmt.Errorf("upload incomplete: the server stored %d of %d messages", sum.GetCount(), len(msgs))
	}
	return sum, nil
}

// Drive client code with a fake client stream: the test answers as the
// server, including the answers a real server rarely gives.
func TestRecipeFakeClientStream(t *testing.T) {
	msgs := []*chatpb.Message{{Room: "lobby", Text: "a"}, {Room: "lobby", Text: "b"}}

	t.Run("complete", func(t *testing.T) {
		stream := fakes.NewClientStream[chatpb.Message, chatpb.Summary](testContext(t))
		stream.Respond(&chatpb.Summary{Count: 2, Bytes: 2, LastSeq: 2})
		stream.Finish(nil)

		if _, err := uploadBatch(stream, msgs); err != nil {
			t.Errorf("uploadBatch: %v", err)
		}
		grpctest.AssertMessages(t, []any{
			&chatpb.Message{Room: "lobby", Text: "a", Seq: 1},
			&chatpb.Message{Room: "lobby", Text: "b", Seq: 2},
		}, grpctest.Msgs(stream.Sent()))
		if !stream.Closed() {
			t.Errorf("uploadBatch did not half-close the stream")
		}
	})
	t.Run("server stored fewer", func(t *testing.T) {
		stream := fakes.NewClientStream[chatpb.Message, chatpb.Summary](testContext(t))
		stream.Respond(&chatpb.Summary{Count: 1, Bytes: 1, LastSeq: 1})
		stream.Finish(nil)

		if _, err := uploadBatch(stream, msgs); err == nil || !strings.Contains(err.Error(), "stored 1 of 2") {
			t.Errorf("uploadBatch: %v, want the incomplete upload reported", err)
		}
	})
	t.Run("server failed", func(t *testing.T) {
		stream := fakes.NewClientStream[chatpb.Message, chatpb.Summary](testContext(t))
		stream.Finish(status.Error(codes.Unavailable, "shutting down"))

		if _, err := uploadBatch(stream, msgs); status.Code(err) != codes.Unavailable {
			t.Errorf("uploadBatch: %v, want the server's Unavailable", err)
		}
	})
}

// firstMessage is client code under test: it returns the first message of
// a room, giving up after timeout. Its deferred cancel ends the
// subscription whatever happens.
func firstMessage(ctx context.Context, chat chatpb.ChatClient, room string, timeout time.Duration) (*chatpb.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stream, err := chat.Subscribe(ctx, &chatpb.SubscribeRequest{Room: room})
	if err != nil {
		return nil, err
	}
	return stream.Recv()
}

// fakeChat is a chatpb.ChatClient for unit tests of client code without
// any server. Its Subscribe builds a fake stream per call with the call's
// own context, as a real client's stream has: the code's cancel or
// timeout ends it, and a recorder sees the call end. (A stream built in
// the test, before the call, would not know the call's context.) respond
// plays the server on each new stream.
type fakeChat struct {
	chatpb.ChatClient // methods the code under test does not call: nil
	rec               *recorder.Recorder
	respond           func(*fakes.ClientStream[chatpb.SubscribeRequest, chatpb.Message])
}

func (f *fakeChat) Subscribe(ctx context.Context, req *chatpb.SubscribeRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[chatpb.Message], error) {
	s := fakes.NewClientStream[chatpb.SubscribeRequest, chatpb.Message](ctx,
		fakes.WithMethod(chatpb.Chat_Subscribe_FullMethodName), fakes.WithRecorder(f.rec))
	// What the generated client does for a server-streaming method.
	if err := s.Send(req); err != nil {
		return nil, err
	}
	if err := s.CloseSend(); err != nil {
		return nil, err
	}
	f.respond(s)
	return s, nil
}

// Fake a generated client, building each fake stream inside the call.
func TestRecipeFakeClient(t *testing.T) {
	t.Run("a message arrives", func(t *testing.T) {
		chat := &fakeChat{rec: recorder.New(), respond: func(s *fakes.ClientStream[chatpb.SubscribeRequest, chatpb.Message]) {
			s.Respond(&chatpb.Message{Room: "go", Text: "first"})
		}}
		got, err := firstMessage(testContext(t), chat, "go", time.Minute)
		if err != nil || got.GetText() != "first" {
			t.Fatalf("firstMessage = %v, %v; want the first message", got, err)
		}
		// firstMessage's deferred cancel ended the call. Nothing was
		// reading the stream then, so the recorder records that End on
		// its own, as for a real stream: wait for it.
		ended := func(evs []recorder.Event) bool { return len(evs) > 0 && evs[len(evs)-1].Kind == recorder.End }
		if err := chat.rec.Wait(testContext(t), ended); err != nil {
			t.Fatalf("no End recorded: %v\n%s", err, chat.rec)
		}
		grpctest.AssertOrder(t, chat.rec, grpctest.ClientReceives(&chatpb.Message{Room: "go", Text: "first"}), grpctest.Ends(codes.Canceled))
	})
	t.Run("nothing arrives", func(t *testing.T) {
		chat := &fakeChat{rec: recorder.New(), respond: func(*fakes.ClientStream[chatpb.SubscribeRequest, chatpb.Message]) {}}
		if _, err := firstMessage(testContext(t), chat, "go", 10*time.Millisecond); status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("firstMessage: %v, want DeadlineExceeded", err)
		}
		grpctest.AssertOrder(t, chat.rec, grpctest.Ends(codes.DeadlineExceeded))
	})
}

// A scripted server that hangs: the client code must give up on time (and
// the harness checks it ended its stream).
func TestRecipeScriptedServerHangs(t *testing.T) {
	fake := fakes.NewServer(t)
	fake.Expect(chatpb.Chat_Subscribe_FullMethodName).
		Recv(&chatpb.SubscribeRequest{Room: "lobby"}).
		SendHeader(metadata.Pairs(examples.RoomHeader, "lobby")).
		Hang() // never sends a message, never ends the call
	chat := chatpb.NewChatClient(fake.Conn())

	const timeout = 50 * time.Millisecond // the behaviour under test
	_, err := firstMessage(testContext(t), chat, "lobby", timeout)
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("firstMessage from a hanging server: %v, want DeadlineExceeded", err)
	}
}

// The same client code against a scripted server that answers.
func TestRecipeScriptedServerAnswers(t *testing.T) {
	fake := fakes.NewServer(t)
	fake.Expect(chatpb.Chat_Subscribe_FullMethodName).
		Recv(&chatpb.SubscribeRequest{Room: "lobby"}).
		Send(&chatpb.Message{Room: "lobby", Text: "welcome", Seq: 1}).
		Hang() // a subscription stays open until the client cancels it
	chat := chatpb.NewChatClient(fake.Conn())

	got, err := firstMessage(testContext(t), chat, "lobby", testTimeout)
	if err != nil {
		t.Fatalf("firstMessage: %v", err)
	}
	grpctest.AssertMessages(t, []any{&chatpb.Message{Room: "lobby", Text: "welcome", Seq: 1}}, []any{got})
}

// say is client code under test: one message on Talk, its echo back, then
// a clean end of the stream.
func say(ctx context.Context, chat chatpb.ChatClient, msg *chatpb.Message) (*chatpb.Message, error) {
	stream, err := chat.Talk(ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(msg); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	echo, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	stream.CloseSend()
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("after the echo: %v, want the end of the stream", err)
	}
	return echo, nil
}

// A Recv/Send/Return script for Talk: the happy path, and an error the
// real server cannot be made to return.
func TestRecipeScriptedTalk(t *testing.T) {
	hi := &chatpb.Message{Room: "lobby", Text: "hi"}
	echo := &chatpb.Message{Room: "lobby", Text: "hi", Seq: 1}
	fake := fakes.NewServer(t)
	// The first call echoes; the second finds the room full.
	fake.Expect(chatpb.Chat_Talk_FullMethodName).
		Recv(hi).Send(echo).RecvEOF().Return(nil)
	fake.Expect(chatpb.Chat_Talk_FullMethodName).
		Recv(hi).Return(status.Error(codes.ResourceExhausted, "room is full"))
	chat := chatpb.NewChatClient(fake.Conn())

	got, err := say(testContext(t), chat, hi)
	if err != nil {
		t.Fatalf("say: %v", err)
	}
	grpctest.AssertMessages(t, []any{echo}, []any{got})

	_, err = say(testContext(t), chat, hi)
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("say to a full room: %v, want ResourceExhausted", err)
	}
}

// What a script mismatch reports: the client gets FailedPrecondition
// naming the step, and the test is told at the end, with a diff.
func TestRecipeScriptMismatch(t *testing.T) {
	spy := newSpy(t)
	fake := fakes.NewServer(spy)
	fake.Expect(chatpb.Chat_Talk_FullMethodName).
		Recv(&chatpb.Message{Room: "lobby", Text: "hi"}).
		Send(&chatpb.Message{Room: "lobby", Text: "hi", Seq: 1}).
		RecvEOF()
	chat := chatpb.NewChatClient(fake.Conn())

	// Broken client: says "bye" where the script expects "hi".
	_, err := say(testContext(t), chat, &chatpb.Message{Room: "lobby", Text: "bye"})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "step 1 Recv") {
		t.Errorf("say off script: %v, want FailedPrecondition naming step 1 Recv", err)
	}

	fake.Close() // what the end of the test runs
	report := wantReport(t, spy,
		"the fake server was not used as scripted",
		"request mismatch (-want +got)",
		`"hi"`, `"bye"`,
		"timeline:")
	t.Logf("what the failure says:\n%s", report)
}

// tagged is client code under test that makes up an ID for each message
// (in Payload) and matches each echo to its message by that ID, as clients
// that deduplicate or retry do. A test cannot know the IDs in advance.
func tagged(ctx context.Context, chat chatpb.ChatClient, texts ...string) ([]string, error) {
	stream, err := chat.Talk(ctx)
	if err != nil {
		return nil, err
	}
	var echoed []string
	for i, text := range texts {
		id := fmt.Appendf(nil, "%d-%d", time.Now().UnixNano(), i)
		if err := stream.Send(&chatpb.Message{Room: "lobby", Text: text, Payload: id}); err != nil {
			break // the status comes from Recv
		}
		echo, err := stream.Recv()
		if err != nil {
			return echoed, err
		}
		if !bytes.Equal(echo.GetPayload(), id) {
			return echoed, fmt.Errorf("echo of %q carries ID %q, want %q", text, echo.GetPayload(), id)
		}
		echoed = append(echoed, echo.GetText())
	}
	stream.CloseSend()
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		return echoed, fmt.Errorf("after the echoes: %v, want the end of the stream", err)
	}
	return echoed, nil
}

// Requests with a field the test cannot know (an ID the client made up):
// RecvWith compares everything else, RecvFunc checks what equality cannot
// say, and SendFunc makes the echo from the request, ID and all.
func TestRecipeScriptedServerEchoesClientIDs(t *testing.T) {
	echo := func(m *chatpb.Message) *chatpb.Message {
		return &chatpb.Message{Room: m.GetRoom(), Text: m.GetText(), Payload: m.GetPayload(), Seq: 1}
	}
	hasID := func(m *chatpb.Message) error {
		if len(m.GetPayload()) == 0 {
			return errors.New("the message carries no ID")
		}
		return nil
	}
	fake := fakes.NewServer(t)
	fake.Expect(chatpb.Chat_Talk_FullMethodName).
		RecvWith(&chatpb.Message{Room: "lobby", Text: "hi"}, protocmp.IgnoreFields(&chatpb.Message{}, "payload")).
		SendFunc(echo).
		RecvFunc(hasID).
		SendFunc(echo).
		RecvEOF()

	got, err := tagged(testContext(t), chatpb.NewChatClient(fake.Conn()), "hi", "there")
	if err != nil {
		t.Fatalf("tagged: %v", err)
	}
	grpctest.AssertMessages(t, []any{"hi", "there"}, grpctest.Msgs(got))
}

// The same script against a broken client that sends no ID: the RecvFunc
// step rejects the message, the client gets FailedPrecondition with the
// check's error, and the test is told at the end.
func TestRecipeScriptedCheckRejects(t *testing.T) {
	spy := newSpy(t)
	fake := fakes.NewServer(spy)
	fake.Expect(chatpb.Chat_Talk_FullMethodName).
		RecvFunc(func(m *chatpb.Message) error {
			if len(m.GetPayload()) == 0 {
				return errors.New("the message carries no ID")
			}
			return nil
		}).
		Send(&chatpb.Message{Room: "lobby", Text: "hi", Seq: 1})

	_, err := say(testContext(t), chatpb.NewChatClient(fake.Conn()), &chatpb.Message{Room: "lobby", Text: "hi"}) // no ID
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "the message carries no ID") {
		t.Errorf("say without an ID: %v, want FailedPrecondition naming the check's error", err)
	}
	fake.Close()
	wantReport(t, spy, "step 1 RecvFunc", "the check rejected the request: the message carries no ID", `text:"hi"`)
}

// postAll is client code under test: it posts messages at once, one Post
// each, with the user's token in the request metadata, and gives up on
// the rest at the first error (as errgroup.WithContext does), so how many
// Posts reach the server depends on timing.
func postAll(ctx context.Context, chat chatpb.ChatClient, token string, msgs ...*chatpb.Message) error {
	ctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token))
	defer cancel()
	errs := make(chan error, len(msgs))
	for _, m := range msgs {
		go func() {
			_, err := chat.Post(ctx, m)
			errs <- err
		}()
	}
	var first error
	for range msgs {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

// One script for a fan-out: Metadata checks every call's token, SendFunc
// answers each request (with an error for one of them), MaxTimes allows the
// Posts the client gave up on before they reached the server, and
// AllowCancel the ones it canceled on their way.
func TestRecipeScriptedFanOut(t *testing.T) {
	fake := fakes.NewServer(t)
	fake.Expect(chatpb.Chat_Post_FullMethodName).
		Metadata(metadata.Pairs("authorization", "Bearer t0k3n")).
		RecvAny().
		SendFunc(func(m *chatpb.Message) (*chatpb.Ack, error) {
			if m.GetText() == "spam" {
				return nil, status.Error(codes.InvalidArgument, "no spam")
			}
			return &chatpb.Ack{Id: m.GetText()}, nil
		}).
		MaxTimes(4).
		AllowCancel()
	chat := chatpb.NewChatClient(fake.Conn())

	msgs := []*chatpb.Message{{Room: "r", Text: "a"}, {Room: "r", Text: "spam"}, {Room: "r", Text: "b"}, {Room: "r", Text: "c"}}
	if err := postAll(testContext(t), chat, "t0k3n", msgs...); status.Code(err) != codes.InvalidArgument {
		t.Errorf("postAll with spam: %v, want InvalidArgument", err)
	}
}

// An upload of any number of messages: RecvEach checks each one and
// keeps count, and SendFunc answers with the summary once the client
// half-closes.
func TestRecipeScriptedUpload(t *testing.T) {
	var count, size int64
	fake := fakes.NewServer(t)
	fake.Expect(chatpb.Chat_Upload_FullMethodName).
		RecvEach(func(m *chatpb.Message) error {
			if m.GetRoom() == "" {
				return errors.New("a message without a room")
			}
			count, size = count+1, size+int64(len(m.GetText()))
			return nil
		}).
		SendFunc(func(*chatpb.Message) *chatpb.Summary { return &chatpb.Summary{Count: count, Bytes: size} })

	stream, err := chatpb.NewChatClient(fake.Conn()).Upload(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"one", "two", "three"} {
		if err := stream.Send(&chatpb.Message{Room: "r", Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	grpctest.AssertMessages(t, []any{&chatpb.Summary{Count: 3, Bytes: 11}}, []any{sum})
}

// latest is client code under test: it follows a room and keeps its
// newest message for readers on other goroutines, telling seen of each
// one it takes. It returns when the subscription ends.
type latest struct {
	mu  sync.Mutex
	msg *chatpb.Message
}

func (l *latest) get() *chatpb.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.msg
}

func (l *latest) follow(ctx context.Context, chat chatpb.ChatClient, room string, seen chan<- int64) error {
	stream, err := chat.Subscribe(ctx, &chatpb.SubscribeRequest{Room: room})
	if err != nil {
		return err
	}
	for {
		m, err := stream.Recv()
		if err != nil {
			return err
		}
		l.mu.Lock()
		l.msg = m
		l.mu.Unlock()
		seen <- m.GetSeq()
	}
}

// A watch stepped by the test: Do holds the script until the test has
// checked the client's state after the first event, and only then sends
// the second. ServerEnds says how the server half ended (the client's
// cancel completes Hang).
func TestRecipeScriptedWatchStepByStep(t *testing.T) {
	first := &chatpb.Message{Room: "lobby", Text: "hello", Seq: 1}
	second := &chatpb.Message{Room: "lobby", Text: "again", Seq: 2}
	next := make(chan struct{})
	fake := fakes.NewServer(t)
	fake.Expect(chatpb.Chat_Subscribe_FullMethodName).
		Recv(&chatpb.SubscribeRequest{Room: "lobby"}).
		Send(first).
		Do(func(ctx context.Context) error {
			select {
			case <-next: // the test has checked the first event
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}).
		Send(second).
		Hang()

	var l latest
	seen := make(chan int64, 2)
	ctx, cancel := context.WithCancel(testContext(t))
	follow := grpctest.GoErr(t, func() error { return l.follow(ctx, chatpb.NewChatClient(fake.Conn()), "lobby", seen) })

	if seq := <-seen; seq != 1 {
		t.Fatalf("first event seen: %d, want 1", seq)
	}
	grpctest.AssertMessages(t, []any{first}, []any{l.get()}) // the second is not on its way yet
	close(next)
	if seq := <-seen; seq != 2 {
		t.Fatalf("second event seen: %d, want 2", seq)
	}
	grpctest.AssertMessages(t, []any{second}, []any{l.get()})

	cancel()
	if _, err := follow.Wait(testTimeout); status.Code(err) != codes.Canceled {
		t.Errorf("follow after cancel: %v, want Canceled", err)
	}
	// Each half ends Canceled, in no order of its own: the server hears of
	// the cancel over the wire while the client records its End.
	grpctest.AssertOrderWithin(t, fake.Recorder(), testTimeout, grpctest.ClientReceives(second), grpctest.ClientEnds(codes.Canceled))
	grpctest.AssertOrderWithin(t, fake.Recorder(), testTimeout, grpctest.ClientReceives(second), grpctest.ServerEnds(codes.Canceled))
}

// A step whose message has a field the test does not care to know (the
// sequence number the server gives each echo): With compares the rest,
// with protocmp.IgnoreFields.
func TestRecipeOrderIgnoringAField(t *testing.T) {
	s := grpctest.NewServer(t, examples.NewChatServer().Register)
	ctx := testContext(t)
	stream, err := chatpb.NewChatClient(s.Conn()).Talk(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&chatpb.Message{Room: "go", User: "ana", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("Recv after CloseSend: %v, want io.EOF", err)
	}
	// The echo's Seq is the server's to choose: the step ignores it.
	ignoreSeq := protocmp.IgnoreFields(&chatpb.Message{}, "seq")
	grpctest.AssertOrder(t, s.Recorder(),
		grpctest.ClientSends(&chatpb.Message{Room: "go", User: "ana", Text: "hi"}),
		grpctest.With(grpctest.ClientReceives(&chatpb.Message{Room: "go", User: "ana", Text: "hi"}), ignoreSeq),
		grpctest.ClientEnds(codes.OK))
}
