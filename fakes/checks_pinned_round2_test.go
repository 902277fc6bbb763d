package fakes_test

// Tests that pin checks of the fakes package a second mutation run found
// unpinned: each fails when the check it names is broken.

import (
	"io"
	"testing"

	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/fakes"
)

// A client-streaming server stream whose client half-closes without a
// request gives the handler io.EOF: no request is a valid client stream
// (only a method without client streaming must have one).
func TestServerStreamRecvOfNoRequestsIsEOF(t *testing.T) {
	ss := fakes.NewServerStream[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse](
		t.Context(), fakes.WithMethod("/grpc.testing.TestService/StreamingInputCall"))
	ss.CloseSend()
	if _, err := ss.Recv(); err != io.EOF {
		t.Errorf("Recv on a client stream half-closed with no request: %v, want io.EOF", err)
	}
	ss.End(nil)
}

// A pseudo-header key (":name"), whose characters gRPC does not check,
// is taken by SetHeader, as gRPC's is.
func TestServerStreamSetHeaderTakesAPseudoHeaderKey(t *testing.T) {
	ss := fakes.NewServerStream[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse](t.Context())
	if err := ss.SetHeader(metadata.MD{":custom": {"v"}}); err != nil {
		t.Errorf("SetHeader with a pseudo-header key: %v, want nil as gRPC's", err)
	}
	ss.End(nil)
}

// Once a Send has failed and ended the code's stream (a Send after
// CloseSend), a response the test gives reaches nothing: the code's Recv
// gets the Send's error, as from a real server.
func TestClientStreamRespondAfterAFailedSendReachesNothing(t *testing.T) {
	cs := fakes.NewClientStream[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse](t.Context())
	if err := cs.CloseSend(); err != nil {
		t.Fatal(err)
	}
	sendErr := cs.Send(&testpb.StreamingOutputCallRequest{})
	if status.Code(sendErr) != codes.Internal {
		t.Fatalf("Send after CloseSend: %v, want Internal", sendErr)
	}
	cs.Respond(&testpb.StreamingOutputCallResponse{})
	if res, err := cs.Recv(); status.Code(err) != codes.Internal {
		t.Errorf("Recv after the failed Send: %v, %v; want the Send's error", res, err)
	}
	cs.Finish(nil)
}

// RecvMsg into a message that holds an earlier one replaces it, as gRPC's
// codec does (it resets the message first): no field of the earlier
// message is left.
func TestServerStreamRecvMsgIntoAReusedMessageReplacesIt(t *testing.T) {
	ss := fakes.NewServerStream[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse](t.Context())
	ss.Push(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte("first")}},
		&testpb.StreamingOutputCallRequest{ResponseType: testpb.PayloadType_COMPRESSABLE})
	m := new(testpb.StreamingOutputCallRequest)
	for i := range 2 {
		if err := ss.RecvMsg(m); err != nil {
			t.Fatalf("RecvMsg %d: %v", i, err)
		}
	}
	if m.GetPayload() != nil {
		t.Errorf("the second RecvMsg into the same message left the first's payload: %v", m)
	}
	ss.End(nil)
}
