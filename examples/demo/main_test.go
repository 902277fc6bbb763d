package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/examples/chatpb"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/recorder"
)

func TestMain(m *testing.M) {
	grpctest.VerifyTestMain(m)
}

// runDemo calls run and returns its exit code, stdout and stderr.
func runDemo(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

var allMethods = []string{
	chatpb.Chat_Post_FullMethodName,
	chatpb.Chat_Subscribe_FullMethodName,
	chatpb.Chat_Upload_FullMethodName,
	chatpb.Chat_Talk_FullMethodName,
}

func TestRunPrintsTimeline(t *testing.T) {
	defer goleak.VerifyNone(t) // the demo shuts down everything it started

	code, out, errOut := runDemo()
	if code != 0 || errOut != "" {
		t.Fatalf("run() = %d, stderr %q; want 0 and no stderr", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	var client, server int
	for _, l := range lines {
		switch {
		case strings.Contains(l, " client "):
			client++
		case strings.Contains(l, " server "):
			server++
		default:
			t.Errorf("timeline line names neither side: %q", l)
		}
	}
	if client == 0 || server == 0 {
		t.Errorf("timeline has %d client and %d server lines; want both sides:\n%s", client, server, out)
	}
	for _, m := range allMethods {
		if !strings.Contains(out, m) {
			t.Errorf("timeline does not mention %s:\n%s", m, out)
		}
	}
	for _, kind := range []string{" begin ", " header ", " send ", " recv ", " closesend ", " end "} {
		if !strings.Contains(out, kind) {
			t.Errorf("timeline has no%sevent:\n%s", kind, out)
		}
	}
	// The canceled Subscribe ends Canceled on both sides.
	if n := strings.Count(out, `end        `+chatpb.Chat_Subscribe_FullMethodName+`  Canceled`); n != 2 {
		t.Errorf("timeline has %d Subscribe ends with Canceled, want 2 (client and server):\n%s", n, out)
	}
}

// mermaidStatement is the shape of every line after the header.
var mermaidStatement = regexp.MustCompile(`^    (participant [CS] as (Client|Server)|Note over [CS]: \d+ .+|[CS](->>|-->>|-\))[CS]: \d+ .+)$`)

func TestRunMermaid(t *testing.T) {
	code, out, errOut := runDemo("-mermaid")
	if code != 0 || errOut != "" {
		t.Fatalf("run(-mermaid) = %d, stderr %q; want 0 and no stderr", code, errOut)
	}
	if !strings.HasPrefix(out, "sequenceDiagram\n") {
		t.Fatalf("output does not start with sequenceDiagram:\n%s", out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")[1:]
	for _, l := range lines {
		if !mermaidStatement.MatchString(l) {
			t.Errorf("not a statement of ours: %q", l)
		}
	}
	for _, want := range []string{
		"    participant C as Client",
		"    participant S as Server",
		`C->>S: `,            // client send
		`C-->>S: `,           // server recv
		`S->>C: `,            // server send
		`S-->>C: `,           // client recv
		`C-)S: `,             // closesend
		` Chat/Talk`,         // begin notes name the call
		` Canceled: `,        // end notes give the status code
		` OK`,                // ... also when it is OK
		`#lt;1024 bytes#gt;`, // label text is escaped
	} {
		if !strings.Contains(out, want) {
			t.Errorf("diagram has no %q:\n%s", want, out)
		}
	}
}

func TestRunJSONLines(t *testing.T) {
	code, out, errOut := runDemo("-json")
	if code != 0 || errOut != "" {
		t.Fatalf("run(-json) = %d, stderr %q; want 0 and no stderr", code, errOut)
	}
	type event struct {
		Seq       *uint64         `json:"seq"`
		Call      uint64          `json:"call"`
		Method    string          `json:"method"`
		Side      string          `json:"side"`
		Kind      string          `json:"kind"`
		Msg       json.RawMessage `json:"msg"`
		MD        metadata.MD     `json:"md"`
		Err       string          `json:"err"`
		Code      string          `json:"code"`
		Time      time.Time       `json:"time"`
		ElapsedNS *int64          `json:"elapsed_ns"`
	}
	var lastSeq uint64
	methods := map[string]bool{}
	ends := map[string]int{}
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var e event
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("line %d is not one of our JSON events: %v\n%s", i+1, err, line)
		}
		if e.Seq == nil || *e.Seq <= lastSeq {
			t.Errorf("line %d: seq %v after %d, want strictly increasing", i+1, e.Seq, lastSeq)
		} else {
			lastSeq = *e.Seq
		}
		if e.Call == 0 || e.Method == "" || (e.Side != "client" && e.Side != "server") || e.Kind == "" || e.Time.IsZero() || e.ElapsedNS == nil {
			t.Errorf("line %d lacks a field: %s", i+1, line)
		}
		methods[e.Method] = true
		switch e.Kind {
		case "send", "recv":
			if len(e.Msg) == 0 && e.Err == "" {
				t.Errorf("line %d: %s without msg or err: %s", i+1, e.Kind, line)
			}
		case "end":
			if e.Code == "" {
				t.Errorf("line %d: end without code: %s", i+1, line)
			}
			ends[e.Method+" "+e.Side+" "+e.Code]++
		}
	}
	for _, m := range allMethods {
		if !methods[m] {
			t.Errorf("no event of %s", m)
		}
	}
	for _, side := range []string{"client", "server"} {
		if key := chatpb.Chat_Subscribe_FullMethodName + " " + side + " Canceled"; ends[key] != 1 {
			t.Errorf("%d ends %q, want 1; ends: %v", ends[key], key, ends)
		}
		if key := chatpb.Chat_Talk_FullMethodName + " " + side + " OK"; ends[key] != 1 {
			t.Errorf("%d ends %q, want 1; ends: %v", ends[key], key, ends)
		}
	}
}

func TestRunBadUsage(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		message string
	}{
		{[]string{"-nosuchflag"}, "flag provided but not defined: -nosuchflag"},
		{[]string{"-mermaid", "-json"}, "-mermaid and -json cannot be used together"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-json=maybe"}, "invalid boolean value"},
	} {
		code, out, errOut := runDemo(tc.args...)
		if code != 2 {
			t.Errorf("run(%q) = %d, want 2", tc.args, code)
		}
		if out != "" {
			t.Errorf("run(%q) wrote to stdout: %q", tc.args, out)
		}
		if !strings.Contains(errOut, tc.message) || !strings.Contains(errOut, "usage: demo") {
			t.Errorf("run(%q) stderr = %q; want %q and the usage", tc.args, errOut, tc.message)
		}
	}
}

func TestRunHelp(t *testing.T) {
	code, out, errOut := runDemo("-h")
	if code != 0 || out != "" || !strings.Contains(errOut, "usage: demo") || !strings.Contains(errOut, "-mermaid") {
		t.Errorf("run(-h) = %d, stdout %q, stderr %q; want 0 and the usage on stderr", code, out, errOut)
	}
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRunReportsWriteError(t *testing.T) {
	for _, args := range [][]string{nil, {"-mermaid"}, {"-json"}} {
		var stderr bytes.Buffer
		if code := run(args, failingWriter{}, &stderr); code != 1 || !strings.Contains(stderr.String(), "disk full") {
			t.Errorf("run(%q) to a failing writer = %d, stderr %q; want 1 and the error", args, code, stderr.String())
		}
	}
}

func TestMermaidEscapesLabels(t *testing.T) {
	e := recorder.Event{
		Seq: 7, CallID: 2, Method: chatpb.Chat_Talk_FullMethodName, Side: recorder.Server, Kind: recorder.Send,
		Msg: &chatpb.Message{Room: "a;b", Text: "#1 <b>\nnext line"},
	}
	got := mermaidLine(e)
	want := `S->>C: 7 send {room:"a#59;b" text:"#35;1 #lt;b#gt;\nnext line"}`
	if got != want {
		t.Errorf("mermaidLine:\n got %s\nwant %s", got, want)
	}
	// A raw newline in a non-proto message must not end the statement.
	e.Msg = "two\nlines;"
	entity := regexp.MustCompile(`#(\d+|[a-z]+);`)
	if got := mermaidLine(e); strings.ContainsAny(entity.ReplaceAllString(got, ""), "\n;#") {
		t.Errorf("mermaidLine(%q) = %q: a newline, ';' or '#' would break the diagram", e.Msg, got)
	}
}

func TestMermaidLineKinds(t *testing.T) {
	canceled := status.Error(codes.Canceled, "context canceled")
	for _, tc := range []struct {
		e    recorder.Event
		want string
	}{
		{recorder.Event{Seq: 1, CallID: 3, Method: "/pkg.v1.Svc/M", Side: recorder.Client, Kind: recorder.Begin}, "Note over C: 1 begin call 3 Svc/M"},
		{recorder.Event{Seq: 2, Side: recorder.Client, Kind: recorder.CloseSend}, "C-)S: 2 closesend"},
		{recorder.Event{Seq: 3, Side: recorder.Client, Kind: recorder.Recv, Msg: &chatpb.Ack{Id: "1"}, Elapsed: 2 * time.Millisecond}, `S-->>C: 3 recv {id:"1"} (blocked 2ms)`},
		{recorder.Event{Seq: 4, Side: recorder.Server, Kind: recorder.Recv, Err: canceled}, "Note over S: 4 recv error Canceled: context canceled"}, // nothing crossed
		{recorder.Event{Seq: 4, Side: recorder.Client, Kind: recorder.Send, Msg: &chatpb.Ack{Id: "1"}, Err: canceled}, `Note over C: 4 send {id:"1"} error Canceled: context canceled`},
		{recorder.Event{Seq: 5, Side: recorder.Server, Kind: recorder.Header, MD: metadata.Pairs("b", "2", "a", "1", "content-type", "application/grpc")}, "Note over S: 5 header md{a:\"1\" b:\"2\"}"},
		{recorder.Event{Seq: 6, Side: recorder.Client, Kind: recorder.Trailer}, "Note over C: 6 trailer"},
		{recorder.Event{Seq: 7, CallID: 3, Side: recorder.Server, Kind: recorder.End, Err: canceled}, "Note over S: 7 end call 3 Canceled: context canceled"},
		{recorder.Event{Seq: 8, CallID: 3, Side: recorder.Client, Kind: recorder.End}, "Note over C: 8 end call 3 OK"},
	} {
		if got := mermaidLine(tc.e); got != tc.want {
			t.Errorf("mermaidLine(%v %v):\n got %s\nwant %s", tc.e.Side, tc.e.Kind, got, tc.want)
		}
	}
}

func TestJSONEventForms(t *testing.T) {
	var buf bytes.Buffer
	events := []recorder.Event{
		{Seq: 1, CallID: 1, Method: "/m", Side: recorder.Client, Kind: recorder.Send, Msg: &chatpb.Message{Room: "r", Payload: []byte{1}}},
		{Seq: 2, CallID: 1, Method: "/m", Side: recorder.Server, Kind: recorder.Recv, Msg: "custom codec <value>"},
		{Seq: 3, CallID: 1, Method: "/m", Side: recorder.Server, Kind: recorder.End, Err: status.Error(codes.InvalidArgument, "bad")},
	}
	if err := writeJSONLines(&buf, events); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines for 3 events:\n%s", len(lines), buf.String())
	}
	for i, want := range []string{
		`"msg":{"room":"r","payload":"AQ=="}`,
		`"msg":"custom codec <value>"`,
		`"err":"rpc error: code = InvalidArgument desc = bad","code":"InvalidArgument"`,
	} {
		// protojson may add spaces; the encoder compacts raw messages.
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d = %s\nwant it to contain %s", i+1, lines[i], want)
		}
	}
}

func BenchmarkRun(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if code := run(nil, io.Discard, io.Discard); code != 0 {
			b.Fatalf("run() = %d", code)
		}
	}
}
