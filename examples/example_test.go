package examples_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/streamtest/streamtest/examples"
	"github.com/streamtest/streamtest/examples/chatpb"
	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/recorder"
)

// exampleT stands in for a test's t in these examples, which have none: it
// prints the first line of each failure (with file:line positions elided,
// so the output stays stable) and runs the cleanups at done. In a test,
// pass t.
type exampleT struct {
	testing.TB // nil: only the methods below are used
	cleanups   []func()
}

var position = regexp.MustCompile(`\w+\.go:\d+`)

func (e *exampleT) Helper()          {}
func (e *exampleT) Cleanup(f func()) { e.cleanups = append(e.cleanups, f) }
func (e *exampleT) Errorf(format string, args ...any) {
	first, _, _ := strings.Cut(fmt.Sprintf(format, args...), "\n")
	fmt.Println("t.Errorf:", position.ReplaceAllString(first, "FILE:LINE"))
}
func (e *exampleT) Fatalf(format string, args ...any) { e.Errorf(format, args...); e.FailNow() }
func (e *exampleT) FailNow()                          { panic("t.FailNow") }

// done runs the cleanups, last registered first, as the end of a test does.
func (e *exampleT) done() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
	e.cleanups = nil
}

// A recorded client/server pair in three lines; the recorder then tells
// what both sides did.
func Example() {
	t := &exampleT{} // in a test: the test's t
	defer t.done()

	s := grpctest.NewServer(t, examples.NewChatServer().Register)
	chat := chatpb.NewChatClient(s.Conn())
	chat.Post(context.Background(), &chatpb.Message{Room: "lobby", User: "ana", Text: "hi"})

	for _, c := range s.Recorder().Calls() {
		fmt.Println(c.Method(), "err:", c.Err())
		fmt.Println("  request: ", recorder.FormatMessage(c.Requests()[0]))
		fmt.Println("  response:", recorder.FormatMessage(c.Responses()[0]))
	}
	// Output:
	// /streamtest.examples.chat.v1.Chat/Post err: <nil>
	//   request:  {room:"lobby" user:"ana" text:"hi"}
	//   response: {id:"1" seq:1}
}

// Check what Talk echoed, and that both sides did things in causal order.
func ExampleChatServer_Talk() {
	t := &exampleT{}
	defer t.done()

	s := grpctest.NewServer(t, examples.NewChatServer().Register)
	stream, _ := chatpb.NewChatClient(s.Conn()).Talk(context.Background())
	hi := &chatpb.Message{Room: "lobby", Text: "hi"}
	stream.Send(hi)
	echo, _ := stream.Recv()
	stream.CloseSend()
	_, err := stream.Recv()
	fmt.Println("end of stream:", err)

	want := &chatpb.Message{Room: "lobby", Text: "hi", Seq: 1}
	fmt.Println("messages:", grpctest.AssertMessages(t, []any{want}, []any{echo}))
	fmt.Println("order:", grpctest.AssertOrder(t, s.Recorder(),
		grpctest.ClientSends(hi), grpctest.ServerReceives(hi),
		grpctest.ServerSends(want), grpctest.ClientReceives(want),
		grpctest.ClientCloses(), grpctest.Ends(codes.OK)))
	// A wrong expectation prints a diff (first line shown here).
	fmt.Println("wrong seq:", grpctest.AssertMessages(t, []any{hi}, []any{echo}))
	// Output:
	// end of stream: EOF
	// messages: true
	// order: true
	// t.Errorf: grpctest: messages differ: want[0] and got[0]: mismatch (-want +got):
	// wrong seq: false
}

// Call the Upload handler directly with an in-memory stream: no network.
func ExampleChatServer_Upload() {
	stream := fakes.NewServerStream[chatpb.Message, chatpb.Summary](context.Background())
	stream.Push(&chatpb.Message{Room: "lobby", Text: "hi", Seq: 7}, &chatpb.Message{Room: "lobby", Text: "bye", Seq: 8})
	stream.CloseSend()

	err := examples.NewChatServer().Upload(stream)
	stream.End(err)

	fmt.Println("handler returned:", err)
	fmt.Println("summary:", recorder.FormatMessage(stream.Responses()[0]))
	// Output:
	// handler returned: <nil>
	// summary: {count:2 bytes:5 last_seq:8}
}

// A stream nobody drained or canceled is reported when the test ends,
// with where it was opened and what to do.
func Example_leakCaught() {
	t := &exampleT{}
	s := grpctest.NewServer(t, examples.NewChatServer().Register)

	// Subscribe runs until the client cancels; this client never does.
	stream, _ := chatpb.NewChatClient(s.Conn()).Subscribe(context.Background(), &chatpb.SubscribeRequest{Room: "lobby"})
	stream.Header()

	t.done() // the end of the test
	// Output:
	// t.Errorf: grpctest: client stream /streamtest.examples.chat.v1.Chat/Subscribe opened at FILE:LINE was never finished (1 open at Close: call 1 in the timeline): drain the stream or cancel its context (call Recv until it returns io.EOF or an error, or cancel the context passed to the RPC)
}

// A scripted fake server that accepts a subscription and then hangs: the
// client's deadline must end the call.
func Example_scriptedServer() {
	t := &exampleT{}
	defer t.done()

	fake := fakes.NewServer(t)
	fake.Expect(chatpb.Chat_Subscribe_FullMethodName).
		Recv(&chatpb.SubscribeRequest{Room: "lobby"}).
		SendHeader(metadata.Pairs(examples.RoomHeader, "lobby")).
		Hang()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	stream, _ := chatpb.NewChatClient(fake.Conn()).Subscribe(ctx, &chatpb.SubscribeRequest{Room: "lobby"})
	header, _ := stream.Header()
	_, err := stream.Recv()
	fmt.Println("header:", header.Get(examples.RoomHeader))
	fmt.Println("recv:", status.Code(err))
	// Output:
	// header: [lobby]
	// recv: DeadlineExceeded
}

// Drop the connection mid-stream: the stream fails with Unavailable, and
// the next call reconnects.
func Example_disconnect() {
	t := &exampleT{}
	defer t.done()

	s := grpctest.NewServer(t, examples.NewChatServer().Register)
	chat := chatpb.NewChatClient(s.Conn())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	stream, _ := chat.Talk(ctx)
	stream.Send(&chatpb.Message{Room: "lobby", Text: "hi"})
	stream.Recv()
	s.Disconnect()
	_, err := stream.Recv()
	fmt.Println("old stream:", status.Code(err))

	stream, _ = chat.Talk(ctx)
	stream.Send(&chatpb.Message{Room: "lobby", Text: "again"})
	echo, err := stream.Recv()
	fmt.Println("new stream:", echo.GetText(), echo.GetSeq(), err)
	// Output:
	// old stream: Unavailable
	// new stream: again 1 <nil>
}

// With static windows, a server that does not read blocks the client's
// Sends after a number of messages that follows from the window (see
// TestRecipeFlowControl for the formula).
func Example_flowControl() {
	t := &exampleT{}
	defer t.done()

	// Upload that never reads: it waits for the call to end.
	stuck := &slowUploads{ChatServer: examples.NewChatServer(), release: make(chan struct{})}
	s := grpctest.NewServer(t, func(g *grpc.Server) { chatpb.RegisterChatServer(g, stuck) },
		grpctest.WithStaticWindow(65535))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	up, _ := chatpb.NewChatClient(s.Conn()).Upload(ctx)

	msg := &chatpb.Message{Room: "lobby", Payload: make([]byte, 1000)}
	n := grpctest.SendUntilBlocked(t, up, func(int) *chatpb.Message { return msg }, 100*time.Millisecond)
	fmt.Println(n, "Sends of", 5+proto.Size(msg), "bytes (gRPC's 5-byte prefix and the message) went through; the next one blocked")
	// Output:
	// 130 Sends of 1015 bytes (gRPC's 5-byte prefix and the message) went through; the next one blocked
}
