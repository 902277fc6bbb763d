package grpctest_test

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
)

// leftStream is a service whose StreamingOutputCall hands its stream to a
// goroutine that uses it once the call has ended (after the handler
// returned, unless wait), n times with op; done is closed when the
// goroutine is.
type leftStream struct {
	testgrpc.UnimplementedTestServiceServer
	op   string // "Send", "SetTrailer" or "Recv"
	n    int
	wait bool // the handler waits for the goroutine: the right way
	done chan struct{}
}

func (h leftStream) StreamingOutputCall(_ *testgrpc.StreamingOutputCallRequest, stream testgrpc.TestService_StreamingOutputCallServer) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer close(h.done)
		defer wg.Done()
		if !h.wait {
			<-stream.Context().Done() // the handler has returned
		}
		res := &testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: []byte("late")}}
		for i := range h.n {
			switch h.op {
			case "Send":
				stream.Send(res)
			case "SetTrailer":
				stream.SetTrailer(metadata.Pairs("late", "1"))
			case "Send from 7 lines": // seven stacks, not alike
				switch i % 7 {
				case 0:
					stream.Send(res)
				case 1:
					stream.Send(res)
				case 2:
					stream.Send(res)
				case 3:
					stream.Send(res)
				case 4:
					stream.Send(res)
				case 5:
					stream.Send(res)
				case 6:
					stream.Send(res)
				}
			}
		}
	}()
	if h.wait {
		wg.Wait()
	}
	return nil
}

func (h leftStream) FullDuplexCall(stream testgrpc.TestService_FullDuplexCallServer) error {
	// A reader goroutine whose Recv fails once the handler has returned:
	// nothing is lost, and nothing is reported.
	go func() {
		defer close(h.done)
		for {
			if _, err := stream.Recv(); err != nil {
				return
			}
		}
	}()
	return nil
}

// WithLateSendCheck, Close reports the calls a goroutine made on a stream
// after its handler returned and gRPC ended the call, with the stack of
// the goroutine; not those of a handler that waits for its goroutine, not
// a Recv, and nothing without the option.
func TestCloseReportsAStreamUsedAfterItsHandlerReturned(t *testing.T) {
	for _, tc := range []struct {
		op     string
		n      int
		wait   bool
		off    bool     // no WithLateSendCheck: no report
		listed int      // calls listed in the report, if not n
		report []string // nil: no report
	}{
		{op: "Send", n: 1, report: []string{
			"grpctest: 1 call(s) on the stream of a handler that had returned, made after gRPC had ended the call (WithLateSendCheck)",
			"have it wait for them (a sync.WaitGroup, an errgroup) before it returns",
			"Send on the stream of /grpc.testing.TestService/StreamingOutputCall, after its handler returned, by:\n  github.com/streamtest/streamtest/grpctest_test.leftStream.StreamingOutputCall.func1()\n  \t",
			"lateuse_test.go:",
			"created by github.com/streamtest/streamtest/grpctest_test.leftStream.StreamingOutputCall",
			"recorded timeline"}},
		{op: "SetTrailer", n: 1, report: []string{"SetTrailer on the stream of /grpc.testing.TestService/StreamingOutputCall, after its handler returned"}},
		// Calls alike (the same operation and stack) are listed once, with
		// a count; five are listed, and the rest counted.
		{op: "Send", n: 8, listed: 1, report: []string{"grpctest: 8 call(s)", "after its handler returned (8 times), by:"}},
		{op: "Send from 7 lines", n: 8, listed: 5, report: []string{"grpctest: 8 call(s)", "after its handler returned (2 times), by:", "… and 2 more such call(s)"}},
		{op: "Send", n: 3, wait: true},
		{op: "SetTrailer", n: 1, wait: true},
		{op: "Recv"},
		{op: "Send", n: 2, off: true}, // without WithLateSendCheck
	} {
		t.Run(fmt.Sprintf("%s×%d,wait=%v,off=%v", tc.op, tc.n, tc.wait, tc.off), func(t *testing.T) {
			spy := spytb.New(t)
			h := leftStream{op: tc.op, n: tc.n, wait: tc.wait, done: make(chan struct{})}
			var opts []grpctest.Option
			if !tc.off {
				opts = append(opts, grpctest.WithLateSendCheck())
			}
			srv := grpctest.NewServer(spy, service(h), opts...)
			if tc.op == "Recv" {
				stream, err := client(srv).FullDuplexCall(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := stream.Recv(); err != io.EOF {
					t.Fatalf("Recv: %v, want io.EOF", err)
				}
			} else {
				stream, err := client(srv).StreamingOutputCall(t.Context(), &testgrpc.StreamingOutputCallRequest{})
				if err != nil {
					t.Fatal(err)
				}
				got := 0
				for ; ; got++ {
					if _, err = stream.Recv(); err != nil {
						break
					}
				}
				if want := map[bool]int{true: tc.n}[tc.wait && tc.op == "Send"]; err != io.EOF || got != want {
					t.Fatalf("%d responses, then %v; want %d, then io.EOF", got, err, want)
				}
			}
			<-h.done
			srv.Close()
			if tc.report == nil {
				spy.WantClean(t)
				return
			}
			r := spy.Want(t, 1, tc.report...)
			want := tc.n
			if tc.listed > 0 {
				want = tc.listed
			}
			if n := strings.Count(r.Msg, ", by:\n"); n != want {
				t.Errorf("the report lists %d calls, want %d:\n%s", n, want, r.Msg)
			}
		})
	}
}

// wrapped is a stream wrapper of an interceptor of the test's own, inside
// the harness's.
type wrapped struct{ grpc.ServerStream }

func (w wrapped) SendMsg(m any) error { return w.ServerStream.SendMsg(m) }

// The report's stack starts at the code that used the stream, past the
// methods of stream wrappers of the test's own interceptors.
func TestLateSendStackStartsAtTheCaller(t *testing.T) {
	spy := spytb.New(t)
	h := leftStream{op: "Send", n: 1, done: make(chan struct{})}
	wrap := func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, wrapped{ss})
	}
	srv := grpctest.NewServer(spy, service(h), grpctest.WithLateSendCheck(),
		grpctest.WithServerOptions(grpc.ChainStreamInterceptor(wrap)))
	stream, err := client(srv).StreamingOutputCall(t.Context(), &testgrpc.StreamingOutputCallRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("Recv: %v, want io.EOF", err)
	}
	<-h.done
	srv.Close()
	spy.Want(t, 1, "after its handler returned, by:\n  github.com/streamtest/streamtest/grpctest_test.leftStream.StreamingOutputCall.func1()\n")
}
