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

// BenchmarkFakeServerLargeRequest measures one scripted unary call whose
// Recv step compares a 256 KiB request (equal: proto.Equal, not a walk of
// cmp over every byte).
func BenchmarkFakeServerLargeRequest(b *testing.B) {
	req := &testpb.SimpleRequest{Payload: &testpb.Payload{Body: make([]byte, 256<<10)}}
	srv := fakes.NewServer(b)
	srv.Expect(unaryCall).Recv(req).Send(&testpb.SimpleResponse{}).Times(b.N)
	client := testpb.NewTestServiceClient(srv.Conn())
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := client.UnaryCall(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}
