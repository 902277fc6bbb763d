package examples_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/streamtest/streamtest/examples"
	"github.com/streamtest/streamtest/examples/chatpb"
	"github.com/streamtest/streamtest/grpctest"
)

func TestMain(m *testing.M) {
	grpctest.VerifyTestMain(m)
}

// testTimeout bounds every wait in these tests; a healthy run takes
// milliseconds.
const testTimeout = 10 * time.Second

// handlerResult is what a stream handler returned.
type handlerResult struct {
	method string
	err    error
}

// chatEnv is a ChatServer served over bufconn by a real grpc.Server, and a
// real client connected to it.
type chatEnv struct {
	chat   *examples.ChatServer
	client chatpb.ChatClient
	// ended receives the result of every stream handler when it returns.
	ended chan handlerResult
}

// newChatEnv starts a chatEnv and registers its teardown with t.Cleanup.
// Stop waits for handlers (grpc.WaitForHandlers), so a handler that
// ignores cancellation hangs the test instead of passing unnoticed.
func newChatEnv(t *testing.T, dialOpts ...grpc.DialOption) *chatEnv {
	t.Helper()
	env := &chatEnv{chat: examples.NewChatServer(), ended: make(chan handlerResult, 256)}
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(
		grpc.WaitForHandlers(true),
		grpc.StreamInterceptor(func(s any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			err := h(s, ss)
			select {
			case env.ended <- handlerResult{info.FullMethod, err}:
			default: // nobody waits for this many; never block a handler
			}
			return err
		}),
	)
	env.chat.Register(srv)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()

	opts := append([]grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}, dialOpts...)
	conn, err := grpc.NewClient("passthrough:///bufnet", opts...)
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	env.client = chatpb.NewChatClient(conn)
	t.Cleanup(func() {
		conn.Close()
		stopped := make(chan struct{})
		go func() { srv.Stop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(testTimeout):
			t.Errorf("grpc.Server.Stop still waiting for handlers after %v: a handler ignores cancellation", testTimeout)
			return
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return env
}

// waitEnded waits for the next stream handler to return and checks that it
// was method's and ended with code.
func (env *chatEnv) waitEnded(t *testing.T, method string, code codes.Code) {
	t.Helper()
	select {
	case r := <-env.ended:
		if r.method != method || status.Code(r.err) != code {
			t.Errorf("handler returned %s: %v; want %s with code %v", r.method, r.err, method, code)
		}
	case <-time.After(testTimeout):
		t.Fatalf("handler %s did not return within %v", method, testTimeout)
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func diff(want, got any) string { return cmp.Diff(want, got, protocmp.Transform()) }

func TestPostAcksAndStores(t *testing.T) {
	env := newChatEnv(t)
	ctx := testContext(t)

	posts := []*chatpb.Message{
		{Room: "lobby", User: "ana", Text: "hi", Seq: 7},
		{Room: "dev", User: "bo", Text: "build is red"},
		{Room: "lobby", User: "bo", Text: "hello", Payload: []byte{1, 2}},
	}
	var got []*chatpb.Ack
	for _, m := range posts {
		ack, err := env.client.Post(ctx, m)
		if err != nil {
			t.Fatalf("Post(%v): %v", m, err)
		}
		got = append(got, ack)
	}
	want := []*chatpb.Ack{{Id: "1", Seq: 1}, {Id: "2", Seq: 1}, {Id: "3", Seq: 2}}
	if d := diff(want, got); d != "" {
		t.Errorf("acks mismatch (-want +got):\n%s", d)
	}
	wantLobby := []*chatpb.Message{
		{Room: "lobby", User: "ana", Text: "hi", Seq: 1},
		{Room: "lobby", User: "bo", Text: "hello", Seq: 2, Payload: []byte{1, 2}},
	}
	if d := diff(wantLobby, env.chat.Messages("lobby")); d != "" {
		t.Errorf("Messages(lobby) mismatch (-want +got):\n%s", d)
	}
}

func TestPostInvalidArgument(t *testing.T) {
	env := newChatEnv(t)
	ctx := testContext(t)

	_, err := env.client.Post(ctx, &chatpb.Message{User: "ana", Text: "no room"})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "room is required") {
		t.Errorf("Post without room: %v; want InvalidArgument naming the room", err)
	}
	// A nil request cannot cross the wire; called directly it must not panic.
	_, err = env.chat.Post(ctx, nil)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "nil message") {
		t.Errorf("Post(nil): %v; want InvalidArgument naming the nil message", err)
	}
	if got := env.chat.Messages(""); got != nil {
		t.Errorf("invalid posts were stored: %v", got)
	}
}

func TestMessagesReturnsCopies(t *testing.T) {
	env := newChatEnv(t)
	if got := env.chat.Messages("nobody-posted-here"); got != nil {
		t.Errorf("Messages of an unknown room = %v, want nil", got)
	}
	// A subscriber makes the room, but nobody posted to it yet.
	ctx, cancel := context.WithCancel(testContext(t))
	subscribe(ctx, t, env.client, &chatpb.SubscribeRequest{Room: "listened-to"})
	if got := env.chat.Messages("listened-to"); got != nil {
		t.Errorf("Messages of a room with a subscriber and no posts = %#v, want nil", got)
	}
	cancel()
	if _, err := env.client.Post(testContext(t), &chatpb.Message{Room: "r", Text: "original"}); err != nil {
		t.Fatal(err)
	}
	env.chat.Messages("r")[0].Text = "changed by caller"
	if got := env.chat.Messages("r")[0].GetText(); got != "original" {
		t.Errorf("stored text = %q after the caller changed its copy, want %q", got, "original")
	}
}

func TestUploadAggregates(t *testing.T) {
	env := newChatEnv(t)
	ctx := testContext(t)

	stream, err := env.client.Upload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msgs := []*chatpb.Message{
		{Room: "logs", User: "ci", Text: "start", Seq: 10},
		{Room: "logs", User: "ci", Text: "", Seq: 11, Payload: bytes.Repeat([]byte{'x'}, 1000)},
		{Room: "logs", User: "ci", Text: "done", Seq: 12, Payload: []byte{0}},
	}
	for _, m := range msgs {
		if err := stream.Send(m); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	got, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatalf("CloseAndRecv: %v", err)
	}
	want := &chatpb.Summary{Count: 3, Bytes: 5 + 1000 + 4 + 1, LastSeq: 12}
	if d := diff(want, got); d != "" {
		t.Errorf("summary mismatch (-want +got):\n%s", d)
	}
	stored := env.chat.Messages("logs")
	if len(stored) != 3 || stored[0].GetSeq() != 1 || stored[2].GetSeq() != 3 || stored[2].GetText() != "done" {
		t.Errorf("stored messages = %v, want the 3 uploaded ones with room seq 1..3", stored)
	}
}

func TestUploadEmptyStream(t *testing.T) {
	env := newChatEnv(t)
	stream, err := env.client.Upload(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatalf("CloseAndRecv: %v", err)
	}
	if d := diff(&chatpb.Summary{}, got); d != "" {
		t.Errorf("summary mismatch (-want +got):\n%s", d)
	}
}

func TestUploadInvalidArgument(t *testing.T) {
	env := newChatEnv(t)
	stream, err := env.client.Upload(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&chatpb.Message{Room: "logs", Text: "ok"}); err != nil {
		t.Fatal(err)
	}
	// The server may fail the call before this Send; Send then reports
	// io.EOF and the status comes from CloseAndRecv.
	if err := stream.Send(&chatpb.Message{Text: "no room"}); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("Send: %v", err)
	}
	_, err = stream.CloseAndRecv()
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "Upload message 2") {
		t.Errorf("CloseAndRecv: %v; want InvalidArgument naming message 2", err)
	}
	if got := len(env.chat.Messages("logs")); got != 1 {
		t.Errorf("%d messages stored, want the 1 before the bad one", got)
	}
}

func TestTalkEchoesInOrder(t *testing.T) {
	env := newChatEnv(t)
	stream, err := env.client.Talk(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	// Ping-pong first, then pipelined: echoes keep the order either way.
	var sent, got []*chatpb.Message
	for i := range 3 {
		m := &chatpb.Message{Room: "echo", User: "ana", Text: fmt.Sprintf("ping %d", i), Seq: 100}
		if err := stream.Send(m); err != nil {
			t.Fatalf("Send: %v", err)
		}
		sent = append(sent, m)
		echo, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		got = append(got, echo)
	}
	for i := range 5 {
		m := &chatpb.Message{Room: "echo", User: "bo", Text: fmt.Sprintf("burst %d", i), Payload: []byte{byte(i)}}
		if err := stream.Send(m); err != nil {
			t.Fatalf("Send: %v", err)
		}
		sent = append(sent, m)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for {
		echo, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		got = append(got, echo)
	}
	var want []*chatpb.Message
	for i, m := range sent {
		w := &chatpb.Message{Room: m.Room, User: m.User, Text: m.Text, Payload: m.Payload, Seq: int64(i + 1)}
		want = append(want, w)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("echoes mismatch (-want +got):\n%s", d)
	}
	env.waitEnded(t, chatpb.Chat_Talk_FullMethodName, codes.OK)
}

func TestTalkInvalidArgument(t *testing.T) {
	env := newChatEnv(t)
	stream, err := env.client.Talk(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&chatpb.Message{Text: "no room"}); err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "Talk message 1") {
		t.Errorf("Recv: %v; want InvalidArgument naming message 1", err)
	}
	env.waitEnded(t, chatpb.Chat_Talk_FullMethodName, codes.InvalidArgument)
}

// subscribe opens a subscription and waits until it is live (its header).
func subscribe(ctx context.Context, t *testing.T, client chatpb.ChatClient, req *chatpb.SubscribeRequest) grpc.ServerStreamingClient[chatpb.Message] {
	t.Helper()
	stream, err := client.Subscribe(ctx, req)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	md, err := stream.Header()
	if err != nil {
		t.Fatalf("Header: %v", err)
	}
	if got := md.Get(examples.RoomHeader); len(got) != 1 || got[0] != req.GetRoom() {
		t.Fatalf("header %s = %q, want [%q]", examples.RoomHeader, got, req.GetRoom())
	}
	return stream
}

func recvN(t *testing.T, stream grpc.ServerStreamingClient[chatpb.Message], n int) []*chatpb.Message {
	t.Helper()
	var got []*chatpb.Message
	for range n {
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv after %d messages: %v", len(got), err)
		}
		got = append(got, m)
	}
	return got
}

func TestSubscribeBacklogThenLive(t *testing.T) {
	env := newChatEnv(t)
	ctx := testContext(t)
	for _, text := range []string{"one", "two"} {
		if _, err := env.client.Post(ctx, &chatpb.Message{Room: "lobby", Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream := subscribe(subCtx, t, env.client, &chatpb.SubscribeRequest{Room: "lobby"})
	got := recvN(t, stream, 2)
	if _, err := env.client.Post(ctx, &chatpb.Message{Room: "lobby", Text: "three"}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.client.Post(ctx, &chatpb.Message{Room: "elsewhere", Text: "not for lobby"}); err != nil {
		t.Fatal(err)
	}
	got = append(got, recvN(t, stream, 1)...)
	want := []*chatpb.Message{
		{Room: "lobby", Text: "one", Seq: 1},
		{Room: "lobby", Text: "two", Seq: 2},
		{Room: "lobby", Text: "three", Seq: 3},
	}
	if d := diff(want, got); d != "" {
		t.Errorf("subscription mismatch (-want +got):\n%s", d)
	}

	cancel()
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
		t.Errorf("Recv after cancel: %v, want Canceled", err)
	}
	env.waitEnded(t, chatpb.Chat_Subscribe_FullMethodName, codes.Canceled)
}

func TestSubscribeSkipBacklog(t *testing.T) {
	env := newChatEnv(t)
	ctx := testContext(t)
	if _, err := env.client.Post(ctx, &chatpb.Message{Room: "lobby", Text: "old"}); err != nil {
		t.Fatal(err)
	}
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream := subscribe(subCtx, t, env.client, &chatpb.SubscribeRequest{Room: "lobby", SkipBacklog: true})
	if _, err := env.client.Post(ctx, &chatpb.Message{Room: "lobby", Text: "new"}); err != nil {
		t.Fatal(err)
	}
	got := recvN(t, stream, 1)
	if d := diff([]*chatpb.Message{{Room: "lobby", Text: "new", Seq: 2}}, got); d != "" {
		t.Errorf("subscription mismatch (-want +got):\n%s", d)
	}
	cancel()
	env.waitEnded(t, chatpb.Chat_Subscribe_FullMethodName, codes.Canceled)
}

func TestSubscribeReturnsOnCancel(t *testing.T) {
	env := newChatEnv(t)
	subCtx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	subscribe(subCtx, t, env.client, &chatpb.SubscribeRequest{Room: "quiet"})
	cancel()
	env.waitEnded(t, chatpb.Chat_Subscribe_FullMethodName, codes.Canceled)
}

// A subscriber that stops reading blocks only its own handler, in Send:
// Posts go on, and cancelling the subscriber still ends its handler.
func TestSubscribeSlowReaderBlocksNobody(t *testing.T) {
	// A fixed 64 KiB window (no BDP growth) makes the server's Send block
	// after about 64 KiB of unread messages.
	env := newChatEnv(t, grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	ctx := testContext(t)
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	subscribe(subCtx, t, env.client, &chatpb.SubscribeRequest{Room: "firehose"})

	payload := make([]byte, 16<<10)
	const posts = 40 // 640 KiB: far more than the window
	for i := range posts {
		if _, err := env.client.Post(ctx, &chatpb.Message{Room: "firehose", Seq: int64(i), Payload: payload}); err != nil {
			t.Fatalf("Post %d with a stalled subscriber: %v", i, err)
		}
	}
	if got := len(env.chat.Messages("firehose")); got != posts {
		t.Errorf("%d messages stored, want %d", got, posts)
	}
	cancel()
	env.waitEnded(t, chatpb.Chat_Subscribe_FullMethodName, codes.Canceled)
}

func TestSubscribeInvalidArgument(t *testing.T) {
	env := newChatEnv(t)
	stream, err := env.client.Subscribe(testContext(t), &chatpb.SubscribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "room is required") {
		t.Errorf("Recv: %v; want InvalidArgument naming the room", err)
	}
	env.waitEnded(t, chatpb.Chat_Subscribe_FullMethodName, codes.InvalidArgument)
}

// Every subscriber sees every post exactly once, in room order, while
// several clients post at the same time.
func TestSubscribeConcurrentPosters(t *testing.T) {
	env := newChatEnv(t)
	ctx := testContext(t)
	const subscribers, posters, perPoster = 4, 3, 20
	const total = posters * perPoster

	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	streams := make([]grpc.ServerStreamingClient[chatpb.Message], subscribers)
	for i := range streams {
		streams[i] = subscribe(subCtx, t, env.client, &chatpb.SubscribeRequest{Room: "busy"})
	}

	errs := make(chan error, posters+subscribers)
	var wg sync.WaitGroup
	for p := range posters {
		wg.Go(func() {
			for i := range perPoster {
				m := &chatpb.Message{Room: "busy", User: fmt.Sprint("poster", p), Seq: int64(i)}
				if _, err := env.client.Post(ctx, m); err != nil {
					errs <- fmt.Errorf("poster %d: %w", p, err)
					return
				}
			}
		})
	}
	for s, stream := range streams {
		wg.Go(func() {
			for want := int64(1); want <= total; want++ {
				m, err := stream.Recv()
				if err != nil {
					errs <- fmt.Errorf("subscriber %d after %d messages: %w", s, want-1, err)
					return
				}
				if m.GetSeq() != want {
					errs <- fmt.Errorf("subscriber %d got room seq %d, want %d", s, m.GetSeq(), want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	cancel()
	for range subscribers {
		env.waitEnded(t, chatpb.Chat_Subscribe_FullMethodName, codes.Canceled)
	}
}

// ExampleNewChatServer serves Chat over an in-memory connection and makes
// one call of each kind but Subscribe.
func ExampleNewChatServer() {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	examples.NewChatServer().Register(srv)
	go srv.Serve(lis)
	defer srv.Stop()

	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	chat := chatpb.NewChatClient(conn)
	ctx := context.Background()

	ack, _ := chat.Post(ctx, &chatpb.Message{Room: "lobby", User: "ana", Text: "hi"})
	fmt.Println("post: id", ack.GetId(), "seq", ack.GetSeq())

	up, _ := chat.Upload(ctx)
	up.Send(&chatpb.Message{Room: "lobby", Text: "a", Seq: 41})
	up.Send(&chatpb.Message{Room: "lobby", Text: "bc", Seq: 42})
	sum, _ := up.CloseAndRecv()
	fmt.Println("upload: count", sum.GetCount(), "bytes", sum.GetBytes(), "last seq", sum.GetLastSeq())

	talk, _ := chat.Talk(ctx)
	talk.Send(&chatpb.Message{Room: "lobby", Text: "ping"})
	echo, _ := talk.Recv()
	talk.CloseSend()
	_, err = talk.Recv()
	fmt.Println("talk:", echo.GetText(), "seq", echo.GetSeq(), "then", err)
	// Output:
	// post: id 1 seq 1
	// upload: count 2 bytes 3 last seq 42
	// talk: ping seq 1 then EOF
}
