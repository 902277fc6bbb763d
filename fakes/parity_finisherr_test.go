package fakes_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/recorder"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// errService's FullDuplexCall returns the error the test puts in err.
type errService struct {
	testpb.UnimplementedTestServiceServer
	err error
}

func (s errService) FullDuplexCall(testpb.TestService_FullDuplexCallServer) error { return s.err }

var errBackendDown = errors.New("backend down")

// ownStatusErr is an error type of the code's own with a GRPCStatus method.
type ownStatusErr struct{ room string }

func (e ownStatusErr) Error() string              { return "room " + e.room + " not found" }
func (e ownStatusErr) GRPCStatus() *status.Status { return status.New(codes.NotFound, "no such room") }

// nilStatusErr has a GRPCStatus method that returns nil.
type nilStatusErr struct{}

func (nilStatusErr) Error() string              { return "backend down" }
func (nilStatusErr) GRPCStatus() *status.Status { return nil }

// okStatusErr has a GRPCStatus method that returns OK.
type okStatusErr struct{}

func (okStatusErr) Error() string              { return "all good really" }
func (okStatusErr) GRPCStatus() *status.Status { return status.New(codes.OK, "fine") }

// An error whose GRPCStatus is OK ends the call OK, as grpc ends it: the
// code's Recv after Finish, and the test's Next after End, return io.EOF.
func TestAnErrorWithAnOKStatusEndsTheCallOK(t *testing.T) {
	srv := grpctest.NewServer(t, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, errService{err: okStatusErr{}}) })
	real, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := real.Recv(); err != io.EOF {
		t.Errorf("a real client's Recv: %v; want io.EOF", err)
	}
	fake := fakes.NewClientStream[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse](t.Context())
	fake.Finish(okStatusErr{})
	if _, err := fake.Recv(); err != io.EOF {
		t.Errorf("Recv after Finish: %v; want io.EOF", err)
	}
	server := fakes.NewServerStream[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse](t.Context())
	server.End(okStatusErr{})
	if _, err := server.Next(t.Context()); err != io.EOF {
		t.Errorf("Next after End: %v; want io.EOF", err)
	}
}

// handlerErrors are errors a handler (or a test playing one) ends a call
// with, of each kind grpc converts differently. found: errors.Is finds the
// error in what the fake delivers (not io.EOF and context errors, which
// would read as the end of the stream or the client's own cancel).
var handlerErrors = []struct {
	name  string
	err   error
	found bool
}{
	{"plain", errBackendDown, true},
	{"wrapped plain", fmt.Errorf("lookup: %w", errBackendDown), true},
	{"status", status.Error(codes.NotFound, "no such room"), true},
	{"wrapped status", fmt.Errorf("lookup: %w", status.Error(codes.NotFound, "no such room")), true},
	{"own type with GRPCStatus", ownStatusErr{"r1"}, true},
	{"GRPCStatus nil", nilStatusErr{}, true},
	{"context canceled", context.Canceled, false},
	{"deadline", fmt.Errorf("waiting: %w", context.DeadlineExceeded), false},
	{"EOF", io.EOF, false},
	{"wrapped EOF", fmt.Errorf("upstream: %w", io.EOF), false},
}

// The code gets Finish's error (a ClientStream's Recv), and the test End's
// (a ServerStream's Next), as a real client gets a handler's: the same
// status, code and text, as grpc-go makes them. As the contract has it,
// it is also Finish's error: errors.Is finds it, but for io.EOF and
// context errors. A fake client stream with a recorder records the End a
// real client records.
func TestFinishErrorIsTheStatusARealClientGetsAndTheTestsError(t *testing.T) {
	for _, tc := range handlerErrors {
		t.Run(tc.name, func(t *testing.T) {
			srv := grpctest.NewServer(t, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, errService{err: tc.err}) })
			real, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			_, realErr := real.Recv()
			if realErr == nil || errors.Is(realErr, io.EOF) {
				t.Fatalf("real Recv: %v; want the handler's error", realErr)
			}

			rec := recorder.New()
			fake := fakes.NewClientStream[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse](t.Context(),
				fakes.WithRecorder(rec), fakes.WithMethod(fullDuplex))
			fake.Finish(tc.err)
			_, finishErr := fake.Recv()
			server := fakes.NewServerStream[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse](t.Context())
			server.End(tc.err)
			_, nextErr := server.Next(t.Context())

			for _, got := range []struct {
				what string
				err  error
			}{{"ClientStream's Recv after Finish", finishErr}, {"ServerStream's Next after End", nextErr}} {
				if got.err == nil || got.err.Error() != realErr.Error() || status.Code(got.err) != status.Code(realErr) {
					t.Errorf("%s: %v (%v); a real client gets %v (%v)", got.what, got.err, status.Code(got.err), realErr, status.Code(realErr))
				}
				if errors.Is(got.err, tc.err) != tc.found {
					t.Errorf("%s: errors.Is(err, the test's error) = %v, want %v", got.what, !tc.found, tc.found)
				}
				if !errors.Is(got.err, realErr) {
					t.Errorf("%s: errors.Is(err, the real client's status error) = false; want true, as for two equal status errors", got.what)
				}
			}
			fakeEnd, realEnd := clientEnd(rec), clientEnd(srv.Recorder())
			if fakeEnd == nil || fakeEnd.Error() != realEnd.Error() || !rpcstatusError(fakeEnd) {
				t.Errorf("the fake's recorded client End: %#v; a real client's: %v\nfake:\n%s\nreal:\n%s", fakeEnd, realEnd, rec, srv.Recorder())
			}
		})
	}
}

// clientEnd returns the error of the client End r recorded last.
func clientEnd(r *recorder.Recorder) error {
	var err error
	for _, e := range r.Events() {
		if e.Side == recorder.Client && e.Kind == recorder.End {
			err = e.Err
		}
	}
	return err
}

// rpcstatusError reports whether err is an error made by package status,
// as the contract has a recorded End's.
func rpcstatusError(err error) bool {
	return reflect.TypeOf(err) == reflect.TypeOf(status.Error(codes.Unknown, ""))
}
