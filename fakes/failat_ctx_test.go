package fakes_test

import (
	"context"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/recorder"
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

// A Send error that WithFailAt injects does not end the call either: when
// the context ends later, the recorded End is the context's.
func TestInjectedSendErrorIsNotTheEnd(t *testing.T) {
	rec := recorder.New()
	ctx, cancel := context.WithCancel(t.Context())
	fs := fakes.NewClientStream[dupReq, dupRes](ctx, fakes.WithMethod(fullDuplex), fakes.WithRecorder(rec),
		fakes.WithFailAt(1, status.Error(codes.Unavailable, "injected")))
	if err := fs.Send(req(1)); status.Code(err) != codes.Unavailable {
		t.Fatalf("Send 1: %v, want the injected Unavailable", err)
	}
	if err := fs.Send(req(2)); err != nil { // the stream is still usable
		t.Fatalf("Send 2: %v", err)
	}
	cancel()
	if err := rec.Wait(t.Context(), func(evs []recorder.Event) bool {
		return slices.ContainsFunc(evs, func(e recorder.Event) bool { return e.Kind == recorder.End })
	}); err != nil {
		t.Fatal(err)
	}
	for _, e := range rec.Events() {
		if e.Kind == recorder.End && status.Code(e.Err) != codes.Canceled {
			t.Errorf("End %v, want Canceled: the call ended with its context\n%s", e.Err, rec)
		}
	}
}
