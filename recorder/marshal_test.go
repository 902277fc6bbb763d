package recorder_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/streamtest/streamtest/recorder"
)

// wrongReply is a type no codec here marshals.
type wrongReply struct{}

// unaryService registers /u.U/M, whose handler decodes its request into
// newReq() and returns reply, through the server's interceptors.
func unaryService(newReq func() any, reply any) func(*grpc.Server) {
	sd := grpc.ServiceDesc{ServiceName: "u.U", HandlerType: (*any)(nil), Methods: []grpc.MethodDesc{{MethodName: "M",
		Handler: func(_ any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			in := newReq()
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(context.Context, any) (any, error) { return reply, nil }
			return icpt(ctx, in, &grpc.UnaryServerInfo{FullMethod: "/u.U/M"}, h)
		}}}}
	return func(s *grpc.Server) { s.RegisterService(&sd, struct{}{}) }
}

func protoCodec(t *testing.T) encoding.CodecV2 {
	c := encoding.GetCodecV2("proto")
	if c == nil {
		t.Fatal("no proto codec registered")
	}
	return c
}

// sideEvent returns the one event of side and kind in the recorder.
func sideEvent(t *testing.T, rec *recorder.Recorder, side recorder.Side, kind recorder.Kind) recorder.Event {
	t.Helper()
	var found []recorder.Event
	for _, e := range rec.Events() {
		if e.Side == side && e.Kind == kind {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s %s events, want 1\n%s", len(found), side, kind, rec)
	}
	return found[0]
}

// A unary message gRPC cannot marshal (its codec refuses the type) is
// marshaled after the interceptor has let go of it. The recorder asks the
// codec as gRPC will, so the Send carries gRPC's error and the End the
// status the client gets; a message gRPC can send (an empty one for nil
// or a typed nil, anything the call's own codec takes) records no error.
func TestUnaryMessagesGRPCCannotMarshal(t *testing.T) {
	empty := func() any { return new(testpb.Empty) }
	raw := grpc.WithDefaultCallOptions(grpc.CallContentSubtype(rawCodec{}.Name()))
	for _, tc := range []struct {
		name     string
		register func(*grpc.Server)
		req      any
		dial     []grpc.DialOption
		call     []grpc.CallOption
		ok       bool          // the call succeeds
		failSide recorder.Side // else: the side whose message gRPC cannot marshal
	}{
		{name: "server reply of a type proto cannot marshal", register: unaryService(empty, wrongReply{}), req: &testpb.Empty{}, failSide: recorder.Server},
		{name: "server reply with invalid UTF-8", register: unaryService(empty, &testpb.SimpleResponse{Username: "\xff"}), req: &testpb.Empty{}, failSide: recorder.Server},
		{name: "server reply without a required field (proto2)", register: unaryService(empty, &descriptorpb.UninterpretedOption_NamePart{}), req: &testpb.Empty{}, failSide: recorder.Server},
		{name: "client request with invalid UTF-8", register: unaryService(empty, &testpb.Empty{}), req: &testpb.SimpleRequest{FillServerId: true, Payload: &testpb.Payload{}, ResponseStatus: &testpb.EchoStatus{Message: "\xff"}}, failSide: recorder.Client},
		{name: "server reply nil", register: unaryService(empty, nil), req: &testpb.Empty{}, ok: true},
		{name: "server reply typed nil", register: unaryService(empty, (*testpb.Empty)(nil)), req: &testpb.Empty{}, ok: true},
		{name: "client request of a type proto cannot marshal", register: unaryService(empty, &testpb.Empty{}), req: wrongReply{}, failSide: recorder.Client},
		{name: "client request typed nil", register: unaryService(empty, &testpb.Empty{}), req: (*testpb.Empty)(nil), ok: true},
		{name: "raw codec, both messages its own", register: unaryService(func() any { return new(rawMsg) }, &rawMsg{text: "out"}),
			req: &rawMsg{text: "in"}, dial: []grpc.DialOption{raw}, ok: true},
		{name: "raw codec, server reply of a type it refuses", register: unaryService(func() any { return new(rawMsg) }, &testpb.Empty{}),
			req: &rawMsg{text: "in"}, dial: []grpc.DialOption{raw}, failSide: recorder.Server},
		{name: "raw codec chosen per call, client request it refuses", register: unaryService(func() any { return new(rawMsg) }, &rawMsg{}),
			req: wrongReply{}, call: []grpc.CallOption{grpc.CallContentSubtype(rawCodec{}.Name())}, failSide: recorder.Client},
		{name: "proto codec forced per call, client request it refuses", register: unaryService(empty, &testpb.Empty{}),
			req: &rawMsg{text: "in"}, dial: []grpc.DialOption{raw}, call: []grpc.CallOption{grpc.ForceCodecV2(protoCodec(t))}, failSide: recorder.Client},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := recorder.New()
			p := newPair(t, bufnet, rec, rec, tc.register, tc.dial...)
			ctx := ctxT(t)
			reply := any(new(testpb.Empty))
			if _, isRaw := tc.req.(*rawMsg); isRaw && tc.call == nil {
				reply = new(rawMsg)
			}
			err := p.conn.Invoke(ctx, "/u.U/M", tc.req, reply, tc.call...)
			if err := rec.Wait(ctx, func(evs []recorder.Event) bool {
				ends := 0
				for _, e := range evs {
					if e.Kind == recorder.End {
						ends++
					}
				}
				return ends == 1 && !tc.ok && tc.failSide == recorder.Client || ends == 2
			}); err != nil {
				t.Fatal(err)
			}
			if tc.ok {
				if err != nil {
					t.Fatalf("Invoke: %v", err)
				}
				for _, e := range rec.Events() {
					if e.Err != nil {
						t.Errorf("an error recorded on a call that succeeded: %v\n%s", e.Err, rec)
					}
				}
				return
			}
			if status.Code(err) != codes.Internal {
				t.Fatalf("Invoke: %v, want Internal (gRPC could not marshal)", err)
			}
			send := sideEvent(t, rec, tc.failSide, recorder.Send)
			if status.Convert(send.Err).Message() != status.Convert(err).Message() {
				t.Errorf("%s Send recorded with error %v, want the one gRPC gave: %v\n%s", tc.failSide, send.Err, err, rec)
			}
			for _, side := range []recorder.Side{recorder.Client, recorder.Server} {
				if side == recorder.Server && tc.failSide == recorder.Client {
					continue // the request never left
				}
				end := sideEvent(t, rec, side, recorder.End)
				if status.Code(end.Err) != codes.Internal || status.Convert(end.Err).Message() != status.Convert(err).Message() {
					t.Errorf("%s End recorded %v, want the status the client got: %v\n%s", side, end.Err, err, rec)
				}
			}
		})
	}
}
