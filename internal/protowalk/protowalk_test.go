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

// SetFields finds a field set at any depth, through singular message
// fields, lists and maps' values, and stops at the first match.
func TestSetFields(t *testing.T) {
	// Struct.fields (a map) → Value.list_value (singular) → ListValue.values
	// (a list) → Value.struct_value → Struct.fields → Value.string_value.
	s, err := structpb.NewStruct(map[string]any{"a": []any{1.0, map[string]any{"b": "needle"}}})
	if err != nil {
		t.Fatal(err)
	}
	visits := 0
	is := func(want string) func(protoreflect.FieldDescriptor, protoreflect.Value) bool {
		return func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			visits++
			return fd.Kind() == protoreflect.StringKind && v.String() == want
		}
	}
	if !protowalk.SetFields(s.ProtoReflect(), is("needle")) {
		t.Error("SetFields did not find the string set four messages down")
	}
	found := visits
	visits = 0
	if protowalk.SetFields(s.ProtoReflect(), is("hay")) {
		t.Error("SetFields found a string that is not set")
	}
	// Struct.fields; a: list_value, values; 1.0: number_value; the
	// struct_value, its fields, b: string_value.
	if visits != 7 || found != visits {
		t.Errorf("SetFields visited %d fields to find the needle and %d in all, want 7 and 7 (the needle is the last)", found, visits)
	}
}
