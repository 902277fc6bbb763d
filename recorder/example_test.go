package recorder_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/interop"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/test/bufconn"

	"github.com/streamtest/streamtest/recorder"
)

// Record both sides of a bidi stream with one Recorder, then read the call
// back: what the client sent, what the server sent, how it ended.
func Example() {
	rec := recorder.New()

	lis := bufconn.Listen(64 << 10)
	srv := grpc.NewServer(rec.ServerOptions()...)
	testpb.RegisterTestServiceServer(srv, interop.NewTestServer())
	go srv.Serve(lis)
	defer srv.Stop()

	conn, err := grpc.NewClient("passthrough:///bufnet", append(rec.DialOptions(),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		panic(err)
	}
	defer conn.Close()

	stream, err := testpb.NewTestServiceClient(conn).FullDuplexCall(context.Background())
	if err != nil {
		panic(err)
	}
	for _, size := range []int32{1, 2} {
		stream.Send(&testpb.StreamingOutputCallRequest{ResponseParameters: []*testpb.ResponseParameters{{Size: size}}})
		stream.Recv()
	}
	stream.CloseSend()
	stream.Recv() // io.EOF: the call is over

	// The client half, in order. (Server events interleave with it in Seq
	// order; fmt.Print(rec) shows the whole timeline.)
	for _, e := range rec.Events() {
		if e.Side == recorder.Client && (e.Kind == recorder.Send || e.Kind == recorder.Recv) {
			fmt.Println(e.Side, e.Kind, recorder.FormatMessage(e.Msg))
		}
	}
	c := rec.Calls()[0]
	fmt.Println(c.Method(), len(c.Requests()), "requests,", len(c.Responses()), "responses, err:", c.Err())
	// Output:
	// client send {response_parameters:[{size:1}]}
	// client recv {payload:{body:"\x00"}}
	// client send {response_parameters:[{size:2}]}
	// client recv {payload:{body:"\x00\x00"}}
	// /grpc.testing.TestService/FullDuplexCall 2 requests, 2 responses, err: <nil>
}

// Wait for what the server has seen instead of sleeping.
func ExampleRecorder_Wait() {
	rec := recorder.New()

	lis := bufconn.Listen(64 << 10)
	srv := grpc.NewServer(rec.ServerOptions()...)
	testpb.RegisterTestServiceServer(srv, interop.NewTestServer())
	go srv.Serve(lis)
	defer srv.Stop()

	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := testpb.NewTestServiceClient(conn).StreamingInputCall(ctx)
	if err != nil {
		panic(err)
	}
	for range 3 {
		stream.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: []byte("abc")}})
	}

	// Block until the handler has received three messages (or ctx ends).
	err = rec.Wait(ctx, func(events []recorder.Event) bool {
		n := 0
		for _, e := range events {
			if e.Side == recorder.Server && e.Kind == recorder.Recv {
				n++
			}
		}
		return n == 3
	})
	fmt.Println("server received 3 messages:", err == nil)
	resp, _ := stream.CloseAndRecv()
	fmt.Println("aggregated size:", resp.GetAggregatedPayloadSize())
	// Output:
	// server received 3 messages: true
	// aggregated size: 9
}

// Build your own stream interceptors around the wrappers (to add logging,
// say) and still get one Call per RPC: the client creates the stream with
// a context from TagContext.
func ExampleRecorder_TagContext() {
	rec := recorder.New()
	clientSide := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		cs, err := streamer(rec.TagContext(ctx, method), desc, cc, method, opts...)
		if err != nil {
			return nil, err
		}
		return rec.WrapClientStream(cs, desc, method), nil
	}
	serverSide := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		w := rec.WrapServerStream(ss, info)
		err := handler(srv, w)
		rec.EndServerStream(w, err)
		return err
	}

	lis := bufconn.Listen(64 << 10)
	srv := grpc.NewServer(grpc.ChainStreamInterceptor(serverSide))
	testpb.RegisterTestServiceServer(srv, interop.NewTestServer())
	go srv.Serve(lis)
	defer srv.Stop()
	conn, err := grpc.NewClient("passthrough:///bufnet", grpc.WithChainStreamInterceptor(clientSide),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer conn.Close()

	stream, err := testpb.NewTestServiceClient(conn).FullDuplexCall(context.Background())
	if err != nil {
		panic(err)
	}
	stream.CloseSend()
	stream.Recv() // io.EOF

	for _, c := range rec.Calls() {
		sides := map[recorder.Side]bool{}
		for _, e := range c.Events() {
			sides[e.Side] = true
		}
		fmt.Println(c.Method(), "client:", sides[recorder.Client], "server:", sides[recorder.Server])
	}
	// Output:
	// /grpc.testing.TestService/FullDuplexCall client: true server: true
}
