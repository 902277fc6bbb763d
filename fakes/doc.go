// Package fakes stands in for the other end of a gRPC stream in tests: an
// in-memory stream to call a handler (or a client) with directly, a
// scripted fake server for any generated service, and interceptors that
// inject faults into a real one.
//
//	stream := fakes.NewServerStream[chatpb.Message, chatpb.Message](t.Context())
//	stream.Push(&chatpb.Message{Room: "r", Text: "hi"})
//	stream.CloseSend()
//	err := chatServer.Talk(stream) // the generated handler, called directly
//	stream.End(err)
//	replies := stream.Responses()
//
//	fake := fakes.NewServer(t)
//	fake.Expect("/streamtest.examples.chat.v1.Chat/Talk").
//		Recv(&chatpb.Message{Room: "r", Text: "hi"}).Send(&chatpb.Message{Room: "r", Text: "hi", Seq: 1}).RecvEOF()
//	client := chatpb.NewChatClient(fake.Conn()) // a call off script fails t at the end
//
// # In-memory streams
//
// NewServerStream and NewClientStream return streams that implement gRPC's
// generic stream interfaces (grpc.BidiStreamingServer and friends), so
// generated handler and client code accepts them. They behave like real
// streams where a test can tell: io.EOF after the peer half-closes,
// codes.Canceled after a cancel, an error for a Send after the end or a
// header sent twice, copies of every message on its way through and in every
// snapshot (deep copies of proto messages; a message type that is not a
// proto message is copied by assignment, so slices, maps and pointers within
// it stay shared), and safety for one sender and one receiver at a time.
// They are stricter than grpc-go where what it accepts is nearly always a
// bug: Send(nil) is an error with codes.InvalidArgument (grpc-go sends a nil
// message as an empty one; send &T{} for that), and a SendMsg of another
// message type than the stream's one with codes.Internal (grpc-go sends its
// bytes). Their errors' status messages start with "fakes:" and say what
// happened; where grpc-go fails too, the code is grpc-go's. The exception
// is the end of the stream's context (Cancel, or the context given to the
// constructor): that error is grpc-go's own, Canceled "context canceled" or
// DeadlineExceeded "context deadline exceeded", which code may compare
// with. The test plays
// the peer with the test-side methods (Push/CloseSend/Cancel/End, Next and
// WaitHeader for a ServerStream, Respond/RespondHeader/RespondTrailer/Finish
// and Next for a ClientStream). WaitHeader is how a test knows that a
// handler it runs on a goroutine got as far as sending its header (a watch
// handler that has subscribed), as Next is for its responses.
//
// By default Send never blocks (the buffer is unlimited), so a handler can
// be called synchronously. WithSendBuffer(n) makes Send block while n sent
// messages are unread by Next, for testing code that must cope with a slow
// peer. WithFailAt makes the n-th Send or Recv fail. WithRecorder records
// the same events a real stream records through recorder's interceptors, so
// grpctest.AssertOrder and the timeline work on fakes too.
//
// A ServerStream ends when the test calls End with the handler's result, or
// Cancel: a real server ends the stream when the handler returns, which a
// fake cannot see. Options are checked when the stream is built; a bad one
// makes every operation that returns an error (Send, Recv, Next, the
// header and trailer methods, CloseSend) fail with an error naming it (a
// constructor cannot return an error, and a panic is not an answer).
// An in-memory stream has no harness to check for goroutines a handler
// leaves running: a defer grpctest.VerifyNoLeaks(t) in a test (not a
// parallel one) reports them in that test, where the package's
// grpctest.VerifyTestMain reports them only after all its tests passed.
//
// # Scripted fake server
//
// NewServer runs on a grpctest harness and answers every method through
// grpc.UnknownServiceHandler, decoding requests with the method descriptor
// from protoregistry into the registered Go types, so any service whose
// generated code is linked into the test can be faked without writing a
// handler. Each Expect adds a Script for one call (or Times(n) calls);
// steps run in order. Requests are compared with a message (Recv), with
// cmp options too (RecvWith), or checked by a function (RecvFunc, or
// RecvEach for every request until the client half-closes), and the
// request metadata by Metadata; responses are given (Send) or made from
// the last request (SendFunc, which may answer with several responses, or
// an error instead), for a client that makes up IDs or fans out; Do runs
// a function of the test's between steps (to wait for the test's signal
// before the next event of a watch). How many
// calls a script takes is Times(n), or a range (MinTimes, MaxTimes,
// AnyTimes); AllowCancel lets the client cancel calls it no longer needs.
// A step that does not match ends the call with
// codes.FailedPrecondition and a message naming the step, want and got (a
// protocmp diff). When the test ends, mismatches, steps not reached,
// expected calls not made and unexpected calls are reported with t.Errorf,
// with the recorded timeline, at the test's NewServer line (at its Close
// line if the test calls Server.Close itself). Misuse (an unknown method, a
// message of the wrong type, a step after Return) is reported at the line
// of the misuse.
//
// # Fault injection
//
// FailAfter, FailFirst and Delay are stream server interceptors for any
// server, including a grpctest harness or the fake server (through
// grpctest.WithServerOptions and grpc.ChainStreamInterceptor): FailAfter
// breaks a stream after n messages (sent and received together),
// FailFirst breaks only the first streams so that a retry can succeed,
// Delay slows every message down while honouring the call's context. Through
// WithServerOptions they run inside the harness's recorder, so a failure
// FailAfter injects shows in the recorder as the call's status, not as a
// failed Send or Recv (FailAfter's doc shows how to chain it outside). With
// the harness's Disconnect they exercise a client's retry, resume and
// reconnect logic. On the fake server, a fault they inject into a scripted
// call fails that call's script and is reported at Close; NewServer's doc
// shows how to script the break instead. To break a scripted call with
// Disconnect, as a test of a client's resume, end its script with Hang (a
// Hang that its call's end ends completes the script) and script the
// resumed call with an Expect of its own; a Disconnect that ends a call in
// any other step is reported, AllowCancel or not (unless the recorder does
// not show how the call's client half ended: see Script.AllowCancel).
//
// # Beyond the core API
//
// Besides the core API above, the package has: ServerStream.End (the
// handler's result: how a fake server stream ends); ClientStream.Next,
// the twin of ServerStream.Next, reading what the code under test sent (the
// reader WithSendBuffer waits for); ClientStream.RespondHeader and
// RespondTrailer (what its Header() and Trailer() return; Header is taken
// by grpc's interface); WithMethod and DefaultServerMethod /
// DefaultClientMethod (the method recorded, and its RPC kind);
// Server.Close (verify before the test ends) and Server.Harness
// (Disconnect, Dial).
package fakes
