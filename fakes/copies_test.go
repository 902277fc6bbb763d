package fakes_test

import (
	"testing"

	"github.com/streamtest/streamtest/fakes"
)

// Every message is copied on its way through a fake stream and in every
// snapshot, whichever side gives it: the test reusing a message it pushed
// or responded with, or changing one that Next or a snapshot returned,
// changes nothing the code or a later read sees.
func TestMessagesAreCopiedBothWays(t *testing.T) {
	t.Run("Push", func(t *testing.T) {
		s := fakes.NewServerStream[dupReq, dupRes](t.Context())
		m := req(1)
		s.Push(m)
		m.ResponseParameters[0].Size = 99 // reused after "sending"
		got, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		wantMsgs(t, []*dupReq{req(1)}, []*dupReq{got})
	})
	t.Run("Respond", func(t *testing.T) {
		c := fakes.NewClientStream[dupReq, dupRes](t.Context())
		m := res(1)
		c.Respond(m)
		m.Payload.Body = make([]byte, 99)
		got, err := c.Recv()
		if err != nil {
			t.Fatal(err)
		}
		wantMsgs(t, []*dupRes{res(1)}, []*dupRes{got})
	})
	t.Run("ServerStream Next and Responses", func(t *testing.T) {
		s := fakes.NewServerStream[dupReq, dupRes](t.Context())
		if err := s.Send(res(1)); err != nil {
			t.Fatal(err)
		}
		next, err := s.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		next.Payload.Body = nil
		snap := s.Responses()
		wantMsgs(t, []*dupRes{res(1)}, snap)
		snap[0].Payload.Body = nil
		wantMsgs(t, []*dupRes{res(1)}, s.Responses())
	})
	t.Run("ClientStream Next and Sent", func(t *testing.T) {
		c := fakes.NewClientStream[dupReq, dupRes](t.Context())
		if err := c.Send(req(1)); err != nil {
			t.Fatal(err)
		}
		next, err := c.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		next.ResponseParameters = nil
		snap := c.Sent()
		wantMsgs(t, []*dupReq{req(1)}, snap)
		snap[0].ResponseParameters = nil
		wantMsgs(t, []*dupReq{req(1)}, c.Sent())
	})
}
