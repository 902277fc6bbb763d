package fakes

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/streamtest/streamtest/recorder"
)

// Option configures NewServerStream and NewClientStream. The same options
// apply to both.
//
// Options are checked when the stream is built. A constructor cannot return
// an error, so a bad option (a negative buffer, a nil error for WithFailAt, a
// malformed method name) never panics: the stream remembers the problem and
// every Send, Recv and Next on it returns an error that names the option,
// as do its header and trailer methods and a ClientStream's CloseSend.
// Options apply in order: of two that set the same thing (two
// WithRecorder, two WithSendBuffer), the last counts.
type Option func(*config)

// streamRecorder is what the fakes need from a *recorder.Recorder.
type streamRecorder interface {
	WrapServerStream(ss grpc.ServerStream, info *grpc.StreamServerInfo) grpc.ServerStream
	WrapClientStream(cs grpc.ClientStream, desc *grpc.StreamDesc, method string) grpc.ClientStream
	TagContext(ctx context.Context, method string) context.Context
	CallID(ctx context.Context) (uint64, bool)
	EndServerStream(ss grpc.ServerStream, err error)
}

type config struct {
	rec    streamRecorder
	buffer int           // unread messages a Send may leave behind; < 0: unlimited
	failAt map[int]error // call number (1-based, Send and Recv together) -> injected error
	method string        // full method name recorded for the stream
	errs   []error       // bad options, reported by the first operation
}

// Default method names recorded for fake streams without WithMethod.
const (
	// DefaultServerMethod is the method a ServerStream records without
	// WithMethod.
	DefaultServerMethod = "/fakes.Fake/ServerStream"
	// DefaultClientMethod is the method a ClientStream records without
	// WithMethod.
	DefaultClientMethod = "/fakes.Fake/ClientStream"
)

func newConfig(method string, opts []Option) *config {
	c := &config{buffer: -1, method: method}
	for i, o := range opts {
		if o == nil {
			c.errs = append(c.errs, fmt.Errorf("option %d is nil", i+1))
			continue
		}
		o(c)
	}
	return c
}

// checkContext returns ctx, or a background context after recording the
// misuse if ctx is nil.
func (c *config) checkContext(fn string, ctx context.Context) context.Context {
	if ctx == nil {
		c.errs = append(c.errs, nilContext(fn))
		return context.Background()
	}
	return ctx
}

// nilContext describes a nil ctx given to fn.
func nilContext(fn string) error {
	return fmt.Errorf("%s: ctx is nil; pass t.Context() or context.Background()", fn)
}

// nilContextErr is the error of a test-side call (Next) given a nil ctx: the
// status a bad argument to a constructor gives, for this call only.
func nilContextErr(fn string) error {
	return status.Errorf(codes.InvalidArgument, "fakes: bad argument: %v", nilContext(fn))
}

// err returns the bad options as one error, nil if all were good.
func (c *config) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	return status.Errorf(codes.InvalidArgument, "fakes: bad argument: %v", errors.Join(c.errs...))
}

// WithRecorder records the stream's events in r, the same events a real
// stream of the method named by WithMethod records through r's
// interceptors: Begin when the stream is built, then Header, Send, Recv,
// CloseSend, Trailer and End as they happen, so grpctest.AssertOrder and
// r.String() work on fakes as on real streams. A ServerStream records the
// server's side only, what the handler does (the test plays the client: its
// Push shows as the handler's Recvs, its CloseSend as no event, since a Recv
// that returns io.EOF records none); a ClientStream records the client's
// side only, what the code under test does. A ServerStream records End at
// End or Cancel; a ClientStream when Recv returns an error or io.EOF, on a
// method without server streaming when Recv returns its one response (see
// WithMethod), or when its context ends. As a real stream's, a recorded
// ClientStream's Context carries r's call tag: r.CallID(stream.Context())
// is the id of its recorded call (for grpctest.InCall). A nil r is a bad
// option.
func WithRecorder(r *recorder.Recorder) Option {
	return func(c *config) {
		if r == nil {
			c.errs = append(c.errs, errors.New("WithRecorder(nil): give a *recorder.Recorder (recorder.New())"))
			return
		}
		c.rec = r
	}
}

// WithSendBuffer makes Send block while n messages it sent are unread: after
// a Send returns, at most n of the sent messages are waiting to be read.
// With n = 0 (unbuffered) each Send returns only once its message has been
// read. It applies to the side whose sends the test reads: the handler's
// responses on a ServerStream, the requests of the code under test on a
// ClientStream; the reader is Next. Responses and Sent are snapshots and do
// not count as reading.
//
// Without WithSendBuffer the buffer is unlimited and Send never blocks, so a
// handler can be called synchronously and its Responses inspected after it
// returns. A blocked Send returns when the message is read, or with an error
// when the stream is canceled or ended; a Send that returns an error sent
// nothing: Next never returns its message, and Responses and Sent no longer
// list it. n < 0 is a bad option.
func WithSendBuffer(n int) Option {
	return func(c *config) {
		if n < 0 {
			c.errs = append(c.errs, fmt.Errorf("WithSendBuffer(%d): n must be >= 0 (0 = unbuffered)", n))
			return
		}
		c.buffer = n
	}
}

// WithFailAt makes the n-th Send or Recv call on the stream (1-based; Send
// and Recv share one count, and SendMsg/RecvMsg/SendAndClose/CloseAndRecv
// count as what they do) return err instead of doing anything. Only that call
// fails; the stream stays usable, so a test can also check that the code
// under test stops using it (a ClientStream's Header still waits for the
// header). Several WithFailAt options may be given; for the same n the last
// one wins. n < 1 or a nil err is a bad option. (FailAfter, for a real
// server's streams, counts the other way: n messages pass, and every
// operation after them fails; WithFailAt(n) fails the n-th call only.)
//
// With WithRecorder, a failed Recv of a ClientStream ends the recorded call,
// as any RecvMsg error ends a real client's: what the stream does after it
// is recorded after the End, and a header sent after it is not recorded.
func WithFailAt(n int, err error) Option {
	return func(c *config) {
		switch {
		case n < 1:
			c.errs = append(c.errs, fmt.Errorf("WithFailAt(%d, ...): n counts calls from 1", n))
		case err == nil:
			c.errs = append(c.errs, fmt.Errorf("WithFailAt(%d, nil): give the error the call should return", n))
		default:
			if c.failAt == nil {
				c.failAt = make(map[int]error)
			}
			c.failAt[n] = err
		}
	}
}

// WithMethod names the full method ("/pkg.Service/Method", or
// "pkg.Service/Method" as recorder.WithMethods takes it) the stream
// records with WithRecorder. The defaults are DefaultServerMethod and
// DefaultClientMethod, recorded as bidirectional streams.
//
// If the method is in protoregistry.GlobalFiles (its generated Go package is
// linked into the test), the stream also takes its RPC kind from the
// method's descriptor, as grpc takes it from the generated code's
// grpc.StreamDesc: a recorder sees the stream of that kind (a client call
// without server streaming ends with its one response, its Trailer and End
// recorded then), and a ClientStream on a method without server streaming
// has exactly one result, its one response or Finish's error: Respond's
// response is the call's result, returned by Recv without waiting for
// Finish, and receiving it ends the call (see NewClientStream). On a
// method without client streaming, a ClientStream's one Send also
// half-closes it, as grpc's does (a second Send fails with codes.Internal),
// and a ServerStream's one Push ends the requests (the handler's next Recv
// returns io.EOF; a second Push is a misuse; a handler whose client pushed
// none gets grpc's codes.Internal "cardinality violation" from Recv). On a
// method without server streaming, a ServerStream's Next returns a second
// response as a grpc client's Recv would: codes.Internal. A method that is
// not registered is taken as bidirectional.
func WithMethod(fullMethod string) Option {
	return func(c *config) {
		m := withSlash(fullMethod)
		if err := checkMethod(m); err != nil {
			c.errs = append(c.errs, fmt.Errorf("WithMethod(%q): %w", fullMethod, err))
			return
		}
		c.method = m
	}
}

// streamKind returns whether the configured method streams requests
// (client streaming) and responses (server streaming), from its descriptor
// in protoregistry.GlobalFiles; a method that is not registered (or the
// default one) streams both.
func (c *config) streamKind() (clientStreams, serverStreams bool) {
	if _, md := findMethod(c.method); md != nil {
		return md.IsStreamingClient(), md.IsStreamingServer()
	}
	return true, true
}

// checkTypes records a misuse if the method WithMethod named is
// registered and its request or response type is not the stream's Req or
// Res: the recorder would file the stream's messages under a method that
// never carries them. A type that is not a proto message (a test's own,
// sent through another codec), or whose messages each carry their type
// (dynamicpb.Message), is not checked.
func checkTypes[Req, Res any](c *config) {
	_, md := findMethod(c.method)
	if md == nil {
		return
	}
	for _, x := range []struct {
		what, param string
		msg         protoreflect.MessageDescriptor
		got         any
	}{
		{"request", "Req", md.Input(), new(Req)},
		{"response", "Res", md.Output(), new(Res)},
	} {
		got, ok := messageName(x.got)
		if !ok {
			continue
		}
		if got != x.msg.FullName() {
			c.errs = append(c.errs, fmt.Errorf("WithMethod(%q): the method's %s is %s, the stream's %s is %s",
				c.method, x.what, x.msg.FullName(), x.param, got))
		}
	}
}

// messageName returns the full name of the proto message type of m, a new
// *Req. A type whose zero value has no type (dynamicpb.Message, whose type
// comes with each message: see untyped) has none to check.
func messageName(m any) (protoreflect.FullName, bool) {
	pm, ok := m.(proto.Message)
	if !ok || untyped(pm) {
		return "", false
	}
	return pm.ProtoReflect().Descriptor().FullName(), true
}

// withSlash returns m with the leading slash of a full method name added
// if m, not empty, has none: "pkg.Service/Method" is "/pkg.Service/Method".
func withSlash(m string) string {
	if m != "" && !strings.HasPrefix(m, "/") {
		return "/" + m
	}
	return m
}

// checkMethod reports whether m has the form "/pkg.Service/Method", and
// if not, what may be wrong.
func checkMethod(m string) error {
	svc, meth, ok := strings.Cut(strings.TrimPrefix(m, "/"), "/")
	if strings.HasPrefix(m, "/") && ok && svc != "" && meth != "" && !strings.Contains(meth, "/") && !strings.ContainsAny(m, " \t\r\n") {
		return nil
	}
	const want = `want a full method name of the form "/pkg.Service/Method" (or "pkg.Service/Method")`
	rest := strings.TrimPrefix(m, "/")
	switch {
	case strings.ContainsAny(m, " \t\r\n"):
		return errors.New(want + ": the name has spaces in it")
	case !strings.Contains(rest, "/") && strings.Count(rest, ".") >= 1:
		// A method's protobuf full name, "pkg.Service.Method".
		i := strings.LastIndex(rest, ".")
		return fmt.Errorf(`%s; the name of a method's descriptor, "pkg.Service.Method", is "/%s/%s" here`, want, rest[:i], rest[i+1:])
	}
	return errors.New(want)
}
