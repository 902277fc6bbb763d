package fakes_test

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// nilSendService's FullDuplexCall sends a nil response.
type nilSendService struct {
	testpb.UnimplementedTestServiceServer
}

func (nilSendService) FullDuplexCall(st testpb.TestService_FullDuplexCallServer) error {
	var nothing *testpb.StreamingOutputCallResponse
	return st.Send(nothing)
}

// The one place the fakes are stricter on purpose, as the package doc
// says: grpc-go sends a nil message as an empty one, the fake stream
// refuses it with codes.InvalidArgument. Should grpc-go start refusing it,
// this test says the doc is out of date.
func TestNilSendIsAnErrorOnTheFakeWhereGRPCSendsAnEmptyMessage(t *testing.T) {
	srv := grpctest.NewServer(t, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, nilSendService{}) })
	real, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got, err := real.Recv()
	if err != nil || !proto.Equal(got, &testpb.StreamingOutputCallResponse{}) {
		t.Errorf("grpc-go: a handler's Send(nil) gave the client %v, %v; the package doc says an empty message", got, err)
	}
	if _, err := real.Recv(); err == nil {
		t.Errorf("grpc-go: the call did not end after the handler returned")
	}

	fake := fakes.NewServerStream[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse](t.Context())
	err = nilSendService{}.FullDuplexCall(fake)
	fake.End(err)
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("fake: Send(nil) = %v; want codes.InvalidArgument", err)
	}
}
