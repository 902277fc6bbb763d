package recorder_test

import (
	"io"
	"slices"
	"testing"

	"google.golang.org/grpc"

	"github.com/streamtest/streamtest/recorder"
)

// v1Msg is a message of the protobuf APIv1 (github.com/golang/protobuf,
// gogo): Reset/String/ProtoMessage and struct tags, no ProtoReflect. gRPC's
// default proto codec marshals it (protoadapt.MessageV2Of).
type v1Msg struct {
	Text string `protobuf:"bytes,1,opt,name=text,proto3" json:"text,omitempty"`
}

func (m *v1Msg) Reset()         { *m = v1Msg{} }
func (m *v1Msg) String() string { return "text:" + m.Text }
func (*v1Msg) ProtoMessage()    {}

func TestAPIv1MessagesAreDeepCopied(t *testing.T) {
	rec := recorder.New()
	desc := grpc.StreamDesc{StreamName: "Echo", ClientStreams: true, ServerStreams: true,
		Handler: func(_ any, ss grpc.ServerStream) error {
			for {
				m := new(v1Msg)
				if err := ss.RecvMsg(m); err != nil {
					if err == io.EOF {
						return nil
					}
					return err
				}
				if err := ss.SendMsg(&v1Msg{Text: m.Text + "!"}); err != nil {
					return err
				}
			}
		}}
	p := newPair(t, bufnet, rec, rec, func(s *grpc.Server) {
		s.RegisterService(&grpc.ServiceDesc{ServiceName: "v1.V1", HandlerType: (*any)(nil), Streams: []grpc.StreamDesc{desc}}, struct{}{})
	})
	ctx := ctxT(t)
	cs, err := p.conn.NewStream(ctx, &desc, "/v1.V1/Echo")
	if err != nil {
		t.Fatal(err)
	}
	m := new(v1Msg) // reused for every Send and Recv, as client code does
	for _, s := range []string{"a", "b"} {
		m.Text = s
		if err := cs.SendMsg(m); err != nil {
			t.Fatal(err)
		}
		if err := cs.RecvMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	cs.CloseSend()
	if err := cs.RecvMsg(new(v1Msg)); err != io.EOF {
		t.Fatal(err)
	}
	if err := rec.Wait(ctx, allEnded); err != nil {
		t.Fatal(err)
	}
	// Each record holds the message as it was, in its own type.
	var got []string
	for _, e := range rec.Events() {
		if e.Side == recorder.Client && (e.Kind == recorder.Send || e.Kind == recorder.Recv) {
			m, ok := e.Msg.(*v1Msg)
			if !ok {
				t.Fatalf("recorded message is a %T, want *v1Msg\n%s", e.Msg, rec)
			}
			got = append(got, e.Kind.String()+" "+m.Text)
		}
	}
	want := []string{"send a", "recv a!", "send b", "recv b!"}
	if !slices.Equal(got, want) {
		t.Errorf("client events %q, want %q\n%s", got, want, rec)
	}
	// A typed nil of such a type is no message, as for any other.
	e := recorder.Event{Kind: recorder.Send, Msg: (*v1Msg)(nil)}
	_ = recorder.Timeline([]recorder.Event{e})
}
