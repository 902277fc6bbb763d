package grpctest

import (
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/streamtest/streamtest/recorder"
)

// An Option configures a harness built by NewServer. Options are checked when
// NewServer runs; a bad one fails the test at once with a message naming it.
// They apply in order: of two that set the same thing (two WithRecorder,
// two WithBufferSize), the last counts; WithServerOptions and
// WithDialOptions add up.
type Option func(*config)

// Defaults of the harness.
const (
	// DefaultBufferSize is the bufconn buffer of a harness (WithBufferSize).
	DefaultBufferSize = 64 * 1024
	// DefaultCloseTimeout bounds each waiting step of Close (WithCloseTimeout).
	DefaultCloseTimeout = time.Second
	// maxBufferSize bounds WithBufferSize: bufconn allocates the buffer
	// up front, twice per connection.
	maxBufferSize = 256 << 20
	// minStaticWindow is the smallest window grpc-go accepts; smaller ones are
	// silently ignored by gRPC, so WithStaticWindow rejects them.
	minStaticWindow = 65535
)

type config struct {
	serverOpts  []grpc.ServerOption
	dialOpts    []grpc.DialOption
	rec         *recorder.Recorder
	withRec     bool // WithRecorder was given
	noRec       bool // WithoutRecorder was given
	bufSize     int
	bufSizeSet  bool  // WithBufferSize was given
	tcp         bool  // WithTCP: a loopback TCP listener instead of bufconn
	connCheck   bool  // WithClientConnCheck
	lateSends   bool  // WithLateSendCheck
	window      int32 // 0: gRPC's dynamic flow control
	noLeakCheck bool
	// testGoroutines: check (c) covers the goroutines the test starts
	// after NewServer (WithTestGoroutineCheck).
	testGoroutines bool
	ignored        []string // WithIgnoredGoroutines
	closeTimeout   time.Duration
	errs           []string
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

// WithServerOptions adds options to grpc.NewServer, after the harness's
// own. Interceptors added with grpc.ChainUnaryInterceptor or
// grpc.ChainStreamInterceptor run inside the harness's (tracking, then
// recording): their goroutine carries the handler's label and the recorder
// sees what they do. gRPC runs an interceptor set with grpc.UnaryInterceptor
// or grpc.StreamInterceptor before every chained one, so it runs outside
// the harness's: a call it ends without calling the handler is not recorded
// on the server side nor counted as a handler, and goroutines it starts are
// reported by check (c) as the server's, not a handler's. Chain interceptors
// to have them seen.
func WithServerOptions(opts ...grpc.ServerOption) Option {
	return func(c *config) {
		for i, o := range opts {
			if o == nil {
				c.fail("WithServerOptions: option %d is nil", i)
				return
			}
		}
		c.serverOpts = append(c.serverOpts, opts...)
	}
}

// WithDialOptions adds options to grpc.NewClient, for Conn and for every
// connection made by Dial. The harness already sets the dialer, insecure
// transport credentials and its interceptors. As on the server, chained
// interceptors (grpc.WithChainUnaryInterceptor,
// grpc.WithChainStreamInterceptor) run inside the harness's, and one set
// with grpc.WithUnaryInterceptor or grpc.WithStreamInterceptor runs outside
// them: a call it ends without invoking gRPC is not recorded.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *config) {
		for i, o := range opts {
			if o == nil {
				c.fail("WithDialOptions: option %d is nil", i)
				return
			}
		}
		c.dialOpts = append(c.dialOpts, opts...)
	}
}

// WithRecorder makes the harness record both sides into r instead of a new
// Recorder, for instance one built with recorder.WithLimit or
// recorder.WithMethods, or one shared by several harnesses.
func WithRecorder(r *recorder.Recorder) Option {
	return func(c *config) {
		if r == nil {
			c.fail("WithRecorder(nil): pass a *recorder.Recorder, or use WithoutRecorder to record nothing")
			return
		}
		c.rec, c.withRec = r, true
	}
}

// WithoutRecorder turns recording off: no recording interceptors are
// installed and Server.Recorder returns nil. The leak checks still work.
func WithoutRecorder() Option {
	return func(c *config) { c.noRec = true }
}

// WithBufferSize sets the size in bytes of the bufconn buffer between client
// and server (default DefaultBufferSize, at most 256 MiB: bufconn allocates
// it whole for each direction of each connection). A TCP connection has the
// kernel's buffers instead: WithBufferSize with WithTCP is reported as a
// misuse.
func WithBufferSize(n int) Option {
	return func(c *config) {
		if n <= 0 || n > maxBufferSize {
			c.fail("WithBufferSize(%d): the buffer size must be positive and at most %d (256 MiB): bufconn allocates it whole, for each direction of each connection", n, maxBufferSize)
			return
		}
		c.bufSize, c.bufSizeSet = n, true
	}
}

// WithTCP puts the server on a TCP listener on the loopback interface
// (127.0.0.1, a port the system picks) instead of bufconn, so that code
// that dials an address can reach it: Server.Addr gives the address. The
// harness's own connections (Conn, Dial) go over TCP too; everything else
// (recording, Disconnect, the leak checks, Close) works as on bufconn. A
// client the code under test builds itself with grpc.NewClient(s.Addr())
// is the code's to close; its calls are recorded on the server side only,
// and Disconnect closes only the server's end of its connection (see
// Disconnect). WithBufferSize, which sizes bufconn's buffer, is a misuse
// with it. The flow-control formula of
// SendUntilBlocked holds over TCP as on bufconn: flow control bounds what
// the sender writes, whatever the socket buffers could hold.
func WithTCP() Option {
	return func(c *config) { c.tcp = true }
}

// WithLateSendCheck makes Close report the calls on a server stream
// (Send, SendHeader, SetHeader, SetTrailer) made after its handler had
// returned and gRPC had ended the call: check (d) of the package doc. Such
// a call comes from a goroutine the handler left the stream to, and what
// it sends is lost. It is not on by default because a goroutine that
// stops on the stream's context can make one such call now and then, and
// the report would come and go with it: the handler should wait for the
// goroutine (a sync.WaitGroup, an errgroup), and this check holds it to
// that.
func WithLateSendCheck() Option {
	return func(c *config) { c.lateSends = true }
}

// WithClientConnCheck makes Close report the connections to Addr (so
// with WithTCP) that the harness did not make and that are still open when
// Close begins, after it has waited up to the close timeout for their
// clients to close them: a grpc.ClientConn that the code under test made
// and never closed, whose goroutines (which reconnect) outlive the test
// and would otherwise surface only as goleak's anonymous report at the end
// of the binary. It is off by default because Close cannot see a
// connection that a cleanup registered before NewServer closes (a service
// the test shuts down in a cleanup of its own): such a cleanup runs after
// Close, and the connection would be reported. It sees connections, not
// ClientConns: one whose connection Disconnect dropped, and that has made
// no call since (gRPC leaves it idle, not connected), goes unreported here,
// and VerifyTestMain's goleak check finds its goroutines at the end.
func WithClientConnCheck() Option {
	return func(c *config) { c.connCheck = true }
}

// WithTestGoroutineCheck extends check (c) to the goroutines the test
// starts, itself or through the code it calls, between NewServer and
// Close: a receive loop, a reconnect loop or a worker the code under test
// starts and never stops is reported by this test's Close, with its stack,
// instead of by VerifyTestMain after all tests (which cannot name the
// test) or by VerifyNoLeaks (which cannot run in parallel tests).
// NewServer labels the calling goroutine (the test's) as the harness
// labels its handlers, and goroutines inherit the labels of the goroutine
// that starts them; Close, on the test's goroutine, gives it back the
// labels it had.
//
// It is off by default because such a goroutine may be meant to live
// longer than the harness: one stopped by a cleanup registered before
// NewServer (cleanups run last registered first, so after Close) is
// reported, and so is one stopped by a defer when the test calls Close
// itself before it returns. Stop it with a defer or a cleanup registered
// after NewServer, start it before NewServer, or exempt it with
// WithIgnoredGoroutines.
//
// What is seen: the goroutines started by the test's goroutine after
// NewServer, and those they and the test's subtests start in turn.
// Goroutines started by a goroutine that was running before NewServer are
// not; nor are those started after code on the test's goroutine replaced
// its labels (pprof.SetGoroutineLabels, or pprof.Do, which on return sets
// the labels of the context it was given, without the harness's). A
// process-wide worker that the code under
// test starts on first use (a client library's dispatcher) carries the
// labels of the test that happened to start it, and so do the goroutines
// it starts later for other tests, which this test's Close would report:
// start such a worker before the first NewServer (in TestMain), or exempt
// the worker and the functions of the goroutines it starts. NewServer
// called on a handler's goroutine (a front service that calls a harness
// of its own) gives that handler's later goroutines to the new harness.
func WithTestGoroutineCheck() Option {
	return func(c *config) { c.testGoroutines = true }
}

// WithStaticWindow fixes the HTTP/2 flow-control windows, stream and
// connection level, on both sides to bytes and turns off gRPC's dynamic
// window (BDP) estimation, so that when a Send blocks follows from the
// window alone. See "Deterministic flow control" in the package doc for the
// formula. gRPC ignores windows below 65535 bytes, so smaller values are
// rejected. Window options given with WithServerOptions or WithDialOptions
// (grpc.InitialWindowSize and the like) come after the harness's and
// replace them, and the formula no longer holds.
func WithStaticWindow(bytes int32) Option {
	return func(c *config) {
		if bytes < minStaticWindow {
			c.fail("WithStaticWindow(%d): gRPC ignores flow-control windows below %d bytes (the HTTP/2 default); use at least %d", bytes, minStaticWindow, minStaticWindow)
			return
		}
		c.window = bytes
	}
}

// WithoutLeakCheck turns off the leak checks of Close: unfinished client
// streams and goroutines left running. Close still reports handlers that
// did not return after Stop, because it had to abandon them.
func WithoutLeakCheck() Option {
	return func(c *config) { c.noLeakCheck = true }
}

// WithIgnoredGoroutines exempts from check (c) the goroutines whose stack
// holds any of functions, given by full name as in the report and as
// goleak.IgnoreAnyFunction takes them (e.g.
// "example.com/cache.(*Cache).janitor"). It is for a goroutine meant to
// outlive the test, such as a process-wide worker that the code starts on
// first use: check (c) blames it on whichever harness's handler happened
// to start it. Pending.Wait's report of a call still blocked leaves it out
// of the goroutines the handlers started, too. Exempt it from
// VerifyTestMain as well, with goleak.IgnoreAnyFunction. Checks (a) and
// (b) are unchanged.
func WithIgnoredGoroutines(functions ...string) Option {
	return func(c *config) {
		for _, f := range functions {
			if f == "" {
				c.fail("WithIgnoredGoroutines: a function name is empty; give full names such as \"example.com/pkg.(*T).run\"")
				return
			}
		}
		c.ignored = append(c.ignored, functions...)
	}
}

// WithCloseTimeout bounds each waiting step of Close (GracefulStop, Stop
// with the handlers awaited, and goroutines exiting) to d instead of
// DefaultCloseTimeout (goroutines get twice as long). A clean harness never
// waits for the bound: it only matters for what is stuck. It must still
// leave gRPC the time to tear its transports down: with a bound of a few
// milliseconds, a loaded machine (-race, many parallel tests) can see
// gRPC's own goroutines, still exiting, reported as leaks.
func WithCloseTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.fail("WithCloseTimeout(%v): the timeout must be positive", d)
			return
		}
		c.closeTimeout = d
	}
}

func buildConfig(opts []Option) *config {
	c := &config{bufSize: DefaultBufferSize, closeTimeout: DefaultCloseTimeout}
	for i, o := range opts {
		if o == nil {
			c.fail("option %d is nil", i)
			continue
		}
		o(c)
	}
	if c.withRec && c.noRec {
		c.fail("WithRecorder and WithoutRecorder both given: choose one")
	}
	if c.connCheck && !c.tcp {
		c.fail("WithClientConnCheck without WithTCP: only the harness's own clients can dial a bufconn listener, so there is nothing to check")
	}
	if c.bufSizeSet && c.tcp {
		c.fail("WithBufferSize(%d) with WithTCP: the buffer size is bufconn's, and a TCP connection has the kernel's buffers: choose one", c.bufSize)
	}
	if c.connCheck && c.noLeakCheck {
		c.fail("WithClientConnCheck and WithoutLeakCheck both given: choose one")
	}
	if c.testGoroutines && c.noLeakCheck {
		c.fail("WithTestGoroutineCheck and WithoutLeakCheck both given: choose one")
	}
	return c
}
