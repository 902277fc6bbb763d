package recorder_test

import (
	"context"
	"fmt"
	"io"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/recorder"
)

// failingServer fails UnaryCall and StreamingOutputCall at once, with
// details in the status if details is set, after setting the trailer
// x-set:"1" if trailer is set. Without a trailer, gRPC answers with
// trailers only: the status comes in the response's one HEADERS frame,
// with its content-type, and the client's Trailer holds that
// content-type (and grpc-status-details-bin when the status has details).
type failingServer struct {
	testpb.UnimplementedTestServiceServer
	details, trailer bool
}

func (f failingServer) fail(ctx context.Context) error {
	if f.trailer {
		if err := grpc.SetTrailer(ctx, metadata.Pairs("x-set", "1")); err != nil {
			return err
		}
	}
	st := status.New(codes.NotFound, "no such thing")
	if f.details {
		var err error
		if st, err = st.WithDetails(&testpb.Payload{Body: []byte("thing")}); err != nil {
			return err
		}
	}
	return st.Err()
}

func (f failingServer) UnaryCall(ctx context.Context, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return nil, f.fail(ctx)
}

func (f failingServer) StreamingOutputCall(_ *testpb.StreamingOutputCallRequest, st testpb.TestService_StreamingOutputCallServer) error {
	return f.fail(st.Context())
}

// The client's trailer event holds what the server set, not the keys gRPC
// carries the status in: a call that fails with trailers only records no
// trailer (it recorded content-type, and with details
// grpc-status-details-bin), and one whose server set a trailer records
// that key alone. The details stay in the End's status.
func TestClientTrailerLeavesOutTheStatusKeys(t *testing.T) {
	for _, f := range []failingServer{{}, {details: true}, {trailer: true}, {details: true, trailer: true}} {
		for _, unary := range []bool{true, false} {
			t.Run(fmt.Sprintf("details=%v,trailer=%v,unary=%v", f.details, f.trailer, unary), func(t *testing.T) {
				rec := recorder.New()
				p := newPair(t, bufnet, rec, rec, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, f) })
				ctx := ctxT(t)
				var got metadata.MD // the trailer gRPC gives the client
				var err error
				c := testpb.NewTestServiceClient(p.conn)
				if unary {
					_, err = c.UnaryCall(ctx, &testpb.SimpleRequest{}, grpc.Trailer(&got))
				} else {
					var st testpb.TestService_StreamingOutputCallClient
					if st, err = c.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{}); err != nil {
						t.Fatal(err)
					}
					if _, err = st.Recv(); err == io.EOF {
						t.Fatal("Recv: io.EOF, want NotFound")
					}
					got = st.Trailer()
				}
				if status.Code(err) != codes.NotFound {
					t.Fatalf("call: %v, want NotFound", err)
				}
				if err := rec.Wait(ctx, allEnded); err != nil {
					t.Fatal(err)
				}
				if !f.trailer && len(got["content-type"]) == 0 {
					t.Errorf("gRPC's trailer %v has no content-type: not a trailers-only response, the test tests nothing", got)
				}
				var want metadata.MD
				if f.trailer {
					want = metadata.Pairs("x-set", "1")
				}
				var trailers int
				for _, e := range rec.Events() {
					if e.Side == recorder.Client && e.Kind == recorder.Trailer {
						trailers++
						if fmt.Sprint(e.MD) != fmt.Sprint(want) {
							t.Errorf("client trailer %v, want %v", e.MD, want)
						}
					}
				}
				if wantN := len(want); trailers != min(wantN, 1) {
					t.Errorf("%d client trailer events, want %d\n%s", trailers, min(wantN, 1), rec)
				}
				call := rec.Calls()[0]
				if fmt.Sprint(call.Trailer()) != fmt.Sprint(want) {
					t.Errorf("Call.Trailer() = %v, want %v", call.Trailer(), want)
				}
				if e, _ := endOf(rec, recorder.Client); len(status.Convert(e.Err).Details()) != len(status.Convert(err).Details()) {
					t.Errorf("client End %v has %d details, the call's error %d", e.Err, len(status.Convert(e.Err).Details()), len(status.Convert(err).Details()))
				}
			})
		}
	}
}
