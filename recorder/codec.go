package recorder

import (
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// A unary call's message is marshaled by gRPC after the interceptor has
// handed it on (the request) or returned it (the response), so the
// interceptor does not see gRPC fail to marshal it. For a valid proto
// message and the proto codec, the recorder's own copy finds what gRPC's
// marshal would (event.strict); for anything else (not a proto message,
// or another codec), these ask the call's codec, as gRPC will.

// clientMarshalCheck returns the error gRPC's Invoke gives when it cannot
// marshal the request m with the codec opts choose (a forced codec, else
// the codec of the content-subtype, else proto's), or nil; strict, for a
// valid proto message (isProto) and the proto codec: the recorder's copy
// checks what that codec does (see event.strict).
func clientMarshalCheck(m any, isProto bool, opts []grpc.CallOption) (strict bool, err error) {
	codec, protoCodec := callCodec(opts)
	if isProto && protoCodec {
		return true, nil
	}
	return false, grpcMarshalError(marshalErr(codec, m))
}

// callCodec returns the codec of a client call with options opts: the one
// they force, else the one registered for their content-subtype (nil if
// none is); protoCodec says it is proto's, by default.
func callCodec(opts []grpc.CallOption) (codec any, protoCodec bool) {
	subtype := ""
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.ForceCodecV2CallOption:
			codec = o.CodecV2
		case grpc.ForceCodecCallOption:
			codec = o.Codec
		case grpc.CustomCodecCallOption: // grpc.CallCustomCodec, grpc.WithCodec
			codec = o.Codec
		case grpc.ContentSubtypeCallOption:
			subtype = strings.ToLower(o.ContentSubtype)
		}
	}
	if codec != nil {
		return codec, false
	}
	return registeredCodec(subtype), protoSubtype(subtype)
}

// clientSendTooLarge reports whether gRPC's Invoke refuses to send the
// request m of a call to method because it is larger than the call's
// limit: grpc.MaxCallSendMsgSize (per call or as a default call option)
// and the service config's maxRequestMessageBytes, the smaller of the two
// if both are set, as gRPC takes them. The size is that of m encoded by
// the call's codec and compressed by its compressor (grpc.UseCompressor),
// which is what gRPC compares. It is asked only of a call that failed with
// ResourceExhausted, so its cost is off the recorded path. (A compressor
// set with the deprecated grpc.WithCompressor is invisible to interceptors:
// such a call is measured uncompressed.)
func clientSendTooLarge(cc *grpc.ClientConn, method string, m any, opts []grpc.CallOption) bool {
	var limit *int
	compressor := ""
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.MaxSendMsgSizeCallOption:
			limit = &o.MaxSendMsgSize
		case grpc.CompressorCallOption:
			compressor = o.CompressorType
		}
	}
	if cc != nil {
		if mc := cc.GetMethodConfig(method).MaxReqSize; mc != nil && (limit == nil || *mc < *limit) {
			limit = mc
		}
	}
	if limit == nil {
		return false // gRPC's default limit, math.MaxInt32, leaves room for any message it marshals
	}
	codec, _ := callCodec(opts)
	data, err := marshalWith(codec, m)
	defer data.Free()
	if err != nil {
		return false
	}
	n := data.Len()
	// gRPC sends an empty message uncompressed.
	if c := encoding.GetCompressor(compressor); c != nil && compressor != encoding.Identity && n > 0 {
		var buf countingWriter
		if w, err := c.Compress(&buf); err == nil {
			_, err1 := w.Write(data.Materialize())
			if err2 := w.Close(); err1 == nil && err2 == nil {
				n = int(buf)
			}
		}
	}
	return n > *limit
}

// countingWriter counts the bytes written to it.
type countingWriter int

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

// serverMarshalCheck returns the error gRPC's server gives when it cannot
// marshal the response of a unary call, or nil; strict, for a valid proto
// message (respIsProto) and the proto codec (see clientMarshalCheck). md is the request metadata, req the request and
// resp the response. The codec is the one of the call's
// content-subtype (proto's by default), unless the server uses another:
// grpc.ForceServerCodec, which an interceptor cannot see. gRPC decoded req
// with its codec, so a content-subtype codec that cannot marshal req is
// not the server's, and nothing is checked then.
func serverMarshalCheck(md metadata.MD, req, resp any, respIsProto bool) (strict bool, err error) {
	subtype := ""
	if v := md["content-type"]; len(v) > 0 {
		if rest, ok := strings.CutPrefix(v[0], "application/grpc"); ok && rest != "" && (rest[0] == '+' || rest[0] == ';') {
			subtype = strings.ToLower(rest[1:])
		}
	}
	if respIsProto && protoSubtype(subtype) {
		return true, nil
	}
	codec := registeredCodec(subtype)
	if marshalErr(codec, req) != nil {
		return false, nil
	}
	return false, grpcMarshalError(marshalErr(codec, resp))
}

// protoSubtype reports whether a call of content-subtype subtype uses the
// proto codec (gRPC's default, "" or "proto").
func protoSubtype(subtype string) bool { return subtype == "" || subtype == "proto" }

// registeredCodec returns the codec registered for subtype ("" for proto),
// or nil.
func registeredCodec(subtype string) any {
	if subtype == "" {
		subtype = "proto"
	}
	if c := encoding.GetCodecV2(subtype); c != nil {
		return c
	}
	if c := encoding.GetCodec(subtype); c != nil {
		return c
	}
	return nil
}

// marshalWith marshals m with codec (any of gRPC's codec interfaces) and
// returns what it marshaled, to Free, and the codec's error. A nil m is
// sent as an empty message, and an unknown codec (gRPC reports that
// itself, before the call) gives nothing and nil.
func marshalWith(codec, m any) (mem.BufferSlice, error) {
	if m == nil {
		return nil, nil
	}
	switch c := codec.(type) {
	case interface {
		Marshal(any) (mem.BufferSlice, error)
	}:
		return c.Marshal(m)
	case interface{ Marshal(any) ([]byte, error) }:
		b, err := c.Marshal(m)
		return mem.BufferSlice{mem.SliceBuffer(b)}, err
	}
	return nil, nil
}

// marshalErr returns the error of marshalWith, letting go of the bytes.
func marshalErr(codec, m any) error {
	data, err := marshalWith(codec, m)
	data.Free()
	return err
}

// grpcMarshalError is the status gRPC gives for a codec's error err.
func grpcMarshalError(err error) error {
	if err == nil {
		return nil
	}
	return status.Errorf(codes.Internal, "grpc: error while marshaling: %v", err.Error())
}
