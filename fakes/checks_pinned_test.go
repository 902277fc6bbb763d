package fakes_test

// Tests that pin checks a mutation audit found unpinned: each fails when
// the check it names is broken.

import (
	"regexp"
	"testing"

	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/internal/spytb"
)

// In a request mismatch, the step's request is "-" and the client's "+".
func TestServerRequestDiffSigns(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(fullDuplex).Recv(req(111)).Send(res(1))
	_, err := exchange(t.Context(), testpb.NewTestServiceClient(srv.Conn()), req(222))
	wantCode(t, err, codes.FailedPrecondition)
	srv.Close()
	r := spy.Want(t, 1, "request mismatch (-want +got)")
	if !regexp.MustCompile(`(?m)^\s*-.*111`).MatchString(r.Msg) || !regexp.MustCompile(`(?m)^\s*\+.*222`).MatchString(r.Msg) {
		t.Errorf("the step's request is not on the - side, or the client's on the + side:\n%s", r.Msg)
	}
}

// A SendFunc that returns no response on a unary method fails the step.
func TestServerSendFuncNoResponseOnUnary(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).RecvAny().SendFunc(func(*testpb.SimpleRequest) []*testpb.SimpleResponse { return nil })
	_, err := testpb.NewTestServiceClient(srv.Conn()).UnaryCall(t.Context(), &testpb.SimpleRequest{})
	wantCode(t, err, codes.FailedPrecondition)
	srv.Close()
	spy.Want(t, 1, "the function returned 0 responses, but "+unaryCall+" is not server-streaming")
}
