package fakes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// FailAfter returns a stream server interceptor that breaks streams of
// method after n messages: on each matching stream, n messages (sent and
// received counted together) go through, then the next SendMsg or RecvMsg,
// and every one after it, returns err without touching the stream, so the
// handler sees err as if the transport had failed; a handler that returns it
// ends the call with err's status (use a status error, e.g.
// codes.Unavailable, to exercise a client's retry logic). n = 0 fails the
// first operation (WithFailAt, for fake streams, counts the other way:
// WithFailAt(n) fails the n-th call, and only that one). Only messages
// count: a RecvMsg that returns io.EOF (the client half-closed) or another
// error, and a SendMsg that fails, let no message through. The handler never
// gets more than n: a RecvMsg that was waiting while a concurrent SendMsg
// passed the n-th message returns err, and the message it read is lost, as
// in a transport that broke.
//
// The failure comes only with the handler's next SendMsg or RecvMsg: a
// handler that makes none (idle in a select until it has news) is never
// broken, and its client waits as before. Count every message of the
// stream: on a server-streaming method the request, which the generated
// code's handler wrapper receives before the handler runs, is message 1,
// so FailAfter(m, 2, err) lets the request and one response through and
// fails the second Send.
//
// method is a full method name ("/pkg.Service/Method"), a service prefix
// ending in "/" ("/pkg.Service/") for all its methods, or "" or "*" for
// every method. Other streams pass through untouched. It is a stream
// interceptor: on a real gRPC server, unary methods never pass through it,
// so it injects nothing into them, whatever method names (grpc runs only
// unary interceptors for unary calls). The fake server (NewServer) serves
// every method as a stream, so there it breaks unary calls too. It composes with any
// other interceptor (grpc.ChainStreamInterceptor) and with Delay.
//
// Where it sits decides what a recorder sees. Given to a grpctest harness
// (or NewServer) through grpctest.WithServerOptions, it runs inside the
// harness's recorder, between it and the handler: the injected failure
// never reaches the recorded stream, so the recorder has no server Send or
// Recv event for the failed operation (a message lost as above is recorded
// as received); the failure shows as the server's End with err's status
// (when the handler returns it) and in what the client got. To record the
// failed operation as a server Send or Recv with Err set, as a transport
// failure is, chain FailAfter before a recorder r of your own:
//
//	r := recorder.New()
//	grpctest.NewServer(t, register, grpctest.WithoutRecorder(),
//		grpctest.WithServerOptions(grpc.ChainStreamInterceptor(fakes.FailAfter(m, n, err))),
//		grpctest.WithServerOptions(r.ServerOptions()...), // added after: inside FailAfter
//		grpctest.WithDialOptions(r.DialOptions()...))
//
// Bad arguments (n < 0, a nil err, a malformed method) cannot be returned
// from here, so every stream the interceptor sees fails at once with
// codes.Internal and a message naming the mistake.
func FailAfter(method string, n int, err error) grpc.StreamServerInterceptor {
	return failAfter(fmt.Sprintf("fakes.FailAfter(%q, %d, %v)", method, n, err), method, -1, n, err, nil)
}

// FailFirst is FailAfter for the first streams streams of method only:
// those are broken after n messages, as FailAfter breaks every one, and
// the streams after them pass through untouched, so that a client's retry
// (a reconnect, a resumed download, an upload sent again) can succeed:
//
//	// The first upload breaks after 2 messages; the retry goes through.
//	grpctest.WithServerOptions(grpc.ChainStreamInterceptor(
//		fakes.FailFirst("/pkg.Store/Upload", 1, 2, status.Error(codes.Unavailable, "link down"))))
//
// Streams are counted in the order the interceptor sees them, across
// every method that method matches, and the count lives in the
// interceptor FailFirst returns: call FailFirst for each server (each
// test), as in the example; one interceptor shared by two harnesses (a
// package variable, a test run with -count=2) breaks only the first
// streams it ever sees. streams < 1 is a bad argument, as FailAfter's
// are: every stream fails at once with codes.Internal naming it.
func FailFirst(method string, streams, n int, err error) grpc.StreamServerInterceptor {
	name := fmt.Sprintf("fakes.FailFirst(%q, %d, %d, %v)", method, streams, n, err)
	var extra error
	if streams < 1 {
		extra = fmt.Errorf("streams = %d, want >= 1 streams to break", streams)
	}
	return failAfter(name, method, streams, n, err, extra)
}

// failAfter makes FailAfter (streams < 0: every stream) and FailFirst;
// name is the call, for a report of bad arguments, extra a problem of
// FailFirst's own, if any.
func failAfter(name, method string, streams, n int, err, extra error) grpc.StreamServerInterceptor {
	problems := []error{checkFilter(method), extra} // every one, not the first only
	if n < 0 {
		problems = append(problems, fmt.Errorf("n = %d, want >= 0 messages to let through", n))
	}
	if err == nil {
		problems = append(problems, fmt.Errorf("err is nil; give the error the operation after %d messages fails with", max(n, 0)))
	}
	if bad := joinProblems(problems); bad != nil {
		return misconfigured(name, bad)
	}
	var seen atomic.Int64 // matching streams so far
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if !matchMethod(method, info.FullMethod) {
			return handler(srv, ss)
		}
		if streams >= 0 && seen.Add(1) > int64(streams) {
			return handler(srv, ss)
		}
		return handler(srv, &failingStream{ServerStream: ss, n: int64(n), err: err})
	}
}

// failingStream lets n messages through and fails every SendMsg and
// RecvMsg after them. A SendMsg takes its slot before it sends (a sent
// message cannot be taken back) and gives it back if the send fails; a
// RecvMsg counts its message once it has one, and withholds it if the
// count is then past n.
type failingStream struct {
	grpc.ServerStream
	n      int64
	passed atomic.Int64 // messages through, plus a SendMsg in progress
	err    error
}

func (f *failingStream) SendMsg(m any) error {
	for {
		p := f.passed.Load()
		if p >= f.n {
			return f.err
		}
		if f.passed.CompareAndSwap(p, p+1) {
			break
		}
	}
	err := f.ServerStream.SendMsg(m)
	if err != nil {
		f.passed.Add(-1)
	}
	return err
}

func (f *failingStream) RecvMsg(m any) error {
	if f.passed.Load() >= f.n {
		return f.err
	}
	if err := f.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if f.passed.Add(1) > f.n {
		return f.err
	}
	return nil
}

// Delay returns a stream server interceptor that slows streams of method
// down: each SendMsg and RecvMsg waits d before it runs, as over a slow
// link or a slow server. The wait honours the stream's context: if the
// client cancels or its deadline passes first, the operation returns that
// status (codes.Canceled or codes.DeadlineExceeded) at once, without
// running; nothing sleeps past the end of the call. d = 0 delays nothing.
//
// method matches as for FailAfter, and, as FailAfter, it reaches unary
// methods on the fake server only. A negative d, or a malformed method,
// fails every stream the interceptor sees with codes.Internal naming the
// mistake.
func Delay(method string, d time.Duration) grpc.StreamServerInterceptor {
	problems := []error{checkFilter(method)}
	if d < 0 {
		problems = append(problems, fmt.Errorf("d = %v, want >= 0", d))
	}
	if bad := joinProblems(problems); bad != nil {
		return misconfigured(fmt.Sprintf("fakes.Delay(%q, %v)", method, d), bad)
	}
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if d == 0 || !matchMethod(method, info.FullMethod) {
			return handler(srv, ss)
		}
		return handler(srv, &delayedStream{ServerStream: ss, d: d})
	}
}

// delayedStream waits d before each SendMsg and RecvMsg.
type delayedStream struct {
	grpc.ServerStream
	d time.Duration
}

func (s *delayedStream) SendMsg(m any) error {
	if err := sleepCtx(s.Context(), s.d); err != nil {
		return err
	}
	return s.ServerStream.SendMsg(m)
}

func (s *delayedStream) RecvMsg(m any) error {
	if err := sleepCtx(s.Context(), s.d); err != nil {
		return err
	}
	return s.ServerStream.RecvMsg(m)
}

// sleepCtx waits d, or until ctx ends: then it returns ctx's status.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

// matchMethod reports whether full is selected by filter (see FailAfter).
func matchMethod(filter, full string) bool {
	switch {
	case filter == "" || filter == "*":
		return true
	case strings.HasSuffix(filter, "/"):
		return strings.HasPrefix(full, filter)
	}
	return filter == full
}

// checkFilter validates a method filter of FailAfter or Delay.
func checkFilter(filter string) error {
	if filter == "" || filter == "*" {
		return nil
	}
	if svc, ok := strings.CutSuffix(filter, "/"); ok && strings.HasPrefix(svc, "/") && len(svc) > 1 && !strings.Contains(svc[1:], "/") {
		return nil
	}
	if err := checkMethod(filter); err != nil {
		return fmt.Errorf(`method %q: want "/pkg.Service/Method", "/pkg.Service/" or "" for all`, filter)
	}
	return nil
}

// joinProblems joins the problems of a fault's arguments that are not
// nil into one error, "; " between them; nil if there is none.
func joinProblems(problems []error) error {
	var msgs []string
	for _, p := range problems {
		if p != nil {
			msgs = append(msgs, p.Error())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New(strings.Join(msgs, "; "))
}

// misconfigured is an interceptor that fails every stream with a status
// naming the misuse.
func misconfigured(call string, err error) grpc.StreamServerInterceptor {
	st := status.Errorf(codes.Internal, "%s: %v", call, err)
	return func(any, grpc.ServerStream, *grpc.StreamServerInfo, grpc.StreamHandler) error {
		return st
	}
}
