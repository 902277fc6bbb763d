package fakes_test

import (
	"context"
	"testing"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/recorder"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// BenchmarkServerStreamRoundTrip measures one request pushed and received by
// the handler plus one response sent and read by the test.
func BenchmarkServerStreamRoundTrip(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []fakes.Option
	}{
		{"plain", nil},
		{"recorded", []fakes.Option{fakes.WithRecorder(recorder.New(recorder.WithLimit(1024)))}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			s := fakes.NewServerStream[dupReq, dupRes](ctx, bc.opts...)
			in, out := req(8), res(8)
			b.ReportAllocs()
			for b.Loop() {
				s.Push(in)
				if _, err := s.Recv(); err != nil {
					b.Fatal(err)
				}
				if err := s.Send(out); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Next(ctx); err != nil {
					b.Fatal(err)
				}
			}
			s.Cancel()
		})
	}
}

// BenchmarkFakeServerUnary measures one scripted unary call over the
// harness (bufconn, recorder on both sides).
func BenchmarkFakeServerUnary(b *testing.B) {
	srv := fakes.NewServer(b)
	srv.Expect(unaryCall).RecvAny().Send(&testpb.SimpleResponse{}).Times(b.N)
	client := testpb.NewTestServiceClient(srv.Conn())
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := client.UnaryCall(b.Context(), &testpb.SimpleRequest{}); err != nil {
			b.Fatal(err)
		}
	}
}
