package recorder

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
)

// Messages of no proto type (a custom codec's) are rendered much as fmt's
// %+v renders them, but deterministically: fmt prints a pointer inside a
// value as its address, which differs from run to run and says nothing,
// where formatGo follows it. A value that is an error or a fmt.Stringer
// renders as its method says (as fmt does); a proto message inside one as
// FormatMessage renders proto messages; strings inside a value are quoted,
// and bytes shown as a proto message's are.

// goDepth bounds how deep writeGo follows pointers and nested values.
const goDepth = 8

var (
	stringerType = reflect.TypeFor[fmt.Stringer]()
	errorType    = reflect.TypeFor[error]()
	protoType    = reflect.TypeFor[proto.Message]()
)

// formatGo renders m, a value of no proto type, on one line; see goDepth.
func formatGo(m any) string {
	var b strings.Builder
	left := goBudget
	w := goWriter{b: &b, left: &left}
	w.write(reflect.ValueOf(m), 0)
	return b.String()
}

type goWriter struct {
	b *strings.Builder
	// on is the pointers (and maps) being rendered, outermost first: one
	// met again inside itself is a cycle.
	on []uintptr
	// left is how many more values the rendering may visit. A map whose
	// entries are rendered before they are sorted, where the output's
	// bound cannot stop them, gives each entry a share of its own
	// (withShare), then takes what they used from it.
	left *int
}

// goBudget bounds the values formatGo visits for one message.
const goBudget = 10_000

func (w *goWriter) write(v reflect.Value, depth int) {
	b := w.b
	if full(b) {
		return
	}
	if *w.left <= 0 {
		b.WriteString("…")
		return
	}
	*w.left--
	if !v.IsValid() {
		b.WriteString("<nil>")
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		if v.IsNil() {
			b.WriteString("<nil>")
			return
		}
	}
	if t := v.Type(); t.Kind() == reflect.Struct && reflect.PointerTo(t).Implements(protoType) {
		// A proto message held by value: its fields are the runtime's
		// state, not the message's.
		if !v.CanInterface() {
			b.WriteString("<" + t.String() + ">")
			return
		}
		p := reflect.New(t)
		p.Elem().Set(v)
		b.WriteString(FormatMessage(p.Interface()))
		return
	}
	if v.CanInterface() {
		t := v.Type()
		switch {
		case t.Implements(protoType):
			b.WriteString(FormatMessage(v.Interface()))
			return
		case t.Implements(errorType), t.Implements(stringerType):
			// fmt calls the method, and reports a panic in it.
			fmt.Fprint(b, v.Interface())
			return
		}
	}
	if depth >= goDepth {
		b.WriteString("…")
		return
	}
	switch v.Kind() {
	case reflect.Interface:
		w.write(v.Elem(), depth)
	case reflect.Pointer:
		if !w.enter(v.Pointer()) {
			return
		}
		defer w.leave()
		b.WriteByte('&')
		w.write(v.Elem(), depth+1)
	case reflect.Struct:
		t := v.Type()
		b.WriteByte('{')
		for i := range v.NumField() {
			if full(b) {
				break
			}
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(t.Field(i).Name)
			b.WriteByte(':')
			w.write(v.Field(i), depth+1)
		}
		b.WriteByte('}')
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			writeBytes(b, v.Bytes())
			return
		}
		b.WriteByte('[')
		for i := 0; i < v.Len() && !full(b); i++ {
			if i > 0 {
				b.WriteByte(' ')
			}
			w.write(v.Index(i), depth+1)
		}
		b.WriteByte(']')
	case reflect.Map:
		if !w.enter(v.Pointer()) {
			return
		}
		defer w.leave()
		// Entries are sorted, then rendered: by key value for numbers and
		// strings, else by the keys' text. The texts made for the sort come
		// from equal shares of the budget, each entry's its own: with one
		// shared budget, which entries found it spent would follow the
		// map's random order, and so would the output. Entries whose keys
		// compare alike (pointers to equal values, NaNs, keys cut short)
		// are ordered by their values' texts, made the same way, and show
		// those texts: shown in full, values that differ only past the
		// share would come in the map's random order.
		n := v.Len()
		basic := basicKind(v.Type().Key().Kind())
		per := *w.left / max(1, n)
		if per == 0 && n > 0 {
			// Not a visit per entry: sorting them all would cost what the
			// budget bounds, for the few that the output has room for.
			fmt.Fprintf(b, "map[… %d entries]", n)
			return
		}
		type entry struct {
			key, value reflect.Value // the value as the range gives it: a NaN key finds none
			ktext      string
			vtext      string
			tied       bool // its key compares equal to another's: shown as vtext
		}
		es := make([]*entry, 0, n)
		used := 0
		for it := v.MapRange(); it.Next(); {
			e := &entry{key: it.Key(), value: it.Value()}
			if !basic { // a big map of basic keys is sorted before it is rendered
				e.ktext = w.withShare(e.key, depth+1, per, &used)
			}
			es = append(es, e)
		}
		byKey := func(a, b *entry) int {
			if basic {
				return compareKeys(a.key, b.key) // 0 only for NaNs
			}
			return cmp.Compare(a.ktext, b.ktext)
		}
		slices.SortFunc(es, byKey)
		for i := 0; i < len(es); {
			j := i + 1
			for j < len(es) && byKey(es[i], es[j]) == 0 {
				j++
			}
			if j-i > 1 {
				for _, e := range es[i:j] {
					e.vtext, e.tied = w.withShare(e.value, depth+1, per, &used), true
				}
				// Entries alike in key and value text show alike: their
				// order does not show.
				slices.SortFunc(es[i:j], func(a, b *entry) int { return cmp.Compare(a.vtext, b.vtext) })
			}
			i = j
		}
		*w.left = max(0, *w.left-used)
		b.WriteString("map[")
		for i, e := range es {
			if full(b) {
				break
			}
			if i > 0 {
				b.WriteByte(' ')
			}
			if basic {
				w.write(e.key, depth+1)
			} else {
				b.WriteString(e.ktext)
			}
			b.WriteByte(':')
			if e.tied {
				b.WriteString(e.vtext)
			} else {
				w.write(e.value, depth+1)
			}
		}
		b.WriteByte(']')
	case reflect.Func, reflect.Chan, reflect.UnsafePointer:
		// An address: of no use in a timeline, and never the same twice.
		b.WriteString("<" + v.Type().String() + ">")
	case reflect.String:
		if depth == 0 {
			b.WriteString(v.String())
		} else { // inside a value, quoted as a proto message's strings are
			b.WriteString(strconv.Quote(v.String()))
		}
	case reflect.Bool:
		b.WriteString(strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b.WriteString(strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		b.WriteString(strconv.FormatUint(v.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		b.WriteString(strconv.FormatFloat(v.Float(), 'g', -1, v.Type().Bits()))
	case reflect.Complex64, reflect.Complex128:
		b.WriteString(strconv.FormatComplex(v.Complex(), 'g', -1, v.Type().Bits()))
	}
}

// enter notes that the pointer or map p is being rendered, and reports
// true; if it already is, it writes that it is a cycle and reports false.
// Call leave when done.
func (w *goWriter) enter(p uintptr) bool {
	if slices.Contains(w.on, p) {
		w.b.WriteString("<cycle>")
		return false
	}
	w.on = append(w.on, p)
	return true
}

// leave undoes the latest enter.
func (w *goWriter) leave() { w.on = w.on[:len(w.on)-1] }

// withShare renders v on its own, as part of the value being written,
// with a budget of share visits, and adds the visits it made to *used.
func (w *goWriter) withShare(v reflect.Value, depth, share int, used *int) string {
	var b strings.Builder
	left := share
	sw := goWriter{b: &b, on: w.on, left: &left}
	sw.write(v, depth)
	*used += share - left
	return b.String()
}

// basicKind reports whether map keys of kind k are ordered by value
// (compareKeys), not by their text.
func basicKind(k reflect.Kind) bool {
	switch k {
	case reflect.String, reflect.Bool, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return false
}

// compareKeys orders map keys of a basic kind by value.
func compareKeys(a, b reflect.Value) int {
	switch a.Kind() {
	case reflect.String:
		return cmp.Compare(a.String(), b.String())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return cmp.Compare(a.Int(), b.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return cmp.Compare(a.Uint(), b.Uint())
	case reflect.Float32, reflect.Float64:
		return cmp.Compare(a.Float(), b.Float())
	case reflect.Bool:
		return cmp.Compare(strconv.FormatBool(a.Bool()), strconv.FormatBool(b.Bool()))
	}
	return 0 // not a basic kind
}
