package examples_test

// Recipes for blocking: a Recv that must wait, and a flow-control probe
// that counts how many Sends go through before the window is full.

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/streamtest/streamtest/examples"
	"github.com/streamtest/streamtest/examples/chatpb"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/recorder"
)

// stillBlocked is how long a call must hang to count as blocked. It is the
// only wall-clock wait in these recipes; a healthy call that should return
// does so in microseconds.
const stillBlocked = 100 * time.Millisecond

// A Recv blocks until the peer sends: grpctest.Go + AssertBlocked, then Wait.
func TestRecipeBlockedRecv(t *testing.T) {
	s := grpctest.NewServer(t, examples.NewChatServer().Register)
	stream, err := chatpb.NewChatClient(s.Conn()).Talk(testContext(t))
	if err != nil {
		t.Fatalf("Talk: %v", err)
	}

	recv := grpctest.Go(t, stream.Recv)
	recv.AssertBlocked(stillBlocked) // Talk only answers what it is sent

	if err := stream.Send(&chatpb.Message{Room: "lobby", Text: "hi"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	echo, err := recv.Wait(testTimeout) // the Send released it
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	grpctest.AssertMessages(t, []any{&chatpb.Message{Room: "lobby", Text: "hi", Seq: 1}}, []any{echo})

	stream.CloseSend()
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("Recv after CloseSend: %v, want io.EOF", err)
	}
}

// slowUploads is Chat whose Upload does not read its stream until release
// is closed, like a server busy on a slow disk. The client's Sends pile up
// in gRPC's flow-control windows until they are full.
type slowUploads struct {
	*examples.ChatServer
	release chan struct{}
}

func (s *slowUploads) Upload(stream grpc.ClientStreamingServer[chatpb.Message, chatpb.Summary]) error {
	select {
	case <-s.release:
		return s.ChatServer.Upload(stream)
	case <-stream.Context().Done():
		return status.FromContextError(stream.Context().Err()).Err()
	}
}

// Flow control: with static windows, the number of Sends before one blocks
// on a server that does not read is exact, and nothing is lost once it does.
func TestRecipeFlowControl(t *testing.T) {
	const window = 65535 // the smallest window gRPC accepts
	slow := &slowUploads{ChatServer: examples.NewChatServer(), release: make(chan struct{})}
	s := grpctest.NewServer(t, func(g *grpc.Server) { chatpb.RegisterChatServer(g, slow) },
		grpctest.WithStaticWindow(window))
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	up, err := chatpb.NewChatClient(s.Conn()).Upload(ctx)
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}

	msg := &chatpb.Message{Room: "lobby", Payload: make([]byte, 1000)}
	sent := grpctest.SendUntilBlocked(t, up, func(int) *chatpb.Message { return msg }, stillBlocked)

	// The server's stream window takes `window` bytes, and the client's
	// transport queues up to 64 KiB more (grpc-go's per-stream write quota);
	// a Send is let through while some quota is left. On the wire a message
	// is a 5-byte gRPC prefix plus its proto encoding. So:
	const writeQuota = 64 << 10
	wireSize := 5 + proto.Size(msg)
	want := (writeQuota + window + wireSize - 1) / wireSize // ceil
	if sent != want {
		t.Errorf("%d Sends of %d bytes went through before one blocked, want ceil((%d + %d) / %d) = %d: "+
			"has grpc-go's flow control changed?", sent, wireSize, writeQuota, window, wireSize, want)
	}

	// The recorder shows which Send blocked, and for how long so far
	// (about stillBlocked: its clock starts a moment after the probe's).
	blocked := clientSends(s.Recorder().Events(), chatpb.Chat_Upload_FullMethodName)
	if len(blocked) != sent+1 || blocked[sent].Elapsed < stillBlocked/2 {
		t.Errorf("recorded %d client Sends, want %d with the last one blocked for about %v:\n%s",
			len(blocked), sent+1, stillBlocked, s.Recorder())
	}

	// The server reads again: every message arrives, the blocked one too.
	close(slow.release)
	err = s.Recorder().Wait(ctx, func(ev []recorder.Event) bool {
		return count(ev, chatpb.Chat_Upload_FullMethodName, recorder.Server, recorder.Recv) == sent+1
	})
	if err != nil {
		t.Fatalf("the server did not receive all %d messages: %v\n%s", sent+1, err, s.Recorder())
	}
	cancel() // end the stream; SendUntilBlocked's last Send has returned or returns now
}

// clientSends returns the client's Send events of method.
func clientSends(events []recorder.Event, method string) []recorder.Event {
	var out []recorder.Event
	for _, e := range events {
		if e.Method == method && e.Side == recorder.Client && e.Kind == recorder.Send {
			out = append(out, e)
		}
	}
	return out
}
