package grpctest_test

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/grpc/interop"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"
)

func TestAssertMessagesPassesOnEqualProtos(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	interop.DoClientStreaming(t.Context(), client(srv))
	got := srv.Recorder().Calls()[0].Requests()
	want := []any{
		&testgrpc.StreamingInputCallRequest{Payload: payload(27182)},
		&testgrpc.StreamingInputCallRequest{Payload: payload(8)},
		&testgrpc.StreamingInputCallRequest{Payload: payload(1828)},
		&testgrpc.StreamingInputCallRequest{Payload: payload(45904)},
	}
	if !grpctest.AssertMessages(spy, want, got) {
		t.Errorf("AssertMessages returned false")
	}
	if spy.Run(func() { grpctest.RequireMessages(spy, want, got) }).FailedNow {
		t.Errorf("RequireMessages called FailNow on equal messages")
	}
	spy.End()
	spy.WantClean(t)
}

func TestAssertMessagesReportsDiffAndTimeline(t *testing.T) {
	spy := spytb.New(t)
	srv := grpctest.NewServer(spy, interopService)
	interop.DoLargeUnaryCall(t.Context(), client(srv))
	got := srv.Recorder().Calls()[0].Responses()
	want := []any{&testgrpc.SimpleResponse{Payload: &testgrpc.Payload{Body: []byte("short")}}}
	if grpctest.AssertMessages(spy, want, got) {
		t.Errorf("AssertMessages returned true on different messages")
	}
	spy.Want(t, 1, "messages differ: want[0] and got[0]: mismatch (-want +got):", "-", "+", "recorded timeline:", unaryCall)
}

func TestRequireMessagesFailsNow(t *testing.T) {
	spy := spytb.New(t)
	if !spy.Run(func() { grpctest.RequireMessages(spy, []any{&testgrpc.Empty{}}, nil) }).FailedNow {
		t.Errorf("RequireMessages did not call FailNow")
	}
	spy.Want(t, 1, "mismatch (-want +got):")
}

func TestAssertMessagesWithOptions(t *testing.T) {
	spy := spytb.New(t)
	want := []any{&testgrpc.SimpleRequest{ResponseSize: 10, Payload: payload(1)}}
	got := []any{&testgrpc.SimpleRequest{ResponseSize: 20, Payload: payload(1)}}
	if grpctest.AssertMessages(spy, want, got) {
		t.Errorf("AssertMessages ignored a differing field")
	}
	spy.Want(t, 1, "mismatch (-want +got):", "response_size")

	spy = spytb.New(t)
	if !grpctest.AssertMessagesWith(spy, want, got, protocmp.IgnoreFields(&testgrpc.SimpleRequest{}, "response_size")) {
		t.Errorf("AssertMessagesWith did not apply its options")
	}
	if spy.Run(func() {
		grpctest.RequireMessagesWith(spy, []any{[]int{}}, []any{[]int(nil)}, cmpopts.EquateEmpty())
	}).FailedNow {
		t.Errorf("RequireMessagesWith called FailNow")
	}
	spy.WantClean(t)
}

// Values cmp cannot compare are a clear failure, not a panic.
func TestAssertMessagesCannotCompare(t *testing.T) {
	type opaque struct{ hidden int }
	spy := spytb.New(t)
	if grpctest.AssertMessages(spy, []any{opaque{1}}, []any{opaque{1}}) {
		t.Errorf("AssertMessages returned true")
	}
	spy.Want(t, 1, "cannot compare the messages", "unexported", "AssertMessagesWith")
}

// AssertMessages keeps a typed nil message (what a failed call returns)
// apart from an empty one, and says what the "@invalid" of its diff means.
func TestAssertMessagesTypedNilIsNotAnEmptyMessage(t *testing.T) {
	spy := spytb.New(t)
	if !grpctest.AssertMessages(spy, []any{(*testgrpc.Empty)(nil)}, []any{(*testgrpc.Empty)(nil)}) {
		t.Errorf("AssertMessages returned false on two nil messages")
	}
	spy.WantClean(t)
	if grpctest.AssertMessages(spy, []any{&testgrpc.Empty{}}, []any{(*testgrpc.Empty)(nil)}) {
		t.Errorf("AssertMessages took a nil message for an empty one")
	}
	spy.Want(t, 1, "mismatch (-want +got):", `"@invalid"`, "is a nil message, such as a failed call returns")
}

// Lists of different lengths: the failure says so first, and names the
// messages missing from got and the extra ones, before the diff.
func TestAssertMessagesReportsCountsAndMissingOrExtra(t *testing.T) {
	p := func(s string) any { return &testgrpc.Payload{Body: []byte(s)} }
	cases := []struct {
		name      string
		want, got []any
		parts     []string
	}{
		{"missing", []any{p("a"), p("b")}, []any{p("a")}, []string{
			"grpctest: messages differ: want 2 messages, got 1\nin want, not matched in order in got:\n  want[1] *grpc_testing.Payload{body:\"b\"}\nmismatch (-want +got):\n"}},
		{"extra", []any{p("a")}, []any{p("x"), p("a"), p("y")}, []string{
			"messages differ: want 1 message, got 3\nin got, not matched in order in want:\n  got[0] *grpc_testing.Payload{body:\"x\"}\n  got[2] *grpc_testing.Payload{body:\"y\"}\nmismatch (-want +got):\n"}},
		{"both", []any{p("a"), p("b")}, []any{p("c")}, []string{
			"want 2 messages, got 1\nin want, not matched in order in got:\n  want[0] *grpc_testing.Payload{body:\"a\"}\n  want[1] *grpc_testing.Payload{body:\"b\"}\nin got, not matched in order in want:\n  got[0] *grpc_testing.Payload{body:\"c\"}\n(matched in order, by equality; the diff below pairs messages by likeness: one listed on both sides may have changed or moved)\nmismatch"}},
		{"many", []any{p("1"), p("2"), p("3"), p("4"), p("5"), p("6"), p("7")}, nil, []string{
			"want 7 messages, got 0\nin want, not matched in order in got:\n  want[0]", "  want[4] *grpc_testing.Payload{body:\"5\"}\n  … and 2 more\nmismatch"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			if grpctest.AssertMessages(spy, tc.want, tc.got) {
				t.Errorf("AssertMessages returned true")
			}
			wantParts(t, spy.Want(t, 1).Msg, tc.parts...)
		})
	}

	// Messages of no proto type (a custom codec's): their values, not the
	// addresses of the pointers inside.
	type user struct{ Name string }
	type note struct {
		To   *user
		Tags map[string]int
	}
	spy := spytb.New(t)
	grpctest.AssertMessages(spy, []any{&note{To: &user{"ana"}}}, []any{&note{To: &user{"bo"}, Tags: map[string]int{"x": 1}}, &note{}})
	r := spy.Want(t, 1, "  got[0] *grpctest_test.note{To:&{Name:\"bo\"} Tags:map[\"x\":1]}\n  got[1] *grpctest_test.note{To:<nil> Tags:<nil>}\n")
	if strings.Contains(r.Msg, "0x") {
		t.Errorf("an address in the report:\n%s", r.Msg)
	}

	// Equal lengths: no count line.
	spy = spytb.New(t)
	grpctest.AssertMessages(spy, []any{p("a")}, []any{p("b")})
	spy.Want(t, 1, "grpctest: messages differ: want[0] and got[0]: mismatch (-want +got):")

	// The alignment compares with the options given.
	spy = spytb.New(t)
	want := []any{&testgrpc.SimpleRequest{ResponseSize: 10}}
	got := []any{&testgrpc.SimpleRequest{ResponseSize: 20, FillUsername: true}, &testgrpc.SimpleRequest{ResponseSize: 30}}
	grpctest.AssertMessagesWith(spy, want, got, protocmp.IgnoreFields(&testgrpc.SimpleRequest{}, "response_size"))
	wantParts(t, spy.Want(t, 1).Msg, "want 1 message, got 2\nin got, not matched in order in want:\n  got[0] *grpc_testing.SimpleRequest{response_size:20 fill_username:true}\nmismatch")
}

// A message lost from the middle of a long list is named, with and
// without options, and with messages that are not protos: the common head
// and tail are set aside before the quadratic alignment, which alone would
// be too costly at these lengths.
// Lists of the same length are diffed pair by pair: the equal pairs add
// nothing, messages in another order are named, short text in bytes shows
// as text, and at most five pairs are diffed.
func TestAssertMessagesDiffsOnlyThePairsThatDiffer(t *testing.T) {
	p := func(s string) any { return &testgrpc.Payload{Body: []byte(s)} }
	spy := spytb.New(t)
	if grpctest.AssertMessages(spy, []any{p("feature 1|a"), p("feature 2|b"), p("feature 3|c")}, []any{p("feature 1|a"), p("feature 3|c"), p("feature 2|b")}) {
		t.Fatal("AssertMessages passed messages in another order")
	}
	r := spy.Want(t, 1, "grpctest: messages differ: 2 of 3 messages differ (the others are equal)\n"+
		"in another order: want[1] is got[2], want[2] is got[1]\n"+
		"want[1] and got[1]: mismatch (-want +got):\n",
		`Inverse(text, string("feature 2|b"))`, `Inverse(text, string("feature 3|c"))`,
		"want[2] and got[2]: mismatch (-want +got):\n")
	if strings.Contains(r.Msg, "want[0]") || strings.Contains(r.Msg, "feature 1|a") {
		t.Errorf("the report shows the equal pair:\n%s", r.Msg)
	}

	// Bytes that are not text stay bytes.
	spy = spytb.New(t)
	grpctest.AssertMessages(spy, []any{p("\x00\x01")}, []any{p("\x00\x02")})
	if r := spy.Want(t, 1, "messages differ: want[0] and got[0]: mismatch (-want +got):", "0x01,", "0x02,"); strings.Contains(r.Msg, "text") {
		t.Errorf("bytes that are not text are shown as text:\n%s", r.Msg)
	}

	// Many differing pairs: five diffs, then a count.
	var want, got []any
	for i := range 8 {
		want = append(want, p(fmt.Sprint("w", i)))
		got = append(got, p(fmt.Sprint("g", i)))
	}
	spy = spytb.New(t)
	grpctest.AssertMessages(spy, want, got)
	r = spy.Want(t, 1, "all 8 messages differ\n", "want[4] and got[4]", "… and 3 more differing messages")
	if strings.Contains(r.Msg, "want[5]") || strings.Contains(r.Msg, "in another order") {
		t.Errorf("the report diffs more than five pairs, or finds an order that is not there:\n%s", r.Msg)
	}

	// A typed nil message is shown as one, not as an empty message, and
	// text in bytes is still compared as bytes: nil and empty differ.
	spy = spytb.New(t)
	grpctest.AssertMessages(spy, []any{nil, &testgrpc.Empty{}}, []any{(*testgrpc.Empty)(nil), &testgrpc.Empty{}})
	if r := spy.Want(t, 1, "want[0] and got[0]: mismatch (-want +got):\n- nil\n+ (*grpc_testing.Empty)(nil)"); strings.Contains(r.Msg, "@invalid") {
		t.Errorf("the report explains an @invalid it does not show:\n%s", r.Msg)
	}
	type raw struct{ Data []byte }
	spy = spytb.New(t)
	if grpctest.AssertMessages(spy, []any{raw{nil}}, []any{raw{[]byte{}}}) {
		t.Error("a nil []byte field equals an empty one")
	}
	spy.Want(t, 1, "want[0] and got[0]")

	// Options on the generated struct never apply to a proto: the failure
	// says so, and what to use.
	spy = spytb.New(t)
	grpctest.AssertMessagesWith(spy, []any{&testgrpc.SimpleResponse{OauthScope: "a"}}, []any{&testgrpc.SimpleResponse{OauthScope: "b"}},
		cmpopts.IgnoreFields(testgrpc.SimpleResponse{}, "OauthScope"))
	spy.Want(t, 1, "oauth_scope", "(cmpopts.IgnoreFields and cmpopts.IgnoreUnexported name the fields of Go structs", `use protocmp.IgnoreFields(&pb.M{}, "field_name")`)
	spy = spytb.New(t)
	grpctest.AssertMessagesWith(spy, []any{&testgrpc.SimpleResponse{OauthScope: "a"}}, []any{&testgrpc.SimpleResponse{OauthScope: "b"}}, cmpopts.EquateEmpty())
	if r := spy.Want(t, 1, "oauth_scope"); strings.Contains(r.Msg, "cmpopts.IgnoreFields") {
		t.Errorf("the note on struct options comes without one:\n%s", r.Msg)
	}

	// Not only protos: the note would be wrong, the options may be for the
	// other values.
	type event struct {
		Name string
		seen bool
	}
	spy = spytb.New(t)
	grpctest.AssertMessagesWith(spy, []any{&testgrpc.Empty{}, event{Name: "a", seen: true}}, []any{&testgrpc.Empty{}, event{Name: "b", seen: true}}, cmpopts.IgnoreUnexported(event{}))
	if r := spy.Want(t, 1, "want[1] and got[1]"); strings.Contains(r.Msg, "never apply") {
		t.Errorf("the note on struct options comes with values the options apply to:\n%s", r.Msg)
	}

	// Past the five pairs diffed, a pair cmp cannot compare is still found.
	want, got = nil, nil
	for i := range 6 {
		want = append(want, p(fmt.Sprint("w", i)))
		got = append(got, p(fmt.Sprint("g", i)))
	}
	want, got = append(want, event{Name: "x", seen: true}), append(got, event{Name: "x", seen: true})
	spy = spytb.New(t)
	grpctest.AssertMessages(spy, want, got)
	spy.Want(t, 1, "grpctest: cannot compare the messages", "cmpopts.IgnoreUnexported")

	// With cmp options, pairs equal under them are equal.
	spy = spytb.New(t)
	grpctest.AssertMessagesWith(spy,
		[]any{&testgrpc.SimpleRequest{ResponseSize: 1}, &testgrpc.SimpleRequest{ResponseSize: 2, FillUsername: true}},
		[]any{&testgrpc.SimpleRequest{ResponseSize: 9}, &testgrpc.SimpleRequest{ResponseSize: 9}},
		protocmp.IgnoreFields(&testgrpc.SimpleRequest{}, "response_size"))
	spy.Want(t, 1, "1 of 2 messages differs (the others are equal)\nwant[1] and got[1]: mismatch (-want +got):", "fill_username")
}

func TestAssertMessagesNamesALostMessageInALongList(t *testing.T) {
	const n = 300
	var want, got, wantText, gotText []any
	for i := range n {
		want = append(want, &testgrpc.SimpleResponse{Username: fmt.Sprint(i), ServerId: "a"})
		wantText = append(wantText, fmt.Sprint("message ", i))
		if i != 150 {
			got = append(got, &testgrpc.SimpleResponse{Username: fmt.Sprint(i), ServerId: "b"})
			gotText = append(gotText, fmt.Sprint("message ", i))
		}
	}
	for _, tc := range []struct {
		name      string
		want, got []any
		opts      []cmp.Option
	}{
		{"protos, with options", want, got, []cmp.Option{protocmp.IgnoreFields(&testgrpc.SimpleResponse{}, "server_id")}},
		{"not protos", wantText, gotText, nil},
	} {
		spy := spytb.New(t)
		if grpctest.AssertMessagesWith(spy, tc.want, tc.got, tc.opts...) {
			t.Fatalf("%s: AssertMessagesWith returned true", tc.name)
		}
		msg := spy.Want(t, 1).Msg
		wantParts(t, msg, fmt.Sprintf("want %d messages, got %d\nin want, not matched in order in got:\n  want[150] ", n, n-1))
		if strings.Contains(msg, "extra in got") {
			t.Errorf("%s: extra messages listed:\n%s", tc.name, msg[:min(len(msg), 600)])
		}
	}
}

// Long lists of proto messages (a stream's thousands of messages): a
// message received twice and the last one never, the lists of the same
// length, is named as such, not diffed pair by pair as off by one.
func TestAssertMessagesAlignsLongLists(t *testing.T) {
	for _, n := range []int{120, 5000} {
		var want, got []any
		for i := range n {
			want = append(want, &testgrpc.SimpleRequest{ResponseSize: int32(i)})
		}
		got = slices.Insert(slices.Clone(want[:n-1]), 11, any(&testgrpc.SimpleRequest{ResponseSize: 10}))
		spy := spytb.New(t)
		grpctest.AssertMessages(spy, want, got)
		spy.Want(t, 1, fmt.Sprintf("%d messages each, but not the same ones in order\n"+
			"in want, not matched in order in got:\n  want[%d] *grpc_testing.SimpleRequest{response_size:%d}\n"+
			"in got, not matched in order in want:\n  got[11] *grpc_testing.SimpleRequest{response_size:10}\n", n, n-1, n-1))

		// Lengths that differ: the extra message is named.
		spy = spytb.New(t)
		grpctest.AssertMessages(spy, want, slices.Insert(slices.Clone(want), n/2, any(&testgrpc.SimpleRequest{ResponseSize: -1})))
		spy.Want(t, 1, fmt.Sprintf("want %d messages, got %d\nin got, not matched in order in want:\n  got[%d] *grpc_testing.SimpleRequest{response_size:-1}\n", n, n+1, n/2))
	}
}

// Lists that differ only by lost messages, or only by added ones, are
// diffed as lists: the messages lost or added, and the equal ones around
// them, each as the timeline shows a message; runs of equal messages
// away from them are counted. (cmp's diff showed the equal messages as
// its Transform, "Inverse(protocmp.Transform, protocmp.Message{...})",
// and the others by their String method, an empty one as s"".)
func TestAssertMessagesDiffsListsThatOnlyGainOrLose(t *testing.T) {
	req := func(n int32) any { return &testgrpc.SimpleRequest{ResponseSize: n} }
	big := &testgrpc.SimpleRequest{ResponseSize: 123456, Payload: &testgrpc.Payload{Body: []byte(strings.Repeat("x", 300))}, FillUsername: true}
	bigDiffers := proto.Clone(big).(*testgrpc.SimpleRequest)
	bigDiffers.ResponseStatus = &testgrpc.EchoStatus{Code: 3, Message: "the part that differs"}
	var long []any
	for i := range 20 {
		long = append(long, req(int32(i)))
	}
	for _, tc := range []struct {
		name      string
		want, got []any
		diff      string
	}{
		{"added empty", []any{&testgrpc.SimpleRequest{}}, []any{&testgrpc.SimpleRequest{}, &testgrpc.SimpleRequest{}},
			"mismatch (-want +got):\n    want[0] = got[0] *grpc_testing.SimpleRequest{}\n  + got[1] *grpc_testing.SimpleRequest{}\n"},
		{"lost", []any{req(1), req(3), nil}, []any{req(1)},
			"mismatch (-want +got):\n    want[0] = got[0] *grpc_testing.SimpleRequest{response_size:1}\n  - want[1] *grpc_testing.SimpleRequest{response_size:3}\n  - want[2] nil\n"},
		{"long", long, slices.Insert(slices.Clone(long), 10, req(-1)),
			"mismatch (-want +got):\n    … 8 equal messages\n" +
				"    want[8] = got[8] *grpc_testing.SimpleRequest{response_size:8}\n" +
				"    want[9] = got[9] *grpc_testing.SimpleRequest{response_size:9}\n" +
				"  + got[10] *grpc_testing.SimpleRequest{response_size:-1}\n" +
				"    want[10] = got[11] *grpc_testing.SimpleRequest{response_size:10}\n" +
				"    want[11] = got[12] *grpc_testing.SimpleRequest{response_size:11}\n" +
				"    … 8 equal messages\n"},
		{"two apart", long[:10], slices.Insert(slices.Insert(slices.Clone(long[:10]), 2, req(-1)), 9, req(-2)),
			"  + got[2] *grpc_testing.SimpleRequest{response_size:-1}\n" +
				"    want[2] = got[3] *grpc_testing.SimpleRequest{response_size:2}\n" +
				"    want[3] = got[4] *grpc_testing.SimpleRequest{response_size:3}\n" +
				"    … 2 equal messages\n" +
				"    want[6] = got[7] *grpc_testing.SimpleRequest{response_size:6}\n" +
				"    want[7] = got[8] *grpc_testing.SimpleRequest{response_size:7}\n" +
				"  + got[9] *grpc_testing.SimpleRequest{response_size:-2}\n" +
				"    want[8] = got[10] *grpc_testing.SimpleRequest{response_size:8}\n" +
				"    want[9] = got[11] *grpc_testing.SimpleRequest{response_size:9}\n"},
		// A lost message is shown whole, not cut as the equal ones are.
		{"whole", []any{big, bigDiffers}, []any{big},
			"  - want[1] *grpc_testing.SimpleRequest{response_size:123456 payload:{body:\"" + strings.Repeat("x", 64) + "\"… <300 bytes>} fill_username:true response_status:{code:3 message:\"the part that differs\"}}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := spytb.New(t)
			if grpctest.AssertMessages(spy, tc.want, tc.got) {
				t.Error("AssertMessages returned true")
			}
			if r := spy.Want(t, 1, tc.diff); strings.Contains(r.Msg, "Inverse(") || strings.Contains(r.Msg, "\ts\"") {
				t.Errorf("cmp's rendering in the report:\n%s", r.Msg)
			}
		})
	}

}

// In long lists, messages that proto.Equal takes for equal but that
// encode differently (-0 and 0, unknown fields in another order) are not
// named lost or added, nor, with a tolerance option, messages equal under
// it: only the message really lost is.
func TestAssertMessagesAlignsEqualsOfAnotherEncoding(t *testing.T) {
	unknown := func(a, b protowire.Number) *structpb.Value {
		m := structpb.NewStringValue("u")
		var raw []byte
		for _, n := range []protowire.Number{a, b} {
			raw = protowire.AppendTag(raw, n, protowire.VarintType)
			raw = protowire.AppendVarint(raw, 1)
		}
		m.ProtoReflect().SetUnknown(raw)
		return m
	}
	for _, tc := range []struct {
		name string
		w, g *structpb.Value
		opts []cmp.Option
	}{
		{"-0", structpb.NewNumberValue(0), structpb.NewNumberValue(math.Copysign(0, -1)), nil},
		{"unknown fields in another order", unknown(100, 101), unknown(101, 100), nil},
		{"approximately equal", structpb.NewNumberValue(1.0), structpb.NewNumberValue(1.0 + 1e-9), []cmp.Option{cmpopts.EquateApprox(0, 1e-6)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want, got []any
			for i := range 300 {
				want = append(want, structpb.NewNumberValue(float64(i+10)))
			}
			// want[0] and want[200] are lost, a message is added at the
			// end (so that the lists differ at both ends, and are aligned
			// whole), and want[100] and got[99] are equal, encoded
			// otherwise.
			want[100] = tc.w
			got = slices.Concat(want[1:100], []any{tc.g}, want[101:200], want[201:], []any{structpb.NewStringValue("added")})
			spy := spytb.New(t)
			grpctest.AssertMessagesWith(spy, want, got, tc.opts...)
			named := "want 300 messages, got 299\nin want, not matched in order in got:\n  want[0] *structpb.Value{number_value:10}\n  want[200] *structpb.Value{number_value:210}\n" +
				"in got, not matched in order in want:\n  got[298] *structpb.Value{string_value:\"added\"}\n"
			if tc.opts != nil {
				// With options each comparison is a cmp walk: lists this
				// long are past the comparisons allowed, and the report
				// gives the counts only.
				named = "want 300 messages, got 299\nmismatch (-want +got):"
			}
			r := spy.Want(t, 1, named)
			if strings.Contains(r.Msg, "[100]") || strings.Contains(r.Msg, "[99]") {
				t.Errorf("equal messages named as not matched:\n%s", r.Msg[:strings.Index(r.Msg, "mismatch")])
			}
		})
	}
}

// Alternating messages shifted by one (the first lost, one added at the
// end) read as the shift they are, not as swaps of neighbours.
func TestAssertMessagesNamesAShiftOfAlternatingMessages(t *testing.T) {
	ping := &testgrpc.SimpleRequest{FillUsername: true}
	data := &testgrpc.SimpleRequest{ResponseSize: 1}
	want := []any{ping, data, ping, data, ping, data}
	got := []any{data, ping, data, ping, data, ping}
	spy := spytb.New(t)
	grpctest.AssertMessages(spy, want, got)
	r := spy.Want(t, 1, "6 messages each, but not the same ones in order\nin want, not matched in order in got:\n  want[0] ",
		"in got, not matched in order in want:\n  got[5] ")
	if strings.Contains(r.Msg, "in another order") {
		t.Errorf("a shift reported as swaps:\n%s", r.Msg)
	}
}

// Large bytes fields that are equal are shown as equal, also when the
// same slice was compared with a different one before: the note of where
// two values differ belongs to that pair only.
func TestLargeBytesDifferenceNotesBelongToTheirPair(t *testing.T) {
	body := bytes.Repeat([]byte("a"), 2000)
	big := &testgrpc.Payload{Body: body}
	corrupt := bytes.Clone(body)
	corrupt[1500] = 'X'
	spy := spytb.New(t)
	grpctest.AssertMessages(spy, []any{big, big}, []any{&testgrpc.Payload{Body: bytes.Clone(body)}, &testgrpc.Payload{Body: corrupt}})
	msg := spy.Want(t, 1).Msg
	if n := strings.Count(msg, "first difference at byte 1500"); n != 2 {
		t.Errorf("%d notes of the difference, want 2 (the differing pair's two values):\n%s", n, msg)
	}
}

// wantParts checks that msg contains every one of parts, ignoring spaces:
// prototext's spacing varies by build on purpose.
func wantParts(t *testing.T, msg string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(strings.ReplaceAll(msg, " ", ""), strings.ReplaceAll(p, " ", "")) {
			t.Errorf("the report does not contain %q:\n%s", p, msg)
		}
	}
}

// Large bytes fields are shown as a summary; when they differ, it gives
// the offset of the first differing byte and the bytes around it.
func TestAssertMessagesShowsWhereLargeBytesDiffer(t *testing.T) {
	a, b := make([]byte, 4096), make([]byte, 4096)
	b[4000] = 1
	spy := spytb.New(t)
	if grpctest.AssertMessages(spy, []any{&testgrpc.Payload{Body: a}}, []any{&testgrpc.Payload{Body: b}}) {
		t.Fatalf("AssertMessages returned true")
	}
	msg := spy.Want(t, 1, "4096 bytes, sha256 ").Msg
	wantParts(t, msg,
		`first difference at byte 4000: [3992:4008] "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"`,
		`first difference at byte 4000: [3992:4008] "\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00"`)

	// One a prefix of the other: the difference is where the shorter ends.
	long := []byte(strings.Repeat("abcd", 500))
	spy = spytb.New(t)
	grpctest.AssertMessages(spy, []any{&testgrpc.Payload{Body: long}}, []any{&testgrpc.Payload{Body: long[:1500]}})
	wantParts(t, spy.Want(t, 1).Msg,
		`2000 bytes, sha256`, `first difference at byte 1500: [1492:1508] "abcdabcdabcdabcd"`,
		`1500 bytes, sha256`, `first difference at byte 1500: [1492:1500] "abcdabcd"`)
}

func TestMsgs(t *testing.T) {
	if got := grpctest.Msgs([]*testgrpc.Payload(nil)); got != nil {
		t.Errorf("Msgs(nil) = %#v, want nil", got)
	}
	if got := grpctest.Msgs([]*testgrpc.Payload{}); got == nil || len(got) != 0 {
		t.Errorf("Msgs(empty) = %#v, want an empty, non-nil slice", got)
	}
	ps := []*testgrpc.Payload{{Body: []byte("a")}, nil}
	got := grpctest.Msgs(ps)
	if len(got) != 2 || got[0] != any(ps[0]) || got[1] != any((*testgrpc.Payload)(nil)) {
		t.Errorf("Msgs(%v) = %#v", ps, got)
	}
	spy := spytb.New(t)
	if !grpctest.AssertMessages(spy, []any{&testgrpc.Payload{Body: []byte("a")}, (*testgrpc.Payload)(nil)}, got) {
		t.Errorf("AssertMessages returned false on Msgs of the same messages")
	}
	spy.WantClean(t)
}

// The count note lists by equality only and does not pair messages: cmp's
// diff pairs them by likeness, here want[1] with got[0], and a note that
// paired want[0] with got[0] (in order) named the wrong message as lost.
func TestCountNoteDoesNotContradictTheDiff(t *testing.T) {
	pl := func(s string) any { return &testgrpc.Payload{Body: []byte(s)} }
	spy := spytb.New(t)
	grpctest.AssertMessages(spy, []any{pl("lost message"), pl("order 42 shipped to Paris")}, []any{pl("order 42 shipped to Pariz")})
	spy.End()
	spy.Want(t, 1, "in want, not matched in order in got:\n  want[0] *grpc_testing.Payload{body:\"lost message\"}\n  want[1] ",
		"in got, not matched in order in want:\n  got[0] ", "pairs messages by likeness")
}

// A message that only moved is listed as not matched in order, which is
// what the alignment can say; "no equal message" would be false.
func TestCountNoteOfAMovedMessage(t *testing.T) {
	a := &testgrpc.SimpleRequest{ResponseSize: 1}
	b := &testgrpc.SimpleRequest{ResponseSize: 2}
	c := &testgrpc.SimpleRequest{ResponseSize: 3}
	spy := spytb.New(t)
	grpctest.AssertMessages(spy, []any{a, b}, []any{b, a, c})
	spy.End()
	r := spy.Want(t, 1, "want 2 messages, got 3\nin want, not matched in order in got:\n  want[0] ", "may have changed or moved")
	if strings.Contains(r.Msg, "no equal") {
		t.Errorf("the note says a message has no equal, but both lists hold it:\n%s", r.Msg)
	}
}

// Lists of the same length where one message came twice and another never
// (a resume that replays one message too many): every pair after the
// duplicate differs, but the report names the two messages, as for lists
// of different lengths, instead of diffing shifted pairs and calling them
// "in another order". A message that only changed in place, and messages
// that only swapped places, are still reported pair by pair.
func TestAssertMessagesNamesADuplicateAndALossInListsOfTheSameLength(t *testing.T) {
	m := func(i int) any { return &testgrpc.SimpleRequest{ResponseSize: int32(i)} }
	var want, got []any
	for i := range 5 {
		want = append(want, m(i))
	}
	for _, i := range []int{0, 1, 1, 2, 3} {
		got = append(got, m(i))
	}
	spy := spytb.New(t)
	if grpctest.AssertMessages(spy, want, got) {
		t.Fatal("AssertMessages passed a duplicate and a loss")
	}
	r := spy.Want(t, 1, "grpctest: messages differ: 5 messages each, but not the same ones in order\n"+
		"in want, not matched in order in got:\n  want[4] *grpc_testing.SimpleRequest{response_size:4}\n"+
		"in got, not matched in order in want:\n  got[2] *grpc_testing.SimpleRequest{response_size:1}\n",
		"mismatch (-want +got):\n")
	if strings.Contains(r.Msg, "in another order") || strings.Contains(r.Msg, "want[3] and got[3]") {
		t.Errorf("the report diffs shifted pairs:\n%s", r.Msg)
	}

	for _, tc := range []struct {
		name      string
		got       []any
		want, not string
	}{
		{"changed in place", []any{m(0), m(1), m(7), m(3), m(4)}, "1 of 5 messages differs", "not the same ones in order"},
		{"swapped", []any{m(0), m(2), m(1), m(3), m(4)}, "in another order: want[1] is got[2], want[2] is got[1]", "not the same ones in order"},
		{"swapped and changed", []any{m(0), m(2), m(1), m(3), m(9)}, "in another order: want[1] is got[2], want[2] is got[1]", "not the same ones in order"},
	} {
		spy := spytb.New(t)
		grpctest.AssertMessages(spy, want, tc.got)
		if r := spy.Want(t, 1, tc.want); strings.Contains(r.Msg, tc.not) {
			t.Errorf("%s: the report lists the messages instead of diffing the pairs:\n%s", tc.name, r.Msg)
		}
	}
}

// A typed nil message that the lists report as lost is shown as one, not
// as an empty message.
func TestAssertMessagesListsALostTypedNilAsOne(t *testing.T) {
	m := func(i int) any { return &testgrpc.SimpleRequest{ResponseSize: int32(i)} }
	for _, got := range [][]any{{m(0), m(1), m(1), m(2)}, {m(0), m(1), m(2)}} {
		spy := spytb.New(t)
		grpctest.AssertMessages(spy, []any{m(0), m(1), m(2), (*testgrpc.SimpleRequest)(nil)}, got)
		spy.Want(t, 1, "in want, not matched in order in got:\n  want[3] (*grpc_testing.SimpleRequest)(nil)\n")
	}
}

// Harnesses that share a recorder print its timeline once.
func TestFailureShowsASharedTimelineOnce(t *testing.T) {
	spy := spytb.New(t)
	rec := recorder.New()
	grpctest.NewServer(spy, interopService, grpctest.WithRecorder(rec))
	srv := grpctest.NewServer(spy, interopService, grpctest.WithRecorder(rec))
	if _, err := client(srv).EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
		t.Fatal(err)
	}
	grpctest.AssertMessages(spy, []any{&testgrpc.Empty{}}, nil)
	r := spy.Want(t, 1, "recorded timeline:", "EmptyCall")
	if n := strings.Count(r.Msg, "recorded timeline:"); n != 1 {
		t.Errorf("the shared recorder's timeline is shown %d times, want once:\n%s", n, r.Msg)
	}
	spy.End()
}

// A subtest that uses its parent's harness gets that harness's timeline in
// its failures.
func TestSubtestFailureShowsTheParentsTimeline(t *testing.T) {
	srv := grpctest.NewServer(t, interopService)
	if _, err := client(srv).EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
		t.Fatal(err)
	}
	t.Run("sub", func(t *testing.T) {
		spy := spytb.New(t)
		grpctest.AssertMessages(spy, []any{&testgrpc.Empty{}}, nil)
		spy.Want(t, 1, "recorded timeline:", "EmptyCall")
	})
	// With harnesses at two levels above, the nearest one's.
	t.Run("other", func(t *testing.T) {
		grpctest.NewServer(t, interopService) // no calls
		t.Run("x", func(t *testing.T) {
			spy := spytb.New(t)
			grpctest.AssertMessages(spy, []any{&testgrpc.Empty{}}, nil)
			r := spy.Want(t, 1, "recorded timeline:\n  (no events recorded)")
			if strings.Count(r.Msg, "recorded timeline:") != 1 {
				t.Errorf("want the nearest harness's timeline only:\n%s", r.Msg)
			}
		})
	})
}

// A subtest with a harness of its own, asserting through a wrapper of its
// t, gets its own harness's timeline, not its parent's.
func TestWrappedSubtestShowsItsOwnTimeline(t *testing.T) {
	parent := grpctest.NewServer(t, interopService)
	if _, err := client(parent).UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	t.Run("sub", func(t *testing.T) {
		own := grpctest.NewServer(t, interopService)
		if _, err := client(own).EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
			t.Fatal(err)
		}
		spy := spytb.New(t) // another testing.TB than the harness's
		grpctest.AssertMessages(spy, []any{&testgrpc.Empty{}}, nil)
		r := spy.Want(t, 1, "recorded timeline:", "EmptyCall")
		if strings.Contains(r.Msg, "UnaryCall") {
			t.Errorf("the subtest's failure shows its parent's harness, though it has its own:\n%s", r.Msg)
		}
	})
}

// A whole-list diff of two lists cmp cannot align (a reversed list, one
// message in three lost) is cut after 200 lines, with a count of the rest:
// cmp printed every element (14,668 lines for 4,000 messages).
func TestAssertMessagesCutsALongDiff(t *testing.T) {
	const n = 1000
	var want, got []any
	for i := range n {
		want = append(want, &testgrpc.Payload{Body: []byte(fmt.Sprint(i))})
		if i%3 != 0 {
			got = append(got, &testgrpc.Payload{Body: []byte(fmt.Sprint(n - i))})
		}
	}
	spy := spytb.New(t)
	if grpctest.AssertMessages(spy, want, got) {
		t.Fatal("AssertMessages returned true")
	}
	r := spy.Want(t, 1, "want 1000 messages, got 666", "mismatch (-want +got):", "more lines of the diff")
	if lines := strings.Count(r.Msg, "\n"); lines > 260 {
		t.Errorf("the report has %d lines, want at most 260 (a diff of 200 and the rest):\n%s", lines, r.Msg)
	}
}
