package recorder

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/streamtest/streamtest/internal/textbytes"
)

// BlockedAfter is how long a Send or Recv must have been inside SendMsg or
// RecvMsg for the timeline to show the time it blocked.
const BlockedAfter = time.Millisecond

// maxMsgLen bounds the rendering of one message in a timeline line.
const maxMsgLen = 200

// String renders the kept events as a timeline; see Timeline. A line in
// parentheses comes first when WithLimit dropped events, and when nothing
// was recorded and WithMethods names the methods recorded.
func (r *Recorder) String() string {
	if r == nil {
		return "  (nil Recorder)\n"
	}
	events := r.Events()
	var b strings.Builder
	if d := r.Dropped(); d > 0 {
		fmt.Fprintf(&b, "  (%d earlier events dropped: WithLimit(%d) keeps the newest)\n", d, r.st.limit)
	}
	if len(events) == 0 && r.methods != nil {
		fmt.Fprintf(&b, "  (no events recorded; %s)\n", r.filterNote())
		return b.String()
	}
	b.WriteString(Timeline(events))
	return b.String()
}

// filterNote says which methods WithMethods lets r record.
func (r *Recorder) filterNote() string {
	if len(r.names) == 0 {
		return "WithMethods was given no name, so no method is recorded"
	}
	q := make([]string, len(r.names))
	for i, n := range r.names {
		q[i] = strconv.Quote(n) + nameNote(n)
	}
	return "WithMethods records only " + strings.Join(q, ", ")
}

// nameNote explains, in parentheses, why the WithMethods name n cannot
// match a method name, "/service/method": it would match in full, or as
// the name's end ("Service/Method", "Method"). It returns "" for a name
// that can match.
func nameNote(n string) string {
	const hint = `, name methods in full: "/pkg.Service/Method"`
	full, abs := strings.CutPrefix(n, "/")
	svc, m, ok := strings.Cut(full, "/")
	switch {
	case !ok && !abs && strings.Contains(n, "."):
		return " (a service? it matches only a method of that name" + hint + ")"
	case !ok && !abs && n != "":
		return ""
	case ok && svc != "" && m != "" && !strings.Contains(m, "/"):
		return ""
	}
	return " (matches no method name" + hint + ")"
}

// Timeline renders events one per line, in the order given:
//
//	seq  call  side    kind       method          detail
//
// where detail is the message in compact text form for Send and Recv (with
// the time the call blocked, when it blocked for BlockedAfter or more), the
// metadata for Begin, Header and Trailer (without the keys gRPC adds to
// every call: :authority, content-type, user-agent, and grpc-accept-encoding
// once a compressor is registered), and the status for End.
// Long messages and long status messages are cut short, and of an error
// of several lines only the first is shown, with a count of the others
// (Event.Err keeps all of it). Assertion failures print it.
func Timeline(events []Event) string {
	if len(events) == 0 {
		return "  (no events recorded)\n"
	}
	wm := 0
	for _, e := range events {
		wm = max(wm, len(e.Method))
	}
	var b strings.Builder
	var line []byte
	for _, e := range events {
		line = fmt.Appendf(line[:0], "%5d  call %-3d  %-6s  %-9s  %-*s", e.Seq, e.CallID, e.Side, e.Kind, wm, e.Method)
		if d := detail(e); d != "" {
			line = append(line, "  "...)
			line = append(line, d...)
		}
		// No trailing blanks: lines end where their text does.
		b.Write(bytes.TrimRight(line, " "))
		b.WriteByte('\n')
	}
	return b.String()
}

func detail(e Event) string {
	var parts []string
	switch e.Kind {
	case Begin, Header, Trailer:
		if md := FormatMetadata(e.MD); md != "" {
			parts = append(parts, md)
		}
	case Send, Recv:
		if e.Err == nil || e.Msg != nil {
			parts = append(parts, FormatMessage(e.Msg))
		}
	case End:
		parts = append(parts, formatStatus(e.Err))
	}
	if e.Err != nil && e.Kind != End {
		parts = append(parts, "error: "+formatStatus(e.Err))
	}
	if (e.Kind == Send || e.Kind == Recv) && e.Elapsed >= BlockedAfter {
		parts = append(parts, "(blocked "+roundDuration(e.Elapsed).String()+")")
	}
	return strings.Join(parts, "  ")
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d
}

// formatStatus renders the status of err: its code and message, of which
// the first line only, with a count of the others (a message of several
// lines, such as a diff, is the report's to show, not the timeline's).
func formatStatus(err error) string {
	if err == nil {
		return "OK"
	}
	st, ok := status.FromError(err)
	if !ok {
		first, more := firstLine(err.Error())
		return oneLine(cut(first)) + more
	}
	if st.Message() == "" {
		return st.Code().String()
	}
	first, more := firstLine(st.Message())
	return st.Code().String() + ": " + strconv.Quote(cut(first)) + more
}

// firstLine returns the first line of s that is not blank and, if more
// lines follow it, a note of how many: " (+1 line)", " (+N lines)".
func firstLine(s string) (string, string) {
	lines := strings.Split(strings.TrimRight(s, " \t\r\n"), "\n")
	for len(lines) > 1 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	first := strings.TrimSuffix(lines[0], "\r")
	switch n := len(lines) - 1; n {
	case 0:
		return first, ""
	case 1:
		return first, " (+1 line)"
	default:
		return first, fmt.Sprintf(" (+%d lines)", n)
	}
}

// transportKeys are metadata keys that gRPC itself adds to every call
// (grpc-accept-encoding: to every call of a binary that registered a
// compressor, such as by importing grpc/encoding/gzip). The timeline leaves
// them out (Event.MD keeps them): they say nothing about the call, and
// user-agent changes with every gRPC release. Tests in recorder and e2e
// fail if gRPC adds another.
var transportKeys = map[string]bool{":authority": true, "content-type": true, "user-agent": true, "grpc-accept-encoding": true}

// FormatMetadata renders metadata on one line as the timeline shows it:
// keys sorted, values quoted, md{k:"v" k2:["a" "b"]}, without the keys
// gRPC adds to every call (:authority, content-type, user-agent,
// grpc-accept-encoding); "" if nothing is left. For renderers of events of
// one's own, as FormatMessage is for messages.
func FormatMetadata(md metadata.MD) string {
	keys := make([]string, 0, len(md))
	for k := range md {
		if !transportKeys[k] {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("md{")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(k)
		b.WriteString(":")
		vs := md[k]
		if len(vs) == 1 {
			b.WriteString(strconv.Quote(vs[0]))
			continue
		}
		b.WriteString("[")
		for j, v := range vs {
			if j > 0 {
				b.WriteString(" ")
			}
			b.WriteString(strconv.Quote(v))
		}
		b.WriteString("]")
	}
	b.WriteString("}")
	return b.String()
}

// FormatMessage renders a message on one line: a proto message in compact
// text form with fields in declaration order, then extensions
// (`{room:"go" text:"hi"}`; bytes longer than 16 shown as their length,
// unless they hold text, printable but for at most one character in
// eight: then quoted, the first 64 bytes of it),
// anything else much as %+v renders it, but with pointers followed, not
// printed as addresses, strings inside quoted, and line breaks escaped
// (`&{Room:"go" To:&{Name:"ana"}}`; an error or a fmt.Stringer as its
// method says). The output is deterministic and cut short after 200
// characters.
func FormatMessage(m any) string {
	var s string
	escape := false
	switch v := m.(type) {
	case nil:
		s = "<nil>"
	case proto.Message:
		if nilDynamic(v) {
			s = "<nil *dynamicpb.Message>" // of no message type
			break
		}
		rm := v.ProtoReflect()
		if rm.Descriptor() == nil { // a dynamicpb.Message not made by NewMessage
			s = fmt.Sprintf("<%T of no message type>", m)
			break
		}
		if !rm.IsValid() {
			s = "<nil " + string(rm.Descriptor().FullName()) + ">"
			break
		}
		var b strings.Builder
		writeMessage(&b, rm)
		s = b.String()
	default:
		s, escape = formatGo(m), true
	}
	s = cut(s)
	if escape { // after the cut, which must not split an escape
		s = oneLine(s)
	}
	return s
}

// cut returns s cut short after maxMsgLen runes.
func cut(s string) string {
	if utf8.RuneCountInString(s) > maxMsgLen {
		return string([]rune(s)[:maxMsgLen]) + "…"
	}
	return s
}

// lineBreaks escapes what would break a timeline line in two.
var lineBreaks = strings.NewReplacer("\n", `\n`, "\r", `\r`)

// oneLine returns s with its line breaks escaped: text that is not quoted
// (a value of no proto type, an error's message) keeps the timeline at one
// line per event.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\n\r") {
		return s
	}
	return lineBreaks.Replace(s)
}

// full reports whether enough has been written that FormatMessage will cut
// the rest: rendering stops there, so huge messages cost little.
func full(b *strings.Builder) bool { return b.Len() > maxMsgLen*4 }

func writeMessage(b *strings.Builder, m protoreflect.Message) {
	if full(b) {
		return
	}
	b.WriteByte('{')
	fields := m.Descriptor().Fields()
	n := 0
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		if n > 0 {
			b.WriteByte(' ')
		}
		n++
		b.WriteString(string(fd.Name()))
		b.WriteByte(':')
		writeField(b, fd, m.Get(fd))
		if full(b) {
			break
		}
	}
	// Extensions, after the fields, in order of their numbers, named as in
	// the text format: [pkg.ext].
	var exts []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if fd.IsExtension() {
			exts = append(exts, fd)
		}
		return true
	})
	sort.Slice(exts, func(i, j int) bool { return exts[i].Number() < exts[j].Number() })
	for _, fd := range exts {
		if full(b) {
			break
		}
		if n > 0 {
			b.WriteByte(' ')
		}
		n++
		b.WriteString("[" + string(fd.FullName()) + "]:")
		writeField(b, fd, m.Get(fd))
	}
	b.WriteByte('}')
}

// writeField writes v, the value of field fd: a list, a map or one value.
func writeField(b *strings.Builder, fd protoreflect.FieldDescriptor, v protoreflect.Value) {
	switch {
	case fd.IsList():
		l := v.List()
		b.WriteByte('[')
		for j := 0; j < l.Len() && !full(b); j++ {
			if j > 0 {
				b.WriteByte(' ')
			}
			writeValue(b, fd, l.Get(j))
		}
		b.WriteByte(']')
	case fd.IsMap():
		mp := v.Map()
		type entry struct {
			sortKey string
			key     protoreflect.MapKey
		}
		var keys []entry
		mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
			keys = append(keys, entry{fmt.Sprint(k.Interface()), k})
			return true
		})
		sort.Slice(keys, func(i, j int) bool { return keys[i].sortKey < keys[j].sortKey })
		b.WriteByte('{')
		for j, k := range keys {
			if full(b) {
				break
			}
			if j > 0 {
				b.WriteByte(' ')
			}
			writeValue(b, fd.MapKey(), k.key.Value())
			b.WriteByte(':')
			writeValue(b, fd.MapValue(), mp.Get(k.key))
		}
		b.WriteByte('}')
	default:
		writeValue(b, fd, v)
	}
}

// textBytes is how much of a bytes value that holds text the timeline
// shows.
const textBytes = 64

// writeBytes renders a bytes value: quoted if it is short (16 bytes or
// less) or text (cut after textBytes bytes, with its length), else its
// length.
func writeBytes(b *strings.Builder, bs []byte) {
	switch {
	case len(bs) <= 16:
		b.WriteString(strconv.Quote(string(bs)))
	case !textbytes.Text(bs):
		fmt.Fprintf(b, "<%d bytes>", len(bs))
	case len(bs) <= textBytes:
		b.WriteString(strconv.Quote(string(bs)))
	default:
		n := textBytes
		for n > 0 && !utf8.RuneStart(bs[n]) {
			n--
		}
		fmt.Fprintf(b, "%s… <%d bytes>", strconv.Quote(string(bs[:n])), len(bs))
	}
}

func writeValue(b *strings.Builder, fd protoreflect.FieldDescriptor, v protoreflect.Value) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		writeMessage(b, v.Message())
	case protoreflect.StringKind:
		b.WriteString(strconv.Quote(v.String()))
	case protoreflect.BytesKind:
		writeBytes(b, v.Bytes())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			b.WriteString(string(ev.Name()))
		} else {
			b.WriteString(strconv.Itoa(int(v.Enum())))
		}
	default:
		fmt.Fprint(b, v.Interface())
	}
}
