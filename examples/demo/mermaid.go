package main

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/recorder"
)

// writeMermaid renders events as a Mermaid sequence diagram with two
// participants, Client and Server. Every label starts with the event's
// Seq, so the diagram reads in the same order as the timeline:
//
//   - Send: a solid arrow from the sender, with the message;
//   - Recv: a dashed arrow into the receiver, with the message and the
//     time RecvMsg blocked;
//   - CloseSend: an open arrow from the client;
//   - Begin, Header, Trailer and End, and a Send or Recv that failed
//     (nothing crossed): notes over the side that recorded them; Begin
//     names the call, End gives its status code.
func writeMermaid(w io.Writer, events []recorder.Event) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("sequenceDiagram\n")
	bw.WriteString("    participant C as Client\n")
	bw.WriteString("    participant S as Server\n")
	for _, e := range events {
		bw.WriteString("    ")
		bw.WriteString(mermaidLine(e))
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// mermaidLine renders one event as one diagram statement.
func mermaidLine(e recorder.Event) string {
	self, peer := "C", "S"
	if e.Side == recorder.Server {
		self, peer = "S", "C"
	}
	label := fmt.Sprintf("%d %s", e.Seq, e.Kind)
	if (e.Kind == recorder.Send || e.Kind == recorder.Recv) && e.Err != nil {
		// Nothing crossed: a note on the side that failed, not an arrow.
		return fmt.Sprintf("Note over %s: %s", self, mermaidText(label+" "+messageText(e)))
	}
	switch e.Kind {
	case recorder.Begin:
		return fmt.Sprintf("Note over %s: %s", self, mermaidText(fmt.Sprintf("%s call %d %s", label, e.CallID, shortMethod(e.Method))))
	case recorder.Header, recorder.Trailer:
		return fmt.Sprintf("Note over %s: %s", self, mermaidText(strings.TrimSpace(label+" "+recorder.FormatMetadata(e.MD))))
	case recorder.End:
		return fmt.Sprintf("Note over %s: %s", self, mermaidText(fmt.Sprintf("%s call %d %s", label, e.CallID, statusText(e.Err))))
	case recorder.Send:
		return fmt.Sprintf("%s->>%s: %s", self, peer, mermaidText(label+" "+messageText(e)))
	case recorder.Recv:
		return fmt.Sprintf("%s-->>%s: %s", peer, self, mermaidText(label+" "+messageText(e)))
	case recorder.CloseSend:
		return fmt.Sprintf("%s-)%s: %s", self, peer, mermaidText(label))
	}
	return fmt.Sprintf("Note over %s: %s", self, mermaidText(label))
}

// shortMethod turns "/pkg.Service/Method" into "Service/Method".
func shortMethod(full string) string {
	svc, method := path.Split(strings.TrimPrefix(full, "/"))
	svc = strings.TrimSuffix(svc, "/")
	if i := strings.LastIndexByte(svc, '.'); i >= 0 {
		svc = svc[i+1:]
	}
	if svc == "" {
		return method
	}
	return svc + "/" + method
}

// messageText is the message of a Send or Recv, its error, and the time
// the call blocked when that was long enough to matter.
func messageText(e recorder.Event) string {
	var parts []string
	if e.Msg != nil {
		parts = append(parts, recorder.FormatMessage(e.Msg))
	}
	if e.Err != nil {
		parts = append(parts, "error "+statusText(e.Err))
	}
	if e.Elapsed >= recorder.BlockedAfter {
		parts = append(parts, "(blocked "+e.Elapsed.Round(time.Microsecond).String()+")")
	}
	return strings.Join(parts, " ")
}

// statusText is the status code of err ("OK" for nil) and its message.
func statusText(err error) string {
	st := status.Convert(err)
	if st.Message() == "" {
		return st.Code().String()
	}
	return st.Code().String() + ": " + st.Message()
}

// mermaidEscaper keeps label text from being read as Mermaid syntax:
// '#' starts an entity code, ';' ends a statement, '<' and '>' are HTML,
// and a line break ends the label.
var mermaidEscaper = strings.NewReplacer(
	"#", "#35;",
	";", "#59;",
	"<", "#lt;",
	">", "#gt;",
	"\r", " ",
	"\n", " ",
)

// mermaidText escapes s for use as a Mermaid message or note label.
func mermaidText(s string) string {
	return mermaidEscaper.Replace(s)
}
