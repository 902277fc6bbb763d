package grpctest_test

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
)

// A handler that ignores its context past the close timeout and then
// panics, while Close waits for it after Stop: the panic is kept before
// the handler counts as ended, so Close reports it (it was lost in most
// runs when the interceptor's goroutine kept it after the handler's had
// ended).
type latePanicker struct {
	testgrpc.UnimplementedTestServiceServer
	started, gate chan struct{}
}

func (h latePanicker) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	close(h.started)
	<-h.gate // ignores its context past the close timeout
	panic("late panic")
}

func TestCloseReportsAPanicRaisedWhileItWaits(t *testing.T) {
	idleSelect := idleSelectLine(t)
	lost := 0
	const runs = 50
	for range runs {
		h := latePanicker{started: make(chan struct{}), gate: make(chan struct{})}
		spy := spytb.New(t)
		srv := grpctest.NewServer(spy, service(h), grpctest.WithCloseTimeout(20*time.Millisecond), grpctest.WithoutLeakCheck())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); client(srv).UnaryCall(ctx, &testgrpc.SimpleRequest{}) }()
		<-h.started
		cancel()
		<-done
		go func() { // release the handler once Close waits for it after Stop (the select on idleChan)
			buf := make([]byte, 1<<20)
			for {
				st := string(buf[:runtime.Stack(buf, true)])
				if strings.Contains(st, "grpctest/harness.go:"+idleSelect+" ") {
					break
				}
				runtime.Gosched()
			}
			close(h.gate)
		}()
		srv.Close()
		spy.End()
		if !strings.Contains(spy.Text(), "late panic") {
			lost++
			t.Log(spy.Text())
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d handler panics were not reported by Close", lost, runs)
	}
}

// idleSelectLine returns the line of harness.go where Close waits, after
// Stop, for the handlers (the select on idleChan), as a goroutine's stack
// shows it.
func idleSelectLine(t *testing.T) string {
	src, err := os.ReadFile("harness.go")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(src), "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) == "case <-s.idleChan():" && i > 0 && strings.TrimSpace(lines[i-1]) == "select {" {
			return strconv.Itoa(i) // lines[i-1] is line i
		}
	}
	t.Fatal("harness.go has no select on idleChan")
	return ""
}
