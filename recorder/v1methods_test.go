package recorder_test

import (
	"context"
	"reflect"
	"testing"

	"google.golang.org/grpc"

	"github.com/streamtest/streamtest/recorder"
)

type v1Map map[string]string

func (v1Map) Reset()         {}
func (v1Map) String() string { return "map" }
func (v1Map) ProtoMessage()  {}

type v1Val struct{ A int }

func (v1Val) Reset()         {}
func (v1Val) String() string { return "val" }
func (v1Val) ProtoMessage()  {}

type okStream struct{ grpc.ClientStream }

func (okStream) Context() context.Context { return context.Background() }
func (okStream) SendMsg(any) error        { return nil }

// Types that have the three methods of the first protobuf API but are no
// protobuf messages (no protobuf struct tags; not even structs) are the
// messages of another codec: stored as given, never a panic.
func TestV1MethodsWithoutProtobufFieldsAreStoredAsGiven(t *testing.T) {
	for _, m := range []any{v1Map{"a": "b"}, v1Val{A: 1}, &v1Val{A: 2}} {
		rec := recorder.New()
		cs := rec.WrapClientStream(okStream{}, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/a.B/C")
		if err := cs.SendMsg(m); err != nil {
			t.Fatal(err)
		}
		reqs := rec.Calls()[0].Requests()
		if len(reqs) != 1 || !reflect.DeepEqual(reqs[0], m) {
			t.Errorf("%T: recorded %#v, want %#v as given", m, reqs, m)
		}
	}
}
