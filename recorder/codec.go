package recorder

import (
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// A unary call's message is marshaled by gRPC after the interceptor has
// handed it on (the request) or returned it (the response), so the
// interceptor does not see gRPC fail to marshal it. For a proto message
// and the proto codec, the recorder's own copy marshals it the same way;
// for anything else (not a proto message, or another codec), these ask
// the call's codec, as gRPC will.

// clientMarshalError returns the error gRPC's Invoke gives when it cannot
// marshal the request m with the codec opts choose (a forced codec, else
// the codec of the content-subtype, else proto's), or nil. isProto says m
// is a valid proto message.
func clientMarshalError(m any, isProto bool, opts []grpc.CallOption) error {
	var codec any
	subtype := ""
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.ForceCodecV2CallOption:
			codec = o.CodecV2
		case grpc.ForceCodecCallOption:
			codec = o.Codec
		case grpc.ContentSubtypeCallOption:
			subtype = strings.ToLower(o.ContentSubtype)
		}
	}
	if isProto && codec == nil && (subtype == "" || subtype == "proto") {
		return nil
	}
	return marshalError(m, codec, subtype)
}

// serverMarshalError returns the error gRPC's server gives when it cannot
// marshal the response m with the codec of the call's content-subtype
// (from md, the request metadata; proto's by default), or nil. isProto
// says m is a valid proto message. A server started with
// grpc.ForceServerCodec uses its own codec, which an interceptor cannot
// see: the content-subtype's is asked then too.
func serverMarshalError(md metadata.MD, m any, isProto bool) error {
	subtype := ""
	if v := md["content-type"]; len(v) > 0 {
		if rest, ok := strings.CutPrefix(v[0], "application/grpc"); ok && rest != "" && (rest[0] == '+' || rest[0] == ';') {
			subtype = strings.ToLower(rest[1:])
		}
	}
	if isProto && (subtype == "" || subtype == "proto") {
		return nil
	}
	return marshalError(m, nil, subtype)
}

// marshalError marshals m with codec, or with the codec registered for
// subtype ("" for proto) if codec is nil, and returns gRPC's error for a
// failure. A nil m is sent as an empty message; an unknown codec gives
// nil (gRPC reports that itself, before the call).
func marshalError(m any, codec any, subtype string) error {
	if m == nil {
		return nil
	}
	if codec == nil {
		if subtype == "" {
			subtype = "proto"
		}
		if c := encoding.GetCodecV2(subtype); c != nil {
			codec = c
		} else if c := encoding.GetCodec(subtype); c != nil {
			codec = c
		}
	}
	var err error
	switch c := codec.(type) {
	case encoding.CodecV2:
		var data interface{ Free() }
		data, err = c.Marshal(m)
		if err == nil {
			data.Free()
		}
	case encoding.Codec:
		_, err = c.Marshal(m)
	default:
		return nil
	}
	if err != nil {
		return status.Errorf(codes.Internal, "grpc: error while marshaling: %v", err.Error())
	}
	return nil
}
