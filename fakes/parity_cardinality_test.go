package fakes_test

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/interop"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// A client that sends no request, or two, on a method that is not
// client-streaming (a raw stream: generated clients cannot) gets from the
// fake what it gets from grpc-go, and the fake's Close reports it, whether
// or not the script has a step that receives the request.
func TestRequestCardinalityAsGRPCs(t *testing.T) {
	real := grpctest.NewServer(t, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, interop.NewTestServer()) })
	for _, tc := range []struct {
		name   string
		method string
		script func(*fakes.Script)
	}{
		{"unary, no Recv step", unaryCall, func(sc *fakes.Script) { sc.Send(&testpb.SimpleResponse{}) }},
		{"unary, RecvAny", unaryCall, func(sc *fakes.Script) { sc.RecvAny().Send(&testpb.SimpleResponse{}) }},
		{"server-streaming, no Recv step", streamingOut, func(sc *fakes.Script) { sc.Send(&testpb.StreamingOutputCallResponse{}) }},
		{"server-streaming, RecvAny", streamingOut, func(sc *fakes.Script) { sc.RecvAny().Send(&testpb.StreamingOutputCallResponse{}) }},
	} {
		for _, n := range []int{0, 2} {
			t.Run(fmt.Sprintf("%s/%d requests", tc.name, n), func(t *testing.T) {
				call := func(cc *grpc.ClientConn) error {
					ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
					defer cancel()
					st, err := cc.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, tc.method)
					if err != nil {
						return err
					}
					var req any = &testpb.SimpleRequest{}
					if tc.method == streamingOut {
						req = &testpb.StreamingOutputCallRequest{}
					}
					for range n {
						if err := st.SendMsg(req); err != nil {
							break // the server ended the call: RecvMsg has its status
						}
					}
					if err := st.CloseSend(); err != nil {
						return err
					}
					for {
						var res testpb.SimpleResponse
						if err := st.RecvMsg(&res); err != nil {
							return err
						}
					}
				}
				want := call(real.Conn())
				if status.Code(want) != codes.Internal {
					t.Fatalf("grpc-go: %v, want codes.Internal", want)
				}
				spy := spytb.New(t)
				srv := fakes.NewServer(spy)
				tc.script(srv.Expect(tc.method))
				got := call(srv.Conn())
				if status.Code(got) != status.Code(want) || status.Convert(got).Message() != status.Convert(want).Message() {
					t.Errorf("fake: %v\ngrpc-go: %v", got, want)
				}
				srv.Close()
				spy.Want(t, 1, "the client did not send exactly one request on a method that is not client-streaming", status.Convert(want).Message())
			})
		}
	}
}
