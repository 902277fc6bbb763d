package examples_test

// Recipes for the leak checks the harness runs at Close: a client stream
// nobody finished, a handler that ignores cancellation, and a goroutine a
// handler left behind. Each broken test runs on a spy, which shows what
// the check says while the suite stays green; the same test done right
// runs on the real t.

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/examples"
	"github.com/streamtest/streamtest/examples/chatpb"
	"github.com/streamtest/streamtest/grpctest"
)

// A Subscribe stream that is never drained or canceled is reported at Close.
func TestRecipeLeakedStreamCaught(t *testing.T) {
	spy := newSpy(t) // in your test: t
	s := grpctest.NewServer(spy, examples.NewChatServer().Register)
	chat := chatpb.NewChatClient(s.Conn())

	// Broken: Subscribe runs until the client cancels, and nobody does.
	stream, err := chat.Subscribe(context.Background(), &chatpb.SubscribeRequest{Room: "lobby"})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if _, err := stream.Header(); err != nil { // the subscription is live
		t.Fatalf("Header: %v", err)
	}

	s.Close() // what the end of the test runs
	report := wantReport(t, spy,
		"client stream "+chatpb.Chat_Subscribe_FullMethodName,
		"leak_recipe_test.go:", // where it was opened
		"drain the stream or cancel its context")
	t.Logf("what the failure says:\n%s", report)
}

// The same test done right: the stream's context is canceled when done.
func TestRecipeLeakedStreamFixed(t *testing.T) {
	s := grpctest.NewServer(t, examples.NewChatServer().Register)
	chat := chatpb.NewChatClient(s.Conn())

	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel() // fixed: ends the stream (and its server handler)
	stream, err := chat.Subscribe(ctx, &chatpb.SubscribeRequest{Room: "lobby"})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatalf("Header: %v", err)
	}
	// Close, at the end of the test, checks that nothing is left open.
}

// deafSubscribe is Chat whose Subscribe ignores its context: it returns
// only when release is closed, long after the client has gone.
type deafSubscribe struct {
	*examples.ChatServer
	release  chan struct{}
	returned chan struct{}
}

func (d *deafSubscribe) Subscribe(req *chatpb.SubscribeRequest, stream grpc.ServerStreamingServer[chatpb.Message]) error {
	defer close(d.returned)
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	<-d.release // broken: should also select on stream.Context().Done()
	return nil
}

// A handler that does not return when its call is canceled is named at
// Close, with its stack.
func TestRecipeStuckHandlerCaught(t *testing.T) {
	spy := newSpy(t)
	deaf := &deafSubscribe{ChatServer: examples.NewChatServer(), release: make(chan struct{}), returned: make(chan struct{})}
	s := grpctest.NewServer(spy, func(g *grpc.Server) { chatpb.RegisterChatServer(g, deaf) },
		grpctest.WithCloseTimeout(50*time.Millisecond)) // report sooner than the default 1s

	ctx, cancel := context.WithCancel(testContext(t))
	stream, err := chatpb.NewChatClient(s.Conn()).Subscribe(ctx, &chatpb.SubscribeRequest{Room: "lobby"})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatalf("Header: %v", err)
	}
	cancel() // the client does its part

	s.Close()
	report := wantReport(t, spy,
		"handler "+chatpb.Chat_Subscribe_FullMethodName+" did not return after Stop",
		"stream.Context().Done()",
		"(*deafSubscribe).Subscribe") // its stack
	t.Logf("what the failure says:\n%s", report)

	close(deaf.release) // let it go, so this test leaks nothing itself
	<-deaf.returned
}

// leakyPost is Chat whose Post starts a goroutine that outlives the call.
type leakyPost struct {
	*examples.ChatServer
	release chan struct{}
	exited  chan struct{}
}

func (l *leakyPost) Post(ctx context.Context, msg *chatpb.Message) (*chatpb.Ack, error) {
	go func() { // broken: nothing ends it when the call is over
		defer close(l.exited)
		<-l.release
	}()
	return l.ChatServer.Post(ctx, msg)
}

// A goroutine a handler started and never stopped is reported at Close,
// attributed to the handler, with its stack.
func TestRecipeLeakedGoroutineCaught(t *testing.T) {
	spy := newSpy(t)
	leaky := &leakyPost{ChatServer: examples.NewChatServer(), release: make(chan struct{}), exited: make(chan struct{})}
	s := grpctest.NewServer(spy, func(g *grpc.Server) { chatpb.RegisterChatServer(g, leaky) },
		grpctest.WithCloseTimeout(50*time.Millisecond))

	if _, err := chatpb.NewChatClient(s.Conn()).Post(testContext(t), &chatpb.Message{Room: "lobby", Text: "hi"}); err != nil {
		t.Fatalf("Post: %v", err)
	}

	s.Close()
	report := wantReport(t, spy,
		"1 goroutine(s) started during this harness's life still running",
		"handler "+chatpb.Chat_Post_FullMethodName,
		"(*leakyPost).Post.func1") // its stack
	t.Logf("what the failure says:\n%s", report)

	close(leaky.release)
	<-leaky.exited
}

// drain is how client code finishes a server stream it no longer needs
// without canceling: read until the end. (The alternative to canceling.)
func drain(stream grpc.ServerStreamingClient[chatpb.Message]) error {
	for {
		if _, err := stream.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// A stream read to its end is finished too: no leak, even without cancel.
func TestRecipeDrainedStreamIsNoLeak(t *testing.T) {
	spy := newSpy(t)
	s := grpctest.NewServer(spy, examples.NewChatServer().Register)
	chat := chatpb.NewChatClient(s.Conn())

	// An invalid request: the server ends the stream at once, with an error.
	stream, err := chat.Subscribe(context.Background(), &chatpb.SubscribeRequest{})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if err := drain(stream); status.Code(err) != codes.InvalidArgument {
		t.Errorf("drain: %v, want InvalidArgument", err)
	}

	s.Close()
	wantNoReport(t, spy)
}

// handOff is Chat whose Subscribe hands its stream to a goroutine and
// returns: the goroutine's sends come after gRPC has ended the call.
type handOff struct {
	*examples.ChatServer
	wait bool          // fixed: the handler waits for its goroutine
	sent chan struct{} // closed when the goroutine is done
}

func (h *handOff) Subscribe(req *chatpb.SubscribeRequest, stream grpc.ServerStreamingServer[chatpb.Message]) error {
	done := make(chan struct{})
	go func() {
		defer close(h.sent)
		defer close(done)
		if !h.wait {
			<-stream.Context().Done() // the call is over by now
		}
		stream.Send(&chatpb.Message{Room: req.GetRoom(), Text: "welcome"})
	}()
	if h.wait {
		<-done
	}
	return nil
}

// WithLateSendCheck: a Send made after the handler returned, which gRPC
// drops, is reported with the goroutine that made it. (Opt-in: a
// goroutine that stops on the stream's context can make one now and
// then; a handler that waits for its goroutines never does.)
func TestRecipeLateSendCaught(t *testing.T) {
	for _, wait := range []bool{false, true} {
		spy := newSpy(t) // in your test: t
		h := &handOff{ChatServer: examples.NewChatServer(), wait: wait, sent: make(chan struct{})}
		s := grpctest.NewServer(spy, func(g *grpc.Server) { chatpb.RegisterChatServer(g, h) }, grpctest.WithLateSendCheck())
		stream, err := chatpb.NewChatClient(s.Conn()).Subscribe(testContext(t), &chatpb.SubscribeRequest{Room: "lobby"})
		if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		got := 0
		for ; ; got++ {
			if _, err = stream.Recv(); err != nil {
				break
			}
		}
		<-h.sent
		s.Close()
		if !wait {
			report := wantReport(t, spy, "after gRPC had ended the call (WithLateSendCheck)", "Send on the stream of "+chatpb.Chat_Subscribe_FullMethodName, "leak_recipe_test.go:")
			t.Logf("what the failure says:\n%s", report)
			continue
		}
		if got != 1 || err != io.EOF || spy.Failed() {
			t.Errorf("the handler that waits: %d messages, then %v, failed %v; want the welcome, io.EOF and no report", got, err, spy.Failed())
		}
	}
}

// watchRoom is client code that hands the messages of a Subscribe stream to
// a channel, from a goroutine of its own. With buggy, that goroutine makes
// one last send on out when the stream ends, and blocks there once nobody
// reads out any more.
func watchRoom(ctx context.Context, chat chatpb.ChatClient, room string, out chan<- string, buggy bool) error {
	stream, err := chat.Subscribe(ctx, &chatpb.SubscribeRequest{Room: room})
	if err != nil {
		return err
	}
	if _, err := stream.Header(); err != nil { // the subscription is live
		return err
	}
	go func() {
		for {
			msg, err := stream.Recv()
			if err != nil {
				if buggy {
					out <- "stream ended: " + err.Error() // broken: nobody reads out now
				}
				return
			}
			select {
			case out <- msg.GetText():
			case <-ctx.Done():
				return
			}
		}
	}()
	return nil
}

// WithTestGoroutineCheck: a goroutine your client code starts and leaves
// blocked is reported by this test's Close, with its stack. (Opt-in: it
// labels the test's goroutine from NewServer to Close, so a goroutine
// stopped by a cleanup registered before NewServer would be reported too.)
// The same code without the bug, on the real t, is clean.
func TestRecipeClientGoroutineLeak(t *testing.T) {
	for _, buggy := range []bool{true, false} {
		var tb testing.TB = t
		var spy *spyTB
		if buggy {
			spy = newSpy(t) // in your test: t
			tb = spy
		}
		s := grpctest.NewServer(tb, examples.NewChatServer().Register, grpctest.WithTestGoroutineCheck(), grpctest.WithCloseTimeout(100*time.Millisecond))
		ctx, cancel := context.WithCancel(testContext(t))
		out := make(chan string)
		if err := watchRoom(ctx, chatpb.NewChatClient(s.Conn()), "lobby", out, buggy); err != nil {
			t.Fatalf("watchRoom: %v", err)
		}
		cancel() // the test is done watching
		s.Close()
		if buggy {
			report := wantReport(t, spy, "started by the test, or code it called, after NewServer (WithTestGoroutineCheck)",
				"examples_test.watchRoom.func1", "leak_recipe_test.go:")
			t.Logf("what the failure says:\n%s", report)
			<-out // lets the leaked goroutine end
		}
	}
}
