package fakes_test

// Tests that pin checks of the fakes package a mutation run found
// unpinned: each fails when the check it names is broken.

import (
	"testing"

	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/internal/spytb"
)

// MaxTimes(0) after MinTimes(n > 0) cannot hold: the bound 0 is a bound
// (only a negative max means none).
func TestServerMaxTimesZeroBelowMinTimes(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	sc := srv.Expect(unaryCall).RecvAny().Send(&testpb.SimpleResponse{})
	sc.MinTimes(2).MaxTimes(0)
	spy.Want(t, 1, "MaxTimes(0)", "at least 2 and at most 0 call(s) cannot both hold")
	sc.Times(0) // the test makes no call
}

// A two-parameter function whose first parameter is not a
// context.Context is refused, though its second takes the request.
func TestServerFuncFirstParamMustBeAContext(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).RecvFunc(func(string, *testpb.SimpleRequest) error { return nil }).Times(0)
	spy.Want(t, 1, "RecvFunc got a func(string, *grpc_testing.SimpleRequest) error", "with a context.Context before the request")
}
