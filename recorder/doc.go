// Package recorder records every message and event of gRPC calls, client
// and server side, into one ordered timeline.
//
// Install a Recorder on both sides and read what happened:
//
//	rec := recorder.New()
//	srv := grpc.NewServer(rec.ServerOptions()...)
//	conn, _ := grpc.NewClient(target, append(rec.DialOptions(), creds)...)
//	// ... run calls ...
//	for _, c := range rec.Calls() {
//		fmt.Println(c.Method(), c.Requests(), c.Responses(), c.Err())
//	}
//	fmt.Print(rec) // the timeline, one line per event
//
// # What is recorded
//
// Each side of each call records Begin (with the request metadata), Header,
// one Send per SendMsg and one Recv per RecvMsg that returned a message or
// an error other than io.EOF, CloseSend, Trailer and End (with the final
// status). Messages are deep copies: changing or reusing a message after
// SendMsg or RecvMsg never changes what was recorded. Messages that are not
// proto messages (custom codecs) are stored as given; a proto message that
// cannot be marshaled (a string field with invalid UTF-8, which gRPC
// refuses to send too) is stored as a clone, and every read gets a clone
// of its own.
//
// A nil *Recorder records nothing: its interceptors and wrappers pass
// calls through, Events and Calls return nil, Dropped 0, Reset does
// nothing and Wait returns an error.
//
// # Order
//
// Every event gets a Seq from one counter shared by all calls and both
// sides. A Send takes its Seq when SendMsg is called and a Recv when RecvMsg
// returns, so for every message the sender's Send comes before the
// receiver's Recv: the timeline is causally ordered across sides.
//
// # One call, two halves
//
// When one Recorder records both sides, the client interceptor adds a
// request header (CallIDHeader) naming the call, and the server interceptor
// reads it, so both halves share a CallID and Calls returns one Call per
// RPC. The header is stripped from the recorded metadata and from the
// metadata the handler sees. A server half whose client is not recorded by
// the same Recorder gets an id of its own. A Recorder that has made no
// server-side interceptor or wrapper sends no header: recording only the
// client leaves its requests as they were. Several Recorders can record
// the same calls, each on both sides: each correlates its own halves and
// records none of the others' headers. Users who build their own client
// interceptor around WrapClientStream create the stream with a context
// from TagContext. A client interceptor that runs inside the recorder's
// and replaces the outgoing metadata (metadata.NewOutgoingContext, where
// metadata.AppendToOutgoingContext would keep it) drops the header: the
// server half then gets an id of its own, and one RPC shows as two Calls.
// Put the recorder's interceptor after such an interceptor in the chain,
// or have it append.
//
// A call that gRPC retries (a service config's retryPolicy; grpc-go v1.85
// does not implement hedgingPolicy) is
// one client half, and the server sees each attempt as a call of its own:
// they are server halves of the same Call, each with its Begin, and from
// the second on the Begin's metadata holds grpc-previous-rpc-attempts.
//
// # When a call ends
//
// The client side ends when RecvMsg returns an error (io.EOF means OK), when
// a call without server streaming has received its one response, or when
// the call's context is canceled or past its deadline (noticed with
// context.AfterFunc: no goroutine waits per call; a deadline that the
// service config's "timeout" sets counts), or when a SendMsg fails with
// an error of its own, other than io.EOF (a message over the size limit,
// one that cannot be marshaled), with which gRPC ends the call. A SendMsg
// that fails because the context ended, or with such an error, returns
// after the End is recorded, unless a RecvMsg is in progress on another
// goroutine, or the server half had ended with a status of its own (see
// below): the End then comes with what that RecvMsg, or the code's next
// one, returns, as follows. If a RecvMsg is in
// progress when the context ends, gRPC makes it return soon after (with the
// context's error, or with a message that had arrived), and the End waits
// for that return, at most a second, so that what it returned is recorded
// first: a stream canceled while its RecvMsg waits records the failed Recv
// and then End, every time. A status the server sent before the context
// ended may have reached the client: gRPC's next RecvMsg then returns it
// (io.EOF for OK), not the context's error. So when the server half,
// recorded by the same Recorder through the interceptors, had ended with
// a status of its own (not Canceled or DeadlineExceeded), and the method
// has no retry policy, the End waits until a RecvMsg of the code's records
// it, at most 50ms: code that reads what it expects and cancels without
// reading the status has its End, the context's status, that much later.
// And an End recorded for the context is corrected when a later RecvMsg
// returns the call's status after all (the code read after that wait, or
// the server ended as the context did): the End agrees with what the
// code's RecvMsg returned, whenever it calls one. (What a
// RecvMsg called after the End returns, a message gRPC had buffered or an
// error again, is recorded after the End.) Through WrapClientStream, whose watched context is gRPC's stream
// context, a Header that finds the call over without a header (a
// trailers-only response, or a cancel while Header waits) makes the End
// wait, at most a second, for the status the next RecvMsg returns. The
// End's error is a status error (see Call.Err). The server side
// ends when the handler returns. Under the recorder's server interceptors,
// a handler that panics (or calls runtime.Goexit) ends with Internal,
// "the handler did not return" (WrapServerStream's users record the End
// with EndServerStream, deferred if they want it then); the
// recorder does not recover the panic, which goes on, untouched, to
// whatever recovers it further out (the status the client gets is that
// interceptor's; with no such interceptor the program crashes, as gRPC
// lets it).
//
// To record the header and trailer a handler sets through its context
// (grpc.SetHeader, grpc.SendHeader, grpc.SetTrailer), in causal order, the
// server interceptors put a grpc.ServerTransportStream of the recorder's
// own in the handler's context, around gRPC's. Two experimental gRPC
// functions need gRPC's own there and fail under the recorder:
// grpc.SetSendCompressor and grpc.ClientSupportedCompressors return
// "failed to fetch the stream from the given context" (WrapServerStream's
// Context too). A test of a handler that calls them records the client
// side only (DialOptions), or leaves the method out (WithMethods).
//
// Interceptors do not see everything gRPC does after them. A unary
// request that exceeds the client's send limit (grpc.MaxCallSendMsgSize,
// the service config's maxRequestMessageBytes) is recorded as a Send that
// failed. A unary response that exceeds the server's grpc.MaxSendMsgSize,
// which a server interceptor cannot read, is recorded as sent, with an OK
// End, although the client gets ResourceExhausted: record the client side
// to see what it got.
//
// # Cost
//
// Proto messages are marshaled into reused, chunked byte storage when they
// are recorded and decoded only when Events or Calls are read; the hot path
// allocates nothing per message once warm. Every call of a Recorder shares
// that storage, each message taking exactly its size, so a short call
// allocates nothing for its messages either. A Send takes its Seq and
// its copy of the message when SendMsg is called, before the inner
// SendMsg: an interceptor further in that changes the message does not
// change the record. (Marshaling it after the inner SendMsg had returned
// instead, off the way from the caller to the peer, measured no faster.)
// Without a limit, each half of
// each call records into two logs of its own (what its sending goroutine
// records, and the rest), each with its own lock, takes its Seq from one
// atomic counter and its message bytes from the shared storage with one
// atomic add: the goroutines of different streams, and the sender and
// receiver of one stream, never wait for each other's locks. Events merges the
// logs by Seq, reading the counter first so that what it returns is a
// gap-free prefix of the timeline. WithLimit keeps one ring of fixed size
// under one lock instead. Methods filtered out by WithMethods are passed
// through untouched. No lock is held while calling into gRPC or user code.
package recorder
