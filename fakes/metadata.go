package fakes

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/grpc/metadata"
)

// mdProblem checks md as grpc-go's server stream checks a header or
// trailer, and returns "" if gRPC takes it. Otherwise it returns grpc's
// words for the first problem in key order, the key, and whether the key's
// value (not the key) is the problem. gRPC fails SetHeader and SendHeader
// with such metadata (codes.Internal); a trailer it logs and sends, and the
// client ends the call with codes.Internal in place of the handler's
// status (clientTrailerErr).
func mdProblem(md metadata.MD) (problem, key string, inValue bool) {
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch {
		case k == "":
			return "there is an empty key in the header", k, false
		case k[0] != ':' && strings.TrimLeft(k, "abcdefghijklmnopqrstuvwxyz0123456789-_.") != "": // gRPC skips a pseudo-header's key
			return fmt.Sprintf("header key %q contains illegal characters not in [0-9a-z-_.]", k), k, false
		case strings.HasSuffix(k, "-bin"):
			continue
		}
		for _, v := range md[k] {
			if strings.IndexFunc(v, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
				return fmt.Sprintf("header key %q contains value with non-printable ASCII characters", k), k, true
			}
		}
	}
	return "", "", false
}

// reservedKey returns the first key of md, in key order, that a grpc-go
// server leaves out of a header or trailer it sends (its transport's
// isReservedHeader: HTTP/2 pseudo-headers, content-type, user-agent, te
// and the keys gRPC itself carries the call in: grpc-status,
// grpc-message, grpc-encoding, grpc-timeout, grpc-message-type), "" if
// none is. A handler may set them without an error, and its client never
// sees them.
func reservedKey(md metadata.MD) string {
	keys := slices.Sorted(maps.Keys(md))
	for _, k := range keys {
		if reserved(k) {
			return k
		}
	}
	return ""
}

func reserved(k string) bool {
	if strings.HasPrefix(k, ":") {
		return true
	}
	switch k {
	case "content-type", "user-agent", "te", "grpc-status", "grpc-message", "grpc-encoding", "grpc-timeout", "grpc-message-type":
		return true
	}
	return false
}

// reservedProblem says why md, which the test gives as what a server
// sends (RespondHeader, RespondTrailer, a script's SendHeader or
// SetTrailer), holds what no server can send the code: "" if it does not.
func reservedProblem(md metadata.MD) string {
	k := reservedKey(md)
	switch {
	case k == "":
		return ""
	case k == "grpc-status" || k == "grpc-message":
		return fmt.Sprintf("key %q is the call's status, which gRPC sends itself and a grpc-go server leaves out of the metadata a handler sets: "+
			"give the status as the call's error (Finish's, or a script's Return)", k)
	case k == "content-type":
		return fmt.Sprintf("key %q is one gRPC reserves, which a grpc-go server leaves out of the metadata a handler sets: "+
			"its client always sees content-type: application/grpc", k)
	}
	return fmt.Sprintf("key %q is one gRPC reserves, which a grpc-go server leaves out of the metadata a handler sets: the client would never see it", k)
}

// detailsProblem says why a trailer md the test gives as a server's
// (RespondTrailer, a script's SetTrailer) cannot be: it holds
// grpc-status-details-bin, from which a grpc-go client builds the call's
// status, and which it checks against grpc-status (a mismatch ends the
// call with Internal). "" if it does not hold it.
func detailsProblem(md metadata.MD) string {
	if _, ok := md["grpc-status-details-bin"]; !ok {
		return ""
	}
	return `key "grpc-status-details-bin" is the call's status details, which a grpc-go client reads with the status ` +
		"(and ends the call with Internal if they do not agree): give the details with status.WithDetails, in the call's error (Finish's, or a script's Return)"
}

// trailerProblem is reservedProblem, then detailsProblem.
func trailerProblem(md metadata.MD) string {
	if p := reservedProblem(md); p != "" {
		return p
	}
	return detailsProblem(md)
}

// clientTrailerErr is what a grpc-go client gets for a trailer with key
// whose name (or value, if inValue) gRPC refuses: its HTTP/2 reader's
// words, in a status with codes.Internal.
func clientTrailerErr(key string, inValue bool) string {
	if inValue {
		return fmt.Sprintf("invalid header field value for %q", key)
	}
	return fmt.Sprintf("invalid header field name %q", key)
}

// scriptMDProblem says why a script's SendHeader or SetTrailer step with
// md is a misuse, "" if it is not.
func scriptMDProblem(md metadata.MD) string {
	problem, _, inValue := mdProblem(md)
	switch {
	case problem == "":
		return reservedProblem(md)
	case inValue:
		return problem + ", which gRPC refuses: values are printable ASCII unless the key ends in -bin"
	}
	return problem + ", which gRPC refuses (metadata.Pairs and Append lower-case keys)"
}

// requestMDProblem says why a script's Metadata check with want is a
// misuse, "" if it is not: a key or value that a gRPC client refuses to
// send (it fails the call with codes.Internal), so that no call could hold
// it. Keys are lower-cased first, as Metadata matches them.
func requestMDProblem(want metadata.MD) string {
	lower := metadata.MD{}
	for k, vs := range want {
		lower.Append(k, vs...)
	}
	problem, _, inValue := mdProblem(lower)
	switch {
	case problem == "":
		return ""
	case inValue:
		return problem + ", which a gRPC client refuses to send (values are printable ASCII unless the key ends in -bin): no call can hold it"
	}
	return problem + ", which a gRPC client refuses to send: no call can hold it"
}
