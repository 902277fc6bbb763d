package recorder_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/recorder"
)

// trailerSignal is a client stats handler that closes got once the
// client has received a call's trailer (its status).
type trailerSignal struct{ got chan struct{} }

func (h trailerSignal) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (h trailerSignal) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (h trailerSignal) HandleConn(context.Context, stats.ConnStats) {}
func (h trailerSignal) HandleRPC(_ context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.InTrailer); ok {
		close(h.got)
	}
}

// A stream whose status (OK) has reached the client when the code cancels
// its context: gRPC's next Recv returns io.EOF, the call succeeded for the
// code, and its client End is OK, not Canceled. (The End was the
// context's, recorded before that Recv: 1 run in 4 under load, for a
// deadline passing between the last message and io.EOF.) A call canceled
// before its status arrives ends Canceled, as its Recv says; one whose
// code never reads again ends with its context's status, a moment later.
func TestClientEndIsWhatRecvReturnsAfterTheContextEnds(t *testing.T) {
	for _, tc := range []struct {
		name      string
		serverEnd bool // the server ends the call before the cancel
		recv      bool // the code calls Recv after the cancel
		want      codes.Code
	}{
		{"status arrived, then Recv", true, true, codes.OK},
		{"status arrived, no Recv", true, false, codes.Canceled},
		{"no status", false, true, codes.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := recorder.New()
			sig := trailerSignal{make(chan struct{})}
			p := newPair(t, bufnet, rec, rec, registerInterop, grpc.WithStatsHandler(sig))
			ctx, cancel := context.WithCancel(ctxT(t))
			defer cancel()
			st, err := testpb.NewTestServiceClient(p.conn).FullDuplexCall(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Send(&testpb.StreamingOutputCallRequest{ResponseParameters: []*testpb.ResponseParameters{{Size: 1}}}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Recv(); err != nil {
				t.Fatal(err)
			}
			if tc.serverEnd {
				if err := st.CloseSend(); err != nil {
					t.Fatal(err)
				}
				<-sig.got // the status is at the client, not yet read
			}
			cancel()
			if tc.serverEnd && tc.recv {
				// The behaviour under test: the context watch does not
				// record the End meanwhile (it used to, when it ran before
				// this goroutine's Recv), but leaves it to that Recv.
				wctx, wcancel := context.WithTimeout(ctxT(t), 25*time.Millisecond) // statusGrace is 50ms
				err := rec.Wait(wctx, clientEnded)
				wcancel()
				if err == nil {
					t.Errorf("a client End was recorded before the code's Recv\n%s", rec)
				}
			}
			want := tc.want
			if tc.recv {
				// Mostly tc.want; but gRPC hands its stats handler the
				// trailer a moment before the stream takes it as its
				// status, and a cancel in between wins (about 1 run in
				// 20 under -race): the End is what Recv returned.
				_, err := st.Recv()
				if want = status.Code(err); errors.Is(err, io.EOF) {
					want = codes.OK
				}
			}
			if err := rec.Wait(ctxT(t), allEnded); err != nil {
				t.Fatal(err)
			}
			e, _ := endOf(rec, recorder.Client)
			if status.Code(e.Err) != want {
				t.Errorf("client End %v, want %v (what Recv returned)\n%s", e.Err, want, rec)
			}
		})
	}
}

// clientEnded reports whether events hold a client End.
func clientEnded(events []recorder.Event) bool {
	_, ok := findEnd(events, recorder.Client)
	return ok
}

// lateStatusStream is a client stream below the recorder
// (WrapClientStream) whose RecvMsg returns err, whatever its context
// says: gRPC's, when a call's status reached the client before gRPC acted
// on the end of its context.
type lateStatusStream struct {
	ctx context.Context
	err error
}

func (s lateStatusStream) Header() (metadata.MD, error) { return nil, nil }
func (s lateStatusStream) Trailer() metadata.MD         { return nil }
func (s lateStatusStream) CloseSend() error             { return nil }
func (s lateStatusStream) Context() context.Context     { return s.ctx }
func (s lateStatusStream) SendMsg(any) error            { return nil }
func (s lateStatusStream) RecvMsg(any) error            { return s.err }

// An End recorded for the context is corrected by a RecvMsg that returns
// the call's status afterwards: the End says what the code got (OK for
// io.EOF), as contextEnded cannot always wait for that RecvMsg (the
// server may end as the context does). A RecvMsg that returns the
// context's error leaves the End as it is.
func TestClientEndOfTheContextTakesTheStatusRecvReturnsLater(t *testing.T) {
	for _, tc := range []struct {
		recvErr error
		want    codes.Code
	}{
		{io.EOF, codes.OK},
		{status.Error(codes.Aborted, "server said so"), codes.Aborted},
		{status.Error(codes.Canceled, context.Canceled.Error()), codes.Canceled},
	} {
		t.Run(tc.want.String(), func(t *testing.T) {
			rec := recorder.New()
			ctx, cancel := context.WithCancel(context.Background())
			cs := rec.WrapClientStream(lateStatusStream{ctx, tc.recvErr}, &grpc.StreamDesc{ServerStreams: true}, "/x.Y/Z")
			cancel()
			if err := rec.Wait(ctxT(t), clientEnded); err != nil {
				t.Fatal(err)
			}
			if e, _ := endOf(rec, recorder.Client); status.Code(e.Err) != codes.Canceled {
				t.Fatalf("client End %v before the RecvMsg, want Canceled", e.Err)
			}
			if err := cs.RecvMsg(&testpb.SimpleResponse{}); err != tc.recvErr {
				t.Fatalf("RecvMsg: %v, want %v", err, tc.recvErr)
			}
			e, _ := endOf(rec, recorder.Client)
			if status.Code(e.Err) != tc.want {
				t.Errorf("client End %v, want %v (what RecvMsg returned)\n%s", e.Err, tc.want, rec)
			}
			if c := rec.Calls()[0]; status.Code(c.Err()) != tc.want {
				t.Errorf("Call.Err() = %v, want %v", c.Err(), tc.want)
			}
		})
	}
}

// okAtOnce's FullDuplexCall returns OK at once: its status reaches the
// client while the client may still send.
type okAtOnce struct {
	testpb.UnimplementedTestServiceServer
}

func (okAtOnce) FullDuplexCall(testpb.TestService_FullDuplexCallServer) error { return nil }

// A Send that fails after the cancel returns after the End is recorded,
// unless the server had ended the call with its own status: the End then
// waits for the code's next Recv, which returns that status (io.EOF). A
// method with a retry policy gets no such wait (an attempt's status is
// not the call's): the End is recorded before the Send returns.
func TestSendAfterTheCancelOfACallTheServerEnded(t *testing.T) {
	for _, retry := range []bool{false, true} {
		t.Run(fmt.Sprint("retry policy: ", retry), func(t *testing.T) {
			rec := recorder.New()
			sig := trailerSignal{make(chan struct{})}
			dopts := []grpc.DialOption{grpc.WithStatsHandler(sig)}
			if retry {
				dopts = append(dopts, grpc.WithDefaultServiceConfig(`{"methodConfig":[{"name":[{"service":"grpc.testing.TestService"}],
					"retryPolicy":{"maxAttempts":2,"initialBackoff":"0.01s","maxBackoff":"0.01s","backoffMultiplier":1.0,"retryableStatusCodes":["UNAVAILABLE"]}}]}`))
			}
			p := newPair(t, bufnet, rec, rec, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, okAtOnce{}) }, dopts...)
			ctx, cancel := context.WithCancel(ctxT(t))
			defer cancel()
			st, err := testpb.NewTestServiceClient(p.conn).FullDuplexCall(ctx)
			if err != nil {
				t.Fatal(err)
			}
			<-sig.got // the status is at the client
			cancel()
			<-st.Context().Done()
			// gRPC's SendMsg may take a message or two before it notices
			// the end of the call (see recorder.Send).
			var err2 error
			for range 1000 {
				if err2 = st.Send(&testpb.StreamingOutputCallRequest{}); err2 != nil {
					break
				}
			}
			if err2 == nil {
				t.Fatal("Send after the cancel: no error in 1000 Sends")
			}
			_, ended := endOf(rec, recorder.Client)
			if ended != retry {
				t.Errorf("client End recorded when Send returned: %v, want %v\n%s", ended, retry, rec)
			}
			if _, err := st.Recv(); err != io.EOF && !retry {
				t.Fatalf("Recv: %v, want io.EOF (the server's OK)", err)
			}
			if err := rec.Wait(ctxT(t), allEnded); err != nil {
				t.Fatal(err)
			}
			if e, _ := endOf(rec, recorder.Client); !retry && e.Err != nil {
				t.Errorf("client End %v, want OK (what Recv returned)\n%s", e.Err, rec)
			}
		})
	}
}
