package fakes_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/fakes"
)

// A stream that no constructor made (a zero value, a nil pointer) is a
// misuse: every method that returns an error says so, Context is
// canceled, the others do nothing. None panics.
func TestStreamsNotMadeByTheirConstructor(t *testing.T) {
	wantZeroErr := func(t *testing.T, what, ctor string, err error) {
		t.Helper()
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "build it with fakes."+ctor) {
			t.Errorf("%s = %v; want FailedPrecondition naming %s", what, err, ctor)
		}
	}
	var zeroServer fakes.ServerStream[dupReq, dupRes]
	for name, s := range map[string]*fakes.ServerStream[dupReq, dupRes]{"zero": &zeroServer, "nil": nil} {
		t.Run("ServerStream/"+name, func(t *testing.T) {
			s.Push(req(1))
			s.CloseSend()
			s.SetTrailer(metadata.Pairs("k", "v"))
			if s.Responses() != nil || s.Header() != nil || s.Trailer() != nil {
				t.Errorf("Responses, Header or Trailer is not nil")
			}
			if s.Context().Err() == nil {
				t.Errorf("Context is not canceled")
			}
			_, err := s.Next(context.Background())
			wantZeroErr(t, "Next", "NewServerStream", err)
			wantZeroErr(t, "Send", "NewServerStream", s.Send(res(1)))
			wantZeroErr(t, "SendAndClose", "NewServerStream", s.SendAndClose(res(1)))
			_, err = s.Recv()
			wantZeroErr(t, "Recv", "NewServerStream", err)
			wantZeroErr(t, "SetHeader", "NewServerStream", s.SetHeader(nil))
			wantZeroErr(t, "SendHeader", "NewServerStream", s.SendHeader(nil))
			wantZeroErr(t, "SendMsg", "NewServerStream", s.SendMsg(res(1)))
			wantZeroErr(t, "RecvMsg", "NewServerStream", s.RecvMsg(new(dupReq)))
			s.End(nil)
			s.Cancel()
		})
	}
	var zeroClient fakes.ClientStream[dupReq, dupRes]
	for name, c := range map[string]*fakes.ClientStream[dupReq, dupRes]{"zero": &zeroClient, "nil": nil} {
		t.Run("ClientStream/"+name, func(t *testing.T) {
			c.Respond(res(1))
			if c.Sent() != nil || c.Closed() || c.Trailer() != nil {
				t.Errorf("Sent, Closed or Trailer is not empty")
			}
			if c.Context().Err() == nil {
				t.Errorf("Context is not canceled")
			}
			wantZeroErr(t, "RespondHeader", "NewClientStream", c.RespondHeader(nil))
			wantZeroErr(t, "RespondTrailer", "NewClientStream", c.RespondTrailer(nil))
			_, err := c.Next(context.Background())
			wantZeroErr(t, "Next", "NewClientStream", err)
			wantZeroErr(t, "Send", "NewClientStream", c.Send(req(1)))
			_, err = c.Recv()
			wantZeroErr(t, "Recv", "NewClientStream", err)
			_, err = c.CloseAndRecv()
			wantZeroErr(t, "CloseAndRecv", "NewClientStream", err)
			_, err = c.Header()
			wantZeroErr(t, "Header", "NewClientStream", err)
			wantZeroErr(t, "CloseSend", "NewClientStream", c.CloseSend())
			wantZeroErr(t, "SendMsg", "NewClientStream", c.SendMsg(req(1)))
			wantZeroErr(t, "RecvMsg", "NewClientStream", c.RecvMsg(new(dupRes)))
			c.Finish(nil)
		})
	}
}
