package msgdiff_test

// Tests that pin checks of msgdiff a mutation run found unpinned: each
// fails when the check it names is broken.

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/streamtest/streamtest/internal/msgdiff"
)

// Same of a proto message and a value that is not one is false, either
// way round (and does not panic).
func TestSameProtoAndNonProto(t *testing.T) {
	for _, pair := range [][2]any{{"x", &testpb.Payload{}}, {&testpb.Payload{}, "x"}, {nil, &testpb.Payload{}}} {
		if msgdiff.Same(pair[0], pair[1]) {
			t.Errorf("Same(%#v, %#v) = true", pair[0], pair[1])
		}
	}
}

// A large []byte is summarized even when the other side's is small.
func TestDiffSummarizesLargeBytesAgainstSmall(t *testing.T) {
	for _, tc := range [][2][]byte{{make([]byte, 2000), []byte("abc")}, {[]byte("abc"), make([]byte, 2000)}} {
		d, err := msgdiff.Diff(&testpb.Payload{Body: tc[0]}, &testpb.Payload{Body: tc[1]}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(d, "2000 bytes, sha256") || strings.Count(d, "0x00") > 0 {
			t.Errorf("the 2000 bytes are not summarized:\n%s", d)
		}
	}
}

// Text is shown as text only when both sides are text: text against
// binary is a byte diff.
func TestDiffTextAgainstBinaryIsBytes(t *testing.T) {
	d, err := msgdiff.Diff(&testpb.Payload{Body: []byte("hello")}, &testpb.Payload{Body: []byte{0xff, 0, 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d, "0x68, 0x65") || !strings.Contains(d, "0xff, 0x00, 0x01") {
		t.Errorf("text against binary is not shown byte by byte:\n%s", d)
	}
}

// Equal large []byte fields in messages that differ elsewhere are
// summarized from their start: no "first difference" in equal bytes.
func TestDiffEqualLargeBytesHaveNoFirstDifference(t *testing.T) {
	d, err := msgdiff.Diff(&testpb.Payload{Body: make([]byte, 2000), Type: 1}, &testpb.Payload{Body: make([]byte, 2000)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d, "2000 bytes") || strings.Contains(d, "first difference") {
		t.Errorf("equal large bytes are summarized with a first difference:\n%s", d)
	}
}

// A caller's float64 option that applies to NaN too conflicts with the
// NaN option (cmp panics on the ambiguity): Equal then decides with the
// caller's option alone, through the fallback.
func TestEqualWithACallersFloatComparer(t *testing.T) {
	near := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 0.1 || math.IsNaN(a) && math.IsNaN(b) })
	if !msgdiff.Equal(math.NaN(), math.NaN(), []cmp.Option{near}) {
		t.Error("Equal(NaN, NaN) with a comparer that equates NaNs = false")
	}
	if !msgdiff.Equal(1.0, 1.05, []cmp.Option{near}) {
		t.Error("Equal(1.0, 1.05) with a comparer of nearby floats = false")
	}
	if msgdiff.Equal(1.0, 2.0, []cmp.Option{near}) {
		t.Error("Equal(1.0, 2.0) with a comparer of nearby floats = true")
	}
}

// A nil *dynamicpb.Message has no message type; a nil generated message
// has one (its Go type's).
func TestUntypedNilDynamicMessage(t *testing.T) {
	if !msgdiff.Untyped((*dynamicpb.Message)(nil)) {
		t.Error("Untyped(nil *dynamicpb.Message) = false")
	}
	if !msgdiff.Untyped(new(dynamicpb.Message)) {
		t.Error("Untyped(new(dynamicpb.Message)) = false")
	}
	if msgdiff.Untyped((*testpb.Payload)(nil)) || msgdiff.Untyped(&testpb.Payload{}) || msgdiff.Untyped("x") {
		t.Error("Untyped is true for a generated message, or a value that is not a message")
	}
}
