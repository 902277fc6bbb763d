package fakes_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

type drainingService struct {
	testpb.UnimplementedTestServiceServer
}

func (drainingService) FullDuplexCall(st testpb.TestService_FullDuplexCallServer) error {
	for {
		if _, err := st.Recv(); err != nil {
			return err
		}
	}
}

// After the call's context is canceled, a real client stream's Send returns
// nil (buffered) or io.EOF, never a status: grpc-go's csAttempt.sendMsg turns
// every transport write error into io.EOF, "the status of the stream may be
// discovered using RecvMsg". The fake returns codes.Canceled from Send.
func TestSendAfterCancelIsEOFAsGRPCs(t *testing.T) {
	srv := grpctest.NewServer(t, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, drainingService{}) })
	ctx, cancel := context.WithCancel(context.Background())
	st, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(req(1)); err != nil {
		t.Fatal(err)
	}
	cancel()
	_, realRecv := st.Recv() // the stream has ended: Canceled
	realSend := st.Send(req(1))
	t.Logf("real: Recv %v; then Send %v", realRecv, realSend)

	fctx, fcancel := context.WithCancel(context.Background())
	fs := fakes.NewClientStream[dupReq, dupRes](fctx, fakes.WithMethod(fullDuplex))
	if err := fs.Send(req(1)); err != nil {
		t.Fatal(err)
	}
	fcancel()
	_, fakeRecv := fs.Recv()
	fakeSend := fs.Send(req(1))
	t.Logf("fake: Recv %v; then Send %v", fakeRecv, fakeSend)
	if errors.Is(realSend, io.EOF) && !errors.Is(fakeSend, io.EOF) {
		t.Errorf("fake Send after the context ended = %v (code %v), want io.EOF as the real stream's", fakeSend, status.Code(fakeSend))
	}
}

// Send after CloseSend is an error (Internal) even once the context has
// ended, as grpc's: gRPC checks the half-close first.
func TestSendAfterCloseSendAndCancel(t *testing.T) {
	srv := grpctest.NewServer(t, func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, drainingService{}) })
	ctx, cancel := context.WithCancel(context.Background())
	st, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	cancel()
	realErr := st.Send(req(1))

	fctx, fcancel := context.WithCancel(context.Background())
	fs := fakes.NewClientStream[dupReq, dupRes](fctx, fakes.WithMethod(fullDuplex))
	_ = fs.CloseSend()
	fcancel()
	fakeErr := fs.Send(req(1))
	if status.Code(realErr) != codes.Internal || status.Code(fakeErr) != status.Code(realErr) {
		t.Errorf("Send after CloseSend and cancel: fake %v, real %v; want Internal from both", fakeErr, realErr)
	}
}
