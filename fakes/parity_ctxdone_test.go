package fakes_test

import (
	"errors"
	"io"
	"testing"

	"github.com/streamtest/streamtest/fakes"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// A real client stream's Context() ends when the stream does (grpc-go's
// clientStream.finish cancels it), so code can stop a sender goroutine on
// stream.Context().Done(). The fake's never ends until the caller's does.
func TestClientStreamContextEndsWithTheStream(t *testing.T) {
	h := interopServer(t)
	rs, err := testpb.NewTestServiceClient(h.Conn()).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_ = rs.CloseSend()
	if _, err := rs.Recv(); !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	realDone := rs.Context().Err()
	t.Logf("real: after Recv returned io.EOF, stream.Context().Err() = %v", realDone)

	fs := fakes.NewClientStream[dupReq, dupRes](t.Context(), fakes.WithMethod(fullDuplex))
	_ = fs.CloseSend()
	fs.Finish(nil)
	if _, err := fs.Recv(); !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if fs.Context().Err() == nil && realDone != nil {
		t.Errorf("fake: after Recv returned io.EOF, stream.Context().Err() = nil; a real stream's context is done (%v)", realDone)
	}
}
