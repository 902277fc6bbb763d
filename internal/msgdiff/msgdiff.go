// Package msgdiff compares messages for the assertions of grpctest and the
// scripts of fakes: cmp with protocmp.Transform, NaN equal to NaN (as in
// proto.Equal), large bytes fields compared and shown as a summary, short
// ones that hold text shown as strings, and a
// caller's own cmp options, with a fallback when they clash with ours.
package msgdiff

import (
	"crypto/sha256"
	"fmt"
	"reflect"
	"strings"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/streamtest/streamtest/internal/protowalk"
	"github.com/streamtest/streamtest/internal/textbytes"
)

// bigBytes is the length from which a bytes value is compared and shown
// as a summary (length, hash, first bytes) instead of byte by byte.
const bigBytes = 1024

// bytesContext is how many bytes summarizeBigBytes shows on each side of
// the first difference.
const bytesContext = 8

// summarizeBigBytes keeps diffs of large payloads short and fast: a bytes
// value longer than bigBytes is compared and shown as its length, a hash
// and, when it differs from the value it is compared with, the offset of
// the first differing byte and the bytes around it (else its first bytes).
//
// A cmp transformer sees one value at a time; the filter sees both, so it
// notes the offset of the first difference for each of the two values
// (by address and length), for the transformer to show. It is built for
// each comparison, so the notes are never shared.
func summarizeBigBytes() cmp.Option {
	type key struct {
		p *byte
		n int
	}
	keyOf := func(b []byte) key {
		if len(b) == 0 {
			return key{}
		}
		return key{&b[0], len(b)}
	}
	firstDiff := make(map[key]int)
	return cmp.FilterValues(
		func(x, y []byte) bool {
			if len(x) <= bigBytes && len(y) <= bigBytes {
				return false
			}
			// cmp runs the transformer on this pair right after: the
			// notes must be this pair's, also when the same slice was
			// compared with another value before.
			if off, ok := firstDifference(x, y); ok {
				firstDiff[keyOf(x)], firstDiff[keyOf(y)] = off, off
			} else {
				delete(firstDiff, keyOf(x))
				delete(firstDiff, keyOf(y))
			}
			return true
		},
		cmp.Transformer("summary", func(b []byte) string {
			sum := sha256.Sum256(b)
			off, ok := firstDiff[keyOf(b)]
			if !ok {
				return fmt.Sprintf("%d bytes, sha256 %x…, starting %q", len(b), sum[:6], b[:min(len(b), 16)])
			}
			from, to := max(0, off-bytesContext), min(len(b), off+bytesContext)
			return fmt.Sprintf("%d bytes, sha256 %x…, first difference at byte %d: [%d:%d] %q", len(b), sum[:6], off, from, to, b[from:to])
		}))
}

// textBytes shows bytes values that both hold short printable text as
// strings, in diffs: cmp would list them byte by byte in hex. Values
// longer than bigBytes are summarizeBigBytes's; two empty ones are left to
// cmp, which tells a nil slice from an empty one (as strings they would be
// equal).
func textBytes() cmp.Option {
	return cmp.FilterValues(
		func(x, y []byte) bool {
			return (len(x) > 0 || len(y) > 0) && len(x) <= bigBytes && len(y) <= bigBytes &&
				textbytes.Text(x) && textbytes.Text(y)
		},
		cmp.Transformer("text", func(b []byte) string { return string(b) }))
}

// firstDifference returns the offset of the first byte where x and y
// differ (the length of the shorter one if it is a prefix of the other),
// and false if they are equal.
func firstDifference(x, y []byte) (int, bool) {
	n := min(len(x), len(y))
	for i := range n {
		if x[i] != y[i] {
			return i, true
		}
	}
	return n, len(x) != len(y)
}

// options returns the options of a cmp comparison of messages with the
// caller's opts: ours first (protocmp.Transform; NaN equal to NaN, as in
// proto.Equal, which the fast path without options uses; and extra), then
// opts. cmp refuses options that apply to the same values as others
// ("ambiguous set of applicable options"), so a caller's option for
// floats or []byte can clash with ours: fallback is protocmp.Transform and
// opts alone, for when cmp refuses the full set.
func options(opts []cmp.Option, extra ...cmp.Option) (full, fallback []cmp.Option) {
	full = append(append([]cmp.Option{protocmp.Transform(), cmpopts.EquateNaNs()}, extra...), opts...)
	fallback = append([]cmp.Option{protocmp.Transform()}, opts...)
	return full, fallback
}

// Diff is cmp.Diff with the options of a comparison of messages (see
// options), large bytes fields summarized and text in short ones shown as
// text; a panic of cmp (unexported fields, bad options) comes back as an
// error. A caller's option on []byte (a cmp.Comparer, cmpopts.EquateEmpty)
// clashes with the text one: the diff is then tried without it, before
// the fallback without any of ours.
func Diff(want, got any, opts []cmp.Option) (string, error) {
	full, fallback := options(opts, summarizeBigBytes(), textBytes())
	d, err := tryDiff(want, got, full)
	if err != nil {
		noText, _ := options(opts, summarizeBigBytes())
		d, err = tryDiff(want, got, noText)
	}
	if err != nil {
		d, err = tryDiff(want, got, fallback)
	}
	return d, err
}

func tryDiff(want, got any, opts []cmp.Option) (d string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return cmp.Diff(want, got, opts...), nil
}

// Same reports whether want and got are equal messages, as the
// comparisons without options find them: proto.Equal for two proto
// messages (the fast path: cmp walks large bytes fields element by
// element), else Equal.
//
// proto.Equal compares a google.protobuf.Any by its packed bytes, which
// depend on the order in which the packer marshaled its maps; cmp with
// protocmp, which the diffs use, compares what the Any holds. So when
// proto.Equal says no and either message may hold an Any (a field of its
// type can, or an extension set in it does), the diff decides, and Same
// agrees with it. (The diff, not Equal: it compares large bytes fields by
// their summary, where Equal's cmp would align them byte by byte.)
func Same(want, got any) bool {
	w, ok1 := want.(proto.Message)
	g, ok2 := got.(proto.Message)
	if !ok1 || !ok2 {
		return Equal(want, got, nil)
	}
	if proto.Equal(w, g) {
		return true
	}
	if !mayHoldAny(w.ProtoReflect()) && !mayHoldAny(g.ProtoReflect()) {
		return false
	}
	d, err := Diff(want, got, nil)
	return err == nil && d == ""
}

// fieldsHoldAny is whether a message type is google.protobuf.Any, or has
// a field that can hold one, at any depth.
var fieldsHoldAny = protowalk.New(func(md protoreflect.MessageDescriptor) bool { return md.FullName() == "google.protobuf.Any" })

// mayHoldAny reports whether m can hold an Any: its type can, in a field,
// or an extension set in m, at any depth, can. Most types with extension
// ranges (descriptors, options) hold none; only the extensions actually
// set are looked at, so that their comparisons stay proto.Equal's.
func mayHoldAny(m protoreflect.Message) bool {
	md := m.Descriptor()
	if md == nil { // a dynamicpb.Message of no type: it holds nothing
		return false
	}
	if fieldsHoldAny.Reaches(md) {
		return true
	}
	if !protowalk.Extendable.Reaches(md) {
		return false
	}
	// An extension set in m, or in a message within it, whose type can
	// hold an Any.
	return protowalk.SetFields(m, func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		return fd.IsExtension() && fd.Message() != nil && fieldsHoldAny.Reaches(fd.Message())
	})
}

// Costly reports whether Same may compare m with another message by a
// diff, not by proto.Equal alone: m is not a proto message, or it may hold
// an Any (see Same). Such comparisons cost a thousand times more.
func Costly(m any) bool {
	pm, ok := m.(proto.Message)
	return !ok || mayHoldAny(pm.ProtoReflect())
}

// Untyped reports whether m is a proto message with no message type: a
// dynamicpb.Message not made by dynamicpb.NewMessage, or a nil
// *dynamicpb.Message (a typed nil of a generated type is that type's
// empty message). It cannot be compared, copied, marshaled or shown.
func Untyped(m any) bool {
	pm, ok := m.(proto.Message)
	if !ok || pm == nil {
		return false
	}
	if v := reflect.ValueOf(pm); v.Kind() == reflect.Pointer && v.IsNil() {
		_, dynamic := pm.(*dynamicpb.Message)
		return dynamic
	}
	return pm.ProtoReflect().Descriptor() == nil
}

// StructOptions reports whether opts hold cmpopts options that name the
// fields of Go structs (IgnoreFields, IgnoreUnexported): they never apply
// to proto messages, which protocmp.Transform turns into maps of their
// fields before any option sees them.
func StructOptions(opts []cmp.Option) bool {
	for _, o := range opts {
		if s := fmt.Sprint(o); strings.Contains(s, "cmpopts.structFilter") || strings.Contains(s, "cmpopts.unexportedFilter") {
			return true
		}
	}
	return false
}

// Equal is cmp.Equal with the options of a comparison of messages (see
// options); values cmp cannot compare (it panics, with the fallback too)
// are not equal.
func Equal(want, got any, opts []cmp.Option) bool {
	full, fallback := options(opts)
	same, ok := tryEqual(want, got, full)
	if !ok {
		same, _ = tryEqual(want, got, fallback)
	}
	return same
}

// tryEqual is cmp.Equal; ok is false if cmp panicked.
func tryEqual(want, got any, opts []cmp.Option) (same, ok bool) {
	defer func() {
		if recover() != nil {
			same, ok = false, false
		}
	}()
	return cmp.Equal(want, got, opts...), true
}
