package fakes_test

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/recorder"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// hdrViaCtx is a streaming handler that sends its header and sets its
// trailer through the handler's context, as grpc.SendHeader/SetTrailer allow
// ("The context provided must be the context passed to the server's handler").
type hdrViaCtx struct {
	testpb.UnimplementedTestServiceServer
	method *string
}

func (h hdrViaCtx) FullDuplexCall(st testpb.TestService_FullDuplexCallServer) error {
	ctx := st.Context()
	*h.method, _ = grpc.Method(ctx)
	if err := grpc.SendHeader(ctx, metadata.Pairs("h", "1")); err != nil {
		return err
	}
	return grpc.SetTrailer(ctx, metadata.Pairs("t", "1"))
}

func TestHandlerContextCarriesTheStream(t *testing.T) {
	// Real gRPC: the handler succeeds and the client sees the header and trailer.
	var realMethod, fakeMethod string
	srv := grpctest.NewServer(t, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, hdrViaCtx{method: &realMethod}) })
	cs, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_, realErr := cs.Recv()
	hdr, _ := cs.Header()
	t.Logf("real: Recv %v, header h=%v, trailer t=%v, grpc.Method(ctx)=%q", realErr, hdr.Get("h"), cs.Trailer().Get("t"), realMethod)

	// The fake: the same handler, called directly.
	fs := fakes.NewServerStream[dupReq, dupRes](t.Context(), fakes.WithMethod(fullDuplex))
	fakeErr := hdrViaCtx{method: &fakeMethod}.FullDuplexCall(fs)
	fs.End(fakeErr)
	if fakeErr != nil {
		t.Errorf("the handler failed on a fake stream: %v", fakeErr)
	}
	if fs.Header().Get("h") == nil || fs.Trailer().Get("t") == nil {
		t.Errorf("fake Header() = %v, Trailer() = %v; want h=1, t=1", fs.Header(), fs.Trailer())
	}
	if fakeMethod != realMethod {
		t.Errorf("grpc.Method(ctx) in the handler: fake %q (WithMethod(%q)), real %q", fakeMethod, fullDuplex, realMethod)
	}
}

// With a recorder, the header and trailer set through the handler's
// context are recorded, as on a real server.
func TestHandlerContextHeadersAreRecorded(t *testing.T) {
	rec := recorder.New()
	var method string
	fs := fakes.NewServerStream[dupReq, dupRes](t.Context(), fakes.WithMethod(fullDuplex), fakes.WithRecorder(rec))
	err := hdrViaCtx{method: &method}.FullDuplexCall(fs)
	fs.End(err)
	if err != nil {
		t.Fatalf("the handler failed: %v", err)
	}
	var header, trailer metadata.MD
	for _, e := range rec.Events() {
		switch e.Kind {
		case recorder.Header:
			header = e.MD
		case recorder.Trailer:
			trailer = e.MD
		}
	}
	if header.Get("h") == nil || trailer.Get("t") == nil {
		t.Errorf("recorded header %v, trailer %v; want h=1, t=1\n%s", header, trailer, rec)
	}
	if method != fullDuplex {
		t.Errorf("grpc.Method(ctx) = %q, want %q", method, fullDuplex)
	}
}
