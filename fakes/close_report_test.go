package fakes_test

import (
	"testing"
	"time"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// A call still in its script when the test calls Close is ended by Close:
// the report says Close may have ended it, instead of only blaming the
// client, which never canceled. (The other report: the client stream was
// never finished, which Close also checks.)
func TestCallRunningAtCloseIsNotOnlyBlamedOnTheClient(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	srv.Expect(fullDuplex).Sleep(time.Hour).Send(res(1))
	if _, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(t.Context()); err != nil { // not canceled before Close
		t.Fatal(err)
	}
	if err := srv.Recorder().Wait(t.Context(), func(ev []recorder.Event) bool {
		for _, e := range ev {
			if e.Side == recorder.Server && e.Kind == recorder.Begin {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	spy.End()
	spy.Want(t, 2, "did not complete its script", "step 1 Sleep(1h0m0s)",
		"Close had begun when the call ended: Close, which ends every call still running, may have ended it")
}

// A script written after Close would never run, nor be checked: Expect,
// its steps and Times say so instead of passing in silence.
func TestScriptingAfterCloseIsReported(t *testing.T) {
	spy := spytb.New(t)
	srv := fakes.NewServer(spy)
	sc := srv.Expect(fullDuplex).Times(0) // no call: Close is clean
	srv.Close()
	spy.WantClean(t)

	sc.Send(res(1))
	spy.Want(t, 1, "Expect(\"/grpc.testing.TestService/FullDuplexCall\") at close_report_test.go:", "step 1 Send", "the fake server is closed")
	sc.Times(2)
	spy.Want(t, 2, "Times(2) after Close")
	srv.Expect(fullDuplex).Send(res(1)).Times(3) // reported once: the script is dropped
	spy.Want(t, 3, "Expect(\"/grpc.testing.TestService/FullDuplexCall\") after Close", "call Expect before Close")
	spy.End()
	spy.Want(t, 3)
}
