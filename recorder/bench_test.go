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
// with a recorder whose WithMethods excludes the method (filtered), and
// (BenchmarkPaired only) with a recorder on one side (client, server).
//
// BenchmarkStream, BenchmarkPingPong and BenchmarkUnary run each variant on
// its own, one after the other: compare ns/op of the variants from the same
// run. BenchmarkPaired runs raw and one other variant side by side in
// alternating blocks of about 5 ms and reports their ratio, which is what
// to read on a noisy machine (see BENCHMARKS.md).

const resetEvery = 4096

type benchVariant struct {
	name string
	rec  func() *recorder.Recorder
	// Which sides rec records: both unless one of these is set.
	clientOnly, serverOnly bool
}

var benchVariants = []benchVariant{
	{name: "mode=raw", rec: func() *recorder.Recorder { return nil }},
	{name: "mode=recorded", rec: func() *recorder.Recorder { return recorder.New() }},
	{name: "mode=ring", rec: func() *recorder.Recorder { return recorder.New(recorder.WithLimit(1024)) }},
	{name: "mode=filtered", rec: func() *recorder.Recorder { return recorder.New(recorder.WithMethods("/other.Service/Other")) }},
}

// oneSideVariants record one side only; BenchmarkPaired runs them too.
// A Recorder on the client only sends no call-id header (see
// recorder.CallIDHeader).
var oneSideVariants = []benchVariant{
	{name: "mode=client", rec: func() *recorder.Recorder { return recorder.New() }, clientOnly: true},
	{name: "mode=server", rec: func() *recorder.Recorder { return recorder.New() }, serverOnly: true},
}

// workload is one of the benchmarked call patterns.
type workload struct {
	name  string
	bytes int64 // message bytes per op, both directions
	block int   // ops per block in BenchmarkPaired: about 5 ms
	// start opens what the workload needs on tc and returns its driver.
	start func(b *testing.B, tc testpb.TestServiceClient) (run func(n int) error, stop func() error)
}

var workloads = []workload{
	{"Stream", 2 * 1024, 1024, startStream},
	{"PingPong", 0, 256, startPingPong},
	{"Unary", 0, 64, startUnary},
}

func kib() *testpb.Payload { return &testpb.Payload{Body: make([]byte, 1024)} }

// openEcho opens the echo stream the stream workloads use, with a 1 KiB
// request and a response to receive into.
func openEcho(b *testing.B, tc testpb.TestServiceClient) (testpb.TestService_FullDuplexCallClient, *testpb.StreamingOutputCallRequest, *testpb.StreamingOutputCallResponse) {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	stream, err := tc.FullDuplexCall(ctx)
	if err != nil {
		b.Fatal(err)
	}
	return stream, &testpb.StreamingOutputCallRequest{Payload: kib()}, new(testpb.StreamingOutputCallResponse)
}

// startStream: pipelined bidi stream of 1 KiB messages echoed by the
// server; one op is one request and its response. run(n) sends n requests
// from a second goroutine while it receives the n responses.
func startStream(b *testing.B, tc testpb.TestServiceClient) (func(int) error, func() error) {
	stream, req, resp := openEcho(b, tc)
	sendErr := make(chan error, 1)
	run := func(n int) error {
		go func() {
			for range n {
				if err := stream.Send(req); err != nil {
					sendErr <- err
					return
				}
			}
			sendErr <- nil
		}()
		for range n {
			if err := stream.RecvMsg(resp); err != nil {
				<-sendErr
				return err
			}
		}
		return <-sendErr
	}
	return run, func() error { return closeStream(stream, resp) }
}

// startPingPong: one 1 KiB request on a bidi stream, wait for its
// response, repeat.
func startPingPong(b *testing.B, tc testpb.TestServiceClient) (func(int) error, func() error) {
	stream, req, resp := openEcho(b, tc)
	run := func(n int) error {
		for range n {
			if err := stream.Send(req); err != nil {
				return err
			}
			if err := stream.RecvMsg(resp); err != nil {
				return err
			}
		}
		return nil
	}
	return run, func() error { return closeStream(stream, resp) }
}

// startUnary: one unary call with a 1 KiB request and response.
func startUnary(b *testing.B, tc testpb.TestServiceClient) (func(int) error, func() error) {
	req := &testpb.SimpleRequest{Payload: kib()}
	run := func(n int) error {
		for range n {
			if _, err := tc.UnaryCall(context.Background(), req); err != nil {
				return err
			}
		}
		return nil
	}
	return run, func() error { return nil }
}

func closeStream(stream testpb.TestService_FullDuplexCallClient, resp *testpb.StreamingOutputCallResponse) error {
	if err := stream.CloseSend(); err != nil {
		return err
	}
	if err := stream.RecvMsg(resp); err != io.EOF {
		return err
	}
	return nil
}

// driver runs a workload on its own pair, resetting the recorder every
// resetEvery ops.
type driver struct {
	rec  *recorder.Recorder
	run  func(n int) error
	stop func() error
	done int
}

func newDriver(b *testing.B, w workload, v benchVariant) *driver {
	rec := v.rec()
	serverRec, clientRec := rec, rec
	if v.clientOnly {
		serverRec = nil
	}
	if v.serverOnly {
		clientRec = nil
	}
	p := newPair(b, bufnet, serverRec, clientRec, registerEcho)
	run, stop := w.start(b, testpb.NewTestServiceClient(p.conn))
	return &driver{rec: rec, run: run, stop: stop}
}

func (d *driver) ops(n int) error {
	for n > 0 {
		k := min(n, resetEvery-d.done%resetEvery)
		if err := d.run(k); err != nil {
			return err
		}
		d.done += k
		n -= k
		if d.rec != nil && d.done%resetEvery == 0 {
			d.rec.Reset()
		}
	}
	return nil
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

func benchWorkload(b *testing.B, name string) {
	for _, w := range workloads {
		if w.name != name {
			continue
		}
		for _, v := range benchVariants {
			b.Run(v.name, func(b *testing.B) {
				d := newDriver(b, w, v)
				b.ReportAllocs()
				if w.bytes > 0 {
					b.SetBytes(w.bytes)
				}
				b.ResetTimer()
				cpu := cpuTime()
				if err := d.ops(b.N); err != nil {
					b.Fatal(err)
				}
				reportCPU(b, cpu)
				b.StopTimer()
				if err := d.stop(); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// BenchmarkStream: pipelined bidi stream of 1 KiB messages echoed by the
// server; one op is one request and its response.
func BenchmarkStream(b *testing.B) { benchWorkload(b, "Stream") }

// BenchmarkPingPong: one 1 KiB request, wait for its response, repeat.
func BenchmarkPingPong(b *testing.B) { benchWorkload(b, "PingPong") }

// BenchmarkUnary: one unary call with a 1 KiB request and response.
func BenchmarkUnary(b *testing.B) { benchWorkload(b, "Unary") }

// BenchmarkPaired measures each variant against raw in the same process at
// the same time: two pairs are set up, and blocks of ops (about 5 ms each)
// alternate between them in the order raw, variant, variant, raw, ... so
// that a slow patch of the machine falls on both. It reports the variant's
// ns/op, raw-ns/op, and ratio (variant / raw over the whole run); b.N is
// the number of ops of each.
//
// mode=raw runs raw against a second raw pair: the control, whose ratio
// shows what the method itself reads as a difference. mode=client and
// mode=server record one side only.
//
// Both pairs share one heap: the garbage collector's work for the
// recorder's retained records is done partly while raw runs.
func BenchmarkPaired(b *testing.B) {
	for _, w := range workloads {
		for _, v := range append(benchVariants[:len(benchVariants):len(benchVariants)], oneSideVariants...) {
			b.Run(w.name+"/"+v.name, func(b *testing.B) {
				raw, other := newDriver(b, w, benchVariants[0]), newDriver(b, w, v)
				// Warm both up: first calls set up streams, buffers, pools.
				for _, d := range []*driver{raw, other} {
					if err := d.ops(w.block); err != nil {
						b.Fatal(err)
					}
				}
				var spent [2]time.Duration
				pair := [2]*driver{raw, other}
				b.ResetTimer()
				for i, left := 0, b.N; left > 0; i++ {
					n := min(left, w.block)
					for j := range 2 {
						k := j ^ i&1 // raw first in even blocks, second in odd ones
						start := time.Now()
						if err := pair[k].ops(n); err != nil {
							b.Fatal(err)
						}
						spent[k] += time.Since(start)
					}
					left -= n
				}
				b.StopTimer()
				b.ReportMetric(float64(spent[1])/float64(b.N), "ns/op")
				b.ReportMetric(float64(spent[0])/float64(b.N), "raw-ns/op")
				b.ReportMetric(float64(spent[1])/float64(spent[0]), "ratio")
				for _, d := range pair {
					if err := d.stop(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
