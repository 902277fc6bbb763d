// Package examples shows streamtest at work on a small real gRPC service,
// Chat (package chatpb), which has one RPC of each kind: Post (unary),
// Subscribe (server streaming), Upload (client streaming) and Talk
// (bidirectional streaming). ChatServer is its in-memory implementation;
// the package's tests are the showcase of every streamtest feature.
//
// A test serves Chat in-process and talks to it like any gRPC client:
//
//	srv := grpctest.NewServer(t, examples.NewChatServer().Register)
//	chat := chatpb.NewChatClient(srv.Conn())
//	stream, err := chat.Talk(ctx)
//	if err != nil {
//		t.Fatal(err)
//	}
//	stream.Send(&chatpb.Message{Room: "lobby", Text: "hi"})
//	echo, err := stream.Recv() // the same message, Seq set by the server
//	stream.CloseSend()
//	t.Log(srv.Recorder()) // the timeline of both sides
//
// Run go run ./examples/demo to see a recorded timeline of all four kinds.
package examples
