package grpctest_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
)

// panickingHandler's handlers index a nil map.
type panickingHandler struct {
	testgrpc.UnimplementedTestServiceServer
}

func (panickingHandler) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	var m map[string]int
	m["unary"]++
	return nil, nil
}

func (panickingHandler) FullDuplexCall(testgrpc.TestService_FullDuplexCallServer) error {
	var m map[string]int
	m["bidi"]++
	return nil
}

// A handler's panic does not crash the test binary: the client gets
// Internal and Close reports each panic with the handler's line.
func TestHandlerPanicIsReported(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(panickingHandler{}))
	c := client(srv)
	if _, err := c.UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("UnaryCall: %v, want Internal saying the handler panicked", err)
	}
	stream, err := c.FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Internal {
		t.Errorf("Recv: %v, want Internal", err)
	}
	// The recorder inside the harness saw both handlers end.
	for _, call := range srv.Recorder().Calls() {
		if !call.Done() || status.Code(call.Err()) != codes.Internal {
			t.Errorf("%s: done %v, Err %v; want done, Internal\n%s", call.Method(), call.Done(), call.Err(), srv.Recorder())
		}
	}
	spy.End()
	rs := spy.Reports()
	if len(rs) != 2 {
		t.Fatalf("%d reports, want one per panic:\n%s", len(rs), spy.Text())
	}
	for i, method := range []string{"/grpc.testing.TestService/UnaryCall", "/grpc.testing.TestService/FullDuplexCall"} {
		for _, want := range []string{"the handler of " + method + " panicked: assignment to entry in nil map", "panic_test.go:"} {
			if !strings.Contains(rs[i].Msg, want) {
				t.Errorf("report %d lacks %q:\n%s", i, want, rs[i].Msg)
			}
		}
	}
}

// A harness whose handlers did not panic reports none.
func TestNoPanicNoReport(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	if _, err := client(srv).UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	spy.End()
	spy.WantClean(t)
}
