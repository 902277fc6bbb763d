package e2e_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // registers the gzip compressor
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/recorder"
)

// exhaustedService's UnaryCall fails with ResourceExhausted, in the words
// gRPC uses for a message too large to send.
type exhaustedService struct {
	testgrpc.UnimplementedTestServiceServer
}

func (exhaustedService) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return nil, status.Error(codes.ResourceExhausted, "trying to send message larger than max (the server's own words)")
}

// A unary request larger than the call's send limit, but not once gRPC
// has compressed it, is sent: the recorder keeps its Send without error,
// though the call fails with the code gRPC gives a request it refuses to
// send. (This lives here, not in the recorder's tests, because the gzip
// compressor it registers adds a header to every call of its test binary,
// and the recorder's benchmarks share theirs.)
func TestUnaryRequestThatFitsCompressedIsSent(t *testing.T) {
	srv := grpctest.NewServer(t, service(exhaustedService{}))
	req := &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: make([]byte, 1000)}} // zeros: compresses well
	_, err := testgrpc.NewTestServiceClient(srv.Conn()).UnaryCall(t.Context(), req, grpc.MaxCallSendMsgSize(100), grpc.UseCompressor("gzip"))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("UnaryCall: %v, want the server's ResourceExhausted", err)
	}
	for _, e := range srv.Recorder().Events() {
		if e.Side == recorder.Client && e.Kind == recorder.Send && e.Err != nil {
			t.Errorf("client Send recorded with %v, want no error: the compressed request fits and was sent\n%s", e.Err, srv.Recorder())
		}
	}
}

// An empty request goes out uncompressed (gRPC does not compress nothing),
// so it fits any limit: its Send is no failure either.
func TestEmptyRequestWithACompressorIsSent(t *testing.T) {
	srv := grpctest.NewServer(t, service(exhaustedService{}))
	_, err := testgrpc.NewTestServiceClient(srv.Conn()).UnaryCall(t.Context(), &testgrpc.SimpleRequest{}, grpc.MaxCallSendMsgSize(10), grpc.UseCompressor("gzip"))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("UnaryCall: %v, want the server's ResourceExhausted", err)
	}
	for _, e := range srv.Recorder().Events() {
		if e.Side == recorder.Client && e.Kind == recorder.Send && e.Err != nil {
			t.Errorf("client Send recorded with %v, but the server received the request\n%s", e.Err, srv.Recorder())
		}
	}
}

// With a compressor registered, gRPC adds grpc-accept-encoding to every
// call; the timeline leaves it out with the other keys gRPC adds to every
// call, so a call that sets no metadata shows none.
func TestTimelineHidesAcceptEncoding(t *testing.T) {
	srv := grpctest.NewServer(t, interopService)
	c := testgrpc.NewTestServiceClient(srv.Conn())
	if _, err := c.EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Recorder().Wait(t.Context(), func(ev []recorder.Event) bool { return len(ev) >= 2 && ev[len(ev)-1].Kind == recorder.End }); err != nil {
		t.Fatal(err)
	}
	accepted := false
	for _, e := range srv.Recorder().Events() {
		accepted = accepted || e.Kind == recorder.Begin && e.Side == recorder.Server && len(e.MD.Get("grpc-accept-encoding")) > 0
		if line := recorder.Timeline([]recorder.Event{e}); strings.Contains(line, "md{") {
			t.Errorf("the %s %s of a call that set no metadata shows some (gRPC added %v): "+
				"if gRPC now adds a key to every call, add it to transportKeys in recorder/timeline.go:\n%s", e.Side, e.Kind, e.MD, line)
		}
	}
	if !accepted {
		t.Errorf("the server's Begin has no grpc-accept-encoding though gzip is registered: the test no longer tests what it says\n%s", srv.Recorder())
	}
}
