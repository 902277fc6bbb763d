package fakes_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/recorder"
)

// Code under test that speaks dynamic messages (a reflection client, a
// proxy) is driven with streams of dynamicpb.Message, filed under the
// method they belong to.
// (The zero value of dynamicpb.Message has no type: WithMethod's check of
// the stream's types skips it.)
func TestDynamicStreamWithMethod(t *testing.T) {
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("NewClientStream[dynamicpb.Message, dynamicpb.Message](WithMethod) panicked: %v", r)
		}
	}()
	rec := recorder.New()
	c := fakes.NewClientStream[dynamicpb.Message, dynamicpb.Message](context.Background(),
		fakes.WithMethod("/grpc.testing.TestService/FullDuplexCall"), fakes.WithRecorder(rec))
	in := (&testpb.StreamingOutputCallRequest{}).ProtoReflect().Descriptor()
	m := dynamicpb.NewMessage(in)
	m.Set(in.Fields().ByName("response_type"), (&testpb.StreamingOutputCallRequest{ResponseType: 1}).ProtoReflect().Get(in.Fields().ByName("response_type")))
	if err := c.Send(m); err != nil {
		t.Fatal(err)
	}
	if got := c.Sent(); len(got) != 1 || !proto.Equal(got[0], m) {
		t.Errorf("Sent = %v", got)
	}
	if calls := rec.Calls(); len(calls) != 1 || calls[0].Method() != "/grpc.testing.TestService/FullDuplexCall" || len(calls[0].Requests()) != 1 {
		t.Errorf("recorded %v", rec.String())
	}
}

// Recv's new message of a dynamic type has no type of its own: it gets
// the pushed (or responded) message's, on both stream types.
func TestDynamicStreamsRecv(t *testing.T) {
	const method = "/grpc.testing.TestService/FullDuplexCall"
	in := dynamicpb.NewMessage((&testpb.StreamingOutputCallRequest{}).ProtoReflect().Descriptor())
	s := fakes.NewServerStream[dynamicpb.Message, dynamicpb.Message](context.Background(), fakes.WithMethod(method))
	s.Push(in)
	if got, err := s.Recv(); err != nil || !proto.Equal(got, in) {
		t.Errorf("ServerStream.Recv = %v, %v; want the pushed message", got, err)
	}
	out := dynamicpb.NewMessage((&testpb.StreamingOutputCallResponse{}).ProtoReflect().Descriptor())
	c := fakes.NewClientStream[dynamicpb.Message, dynamicpb.Message](context.Background(), fakes.WithMethod(method))
	c.Respond(out)
	if got, err := c.Recv(); err != nil || !proto.Equal(got, out) {
		t.Errorf("ClientStream.Recv = %v, %v; want the response", got, err)
	}
	c.Finish(nil)
	s.End(nil)
}

// A dynamic message not made by dynamicpb.NewMessage has no type: it
// cannot be copied, sent or shown. Sending or queueing one is a misuse
// with a clear error, as a nil message is.
func TestUntypedDynamicMessagesAreRefused(t *testing.T) {
	untyped := new(dynamicpb.Message)
	s := fakes.NewServerStream[dynamicpb.Message, dynamicpb.Message](context.Background())
	if err := s.Send(untyped); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "no message type") {
		t.Errorf("ServerStream.Send(untyped) = %v, want InvalidArgument saying it has no message type", err)
	}
	s.Push(untyped)
	if _, err := s.Recv(); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "Push got a *dynamicpb.Message with no message type") {
		t.Errorf("Recv after Push(untyped) = %v, want the misuse named", err)
	}
	c := fakes.NewClientStream[dynamicpb.Message, dynamicpb.Message](context.Background())
	if err := c.Send(untyped); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "no message type") {
		t.Errorf("ClientStream.Send(untyped) = %v, want InvalidArgument saying it has no message type", err)
	}
	c.Respond(untyped)
	if _, err := c.Recv(); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "Respond got a *dynamicpb.Message with no message type") {
		t.Errorf("Recv after Respond(untyped) = %v, want the misuse named", err)
	}
	s.End(nil)
	c.Finish(nil)
}

// RecvMsg into a dynamic message of another type than the one sent gets
// what gRPC would give it: the sent message's encoding decoded as its own
// type (here, as unknown fields), not a panic.
func TestDynamicRecvMsgIntoAnotherType(t *testing.T) {
	sent := dynamicpb.NewMessage((&testpb.SimpleRequest{}).ProtoReflect().Descriptor())
	sent.Set(sent.Descriptor().Fields().ByName("response_size"), protoreflect.ValueOfInt32(7))
	s := fakes.NewServerStream[dynamicpb.Message, dynamicpb.Message](context.Background())
	s.Push(sent)
	dst := dynamicpb.NewMessage((&testpb.StreamingOutputCallRequest{}).ProtoReflect().Descriptor())
	if err := s.RecvMsg(dst); err != nil {
		t.Fatalf("RecvMsg: %v", err)
	}
	want, err := proto.Marshal(sent)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := proto.Marshal(dst); err != nil || !bytes.Equal(got, want) {
		t.Errorf("RecvMsg gave %v (encoded %x, %v), want the sent encoding %x decoded as %s", dst, got, err, want, dst.Descriptor().FullName())
	}
	s.End(nil)
}
