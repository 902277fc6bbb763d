package fakes

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// FailAfter returns a stream server interceptor that breaks streams of
// method after n messages: on each matching stream the first n SendMsg and
// RecvMsg calls (counted together) go through, and every later one returns
// err without touching the stream, so the handler sees err as if the
// transport had failed; a handler that returns it ends the call with err's
// status (use a status error, e.g. codes.Unavailable, to exercise a
// client's retry logic). n = 0 fails the first operation.
//
// method is a full method name ("/pkg.Service/Method"), a service prefix
// ending in "/" ("/pkg.Service/") for all its methods, or "" or "*" for
// every method. Other streams pass through untouched. It composes with any
// other interceptor (grpc.ChainStreamInterceptor) and with Delay.
//
// Bad arguments (n < 0, a nil err, a malformed method) cannot be returned
// from here, so every stream the interceptor sees fails at once with
// codes.Internal and a message naming the mistake.
func FailAfter(method string, n int, err error) grpc.StreamServerInterceptor {
	bad := checkFilter(method)
	switch {
	case bad != nil:
	case n < 0:
		bad = fmt.Errorf("n = %d, want >= 0 messages to let through", n)
	case err == nil:
		bad = fmt.Errorf("err is nil; give the error the operation after %d messages fails with", n)
	}
	if bad != nil {
		return misconfigured(fmt.Sprintf("fakes.FailAfter(%q, %d, %v)", method, n, err), bad)
	}
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if !matchMethod(method, info.FullMethod) {
			return handler(srv, ss)
		}
		return handler(srv, &failingStream{ServerStream: ss, n: int64(n), err: err})
	}
}

// failingStream fails every SendMsg and RecvMsg after the first n.
type failingStream struct {
	grpc.ServerStream
	n   int64
	ops atomic.Int64
	err error
}

func (f *failingStream) SendMsg(m any) error {
	if f.ops.Add(1) > f.n {
		return f.err
	}
	return f.ServerStream.SendMsg(m)
}

func (f *failingStream) RecvMsg(m any) error {
	if f.ops.Add(1) > f.n {
		return f.err
	}
	return f.ServerStream.RecvMsg(m)
}

// Delay returns a stream server interceptor that slows streams of method
// down: each SendMsg and RecvMsg waits d before it runs, as over a slow
// link or a slow server. The wait honours the stream's context: if the
// client cancels or its deadline passes first, the operation returns that
// status (codes.Canceled or codes.DeadlineExceeded) at once, without
// running; nothing sleeps past the end of the call. d = 0 delays nothing.
//
// method matches as for FailAfter. A negative d, or a malformed method,
// fails every stream the interceptor sees with codes.Internal naming the
// mistake.
func Delay(method string, d time.Duration) grpc.StreamServerInterceptor {
	bad := checkFilter(method)
	if bad == nil && d < 0 {
		bad = fmt.Errorf("d = %v, want >= 0", d)
	}
	if bad != nil {
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

// misconfigured is an interceptor that fails every stream with a status
// naming the misuse.
func misconfigured(call string, err error) grpc.StreamServerInterceptor {
	st := status.Errorf(codes.Internal, "%s: %v", call, err)
	return func(any, grpc.ServerStream, *grpc.StreamServerInfo, grpc.StreamHandler) error {
		return st
	}
}
