package recorder_test

import (
	"fmt"
	"testing"

	"google.golang.org/grpc"

	"github.com/streamtest/streamtest/recorder"
)

// v0Codec is a grpc.Codec (String, the deprecated interface) and an
// encoding.Codec (Name) for rawMsg.
type v0Codec struct{}

func (v0Codec) Marshal(v any) ([]byte, error) {
	m, ok := v.(*rawMsg)
	if !ok {
		return nil, fmt.Errorf("v0Codec: cannot marshal %T", v)
	}
	return []byte(m.text), nil
}
func (v0Codec) Unmarshal(b []byte, v any) error {
	m, ok := v.(*rawMsg)
	if !ok {
		return fmt.Errorf("v0Codec: cannot unmarshal into %T", v)
	}
	m.text = string(b)
	return nil
}
func (v0Codec) String() string { return "v0raw" }
func (v0Codec) Name() string   { return "v0raw" }

// grpc.WithCodec (= WithDefaultCallOptions(grpc.CallCustomCodec(c))) is a
// codec the client uses: the call succeeds, so no error may be recorded.
func TestLegacyCustomCodecRecordsNoError(t *testing.T) {
	rec := recorder.New()
	sopts := append([]grpc.ServerOption{grpc.ForceServerCodec(v0Codec{})}, rec.ServerOptions()...)
	p := newPairOpts(t, bufnet, sopts,
		unaryService(func() any { return new(rawMsg) }, &rawMsg{text: "out"}),
		append(rec.DialOptions(), grpc.WithDefaultCallOptions(grpc.CustomCodecCallOption{Codec: v0Codec{}}))...)
	ctx := ctxT(t)
	if err := p.conn.Invoke(ctx, "/u.U/M", &rawMsg{text: "in"}, new(rawMsg)); err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if err := rec.Wait(ctx, allEnded); err != nil {
		t.Fatal(err)
	}
	noErrors(t, rec)
}

// Same, with the client recorded only, and the codec chosen per call.
func TestCustomCodecPerCallRecordsNoError(t *testing.T) {
	rec := recorder.New()
	sopts := append([]grpc.ServerOption{grpc.ForceServerCodec(v0Codec{})}, recorder.New().ServerOptions()...)
	p := newPairOpts(t, bufnet, sopts,
		unaryService(func() any { return new(rawMsg) }, &rawMsg{text: "out"}), rec.DialOptions()...)
	ctx := ctxT(t)
	if err := p.conn.Invoke(ctx, "/u.U/M", &rawMsg{text: "in"}, new(rawMsg), grpc.CustomCodecCallOption{Codec: v0Codec{}}); err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	noErrors(t, rec)
}

// A server with grpc.ForceServerCodec: the client names its codec "proto"
// on the wire (ForceCodec of a codec named so), the server's forced codec
// marshals the reply. The call succeeds: the server End must say OK.
type protoNamed struct{ v0Codec }

func (protoNamed) Name() string { return "proto" }

func TestForceServerCodecRecordsNoError(t *testing.T) {
	rec := recorder.New()
	sopts := append([]grpc.ServerOption{grpc.ForceServerCodec(v0Codec{})}, rec.ServerOptions()...)
	p := newPairOpts(t, bufnet, sopts,
		unaryService(func() any { return new(rawMsg) }, &rawMsg{text: "out"}))
	ctx := ctxT(t)
	if err := p.conn.Invoke(ctx, "/u.U/M", &rawMsg{text: "in"}, new(rawMsg), grpc.ForceCodec(protoNamed{})); err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if err := rec.Wait(ctx, allEnded); err != nil {
		t.Fatal(err)
	}
	noErrors(t, rec)
}

// noErrors fails t if rec holds an event with an error: the calls
// succeeded.
func noErrors(t *testing.T, rec *recorder.Recorder) {
	t.Helper()
	for _, e := range rec.Events() {
		if e.Err != nil {
			t.Errorf("#%d %s %s recorded error %v on a call that succeeded\n%s", e.Seq, e.Side, e.Kind, e.Err, rec)
		}
	}
}
