package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/streamtest/streamtest/examples"
	"github.com/streamtest/streamtest/examples/chatpb"
	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/spytb"
	"github.com/streamtest/streamtest/recorder"
)

// badInput is one row of the misuse table: the misuse (Markdown) and try,
// which commits it through a spy, asserts the clear error or report it
// must give, and returns what it observed, for BAD_INPUT.md. A row whose
// right behaviour is not there yet has bug set: it is skipped with that
// reason, and the table says so; STREAMTEST_BUGS=1 runs it anyway, to
// check a fix before the bug is removed from the row.
type badInput struct {
	misuse string
	bug    string
	try    func(t *testing.T, spy *spytb.TB) string
}

// Names used by the rows.
const (
	postMethod = "/streamtest.examples.chat.v1.Chat/Post"
	noMethod   = "/no.Such/Method"
)

var (
	chatMsg  = &chatpb.Message{Room: "lobby", Text: "hi"}
	wrongMsg = &testgrpc.SimpleRequest{ResponseSize: 1} // not a chat message
)

func chatService(s *grpc.Server) { examples.NewChatServer().Register(s) }

// failNowChat's Post fails its test with Fatalf, as a require in a handler
// does.
type failNowChat struct {
	chatpb.UnimplementedChatServer
	t testing.TB
}

func (c failNowChat) Post(context.Context, *chatpb.Message) (*chatpb.Ack, error) {
	c.t.Fatalf("handler gave up")
	return &chatpb.Ack{}, nil
}

// badUnary registers /bad.Bad/Get, a unary method that takes a chat
// message and whose handler is h: for handlers no generated service can
// have (one that returns a non-proto response).
func badUnary(h grpc.UnaryHandler) func(*grpc.Server) {
	return func(s *grpc.Server) {
		s.RegisterService(&grpc.ServiceDesc{ServiceName: "bad.Bad", HandlerType: (*any)(nil), Methods: []grpc.MethodDesc{{MethodName: "Get",
			Handler: func(_ any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
				in := new(chatpb.Message)
				if err := dec(in); err != nil {
					return nil, err
				}
				return icpt(ctx, in, &grpc.UnaryServerInfo{FullMethod: "/bad.Bad/Get"}, h)
			}}}}, struct{}{})
	}
}

func badInputs() []badInput {
	return []badInput{
		// ---- nil messages
		{"`stream.Send(nil)` on a real client stream (grpc-go, typed nil)", "", func(t *testing.T, spy *spytb.TB) string {
			return sendNilReal(t, spy, func(s chatpb.Chat_TalkClient) error { return s.Send(nil) })
		}},
		{"`stream.SendMsg(nil)` on a real client stream (untyped nil)", "", func(t *testing.T, spy *spytb.TB) string {
			return sendNilReal(t, spy, func(s chatpb.Chat_TalkClient) error { return s.SendMsg(nil) })
		}},
		{"a fakes `ServerStream` or `ClientStream` not made by its constructor (a zero value, a nil pointer)", "", func(t *testing.T, spy *spytb.TB) string {
			var s fakes.ServerStream[chatpb.Message, chatpb.Message]
			_, err := s.Recv()
			var c *fakes.ClientStream[chatpb.Message, chatpb.Message]
			cerr := c.Send(chatMsg)
			wantErr(t, "a zero ServerStream", err, codes.FailedPrecondition, "NewServerStream")
			wantErr(t, "a nil ClientStream", cerr, codes.FailedPrecondition, "NewClientStream")
			spy.WantClean(t)
			return "every method that returns an error returns " + errCell(err) + "; `Context` is canceled; the others do nothing"
		}},
		{"fakes `ClientStream.Send(new(dynamicpb.Message))` (a dynamic message of no type)", "", func(t *testing.T, spy *spytb.TB) string {
			c := fakes.NewClientStream[dynamicpb.Message, dynamicpb.Message](t.Context())
			err := c.Send(new(dynamicpb.Message))
			wantErr(t, "an untyped dynamic message", err, codes.InvalidArgument, "no message type")
			c.Finish(nil)
			spy.WantClean(t)
			return errCell(err) + " (`Push` and `Respond` of one: the next `Recv` fails, naming it)"
		}},
		{"fakes `ServerStream.Push(nil)`", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			spy.Run(func() {
				s := fakes.NewServerStream[chatpb.Message, chatpb.Message](t.Context())
				s.Push(nil)
				_, err = s.Recv()
			})
			wantErr(t, "the handler's Recv after Push(nil)", err, codes.FailedPrecondition, "Push", "nil")
			spy.WantClean(t)
			return "the handler's next `Recv` fails: " + errCell(err)
		}},
		{"fakes `ServerStream.Send(nil)` (a handler sends nil)", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			spy.Run(func() {
				err = fakes.NewServerStream[chatpb.Message, chatpb.Message](t.Context()).Send(nil)
			})
			wantErr(t, "Send(nil)", err, codes.InvalidArgument, "nil")
			return errCell(err)
		}},
		{"fakes `ClientStream.Send(nil)`", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			spy.Run(func() {
				err = fakes.NewClientStream[chatpb.Message, chatpb.Message](t.Context()).Send(nil)
			})
			wantErr(t, "Send(nil)", err, codes.InvalidArgument, "nil")
			return errCell(err)
		}},
		{"fakes `ClientStream.Respond(nil)`", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			spy.Run(func() {
				c := fakes.NewClientStream[chatpb.Message, chatpb.Message](t.Context())
				c.Respond(nil)
				_, err = c.Recv()
			})
			wantErr(t, "Recv after Respond(nil)", err, codes.FailedPrecondition, "Respond", "nil")
			spy.WantClean(t)
			return "the code's next `Recv` fails: " + errCell(err)
		}},
		{"fakes `ServerStream.SendHeader` with an upper-case key (a `metadata.MD` literal)", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			spy.Run(func() {
				err = fakes.NewServerStream[chatpb.Message, chatpb.Message](t.Context()).SendHeader(metadata.MD{"X-Id": {"1"}})
			})
			wantErr(t, "SendHeader", err, codes.Internal, "X-Id", "[0-9a-z-_.]")
			return errCell(err)
		}},
		{"fakes `ServerStream.SetTrailer` with a line break in a value", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			spy.Run(func() {
				s := fakes.NewServerStream[chatpb.Message, chatpb.Message](t.Context())
				s.SetTrailer(metadata.Pairs("x-id", "a\nb"))
				s.End(nil)
				_, err = s.Next(t.Context())
			})
			wantErr(t, "Next after End", err, codes.Internal, "x-id", "SetTrailer")
			spy.WantClean(t)
			return "the stream ends with what a grpc-go client gets: " + errCell(err)
		}},
		{"fakes `ClientStream.RespondTrailer` with an upper-case key", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			spy.Run(func() {
				err = fakes.NewClientStream[chatpb.Message, chatpb.Message](t.Context()).RespondTrailer(metadata.MD{"X-Id": {"1"}})
			})
			if err == nil || !strings.Contains(err.Error(), "X-Id") {
				t.Fatalf("RespondTrailer: %v; want an error naming the key", err)
			}
			return errCell(err)
		}},
		{"fakes `ClientStream.RespondHeader` with `content-type` (a key gRPC reserves)", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			spy.Run(func() {
				err = fakes.NewClientStream[chatpb.Message, chatpb.Message](t.Context()).RespondHeader(metadata.Pairs("content-type", "application/json"))
			})
			if err == nil || !strings.Contains(err.Error(), `"content-type" is one gRPC reserves`) {
				t.Fatalf("RespondHeader: %v; want an error naming the reserved key", err)
			}
			return errCell(err)
		}},
		{"scripted fake server: `SetTrailer` with `grpc-status`", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				fakes.NewServer(spy).Expect(postMethod).SetTrailer(metadata.Pairs("grpc-status", "5")).Times(0)
			})
			return reportCell(spy.Want(t, 1, "step 1 SetTrailer", `"grpc-status" is the call's status`))
		}},
		{"scripted fake server: `Do(nil)`", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				fakes.NewServer(spy).Expect(postMethod).Do(nil).Times(0)
			})
			return reportCell(spy.Want(t, 1, "step 1 Do", "Do(nil)"))
		}},
		{"scripted fake server: `SetTrailer` with an upper-case key", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				fakes.NewServer(spy).Expect(postMethod).SetTrailer(metadata.MD{"X-Id": {"1"}}).Times(0)
			})
			return reportCell(spy.Want(t, 1, "step 1 SetTrailer", "X-Id", "which gRPC refuses"))
		}},
		{"`grpctest.AssertMessages(t, []any{nil}, got)`", "", func(t *testing.T, spy *spytb.TB) string {
			var ok bool
			spy.Run(func() { ok = grpctest.AssertMessages(spy, []any{nil}, []any{chatMsg}) })
			if ok {
				t.Errorf("AssertMessages returned true, want false")
			}
			return "returns false; " + reportCell(spy.Want(t, 1, "mismatch (-want +got):", "nil", "lobby"))
		}},
		{"`grpctest.RequireMessages(t, nil, got)`", "", func(t *testing.T, spy *spytb.TB) string {
			o := spy.Run(func() { grpctest.RequireMessages(spy, nil, []any{chatMsg}) })
			if !o.FailedNow {
				t.Errorf("RequireMessages did not call FailNow")
			}
			return reportCell(spy.Want(t, 1, "mismatch (-want +got):", "lobby")) + ", then `t.FailNow`"
		}},
		{"`grpctest.AssertMessages(t, []any{}, call.Responses())` for a call without responses (empty vs nil)",
			"",
			func(t *testing.T, spy *spytb.TB) string {
				var ok bool
				spy.Run(func() { ok = grpctest.AssertMessages(spy, []any{}, nil) })
				if !ok {
					t.Errorf("AssertMessages([]any{}, nil) = false, want true: no messages either way")
				}
				spy.WantClean(t)
				return "returns true"
			}},
		{"`grpctest.AssertMessages` or `ClientSends` (any message step) with `new(dynamicpb.Message)` (a dynamic message of no type)", "", func(t *testing.T, spy *spytb.TB) string {
			var ok bool
			spy.Run(func() { ok = grpctest.AssertMessages(spy, []any{chatMsg}, []any{new(dynamicpb.Message)}) })
			if ok {
				t.Errorf("AssertMessages returned true, want false")
			}
			r := spy.Want(t, 1, "cannot compare the messages: got[0] is a *dynamicpb.Message with no message type", "dynamicpb.NewMessage")
			spy.Run(func() {
				ok = grpctest.AssertOrder(spy, recorder.New(), grpctest.With(grpctest.ClientSends(new(dynamicpb.Message)), protocmp.IgnoreEmptyMessages()))
			})
			if ok {
				t.Errorf("AssertOrder returned true, want false")
			}
			spy.Want(t, 2, "step 1, ClientSends(*dynamicpb.Message of no message type): a *dynamicpb.Message with no message type matches no message")
			return "returns false; " + reportCell(r) + "; a step with one is reported as a misuse of `AssertOrder`/`AssertNever`"
		}},
		{"a nil `*dynamicpb.Message` (whose methods panic) given to `AssertMessages`, a step, a script's `Recv` or `Send`, `fakes` streams, or rendered in a timeline", "", func(t *testing.T, spy *spytb.TB) string {
			var nilDyn *dynamicpb.Message
			var ok bool
			spy.Run(func() { ok = grpctest.AssertMessages(spy, []any{nilDyn}, []any{chatMsg}) })
			if ok {
				t.Errorf("AssertMessages returned true, want false")
			}
			r := spy.Want(t, 1, "cannot compare the messages: want[0] is a *dynamicpb.Message with no message type")
			spy.Run(func() { ok = grpctest.AssertOrder(spy, recorder.New(), grpctest.ServerSends(nilDyn)) })
			if ok {
				t.Errorf("AssertOrder returned true, want false")
			}
			spy.Want(t, 2, "step 1, ServerSends(*dynamicpb.Message of no message type)")
			var misuse spytb.Report
			spy.Run(func() {
				srv := fakes.NewServer(spy)
				srv.Expect(chatpb.Chat_Post_FullMethodName).Recv(nilDyn)
				srv.Expect(chatpb.Chat_Talk_FullMethodName).RecvAny().Send(nilDyn)
				srv.Close()
			})
			for _, r := range spy.Reports()[2:] {
				if strings.Contains(r.Msg, "step 2 Send:") {
					misuse = r
				}
			}
			spy.Want(t, 5, "step 1 Recv: Recv got a *dynamicpb.Message with no message type (nil, or not made by dynamicpb.NewMessage); want a streamtest.examples.chat.v1.Message")
			if !strings.Contains(misuse.Msg, "Send got a *dynamicpb.Message with no message type (nil, or not made by dynamicpb.NewMessage); want a streamtest.examples.chat.v1.Message") {
				t.Errorf("the script's Send of a nil *dynamicpb.Message was reported as:\n%s", misuse.Msg)
			}
			c := fakes.NewClientStream[dynamicpb.Message, dynamicpb.Message](t.Context())
			sendErr := c.Send(nilDyn)
			wantErr(t, "ClientStream.Send of a nil *dynamicpb.Message", sendErr, codes.InvalidArgument, "nil")
			c.Finish(nil)
			line := recorder.Timeline([]recorder.Event{{Seq: 1, CallID: 1, Kind: recorder.Send, Msg: nilDyn}})
			if !strings.Contains(line, "<nil *dynamicpb.Message>") {
				t.Errorf("the timeline renders it as:\n%s", line)
			}
			return "no panic: `AssertMessages` returns false; " + reportCell(r) + "; a step with one is a misuse; a script's step with one is reported at its line as a misuse, " + reportCell(misuse) + "; `ClientStream.Send` returns " + errCell(sendErr) + "; `FormatMessage` and the timeline show `<nil *dynamicpb.Message>`. " +
				"Sent through a recorded gRPC call, it is recorded as given, and gRPC's proto codec then panics, as it does without the recorder (for a `new(dynamicpb.Message)` too)"
		}},
		{"`grpctest.AssertMessages` on values cmp cannot compare (a struct with unexported fields)", "", func(t *testing.T, spy *spytb.TB) string {
			type opaque struct{ x int }
			var ok bool
			spy.Run(func() { ok = grpctest.AssertMessages(spy, []any{opaque{1}}, []any{opaque{2}}) })
			if ok {
				t.Errorf("AssertMessages returned true, want false")
			}
			return "returns false; " + reportCell(spy.Want(t, 1, "cannot compare", "AssertMessagesWith"))
		}},

		// ---- nil contexts
		{"fakes `NewServerStream(nil)` / `NewClientStream(nil)` (a nil context)", "", func(t *testing.T, spy *spytb.TB) string {
			var sendErr, recvErr error
			spy.Run(func() {
				var ctx context.Context
				sendErr = fakes.NewServerStream[chatpb.Message, chatpb.Message](ctx).Send(chatMsg)
				_, recvErr = fakes.NewClientStream[chatpb.Message, chatpb.Message](ctx).Recv()
			})
			wantErr(t, "Send on NewServerStream(nil)", sendErr, codes.InvalidArgument, "NewServerStream: ctx is nil")
			wantErr(t, "Recv on NewClientStream(nil)", recvErr, codes.InvalidArgument, "NewClientStream: ctx is nil")
			spy.WantClean(t)
			return "the stream is built; every `Send`/`Recv`/`Next` on it fails: " + errCell(sendErr)
		}},
		{"fakes `ServerStream.Next(nil)` / `ClientStream.Next(nil)` (a nil context)", "", func(t *testing.T, spy *spytb.TB) string {
			var serverErr, clientErr, after error
			spy.Run(func() {
				var ctx context.Context
				s := fakes.NewServerStream[chatpb.Message, chatpb.Message](t.Context())
				_, serverErr = s.Next(ctx)
				c := fakes.NewClientStream[chatpb.Message, chatpb.Message](t.Context())
				_, clientErr = c.Next(ctx)
				if after = s.Send(chatMsg); after == nil {
					_, after = s.Next(t.Context())
				}
			})
			wantErr(t, "ServerStream.Next(nil)", serverErr, codes.InvalidArgument, "ServerStream.Next: ctx is nil")
			wantErr(t, "ClientStream.Next(nil)", clientErr, codes.InvalidArgument, "ClientStream.Next: ctx is nil")
			if after != nil {
				t.Errorf("Send and Next after Next(nil): %v; want the stream unchanged", after)
			}
			spy.WantClean(t)
			return "that call fails, the stream is unchanged: " + errCell(serverErr)
		}},

		// ---- wrong message types
		{"fakes `ServerStream.SendMsg` with a message of another type", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			spy.Run(func() {
				err = fakes.NewServerStream[chatpb.Message, chatpb.Message](t.Context()).SendMsg(wrongMsg)
			})
			wantErr(t, "SendMsg(wrong type)", err, codes.Internal, "SimpleRequest")
			return errCell(err)
		}},
		{"fakes `ServerStream.RecvMsg` into a message of another type", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			spy.Run(func() {
				s := fakes.NewServerStream[chatpb.Message, chatpb.Message](t.Context())
				s.Push(chatMsg)
				err = s.RecvMsg(new(testgrpc.SimpleRequest))
			})
			wantErr(t, "RecvMsg(wrong type)", err, codes.Internal, "SimpleRequest")
			return errCell(err)
		}},
		{"fakes `ClientStream.SendMsg` with a message of another type", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			spy.Run(func() {
				err = fakes.NewClientStream[chatpb.Message, chatpb.Message](t.Context()).SendMsg(wrongMsg)
			})
			wantErr(t, "SendMsg(wrong type)", err, codes.Internal, "SimpleRequest")
			return errCell(err)
		}},
		{"scripted fake server: `Send` of the wrong response type", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				fakes.NewServer(spy).Expect(talkMethod).Send(wrongMsg).Times(0)
			})
			return "reported at the line of the step: " + reportCell(spy.Want(t, 1, "Send", "SimpleRequest", "Message"))
		}},
		{"scripted fake server: `Recv` of the wrong request type", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				fakes.NewServer(spy).Expect(talkMethod).Recv(wrongMsg).Times(0)
			})
			return "reported at the line of the step: " + reportCell(spy.Want(t, 1, "Recv", "SimpleRequest", "Message"))
		}},

		// ---- unknown methods
		{"fakes `Expect(\"/no.Such/Method\")`", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() { fakes.NewServer(spy).Expect(noMethod).Send(chatMsg) })
			return reportCell(spy.Want(t, 1, noMethod, "no service no.Such"))
		}},
		{"a real call to a method no service registers (grpctest harness)", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			var end codes.Code
			spy.Run(func() {
				srv := grpctest.NewServer(spy, chatService)
				stream, serr := srv.Conn().NewStream(t.Context(), &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, noMethod)
				if serr != nil {
					err = serr
					return
				}
				_, err = grpctest.Go(spy, func() (*chatpb.Message, error) {
					m := new(chatpb.Message)
					return m, stream.RecvMsg(m)
				}).Wait(waitBound)
				for _, e := range srv.Recorder().Events() {
					if e.Kind == recorder.End {
						end = status.Code(e.Err)
					}
				}
				srv.Close()
			})
			wantErr(t, "a call of "+noMethod, err, codes.Unimplemented, "no.Such")
			if end != codes.Unimplemented {
				t.Errorf("recorded client End code %v, want Unimplemented", end)
			}
			spy.WantClean(t)
			return "the call fails: " + errCell(err) + "; recorded as a client End with that status, Close reports nothing"
		}},
		{"a unary handler that returns a response gRPC cannot marshal (not a proto message)", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			var send, end recorder.Event
			spy.Run(func() {
				srv := grpctest.NewServer(spy, badUnary(func(context.Context, any) (any, error) { return "not a message", nil }))
				err = srv.Conn().Invoke(t.Context(), "/bad.Bad/Get", chatMsg, new(chatpb.Message))
				for _, e := range srv.Recorder().Events() {
					if e.Side == recorder.Server && e.Kind == recorder.Send {
						send = e
					}
					if e.Side == recorder.Server && e.Kind == recorder.End {
						end = e
					}
				}
				srv.Close()
			})
			wantErr(t, "the call", err, codes.Internal, "error while marshaling")
			if status.Convert(send.Err).Message() != status.Convert(err).Message() || status.Code(end.Err) != codes.Internal {
				t.Errorf("recorded server Send error %v and End %v, want the client's status %v on both", send.Err, end.Err, err)
			}
			spy.WantClean(t)
			return "the call fails: " + errCell(err) + "; recorded as the server Send's error and the server End's status"
		}},
		{"a handler that panics (grpctest harness)", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			var end recorder.Event
			spy.Run(func() {
				srv := grpctest.NewServer(spy, badUnary(func(context.Context, any) (any, error) { panic("boom") }))
				err = srv.Conn().Invoke(t.Context(), "/bad.Bad/Get", chatMsg, new(chatpb.Message))
				for _, e := range srv.Recorder().Events() {
					if e.Side == recorder.Server && e.Kind == recorder.End {
						end = e
					}
				}
				srv.Close()
			})
			wantErr(t, "the call", err, codes.Internal, "panicked: boom")
			if status.Code(end.Err) != codes.Internal {
				t.Errorf("recorded server End %v, want Internal", end.Err)
			}
			spy.Want(t, 1, "grpctest: the handler of /bad.Bad/Get panicked: boom\n(the client got Internal)\npanic(", "badinput_rows_test.go:")
			return "the test binary does not crash: the call fails: " + errCell(err) +
				"; recorded as a server End with Internal; Close reports t.Errorf `grpctest: the handler of /bad.Bad/Get panicked: boom`, `(the client got Internal)` and the stack from the panic on"
		}},
		{"a call to the scripted fake server that no `Expect` describes", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			spy.Run(func() {
				fake := fakes.NewServer(spy)
				_, err = chatpb.NewChatClient(fake.Conn()).Post(t.Context(), chatMsg)
				fake.Close()
			})
			wantErr(t, "an unexpected call", err, codes.FailedPrecondition, postMethod)
			r := spy.Want(t, 1, "unexpected", postMethod)
			return "the call fails: " + errCell(err) + "; at Close: " + reportCell(r)
		}},

		// ---- script misuse
		{"scripted fake server: a step after `Return`", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				fakes.NewServer(spy).Expect(talkMethod).Return(nil).Send(chatMsg).Times(0)
			})
			return "reported at the line of the step: " + reportCell(spy.Want(t, 1, "after Return"))
		}},
		{"scripted fake server: `Times(-1)`", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				fakes.NewServer(spy).Expect(talkMethod).Times(-1).Times(0)
			})
			return reportCell(spy.Want(t, 1, "Times(-1)"))
		}},
		{"scripted fake server: a second `Recv` on a unary method", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				fakes.NewServer(spy).Expect(postMethod).RecvAny().RecvAny().Times(0)
			})
			return reportCell(spy.Want(t, 1, "not client-streaming"))
		}},
		{"scripted fake server: `Return(nil)` on a unary method before its one `Send`", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				fakes.NewServer(spy).Expect(postMethod).RecvAny().Return(nil).Times(0)
			})
			return "reported at the line of the step: " + reportCell(spy.Want(t, 1, "step 2 Return", "before the response", "not server-streaming"))
		}},
		{"scripted fake server: a unary call whose script ends without a `Send`", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			spy.Run(func() {
				fake := fakes.NewServer(spy)
				fake.Expect(postMethod).RecvAny()
				_, err = chatpb.NewChatClient(fake.Conn()).Post(t.Context(), chatMsg)
				fake.Close()
			})
			wantErr(t, "a unary call scripted without its response", err, codes.FailedPrecondition, postMethod, "without a response")
			r := spy.Want(t, 1, "not used as scripted", "without a response")
			return "the call fails: " + errCell(err) + "; at Close: " + reportCell(r)
		}},
		{"scripted fake server: `Sleep(-1)`", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				fakes.NewServer(spy).Expect(talkMethod).Sleep(-1).Times(0)
			})
			return reportCell(spy.Want(t, 1, "negative"))
		}},
		{"scripted fake server: `SendFunc` or `RecvFunc` with a function of another signature", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				fakes.NewServer(spy).Expect(talkMethod).RecvAny().SendFunc(func(m *chatpb.Message) string { return m.GetText() }).Times(0)
			})
			return "reported at the line of the step, naming the signature wanted: " +
				reportCell(spy.Want(t, 1, "step 2 SendFunc", "func(*chatpb.Message) string", "want a func(*chatpb.Message) *chatpb.Message"))
		}},
		{"scripted fake server: `RecvFunc(nil)`", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				fakes.NewServer(spy).Expect(talkMethod).RecvFunc(nil).Times(0)
			})
			return reportCell(spy.Want(t, 1, "RecvFunc(nil)", "want a func(*chatpb.Message) error"))
		}},
		{"scripted fake server: `SendFunc` before any step that receives a request", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				fakes.NewServer(spy).Expect(talkMethod).SendFunc(func(m *chatpb.Message) *chatpb.Message { return m }).Times(0)
			})
			return reportCell(spy.Want(t, 1, "step 1 SendFunc", "no request to reply to"))
		}},
		{"scripted fake server: `RecvWith` with `cmpopts.IgnoreFields` (which never applies to a proto message)", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				fakes.NewServer(spy).Expect(talkMethod).RecvWith(chatMsg, cmpopts.IgnoreFields(chatpb.Message{}, "Text")).Times(0)
			})
			return reportCell(spy.Want(t, 1, "step 1 RecvWith", "never apply", "protocmp.IgnoreFields"))
		}},
		{"scripted fake server: a `SendFunc` function that returns nil, or panics, when the call runs", "", func(t *testing.T, spy *spytb.TB) string {
			var err1, err2 error
			spy.Run(func() {
				fake := fakes.NewServer(spy)
				fake.Expect(postMethod).RecvAny().SendFunc(func(*chatpb.Message) *chatpb.Ack { return nil })
				fake.Expect(postMethod).RecvAny().SendFunc(func(*chatpb.Message) *chatpb.Ack { panic("boom") })
				chat := chatpb.NewChatClient(fake.Conn())
				_, err1 = chat.Post(t.Context(), chatMsg)
				_, err2 = chat.Post(t.Context(), chatMsg)
				fake.Close()
			})
			wantErr(t, "a reply of nil", err1, codes.FailedPrecondition, "the function returned a nil *chatpb.Ack")
			wantErr(t, "a reply that panics", err2, codes.FailedPrecondition, "the function panicked: boom")
			r := spy.Want(t, 1, "not used as scripted (2 problem(s))", "returned a nil", "panicked: boom", "badinput_rows_test.go:")
			return "the call fails: " + errCell(err1) + "; at Close: " + reportCell(r)
		}},
		{"scripted fake server: call counts that cannot both hold (`MaxTimes(2).MinTimes(3)`)", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				fakes.NewServer(spy).Expect(talkMethod).RecvAny().MaxTimes(2).MinTimes(3).Times(0)
			})
			return "reported, and the count left as it was: " + reportCell(spy.Want(t, 1, "MinTimes(3)", "cannot both hold"))
		}},
		{"scripted fake server: a step added after a call of its script arrived", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			spy.Run(func() {
				fake := fakes.NewServer(spy)
				sc := fake.Expect(postMethod).RecvAny().SendFunc(func(*chatpb.Message) *chatpb.Ack { return &chatpb.Ack{Id: "1"} })
				_, err = chatpb.NewChatClient(fake.Conn()).Post(t.Context(), chatMsg)
				sc.Return(nil)
				fake.Close()
			})
			if err != nil {
				t.Errorf("the call: %v, want its scripted response", err)
			}
			return "reported at the line of the step, and the step dropped: " + reportCell(spy.Want(t, 1, "step 3 Return", "after 1 call(s) of the script arrived"))
		}},
		{"scripted fake server: `RecvEach` on a method without client streaming", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				fakes.NewServer(spy).Expect(postMethod).RecvEach(func(*chatpb.Message) error { return nil }).Times(0)
			})
			return reportCell(spy.Want(t, 1, "step 1 RecvEach", "not client-streaming"))
		}},
		{"scripted fake server: `Metadata(nil)`", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				fakes.NewServer(spy).Expect(postMethod).Metadata(nil).Times(0)
			})
			return reportCell(spy.Want(t, 1, "Metadata: no key to expect"))
		}},
		{"scripted fake server: `Metadata` with a value a gRPC client refuses to send (a line break)", "", func(t *testing.T, spy *spytb.TB) string {
			md := metadata.Pairs("k", "line\nbreak")
			spy.Run(func() {
				fakes.NewServer(spy).Expect(postMethod).Metadata(md).Times(0)
			})
			r := spy.Want(t, 1, "Metadata: header key \"k\" contains value with non-printable ASCII characters", "which a gRPC client refuses to send")
			// The claim, against grpc-go: the call fails before it is sent.
			srv := grpctest.NewServer(t, chatService)
			_, err := chatpb.NewChatClient(srv.Conn()).Post(metadata.NewOutgoingContext(t.Context(), md), chatMsg)
			wantErr(t, "a call with that metadata", err, codes.Internal, "non-printable")
			return reportCell(r)
		}},
		{"scripted fake server: `RecvEOF` before the one request of a unary method", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				fakes.NewServer(spy).Expect(postMethod).RecvEOF().RecvAny().Send(&chatpb.Ack{}).Times(0)
			})
			return "reported at the line of the step: " + reportCell(spy.Want(t, 1, "step 1 RecvEOF", "before the request", "not client-streaming"))
		}},
		{"scripted fake server: a step that receives a request after `RecvEOF`", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				fakes.NewServer(spy).Expect(talkMethod).RecvEOF().RecvAny().Times(0)
			})
			return "reported at the line of the step: " + reportCell(spy.Want(t, 1, "step 2 RecvAny", "after RecvEOF"))
		}},
		{"scripted fake server: `Expect` after `Close`", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				fake := fakes.NewServer(spy)
				fake.Close()
				fake.Expect(talkMethod).RecvAny()
			})
			return reportCell(spy.Want(t, 1, "after Close"))
		}},

		// ---- Pending
		{"`Pending.Wait` called twice", "", func(t *testing.T, spy *spytb.TB) string {
			var v1, v2 int
			var e1, e2 error
			spy.Run(func() {
				p := grpctest.Go(spy, func() (int, error) { return 7, errors.New("seven") })
				v1, e1 = p.Wait(waitBound)
				v2, e2 = p.Wait(waitBound)
			})
			if v1 != 7 || v2 != 7 || fmt.Sprint(e1) != "seven" || fmt.Sprint(e2) != "seven" {
				t.Errorf("Wait twice: (%v, %v) then (%v, %v), want (7, seven) both times", v1, e1, v2, e2)
			}
			spy.WantClean(t)
			return "the same result both times, no report"
		}},
		{"`Pending.Wait(0)` on a call that has not returned", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			release, started := make(chan struct{}), make(chan struct{})
			spy.Run(func() {
				p := grpctest.GoErr(spy, func() error { close(started); <-release; return nil })
				<-started // so that the report has its stack
				_, err = p.Wait(0)
			})
			close(release)
			if !errors.Is(err, grpctest.ErrStillBlocked) {
				t.Errorf("Wait(0) = %v, want ErrStillBlocked", err)
			}
			return "returns " + errCell(err) + "; " + reportCell(spy.Want(t, 1, "still blocked after 0s, in:\n  goroutine "))
		}},
		{"`Pending.Wait(-time.Second)` (a negative timeout)", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			release := make(chan struct{})
			spy.Run(func() {
				p := grpctest.GoErr(spy, func() error { <-release; return nil })
				_, err = p.Wait(-time.Second)
			})
			close(release)
			if err == nil || errors.Is(err, grpctest.ErrStillBlocked) {
				t.Errorf("Wait(-1s) = %v, want an error that is not ErrStillBlocked", err)
			}
			return "returns at once: " + errCell(err) + "; " + reportCell(spy.Want(t, 1, "Wait(-1s) on the call started by GoErr", "the timeout is negative"))
		}},
		{"`t.FailNow` (or `require`) inside the function given to `grpctest.Go`", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			spy.Run(func() {
				_, err = grpctest.Go(spy, func() (int, error) { spy.FailNow(); return 1, nil }).Wait(waitBound)
			})
			if err == nil {
				t.Errorf("Wait on a call that exited returned no error")
			}
			return reportCell(spy.Want(t, 1, "runtime.Goexit")) + "; `Wait` returns " + errCell(err)
		}},
		{"`Pending.AssertBlocked(0)`", "", func(t *testing.T, spy *spytb.TB) string {
			var ok bool
			release := make(chan struct{})
			spy.Run(func() {
				ok = grpctest.GoErr(spy, func() error { <-release; return nil }).AssertBlocked(0)
			})
			close(release)
			if ok {
				t.Errorf("AssertBlocked(0) returned true")
			}
			return "returns false; " + reportCell(spy.Want(t, 1, "d must be positive"))
		}},
		{"`grpctest.Go(t, nil)`", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			spy.Run(func() {
				_, err = grpctest.Go[int](spy, nil).Wait(waitBound)
			})
			if err == nil {
				t.Errorf("Wait on Go(t, nil) returned no error")
			}
			return reportCell(spy.Want(t, 1, "fn is nil")) + "; `Wait` returns " + errCell(err)
		}},
		{"`grpctest.SendUntilBlocked` with `d <= 0`", "", func(t *testing.T, spy *spytb.TB) string {
			var n int
			spy.Run(func() {
				n = grpctest.SendUntilBlocked(spy, fakes.NewClientStream[chatpb.Message, chatpb.Message](t.Context()),
					func(int) *chatpb.Message { return chatMsg }, 0)
			})
			if n != 0 {
				t.Errorf("SendUntilBlocked returned %d, want 0", n)
			}
			return "returns 0; " + reportCell(spy.Want(t, 1, "d is 0s"))
		}},
		{"`grpctest.SendUntilBlocked` on a nil stream (a typed nil, whose `Send` panics)", "", func(t *testing.T, spy *spytb.TB) string {
			var n int
			spy.Run(func() {
				var stream *countingSender // a stream type of the test's own
				n = grpctest.SendUntilBlocked(spy, stream, func(int) *chatpb.Message { return chatMsg }, time.Minute)
			})
			if n != 0 {
				t.Errorf("SendUntilBlocked returned %d, want 0", n)
			}
			r := spy.Want(t, 1, "panicked")
			r.Msg, _, _ = strings.Cut(r.Msg, "\n") // the stack follows
			return "returns 0 at once; " + reportCell(r) + " and the stack"
		}},
		{"`grpctest.SendUntilBlocked` with a nil `next`", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				grpctest.SendUntilBlocked[*chatpb.Message](spy, fakes.NewClientStream[chatpb.Message, chatpb.Message](t.Context()), nil, time.Millisecond)
			})
			return "returns 0; " + reportCell(spy.Want(t, 1, "next is nil"))
		}},

		// ---- harness lifecycle
		{"`Server.Close` called twice", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				srv := grpctest.NewServer(spy, chatService)
				srv.Close()
				srv.Close()
			})
			spy.WantClean(t)
			return "the second call returns at once; no report"
		}},
		{"`Server.Close` called from inside a handler",
			"",
			func(t *testing.T, spy *spytb.TB) string {
				h := &closingChat{closed: make(chan struct{})}
				spy.Run(func() {
					srv := grpctest.NewServer(spy, h.register, grpctest.WithCloseTimeout(100*time.Millisecond))
					h.srv = srv
					ctx, cancel := context.WithCancel(t.Context())
					defer cancel()
					if _, err := chatpb.NewChatClient(srv.Conn()).Post(ctx, chatMsg); err != nil {
						spy.Logf("Post: %v", err)
					}
					<-h.closed
				})
				r := spy.Want(t, 1, "Close", "inside", postMethod)
				return reportCell(r)
			}},
		{"`Server.Dial` after `Close`", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			spy.Run(func() {
				srv := grpctest.NewServer(spy, chatService)
				srv.Close()
				cc := srv.Dial()
				_, err = chatpb.NewChatClient(cc).Post(t.Context(), chatMsg)
			})
			wantErr(t, "a call on the connection Dial returned after Close", err, codes.Canceled, "closing")
			return reportCell(spy.Want(t, 1, "Dial called after Close")) + "; calls on it fail: " + errCell(err)
		}},
		{"`Server.Disconnect` after `Close`", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				srv := grpctest.NewServer(spy, chatService)
				srv.Close()
				srv.Disconnect()
			})
			return reportCell(spy.Want(t, 1, "Disconnect called after Close"))
		}},
		{"an RPC on `Server.Conn()` after `Close`", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			spy.Run(func() {
				srv := grpctest.NewServer(spy, chatService)
				srv.Close()
				_, err = chatpb.NewChatClient(srv.Conn()).Post(t.Context(), chatMsg)
			})
			wantErr(t, "Post after Close", err, codes.Canceled, "closing")
			spy.WantClean(t)
			return errCell(err)
		}},

		// ---- harness options
		{"`grpctest.NewServer(t, nil)` (nil register func)", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			spy.Run(func() {
				srv := grpctest.NewServer(spy, nil)
				_, err = testgrpc.NewTestServiceClient(srv.Conn()).EmptyCall(t.Context(), &testgrpc.Empty{})
				srv.Close()
			})
			wantErr(t, "a call on a server without services", err, codes.Unimplemented, "grpc.testing.TestService")
			spy.WantClean(t)
			return "allowed (a server with no services); every call fails: " + errCell(err)
		}},
		{"`grpctest.WithStaticWindow(-1)`", "", func(t *testing.T, spy *spytb.TB) string {
			return fatalOption(t, spy, grpctest.WithStaticWindow(-1), "WithStaticWindow(-1)", "65535")
		}},
		{"`grpctest.WithStaticWindow(1024)` (below gRPC's minimum)", "", func(t *testing.T, spy *spytb.TB) string {
			return fatalOption(t, spy, grpctest.WithStaticWindow(1024), "WithStaticWindow(1024)", "65535")
		}},
		{"`grpctest.WithBufferSize(0)`", "", func(t *testing.T, spy *spytb.TB) string {
			return fatalOption(t, spy, grpctest.WithBufferSize(0), "WithBufferSize(0)", "positive")
		}},
		{"`grpctest.WithBufferSize(-1)`", "", func(t *testing.T, spy *spytb.TB) string {
			return fatalOption(t, spy, grpctest.WithBufferSize(-1), "WithBufferSize(-1)", "positive")
		}},
		{"`grpctest.WithBufferSize(1 << 40)` (bufconn would allocate it whole)", "", func(t *testing.T, spy *spytb.TB) string {
			return fatalOption(t, spy, grpctest.WithBufferSize(1<<40), "WithBufferSize(1099511627776)", "at most 268435456 (256 MiB)")
		}},
		{"`grpctest.WithServerOptions` with options `grpc.NewServer` panics on (two `grpc.StreamInterceptor`)", "", func(t *testing.T, spy *spytb.TB) string {
			si := func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
				return h(srv, ss)
			}
			return fatalOption(t, spy, grpctest.WithServerOptions(grpc.StreamInterceptor(si), grpc.StreamInterceptor(si)),
				"grpc.NewServer (with the options of WithServerOptions) panicked", "already set")
		}},
		{"a `register` function that panics (a service's set-up that finds no configuration, say)", "", func(t *testing.T, spy *spytb.TB) string {
			var srv *grpctest.Server
			o := spy.Run(func() {
				srv = grpctest.NewServer(spy, func(*grpc.Server) { panic(errors.New("rooms: no configuration")) })
			})
			if !o.FailedNow || srv != nil {
				t.Errorf("NewServer with a panicking register: FailNow called %v, server %v; want t.Fatalf and no server", o.FailedNow, srv)
			}
			r := spy.Want(t, 1, "grpctest.NewServer: the register function panicked:", "\npanic(", "badinput_rows_test.go:")
			if !r.Fatal {
				t.Errorf("reported with t.Errorf, want t.Fatalf")
			}
			r.Msg, _, _ = strings.Cut(r.Msg, "\n") // the stack after it changes from run to run
			return "`NewServer` stops the test: " + reportCell(r) + ", then the panic's stack"
		}},
		{"`t.FailNow` (a `require`) inside the `register` function", "", func(t *testing.T, spy *spytb.TB) string {
			var srv *grpctest.Server
			o := spy.Run(func() {
				srv = grpctest.NewServer(spy, func(*grpc.Server) { spy.Fatalf("no database") })
			})
			if !o.FailedNow || srv != nil {
				t.Errorf("NewServer with a register that calls FailNow: FailNow called %v, server %v", o.FailedNow, srv)
			}
			spy.Want(t, 1, "no database")
			return "the test stops, as FailNow does; the harness's listener and server are closed first"
		}},
		{"`grpctest.VerifyNoLeaks(t, nil)` (a nil goleak option)", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() { grpctest.VerifyNoLeaks(spy, goleak.IgnoreCurrent(), nil) })
			return reportCell(spy.Want(t, 1, "grpctest.VerifyNoLeaks: option 1 is nil"))
		}},
		{"the methods of a nil or zero `grpctest.Server`, `grpctest.Pending`, `fakes.Server` or `fakes.Script` (not made by their constructors)", "", func(t *testing.T, spy *spytb.TB) string {
			var zeroServer grpctest.Server
			var nilServer *grpctest.Server
			var zeroPending grpctest.Pending[int]
			var zeroFake fakes.Server
			var nilFake *fakes.Server
			var zeroScript fakes.Script
			nilServer.Close() // nothing to close: what a failed NewServer returned
			nilFake.Close()
			zeroServer.Close()
			zeroFake.Close()
			first := ""
			for _, c := range []struct {
				f    func()
				want string
			}{
				{func() { zeroServer.Conn() }, "grpctest: Server.Conn called on a nil or zero Server: make one with NewServer"},
				{func() { nilServer.Dial() }, "grpctest: Server.Dial called on a nil or zero Server"},
				{func() { zeroServer.Disconnect() }, "grpctest: Server.Disconnect called on a nil or zero Server"},
				{func() { zeroPending.Done() }, "grpctest: Pending.Done called on a nil or zero Pending: get one from Go or GoErr"},
				{func() { zeroPending.Wait(time.Second) }, "grpctest: Pending.Wait called on a nil or zero Pending"},
				{func() { zeroFake.Expect(postMethod) }, "fakes: Server.Expect called on a nil or zero Server: make one with NewServer"},
				{func() { nilFake.Conn() }, "fakes: Server.Conn called on a nil or zero Server"},
				{func() { zeroScript.RecvAny() }, "fakes: Script.RecvAny called on a nil or zero Script: get one from Server.Expect"},
				{func() { (*fakes.Script)(nil).Metadata(metadata.Pairs("k", "v")) }, "fakes: Script.Metadata called on a nil or zero Script"},
			} {
				got := panicText(c.f)
				if !strings.Contains(got, c.want) {
					t.Errorf("panic %q, want one with %q", got, c.want)
				}
				if first == "" {
					first = got
				}
			}
			spy.WantClean(t)
			return "`Close` does nothing; every other method panics (there is no test to report to): `" + first + "`"
		}},
		{"`grpctest.WithRecorder(new(recorder.Recorder))` (a zero Recorder, not made by `recorder.New`)", "", func(t *testing.T, spy *spytb.TB) string {
			start := time.Now()
			rec := new(recorder.Recorder)
			srv := grpctest.NewServer(spy, chatService, grpctest.WithRecorder(rec))
			if _, err := chatpb.NewChatClient(srv.Conn()).Post(t.Context(), chatMsg); err != nil {
				t.Fatal(err)
			}
			srv.Close()
			evs := rec.Events()
			switch {
			case len(evs) == 0:
				t.Errorf("a zero Recorder recorded nothing")
			case evs[0].Time.Before(start):
				t.Errorf("a zero Recorder recorded its first event at %v, before the test started (%v)", evs[0].Time, start)
			}
			spy.WantClean(t)
			return "allowed: the zero Recorder is an empty one, as `recorder.New()` returns; its times count from its first use"
		}},
		{"a nil `t` given to any function of grpctest or `fakes.NewServer`", "", func(t *testing.T, spy *spytb.TB) string {
			rec := recorder.New()
			first := ""
			for name, f := range map[string]func(){
				"AssertMessages":      func() { grpctest.AssertMessages(nil, nil, nil) },
				"RequireMessages":     func() { grpctest.RequireMessages(nil, nil, nil) },
				"AssertMessagesWith":  func() { grpctest.AssertMessagesWith(nil, nil, nil) },
				"RequireMessagesWith": func() { grpctest.RequireMessagesWith(nil, nil, nil) },
				"AssertOrder":         func() { grpctest.AssertOrder(nil, rec, grpctest.Ends(codes.OK)) },
				"RequireOrder":        func() { grpctest.RequireOrder(nil, rec, grpctest.Ends(codes.OK)) },
				"AssertOrderWithin":   func() { grpctest.AssertOrderWithin(nil, rec, time.Second, grpctest.Ends(codes.OK)) },
				"RequireOrderWithin":  func() { grpctest.RequireOrderWithin(nil, rec, time.Second, grpctest.Ends(codes.OK)) },
				"AssertNever":         func() { grpctest.AssertNever(nil, rec, grpctest.Ends(codes.OK)) },
				"RequireNever":        func() { grpctest.RequireNever(nil, rec, grpctest.Ends(codes.OK)) },
				"Go":                  func() { grpctest.Go(nil, func() (int, error) { return 0, nil }) },
				"GoErr":               func() { grpctest.GoErr(nil, func() error { return nil }) },
				"SendUntilBlocked": func() {
					grpctest.SendUntilBlocked(nil, fakes.NewClientStream[chatpb.Message, chatpb.Message](t.Context()), nil, time.Second)
				},
				"NewServer":       func() { grpctest.NewServer(nil, chatService) },
				"VerifyNoLeaks":   func() { grpctest.VerifyNoLeaks(nil) },
				"fakes.NewServer": func() { fakes.NewServer(nil) },
			} {
				want := "grpctest." + name + ": t is nil: pass the test's t"
				if strings.HasPrefix(name, "fakes.") {
					want = name + ": t is nil: pass the test's t"
				}
				if got := panicText(f); got != want {
					t.Errorf("%s(nil, ...) panicked with %q, want %q", name, got, want)
				}
				if name == "AssertMessages" {
					first = want
				}
			}
			spy.WantClean(t)
			return "panics (there is no test to report to): `" + first + "`"
		}},
		{"the methods of a nil `*recorder.Call`", "", func(t *testing.T, spy *spytb.TB) string {
			var c *recorder.Call
			if c.ID() != 0 || c.Method() != "" || c.Events() != nil || c.Requests() != nil || c.Responses() != nil ||
				c.Header() != nil || c.Trailer() != nil || c.Err() != nil || c.Done() {
				t.Errorf("a nil Call: ID %d, Method %q, Events %v, Requests %v, Responses %v, Header %v, Trailer %v, Err %v, Done %v; want zero values",
					c.ID(), c.Method(), c.Events(), c.Requests(), c.Responses(), c.Header(), c.Trailer(), c.Err(), c.Done())
			}
			return "a call with no events: ID 0, no messages or metadata, `Err` nil, `Done` false"
		}},
		{"`grpctest.WithCloseTimeout(0)`", "", func(t *testing.T, spy *spytb.TB) string {
			return fatalOption(t, spy, grpctest.WithCloseTimeout(0), "WithCloseTimeout(0s)", "positive")
		}},
		{"`grpctest.WithRecorder(nil)`", "", func(t *testing.T, spy *spytb.TB) string {
			return fatalOption(t, spy, grpctest.WithRecorder(nil), "WithRecorder(nil)", "WithoutRecorder")
		}},
		{"`grpctest.WithServerOptions(nil)`", "", func(t *testing.T, spy *spytb.TB) string {
			return fatalOption(t, spy, grpctest.WithServerOptions(nil), "WithServerOptions", "nil")
		}},
		{"`grpctest.WithClientConnCheck()` without `WithTCP`", "", func(t *testing.T, spy *spytb.TB) string {
			return fatalOption(t, spy, grpctest.WithClientConnCheck(), "WithClientConnCheck without WithTCP")
		}},
		{"`grpctest.WithTestGoroutineCheck()` with `WithoutLeakCheck`", "", func(t *testing.T, spy *spytb.TB) string {
			return fatalOptions(t, spy, []grpctest.Option{grpctest.WithTestGoroutineCheck(), grpctest.WithoutLeakCheck()}, "WithTestGoroutineCheck and WithoutLeakCheck both given")
		}},
		{"`grpctest.WithBufferSize(n)` with `WithTCP`", "", func(t *testing.T, spy *spytb.TB) string {
			return fatalOptions(t, spy, []grpctest.Option{grpctest.WithTCP(), grpctest.WithBufferSize(1 << 20)}, "WithBufferSize(1048576) with WithTCP")
		}},
		{"a nil `grpctest.Option`", "", func(t *testing.T, spy *spytb.TB) string {
			return fatalOption(t, spy, nil, "option 0 is nil")
		}},

		// ---- recorder
		{"`recorder.WithLimit(-1)`", "", func(t *testing.T, spy *spytb.TB) string {
			rec := recorder.New(recorder.WithLimit(-1))
			var err error
			spy.Run(func() {
				srv := grpctest.NewServer(spy, chatService, grpctest.WithRecorder(rec))
				_, err = chatpb.NewChatClient(srv.Conn()).Post(t.Context(), chatMsg)
				srv.Close()
			})
			if err != nil {
				t.Fatal(err)
			}
			n, dropped := len(rec.Events()), rec.Dropped()
			if n != 9 || dropped != 0 {
				t.Errorf("WithLimit(-1): %d events kept, %d dropped; want all 9 kept (no limit, as documented)", n, dropped)
			}
			spy.WantClean(t)
			return fmt.Sprintf("no limit, as documented for n <= 0: a unary call kept all %d events, %d dropped", n, dropped)
		}},
		{"`recorder.WithMethods(\"Post\")` (not a full method name)", "", func(t *testing.T, spy *spytb.TB) string {
			rec := recorder.New(recorder.WithMethods("Post"))
			spy.Run(func() {
				srv := grpctest.NewServer(spy, chatService, grpctest.WithRecorder(rec))
				if _, err := chatpb.NewChatClient(srv.Conn()).Post(t.Context(), chatMsg); err != nil {
					spy.Errorf("Post: %v", err)
				}
				srv.Close()
			})
			spy.WantClean(t)
			calls := rec.Calls()
			if len(calls) != 1 || calls[0].Method() != postMethod {
				t.Errorf("WithMethods(\"Post\") recorded %d calls; want the one call of %s (a short name matches the end of the full name)", len(calls), postMethod)
			}
			return fmt.Sprintf("a name without the leading `/` matches the end of the full name: the call of %s is recorded", postMethod)
		}},
		{"`recorder.WithMethods(\"streamtest.examples.chat.v1.Chat\")` (a service, not a method)", "", func(t *testing.T, spy *spytb.TB) string {
			rec := recorder.New(recorder.WithMethods("streamtest.examples.chat.v1.Chat"))
			spy.Run(func() {
				srv := grpctest.NewServer(spy, chatService, grpctest.WithRecorder(rec))
				if _, err := chatpb.NewChatClient(srv.Conn()).Post(t.Context(), chatMsg); err != nil {
					spy.Errorf("Post: %v", err)
				}
				var got []any
				for _, c := range rec.Calls() {
					got = append(got, c.Requests()...)
				}
				grpctest.AssertMessages(spy, []any{chatMsg}, got)
			})
			r := spy.Want(t, 1, `(no events recorded; WithMethods records only "streamtest.examples.chat.v1.Chat" (a service? it matches only a method of that name, name methods in full: "/pkg.Service/Method"))`)
			if n := len(rec.Events()); n != 0 {
				t.Errorf("recorded %d events, want none", n)
			}
			_, note, _ := strings.Cut(r.Msg, "recorded timeline:\n")
			return "records nothing, as documented (names are method names); the failing assertion's timeline says why: `" + strings.TrimSpace(note) + "`"
		}},
		{"`Recorder.Wait(ctx, nil)`", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			spy.Run(func() { err = recorder.New().Wait(t.Context(), nil) })
			if err == nil || !strings.Contains(err.Error(), "nil condition") {
				t.Errorf("Wait(ctx, nil) = %v, want an error naming the nil condition", err)
			}
			return "returns " + errCell(err)
		}},
		{"`Recorder.Wait(nil, cond)` (nil context)", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			//lint:ignore SA1012 a nil context is the misuse under test
			spy.Run(func() { err = recorder.New().Wait(nil, func([]recorder.Event) bool { return true }) })
			if err == nil || !strings.Contains(err.Error(), "nil context") {
				t.Errorf("Wait(nil, cond) = %v, want an error naming the nil context", err)
			}
			return "returns " + errCell(err)
		}},
		{"methods of a nil `*recorder.Recorder` (`Server.Recorder()` of a harness built `WithoutRecorder`)", "", func(t *testing.T, spy *spytb.TB) string {
			var (
				rec   *recorder.Recorder
				calls []*recorder.Call
				err   error
			)
			spy.Run(func() {
				srv := grpctest.NewServer(spy, chatService, grpctest.WithoutRecorder())
				rec = srv.Recorder()
				calls = rec.Calls()
				err = rec.Wait(t.Context(), func([]recorder.Event) bool { return true })
				srv.Close()
			})
			spy.WantClean(t)
			if rec != nil || calls != nil || err == nil || !strings.Contains(err.Error(), "nil Recorder") {
				t.Errorf("Recorder() = %v, Calls() = %v, Wait = %v; want nil, nil and an error naming the nil Recorder", rec, calls, err)
			}
			return "no panic: a nil Recorder records nothing (its interceptors pass calls through), `Events`/`Calls` return nil, `Wait` returns " + errCell(err)
		}},
		{"`t.FailNow` (a `require`, `t.Fatal`) inside a handler on a `grpctest` harness", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			spy.Run(func() {
				srv := grpctest.NewServer(spy, func(s *grpc.Server) { chatpb.RegisterChatServer(s, failNowChat{t: spy}) })
				_, err = chatpb.NewChatClient(srv.Conn()).Post(t.Context(), &chatpb.Message{Room: "r"})
				srv.Close()
			})
			wantErr(t, "Post", err, codes.Internal, "runtime.Goexit")
			spy.Want(t, 2, "handler gave up")
			spy.Want(t, 2, "did not return: it called runtime.Goexit", "badinput_rows_test.go:")
			return "the call ends at once with " + errCell(err) + "; Close reports the handler with its stack"
		}},
		{"A recorder's server interceptors called by hand with a nil `info` (gRPC never passes one)", "", func(t *testing.T, spy *spytb.TB) string {
			rec := recorder.New()
			var uerr, serr error
			spy.Run(func() {
				_, uerr = rec.UnaryServerInterceptor()(t.Context(), &chatpb.Message{}, nil,
					func(_ context.Context, req any) (any, error) { return req, nil })
				serr = rec.StreamServerInterceptor()(nil, nil, nil, func(any, grpc.ServerStream) error { return nil })
			})
			spy.WantClean(t)
			calls := rec.Calls()
			if uerr != nil || serr != nil || len(calls) != 1 || calls[0].Method() != "" {
				t.Errorf("interceptors: %v, %v; %d calls recorded; want no errors and one call of no method\n%s", uerr, serr, len(calls), rec)
			}
			return "no panic: the call is recorded under an empty method; a nil stream is passed to the handler unrecorded"
		}},
		{"`Recorder.Wait` with a condition that never holds", "", func(t *testing.T, spy *spytb.TB) string {
			var err error
			spy.Run(func() {
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
				defer cancel()
				err = recorder.New().Wait(ctx, func([]recorder.Event) bool { return false })
			})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Wait = %v, want context.DeadlineExceeded", err)
			}
			return "returns when ctx ends: " + errCell(err)
		}},
		{"`grpctest.AssertOrder` with a nil recorder (harness built `WithoutRecorder`)", "", func(t *testing.T, spy *spytb.TB) string {
			var ok bool
			spy.Run(func() {
				srv := grpctest.NewServer(spy, chatService, grpctest.WithoutRecorder())
				ok = grpctest.AssertOrder(spy, srv.Recorder(), grpctest.Ends(codes.OK))
			})
			if ok {
				t.Errorf("AssertOrder returned true")
			}
			return "returns false; " + reportCell(spy.Want(t, 1, "recorder is nil", "WithoutRecorder"))
		}},
		{"`grpctest.AssertOrder` with no steps", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() { grpctest.AssertOrder(spy, recorder.New()) })
			return "returns false; " + reportCell(spy.Want(t, 1, "no steps"))
		}},
		{"`grpctest.AssertOrder` with a nil step", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() { grpctest.AssertOrder(spy, recorder.New(), grpctest.Ends(codes.OK), nil) })
			return "returns false; " + reportCell(spy.Want(t, 1, "step 2 is nil"))
		}},
		{"`grpctest.With` on a step without a message (`Ends`), or with `cmpopts.IgnoreFields` on a proto, also inside `InCall`", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() {
				grpctest.AssertOrder(spy, recorder.New(), grpctest.With(grpctest.Ends(codes.OK), protocmp.IgnoreEmptyMessages()))
			})
			r := spy.Want(t, 1, "step 1, With(Ends(OK), ...): the step compares no message")
			spy.Run(func() {
				grpctest.AssertNever(spy, recorder.New(), grpctest.InCall(1, grpctest.With(grpctest.ClientSends(chatMsg), cmpopts.IgnoreFields(chatpb.Message{}, "Text"))))
			})
			spy.Want(t, 2, "grpctest.AssertNever: ", "use protocmp.IgnoreFields")
			return "returns false; " + reportCell(r) + " (an `AssertNever` too)"
		}},
		{"`grpctest.AssertNever` with a nil recorder, no steps or a nil step", "", func(t *testing.T, spy *spytb.TB) string {
			spy.Run(func() { grpctest.AssertNever(spy, nil, grpctest.Ends(codes.Internal)) })
			r := spy.Want(t, 1, "recorder is nil")
			spy.Run(func() { grpctest.AssertNever(spy, recorder.New()) })
			spy.Run(func() { grpctest.AssertNever(spy, recorder.New(), nil) })
			spy.Want(t, 3, "step 1 is nil")
			return "returns false; " + reportCell(r) + ", and likewise"
		}},

		// ---- fakes options and fault interceptors
		{"fakes `WithSendBuffer(-1)`", "", func(t *testing.T, spy *spytb.TB) string {
			return badFakeOption(t, spy, fakes.WithSendBuffer(-1), "WithSendBuffer(-1)")
		}},
		{"fakes `WithFailAt(0, nil)`", "", func(t *testing.T, spy *spytb.TB) string {
			return badFakeOption(t, spy, fakes.WithFailAt(0, nil), "WithFailAt")
		}},
		{"fakes `WithRecorder(nil)`", "", func(t *testing.T, spy *spytb.TB) string {
			return badFakeOption(t, spy, fakes.WithRecorder(nil), "WithRecorder(nil)")
		}},
		{"fakes `WithMethod` naming a method of other message types than the stream's", "", func(t *testing.T, spy *spytb.TB) string {
			return badFakeOption(t, spy, fakes.WithMethod("/grpc.testing.TestService/UnaryCall"), "the method's request is grpc.testing.SimpleRequest")
		}},
		{"`fakes.FailAfter(method, -1, err)`", "", func(t *testing.T, spy *spytb.TB) string {
			return badInterceptor(t, spy, fakes.FailAfter(talkMethod, -1, status.Error(codes.Unavailable, "x")), "FailAfter", "-1")
		}},
		{"`fakes.FailAfter(method, 1, nil)`", "", func(t *testing.T, spy *spytb.TB) string {
			return badInterceptor(t, spy, fakes.FailAfter(talkMethod, 1, nil), "FailAfter", "nil")
		}},
		{"`fakes.Delay(method, -1)`", "", func(t *testing.T, spy *spytb.TB) string {
			return badInterceptor(t, spy, fakes.Delay(talkMethod, -1), "Delay", "-1")
		}},
		{"`fakes.FailFirst(method, 0, 1, err)` (no stream to break)", "", func(t *testing.T, spy *spytb.TB) string {
			return badInterceptor(t, spy, fakes.FailFirst(talkMethod, 0, 1, status.Error(codes.Unavailable, "x")), "FailFirst", "streams = 0")
		}},
		{"`fakes.FailAfter(\"Talk\", 1, err)` (not a full method name)", "", func(t *testing.T, spy *spytb.TB) string {
			return badInterceptor(t, spy, fakes.FailAfter("Talk", 1, status.Error(codes.Unavailable, "x")), "FailAfter", "Talk")
		}},
		{"`fakes.FailAfter(\"Subscribe\", 1, nil)` (two bad arguments)", "", func(t *testing.T, spy *spytb.TB) string {
			return badInterceptor(t, spy, fakes.FailAfter("Subscribe", 1, nil), "FailAfter", "Subscribe", "; err is nil")
		}},
	}
}

// countingSender is a stream of a test's own whose Send uses its
// receiver: a nil one panics.
type countingSender struct{ sent int }

func (c *countingSender) Send(*chatpb.Message) error {
	c.sent++
	return nil
}

// ---- shared shapes of rows

// sendNilReal sends a nil message with send on a real Talk stream of the
// chat service and reports what the client, the recorder and the server
// saw.
func sendNilReal(t *testing.T, spy *spytb.TB, send func(chatpb.Chat_TalkClient) error) string {
	t.Helper()
	var sendErr, recvErr error
	var recorded, serverGot string
	spy.Run(func() {
		srv := grpctest.NewServer(spy, chatService)
		stream, err := chatpb.NewChatClient(srv.Conn()).Talk(t.Context())
		if err != nil {
			spy.Errorf("Talk: %v", err)
			return
		}
		sendErr = send(stream)
		_, recvErr = grpctest.Go(spy, stream.Recv).Wait(waitBound)
		for _, e := range srv.Recorder().Events() {
			switch {
			case e.Side == recorder.Client && e.Kind == recorder.Send:
				recorded = recorder.FormatMessage(e.Msg)
			case e.Side == recorder.Server && e.Kind == recorder.Recv:
				serverGot = recorder.FormatMessage(e.Msg)
			}
		}
		srv.Close()
	})
	if sendErr != nil {
		t.Errorf("Send(nil) = %v; grpc-go sends an empty message", sendErr)
	}
	wantErr(t, "Recv", recvErr, codes.InvalidArgument, "room is required")
	if !strings.HasPrefix(recorded, "<nil") || serverGot != "{}" {
		t.Errorf("recorded client Send %q, server Recv %q; want <nil...> and {}", recorded, serverGot)
	}
	spy.WantClean(t)
	return fmt.Sprintf("no error: grpc-go sends an empty message. Recorded as client Send %s, server Recv %s; "+
		"the chat server then ends the call: %s", code(recorded), code(serverGot), errCell(recvErr))
}

// fatalOption builds a harness with a bad option and expects NewServer to
// stop the test with t.Fatalf naming it.
func fatalOption(t *testing.T, spy *spytb.TB, opt grpctest.Option, subs ...string) string {
	t.Helper()
	return fatalOptions(t, spy, []grpctest.Option{opt}, subs...)
}

// fatalOptions is fatalOption for options that do not go together.
func fatalOptions(t *testing.T, spy *spytb.TB, opts []grpctest.Option, subs ...string) string {
	t.Helper()
	var srv *grpctest.Server
	o := spy.Run(func() { srv = grpctest.NewServer(spy, chatService, opts...) })
	if !o.FailedNow || srv != nil {
		t.Errorf("NewServer with a bad option: FailNow called %v, server %v; want t.Fatalf and no server", o.FailedNow, srv)
	}
	r := spy.Want(t, 1, subs...)
	if !r.Fatal {
		t.Errorf("reported with t.Errorf, want t.Fatalf")
	}
	return "`NewServer` stops the test: " + reportCell(r)
}

// panicText runs f and returns what it panicked with, "" if it returned.
func panicText(f func()) (text string) {
	defer func() {
		if p := recover(); p != nil {
			text = fmt.Sprint(p)
		}
	}()
	f()
	return ""
}

// badFakeOption builds fake streams with a bad option and expects every
// operation to fail with an error naming it.
func badFakeOption(t *testing.T, spy *spytb.TB, opt fakes.Option, name string) string {
	t.Helper()
	var sendErr, recvErr error
	spy.Run(func() {
		s := fakes.NewServerStream[chatpb.Message, chatpb.Message](t.Context(), opt)
		sendErr = s.Send(chatMsg)
		_, recvErr = s.Recv()
	})
	for what, err := range map[string]error{"Send": sendErr, "Recv": recvErr} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s on a stream built with %s: %v, want an error naming it", what, name, err)
		}
	}
	spy.WantClean(t)
	return "the stream is built; every `Send`/`Recv` on it fails: " + errCell(sendErr)
}

// badInterceptor installs a fault interceptor built with bad arguments and
// expects every stream it sees to fail with codes.Internal naming the
// mistake.
func badInterceptor(t *testing.T, spy *spytb.TB, ic grpc.StreamServerInterceptor, subs ...string) string {
	t.Helper()
	var err error
	spy.Run(func() {
		srv := grpctest.NewServer(spy, chatService, grpctest.WithServerOptions(grpc.ChainStreamInterceptor(ic)))
		stream, serr := chatpb.NewChatClient(srv.Conn()).Talk(t.Context())
		if serr != nil {
			err = serr
			return
		}
		_, err = grpctest.Go(spy, stream.Recv).Wait(waitBound)
		srv.Close()
	})
	wantErr(t, "a stream through the interceptor", err, codes.Internal, subs...)
	spy.WantClean(t)
	return "every stream it sees fails: " + errCell(err)
}

// closingChat's Post closes the harness it runs on, a misuse.
type closingChat struct {
	chatpb.UnimplementedChatServer
	srv    *grpctest.Server
	closed chan struct{}
}

func (c *closingChat) register(s *grpc.Server) { chatpb.RegisterChatServer(s, c) }

func (c *closingChat) Post(context.Context, *chatpb.Message) (*chatpb.Ack, error) {
	defer close(c.closed)
	c.srv.Close()
	return &chatpb.Ack{}, nil
}
