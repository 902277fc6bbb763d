package fakes_test

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"

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

// contentTypeHeader's FullDuplexCall sends a header with a content-type
// of its own, which grpc-go's server leaves out, and returns.
type contentTypeHeader struct {
	testpb.UnimplementedTestServiceServer
}

func (contentTypeHeader) FullDuplexCall(st testpb.TestService_FullDuplexCallServer) error {
	return st.SendHeader(metadata.Pairs("content-type", "application/json", "x", "1"))
}

// A grpc-go server leaves a handler's reserved keys (content-type,
// grpc-status, ...) out of what it sends: the client sees its own
// content-type. A ClientStream's RespondHeader, RespondTrailer and a
// script's SendHeader and SetTrailer, which stand for what a server sends,
// refuse them with an error that says so, instead of handing the code
// metadata no server can send.
func TestReservedKeysAreNotSentAsGRPCs(t *testing.T) {
	srv := grpctest.NewServer(t, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, contentTypeHeader{}) })
	st, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	realMD, err := st.Header()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("Recv: %v, want io.EOF", err)
	}
	if got := realMD.Get("content-type"); len(got) != 1 || got[0] != "application/grpc" {
		t.Fatalf("a real client sees content-type %q, want the server's application/grpc", got)
	}

	fs := fakes.NewClientStream[dupReq, dupRes](t.Context(), fakes.WithMethod(fullDuplex))
	err = fs.RespondHeader(metadata.Pairs("content-type", "application/json", "x", "1"))
	if err == nil || !strings.Contains(err.Error(), `fakes: RespondHeader: key "content-type" is one gRPC reserves`) ||
		!strings.Contains(err.Error(), "content-type: application/grpc") {
		t.Errorf("RespondHeader with a content-type: %v, want an error that says gRPC reserves the key", err)
	}
	if err := fs.RespondHeader(metadata.Pairs("x", "1")); err != nil { // the header was not sent
		t.Fatal(err)
	}
	fakeMD, err := fs.Header()
	if err != nil {
		t.Fatal(err)
	}
	wantMsgs(t, []metadata.MD{realMD}, []metadata.MD{fakeMD})
	for _, k := range []string{"grpc-status", ":status", "te", "grpc-status-details-bin"} {
		err := fs.RespondTrailer(metadata.Pairs(k, "0"))
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("fakes: RespondTrailer: key %q is ", k)) {
			t.Errorf("RespondTrailer with %s: %v, want an error naming the reserved key", k, err)
		}
	}
	if err := fs.RespondTrailer(metadata.Pairs("grpc-previous-rpc-attempts", "1")); err != nil {
		t.Errorf("RespondTrailer with grpc-previous-rpc-attempts, which gRPC sends as metadata: %v", err)
	}
	fs.Finish(nil)
	if _, err := fs.Recv(); err != io.EOF {
		t.Fatalf("Recv: %v, want io.EOF", err)
	}

	// A script's SendHeader and SetTrailer: a misuse, at the step's line.
	for _, tc := range []struct {
		name  string
		build func(sc *fakes.Script)
		want  string
	}{
		{"SendHeader", func(sc *fakes.Script) { sc.SendHeader(metadata.Pairs("content-type", "application/json")) }, `step 1 SendHeader: key "content-type" is one gRPC reserves`},
		{"SetTrailer", func(sc *fakes.Script) { sc.SetTrailer(metadata.Pairs("grpc-message", "m")) }, `step 1 SetTrailer: key "grpc-message" is the call's status`},
		{"SetTrailer with details", func(sc *fakes.Script) { sc.SetTrailer(metadata.Pairs("grpc-status-details-bin", "x")) },
			`step 1 SetTrailer: key "grpc-status-details-bin" is the call's status details`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			fake := fakes.NewServer(spy)
			tc.build(fake.Expect(fullDuplex).AnyTimes())
			spy.Want(t, 1, tc.want, "parity_trailer_test.go:")
			spy.End()
		})
	}
}
