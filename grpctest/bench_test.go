package grpctest_test

import (
	"context"
	"net"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/test/bufconn"

	"github.com/streamtest/streamtest/grpctest"
)

// iterationTB runs the cleanups registered during one benchmark iteration
// at its end, instead of piling them up until the benchmark ends.
type iterationTB struct {
	testing.TB
	cleanups []func()
}

func (t *iterationTB) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }

func (t *iterationTB) end() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = t.cleanups[:0]
}

// BenchmarkHarness compares one unary call on a fresh in-process pair:
// written by hand (bufconn listener, server, NewClient, call, close) and
// with grpctest (NewServer, call, Close with every leak check). The
// hand-written pair is also measured followed by goleak.Find, the check
// the harness's leak checks replace.
func BenchmarkHarness(b *testing.B) {
	ctx := context.Background()
	manual := func(b *testing.B) {
		lis := bufconn.Listen(64 * 1024)
		srv := grpc.NewServer()
		interopService(srv)
		go srv.Serve(lis)
		cc, err := grpc.NewClient("passthrough:///bufnet",
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := testgrpc.NewTestServiceClient(cc).EmptyCall(ctx, &testgrpc.Empty{}); err != nil {
			b.Fatal(err)
		}
		cc.Close()
		srv.Stop()
		lis.Close()
	}
	b.Run("manual", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			manual(b)
		}
	})
	// The hand-written pair checked as goleak users check a test: the
	// goroutines running before it are ignored, and goleak.Find retries
	// until the pair's own have ended.
	b.Run("manual-goleak", func(b *testing.B) {
		b.ReportAllocs()
		before := goleak.IgnoreCurrent()
		for b.Loop() {
			manual(b)
			if err := goleak.Find(before); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, bc := range []struct {
		name string
		opts []grpctest.Option
	}{
		{"grpctest", nil},
		{"grpctest-without-recorder", []grpctest.Option{grpctest.WithoutRecorder()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			t := &iterationTB{TB: b}
			for b.Loop() {
				srv := grpctest.NewServer(t, interopService, bc.opts...)
				if _, err := client(srv).EmptyCall(ctx, &testgrpc.Empty{}); err != nil {
					b.Fatal(err)
				}
				srv.Close()
				t.end()
			}
		})
	}
}

// BenchmarkLeakScan compares one scan for goroutines left behind: the
// harness's label-scoped scan of the goroutine profile against a plain
// goleak.Find (which cannot tell harnesses apart), with a harness open so
// both have gRPC goroutines to look at.
func BenchmarkLeakScan(b *testing.B) {
	srv := grpctest.NewServer(b, interopService)
	if _, err := client(srv).EmptyCall(context.Background(), &testgrpc.Empty{}); err != nil {
		b.Fatal(err)
	}
	b.Run("labels", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			grpctest.ScanLabelled("no-such-harness")
		}
	})
	b.Run("goleak.Find", func(b *testing.B) {
		b.ReportAllocs()
		ignore := goleak.IgnoreCurrent() // so that each Find is one scan, no retry
		for b.Loop() {
			if err := goleak.Find(ignore); err != nil {
				b.Fatal(err)
			}
		}
	})
}
