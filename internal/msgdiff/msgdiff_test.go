package msgdiff_test

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/msgdiff"
)

func TestMain(m *testing.M) { grpctest.VerifyTestMain(m) }

func payload(n int) *testpb.Payload { return &testpb.Payload{Body: make([]byte, n)} }

func TestDiff(t *testing.T) {
	big, other := payload(4096), payload(4096)
	other.Body[3000] = 7
	for _, tc := range []struct {
		name      string
		want, got any
		opts      []cmp.Option
		diff      []string // parts of the diff; none: equal
	}{
		{name: "equal", want: payload(3), got: payload(3)},
		{name: "small bytes, byte by byte", want: payload(3), got: &testpb.Payload{Body: []byte{0, 1, 0}}, diff: []string{"body"}},
		{name: "large bytes, a summary", want: big, got: other, diff: []string{"4096 bytes", "first difference at byte 3000"}},
		{name: "NaN equals NaN", want: wrapperspb.Double(math.NaN()), got: wrapperspb.Double(math.NaN())},
		{name: "a caller's []byte option wins over the summary", want: big, got: other,
			opts: []cmp.Option{cmp.Comparer(func(a, b []byte) bool { return len(a) == len(b) })}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := msgdiff.Diff(tc.want, tc.got, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(tc.diff) == 0 && d != "" {
				t.Errorf("diff of equal messages:\n%s", d)
			}
			for _, part := range tc.diff {
				if !strings.Contains(d, part) {
					t.Errorf("diff lacks %q:\n%s", part, d)
				}
			}
			if eq := msgdiff.Equal(tc.want, tc.got, tc.opts); eq != (len(tc.diff) == 0) {
				t.Errorf("Equal = %v, but the diff is %q", eq, d)
			}
		})
	}
}

// Values cmp cannot compare (unexported fields) give an error, not a
// panic, and are not equal.
func TestDiffOfValuesCmpCannotCompare(t *testing.T) {
	type hidden struct{ x int }
	if _, err := msgdiff.Diff(hidden{1}, hidden{1}, nil); err == nil || !strings.Contains(err.Error(), "unexported") {
		t.Errorf("Diff error = %v, want one about unexported fields", err)
	}
	if msgdiff.Equal(hidden{1}, hidden{1}, nil) {
		t.Error("Equal = true for values cmp cannot compare")
	}
}

// anyOfStruct packs a Struct whose map entries are marshaled in the order
// of keys (a map's wire order is the packer's choice): the same Struct in
// different bytes.
func anyOfStruct(t *testing.T, keys ...string) *anypb.Any {
	t.Helper()
	var value []byte
	for _, k := range keys {
		b, err := proto.Marshal(&structpb.Struct{Fields: map[string]*structpb.Value{k: structpb.NewStringValue(k)}})
		if err != nil {
			t.Fatal(err)
		}
		value = append(value, b...) // entries of a map field concatenate
	}
	return &anypb.Any{TypeUrl: "type.googleapis.com/google.protobuf.Struct", Value: value}
}

// Same agrees with the diff on an Any whose packed bytes differ but whose
// contents do not: proto.Equal alone says they differ.
func TestSameUnpacksAny(t *testing.T) {
	ab, ba, ac := anyOfStruct(t, "a", "b"), anyOfStruct(t, "b", "a"), anyOfStruct(t, "a", "c")
	if proto.Equal(ab, ba) {
		t.Fatal("the two packings have the same bytes: the test checks nothing")
	}
	nested := func() *testpb.StreamingOutputCallRequest {
		return &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte("x")}, ResponseParameters: []*testpb.ResponseParameters{{Size: 1}}}
	}
	for _, tc := range []struct {
		name      string
		want, got any
		same      bool
	}{
		{"same contents, other bytes", ab, ba, true},
		{"other contents", ab, ac, false},
		{"in a list", &structpb.ListValue{Values: []*structpb.Value{structpb.NewStringValue("x")}}, &structpb.ListValue{}, false},
		{"a type without Any, equal", nested(), nested(), true},
		{"a type without Any, different", nested(), &testpb.StreamingOutputCallRequest{}, false},
	} {
		if got := msgdiff.Same(tc.want, tc.got); got != tc.same {
			t.Errorf("%s: Same = %v, want %v", tc.name, got, tc.same)
		}
		d, err := msgdiff.Diff(tc.want, tc.got, nil)
		if err != nil {
			t.Fatal(err)
		}
		if (d == "") != tc.same {
			t.Errorf("%s: Same = %v but the diff is %q", tc.name, tc.same, d)
		}
	}
}

// descriptorProto is descriptor.proto's own FileDescriptorProto (a large
// message whose types have extension ranges), with its package set to pkg.
func descriptorProto(pkg string) *descriptorpb.FileDescriptorProto {
	fd := protodesc.ToFileDescriptorProto(descriptorpb.File_google_protobuf_descriptor_proto)
	fd.Package = proto.String(pkg)
	return fd
}

// BenchmarkSame: Same on messages proto.Equal tells apart. For a type that
// can hold an Any, the diff decides; its summary of large bytes fields
// keeps that fast (cmp alone aligned them byte by byte: seconds for 64 KiB).
func BenchmarkSame(b *testing.B) {
	packed := func(last byte) *anypb.Any {
		p := payload(64 << 10)
		p.Body[len(p.Body)-1] = last
		a, err := anypb.New(p)
		if err != nil {
			b.Fatal(err)
		}
		return a
	}
	for _, bc := range []struct {
		name      string
		want, got any
	}{
		{"payload=64KiB", payload(64 << 10), &testpb.Payload{Body: append(make([]byte, 64<<10-1), 1)}},
		{"any=64KiB", packed(0), packed(1)},
		// A type with extension ranges and none set: proto.Equal decides.
		{"descriptor.proto", descriptorProto("google.protobuf"), descriptorProto("other")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if msgdiff.Same(bc.want, bc.got) {
					b.Fatal("Same says equal")
				}
			}
		})
	}
}

// A dynamic message of no type (not made by dynamicpb.NewMessage) is
// equal to no typed message, on either side, and Same does not panic.
func TestSameWithAnUntypedDynamicMessage(t *testing.T) {
	untyped := new(dynamicpb.Message)
	for _, pair := range [][2]any{{payload(1), untyped}, {untyped, payload(1)}, {anyOfStruct(t, "a"), untyped}} {
		if msgdiff.Same(pair[0], pair[1]) {
			t.Errorf("Same(%T, %T) = true", pair[0], pair[1])
		}
	}
}

// Text in bytes is shown as text, but compared as bytes: a nil slice and
// an empty one still differ, and a caller's option on []byte costs the
// text view only, not the rest of the options (NaN equal to NaN).
func TestTextBytesKeepBytesSemantics(t *testing.T) {
	type raw struct {
		F float64
		B []byte
		S string
	}
	if d, err := msgdiff.Diff(raw{B: nil}, raw{B: []byte{}}, nil); err != nil || d == "" {
		t.Errorf("Diff of a nil and an empty []byte = %q, %v; want a difference", d, err)
	}
	if d, err := msgdiff.Diff([]byte(nil), []byte{}, nil); err != nil || d == "" {
		t.Errorf("Diff of a nil and an empty []byte message = %q, %v; want a difference", d, err)
	}
	d, err := msgdiff.Diff(raw{F: math.NaN(), B: []byte("abc"), S: "a"}, raw{F: math.NaN(), B: []byte("abd"), S: "b"},
		[]cmp.Option{cmp.Comparer(func(x, y []byte) bool { return string(x) == string(y) })})
	if err != nil || !strings.Contains(d, `"a"`) {
		t.Fatalf("Diff with a []byte option = %q, %v; want the S difference", d, err)
	}
	for _, l := range strings.Split(d, "\n") {
		if strings.Contains(l, "NaN") && (strings.HasPrefix(l, "-") || strings.HasPrefix(l, "+")) {
			t.Errorf("with a caller's []byte option, NaN no longer equals NaN:\n%s", d)
		}
	}
}

// StructOptions finds the cmpopts options that name Go struct fields,
// alone or among others, and nothing else.
func TestStructOptions(t *testing.T) {
	type s struct{ A, b int }
	_ = s{b: 0}
	for _, tc := range []struct {
		name string
		opts []cmp.Option
		want bool
	}{
		{"none", nil, false},
		{"protocmp.IgnoreFields", []cmp.Option{protocmp.IgnoreFields(&descriptorpb.FileDescriptorProto{}, "name")}, false},
		{"cmpopts.EquateEmpty", []cmp.Option{cmpopts.EquateEmpty()}, false},
		{"cmpopts.IgnoreFields", []cmp.Option{cmpopts.IgnoreFields(s{}, "A")}, true},
		{"cmpopts.IgnoreUnexported among others", []cmp.Option{cmpopts.EquateEmpty(), cmpopts.IgnoreUnexported(s{})}, true},
	} {
		if got := msgdiff.StructOptions(tc.opts); got != tc.want {
			t.Errorf("%s: StructOptions = %v, want %v", tc.name, got, tc.want)
		}
	}
}
