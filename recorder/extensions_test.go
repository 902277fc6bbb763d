package recorder_test

import (
	"io"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/streamtest/streamtest/recorder"
)

// An extension type that is not in protoregistry.GlobalTypes (built at run
// time, as with dynamicpb or a local registry).
func localExtension(t *testing.T) protoreflect.ExtensionType {
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("review/ext.proto"),
		Package:    proto.String("review"),
		Dependency: []string{"google/protobuf/descriptor.proto"},
		Extension: []*descriptorpb.FieldDescriptorProto{{
			Name:     proto.String("note"),
			Number:   proto.Int32(50001),
			Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
			Type:     descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(),
			Extendee: proto.String(".google.protobuf.FieldOptions"),
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	return dynamicpb.NewExtensionType(fd.Extensions().Get(0))
}

func TestUnregisteredExtensionsSurviveTheCopy(t *testing.T) {
	ext := localExtension(t)
	rec := recorder.New()
	desc := grpc.StreamDesc{StreamName: "Echo", ClientStreams: true, ServerStreams: true,
		Handler: func(_ any, ss grpc.ServerStream) error {
			for {
				if err := ss.RecvMsg(new(emptypb.Empty)); err != nil { // any message decodes into it
					if err == io.EOF {
						return nil
					}
					return err
				}
			}
		}}
	p := newPair(t, bufnet, rec, rec, func(s *grpc.Server) {
		s.RegisterService(&grpc.ServiceDesc{ServiceName: "x.X", HandlerType: (*any)(nil), Streams: []grpc.StreamDesc{desc}}, struct{}{})
	})
	ctx := ctxT(t)
	cs, err := p.conn.NewStream(ctx, &desc, "/x.X/Echo")
	if err != nil {
		t.Fatal(err)
	}
	opts := &descriptorpb.FieldOptions{Deprecated: proto.Bool(true)}
	proto.SetExtension(opts, ext, "hello")
	// The extension at the top, and in a message within a message.
	sent := []proto.Message{opts, &descriptorpb.DescriptorProto{Field: []*descriptorpb.FieldDescriptorProto{{Options: opts}}}}
	for _, m := range sent {
		if err := cs.SendMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	proto.SetExtension(opts, ext, "changed after Send")
	cs.CloseSend()
	if err := cs.RecvMsg(new(emptypb.Empty)); err != io.EOF {
		t.Fatal(err)
	}
	proto.SetExtension(opts, ext, "hello")
	got := rec.Calls()[0].Requests()
	if len(got) != len(sent) {
		t.Fatalf("recorded %d requests, want %d\n%s", len(got), len(sent), rec)
	}
	for i := range sent {
		if m, ok := got[i].(proto.Message); !ok || !proto.Equal(m, sent[i]) {
			t.Errorf("recorded request %v, sent %v", got[i], sent[i])
		}
	}
}
