package recorder

import (
	"bytes"
	"testing"
	"time"

	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// FuzzStorage drives the storage and decoding path with random messages,
// random ring limits and random interleavings of sends (recorded as the
// stream wrappers record them: Seq and message at the call, pending until
// SendMsg returns), receives (marshaled straight into the store), pending
// sends finishing late or at once, snapshots taken while
// sends are pending, and resets. Every snapshot must give every kept
// message equal to what went in, in Seq order, with Dropped counting the
// rest.
func FuzzStorage(f *testing.F) {
	f.Add(uint8(0), []byte("\x01hello\x02world\x03\x00\x04"))
	f.Add(uint8(3), []byte("\x01a\x01bb\x01ccc\x01dddd\x02e\x03\x01"))
	f.Add(uint8(1), bytes.Repeat([]byte("\x02xyz"), 20))
	f.Add(uint8(200), append([]byte{0x01}, bytes.Repeat([]byte{0xff}, 5000)...))
	f.Add(uint8(2), []byte("\x01a\x05\x00\x01bb\x06cc\x05\x00\x03\x00\x05\x00"))
	f.Fuzz(func(t *testing.T, limit uint8, script []byte) {
		r := New(WithLimit(int(limit)))
		call := r.newCall("/fuzz.Svc/M")
		type kept struct {
			seq uint64
			msg proto.Message
		}
		var all []kept    // everything recorded since the last reset, in order
		var pending []int // indexes into all of sends not finished yet
		idx := map[int][2]uint64{}
		check := func(when string) {
			t.Helper()
			events := r.Events()
			want := all
			if limit > 0 && len(all) > int(limit) {
				want = all[len(all)-int(limit):]
			}
			if got, w := r.Dropped(), uint64(len(all)-len(want)); got != w {
				t.Fatalf("%s: Dropped() = %d, want %d", when, got, w)
			}
			if len(events) != len(want) {
				t.Fatalf("%s: kept %d events, want %d", when, len(events), len(want))
			}
			for i, e := range events {
				if e.Seq != want[i].seq {
					t.Fatalf("%s: event %d: Seq %d, want %d", when, i, e.Seq, want[i].seq)
				}
				if want[i].msg == nil {
					if e.Msg != nil {
						t.Fatalf("%s: event %d: unexpected message %v", when, i, e.Msg)
					}
					continue
				}
				m, ok := e.Msg.(proto.Message)
				if !ok || !proto.Equal(m, want[i].msg) {
					t.Fatalf("%s: event %d (seq %d): got %v, want %v", when, i, e.Seq, e.Msg, want[i].msg)
				}
				if m == want[i].msg {
					t.Fatalf("%s: event %d (seq %d): Events handed out the recorded message itself", when, i, e.Seq)
				}
			}
			_ = Timeline(events)
		}
		for len(script) > 0 {
			op := script[0] % 7
			script = script[1:]
			n := 0
			if len(script) > 0 {
				n = int(script[0])
				script = script[1:]
			}
			body := script[:min(n, len(script))]
			script = script[len(body):]
			switch op {
			case 0: // reset
				r.Reset()
				all, pending, idx = nil, nil, map[int][2]uint64{}
				continue
			case 1: // a send, left pending
				m := &testpb.Payload{Body: append([]byte(nil), body...)}
				i, seq := r.add(event{call: call, side: Client, kind: Send, at: r.now(), pending: true}.withMsg(m, nil))
				all = append(all, kept{seq, m})
				pending = append(pending, len(all)-1)
				idx[len(all)-1] = [2]uint64{i, seq}
			case 2: // a receive
				m := &testpb.SimpleRequest{ResponseSize: int32(n), Payload: &testpb.Payload{Body: append([]byte(nil), body...)}, FillUsername: n%2 == 0}
				_, seq := r.add(event{call: call, side: Client, kind: Recv, at: r.now()}.withMsg(m, nil))
				all = append(all, kept{seq, m})
			case 3: // finish the oldest pending send
				if len(pending) > 0 {
					k := pending[0]
					p := idx[k]
					r.finish(call, Send, p[0], p[1], time.Millisecond, nil)
					pending = pending[1:]
				}
			case 4: // an event without a message
				_, seq := r.add(event{call: call, side: Client, kind: Header, at: r.now(), md: metadata.Pairs("k", string(body))})
				all = append(all, kept{seq: seq})
			case 5: // a snapshot, pending sends and all
				check("mid-way")
			case 6: // a send that returns at once
				m := &testpb.Payload{Body: append([]byte(nil), body...)}
				i, seq := r.add(event{call: call, side: Server, kind: Send, at: r.now(), pending: true}.withMsg(m, nil))
				r.finish(call, Send, i, seq, 0, nil)
				all = append(all, kept{seq, m})
			}
		}
		check("at the end")
	})
}

// FuzzTimeline renders events built from arbitrary bytes (messages decoded
// from random wire data, random metadata and method names) and checks that
// rendering never panics, gives one line per event and bounds message text.
func FuzzTimeline(f *testing.F) {
	f.Add("/a.B/C", "key", "value", []byte("\x0a\x03abc"), int64(0))
	f.Add("", "", "", []byte{}, int64(-1))
	f.Add("/x\n.Y/Z", "k-bin", "\x00\xff", []byte("\x2a\x05\x0a\x03\x12\x01z"), int64(5e9))
	f.Fuzz(func(t *testing.T, method, key, value string, wireBytes []byte, elapsed int64) {
		var v structpb.Value
		_ = proto.Unmarshal(wireBytes, &v) // whatever decodes, including unknown fields
		var p testpb.SimpleRequest
		_ = proto.Unmarshal(wireBytes, &p)
		md := metadata.MD{}
		if key != "" {
			md[key] = []string{value}
		}
		events := []Event{
			{Seq: 1, Method: method, Kind: Begin, MD: md},
			{Seq: 2, Method: method, Kind: Send, Msg: &v, Elapsed: time.Duration(elapsed)},
			{Seq: 3, Method: method, Side: Server, Kind: Recv, Msg: &p},
			{Seq: 4, Method: method, Side: Server, Kind: Kind(elapsed % 11), Msg: string(wireBytes)},
			{Seq: 5, Method: method, Side: Side(elapsed % 3), Kind: End},
		}
		out := Timeline(events)
		if len(out) == 0 || out[len(out)-1] != '\n' {
			t.Fatalf("timeline does not end in a newline: %q", out)
		}
		for _, m := range []any{&v, &p, string(wireBytes)} {
			if s := FormatMessage(m); len([]rune(s)) > maxMsgLen+1 {
				t.Fatalf("FormatMessage gave %d runes, bound is %d", len([]rune(s)), maxMsgLen+1)
			}
		}
	})
}
