package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/streamtest/streamtest/examples"
	"github.com/streamtest/streamtest/examples/chatpb"
	"github.com/streamtest/streamtest/recorder"
)

// calls is how many RPCs runChat makes; each has a client and a server half.
const calls = 4

// runChat serves Chat over bufconn with rec installed on the server and on
// the client, makes one call of each kind, waits until rec has seen both
// halves of every call end, and shuts everything down (client connection,
// then server, handlers awaited) before it returns.
func runChat(ctx context.Context, rec *recorder.Recorder) (err error) {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(append(rec.ServerOptions(), grpc.WaitForHandlers(true))...)
	examples.NewChatServer().Register(srv)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	defer func() {
		srv.Stop() // also closes lis
		if serr := <-served; err == nil && serr != nil {
			err = fmt.Errorf("serve: %w", serr)
		}
	}()

	dialOpts := append(rec.DialOptions(),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	)
	conn, err := grpc.NewClient("passthrough:///bufnet", dialOpts...)
	if err != nil {
		return fmt.Errorf("grpc.NewClient: %w", err)
	}
	defer conn.Close()
	chat := chatpb.NewChatClient(conn)

	for _, step := range []struct {
		name string
		fn   func(context.Context, chatpb.ChatClient) error
	}{
		{"Talk", talk},
		{"Post", post},
		{"Upload", upload},
		{"Subscribe", subscribe},
	} {
		if err := step.fn(ctx, chat); err != nil {
			return fmt.Errorf("%s: %w", step.name, err)
		}
	}

	// A server half may still be returning when its client half is done:
	// wait until the recorder has seen every end before shutting down, so
	// no call is cut short by Stop and the output is complete.
	if err := rec.Wait(ctx, allEnded); err != nil {
		return fmt.Errorf("waiting for both halves of %d calls to end: %w", calls, err)
	}
	return nil
}

// allEnded reports whether events hold an End of every call on both sides.
func allEnded(events []recorder.Event) bool {
	var client, server int
	for _, e := range events {
		switch {
		case e.Kind != recorder.End:
		case e.Side == recorder.Client:
			client++
		case e.Side == recorder.Server:
			server++
		}
	}
	return client >= calls && server >= calls
}

// talk chats ping-pong on a bidirectional stream, then half-closes and
// reads to io.EOF.
func talk(ctx context.Context, chat chatpb.ChatClient) error {
	stream, err := chat.Talk(ctx)
	if err != nil {
		return err
	}
	for _, text := range []string{"hi", "how are you?", "bye"} {
		if err := stream.Send(&chatpb.Message{Room: "lobby", User: "ana", Text: text}); err != nil {
			return err
		}
		if _, err := stream.Recv(); err != nil {
			return err
		}
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("after CloseSend: Recv = %v, want io.EOF", err)
	}
	return nil
}

// post posts one message.
func post(ctx context.Context, chat chatpb.ChatClient) error {
	_, err := chat.Post(ctx, &chatpb.Message{Room: "lobby", User: "ana", Text: "anyone here?", Seq: 4})
	return err
}

// upload sends two messages, one with a payload, and reads the summary.
func upload(ctx context.Context, chat chatpb.ChatClient) error {
	stream, err := chat.Upload(ctx)
	if err != nil {
		return err
	}
	for _, m := range []*chatpb.Message{
		{Room: "lobby", User: "bo", Text: "log attached", Seq: 1},
		{Room: "lobby", User: "bo", Seq: 2, Payload: make([]byte, 1024)},
	} {
		if err := stream.Send(m); err != nil {
			return err
		}
	}
	_, err = stream.CloseAndRecv()
	return err
}

// subscribe follows the room until it has replayed the three messages
// posted so far, then cancels: the server's handler returns Canceled.
func subscribe(ctx context.Context, chat chatpb.ChatClient) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := chat.Subscribe(ctx, &chatpb.SubscribeRequest{Room: "lobby"})
	if err != nil {
		return err
	}
	for range 3 {
		if _, err := stream.Recv(); err != nil {
			return err
		}
	}
	cancel()
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
		return fmt.Errorf("after cancel: Recv = %v, want code Canceled", err)
	}
	return nil
}
