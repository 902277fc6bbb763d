// Package grpctest gives a test an in-process gRPC client and server in one
// line, and tells it at teardown which stream, handler or goroutine it left
// behind.
//
//	func TestChat(t *testing.T) {
//		srv := grpctest.NewServer(t, func(s *grpc.Server) { pb.RegisterChatServer(s, &chat{}) })
//		stream, _ := pb.NewChatClient(srv.Conn()).Chat(t.Context())
//		recv := grpctest.Go(t, stream.Recv)
//		recv.AssertBlocked(50 * time.Millisecond) // nothing sent yet
//		stream.Send(&pb.Msg{Text: "hi"})
//		got, _ := recv.Wait(time.Second)
//		grpctest.AssertMessages(t, []any{&pb.Msg{Text: "hi"}}, []any{got})
//		grpctest.AssertOrder(t, srv.Recorder(), grpctest.ClientSends(nil), grpctest.ServerReceives(nil))
//	} // Close runs here: streams, handlers and goroutines are checked
//
// # The harness
//
// NewServer starts a grpc.Server on a bufconn listener (WithBufferSize,
// default 64 KiB), or with WithTCP on a loopback TCP listener whose
// address Addr gives to code that dials one, and connects to it with
// grpc.NewClient(Target) and insecure credentials. One recorder.Recorder records both sides unless
// WithoutRecorder; WithRecorder supplies your own (recorder.WithMethods to
// leave out a handler that calls grpc.SetSendCompressor, which fails under
// the recorder's server interceptors: see the recorder package). Dial opens more
// connections. Everything is closed by Close, which NewServer registers
// with t.Cleanup. The harness uses t only through testing.TB methods, so a
// wrapping TB sees every failure.
//
// Disconnect is a fault: it closes every connection to the harness, both
// ends (of a connection another client made to Addr, the server's end),
// as a network failure would, and returns once gRPC has torn down those
// transports (it waits for gRPC to close each connection, which gRPC does
// after marking the transport unusable). Open streams fail with
// codes.Unavailable, handlers see their context canceled, and the next RPC
// of the harness's own clients dials a new transport; a client of the
// code's own, dialed to Addr, finds out about the drop by itself, so its
// next RPC may still fail with codes.Unavailable, as after a real network
// failure.
//
// # Teardown
//
// Close runs once (later calls return at once), in this order:
//
//  1. note the client streams that are still open (check a);
//  2. close the client connections, Conn and those of Dial, bounded by the
//     close timeout, but by no less than 1s (a slow Close is not a blocked
//     one): ClientConn.Close runs the client's stats handlers
//     (ConnEnd) and its resolver's and balancer's Close, and one that
//     blocks is reported with its stack and left running;
//  3. with WithClientConnCheck (and WithTCP), wait, bounded by the close
//     timeout, for the connections to Addr that the harness did not make
//     (code under test dialed them) to be closed by their clients, and
//     report those still open: a grpc.ClientConn the code never closed,
//     whose goroutines outlive the test (a cleanup registered before
//     NewServer runs after Close: a connection it closes is reported, which
//     is why the check is not on by default);
//  4. GracefulStop, bounded by the close timeout (WithCloseTimeout, default
//     1s); if it has not returned, Stop, and wait for the handlers with the
//     same bound;
//  5. close the listener;
//  6. wait, bounded, for the Pending calls the test left blocked (see
//     Blocking);
//  7. report the handlers that panicked (the harness recovers their
//     panics: see NewServer), then (a) unfinished client streams; (b)
//     handlers still running; (c) goroutines left running (with
//     WithTestGoroutineCheck, those the test started after NewServer too);
//     (d) with WithLateSendCheck, streams used after their handler
//     returned.
//
// Nothing in Close sleeps for a fixed time: a clean harness closes in well
// under a millisecond plus one goroutine scan. What is still stuck after a
// bound is reported with t.Errorf, naming the method, and Close moves on.
// A report made by the Close that t.Cleanup runs is printed at the test's
// NewServer line (the testing package follows a cleanup's helper frames to
// where it was registered); one made by a Close the test calls, at that
// call. Reports (a) and (b) name the calls in the timeline they are about
// ("1 open at Close: call 41 in the timeline"). The first report of a
// Close carries the recorded timeline, the others refer to it. When long,
// it is cut to its first and last events and those around the beginning
// of the calls the reports name and of the call halves not ended (five
// calls at most); the events Close itself caused, the ends of the calls
// it ended, are included.
//
// # Leak checks
//
// (a) A client stream opened on the harness is finished when RecvMsg
// returned an error (io.EOF included), when a call without server streaming
// received its response, when SendMsg or Header returned an error other
// than io.EOF, when its context ended (or the deadline the service
// config's "timeout" gives it passed), or when the test closed the
// ClientConn it was opened on (Conn's or Dial's, before Close): the ways
// gRPC documents for releasing a stream. (An io.EOF from SendMsg says the
// call has ended: a Recv gets its status, and finishes the stream.) The
// recorder counts a service config's deadline from before the call started
// (so that its client End is never late), gRPC from when the stream
// opened: once the recorder has recorded the call's client End with
// DeadlineExceeded, Close waits for gRPC's deadline, which comes at most
// the time the stream took to open later. Streams that are none of these
// when Close starts are reported by method and by the line that opened
// them (a helper's line is followed by the lines of the test that called
// it: "room_test.go:24 (in join, called at room_test.go:51)"), with the
// hint "drain the stream or cancel its context"; when the recorder shows
// that the server had already ended the call, the report adds with which
// status and at which event, which a Recv would have returned, except for
// two kinds of end: an attempt that ended, before any response, with a
// code the method's retry policy retries, with attempts left (gRPC retries
// the call at the client's next operation, unless the call is committed,
// so a Recv would wait for the new attempt), and a
// server half ended Canceled while the client had not canceled (the
// connection went away: a GOAWAY, keepalive's MaxConnectionAge; the client
// gets Unavailable, mostly). When Disconnect dropped the stream's
// connection after it opened, the report says that a Recv would have
// returned Unavailable (or may have, if the server had ended the call
// before the drop). A stream opened with a handler's context (a handler calling
// another service) ends when the handler returns, and is judged after the
// handlers have returned. When the handler is another harness's (a front
// service on a harness built before this one, which closes after it), the
// stream gets up to the close timeout for that handler's context to end,
// as the test's cancel of the front call reaches it; if it has not, the
// report says to build this harness first. Streams made with t.Context()
// end before the Close that t.Cleanup runs (the testing package cancels it
// first), so that Close does not report them; nor does it report a stream
// whose context the test cancels before Close runs: with a defer cancel()
// in the test, or a t.Cleanup(cancel) registered after NewServer (cleanups
// run last registered first). To have the harness report a stream the
// code leaves undrained, open it with context.Background(), or with a
// context whose cancel is registered with t.Cleanup before NewServer:
//
//	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
//	t.Cleanup(cancel) // before NewServer: runs after its Close
//	srv := grpctest.NewServer(t, register)
//
// A Close the test calls itself runs while t.Context() is live, and
// reports those streams too.
//
// (b) Handlers are counted by method in the harness's own interceptors. A
// handler still running after Stop and the bound is reported with its
// method and its stack. This check runs even WithoutLeakCheck: Close had to
// abandon the handler.
//
// (c) Goroutines started during the harness's life that are still running
// are reported with their stacks and who started them, after retrying with
// exponential backoff for twice the close timeout. WithoutLeakCheck turns
// (a) and (c) off; WithIgnoredGoroutines exempts goroutines meant to
// outlive the test from (c).
//
// (d) WithLateSendCheck, a server stream's Send, SendHeader, SetHeader or
// SetTrailer called after its handler returned (or panicked) and gRPC
// ended the call (the stream's context is done), by a goroutine the
// handler left the stream to, is reported with that goroutine's stack
// (the first five calls; the rest are counted): gRPC writes the call's
// status when the handler returns, so what is sent or set then is lost.
// Calls alike (the same operation and stack) are listed once, with a
// count. A call made in the moment between (before the context is done)
// may have been in time, and is not reported: a goroutine that sends
// right after the handler returns is often in that moment, under the race
// detector a third of the time in a trial, so the check catches such a
// goroutine reliably only when it goes on using the stream. A call made
// after Close has returned is not reported either. The check is opt-in: a
// goroutine that stops on the stream's context may still make one such
// call now and then (its select finds a ticker ready as well), so the
// report would come and go; the fix is to have the handler wait for its
// goroutines before it returns. A Recv after the handler returned is not
// reported: a reader goroutine whose Recv fails then loses nothing. The
// check watches the stream's own methods: grpc.SetHeader, grpc.SendHeader
// and grpc.SetTrailer on the handler's context go through gRPC's
// transport stream, which the harness leaves as it is
// (grpc.SetSendCompressor fails on any other).
//
// The stacks of (b) and (c) come from the goroutine profile, which knows
// labels, and their full tracebacks (goroutine number, state, creator)
// from runtime.Stack, which shows labels only with GODEBUG=tracebacklabels=1.
// Without it, when goroutines of other tests share a reported goroutine's
// stack (parallel tests with the same leak), the report cannot tell which
// traceback is its own: it shows one without goroutine numbers, and says
// so. VerifyTestMain sets the variable for the test binary (unless GODEBUG
// sets it already); without VerifyTestMain, set it in the environment.
//
// # How check (c) is scoped
//
// goleak compares all goroutines of the process, so it cannot tell one
// parallel test's leak from another's. The harness instead labels its
// goroutines with runtime/pprof labels ("streamtest.harness" = a unique
// id), which every goroutine inherits from the goroutine that starts it,
// and at Close reads the goroutine profile (debug=1 prints labels) for the
// goroutines that still carry its id. The labels are set on:
//
//   - NewServer's caller while it runs grpc.NewServer and starts Serve, so
//     every server goroutine (accept loop, transports, stream workers,
//     handlers) and everything a handler starts inherits them; each handler
//     goroutine also gets "streamtest.method", so a leaked goroutine names
//     the handler that started it;
//   - the same caller while it runs grpc.NewClient and ClientConn.Connect
//     (and so does Dial), so the channel's resolver, balancer and transport
//     goroutines inherit them;
//   - the calling goroutine while the harness's client interceptors start a
//     call, and while a harness stream's SendMsg, RecvMsg and Header run,
//     so that what gRPC starts there (a reconnect after Disconnect, a
//     transparent retry's new transport, a stream's context watcher)
//     inherits them. The caller then gets back exactly the labels it had,
//     whatever the call's context carries: runtime/pprof cannot read a
//     goroutine's labels, so the harness saves and restores them through
//     the runtime's own accessors (see labels.go). A handler that calls out
//     with a context of its own stays attributed, and a goroutine the test
//     started (a worker pool) that calls out with a handler's context is not
//     blamed on that handler;
//   - with WithTestGoroutineCheck, NewServer's caller (the test's
//     goroutine) from NewServer to Close, with "streamtest.side" = "test":
//     the goroutines the test starts in between, itself or through the
//     client code it calls, inherit them.
//
// The labels a call gives its caller are the called harness's, for the
// call's length, whoever the caller is. Two cases follow that check (c)
// gets wrong, left as they are (a fix that knew every caller by its label
// set was tried, and missed loops caught as they changed labels):
//
//   - A goroutine a handler started, leaked while it is blocked in a call
//     to another harness (a front service's relay left reading from its
//     backend), carries the other harness's labels there. If the other
//     harness closes first, its Close ends the call, the goroutine gets its
//     own labels back, and its own harness reports it; if its own harness
//     closes first, neither reports it, and VerifyTestMain's goleak check
//     finds it at the end of the binary. Build the front's harness first.
//   - A goroutine of the test's own that is inside a call to the harness
//     when Close scans (a retry loop of the test's that keeps calling after
//     Close) may be reported as a goroutine of the harness's client.
//
// TestEveryGRPCGoroutineCarriesAHarnessLabel pins this: if a gRPC upgrade
// starts goroutines from somewhere else, it fails and names them.
//
// A goroutine carries a harness's label only if it descends from one of
// these, so a parallel test's goroutines are never blamed on this harness:
// TestLeakCheckIsScopedToItsHarness runs 32 harnesses under t.Parallel,
// every fourth leaking on purpose, and each reports exactly its own leak
// (go test -race -count=10: no false report). One exception, with
// WithTestGoroutineCheck: a process-wide worker started first by a test
// carries that test's label, and so do the goroutines it starts later for
// others (see the option). Goroutines the test body starts itself, or the
// client code under test that it calls (a receive loop, or a fan-out whose
// goroutines outlive it), are covered only with WithTestGoroutineCheck
// (off by default: see there); without it VerifyNoLeaks, registered first,
// catches them in a test that is not parallel, and VerifyTestMain at the
// end. Not covered by check (c), and left to VerifyNoLeaks or
// VerifyTestMain: the goroutines that NewServer's register function
// starts (a service's janitor or watch loop lives as long as the service,
// which the test may stop in a cleanup of its own, registered before
// NewServer and so run after Close), callbacks of time.AfterFunc (they run on goroutines
// without labels), work handed to a pool created outside the harness, and
// a handler that replaces its goroutine's labels. A handler's context
// carries the handler's labels, so that pprof.Do in the handler keeps
// them; a goroutine outside the harness that sets its labels from a
// handler's context (pprof.Do with it, which afterwards sets the labels of
// that context) then counts as the handler's, and is reported if it is
// still running at Close. Process-wide singletons that a harness goroutine
// may happen to start first (glog and klog flushers, the OpenCensus
// worker, the standard library's signal loop) are ignored by name.
//
// One scan costs less than one goleak.Find (BenchmarkLeakScan, one
// harness open, on a busy two-core machine: about 0.25 ms against 0.40
// ms); a clean Close needs one, because it first waits for what it knows
// must end (handlers, Serve). BenchmarkHarness measures NewServer, one
// unary call and Close with every check against a hand-written bufconn
// pair: about a millisecond a harness or less, two to three and a half
// times the pair, depending on the CPU, and about as much as the pair
// followed by goleak.Find (BENCHMARKS.md in the repository has the runs).
//
// VerifyNoLeaks and VerifyTestMain are the process-wide checks: goleak with
// the benign goroutines above ignored. Use VerifyTestMain in every
// package's TestMain; VerifyNoLeaks only in tests that do not run in
// parallel.
//
// # Assertions
//
// AssertMessages compares messages with cmp.Diff and protocmp.Transform
// and prints "mismatch (-want +got):" and the timeline of the test's open
// harnesses (in a subtest without one, of the nearest enclosing test's).
// Lists of the same length are diffed pair by pair ("want[1] and got[1]:
// mismatch (-want +got):"), so the equal messages add nothing, and the
// report names the messages that are in another order ("want[1] is
// got[2]"). When the lengths differ, it first says so ("want 3 messages,
// got 2") and lists the messages of want and of got that the other list does
// not match in order (aligned as a longest common subsequence of equal
// messages; lists of the same length get that report too when a message
// is lost and another added, which shifts the pairs between them; the
// diff pairs messages by likeness, so a message that
// changed or moved can be on both lists). AssertMessagesWith takes extra cmp
// options. Msgs turns a typed slice, such as a fake stream's Responses,
// into the []any they take. Bytes fields longer than 1 KiB are compared and shown as a
// summary so that a diff of large payloads stays short and fast: length,
// hash, and the offset of the first byte that differs from the other side
// with the bytes around it (or the first bytes, when there is nothing to
// compare them with). Shorter ones that both hold text (printable but for
// at most one character in eight, shown escaped) are shown as quoted
// strings, not byte by byte.
//
// AssertOrder checks that steps match recorded events in increasing Seq,
// events in between allowed, each step taking the earliest event after the
// previous step's. A message step (ClientSends, ServerReceives,
// ServerSends, ClientReceives) matches a Send or Recv of its side that did
// not fail, with an equal message; a nil msg matches any message. A typed
// nil pointer is not a wildcard but an empty message of its type, as gRPC
// sends it, both in a step and recorded for a Send of one (AssertMessages,
// by contrast, keeps a typed nil apart from an empty message: it is what a
// failed call returns). ClientCloses matches
// CloseSend, Ends(code) the End of either side with that code, and
// ClientEnds(code) and ServerEnds(code) the End of that side (a server
// half can end OK while its client gets an error: ClientEnds(codes.OK)
// says the call succeeded for the client). The metadata steps,
// ServerReceivesMetadata, ClientReceivesHeader and ClientReceivesTrailer,
// match the server's Begin and the client's Header and Trailer whose
// metadata holds the keys given, with their values (other keys may be
// there). With(step, opts...) compares a
// message step's message with cmp options too, as AssertMessagesWith
// does (protocmp.IgnoreFields for a field the test cannot know). A failure
// names the step not found and the event after which it was searched,
// lists the steps matched so far, says when the step matches an earlier
// event (wrong order), shows a (-want +got) diff against the nearest event
// of the same side and kind (for Ends, lists the End events after the
// previous step's event with their status, or says that no call had ended
// yet; for a metadata step, the events of its kind with the first key that
// differs), says which types the events hold when none is of a message
// step's type, and prints the timeline (over 200 events, cut down to the first
// 20, the last 40 and those around the events the failure is about; every
// failure that prints a timeline cuts it so). When the recorder dropped events
// (recorder.WithLimit), the failure says so right after its first line,
// before the diff: the events the steps look for may be among them. When
// it records only some methods (recorder.WithMethods), the failure names
// them before the timeline, and the harnesses' timelines say that nothing
// was recorded, and why, when that is so.
//
// Some events are recorded on another goroutine than the call that
// causes them (a canceled call's client End, the peer's Recv of a message
// just sent, the server's End after the client has its response), so
// AssertOrder right after the call can run before them. AssertOrderWithin
// waits up to d for the steps to be there, re-checking as each event is
// recorded, and returns as soon as they are.
//
// AssertNever checks the opposite: that no recorded event matches any of
// its steps (no call ended Internal, the server never received a request
// of a refused call). It lists every event that matches; a recorder that
// dropped events fails it, as it cannot show that none matched.
//
// Every Require variant is its Assert twin followed by t.FailNow.
//
// # Blocking
//
// Go and GoErr run a call on a goroutine; the Pending they return asserts
// that it is still blocked after d (AssertBlocked: the one place a test
// waits on the clock), waits for it with a timeout (Wait) or exposes Done.
// A panic in the call is reported through t: by the Wait or AssertBlocked
// that sees it, or else at the end of the test, printed at
// the line of the Go or GoErr call (at the NewServer line if the call was
// still blocked then and the harness's Close awaited it). One that comes
// later (the call was left blocked, or its harness gave up waiting for
// it), when t can no longer report it, is VerifyTestMain's to report (see
// below).
//
// What blocks a Send is flow control, and it takes more than one message:
// a Send that crosses gRPC's write quota still returns (see Deterministic
// flow control), so one Send never blocks, however large. To test
// backpressure, fill the window with SendUntilBlocked and then assert
// that the next Send is blocked, or check the count SendUntilBlocked
// returns against the formula below: SendUntilBlocked counts a Send as
// blocked when it has not returned within d, so on a slow machine a Send
// that was merely slow ends it early, with a smaller count than the window
// allows, and against a peer that reads the count can exceed it; only a
// check of the count catches either.
//
// A call still blocked when the test ends must not leak. Its cleanup hands
// it to the oldest open harness of the same test, whose Close ends every
// stream and connection and then waits for the call (bounded), reporting
// it if it never returns: so a Send or Recv left blocked on a harness
// stream is released and awaited. Without a harness of the same test (a
// fake stream, a stream of your own, a harness of a parent test) the call
// is left to return when what it waits on ends: a cleanup registered
// before Go (cleanups run last first), or the parent test, may end it.
// VerifyTestMain reports, with the test's name and the call's stack, each
// such call still blocked when all tests have run, and each that panicked
// or called runtime.Goexit once its test had ended, and fails the binary.
// Without VerifyTestMain, nothing reports such a call by its test: goleak
// sees its goroutine, if all tests passed; a late panic crashes the
// binary; a late Goexit goes unseen.
//
// # Deterministic flow control
//
// WithStaticWindow(W) sets the HTTP/2 stream and connection windows of both
// sides to W and turns off gRPC's window (BDP) estimation. Against a peer
// that does not read, SendUntilBlocked then returns
//
//	n = ceil((W + 65536) / (5 + proto.Size(msg)))
//
// Each message is framed as a 5-byte gRPC prefix plus its proto encoding
// (for a StreamingOutputCallRequest with a 1024-byte payload:
// 5 + 1030 = 1035 bytes). The peer's stream window lets W bytes reach it.
// Beyond the window, gRPC-Go (v1.85) keeps a per-stream write quota of
// 65536 bytes: SendMsg queues a message and returns while the bytes queued
// but not yet written are under the quota, and a Send that crosses it still
// returns, hence the rounding up. The connection window does not bind
// (the receiving transport returns connection-level window as it reads,
// whether the application reads or not), nor does the bufconn buffer (the
// receiving transport drains it), nor HTTP/2 frame headers (not flow
// controlled). So WithStaticWindow(64*1024) with 1 KiB payloads gives
// (65536 + 65536) / 1035 = 126.6, n = 127, the same every run and in both
// directions (TestSendUntilBlockedFollowsTheStaticWindow checks three
// windows and sizes against the formula). The formula depends on the
// write quota of gRPC-Go's transport, an internal constant: the tests pin
// it so that a gRPC upgrade that changes it fails loudly.
//
// # Beyond the core API
//
// Besides the harness, the leak checks, the assertions and the blocking
// helpers above, the package has: WithCloseTimeout, AssertMessagesWith and
// RequireMessagesWith (cmp options), InCall (an AssertOrder step of one
// call only, for calls that exchange the same messages), Msgs (a typed
// slice as []any),
// ErrStillBlocked (the error of a Wait that timed out),
// MaxSendUntilBlocked (SendUntilBlocked gives up and fails after that many
// Sends that all returned), and the constants Target, DefaultBufferSize
// and DefaultCloseTimeout.
package grpctest
