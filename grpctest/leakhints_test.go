package grpctest_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"
)

// failFirstAttempt's FullDuplexCall fails its first call with Unavailable
// after one request (having sent a response first if respond is set);
// later calls wait for the end of theirs.
type failFirstAttempt struct {
	testgrpc.UnimplementedTestServiceServer
	respond  bool
	attempts atomic.Int32
}

func (h *failFirstAttempt) FullDuplexCall(st testgrpc.TestService_FullDuplexCallServer) error {
	if h.attempts.Add(1) > 1 {
		<-st.Context().Done()
		return status.FromContextError(st.Context().Err()).Err()
	}
	if _, err := st.Recv(); err != nil {
		return err
	}
	if h.respond {
		if err := st.Send(&testgrpc.StreamingOutputCallResponse{}); err != nil {
			return err
		}
	}
	return status.Error(codes.Unavailable, "first attempt fails")
}

// retryConfig retries Unavailable, after backoff, in up to maxAttempts
// attempts.
func retryConfig(maxAttempts int, backoff string) grpc.DialOption {
	return grpc.WithDefaultServiceConfig(fmt.Sprintf(`{"methodConfig":[{"name":[{"service":"grpc.testing.TestService"}],
		"retryPolicy":{"maxAttempts":%d,"initialBackoff":%q,"maxBackoff":%q,"backoffMultiplier":1.0,"retryableStatusCodes":["UNAVAILABLE"]}}]}`, maxAttempts, backoff, backoff))
}

// A stream whose server ended its first attempt with a code the retry
// policy retries, before any response, is not one whose status a Recv
// would return: gRPC retries it at the client's next operation. The
// report said a Recv would return it (a Recv blocked on the new attempt);
// it now says so. Once the next attempt has begun (a Recv started it),
// the server has not ended the call: no note. An attempt that responded
// first is not retried: its status is what a Recv returns. (Nor is the
// last attempt the policy allows: TestRetriesCountsTheAttempts.)
func TestLeakCheckSaysARetryableEndMayBeRetried(t *testing.T) {
	for _, tc := range []struct {
		name        string
		maxAttempts int
		backoff     string
		respond     bool
		attempts    int // server Begins to wait for
		want        []string
		not         string
	}{
		{"in backoff", 4, "60s", false, 1, []string{"; the server ended attempt 1 with Unavailable (\"first attempt fails\") at event ",
			"before any response, and the method's retry policy retries that code, with attempts left: gRPC retries such a call when the client next reads or writes, unless the call is committed",
			"a Recv would then have started another attempt"}, "a Recv would have returned that status"},
		{"retried", 4, "0.01s", false, 2, nil, "server ended"},
		{"responded", 4, "0.01s", true, 1, []string{"; the server ended it with Unavailable (\"first attempt fails\") at event ", "a Recv would have returned that status"}, "retry policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			srv := grpctest.NewServer(spy, service(&failFirstAttempt{respond: tc.respond}), grpctest.WithDialOptions(retryConfig(tc.maxAttempts, tc.backoff)))
			st, err := client(srv).FullDuplexCall(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Send(&testgrpc.StreamingOutputCallRequest{}); err != nil {
				t.Fatal(err)
			}
			waitServerEnds(t, srv.Recorder(), 1)
			recvDone := make(chan struct{})
			if tc.attempts > 1 {
				go func() { // starts the retry, and returns once Close ends the call
					defer close(recvDone)
					st.Recv()
				}()
			} else {
				close(recvDone)
			}
			if err := srv.Recorder().Wait(t.Context(), func(evs []recorder.Event) bool {
				n := 0
				for _, e := range evs {
					if e.Side == recorder.Server && e.Kind == recorder.Begin {
						n++
					}
				}
				return n >= tc.attempts
			}); err != nil {
				t.Fatal(err)
			}
			spy.End()
			<-recvDone
			r := spy.Want(t, 1, append([]string{"client stream " + fullDuplex, "was never finished"}, tc.want...)...)
			if strings.Contains(r.Msg, tc.not) {
				t.Errorf("the report says %q:\n%s", tc.not, r.Msg)
			}
		})
	}
}

// readAll's FullDuplexCall reads requests until an error.
type readAll struct {
	testgrpc.UnimplementedTestServiceServer
}

func (readAll) FullDuplexCall(st testgrpc.TestService_FullDuplexCallServer) error {
	for {
		if _, err := st.Recv(); err != nil {
			return err
		}
	}
}

// A server half that ended Canceled while its client had not canceled:
// the connection went away (here: keepalive's MaxConnectionAge), and the
// client's Recv returns Unavailable, not Canceled as the report said.
func TestLeakCheckSaysACanceledServerHalfLostItsConnection(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, service(readAll{}), grpctest.WithServerOptions(grpc.KeepaliveParams(keepalive.ServerParameters{
		MaxConnectionAge: 30 * time.Millisecond, MaxConnectionAgeGrace: 10 * time.Millisecond})))
	// probe is a second such stream, read before Close to see what the
	// client gets.
	var st, probe testgrpc.TestService_FullDuplexCallClient
	for _, s := range []*testgrpc.TestService_FullDuplexCallClient{&st, &probe} {
		var err error
		if *s, err = client(srv).FullDuplexCall(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := (*s).Send(&testgrpc.StreamingOutputCallRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	waitServerEnds(t, srv.Recorder(), 2)
	if _, err := probe.Recv(); status.Code(err) == codes.Canceled || err == nil {
		t.Errorf("Recv: %v; the report says the client gets another code than the server half's Canceled", err)
	}
	spy.End()
	r := spy.Want(t, 1, "client stream "+fullDuplex, "was never finished",
		"; its server half ended Canceled (the first at event ", "while the client had not canceled: unless the handler returned Canceled itself, the connection went away",
		"(mostly Unavailable)")
	if strings.Contains(r.Msg, "would have returned that status") {
		t.Errorf("the report says a Recv would have returned Canceled:\n%s", r.Msg)
	}
}
