// Package rpcstatus converts a handler's error into the status a gRPC
// client gets, as grpc-go converts it: the recorder records a call's End
// with it, and the fakes deliver it. It also reads which attempt of a
// call gRPC's retries made a server half (PreviousAttempts).
package rpcstatus

import (
	"reflect"
	"strconv"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// PreviousAttempts returns how many attempts gRPC made before the one
// whose request metadata is md, under the retry policy of the client's
// service config: its grpc-previous-rpc-attempts; 0 for a first attempt
// (no such key, or a value that is not a count).
func PreviousAttempts(md metadata.MD) int {
	if v := md.Get("grpc-previous-rpc-attempts"); len(v) > 0 {
		if n, err := strconv.Atoi(v[0]); err == nil && n >= 0 {
			return n
		}
	}
	return 0
}

// statusErrType is the type of the errors package status makes.
var statusErrType = reflect.TypeOf(status.Error(1, ""))

// IsStatusError reports whether err is an error made by package status
// (status.Error, Status.Err), as it is, not wrapped nor a type of its own
// with a GRPCStatus method.
func IsStatusError(err error) bool {
	return err != nil && reflect.TypeOf(err) == statusErrType
}

// Of returns the status a client gets when a handler returns err (err
// must not be nil), as grpc-go makes it: the status of a status error,
// also of a wrapped one (with the whole error's text as its message) or
// of an error type with a GRPCStatus method; the code of a context error
// (Canceled, DeadlineExceeded); codes.Unknown with the error's text for
// anything else. An error type whose GRPCStatus is codes.OK gives OK: grpc
// ends the call OK (its client's Recv returns io.EOF).
func Of(err error) *status.Status {
	if st, ok := status.FromError(err); ok {
		return st
	}
	return status.FromContextError(err)
}

// Err is Of(err).Err(), with err itself when it is a status error already;
// nil for nil, and for an error whose status is OK.
func Err(err error) error {
	if err == nil || IsStatusError(err) {
		return err
	}
	return Of(err).Err()
}
