package fakes_test

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/streamtest/streamtest/grpctest"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// stillBlocked is how long a call must stay blocked to count as blocked. The
// behaviour under test is "still blocked after d", the one place a wall
// clock wait is right.
const stillBlocked = 50 * time.Millisecond

// waitLimit bounds every wait for something that must happen.
const waitLimit = 10 * time.Second

// wantCode fails t unless err is a status error with code c.
func wantCode(t testing.TB, err error, c codes.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want a status with code %v", c)
	}
	if got := status.Code(err); got != c {
		t.Fatalf("got error %v (code %v), want code %v", err, got, c)
	}
}

// wantEOF fails t unless err is io.EOF.
func wantEOF(t testing.TB, err error) {
	t.Helper()
	if !errors.Is(err, io.EOF) {
		t.Fatalf("got error %v, want io.EOF", err)
	}
}

// wantMsgs fails t with a protocmp diff unless got equals want.
func wantMsgs[M any](t testing.TB, want, got []M) {
	t.Helper()
	if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
		t.Fatalf("mismatch (-want +got):\n%s", d)
	}
}

// waitErr waits for p, failing t if it does not return within waitLimit.
func waitErr(t testing.TB, p *grpctest.Pending[struct{}]) error {
	t.Helper()
	_, err := p.Wait(waitLimit)
	return err
}

// req returns a FullDuplexCall request asking for responses of the given sizes.
func req(sizes ...int32) *testpb.StreamingOutputCallRequest {
	r := &testpb.StreamingOutputCallRequest{ResponseType: testpb.PayloadType_COMPRESSABLE}
	for _, s := range sizes {
		r.ResponseParameters = append(r.ResponseParameters, &testpb.ResponseParameters{Size: s})
	}
	return r
}

// res returns the response the interop server sends for size.
func res(size int32) *testpb.StreamingOutputCallResponse {
	return &testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Type: testpb.PayloadType_COMPRESSABLE, Body: make([]byte, size)}}
}
