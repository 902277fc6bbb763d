package fakes_test

import (
	"context"
	"io"
	"runtime"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/internal/spytb"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// waitFor is a Do step's function that waits for next, or for the call to
// end; entered is closed when it starts.
func waitFor(entered, next chan struct{}) func(context.Context) error {
	return func(ctx context.Context) error {
		close(entered)
		select {
		case <-next:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Do holds the script until the test lets it go on: the second response
// is sent only after the test has seen the first.
func TestServerDoWaitsForTheTest(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	entered, next := make(chan struct{}), make(chan struct{})
	srv.Expect(fullDuplex).Recv(req(1)).Send(res(1)).Do(waitFor(entered, next)).Send(res(2)).RecvEOF()
	stream, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(req(1)); err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered: // the script waits in Do: nothing more can be on its way
	case <-time.After(waitLimit):
		t.Fatal("the Do step's function did not run")
	}
	wantMsgs(t, []*dupRes{res(1)}, []*dupRes{first})
	close(next)
	second, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	wantMsgs(t, []*dupRes{res(2)}, []*dupRes{second})
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("Recv after CloseSend: %v, want io.EOF", err)
	}
	srv.Close()
	spy.WantClean(t)
}

// A Do function's error ends the call as Return(err) would: the steps
// after it do not run, and the call completed its script.
func TestServerDoErrorEndsTheCall(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).RecvAny().
		Do(func(context.Context) error { return status.Error(codes.NotFound, "gone") }).
		Send(&testpb.SimpleResponse{})
	_, err := testpb.NewTestServiceClient(srv.Conn()).UnaryCall(t.Context(), &testpb.SimpleRequest{})
	wantCode(t, err, codes.NotFound)
	srv.Close()
	spy.WantClean(t)
}

// A Do function that panics or calls runtime.Goexit fails its step, and
// the call; Close reports it, with the panic's stack from the test's
// frame.
func TestServerDoFunctionFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(context.Context) error
		want []string
	}{
		{"panic", func(context.Context) error { panic("no step for you") },
			[]string{"the function panicked: no step for you", ", in:", "TestServerDoFunctionFails.func1("}},
		{"Goexit", func(context.Context) error { runtime.Goexit(); return nil },
			[]string{"the function called runtime.Goexit (t.FailNow, t.Fatal or a testify require function?)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			srv := fakes.NewServer(spy)
			srv.Expect(unaryCall).RecvAny().Do(tc.f).Send(&testpb.SimpleResponse{})
			_, err := testpb.NewTestServiceClient(srv.Conn()).UnaryCall(t.Context(), &testpb.SimpleRequest{})
			wantCode(t, err, codes.FailedPrecondition)
			srv.Close()
			spy.Want(t, 1, append([]string{"not used as scripted", "step 2 Do at script_do_test.go:"}, tc.want...)...)
		})
	}
}

// A call its client cancels while a Do step waits is reported, naming the
// step, unless the script allows a cancel.
func TestServerDoCanceled(t *testing.T) {
	for _, allow := range []bool{false, true} {
		name := "reported"
		if allow {
			name = "AllowCancel"
		}
		t.Run(name, func(t *testing.T) {
			spy := spytb.New(t)
			srv := fakes.NewServer(spy)
			entered := make(chan struct{})
			sc := srv.Expect(fullDuplex).Do(waitFor(entered, nil)).Send(res(1))
			if allow {
				sc.AllowCancel()
			}
			ctx, cancel := context.WithCancel(t.Context())
			stream, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(ctx)
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-entered:
			case <-time.After(waitLimit):
				t.Fatal("the Do step's function did not run")
			}
			cancel()
			if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
				t.Fatalf("Recv after cancel: %v, want Canceled", err)
			}
			srv.Close()
			if allow {
				spy.WantClean(t)
				return
			}
			spy.Want(t, 1, "did not complete its script", "ended during step 1 Do", "Canceled")
		})
	}
}

// Do(nil) is a misuse, reported at its line; the step is dropped.
func TestServerDoNil(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).RecvAny().Do(nil).Send(&testpb.SimpleResponse{})
	spy.Want(t, 1, "step 2 Do: Do(nil): want a func(context.Context) error")
	if _, err := testpb.NewTestServiceClient(srv.Conn()).UnaryCall(t.Context(), &testpb.SimpleRequest{}); err != nil {
		t.Fatalf("the call without the dropped step: %v", err)
	}
	srv.Close()
	if n := len(spy.Reports()); n != 1 {
		t.Errorf("%d reports, want only the misuse:\n%s", n, spy.Text())
	}
}
