package grpctest

import (
	"bytes"
	"context"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"

	"github.com/streamtest/streamtest/internal/goid"
)

func TestParseLabels(t *testing.T) {
	got := parseLabels(`{"a":"1", "streamtest.method":"/x.Y/Z", "q":"with \"quote\", comma"}`)
	want := map[string]string{"a": "1", "streamtest.method": "/x.Y/Z", "q": `with "quote", comma`}
	if len(got) != len(want) {
		t.Fatalf("parseLabels = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("label %q = %q, want %q", k, got[k], v)
		}
	}
}

func TestParseRecord(t *testing.T) {
	rec := "2 @ 0x48f10e 0x46b505\n" +
		"# labels: {\"streamtest.harness\":\"7\", \"streamtest.side\":\"server\"}\n" +
		"#\t0x46b504\truntime.selectgo+0x7c4\t/go/src/runtime/select.go:351\n" +
		"#\t0x9b871d\texample.com/p.(*T).run+0x7d\t\t/src/p/p.go:42\n"
	g, ok := parseRecord(rec)
	if !ok || g.count != 2 || g.labels[labelHarness] != "7" {
		t.Fatalf("parseRecord = %+v, %v", g, ok)
	}
	if len(g.frames) != 1 || g.frames[0] != (frame{"example.com/p.(*T).run", "/src/p/p.go:42"}) {
		t.Errorf("frames = %v, want only the non-runtime frame", g.frames)
	}
	if _, ok := parseRecord("goroutine profile: total 3\n1 @ 0x1\n"); ok {
		t.Errorf("the profile header parsed as a record")
	}
}

// The goroutine profile is read for real: a labelled goroutine is found,
// with its full traceback, and the first record of the profile counts too.
// labelRuns numbers the runs of TestLabelledFindsGoroutinesOfOneHarnessOnly,
// so that with -count > 1 a run never sees the goroutines of the one
// before, which may still be exiting.
var labelRuns atomic.Int64

func TestLabelledFindsGoroutinesOfOneHarnessOnly(t *testing.T) {
	run := strconv.FormatInt(labelRuns.Add(1), 10)
	a, b, c := "test-a-"+run, "test-b-"+run, "test-c-"+run
	release := make(chan struct{})
	var parked sync.WaitGroup
	defer func() {
		close(release)
		parked.Wait()
	}()
	started := make(chan struct{}, 3)
	for _, id := range []string{a, a, b} {
		pprof.Do(context.Background(), pprof.Labels(labelHarness, id), func(context.Context) {
			parked.Add(1)
			go func() {
				defer parked.Done()
				parkForLabelTest(started, release)
			}()
		})
	}
	for range 3 {
		<-started
	}
	groups := awaitLabelled(a, time.Now(), func(goroutineGroup) bool { return false })
	if len(groups) != 1 || groups[0].count != 2 {
		t.Fatalf("labelled(%s) = %+v, want one group of 2", a, groups)
	}
	if !strings.Contains(groups[0].full, "created by github.com/streamtest/streamtest/grpctest.TestLabelledFindsGoroutinesOfOneHarnessOnly") {
		t.Errorf("traceback not matched:\n%s", groups[0].full)
	}
	if got := awaitLabelled(c, time.Now(), func(goroutineGroup) bool { return false }); len(got) != 0 {
		t.Errorf("labelled(%s) = %+v, want none", c, got)
	}
}

// Two harnesses' goroutines with the same stack: a report must not show
// the other's goroutine as its own. Without labels in tracebacks it says
// that it cannot tell them apart, and keeps no goroutine number; with
// GODEBUG=tracebacklabels=1 it shows its own.
func TestTracebackOfGoroutinesAlikeIsNotAnothersAsOurs(t *testing.T) {
	run := strconv.FormatInt(labelRuns.Add(1), 10)
	a, b := "alike-a-"+run, "alike-b-"+run
	release := make(chan struct{})
	var parked sync.WaitGroup
	defer func() {
		close(release)
		parked.Wait()
	}()
	ids := make(map[string]string) // harness: goroutine number
	for _, id := range []string{b, a} {
		got := make(chan string)
		pprof.Do(context.Background(), pprof.Labels(labelHarness, id), func(context.Context) {
			parked.Add(1)
			go func() {
				defer parked.Done()
				parkWithID(got, release)
			}()
		})
		ids[id] = <-got
	}
	render := func() (goroutineGroup, string) {
		t.Helper()
		groups := awaitLabelled(a, time.Now(), func(goroutineGroup) bool { return false })
		if len(groups) != 1 || groups[0].count != 1 {
			t.Fatalf("labelled(%s) = %+v, want one group of 1", a, groups)
		}
		var sb strings.Builder
		groups[0].render(&sb, "")
		return groups[0], sb.String()
	}

	setTracebackLabels(t, "0") // as without VerifyTestMain
	g, out := render()
	if g.alike != 2 || !strings.Contains(out, "goroutine ? [") || !strings.Contains(out, "] (one of 2 goroutines with this stack, some not this harness's") {
		t.Errorf("two goroutines alike, alike = %d; the report does not say it cannot tell them apart:\n%s", g.alike, out)
	}
	for _, id := range ids {
		if strings.Contains(out, "goroutine "+id+" ") || strings.Contains(out, "in goroutine ") {
			t.Errorf("the report names a goroutine number, which may be another harness's:\n%s", out)
		}
	}
	if !strings.Contains(out, "created by github.com/streamtest/streamtest/grpctest.TestTracebackOfGoroutinesAlikeIsNotAnothersAsOurs") {
		t.Errorf("the report lost the goroutine's creator:\n%s", out)
	}

	setTracebackLabels(t, "1")
	g, out = render()
	if g.alike != 0 || !strings.HasPrefix(g.full, "goroutine "+ids[a]+" [") {
		t.Errorf("with tracebacklabels=1, alike = %d and the traceback is not harness %s's goroutine %s:\n%s", g.alike, a, ids[a], out)
	}
}

// godebugAtStart is GODEBUG as the test binary got it, before TestMain.
var godebugAtStart = os.Getenv("GODEBUG")

// VerifyTestMain, which this package's TestMain calls, turns labels in
// tracebacks on.
func TestVerifyTestMainTurnsOnTracebackLabels(t *testing.T) {
	for _, kv := range strings.Split(godebugAtStart, ",") {
		if strings.HasPrefix(kv, "tracebacklabels=") {
			t.Skipf("GODEBUG=%s sets tracebacklabels: VerifyTestMain leaves it", godebugAtStart)
		}
	}
	pprof.Do(context.Background(), pprof.Labels("streamtest.test", "main"), func(context.Context) {
		buf := make([]byte, 256)
		if head, _, _ := strings.Cut(string(buf[:runtime.Stack(buf, false)]), "\n"); !strings.Contains(head, `labels:{"streamtest.test": "main"}`) {
			t.Errorf("under VerifyTestMain (GODEBUG=%s), a traceback begins %q, without the goroutine's labels", os.Getenv("GODEBUG"), head)
		}
	})
}

// setTracebackLabels sets tracebacklabels in GODEBUG to v for the rest of
// the test, keeping GODEBUG's other settings.
func setTracebackLabels(t *testing.T, v string) {
	var kept []string
	for _, kv := range strings.Split(os.Getenv("GODEBUG"), ",") {
		if k, _, _ := strings.Cut(kv, "="); k != "" && k != "tracebacklabels" {
			kept = append(kept, kv)
		}
	}
	t.Setenv("GODEBUG", strings.Join(append(kept, "tracebacklabels="+v), ","))
}

// VerifyTestMain turns labels in tracebacks on, unless GODEBUG says
// otherwise.
func TestEnableTracebackLabels(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"", "tracebacklabels=1"},
		{"panicnil=1", "panicnil=1,tracebacklabels=1"},
		{"tracebacklabels=0", "tracebacklabels=0"},
		{"tracebacklabels=1", "tracebacklabels=1"},
		{"panicnil=1, tracebacklabels=1", "panicnil=1, tracebacklabels=1,tracebacklabels=1"}, // " tracebacklabels" is no setting for the runtime
	} {
		t.Setenv("GODEBUG", tc.env)
		enableTracebackLabels()
		if got := os.Getenv("GODEBUG"); got != tc.want {
			t.Errorf("GODEBUG=%q: after enableTracebackLabels %q, want %q", tc.env, got, tc.want)
		}
	}
	t.Setenv("GODEBUG", "")
	enableTracebackLabels()
	pprof.Do(context.Background(), pprof.Labels("streamtest.test", "on"), func(context.Context) {
		buf := make([]byte, 256)
		if head, _, _ := strings.Cut(string(buf[:runtime.Stack(buf, false)]), "\n"); !strings.Contains(head, `labels:{"streamtest.test": "on"}`) {
			t.Errorf("with GODEBUG=%s, a traceback begins %q, without the goroutine's labels", os.Getenv("GODEBUG"), head)
		}
	})
}

// parkWithID sends its goroutine's number, then waits for release.
func parkWithID(id chan<- string, release <-chan struct{}) {
	id <- strconv.FormatUint(goid.ID(), 10)
	<-release
}

func parkForLabelTest(started chan<- struct{}, release <-chan struct{}) {
	started <- struct{}{}
	<-release
}

func TestCallSiteSkipsLibraryFrames(t *testing.T) {
	if got := callSite(); !strings.HasPrefix(got, "testing.go:") {
		// callSite skips 3 frames (itself, runtime.Callers, its caller);
		// from a test function that leaves the testing package.
		t.Errorf("callSite() = %q, want the caller's caller (testing.go)", got)
	}
}

// Version drift: check (c) relies on every goroutine gRPC starts for a
// harness descending from a labelled one. If a gRPC upgrade starts
// goroutines from somewhere the harness does not label, this test fails
// and names them.
func TestEveryGRPCGoroutineCarriesAHarnessLabel(t *testing.T) {
	srv := NewServer(t, func(s *grpc.Server) { testgrpc.RegisterTestServiceServer(s, interop.NewTestServer()) })
	c := testgrpc.NewTestServiceClient(srv.Conn())
	open := func() testgrpc.TestService_FullDuplexCallClient {
		stream, err := c.FullDuplexCall(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
		return stream
	}
	open()
	srv.Disconnect() // the next call reconnects from the test goroutine
	open()
	interop.DoEmptyUnaryCall(t.Context(), c)

	// Goroutines of other tests' harnesses carry their own labels; an
	// unlabelled gRPC goroutine left by another test (a GracefulStop that
	// waited for a stuck handler) goes away: retry a while.
	var unlabelled []goroutineGroup
	for delay := time.Millisecond; delay < 2*time.Second; delay *= 2 {
		unlabelled = unlabelledGRPC()
		if len(unlabelled) == 0 {
			return
		}
		time.Sleep(delay)
	}
	var b strings.Builder
	for _, g := range withTracebacks(unlabelled) {
		g.render(&b, "")
	}
	t.Errorf("gRPC goroutines without a harness label (check (c) cannot see them; label where they start):\n%s", b.String())
}

func unlabelledGRPC() []goroutineGroup {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return nil
	}
	_, body, _ := strings.Cut(buf.String(), "\n")
	var out []goroutineGroup
	for _, rec := range strings.Split(body, "\n\n") {
		if strings.Contains(rec, "# labels:") || !strings.Contains(rec, "google.golang.org/grpc") ||
			// time.AfterFunc callbacks of bufconn deadlines: unlabelled by
			// nature, and done at once.
			strings.Contains(rec, "google.golang.org/grpc/test/bufconn.newPipe.func") {
			continue
		}
		g, _ := parseRecord(rec)
		out = append(out, g)
	}
	return out
}

// Every call through a harness connection gives the calling goroutine back
// exactly the labels it had (the same label set, not an equal one), whatever
// labels the call's context carries: here the goroutine's come from pprof.Do
// and the context's are another harness's.
func TestCallsThroughTheHarnessRestoreTheCallersLabels(t *testing.T) {
	srv := NewServer(t, func(s *grpc.Server) { testgrpc.RegisterTestServiceServer(s, interop.NewTestServer()) })
	c := testgrpc.NewTestServiceClient(srv.Conn())
	ctx := pprof.WithLabels(t.Context(), pprof.Labels(labelHarness, "another", labelMethod, "/x.Y/Z"))
	pprof.Do(context.Background(), pprof.Labels("owner", "the test"), func(context.Context) {
		want := getProfLabel()
		check := func(after string, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", after, err)
			}
			if getProfLabel() != want {
				t.Errorf("after %s, the goroutine's labels are not the ones it had", after)
				setProfLabel(want) // so that each call is checked on its own
			}
		}
		_, err := c.EmptyCall(ctx, &testgrpc.Empty{})
		check("a unary call", err)
		stream, err := c.FullDuplexCall(ctx)
		check("opening a stream", err)
		err = stream.Send(&testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}}})
		check("Send", err)
		_, err = stream.Header()
		check("Header", err)
		_, err = stream.Recv()
		check("Recv", err)
		check("CloseSend", stream.CloseSend())
		if _, err = stream.Recv(); err != io.EOF {
			t.Fatalf("Recv after CloseSend: %v, want io.EOF", err)
		}
		check("the last Recv", nil)
	})
}

// Two records of the profile whose goroutines are at different PCs of the
// same lines (one caught before it parked) are one group: same frames,
// same labels.
func TestGroupsInMergesRecordsOfTheSameFrames(t *testing.T) {
	const profile = `goroutine profile: total 5
1 @ 0x47d92e 0x4158ee 0x4dc0f8 0x4dc101
# labels: {"streamtest.harness":"h1"}
#	0x4dc0f8	example.com/x.park+0x18	/src/x.go:12
#	0x4dc101	example.com/x.start.func1+0x21	/src/x.go:20

1 @ 0x47d930 0x4158f0 0x4dc0fa 0x4dc101
# labels: {"streamtest.harness":"h1"}
#	0x4dc0fa	example.com/x.park+0x1a	/src/x.go:12
#	0x4dc101	example.com/x.start.func1+0x21	/src/x.go:20

1 @ 0x47d930 0x4158f0 0x4dc0fa 0x4dc101
# labels: {"streamtest.harness":"h1", "streamtest.method":"/a.B/C"}
#	0x4dc0fa	example.com/x.park+0x1a	/src/x.go:12
#	0x4dc101	example.com/x.start.func1+0x21	/src/x.go:20

1 @ 0x47d930 0x4158f0 0x4dc0fa 0x4dc101
# labels: {"streamtest.harness":"h1"}
#	0x4dc0fa	example.com/x.park+0x1a	/src/x.go:13
#	0x4dc101	example.com/x.start.func1+0x21	/src/x.go:20

1 @ 0x47d930 0x4158f0
# labels: {"streamtest.harness":"h1"}
#	0x47d930	runtime.goexit1+0x10	/go/src/runtime/proc.go:4300
`
	groups := groupsIn(profile, labelHarness, "h1")
	var counts []int
	for _, g := range groups {
		counts = append(counts, g.count)
	}
	// The first two merge; other labels, or another line, stay apart; a
	// goroutine with nothing but runtime frames is exiting, not left.
	if !slices.Equal(counts, []int{2, 1, 1}) {
		t.Errorf("groups of %v goroutines, want [2 1 1]:\n%+v", counts, groups)
	}
}

// The module's own goroutines run a test's code for one call: never an
// exemption to offer. Its tests' functions, and other modules', may be.
func TestOwnLibrary(t *testing.T) {
	for fn, want := range map[string]bool{
		"github.com/streamtest/streamtest/fakes.(*Server).runFunc":           true,
		"github.com/streamtest/streamtest/grpctest.(*Pending[...]).run":      true,
		"github.com/streamtest/streamtest/internal/goid.ID":                  true,
		"github.com/streamtest/streamtest/fakes_test.TestX.func1":            false,
		"github.com/streamtest/streamtest/examples/demo_test.worker":         false,
		"example.com/app/cache.(*Cache).refresh":                             false,
		"github.com/streamtest/streamtestother/fakes.(*Server).runFunc":      false,
		"google.golang.org/grpc/internal/transport.(*http2Server).keepalive": false,
	} {
		if got := ownLibrary(fn); got != want {
			t.Errorf("ownLibrary(%q) = %v, want %v", fn, got, want)
		}
	}
}

// retries counts the attempts: the last one the retry policy allows is
// not retried (gRPC returns its status), an earlier one is, for the codes
// the policy names only.
func TestRetriesCountsTheAttempts(t *testing.T) {
	s := NewServer(t, func(g *grpc.Server) { testgrpc.RegisterTestServiceServer(g, interop.NewTestServer()) },
		WithDialOptions(grpc.WithDefaultServiceConfig(`{"methodConfig":[{"name":[{"service":"grpc.testing.TestService"}],
		"retryPolicy":{"maxAttempts":2,"initialBackoff":"0.01s","maxBackoff":"0.01s","backoffMultiplier":1.0,"retryableStatusCodes":["UNAVAILABLE"]}}]}`)))
	// A call brings the channel's service config.
	if _, err := testgrpc.NewTestServiceClient(s.Conn()).EmptyCall(t.Context(), &testgrpc.Empty{}); err != nil {
		t.Fatal(err)
	}
	const method = "/grpc.testing.TestService/FullDuplexCall"
	for _, tc := range []struct {
		code    codes.Code
		attempt int
		want    bool
	}{
		{codes.Unavailable, 1, true},
		{codes.Unavailable, 2, false},
		{codes.Internal, 1, false},
	} {
		if got := retries(s.Conn(), method, tc.code, tc.attempt); got != tc.want {
			t.Errorf("retries(%v, attempt %d) = %v, want %v", tc.code, tc.attempt, got, tc.want)
		}
	}
	for md, want := range map[string]int{"": 1, "1": 2, "x": 1} {
		var m metadata.MD
		if md != "" {
			m = metadata.Pairs("grpc-previous-rpc-attempts", md)
		}
		if got := attemptOf(m); got != want {
			t.Errorf("attemptOf(%v) = %d, want %d", m, got, want)
		}
	}
}

// callsNote names at most five calls, and says how many of the calls a
// report is about the timeline does not show (an interceptor replaced
// their metadata, and with it the recorder's tag).
func TestCallsNote(t *testing.T) {
	for _, tc := range []struct {
		ids  []uint64
		n    int
		want string
	}{
		{nil, 2, ""},
		{[]uint64{7}, 1, ": call 7 in the timeline"},
		{[]uint64{7}, 3, ": call 7 in the timeline, 2 not found in it"},
		{[]uint64{7, 9}, 2, ": calls 7 and 9 in the timeline"},
		{[]uint64{1, 2, 3, 4, 5, 6, 7}, 7, ": calls 1, 2, 3, 4, 5 and 2 more in the timeline"},
	} {
		if got := callsNote(tc.ids, tc.n); got != tc.want {
			t.Errorf("callsNote(%v, %d) = %q, want %q", tc.ids, tc.n, got, tc.want)
		}
	}
}
