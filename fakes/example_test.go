package fakes_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/interop"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// exampleTB stands in for a test's t in these examples: failures are
// printed, cleanups run by done. In a test, pass t.
type exampleTB struct {
	testing.TB
	cleanups []func()
}

func (e *exampleTB) Helper()          {}
func (e *exampleTB) Cleanup(f func()) { e.cleanups = append(e.cleanups, f) }
func (e *exampleTB) Errorf(f string, a ...any) {
	fmt.Println("t.Errorf:", firstLine(fmt.Sprintf(f, a...)))
}
func (e *exampleTB) Fatalf(f string, a ...any) { e.Errorf(f, a...) }
func (e *exampleTB) done() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
}

func firstLine(s string) string { line, _, _ := strings.Cut(s, "\n"); return line }

// Call grpc-go's interop FullDuplexCall handler directly with an in-memory
// stream: push the requests, run the handler, read what it sent.
func ExampleNewServerStream() {
	ctx := context.Background()
	stream := fakes.NewServerStream[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse](ctx)
	stream.Push(&testpb.StreamingOutputCallRequest{
		ResponseParameters: []*testpb.ResponseParameters{{Size: 1}, {Size: 3}},
	})
	stream.CloseSend()

	err := interop.NewTestServer().FullDuplexCall(stream)
	stream.End(err)

	fmt.Println("handler returned:", err)
	for _, res := range stream.Responses() {
		fmt.Println("response of", len(res.GetPayload().GetBody()), "bytes")
	}
	// Output:
	// handler returned: <nil>
	// response of 1 bytes
	// response of 3 bytes
}

// sum is client code under test: it sends sizes on a client-streaming call
// and returns the server's total.
func sum(stream testpb.TestService_StreamingInputCallClient, sizes ...int) (int32, error) {
	for _, n := range sizes {
		if err := stream.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: make([]byte, n)}}); err != nil {
			return 0, err
		}
	}
	res, err := stream.CloseAndRecv()
	return res.GetAggregatedPayloadSize(), err
}

// Test client code without a server: the test answers as the server.
func ExampleNewClientStream() {
	stream := fakes.NewClientStream[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse](context.Background())
	stream.Respond(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: 42})
	stream.Finish(nil)

	total, err := sum(stream, 2, 3)

	fmt.Println(total, err)
	fmt.Println("sent", len(stream.Sent()), "requests; closed:", stream.Closed())
	// Output:
	// 42 <nil>
	// sent 2 requests; closed: true
}

// fakeOutputClient stands in for the generated TestServiceClient in tests
// of code that takes the client, not a stream: methods the code does not
// call stay nil. Each call builds its stream with the call's own context,
// and respond plays the server on it.
type fakeOutputClient struct {
	testpb.TestServiceClient
	respond func(*fakes.ClientStream[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse])
}

func (f *fakeOutputClient) StreamingOutputCall(ctx context.Context, req *testpb.StreamingOutputCallRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[testpb.StreamingOutputCallResponse], error) {
	s := fakes.NewClientStream[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse](ctx,
		fakes.WithMethod(testpb.TestService_StreamingOutputCall_FullMethodName))
	// What the generated method does before it returns the stream.
	if err := s.Send(req); err != nil {
		return nil, err
	}
	if err := s.CloseSend(); err != nil {
		return nil, err
	}
	f.respond(s)
	return s, nil
}

// totalBytes is client code under test: it asks for responses of the
// given sizes and adds up what arrives.
func totalBytes(ctx context.Context, client testpb.TestServiceClient, sizes ...int32) (int, error) {
	req := &testpb.StreamingOutputCallRequest{}
	for _, n := range sizes {
		req.ResponseParameters = append(req.ResponseParameters, &testpb.ResponseParameters{Size: n})
	}
	stream, err := client.StreamingOutputCall(ctx, req)
	if err != nil {
		return 0, err
	}
	total := 0
	for {
		res, err := stream.Recv()
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		total += len(res.GetPayload().GetBody())
	}
}

// Fake a generated client for code that takes the client interface: the
// fake's method builds the stream, and the test answers as the server.
func ExampleNewClientStream_generatedClient() {
	var asked *testpb.StreamingOutputCallRequest
	client := &fakeOutputClient{respond: func(s *fakes.ClientStream[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) {
		asked = s.Sent()[0]
		for _, p := range asked.GetResponseParameters() {
			s.Respond(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: make([]byte, p.GetSize())}})
		}
		s.Finish(nil)
	}}

	total, err := totalBytes(context.Background(), client, 2, 5)

	fmt.Println(total, err)
	fmt.Println("asked for", len(asked.GetResponseParameters()), "responses")
	// Output:
	// 7 <nil>
	// asked for 2 responses
}

// Script a fake TestService: no handler to write. A call that does not
// follow the script fails with codes.FailedPrecondition, and the test is
// told at its end.
func ExampleNewServer() {
	t := &exampleTB{} // in a test: the test's t
	defer t.done()

	fake := fakes.NewServer(t)
	fake.Expect("/grpc.testing.TestService/UnaryCall").
		Recv(&testpb.SimpleRequest{ResponseSize: 1}).
		Send(&testpb.SimpleResponse{Username: "fake"}).
		Times(2)

	client := testpb.NewTestServiceClient(fake.Conn())
	res, err := client.UnaryCall(context.Background(), &testpb.SimpleRequest{ResponseSize: 1})
	fmt.Println(res.GetUsername(), err)

	_, err = client.UnaryCall(context.Background(), &testpb.SimpleRequest{ResponseSize: 2})
	fmt.Println(status.Code(err))
	// Output:
	// fake <nil>
	// FailedPrecondition
	// t.Errorf: fakes: the fake server was not used as scripted (1 problem(s)):
}

// Break every StreamingOutputCall stream after three messages and watch a
// client resume where it stopped. The request counts as one of the three,
// so two responses get through per attempt.
func ExampleFailAfter() {
	t := &exampleTB{} // in a test: the test's t
	defer t.done()

	h := grpctest.NewServer(t,
		func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, interop.NewTestServer()) },
		grpctest.WithServerOptions(grpc.ChainStreamInterceptor(
			fakes.FailAfter("/grpc.testing.TestService/StreamingOutputCall", 3, status.Error(codes.Unavailable, "injected")))))
	client := testpb.NewTestServiceClient(h.Conn())

	// The client under test: ask for 5 responses, resume on Unavailable.
	want := []int32{1, 2, 3, 4, 5}
	got := 0
	for attempt := 1; got < len(want) && attempt <= 5; attempt++ {
		req := &testpb.StreamingOutputCallRequest{}
		for _, size := range want[got:] {
			req.ResponseParameters = append(req.ResponseParameters, &testpb.ResponseParameters{Size: size})
		}
		stream, err := client.StreamingOutputCall(context.Background(), req)
		if err != nil {
			fmt.Println(err)
			return
		}
		for {
			_, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				fmt.Printf("attempt %d: %d responses in all, done\n", attempt, got)
				break
			}
			if err != nil {
				fmt.Printf("attempt %d: %d responses so far, then %v\n", attempt, got, status.Code(err))
				break
			}
			got++
		}
	}
	// Output:
	// attempt 1: 2 responses so far, then Unavailable
	// attempt 2: 4 responses so far, then Unavailable
	// attempt 3: 5 responses in all, done
}

// Script a server for a client that makes up a request ID and checks that
// the response carries it back: RecvWith ignores the field the test cannot
// know, and SendFunc makes the response from the request.
func ExampleScript_SendFunc() {
	t := &exampleTB{} // in a test: the test's t
	defer t.done()

	fake := fakes.NewServer(t)
	fake.Expect("/grpc.testing.TestService/UnaryCall").
		RecvWith(&testpb.SimpleRequest{ResponseSize: 8},
			protocmp.IgnoreFields(&testpb.SimpleRequest{}, "payload")). // the request ID
		SendFunc(func(req *testpb.SimpleRequest) *testpb.SimpleResponse {
			return &testpb.SimpleResponse{Payload: req.GetPayload()} // echo it
		})

	// The client under test.
	id := []byte(fmt.Sprintf("req-%d", time.Now().UnixNano()))
	res, err := testpb.NewTestServiceClient(fake.Conn()).UnaryCall(context.Background(),
		&testpb.SimpleRequest{ResponseSize: 8, Payload: &testpb.Payload{Body: id}})
	fmt.Println(err, bytes.Equal(res.GetPayload().GetBody(), id))
	// Output:
	// <nil> true
}
