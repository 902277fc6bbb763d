package fakes_test

import (
	"context"
	"testing"

	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"
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
