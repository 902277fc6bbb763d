package grpctest

import (
	"fmt"
	"hash/maphash"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/streamtest/streamtest/internal/msgdiff"
	"github.com/streamtest/streamtest/internal/tlwindow"
	"github.com/streamtest/streamtest/recorder"
)

// AssertMessages reports whether got equals want, message by message,
// compared with cmp and protocmp.Transform (so proto messages compare by
// content). On failure it prints (-want +got) diffs and the timeline of
// the test's open harnesses. When the lengths are equal, each pair that
// differs gets a diff of its own (at most five), after a line naming the
// messages of want that got has at another index; when they differ, a line
// such as "want 3 messages, got 2", which messages of want and of got the other
// list does not match, in order (a longest common subsequence of equal
// messages), and a diff of the lists (its first 200 lines, and a count of
// the rest). When the lists differ only by messages lost, or only by
// messages added, that diff lists those ("- want[3] ...", "+ got[4] ...")
// with two equal messages on each side ("want[2] = got[2] ...", cut to a
// line; those lost or added as the timeline shows them, 200 characters at
// most), and counts the other equal ones. Lists of
// the same length get that
// report too when a message is missing and another one added, shifting
// the pairs in between (a message received twice and the last one never).
// The alignment takes lists of any length with up to 1,000 messages
// missing or added; for messages that are not proto messages, that may
// hold an Any, and with cmp options (AssertMessagesWith), each message is
// compared with one of each kind found, and past 10,000 (500 for those)
// comparisons the report gives the counts and the diff without naming the
// messages. Past a few hundred messages the alignment goes by the
// messages' wire form first: two equal messages encoded otherwise (a -0
// for a 0) may then be named, one as missing and one as added.
// Short bytes fields that hold text are shown as text, long ones as a
// summary. A typed nil message, such as a call that failed returns,
// equals only a nil message of its type, never an empty one.
//
//	grpctest.AssertMessages(t, []any{want1, want2}, call.Responses())
func AssertMessages(t testing.TB, want, got []any) bool {
	checkTB(t, "AssertMessages")
	t.Helper()
	return assertMessages(t, want, got, nil)
}

// Msgs returns ms as the []any that AssertMessages and its variants take:
// a typed slice, such as the Responses or Sent of a fakes stream
// ([]*pb.Msg), cannot be passed as []any directly. A nil ms gives nil.
//
//	grpctest.AssertMessages(t, []any{want}, grpctest.Msgs(stream.Responses()))
func Msgs[M any](ms []M) []any {
	if ms == nil {
		return nil
	}
	out := make([]any, len(ms))
	for i, m := range ms {
		out[i] = m
	}
	return out
}

// RequireMessages is AssertMessages followed by t.FailNow on failure.
func RequireMessages(t testing.TB, want, got []any) {
	checkTB(t, "RequireMessages")
	t.Helper()
	if !assertMessages(t, want, got, nil) {
		t.FailNow()
	}
}

// AssertMessagesWith is AssertMessages with extra cmp options, for instance
// protocmp.IgnoreFields or cmpopts.EquateEmpty, or the options that
// messages other than protos need. The options see a proto message as
// protocmp.Transform makes it, a map of its fields: options that name the
// fields of the generated Go struct (cmpopts.IgnoreFields) never apply to
// it, and the failure says so.
func AssertMessagesWith(t testing.TB, want, got []any, opts ...cmp.Option) bool {
	checkTB(t, "AssertMessagesWith")
	t.Helper()
	return assertMessages(t, want, got, opts)
}

// RequireMessagesWith is AssertMessagesWith followed by t.FailNow on
// failure.
func RequireMessagesWith(t testing.TB, want, got []any, opts ...cmp.Option) {
	checkTB(t, "RequireMessagesWith")
	t.Helper()
	if !assertMessages(t, want, got, opts) {
		t.FailNow()
	}
}

// checkTB panics if t is nil, naming fn: there is no test to report to.
func checkTB(t testing.TB, fn string) {
	if t == nil {
		panic("grpctest." + fn + ": t is nil: pass the test's t")
	}
}

func assertMessages(t testing.TB, want, got []any, opts []cmp.Option) bool {
	t.Helper()
	if where := untypedAt(want, got); where != "" {
		t.Errorf("grpctest: cannot compare the messages: %s is a *dynamicpb.Message with no message type: make it with dynamicpb.NewMessage%s", where, timelines(t))
		return false
	}
	if len(opts) == 0 && protoEqual(want, got) {
		return true
	}
	var note string
	var al alignment
	if len(want) != len(got) {
		al = alignOf(want, got, opts)
		note = countNote(want, got, al)
	} else if d, ok := pairDiffs(want, got, opts); ok {
		if d == "" {
			return true
		}
		// A lost message and an added one shift every pair between them:
		// then the lists say more than the pairs (countNote).
		al = alignOf(want, got, opts)
		if note = countNote(want, got, al); note == "" {
			t.Errorf("grpctest: messages differ: %s%s%s", d, structOptionsNote(want, got, opts), timelines(t))
			return false
		}
	}
	if al.ok && (len(al.missing) == 0 || len(al.extra) == 0) && (len(al.missing) > 0 || len(al.extra) > 0) {
		// Only lost messages, or only added ones: the rest are equal, and
		// the list says it all. cmp would render them as its Transform
		// and the others by their String method.
		t.Errorf("grpctest: messages differ: %smismatch (-want +got):\n%s%s%s", note, cutDiff(listDiff(want, got, al)), structOptionsNote(want, got, opts), timelines(t))
		return false
	}
	d, err := diff(want, got, opts)
	if err != nil {
		t.Errorf("grpctest: cannot compare the messages: %v\n"+
			"(messages that are not protos may need cmp options: use AssertMessagesWith with e.g. cmpopts.IgnoreUnexported)%s", err, timelines(t))
		return false
	}
	if d == "" {
		return true
	}
	t.Errorf("grpctest: messages differ: %smismatch (-want +got):\n%s%s%s%s", note, cutDiff(d), nilNote(want, got), structOptionsNote(want, got, opts), timelines(t))
	return false
}

// untypedAt names the first message of want or got that has no message
// type (msgdiff.Untyped), such as "want[1]", or returns "".
func untypedAt(want, got []any) string {
	if i := slices.IndexFunc(want, msgdiff.Untyped); i >= 0 {
		return fmt.Sprintf("want[%d]", i)
	}
	if i := slices.IndexFunc(got, msgdiff.Untyped); i >= 0 {
		return fmt.Sprintf("got[%d]", i)
	}
	return ""
}

// structOptionsNote explains, when opts hold cmpopts options that name the
// fields of Go structs (IgnoreFields, IgnoreUnexported) and every message
// is a proto, that those options never apply: protocmp.Transform turns a
// proto message into a map of its fields before any option sees it.
func structOptionsNote(want, got []any, opts []cmp.Option) string {
	if !allProto(want) || !allProto(got) { // the options may be for the other values
		return ""
	}
	if !msgdiff.StructOptions(opts) {
		return ""
	}
	return "\n(cmpopts.IgnoreFields and cmpopts.IgnoreUnexported name the fields of Go structs, but proto messages are compared " +
		"as protocmp.Transform makes them, maps of their fields, so those options never apply to them: " +
		"use protocmp.IgnoreFields(&pb.M{}, \"field_name\") and protocmp's other options)"
}

// pairDiffs compares two lists of the same length message by message and
// describes the pairs that differ, each with its own (-want +got) diff, so
// that the equal ones add nothing to the report: "" if none differs. A
// message of want that got has at another index (and the reverse) is
// named, as messages in another order are a common failure. ok is false
// if cmp cannot compare a pair: the caller diffs the lists whole, and
// reports that.
func pairDiffs(want, got []any, opts []cmp.Option) (d string, ok bool) {
	eq := equalUnder(opts)
	var b strings.Builder
	var differ []int
	var err error
	diffs := make(map[int]string)
	for i := range want {
		if eq(want[i], got[i]) {
			continue
		}
		if len(diffs) == maxListed {
			// Counted, not shown: no diff to make, but for values cmp
			// may not be able to compare (protos it always can).
			_, wp := want[i].(proto.Message)
			_, gp := got[i].(proto.Message)
			if !wp || !gp {
				if _, err := diff(want[i], got[i], opts); err != nil {
					return "", false
				}
			}
			differ = append(differ, i)
			continue
		}
		var d string
		if want[i] == nil || got[i] == nil {
			// cmp shows a nil any as nothing at all.
			d = fmt.Sprintf("- %s\n+ %s\n", nilOrShort(want[i]), nilOrShort(got[i]))
		} else if d, err = diff(want[i], got[i], opts); err != nil {
			return "", false
		} else if d != "" && (typedNil(want[i]) || typedNil(got[i])) {
			d += nilNote([]any{want[i]}, []any{got[i]})[1:] + "\n"
		}
		if d != "" {
			differ = append(differ, i)
			diffs[i] = d
		}
	}
	if len(differ) == 0 {
		return "", true
	}
	switch {
	case len(want) == 1:
	case len(differ) == 1:
		fmt.Fprintf(&b, "1 of %d messages differs (the others are equal)\n", len(want))
	case len(differ) < len(want):
		fmt.Fprintf(&b, "%d of %d messages differ (the others are equal)\n", len(differ), len(want))
	default:
		fmt.Fprintf(&b, "all %d messages differ\n", len(want))
	}
	// Moved messages: each differing want[i] that equals a differing
	// got[j], within the comparisons countNote allows.
	if len(differ) > 1 && len(differ)*len(differ) <= maxAlignWith {
		var moved []string
		for _, i := range differ {
			for _, j := range differ {
				if i != j && eq(want[i], got[j]) {
					moved = append(moved, fmt.Sprintf("want[%d] is got[%d]", i, j))
					break
				}
			}
		}
		if len(moved) > 0 {
			fmt.Fprintf(&b, "in another order: %s\n", strings.Join(moved, ", "))
		}
	}
	for k, i := range differ {
		if k == maxListed {
			fmt.Fprintf(&b, "… and %d more differing messages\n", len(differ)-maxListed)
			break
		}
		fmt.Fprintf(&b, "want[%d] and got[%d]: mismatch (-want +got):\n%s", i, i, diffs[i])
	}
	return strings.TrimRight(b.String(), "\n"), true
}

// plural renders n things: "1 message", "2 messages".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// maxAlign bounds the comparisons countNote makes to class the messages
// that are not proto messages (see classify), beyond the common head and
// tail of the two lists; maxAlignWith bounds them when cmp options are
// given (each comparison is then a cmp.Equal walk, not proto.Equal).
// Proto messages compared without options are classed by their wire form,
// with about one comparison each.
const (
	maxAlign     = 10_000
	maxAlignWith = 500
)

// maxListed bounds the missing and the extra messages countNote lists.
const maxListed = 5

// countNote, when want and got differ in length, says so on a line of its
// own, followed by which messages of want and of got are not matched in
// order on the other side (see align). For lists of the same length it
// says the same when that tells more than a diff of each pair: when
// messages moved one way (see shifted), as the messages after a lost one
// do when another one is added. Otherwise, it returns "".
func countNote(want, got []any, al alignment) string {
	missing, extra, aligned := al.missing, al.extra, al.ok
	var b strings.Builder
	if len(want) == len(got) {
		if !aligned || len(missing) == 0 || !shifted(want, got, missing, extra, al.eq) {
			return ""
		}
		fmt.Fprintf(&b, "%d messages each, but not the same ones in order\n", len(want))
	} else {
		fmt.Fprintf(&b, "want %s, got %d\n", plural(len(want), "message"), len(got))
		if !aligned {
			return b.String()
		}
	}
	list := func(label, name string, idx []int, ms []any) {
		if len(idx) == 0 {
			return
		}
		b.WriteString(label)
		for k, n := range idx {
			if k == maxListed {
				fmt.Fprintf(&b, "\n  … and %d more", len(idx)-maxListed)
				break
			}
			fmt.Fprintf(&b, "\n  %s[%d] %s", name, n, nilOrShort(ms[n]))
		}
		b.WriteString("\n")
	}
	list("in want, not matched in order in got:", "want", missing, want)
	list("in got, not matched in order in want:", "got", extra, got)
	if len(missing) > 0 && len(extra) > 0 {
		b.WriteString("(matched in order, by equality; the diff below pairs messages by likeness: one listed on both sides may have changed or moved)\n")
	}
	return b.String()
}

// alignment is the result of align for two lists of messages, and the
// equality it used.
type alignment struct {
	missing, extra []int
	ok             bool
	eq             func(w, g any) bool
}

// alignOf aligns want and got (see align), comparing their messages as
// cmp with opts would.
func alignOf(want, got []any, opts []cmp.Option) alignment {
	eq := equalUnder(opts)
	missing, extra, ok := align(want, got, eq, opts)
	return alignment{missing, extra, ok, eq}
}

// listContext is how many equal messages listDiff shows on each side of
// a lost or added one.
const listContext = 2

// listDiff renders, in diff form, two lists that al aligned: "- want[i]"
// for a message lost, "+ got[j]" for one added, each whole, and the equal
// messages around them ("want[i] = got[j]"), cut to a line; a run of
// equal messages away from any change is counted, not shown. Whole is as
// the timeline shows a message: 200 characters at most (cmp's diff cuts a
// long message too).
func listDiff(want, got []any, al alignment) string {
	type line struct {
		text  string
		equal bool
	}
	var lines []line
	missing := make(map[int]bool, len(al.missing))
	for _, i := range al.missing {
		missing[i] = true
	}
	extra := make(map[int]bool, len(al.extra))
	for _, j := range al.extra {
		extra[j] = true
	}
	for i, j := 0, 0; i < len(want) || j < len(got); {
		switch {
		case i < len(want) && missing[i]:
			lines = append(lines, line{text: fmt.Sprintf("- want[%d] %s", i, nilOrWhole(want[i]))})
			i++
		case j < len(got) && extra[j]:
			lines = append(lines, line{text: fmt.Sprintf("+ got[%d] %s", j, nilOrWhole(got[j]))})
			j++
		case i < len(want) && j < len(got):
			lines = append(lines, line{text: fmt.Sprintf("  want[%d] = got[%d] %s", i, j, nilOrShort(got[j])), equal: true})
			i++
			j++
		default: // not an alignment of these lists
			return ""
		}
	}
	var b strings.Builder
	for k := 0; k < len(lines); {
		if !lines[k].equal {
			fmt.Fprintf(&b, "  %s\n", lines[k].text)
			k++
			continue
		}
		end := k
		for end < len(lines) && lines[end].equal {
			end++
		}
		// Keep listContext after the change before the run, and before
		// the one after it.
		keepHead, keepTail := listContext, listContext
		if k == 0 {
			keepHead = 0
		}
		if end == len(lines) {
			keepTail = 0
		}
		if end-k <= keepHead+keepTail+1 {
			keepHead, keepTail = end-k, 0
		}
		for _, l := range lines[k : k+keepHead] {
			fmt.Fprintf(&b, "  %s\n", l.text)
		}
		if n := end - k - keepHead - keepTail; n > 0 {
			fmt.Fprintf(&b, "    … %s\n", plural(n, "equal message"))
		}
		for _, l := range lines[end-keepTail : end] {
			fmt.Fprintf(&b, "  %s\n", l.text)
		}
		k = end
	}
	return b.String()
}

// shifted reports, for lists of the same length aligned by align (missing
// and extra are its results), whether a message of want is matched in got
// at another index, j for i, without a swap: the message of want at j
// matched back at i, or left unmatched with got's at i, its equal, left
// unmatched too (a longest common subsequence keeps one of two swapped
// messages). Messages moved one way, as after a lost message and an
// added one, not swapped (nor changed in place), which pairDiffs reports.
func shifted(want, got []any, missing, extra []int, eq func(w, g any) bool) bool {
	match := make([]int, len(want)) // the got index of want's matched messages, -1 for none
	i, j := 0, 0
	for _, m := range missing {
		match[m] = -1
	}
	for i < len(want) && j < len(got) {
		switch {
		case match[i] == -1:
			i++
		case slices.Contains(extra, j):
			j++
		default:
			match[i] = j
			i++
			j++
		}
	}
	for i, j := range match {
		if j < 0 || j == i {
			continue
		}
		swapped := match[j] == i ||
			(match[j] == -1 && slices.Contains(extra, i) && eq(want[j], got[i]))
		if !swapped {
			return true
		}
	}
	return false
}

// alignLimit is how many comparisons align may make: fewer when they walk
// the messages with cmp (options, messages that are not protos, messages
// that may hold an Any: see msgdiff.Same) than with proto.Equal.
func alignLimit(want, got []any, opts []cmp.Option) int {
	if len(opts) > 0 || slices.ContainsFunc(want, msgdiff.Costly) || slices.ContainsFunc(got, msgdiff.Costly) {
		return maxAlignWith
	}
	return maxAlign
}

// align finds which messages of want and of got are not matched in order
// on the other side, by aligning the two lists: their common head and
// tail first (a message lost or added in the middle costs no more), then
// a longest common subsequence of equal messages in what is left. A small
// middle is aligned comparing each message with each (lcs); a larger one
// by a shortest edit script (Myers' diff) over classes of equal messages
// (see classify), whose replaced runs are then paired up again with eq.
// ok is false when that is too costly: too many comparisons to class the
// messages, or more than maxEdits messages to add or remove.
func align(want, got []any, eq func(w, g any) bool, opts []cmp.Option) (missing, extra []int, ok bool) {
	limit := alignLimit(want, got, opts)
	lo := 0
	for lo < len(want) && lo < len(got) && eq(want[lo], got[lo]) {
		lo++
	}
	hw, hg := len(want), len(got)
	for hw > lo && hg > lo && eq(want[hw-1], got[hg-1]) {
		hw--
		hg--
	}
	mw, mg := want[lo:hw], got[lo:hg]
	var del, ins []int
	if len(mw)*len(mg) <= limit {
		del, ins = lcs(mw, mg, eq)
	} else {
		ids, ok := classify(append(mw[:len(mw):len(mw)], mg...), eq, opts, limit)
		if !ok {
			return nil, nil, false
		}
		if del, ins, ok = editScript(ids[:len(mw)], ids[len(mw):], maxEdits); !ok {
			return nil, nil, false
		}
		del, ins = repair(mw, mg, del, ins, eq, limit)
	}
	for _, i := range del {
		missing = append(missing, lo+i)
	}
	for _, j := range ins {
		extra = append(extra, lo+j)
	}
	return missing, extra, true
}

// lcs returns the indices of a and of b outside a longest common
// subsequence of equal messages, comparing each message of a with each of
// b.
func lcs(a, b []any, eq func(w, g any) bool) (del, ins []int) {
	// l[i][j]: length of the longest common subsequence of a[i:] and
	// b[j:]; same[i][j]: a[i] equals b[j].
	l := make([][]int, len(a)+1)
	same := make([][]bool, len(a))
	for i := range l {
		l[i] = make([]int, len(b)+1)
		if i < len(a) {
			same[i] = make([]bool, len(b))
		}
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			same[i][j] = eq(a[i], b[j])
			if same[i][j] {
				l[i][j] = l[i+1][j+1] + 1
			} else {
				l[i][j] = max(l[i+1][j], l[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i == len(a):
			ins = append(ins, j)
			j++
		case j == len(b):
			del = append(del, i)
			i++
		case same[i][j] && l[i][j] == l[i+1][j+1]+1:
			i++
			j++
		case l[i+1][j] >= l[i][j+1]:
			del = append(del, i)
			i++
		default:
			ins = append(ins, j)
			j++
		}
	}
	return del, ins
}

// repair pairs up again, with eq, the messages of an edit script's
// replaced runs (deletions from a and insertions from b between the same
// two kept messages): classify may put messages eq takes for equal in two
// classes (a -0 and a 0, unknown fields in another order, an Any's
// payload encoded otherwise), and a message is not named lost when its
// equal took its place. It makes at most limit comparisons in all: the
// runs past that stay as the script has them.
func repair(a, b []any, del, ins []int, eq func(w, g any) bool, limit int) (rdel, rins []int) {
	// Walk both lists in step, as the script keeps them.
	i, j, di, ii := 0, 0, 0, 0
	for i < len(a) || j < len(b) {
		// The run of deletions at i and of insertions at j.
		d0, i0 := di, ii
		for di < len(del) && del[di] == i+(di-d0) {
			di++
		}
		for ii < len(ins) && ins[ii] == j+(ii-i0) {
			ii++
		}
		ds, is := del[d0:di], ins[i0:ii]
		// Pair the two runs in order, greedily: each deleted message with
		// the first inserted one after the last paired that equals it.
		k := 0
		try := len(ds)*len(is) <= limit
		if try {
			limit -= len(ds) * len(is)
		}
		for _, d := range ds {
			m := -1
			if try {
				for q := k; q < len(is); q++ {
					if eq(a[d], b[is[q]]) {
						m = q
						break
					}
				}
			}
			if m < 0 {
				rdel = append(rdel, d)
				continue
			}
			rins = append(rins, is[k:m]...)
			k = m + 1
		}
		rins = append(rins, is[k:]...)
		i += len(ds)
		j += len(is)
		if i < len(a) && j < len(b) && len(ds) == 0 && len(is) == 0 {
			i++ // a kept message
			j++
		} else if len(ds) == 0 && len(is) == 0 {
			break
		}
	}
	slices.Sort(rdel)
	slices.Sort(rins)
	return rdel, rins
}

// maxEdits bounds the messages align may find missing or extra: its
// edit script costs time and memory in their square (8 MB at the bound).
const maxEdits = 1000

// classify numbers the classes of equal messages of ms: ids[i] == ids[j]
// when eq(ms[i], ms[j]), for ms[j] the first of its class. Proto messages
// compared without options go by a hash of their deterministic wire form
// first, so that a list of thousands costs about one comparison each
// (repair mends what this splits: equal messages of different wire
// forms); other messages are compared with the first of each class found
// so far, within limit comparisons (ok is false beyond it).
func classify(ms []any, eq func(w, g any) bool, opts []cmp.Option, limit int) (ids []int, ok bool) {
	ids = make([]int, len(ms))
	var reps []int // the first message of each class
	buckets := map[uint64][]int{}
	byWire := len(opts) == 0
	seed := maphash.MakeSeed()
	var buf []byte
	compared := 0
	for i, m := range ms {
		var candidates []int
		var key uint64
		keyed := false
		if pm, isProto := m.(proto.Message); byWire && isProto && pm.ProtoReflect().IsValid() {
			var err error
			if buf, err = (proto.MarshalOptions{Deterministic: true}).MarshalAppend(buf[:0], pm); err == nil {
				key = maphash.String(seed, string(pm.ProtoReflect().Descriptor().FullName())) ^ maphash.Bytes(seed, buf)
				keyed = true
				candidates = buckets[key]
			}
		}
		if !keyed {
			candidates = reps
		}
		id := -1
		for _, c := range candidates {
			if !keyed {
				if compared++; compared > limit {
					return nil, false
				}
			}
			if eq(ms[c], m) {
				id = ids[c]
				break
			}
		}
		if id < 0 {
			id = len(reps)
			reps = append(reps, i)
			if keyed {
				buckets[key] = append(buckets[key], i)
			}
		}
		ids[i] = id
	}
	return ids, true
}

// editScript returns a shortest edit script from a to b (Myers' greedy
// algorithm): the indices of a to delete and of b to insert, in order, so
// that what remains is a longest common subsequence. ok is false if it
// needs more than maxD edits.
func editScript(a, b []int, maxD int) (del, ins []int, ok bool) {
	n, m := len(a), len(b)
	maxD = min(maxD, n+m)
	off := maxD + 1
	v := make([]int, 2*maxD+3)
	// trace[d] is v before round d, for the diagonals -(d-1) to d-1 that
	// round d reads: the walk back needs them.
	var trace [][]int
	prev := func(d, k int) int { return trace[d][k+d-1] }
	for d := 0; d <= maxD; d++ {
		if d == 0 {
			trace = append(trace, nil)
		} else {
			trace = append(trace, slices.Clone(v[off-d+1:off+d]))
		}
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1] // down: insert b[y-1]
			} else {
				x = v[off+k-1] + 1 // right: delete a[x-1]
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				// Walk back through the rounds for the edits.
				for d2 := d; d2 > 0; d2-- {
					k2 := x - y
					var pk int
					if k2 == -d2 || (k2 != d2 && prev(d2, k2-1) < prev(d2, k2+1)) {
						pk = k2 + 1
					} else {
						pk = k2 - 1
					}
					px := prev(d2, pk)
					py := px - pk
					if pk == k2+1 {
						ins = append(ins, py)
					} else {
						del = append(del, px)
					}
					x, y = px, py
				}
				slices.Reverse(del)
				slices.Reverse(ins)
				return del, ins, true
			}
		}
	}
	return nil, nil, false
}

// nilNote explains the "@invalid" of a typed nil message in a diff, if
// want or got holds one.
func nilNote(want, got []any) string {
	for _, m := range append(want[:len(want):len(want)], got...) {
		if typedNil(m) {
			return "\n(\"@invalid\" is a nil message, such as a failed call returns: AssertMessages does not take it for an empty one)"
		}
	}
	return ""
}

// maxDiffLines bounds the lines of a whole-list diff a report prints:
// cmp shows every element of two lists it cannot align (a reversed list
// of 4,000 messages gave 14,668 lines).
const maxDiffLines = 200

// cutDiff returns d cut after maxDiffLines lines, with a count of the rest.
func cutDiff(d string) string {
	lines := strings.SplitAfter(d, "\n")
	if len(lines) <= maxDiffLines+1 { // the last may be empty
		return d
	}
	rest := len(lines) - maxDiffLines
	if lines[len(lines)-1] == "" {
		rest--
	}
	return strings.Join(lines[:maxDiffLines], "") + fmt.Sprintf("  … %d more lines of the diff\n", rest)
}

// protoEqual reports whether want and got hold the same proto messages,
// with proto.Equal: the fast path of the comparisons (cmp walks large
// bytes fields element by element).
func protoEqual(want, got []any) bool {
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		w, ok1 := want[i].(proto.Message)
		g, ok2 := got[i].(proto.Message)
		if !ok1 || !ok2 || !proto.Equal(w, g) {
			return false
		}
	}
	return true
}

// diff is msgdiff.Diff: cmp.Diff with protocmp and the package's options.
func diff(want, got any, opts []cmp.Option) (string, error) { return msgdiff.Diff(want, got, opts) }

// emptyIfNil returns m, or an empty message of its type if m is a typed
// nil proto message (such as (*pb.Msg)(nil)): the message gRPC sends for
// one, and what a typed nil means in an AssertOrder step. For a generated
// message type the zero value of the type pointed to is that empty
// message.
func emptyIfNil(m any) any {
	if !typedNil(m) {
		return m
	}
	return reflect.New(reflect.TypeOf(m).Elem()).Interface()
}

// typedNil reports whether m is a proto message that is a nil pointer.
func typedNil(m any) bool {
	if _, ok := m.(proto.Message); !ok {
		return false
	}
	v := reflect.ValueOf(m)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// equal is msgdiff.Same: whether want and got are equal as AssertMessages
// compares them; values cmp cannot compare are not equal.
func equal(want, got any) bool { return msgdiff.Same(want, got) }

// cmpEqual is msgdiff.Equal: cmp.Equal with protocmp and the package's
// options; values cmp cannot compare are not equal.
func cmpEqual(want, got any, opts []cmp.Option) bool { return msgdiff.Equal(want, got, opts) }

// equalUnder returns the comparison of messages that opts make: equal
// without options, cmpEqual with them.
func equalUnder(opts []cmp.Option) func(want, got any) bool {
	if len(opts) == 0 {
		return equal
	}
	return func(want, got any) bool { return cmpEqual(want, got, opts) }
}

// allProto reports whether every one of ms is a proto message.
func allProto(ms []any) bool {
	for _, m := range ms {
		if _, ok := m.(proto.Message); !ok {
			return false
		}
	}
	return true
}

// timelines renders the recorded timelines of the open harnesses of t (if
// t has none, as when it wraps the test's t, those of the test of its
// name, or of the nearest enclosing test's: see harnessesOfEnclosing),
// each recorder once, to be appended to a failure message.
func timelines(t testing.TB) string {
	var b strings.Builder
	for _, r := range testRecorders(t) {
		fmt.Fprintf(&b, "\nrecorded timeline:\n%s", tlwindow.Cut(r.String()))
	}
	return strings.TrimRight(b.String(), "\n")
}

// nilOrShort is short, with "nil" for nil and "(*pb.T)(nil)" for a typed
// nil message (which short would show as an empty message).
func nilOrShort(m any) string {
	switch {
	case m == nil:
		return "nil"
	case typedNil(m):
		return fmt.Sprintf("(%T)(nil)", m)
	}
	return short(m)
}

// goShort renders m, a Go value of a kind that may hold pointers, as
// short does: "*pkg.T{Name:\"x\"}", "map[string]int{\"a\":1}", a nil
// pointer as "(*pkg.T)(nil)", an error or a fmt.Stringer as
// "pkg.T(its text)".
func goShort(m any) string {
	v := recorder.FormatMessage(m)
	switch m.(type) {
	case error, fmt.Stringer, []byte:
		return fmt.Sprintf("%T(%s)", m, v)
	}
	if v == "<nil>" {
		return fmt.Sprintf("(%T)(nil)", m)
	}
	v = strings.TrimPrefix(v, "&")
	v = strings.TrimPrefix(v, "map")
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		v = "{" + v[1:len(v)-1] + "}"
	}
	return fmt.Sprintf("%T%s", m, v)
}

// holdsPointers reports whether m is of a kind %#v may print addresses
// in.
func holdsPointers(m any) bool {
	switch reflect.ValueOf(m).Kind() {
	case reflect.Pointer, reflect.Struct, reflect.Slice, reflect.Array, reflect.Map, reflect.Interface:
		return true
	}
	return false
}

// short renders a message on one line, cut to a readable length.
func short(m any) string {
	s := whole(m)
	const maxLen = 120
	if len(s) > maxLen {
		s = s[:maxLen] + "…"
	}
	return s
}

// nilOrWhole is nilOrShort, not cut.
func nilOrWhole(m any) string {
	if m == nil || typedNil(m) {
		return nilOrShort(m)
	}
	return whole(m)
}

// whole renders a message on one line, as short does, but whole.
func whole(m any) string {
	var s string
	if pm, ok := m.(proto.Message); ok {
		if pm.ProtoReflect().IsValid() {
			// As the timeline shows it (long bytes as their length).
			s = fmt.Sprintf("%T%s", m, recorder.FormatMessage(m))
		} else { // a typed nil: a step takes it for an empty message
			s = fmt.Sprintf("(%T)(nil)", m)
		}
	} else if holdsPointers(m) {
		// Not %#v: it prints a pointer inside a value as its address,
		// which differs from run to run. As a proto message's: its type,
		// then its value in braces ("*pkg.T{...}", "[]int{1 2}").
		s = goShort(m)
	} else {
		s = fmt.Sprintf("%#v", m)
	}
	return s
}
