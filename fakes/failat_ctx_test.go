package fakes_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/fakes"
)

// An error WithFailAt injects into a Recv is not the end of the call: the
// stream stays usable, and its Context does not end.
func TestContextOutlivesAnInjectedRecvError(t *testing.T) {
	fs := fakes.NewClientStream[dupReq, dupRes](t.Context(), fakes.WithMethod(fullDuplex),
		fakes.WithFailAt(1, status.Error(codes.Unavailable, "injected")))
	if _, err := fs.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("Recv: %v", err)
	}
	if err := fs.Context().Err(); err != nil {
		t.Errorf("after an injected Recv error, Context() ended: %v", err)
	}
}
