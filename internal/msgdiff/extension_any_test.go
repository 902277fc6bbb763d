package msgdiff_test

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/streamtest/streamtest/internal/msgdiff"
)

// An Any held in an extension: Same agrees with the diff, as for an Any
// held in a field.
func TestSameAnyInExtension(t *testing.T) {
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("msgdiff_ext_test.proto"),
		Package:    proto.String("msgdifftest"),
		Syntax:     proto.String("proto2"),
		Dependency: []string{"google/protobuf/any.proto", "google/protobuf/descriptor.proto"},
		Extension: []*descriptorpb.FieldDescriptorProto{{
			Name:     proto.String("payload"),
			Number:   proto.Int32(50001),
			Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
			Type:     descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum(),
			TypeName: proto.String(".google.protobuf.Any"),
			Extendee: proto.String(".google.protobuf.FileOptions"),
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	xt := dynamicpb.NewExtensionType(fd.Extensions().Get(0))
	opts := func(keys ...string) *descriptorpb.FileOptions {
		m := &descriptorpb.FileOptions{}
		a := anyOfStruct(t, keys...)
		m.ProtoReflect().Set(xt.TypeDescriptor(), protoreflect.ValueOfMessage(a.ProtoReflect()))
		return m
	}
	ab, ba := opts("a", "b"), opts("b", "a")
	if proto.Equal(ab, ba) {
		t.Fatal("the two packings have the same bytes: the test checks nothing")
	}
	d, err := msgdiff.Diff(ab, ba, nil)
	if err != nil {
		t.Fatal(err)
	}
	same := msgdiff.Same(ab, ba)
	if !same || d != "" {
		t.Errorf("the same Any in an extension: Same = %v, diff %q; want equal", same, d)
	}
}
