package protowalk_test

import (
	"testing"

	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/apipb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/typepb"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/protowalk"
)

func TestMain(m *testing.M) { grpctest.VerifyTestMain(m) }

func TestReaches(t *testing.T) {
	isAny := protowalk.New(func(md protoreflect.MessageDescriptor) bool { return md.FullName() == "google.protobuf.Any" })
	extendable := protowalk.Extendable
	for _, tc := range []struct {
		name string
		p    *protowalk.Property
		md   protoreflect.MessageDescriptor
		want bool
	}{
		{"the type itself", isAny, (&anypb.Any{}).ProtoReflect().Descriptor(), true},
		{"through a repeated field (Type.options → Option.value)", isAny, (&typepb.Type{}).ProtoReflect().Descriptor(), true},
		{"two levels down (Api.methods → Method.options → Option.value)", isAny, (&apipb.Api{}).ProtoReflect().Descriptor(), true},
		{"recursive, through a map's values, without one", isAny, (&structpb.Struct{}).ProtoReflect().Descriptor(), false},
		{"no message fields", isAny, (&testpb.Empty{}).ProtoReflect().Descriptor(), false},
		{"extension ranges, in a field", extendable, (&descriptorpb.FileDescriptorProto{}).ProtoReflect().Descriptor(), true},
		{"no extension ranges", extendable, (&testpb.StreamingOutputCallRequest{}).ProtoReflect().Descriptor(), false},
	} {
		for run := range 2 { // the second answer comes from the cache
			if got := tc.p.Reaches(tc.md); got != tc.want {
				t.Errorf("%s (run %d): Reaches(%s) = %v, want %v", tc.name, run+1, tc.md.FullName(), got, tc.want)
			}
		}
	}
}
