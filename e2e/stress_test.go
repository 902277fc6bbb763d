package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/streamtest/streamtest/examples"
	"github.com/streamtest/streamtest/examples/chatpb"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"
)

const (
	stressStreams     = 64
	stressFullMsgs    = 10_000
	stressReducedMsgs = 200
	talkMethod        = "/streamtest.examples.chat.v1.Chat/Talk"
)

// stressSize reads STREAMTEST_STRESS: "full" for 10,000 messages per
// stream (scripts/soak), a positive number for that many, unset for the
// reduced size that keeps go test -race ./... fast.
func stressSize(t *testing.T) int {
	t.Helper()
	switch v := os.Getenv("STREAMTEST_STRESS"); v {
	case "":
		return stressReducedMsgs
	case "full":
		return stressFullMsgs
	default:
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("STREAMTEST_STRESS=%q: want \"full\", a positive number of messages per stream, or unset", v)
		}
		return n
	}
}

// stressMsg is the i-th message (0-based) of stream id: the room names the
// stream and Text and Seq the index, so every echo says where it belongs.
// Talk echoes it with Seq set to its own count, which is i+1 again when
// the order is kept.
func stressMsg(id, i int) *chatpb.Message {
	return &chatpb.Message{Room: stressRoom(id), Text: strconv.Itoa(i), Seq: int64(i + 1)}
}

func stressRoom(id int) string { return fmt.Sprintf("stream-%02d", id) }

// TestStress runs 64 concurrent bidi streams through a recorded harness
// and checks that the recorder kept every message of every stream, in
// order, with the causal Seq invariant for each one, and that Close finds
// nothing left running.
func TestStress(t *testing.T) {
	msgs := stressSize(t)
	t.Logf("%d streams x %d messages each way", stressStreams, msgs)

	srv := grpctest.NewServer(t, examples.NewChatServer().Register)
	start := time.Now()
	for _, err := range runStress(stressContext(t), srv, stressStreams, msgs) {
		t.Error(err)
	}
	exchanged := time.Since(start)

	start = time.Now()
	srv.Close() // leak checks on, reported through t
	closed := time.Since(start)
	if t.Failed() {
		t.FailNow()
	}

	start = time.Now()
	checkStress(t, srv.Recorder(), stressStreams, msgs)
	t.Logf("exchange %v, Close %v, checking %d events %v",
		exchanged.Round(time.Millisecond), closed.Round(time.Millisecond), 4*stressStreams*msgs, time.Since(start).Round(time.Millisecond))
}

// stressContext bounds a stress exchange: a stream that hangs is canceled
// before the test binary's timeout (at 90% of the time left), so that its
// error says where it was instead of a timeout panic.
func stressContext(t *testing.T) context.Context {
	dl, ok := t.Deadline()
	if !ok {
		return t.Context()
	}
	ctx, cancel := context.WithDeadline(t.Context(), dl.Add(-time.Until(dl)/10))
	t.Cleanup(cancel)
	return ctx
}

// runStress runs streams concurrent Talk streams of msgs messages each on
// srv, bounded by ctx, and returns what went wrong, one error per failed
// stream.
func runStress(ctx context.Context, srv *grpctest.Server, streams, msgs int) []error {
	chat := chatpb.NewChatClient(srv.Conn())
	errs := make([]error, streams)
	var wg sync.WaitGroup
	for id := range streams {
		wg.Go(func() {
			if err := talkStress(ctx, chat, id, msgs); err != nil {
				errs[id] = fmt.Errorf("stream %d: %w", id, err)
			}
		})
	}
	wg.Wait()
	var out []error
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// talkStress sends msgs messages on one Talk stream while it receives the
// echoes on another goroutine, checking each echo as it arrives, then
// drains the stream to io.EOF.
func talkStress(ctx context.Context, chat chatpb.ChatClient, id, msgs int) error {
	stream, err := chat.Talk(ctx)
	if err != nil {
		return fmt.Errorf("Talk: %v", err)
	}
	sendErr := make(chan error, 1)
	go func() {
		for i := range msgs {
			if err := stream.Send(stressMsg(id, i)); err != nil {
				sendErr <- fmt.Errorf("Send %d: %v", i, err)
				return
			}
		}
		sendErr <- stream.CloseSend()
	}()
	var mismatch, recvErr error
	for i := 0; ; i++ {
		echo, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if i != msgs {
				recvErr = fmt.Errorf("io.EOF after %d echoes, want %d", i, msgs)
			}
			break
		}
		if err != nil {
			recvErr = fmt.Errorf("Recv %d: %v", i, err)
			break
		}
		if want := stressMsg(id, i); mismatch == nil && !proto.Equal(echo, want) {
			// Keep draining: the stream must still end cleanly.
			mismatch = fmt.Errorf("echo %d is %v, want %v", i, echo, want)
		}
	}
	return errors.Join(mismatch, recvErr, <-sendErr)
}

// checkStress checks the recording of a TestStress run: one Call per
// stream, with exactly its messages in order on both sides, each message's
// Send sequenced before its Recv, and both halves ended OK.
func checkStress(t testing.TB, rec *recorder.Recorder, streams, msgs int) {
	t.Helper()
	if n := rec.Dropped(); n != 0 {
		t.Errorf("recorder dropped %d events, want 0", n)
	}
	calls := rec.Calls()
	if len(calls) != streams {
		t.Errorf("recorded %d calls, want %d", len(calls), streams)
	}
	seen := make(map[string]bool)
	for _, c := range calls {
		room := "?"
		if reqs := c.Requests(); len(reqs) > 0 {
			if m, ok := reqs[0].(*chatpb.Message); ok {
				room = m.GetRoom()
			}
		}
		if seen[room] {
			t.Errorf("call %d: a second call of %s", c.ID(), room)
		}
		seen[room] = true
		checkStressCall(t, c, msgs)
	}
	for id := range streams {
		if !seen[stressRoom(id)] {
			t.Errorf("no recorded call of %s", stressRoom(id))
		}
	}
}

func checkStressCall(t testing.TB, c *recorder.Call, msgs int) {
	t.Helper()
	var id int
	if reqs := c.Requests(); len(reqs) > 0 {
		m, _ := reqs[0].(*chatpb.Message)
		if _, err := fmt.Sscanf(m.GetRoom(), "stream-%d", &id); err != nil {
			t.Errorf("call %d: first request %v names no stream", c.ID(), reqs[0])
			return
		}
	}
	name := fmt.Sprintf("call %d (%s)", c.ID(), stressRoom(id))
	if c.Method() != talkMethod {
		t.Errorf("%s: method %s, want %s", name, c.Method(), talkMethod)
	}
	if !c.Done() || c.Err() != nil {
		t.Errorf("%s: Done() = %v, Err() = %v; want an End with OK", name, c.Done(), c.Err())
	}

	// Nothing lost, nothing added, order kept: Requests and Responses are
	// exactly stressMsg(id, 0..msgs-1).
	for what, got := range map[string][]any{"requests": c.Requests(), "responses": c.Responses()} {
		if len(got) != msgs {
			t.Errorf("%s: %d %s, want %d", name, len(got), what, msgs)
			continue
		}
		for i, m := range got {
			if pm, ok := m.(proto.Message); !ok || !proto.Equal(pm, stressMsg(id, i)) {
				t.Errorf("%s: %s[%d] = %v, want %v (lost, reordered or corrupted)", name, what, i, m, stressMsg(id, i))
				break
			}
		}
	}

	checkCausal(t, name, c.Events(), msgs)
}

// checkCausal checks the events of one stress call: exactly one End per
// side, both OK, and for every message i the i-th Send of one side paired
// with the i-th Recv of the other: the same message, the Send with the
// smaller Seq.
func checkCausal(t testing.TB, name string, events []recorder.Event, msgs int) {
	t.Helper()
	var ends [2]int
	var msgEvents [2][2][]recorder.Event // [side][Send/Recv]
	for _, e := range events {
		switch e.Kind {
		case recorder.Send, recorder.Recv:
			if e.Err != nil {
				t.Errorf("%s: %s %s #%d failed: %v", name, e.Side, e.Kind, e.Seq, e.Err)
				continue
			}
			k := 0
			if e.Kind == recorder.Recv {
				k = 1
			}
			msgEvents[e.Side][k] = append(msgEvents[e.Side][k], e)
		case recorder.End:
			ends[e.Side]++
			if e.Err != nil {
				t.Errorf("%s: %s End with %v, want OK", name, e.Side, e.Err)
			}
		}
	}
	if ends != [2]int{1, 1} {
		t.Errorf("%s: %d client and %d server End events, want 1 each", name, ends[recorder.Client], ends[recorder.Server])
	}
	pair := func(dir string, sends, recvs []recorder.Event) {
		if len(sends) != msgs || len(recvs) != msgs {
			t.Errorf("%s: %s: %d Send and %d Recv events, want %d each", name, dir, len(sends), len(recvs), msgs)
			return
		}
		for i := range sends {
			s, r := sends[i], recvs[i]
			if s.Seq >= r.Seq {
				t.Errorf("%s: %s message %d: Send.Seq %d >= Recv.Seq %d, want Send before Recv", name, dir, i, s.Seq, r.Seq)
				return
			}
			sm, _ := s.Msg.(proto.Message)
			rm, _ := r.Msg.(proto.Message)
			if sm == nil || rm == nil || !proto.Equal(sm, rm) {
				t.Errorf("%s: %s message %d: sent %v, received %v", name, dir, i, s.Msg, r.Msg)
				return
			}
		}
	}
	pair("client->server", msgEvents[recorder.Client][0], msgEvents[recorder.Server][1])
	pair("server->client", msgEvents[recorder.Server][0], msgEvents[recorder.Client][1])
}

// lossyChat's Talk is a broken echo server: it drops the echo of message
// 5 of every stream.
type lossyChat struct{ chatpb.UnimplementedChatServer }

func (lossyChat) Talk(stream grpc.BidiStreamingServer[chatpb.Message, chatpb.Message]) error {
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if msg.GetText() == "5" {
			continue
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
}

// The stress checks must fire on a broken server, a recorder that drops
// events, and a recording whose order or content was tampered with.
func TestStressChecksFire(t *testing.T) {
	const streams, msgs = 4, 10

	t.Run("lost message", func(t *testing.T) {
		srv := grpctest.NewServer(t, func(s *grpc.Server) { chatpb.RegisterChatServer(s, lossyChat{}) })
		errs := runStress(t.Context(), srv, streams, msgs)
		if len(errs) != streams || !strings.Contains(errs[0].Error(), "echo 5 is") {
			t.Errorf("runStress against a lossy server: %v, want %d errors starting with echo 5", errs, streams)
		}
		srv.Close()
		spy := spytb.New(t)
		checkStress(spy, srv.Recorder(), streams, msgs)
		spy.Want(t, 2*streams, "responses", "9 responses, want 10")
		spy.Want(t, 2*streams, "server->client: 9 Send and 9 Recv events, want 10 each")
	})

	t.Run("dropped events", func(t *testing.T) {
		srv := grpctest.NewServer(t, examples.NewChatServer().Register, grpctest.WithRecorder(recorder.New(recorder.WithLimit(100))))
		if errs := runStress(t.Context(), srv, streams, msgs); len(errs) > 0 {
			t.Fatal(errs)
		}
		srv.Close()
		spy := spytb.New(t)
		checkStress(spy, srv.Recorder(), streams, msgs)
		spy.Want(t, -1, "recorder dropped")
	})

	t.Run("tampered recording", func(t *testing.T) {
		srv := grpctest.NewServer(t, examples.NewChatServer().Register)
		if errs := runStress(t.Context(), srv, streams, msgs); len(errs) > 0 {
			t.Fatal(errs)
		}
		srv.Close()
		calls := srv.Recorder().Calls()
		clean := spytb.New(t)
		checkStress(clean, srv.Recorder(), streams, msgs)
		clean.WantClean(t)

		// Index of the first client Send and of the first server Recv.
		events := calls[0].Events()
		first := func(side recorder.Side, kind recorder.Kind) int {
			for i, e := range events {
				if e.Side == side && e.Kind == kind {
					return i
				}
			}
			t.Fatalf("no %s %s in %v", side, kind, events)
			return -1
		}
		send, recv := first(recorder.Client, recorder.Send), first(recorder.Server, recorder.Recv)

		swapped := calls[0].Events()
		swapped[send].Seq, swapped[recv].Seq = swapped[recv].Seq, swapped[send].Seq
		spy := spytb.New(t)
		checkCausal(spy, "swapped", swapped, msgs)
		spy.Want(t, 1, "swapped: client->server message 0: Send.Seq", "want Send before Recv")

		changed := calls[0].Events()
		changed[recv].Msg = &chatpb.Message{Room: "elsewhere"}
		spy = spytb.New(t)
		checkCausal(spy, "changed", changed, msgs)
		spy.Want(t, 1, "changed: client->server message 0: sent", "elsewhere")
	})
}
