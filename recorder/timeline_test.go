package recorder_test

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/gofeaturespb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/streamtest/streamtest/recorder"
)

func TestTimelineRendering(t *testing.T) {
	events := []recorder.Event{
		{Seq: 1, CallID: 7, Method: "/chat.Chat/Talk", Side: recorder.Client, Kind: recorder.Begin, MD: metadata.Pairs("b", "2", "a", "1", "user-agent", "grpc-go/1.0")},
		{Seq: 2, CallID: 7, Method: "/chat.Chat/Talk", Side: recorder.Client, Kind: recorder.Send, Msg: &testpb.Payload{Body: []byte("hi")}},
		{Seq: 3, CallID: 7, Method: "/chat.Chat/Talk", Side: recorder.Server, Kind: recorder.Recv, Msg: &testpb.Payload{Body: []byte("hi")}, Elapsed: 1500 * time.Microsecond},
		{Seq: 4, CallID: 7, Method: "/chat.Chat/Talk", Side: recorder.Server, Kind: recorder.Send, Err: errors.New("boom")},
		{Seq: 5, CallID: 7, Method: "/chat.Chat/Talk", Side: recorder.Client, Kind: recorder.CloseSend},
		{Seq: 6, CallID: 7, Method: "/chat.Chat/Talk", Side: recorder.Client, Kind: recorder.Header, MD: metadata.Pairs("content-type", "application/grpc")},
		{Seq: 7, CallID: 7, Method: "/chat.Chat/Talk", Side: recorder.Server, Kind: recorder.End, Err: status.Error(codes.Aborted, "no")},
		{Seq: 8, CallID: 7, Method: "/chat.Chat/Talk", Side: recorder.Client, Kind: recorder.End},
	}
	want := `    1  call 7    client  begin      /chat.Chat/Talk  md{a:"1" b:"2"}
    2  call 7    client  send       /chat.Chat/Talk  {body:"hi"}
    3  call 7    server  recv       /chat.Chat/Talk  {body:"hi"}  (blocked 1.5ms)
    4  call 7    server  send       /chat.Chat/Talk  error: boom
    5  call 7    client  closesend  /chat.Chat/Talk
    6  call 7    client  header     /chat.Chat/Talk
    7  call 7    server  end        /chat.Chat/Talk  Aborted: "no"
    8  call 7    client  end        /chat.Chat/Talk  OK
`
	if got := recorder.Timeline(events); got != want {
		t.Errorf("Timeline mismatch\ngot:\n%s\nwant:\n%s", got, want)
	}
	if got := recorder.Timeline(nil); !strings.Contains(got, "no events") {
		t.Errorf("Timeline(nil) = %q, want a note that nothing was recorded", got)
	}
}

func TestFormatMessage(t *testing.T) {
	st, _ := structpb.NewStruct(map[string]any{"b": 2, "a": "x", "list": []any{true, nil}})
	long := strings.Repeat("x", 500)
	for _, tc := range []struct {
		in   any
		want string
	}{
		{nil, "<nil>"},
		{(*testpb.Payload)(nil), "<nil grpc.testing.Payload>"},
		{&testpb.Payload{}, "{}"},
		{&testpb.Payload{Type: testpb.PayloadType_COMPRESSABLE, Body: make([]byte, 17)}, "{body:<17 bytes>}"},
		{&testpb.Payload{Body: []byte("feature 17|a\tb\nc")}, `{body:"feature 17|a\tb\nc"}`},                                                                   // text: shown
		{&testpb.Payload{Body: []byte(strings.Repeat("ab", 32))}, `{body:"` + strings.Repeat("ab", 32) + `"}`},                                                 // 64 bytes of text
		{&testpb.Payload{Body: []byte(strings.Repeat("é", 40))}, `{body:"` + strings.Repeat("é", 32) + `"… <80 bytes>}`},                                       // cut between runes
		{&testpb.Payload{Body: []byte("feature 17|abcdef\x00")}, `{body:"feature 17|abcdef\x00"}`},                                                             // text with a stray NUL: quoted
		{&testpb.Payload{Body: []byte("feat\x00\x01\x02 17|abcdef")}, "{body:<17 bytes>}"},                                                                     // not text: 3 in 17 are not printable
		{&testpb.Payload{Body: []byte{0xff, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p'}}, `{body:"\xffabcdefghijklmnop"}`}, // one byte not UTF-8: escaped
		{&testpb.Payload{Body: []byte{0xff, 0xfe, 0xfd, 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q'}}, "{body:<17 bytes>}"},           // not UTF-8
		{&testpb.SimpleRequest{ResponseSize: 3, FillUsername: true}, "{response_size:3 fill_username:true}"},
		{st, `{fields:{"a":{string_value:"x"} "b":{number_value:2} "list":{list_value:{values:[{bool_value:true} {null_value:NULL_VALUE}]}}}}`},
		{42, "42"},
		{"two\nlines\r", `two\nlines\r`},
		{withExtension(), "{enum_type:OPEN [pb.go]:{legacy_unmarshal_json_enum:true}}"},
		{new(dynamicpb.Message), "<*dynamicpb.Message of no message type>"}, // not made by NewMessage
	} {
		if got := recorder.FormatMessage(tc.in); got != tc.want {
			t.Errorf("FormatMessage(%T) = %s, want %s", tc.in, got, tc.want)
		}
	}
	got := recorder.FormatMessage(&testpb.Payload{Body: []byte("x")})
	if got != `{body:"x"}` {
		t.Errorf("got %s", got)
	}
	if got := recorder.FormatMessage(long); len([]rune(got)) != 201 || !strings.HasSuffix(got, "…") {
		t.Errorf("long value not cut short: %d runes", len([]rune(got)))
	}
	// The cut never splits an escaped line break.
	if got := recorder.FormatMessage(long[:199] + "\nmore"); !strings.HasSuffix(got, `x\n…`) {
		t.Errorf("cut at a line break: ...%s", got[len(got)-10:])
	}
}

// goUser and goNote are a custom codec's messages: Go values of no proto
// type, with pointers inside.
type goUser struct {
	Name string
	Tags map[string]int
}

type goNote struct {
	To      *goUser
	Body    []byte
	Err     error
	Any     any
	Next    *goNote
	private *int
	notify  chan int
}

type shout string

func (s shout) String() string { return strings.ToUpper(string(s)) }

// Go values are rendered with their pointers followed: fmt's %v printed
// the address of a pointer inside a value, which differs from run to run.
func TestFormatMessageGoValues(t *testing.T) {
	seven := 7
	cyclic := &goNote{Body: []byte("loop")}
	cyclic.Next = cyclic
	for _, tc := range []struct {
		in   any
		want string
	}{
		{&goUser{Name: "ana"}, `&{Name:"ana" Tags:<nil>}`},
		{goUser{Name: "bo", Tags: map[string]int{"z": 1, "a": 2}}, `{Name:"bo" Tags:map["a":2 "z":1]}`},
		{&goNote{To: &goUser{Name: "ana"}, private: &seven, notify: make(chan int)},
			`&{To:&{Name:"ana" Tags:<nil>} Body:<nil> Err:<nil> Any:<nil> Next:<nil> private:&7 notify:<chan int>}`},
		{goNote{Body: make([]byte, 40), Err: errors.New("boom"), Any: &testpb.Payload{Body: []byte("x")}},
			`{To:<nil> Body:<40 bytes> Err:boom Any:{body:"x"} Next:<nil> private:<nil> notify:<nil>}`},
		{cyclic, `&{To:<nil> Body:"loop" Err:<nil> Any:<nil> Next:<cycle> private:<nil> notify:<nil>}`},
		{[]any{shout("hi"), map[int]bool{10: true, 9: false}, 1.5, nil}, `[HI map[9:false 10:true] 1.5 <nil>]`},
		{map[*goUser]int{{Name: "b"}: 1, {Name: "a"}: 2, {Name: "a", Tags: map[string]int{}}: 3, {Name: "a", Tags: nil}: 0},
			`map[&{Name:"a" Tags:<nil>}:0 &{Name:"a" Tags:<nil>}:2 &{Name:"a" Tags:map[]}:3 &{Name:"b" Tags:<nil>}:1]`},
		{"top-level string", "top-level string"},
		{map[float64]int{math.NaN(): 2, math.NaN(): 1, 1: 3}, "map[NaN:1 NaN:2 1:3]"},
		{struct{ P testpb.Payload }{P: testpb.Payload{Body: []byte("x")}}, `{P:{body:"x"}}`},
		{errors.New("an error\nof two lines"), `an error\nof two lines`},
	} {
		if got := recorder.FormatMessage(tc.in); got != tc.want {
			t.Errorf("FormatMessage(%T) =\n\t%s\nwant\n\t%s", tc.in, got, tc.want)
		}
		if got := recorder.FormatMessage(tc.in); strings.Contains(got, "0x") {
			t.Errorf("FormatMessage(%T) = %s: an address", tc.in, got)
		}
	}
	// A proto message held by value renders the same once the runtime has
	// cached its size.
	held := &struct{ P testpb.Payload }{P: testpb.Payload{Body: []byte("y")}}
	before := recorder.FormatMessage(held)
	proto.Size(&held.P)
	if after := recorder.FormatMessage(held); after != before || after != `&{P:{body:"y"}}` {
		t.Errorf("a message inside a Go value renders %s, then %s", before, after)
	}
	// Deeply nested values are cut.
	deep := &goNote{}
	for range 50 {
		deep = &goNote{Next: deep}
	}
	if got := recorder.FormatMessage(deep); !strings.Contains(got, "…") || strings.Count(got, "Next:") > 8 {
		t.Errorf("FormatMessage of 50 nested values = %s, want it cut after 8", got)
	}
}

// counted is a value whose String counts its calls.
type counted struct{ n *int }

func (c counted) String() string { *c.n++; return "leaf" }

// Nested and self-holding maps (a JSON document decoded into
// map[string]any, say) cost a bounded number of renderings: a map's
// entries are rendered to be sorted, and each level used to render the
// levels below it once per comparison.
func TestFormatMessageGoMapsAreBounded(t *testing.T) {
	calls := 0
	var nest func(depth int) any
	nest = func(depth int) any {
		if depth == 0 {
			return counted{&calls}
		}
		m := map[string]any{}
		for k := range 8 {
			m[fmt.Sprint("k", k)] = nest(depth - 1)
		}
		return m
	}
	got := recorder.FormatMessage(nest(5)) // 32,768 leaves
	if calls > 20_000 || !strings.HasSuffix(got, "…") {
		t.Errorf("FormatMessage of maps 5 deep, 8 keys each: %d leaf renderings (want at most 20,000), output %q", calls, got)
	}

	self := map[any]any{}
	for k := range 8 {
		self[fmt.Sprint("k", k)] = self
	}
	self[1.5] = counted{&calls}
	calls = 0
	if got := recorder.FormatMessage(self); !strings.Contains(got, "<cycle>") || calls > 10 {
		t.Errorf("FormatMessage of a map holding itself: %q, %d leaf renderings", got, calls)
	}
}

// A map too big for the budget renders the same every time: which of its
// entries find the budget spent does not follow the map's random order.
// (Its struct keys were rendered in that order, with the budget shared,
// and the entries after it ran out varied from call to call.)
func TestFormatMessageGoMapsAreDeterministic(t *testing.T) {
	type key struct{ A int }
	big := map[key]int{}
	for i := range 4000 {
		big[key{i}] = i
	}
	alike := map[*key]string{} // keys that render alike: ordered by value
	for i := range 3000 {
		alike[&key{i % 3}] = fmt.Sprint(i % 7)
	}
	// Keys alike whose values differ only past what their share of the
	// budget shows, and NaN keys likewise.
	long0, long1 := make([]int, 20), make([]int, 20)
	long1[19] = 1
	alikeLong := map[*key][]int{{1}: long0, {1}: long1}
	nans := map[float64][]int{math.NaN(): long0, math.NaN(): long1}
	for _, m := range []any{big, alike, alikeLong, nans} {
		first := recorder.FormatMessage(m)
		for range 10 {
			if got := recorder.FormatMessage(m); got != first {
				t.Fatalf("FormatMessage of a %T gave two renderings:\n%s\n%s", m, first, got)
			}
		}
	}
	if got := recorder.FormatMessage(big); !strings.HasPrefix(got, "map[{A:0}:0 {A:1000}:1000 {A:1001}:1001 {A:1002}:1002 ") { // by the keys' text
		t.Errorf("FormatMessage of a big map: %q", got)
	}
}

// A map whose entries cannot each get a visit of the budget is not
// walked, only counted: keys sharing one big map rendered it in full, each
// (4.9 s for 200 keys and an inner map of 20,000 entries).
func TestFormatMessageGoMapKeysShareTheBudget(t *testing.T) {
	calls := 0
	type holder struct{ M map[int]counted }
	inner := map[int]counted{}
	for i := range 20_000 {
		inner[i] = counted{&calls}
	}
	outer := map[*holder]int{}
	for i := range 200 {
		outer[&holder{M: inner}] = i
	}
	got := recorder.FormatMessage(outer)
	if calls > 20_000 || !strings.HasPrefix(got, "map[&{M:map[… 20000 entries]}:0 ") {
		t.Errorf("FormatMessage of 200 keys holding a map of 20,000 entries: %d leaf renderings (want at most 20,000), output %q", calls, got)
	}
	many := map[*holder]int{}
	for i := range 20_000 {
		many[&holder{}] = i
	}
	if got := recorder.FormatMessage(many); got != "map[… 20000 entries]" {
		t.Errorf("FormatMessage of 20,000 pointer keys: %q, want map[… 20000 entries]", got)
	}
}

// withExtension returns a message with a field and an extension set.
func withExtension() *descriptorpb.FeatureSet {
	fs := &descriptorpb.FeatureSet{EnumType: descriptorpb.FeatureSet_OPEN.Enum()}
	proto.SetExtension(fs, gofeaturespb.E_Go, &gofeaturespb.GoFeatures{LegacyUnmarshalJsonEnum: proto.Bool(true)})
	return fs
}

// Whatever the events hold, the timeline has one line per event: line
// breaks in values of no proto type are escaped, and of an error or a
// status message of several lines it shows the first, with a count of the
// others (a diff in a status is the report's to show).
func TestTimelineOneLinePerEvent(t *testing.T) {
	events := []recorder.Event{
		{Seq: 1, CallID: 1, Method: "/a.B/C", Kind: recorder.Send, Msg: "line1\nline2"},
		{Seq: 2, CallID: 1, Method: "/a.B/C", Kind: recorder.Recv, Err: errors.New("bad\r\nthing")},
		{Seq: 3, CallID: 1, Method: "/a.B/C", Kind: recorder.End, Err: status.Error(codes.Internal, "x\ny")},
		{Seq: 4, CallID: 1, Method: "/a.B/C", Kind: recorder.End, Err: errors.New("plain\nerror")},
	}
	blank := []recorder.Event{ // leading blank lines are skipped
		{Seq: 7, CallID: 1, Method: "/a.B/C", Kind: recorder.End, Err: status.Error(codes.Unavailable, "\n\nboom\nsecond\nthird\n")},
		{Seq: 8, CallID: 1, Method: "/a.B/C", Kind: recorder.Recv, Err: errors.New("\r\nfirst\r\nsecond")},
		{Seq: 9, CallID: 1, Method: "/a.B/C", Kind: recorder.Recv, Err: errors.New(" \t\nboom\nx")},
	}
	got := recorder.Timeline(events)
	if n := strings.Count(got, "\n"); n != len(events) {
		t.Errorf("%d events rendered in %d lines:\n%s", len(events), n, got)
	}
	long := strings.Repeat("y", 300)
	events = append(events,
		recorder.Event{Seq: 5, CallID: 1, Method: "/a.B/C", Kind: recorder.End, Err: status.Error(codes.FailedPrecondition, long)},
		recorder.Event{Seq: 6, CallID: 1, Method: "/a.B/C", Kind: recorder.Recv, Err: errors.New(long)})
	got = recorder.Timeline(events)
	for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n")[4:] {
		if strings.Contains(line, long[:201]) || !strings.Contains(line, long[:200]+"…") {
			t.Errorf("a long error is not cut short after 200 characters: %s", line)
		}
	}
	got += recorder.Timeline(blank)
	for _, want := range []string{`line1\nline2`, "error: bad (+1 line)\n", `Internal: "x" (+1 line)` + "\n", "plain (+1 line)\n",
		`Unavailable: "boom" (+2 lines)` + "\n", "error: first (+1 line)\n", "error: boom (+1 line)\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("timeline lacks %s:\n%s", want, got)
		}
	}
}

// Timeline's work grows with the number of events, not with its square:
// assertion failures print the whole timeline of a busy recorder. Measured
// in bytes allocated (deterministic), not in time: eight times the events
// must allocate about eight times the bytes, where a rendering that copies
// what it has written for every line allocates about sixty-four times.
func TestTimelineIsLinear(t *testing.T) {
	events := func(n int) []recorder.Event {
		ev := make([]recorder.Event, n)
		for i := range ev {
			ev[i] = recorder.Event{Seq: uint64(i + 1), CallID: 1, Method: "/grpc.testing.TestService/FullDuplexCall", Kind: recorder.Send, Msg: "x"}
		}
		return ev
	}
	allocated := func(ev []recorder.Event) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_ = recorder.Timeline(ev)
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	small, big := events(500), events(4000)
	allocated(small) // warm up fmt's caches
	a, b := allocated(small), allocated(big)
	if ratio := float64(b) / float64(a); ratio > 16 {
		t.Errorf("Timeline of 4000 events allocated %d bytes, of 500 events %d: %.0f times, want about 8 (linear)", b, a, ratio)
	}
}

func BenchmarkTimeline(b *testing.B) {
	ev := make([]recorder.Event, 4000)
	for i := range ev {
		ev[i] = recorder.Event{Seq: uint64(i + 1), CallID: 1, Method: "/grpc.testing.TestService/FullDuplexCall", Kind: recorder.Send, Msg: "x"}
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = recorder.Timeline(ev)
	}
}

// The timeline leaves out the metadata gRPC adds to every call, so a call
// that sets none shows none. If a gRPC upgrade adds a key to every call,
// this fails and names it.
func TestTimelineShowsNoMetadataOfACallThatSetsNone(t *testing.T) {
	for _, n := range []network{bufnet, tcp} {
		t.Run(n.String(), func(t *testing.T) {
			rec := recorder.New()
			p := newPair(t, n, rec, rec, registerEcho)
			ctx := ctxT(t)
			c := testpb.NewTestServiceClient(p.conn)
			if _, err := c.UnaryCall(ctx, &testpb.SimpleRequest{Payload: payload("u")}); err != nil {
				t.Fatal(err)
			}
			stream, err := c.FullDuplexCall(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.Send(&testpb.StreamingOutputCallRequest{Payload: payload("s")}); err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); err != nil {
				t.Fatal(err)
			}
			if err := stream.CloseSend(); err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); err != io.EOF {
				t.Fatalf("Recv after CloseSend: %v, want io.EOF", err)
			}
			if err := rec.Wait(ctx, allEnded); err != nil {
				t.Fatal(err)
			}
			wantNoMetadataShown(t, rec)
		})
	}
}

// wantNoMetadataShown fails if the timeline of rec, whose calls set no
// metadata, shows any.
func wantNoMetadataShown(t *testing.T, rec *recorder.Recorder) {
	t.Helper()
	for _, e := range rec.Events() {
		if line := recorder.Timeline([]recorder.Event{e}); strings.Contains(line, "md{") {
			keys := slices.Sorted(maps.Keys(e.MD))
			t.Errorf("the %s %s of a call that set no metadata shows some: gRPC adds to every call the keys %q.\n"+
				"If a gRPC upgrade added one, add it to transportKeys in recorder/timeline.go:\n%s", e.Side, e.Kind, keys, line)
		}
	}
}

func TestFormatMetadata(t *testing.T) {
	for _, tc := range []struct {
		md   metadata.MD
		want string
	}{
		{nil, ""},
		{metadata.Pairs("content-type", "application/grpc", "user-agent", "grpc-go/1.85.0", ":authority", "x", "grpc-accept-encoding", "gzip"), ""},
		{metadata.Pairs("b", "2", "a", "1", "content-type", "application/grpc"), `md{a:"1" b:"2"}`},
		{metadata.Pairs("k", "x", "k", "y z"), `md{k:["x" "y z"]}`},
		{metadata.Pairs("bin-bin", "\x00\x01"), `md{bin-bin:"\x00\x01"}`},
	} {
		if got := recorder.FormatMetadata(tc.md); got != tc.want {
			t.Errorf("FormatMetadata(%v) = %s, want %s", tc.md, got, tc.want)
		}
	}
}
