package recorder

import (
	"strconv"
	"time"

	"google.golang.org/grpc/metadata"
)

// Side says which half of an RPC recorded an event.
type Side int

const (
	// Client is the half that started the RPC.
	Client Side = iota
	// Server is the half that handles the RPC.
	Server
)

// String returns "client" or "server".
func (s Side) String() string {
	switch s {
	case Client:
		return "client"
	case Server:
		return "server"
	}
	return "Side(" + strconv.Itoa(int(s)) + ")"
}

// Kind says what happened in an event.
type Kind int

const (
	// Begin is the start of one side of a call. MD holds the request metadata.
	Begin Kind = iota
	// Header is response header metadata: sent (server) or received
	// (client). A server's explicit SendHeader is recorded when it is
	// called, like a Send, with what SetHeader calls that gRPC took while
	// it was sent added; if gRPC refused it (invalid metadata, say), Err
	// says why, and the header gRPC sends later is recorded again (unless
	// a SendMsg of another goroutine sent that header meanwhile: the
	// record then stands for it). A SendHeader after the header went out,
	// which gRPC refuses too, is not recorded: a call has one header.
	Header
	// Send is one SendMsg call. Msg holds a copy of the message; Err what
	// SendMsg returned. A nil Err says that gRPC took the message, not
	// that the peer got it: gRPC's SendMsg returns nil for a message
	// buffered before it notices that the call was canceled, and a
	// client's SendMsg returns nil (or io.EOF) once the server has ended
	// the call. The peer's Recv events say what arrived.
	Send
	// Recv is one RecvMsg call that returned a message (Msg) or an error other
	// than io.EOF (Err).
	Recv
	// CloseSend is the client half-closing its side of the stream (its
	// first CloseSend call; gRPC ignores the later ones).
	CloseSend
	// Trailer is response trailer metadata: set (server) or received
	// (client). A trailer without keys is not recorded. The client's
	// leaves out the keys in which gRPC carries the status: content-type
	// (in the trailer of a call that failed before the server sent
	// anything) and grpc-status-details-bin (the End's Err has the
	// details). So a call records a trailer only when its server set one.
	Trailer
	// End is the end of one side of a call. Err is the final status (nil for OK).
	End
)

var kindNames = [...]string{"begin", "header", "send", "recv", "closesend", "trailer", "end"}

// String returns the lower-case name of the kind: "begin", "header", "send",
// "recv", "closesend", "trailer" or "end".
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Event is one thing that happened on one side of one RPC.
//
// Events of a Recorder are totally ordered by Seq. A Send takes its Seq when
// SendMsg is called and a Recv when RecvMsg returns, so for every message the
// sender's Send has a smaller Seq than the receiver's Recv.
type Event struct {
	Seq     uint64        // global, starts at 1, strictly increasing across all calls and both sides
	CallID  uint64        // equal for the client half and the server half of one RPC
	Method  string        // full method name, "/pkg.Service/Method"
	Side    Side          // which half recorded it
	Kind    Kind          // what happened
	Msg     any           // Send/Recv: a deep copy of the message as it was at the moment of the call
	MD      metadata.MD   // Begin: request metadata; Header; Trailer (a copy)
	Err     error         // End: final status error, nil for OK; Send/Recv (and a refused Header): the error the call returned
	Time    time.Time     // when the event happened (for a Send: when SendMsg was called)
	Elapsed time.Duration // Send/Recv: time spent inside SendMsg/RecvMsg (how long it blocked)
}
