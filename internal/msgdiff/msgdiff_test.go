package msgdiff_test

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	testpb "google.golang.org/grpc/interop/grpc_testing"
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
