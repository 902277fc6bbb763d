package recorder_test

import (
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"

	"github.com/streamtest/streamtest/recorder"
)

// jsonV1 is the message type of a JSON codec. It also has the three
// methods of a protobuf APIv1 message (old code kept them so that
// grpc.Codec users could pass it where a proto.Message was wanted), but no
// protobuf struct tags: proto cannot marshal its fields.
type jsonV1 struct {
	Text string `json:"text"`
}

func (m *jsonV1) Reset()         { *m = jsonV1{} }
func (m *jsonV1) String() string { return m.Text }
func (*jsonV1) ProtoMessage()    {}

type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error)   { return json.Marshal(v) }
func (jsonCodec) Unmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
func (jsonCodec) Name() string                    { return "review-json" }

func init() { encoding.RegisterCodec(jsonCodec{}) }

func TestJSONCodecMessageWithV1Methods(t *testing.T) {
	rec := recorder.New()
	desc := grpc.StreamDesc{StreamName: "Echo", ClientStreams: true, ServerStreams: true,
		Handler: func(_ any, ss grpc.ServerStream) error {
			for {
				m := new(jsonV1)
				if err := ss.RecvMsg(m); err != nil {
					if err == io.EOF {
						return nil
					}
					return err
				}
			}
		}}
	p := newPair(t, bufnet, rec, rec, func(s *grpc.Server) {
		s.RegisterService(&grpc.ServiceDesc{ServiceName: "j.J", HandlerType: (*any)(nil), Streams: []grpc.StreamDesc{desc}}, struct{}{})
	}, grpc.WithDefaultCallOptions(grpc.CallContentSubtype("review-json")))
	ctx := ctxT(t)
	cs, err := p.conn.NewStream(ctx, &desc, "/j.J/Echo")
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.SendMsg(&jsonV1{Text: "hello"}); err != nil {
		t.Fatal(err)
	}
	cs.CloseSend()
	if err := cs.RecvMsg(new(jsonV1)); err != io.EOF {
		t.Fatal(err)
	}
	if err := rec.Wait(ctx, allEnded); err != nil {
		t.Fatal(err)
	}
	for _, e := range rec.Events() {
		if e.Kind == recorder.Send || e.Kind == recorder.Recv {
			if m, ok := e.Msg.(*jsonV1); !ok || m.Text != "hello" {
				t.Errorf("%s %s recorded %s, want &{hello}\n%s", e.Side, e.Kind, fmt.Sprintf("%#v", e.Msg), rec)
			}
		}
	}
}
