package fakes_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/fakes"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// A client stream of a method without client streaming half-closes with
// its one Send, as grpc-go's: a second Send fails with codes.Internal.
func TestClientStreamOneRequestAsGRPCs(t *testing.T) {
	real := interopServer(t)
	st, err := real.Conn().NewStream(t.Context(), &grpc.StreamDesc{ServerStreams: true}, streamingOut)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMsg(&dupReq{}); err != nil {
		t.Fatal(err)
	}
	want := st.SendMsg(&dupReq{})
	for st.RecvMsg(new(testpb.StreamingOutputCallResponse)) == nil {
	}
	if status.Code(want) != codes.Internal || !strings.Contains(want.Error(), "SendMsg called after CloseSend") {
		t.Fatalf("grpc-go's second Send: %v", want)
	}

	fake := fakes.NewClientStream[dupReq, testpb.StreamingOutputCallResponse](t.Context(), fakes.WithMethod(streamingOut))
	if err := fake.Send(&dupReq{}); err != nil {
		t.Fatal(err)
	}
	got := fake.Send(&dupReq{})
	if status.Code(got) != codes.Internal || !strings.Contains(got.Error(), "SendMsg called after CloseSend") {
		t.Errorf("the fake's second Send: %v\ngrpc-go's: %v", got, want)
	}
	if n := len(fake.Sent()); n != 1 {
		t.Errorf("Sent has %d requests, want 1", n)
	}
	if fake.Closed() {
		t.Errorf("Closed() = true, but the code never called CloseSend")
	}
	// The requests have ended: the test reads the one request, then io.EOF.
	if _, err := fake.Next(t.Context()); err != nil {
		t.Fatalf("Next: %v", err)
	}
	if _, err := fake.Next(t.Context()); !errors.Is(err, io.EOF) {
		t.Errorf("Next after the one request: %v, want io.EOF", err)
	}
}

// A server stream of a method without client streaming: the one request
// ends the requests (the handler's next Recv is io.EOF), a second Push is
// a misuse, and a client that half-closes without a request gets the
// handler's Recv grpc-go's cardinality error.
func TestServerStreamOneRequest(t *testing.T) {
	s := fakes.NewServerStream[dupReq, testpb.StreamingOutputCallResponse](t.Context(), fakes.WithMethod(streamingOut))
	s.Push(&dupReq{ResponseType: testpb.PayloadType_COMPRESSABLE})
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("Recv after the one request, no CloseSend: %v, want io.EOF", err)
	}
	s.Push(&dupReq{})
	if _, err := s.Next(t.Context()); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "a second request, but "+streamingOut+" is not client-streaming") {
		t.Errorf("after a second Push, Next: %v, want the misuse", err)
	}

	none := fakes.NewServerStream[dupReq, testpb.StreamingOutputCallResponse](t.Context(), fakes.WithMethod(streamingOut))
	none.CloseSend()
	_, err := none.Recv()
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "cardinality violation: received no request message from non-client-streaming RPC") {
		t.Errorf("Recv with no request: %v, want grpc-go's cardinality violation", err)
	}

	// A bidirectional method takes any number of requests.
	bidi := fakes.NewServerStream[dupReq, dupRes](t.Context(), fakes.WithMethod(fullDuplex))
	bidi.Push(&dupReq{}, &dupReq{})
	bidi.CloseSend()
	for range 2 {
		if _, err := bidi.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bidi.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("bidi Recv after the requests: %v, want io.EOF", err)
	}
}

// A handler of a method without server streaming that sends twice: the
// test's second Next gets what a grpc-go client gets, codes.Internal.
func TestServerStreamOneResponse(t *testing.T) {
	s := fakes.NewServerStream[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse](t.Context(), fakes.WithMethod(streamingIn))
	for i := range 2 {
		if err := s.SendAndClose(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: int32(i)}); err != nil {
			t.Fatal(err)
		}
	}
	s.End(nil)
	if _, err := s.Next(t.Context()); err != nil {
		t.Fatalf("first Next: %v", err)
	}
	_, err := s.Next(t.Context())
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "expected <EOF> for non server-streaming RPCs, but received another message") {
		t.Errorf("second Next: %v, want grpc-go's cardinality violation", err)
	}
	if n := len(s.Responses()); n != 2 {
		t.Errorf("Responses has %d, want both", n)
	}
}
