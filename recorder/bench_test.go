package recorder_test

import (
	"context"
	"io"
	"syscall"
	"testing"
	"time"

	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/streamtest/streamtest/recorder"
)

// The benchmarks compare the same workload without a recorder (raw), with
// one recorder on both sides (recorded: unlimited log, reset every
// resetEvery operations so the heap stays bounded; ring: WithLimit(1024)),
// and with a recorder whose WithMethods excludes the method (filtered).
// Compare ns/op of the variants of one benchmark from the same run.

const resetEvery = 4096

type benchVariant struct {
	name string
	rec  func() *recorder.Recorder
}

var benchVariants = []benchVariant{
	{"mode=raw", func() *recorder.Recorder { return nil }},
	{"mode=recorded", func() *recorder.Recorder { return recorder.New() }},
	{"mode=ring", func() *recorder.Recorder { return recorder.New(recorder.WithLimit(1024)) }},
	{"mode=filtered", func() *recorder.Recorder { return recorder.New(recorder.WithMethods("/other.Service/Other")) }},
}

func benchPair(b *testing.B, v benchVariant) (testpb.TestServiceClient, *recorder.Recorder) {
	rec := v.rec()
	p := newPair(b, bufnet, rec, rec, registerEcho)
	return testpb.NewTestServiceClient(p.conn), rec
}

// cpuTime returns the CPU time (user + system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds a cpu-ns/op metric: CPU time of the whole process (client,
// server and gRPC's goroutines) per op. On a machine shared with other work
// it is steadier than wall time, and on a CPU-bound benchmark it is what
// the recorder adds.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func kib() *testpb.Payload { return &testpb.Payload{Body: make([]byte, 1024)} }

// BenchmarkStream: pipelined bidi stream of 1 KiB messages echoed by the
// server; one op is one request and its response.
func BenchmarkStream(b *testing.B) {
	for _, v := range benchVariants {
		b.Run(v.name, func(b *testing.B) {
			tc, rec := benchPair(b, v)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stream, err := tc.FullDuplexCall(ctx)
			if err != nil {
				b.Fatal(err)
			}
			req := &testpb.StreamingOutputCallRequest{Payload: kib()}
			sendErr := make(chan error, 1)
			b.ReportAllocs()
			b.SetBytes(2 * 1024)
			b.ResetTimer()
			cpu := cpuTime()
			go func() {
				for range b.N {
					if err := stream.Send(req); err != nil {
						sendErr <- err
						return
					}
				}
				sendErr <- stream.CloseSend()
			}()
			resp := new(testpb.StreamingOutputCallResponse)
			for i := range b.N {
				if err := stream.RecvMsg(resp); err != nil {
					b.Fatal(err)
				}
				if rec != nil && i%resetEvery == resetEvery-1 {
					rec.Reset()
				}
			}
			if err := <-sendErr; err != nil {
				b.Fatal(err)
			}
			reportCPU(b, cpu)
			if err := stream.RecvMsg(resp); err != io.EOF {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkPingPong: one 1 KiB request, wait for its response, repeat.
func BenchmarkPingPong(b *testing.B) {
	for _, v := range benchVariants {
		b.Run(v.name, func(b *testing.B) {
			tc, rec := benchPair(b, v)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stream, err := tc.FullDuplexCall(ctx)
			if err != nil {
				b.Fatal(err)
			}
			req := &testpb.StreamingOutputCallRequest{Payload: kib()}
			resp := new(testpb.StreamingOutputCallResponse)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for i := range b.N {
				if err := stream.Send(req); err != nil {
					b.Fatal(err)
				}
				if err := stream.RecvMsg(resp); err != nil {
					b.Fatal(err)
				}
				if rec != nil && i%resetEvery == resetEvery-1 {
					rec.Reset()
				}
			}
			reportCPU(b, cpu)
			stream.CloseSend()
			if err := stream.RecvMsg(resp); err != io.EOF {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkUnary: one unary call with a 1 KiB request and response.
func BenchmarkUnary(b *testing.B) {
	for _, v := range benchVariants {
		b.Run(v.name, func(b *testing.B) {
			tc, rec := benchPair(b, v)
			ctx := context.Background()
			req := &testpb.SimpleRequest{Payload: kib()}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for i := range b.N {
				if _, err := tc.UnaryCall(ctx, req); err != nil {
					b.Fatal(err)
				}
				if rec != nil && i%resetEvery == resetEvery-1 {
					rec.Reset()
				}
			}
			reportCPU(b, cpu)
		})
	}
}
