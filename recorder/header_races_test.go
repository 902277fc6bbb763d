package recorder_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"

	"github.com/streamtest/streamtest/recorder"
)

// gateHeader is further in than the recorder: its SendHeader reports that
// it was entered and lets gRPC's SendHeader run only once release is
// closed (a scheduler may delay any SendHeader so).
type gateHeader struct {
	grpc.ServerStream
	entered chan struct{}
	release chan struct{}
}

func (g gateHeader) SendHeader(md metadata.MD) error {
	close(g.entered)
	<-g.release
	return g.ServerStream.SendHeader(md)
}

// headerRace: SetHeader, then SendHeader on the handler's goroutine while
// another goroutine sends the first message (gRPC sends the header with
// it; the SendHeader then fails).
type headerRace struct {
	testpb.UnimplementedTestServiceServer
	rec     *recorder.Recorder
	entered chan struct{}
	release chan struct{}
}

func (h headerRace) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	if err := stream.SetHeader(metadata.Pairs("set", "1")); err != nil {
		return err
	}
	sent := make(chan error, 1)
	go func() {
		<-h.entered
		sent <- stream.Send(&testpb.StreamingOutputCallResponse{})
		close(h.release)
	}()
	herr := stream.SendHeader(metadata.Pairs("explicit", "1"))
	if err := <-sent; err != nil {
		return err
	}
	_ = herr // gRPC: "SendHeader called multiple times": the header went with the message
	// Return once the client has the message (and so the header).
	return h.rec.Wait(stream.Context(), func(ev []recorder.Event) bool {
		for _, e := range ev {
			if e.Side == recorder.Client && e.Kind == recorder.Recv {
				return true
			}
		}
		return false
	})
}

func TestHeaderSentWithAMessageWhileSendHeaderRuns(t *testing.T) {
	rec := recorder.New()
	entered, release := make(chan struct{}), make(chan struct{})
	p := wrappedPair(t, rec, func(ss grpc.ServerStream) grpc.ServerStream { return gateHeader{ss, entered, release} }, headerRace{rec: rec, entered: entered, release: release})
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	stream, err := testpb.NewTestServiceClient(p.conn).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	hdr, _ := stream.Header()
	closeAndDrain(t, ctx, stream, rec)

	// The client got the header {set: 1} with the message. The server's
	// record of that header must precede its Send (and the client's Header).
	var okHeader, send, cliHeader uint64
	for _, e := range rec.Events() {
		switch {
		case e.Side == recorder.Server && e.Kind == recorder.Header && e.Err == nil && okHeader == 0:
			okHeader = e.Seq
		case e.Side == recorder.Server && e.Kind == recorder.Send:
			send = e.Seq
		case e.Side == recorder.Client && e.Kind == recorder.Header:
			cliHeader = e.Seq
		}
	}
	if okHeader == 0 || okHeader > send || okHeader > cliHeader {
		t.Errorf("client received header %v; server Header (no error) #%d, server Send #%d, client Header #%d: want the header sent with the message recorded before both\n%s",
			hdr, okHeader, send, cliHeader, rec)
	}
}

// setDuringSendHeader: another goroutine calls SetHeader while SendHeader
// is on its way into gRPC; gRPC sends both.
type setDuringSendHeader struct {
	testpb.UnimplementedTestServiceServer
	entered chan struct{}
	release chan struct{}
}

func (h setDuringSendHeader) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	setErr := make(chan error, 1)
	go func() {
		<-h.entered
		setErr <- stream.SetHeader(metadata.Pairs("late", "1"))
		close(h.release)
	}()
	if err := stream.SendHeader(metadata.Pairs("explicit", "1")); err != nil {
		return err
	}
	if err := <-setErr; err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

func TestSetHeaderDuringSendHeaderIsRecorded(t *testing.T) {
	rec := recorder.New()
	entered, release := make(chan struct{}), make(chan struct{})
	p := wrappedPair(t, rec, func(ss grpc.ServerStream) grpc.ServerStream { return gateHeader{ss, entered, release} }, setDuringSendHeader{entered: entered, release: release})
	ctx, cancel := context.WithCancel(ctxT(t))
	stream, err := testpb.NewTestServiceClient(p.conn).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := stream.Header()
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := rec.Wait(ctxT(t), allEnded); err != nil {
		t.Fatal(err)
	}
	if len(hdr.Get("late")) == 0 {
		t.Fatalf("client header %v: gRPC did not send the late SetHeader; the test does not apply", hdr)
	}
	for _, e := range rec.Events() {
		if e.Side == recorder.Server && e.Kind == recorder.Header && e.Err == nil && len(e.MD.Get("late")) > 0 {
			return
		}
	}
	t.Errorf("the client received header %v; no server Header recorded with late:1\n%s", hdr, rec)
}

// gateSet is further in than the recorder. Its SendHeader lets gRPC send
// only once gRPC has taken a SetHeader of another goroutine; that
// SetHeader returns to the recorder only after the SendHeader has returned
// to the handler. So the SetHeader went out with the header, and the
// recorder learns of it after its record of the header is complete.
type gateSet struct {
	grpc.ServerStream
	taken, explicitDone chan struct{}
}

func (g gateSet) SendHeader(md metadata.MD) error {
	<-g.taken
	return g.ServerStream.SendHeader(md)
}

func (g gateSet) SetHeader(md metadata.MD) error {
	err := g.ServerStream.SetHeader(md)
	close(g.taken)
	<-g.explicitDone
	return err
}

type setBeforeSendReturns struct {
	testpb.UnimplementedTestServiceServer
	explicitDone chan struct{}
}

func (h setBeforeSendReturns) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	setErr := make(chan error, 1)
	go func() { setErr <- stream.SetHeader(metadata.Pairs("late", "1")) }()
	err := stream.SendHeader(metadata.Pairs("explicit", "1"))
	close(h.explicitDone)
	if err != nil {
		return err
	}
	if err := <-setErr; err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

func TestSetHeaderTakenBeforeTheHeaderWentOutIsAddedToItsRecord(t *testing.T) {
	rec := recorder.New()
	taken, explicitDone := make(chan struct{}), make(chan struct{})
	p := wrappedPair(t, rec, func(ss grpc.ServerStream) grpc.ServerStream { return gateSet{ss, taken, explicitDone} }, setBeforeSendReturns{explicitDone: explicitDone})
	ctx, cancel := context.WithCancel(ctxT(t))
	stream, err := testpb.NewTestServiceClient(p.conn).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := stream.Header()
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := rec.Wait(ctxT(t), allEnded); err != nil {
		t.Fatal(err)
	}
	if len(hdr.Get("late")) == 0 || len(hdr.Get("explicit")) == 0 {
		t.Fatalf("client received header %v, want late and explicit: the test does not apply", hdr)
	}
	var headers []recorder.Event
	for _, e := range rec.Events() {
		if e.Side == recorder.Server && e.Kind == recorder.Header {
			headers = append(headers, e)
		}
	}
	if len(headers) != 1 || len(headers[0].MD.Get("late")) == 0 || len(headers[0].MD.Get("explicit")) == 0 {
		t.Errorf("server headers %v, want one with late and explicit, as the client received\n%s", headers, rec)
	}
}
