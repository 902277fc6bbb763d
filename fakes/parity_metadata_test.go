package fakes_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// refusedMD is metadata that gRPC refuses as a header or trailer, with
// what each of its checks says, and one it takes.
var refusedMD = []struct {
	name string
	md   metadata.MD
	ok   bool
}{
	{"upper-case key", metadata.MD{"X-Id": {"v"}}, false},
	{"line break in value", metadata.MD{"x-id": {"a\nb"}}, false},
	{"empty key", metadata.MD{"": {"v"}}, false},
	{"binary value of a -bin key", metadata.MD{"x-id-bin": {"\x00\xff"}}, true},
}

// mdHandler's FullDuplexCall sets and sends its header and sets its
// trailer with md, reports the two header errors, and returns OK.
type mdHandler struct {
	testpb.UnimplementedTestServiceServer
	md   metadata.MD
	errs chan [2]error
}

func (h mdHandler) FullDuplexCall(st testpb.TestService_FullDuplexCallServer) error {
	h.errs <- [2]error{st.SetHeader(h.md), st.SendHeader(h.md)}
	st.SetTrailer(h.md)
	return nil
}

// ServerStream refuses a header gRPC refuses, with its code and words, and
// a trailer gRPC refuses ends Next as it ends a real client's Recv.
func TestServerStreamRefusedMetadataAsGRPCs(t *testing.T) {
	for _, tc := range refusedMD {
		t.Run(tc.name, func(t *testing.T) {
			h := mdHandler{md: tc.md, errs: make(chan [2]error, 1)}
			srv := grpctest.NewServer(t, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, h) })
			st, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if err := st.CloseSend(); err != nil {
				t.Fatal(err)
			}
			_, realEnd := st.Recv()
			realErrs := <-h.errs

			fs := fakes.NewServerStream[dupReq, dupRes](t.Context(), fakes.WithMethod(fullDuplex))
			fs.CloseSend()
			fs.End(h.FullDuplexCall(fs))
			fakeErrs := <-h.errs
			_, fakeEnd := fs.Next(t.Context())

			for i, name := range []string{"SetHeader", "SendHeader"} {
				sameStatus(t, name, realErrs[i], fakeErrs[i], tc.ok)
			}
			if tc.ok {
				if realEnd != io.EOF || fakeEnd != io.EOF {
					t.Errorf("end of the stream: real %v, fake %v; want io.EOF from both", realEnd, fakeEnd)
				}
				return
			}
			sameStatus(t, "the end of the stream", realEnd, fakeEnd, false)
			if !strings.Contains(fakeEnd.Error(), "SetTrailer") {
				t.Errorf("fake's end of the stream: %v; want it to name SetTrailer", fakeEnd)
			}
		})
	}
}

// sameStatus checks that real and fake are the same status, codes.Internal
// with the fake's message holding the real one's, or that both are nil if
// ok.
func sameStatus(t *testing.T, what string, real, fake error, ok bool) {
	t.Helper()
	if ok {
		if real != nil || fake != nil {
			t.Errorf("%s: real %v, fake %v; want no error from either", what, real, fake)
		}
		return
	}
	if status.Code(real) != codes.Internal || status.Code(fake) != codes.Internal {
		t.Errorf("%s: real %v, fake %v; want codes.Internal from both", what, real, fake)
		return
	}
	if rm := status.Convert(real).Message(); !strings.Contains(status.Convert(fake).Message(), rm) {
		t.Errorf("%s: fake %q does not hold grpc's words %q", what, status.Convert(fake).Message(), rm)
	}
}

// ClientStream's RespondHeader and RespondTrailer refuse what a grpc-go
// server cannot send, or its client would not take.
func TestClientStreamRefusesMetadataGRPCRefuses(t *testing.T) {
	for _, tc := range refusedMD {
		t.Run(tc.name, func(t *testing.T) {
			fs := fakes.NewClientStream[dupReq, dupRes](t.Context(), fakes.WithMethod(fullDuplex))
			errH, errT := fs.RespondHeader(tc.md), fs.RespondTrailer(tc.md)
			if tc.ok {
				if errH != nil || errT != nil {
					t.Fatalf("RespondHeader: %v; RespondTrailer: %v; want no error", errH, errT)
				}
				fs.Finish(nil)
				h, _ := fs.Header()
				wantMsgs(t, []string{"\x00\xff"}, h.Get("x-id-bin"))
				if _, err := fs.Recv(); err != io.EOF {
					t.Fatalf("Recv: %v, want io.EOF", err)
				}
				wantMsgs(t, []string{"\x00\xff"}, fs.Trailer().Get("x-id-bin"))
				return
			}
			for _, e := range []struct {
				name string
				err  error
				want string
			}{
				{"RespondHeader", errH, "cannot send it"},
				{"RespondTrailer", errT, "codes.Internal"},
			} {
				if e.err == nil || !strings.Contains(e.err.Error(), e.name+": ") || !strings.Contains(e.err.Error(), e.want) {
					t.Errorf("%s: %v; want an error naming it and saying %q", e.name, e.err, e.want)
				}
			}
			// The stream is usable still, without the refused metadata.
			if err := fs.RespondHeader(metadata.Pairs("k", "v")); err != nil {
				t.Fatalf("RespondHeader after a refused one: %v", err)
			}
		})
	}
}

// A script's SendHeader or SetTrailer with metadata gRPC refuses is a
// misuse reported at its line, not a call that fails or a trailer the
// client rejects.
func TestServerScriptRefusedMetadata(t *testing.T) {
	for _, step := range []string{"SendHeader", "SetTrailer"} {
		for _, tc := range refusedMD {
			t.Run(step+"/"+tc.name, func(t *testing.T) {
				spy := spytb.New(t)
				srv := fakes.NewServer(spy)
				sc := srv.Expect(unaryCall)
				if step == "SendHeader" {
					sc.SendHeader(tc.md)
				} else {
					sc.SetTrailer(tc.md)
				}
				sc.RecvAny().Send(&testpb.SimpleResponse{})
				var header, trailer metadata.MD
				_, err := testpb.NewTestServiceClient(srv.Conn()).UnaryCall(t.Context(), &testpb.SimpleRequest{}, grpc.Header(&header), grpc.Trailer(&trailer))
				if err != nil {
					t.Fatalf("UnaryCall: %v; want OK, the refused step dropped", err)
				}
				srv.Close()
				if tc.ok {
					spy.WantClean(t)
					got := map[string]metadata.MD{"SendHeader": header, "SetTrailer": trailer}[step]
					wantMsgs(t, []string{"\x00\xff"}, got.Get("x-id-bin"))
					return
				}
				spy.Want(t, 1, "step 1 "+step+": ", "which gRPC refuses")
			})
		}
	}
}

// A SendHeader step after a function of the script sent the header with
// grpc.SendHeader fails the call, and the report says why.
func TestServerScriptSendHeaderAfterFunctionSentIt(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(unaryCall).
		RecvFunc(func(ctx context.Context, _ *testpb.SimpleRequest) error {
			return grpc.SendHeader(ctx, metadata.Pairs("a", "b"))
		}).
		SendHeader(metadata.Pairs("c", "d")).
		Send(&testpb.SimpleResponse{})
	_, err := testpb.NewTestServiceClient(srv.Conn()).UnaryCall(t.Context(), &testpb.SimpleRequest{})
	wantCode(t, err, codes.FailedPrecondition)
	srv.Close()
	spy.Want(t, 1, "step 2 SendHeader at", "SendHeader called multiple times", "a function of the script sent the header before this step with grpc.SendHeader")
}
