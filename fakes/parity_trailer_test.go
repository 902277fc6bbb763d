package fakes_test

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// refusingService's FullDuplexCall ends at once with NotFound: a
// trailers-only response.
type refusingService struct {
	testpb.UnimplementedTestServiceServer
}

func (refusingService) FullDuplexCall(st testpb.TestService_FullDuplexCallServer) error {
	return status.Error(codes.NotFound, "no")
}

// The trailer of a trailers-only response (an error before any header or
// message) holds grpc-go's content-type on a real stream; so it does on
// the fake, as its Header does for a header.
func TestTrailersOnlyTrailerAsGRPCs(t *testing.T) {
	srv := grpctest.NewServer(t, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, refusingService{}) })
	st, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_, realErr := st.Recv()
	fs := fakes.NewClientStream[dupReq, dupRes](t.Context(), fakes.WithMethod(fullDuplex))
	fs.Finish(status.Error(codes.NotFound, "no"))
	_, fakeErr := fs.Recv()
	if status.Code(realErr) != codes.NotFound || status.Code(fakeErr) != codes.NotFound {
		t.Fatalf("Recv: real %v, fake %v; want NotFound from both", realErr, fakeErr)
	}
	wantMsgs(t, []metadata.MD{st.Trailer()}, []metadata.MD{fs.Trailer()})

	// With a trailer of the test's, the content-type is added to it.
	fs = fakes.NewClientStream[dupReq, dupRes](t.Context(), fakes.WithMethod(fullDuplex))
	if err := fs.RespondTrailer(metadata.Pairs("k", "v")); err != nil {
		t.Fatal(err)
	}
	fs.Finish(status.Error(codes.NotFound, "no"))
	if _, err := fs.Recv(); status.Code(err) != codes.NotFound {
		t.Fatalf("Recv: %v", err)
	}
	wantMsgs(t, []metadata.MD{{"k": {"v"}, "content-type": {"application/grpc"}}}, []metadata.MD{fs.Trailer()})
}
