package examples

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/streamtest/streamtest/examples/chatpb"
)

// RoomHeader is the response header key Subscribe sends once the
// subscription is live; its value is the room name. A client that has
// read the header (stream.Header()) knows every later Post reaches it.
const RoomHeader = "chat-room"

// ChatServer implements chatpb.ChatServer: in-memory chat rooms that keep
// every message posted to them. It is safe for concurrent use, starts no
// goroutines of its own, and never blocks a Post on a slow subscriber.
//
// The zero value is not usable; call NewChatServer.
type ChatServer struct {
	chatpb.UnimplementedChatServer

	mu     sync.Mutex
	rooms  map[string]*room
	lastID uint64 // last id given to a posted message
}

// room is one chat room. Its messages are immutable once stored, so they
// can be sent from several Subscribe handlers at once without copying.
type room struct {
	msgs []*chatpb.Message // in post order; msgs[i].Seq == i+1
	// changed is closed (and replaced) whenever a message is added: a
	// broadcast that needs no registration, so a Subscribe that ends leaves
	// nothing behind.
	changed chan struct{}
}

// NewChatServer returns a ChatServer with no rooms. Rooms are created by
// the first message posted to them.
func NewChatServer() *ChatServer {
	return &ChatServer{rooms: make(map[string]*room)}
}

// Register registers c on s. Its signature fits grpctest.NewServer:
//
//	srv := grpctest.NewServer(t, examples.NewChatServer().Register)
func (c *ChatServer) Register(s *grpc.Server) {
	chatpb.RegisterChatServer(s, c)
}

// Messages returns copies of the messages stored in room, in post order,
// with their room sequence numbers (1, 2, ...). It returns nil for a room
// nobody posted to, subscribers or not.
func (c *ChatServer) Messages(roomName string) []*chatpb.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rooms[roomName]
	if r == nil || len(r.msgs) == 0 {
		return nil
	}
	out := make([]*chatpb.Message, len(r.msgs))
	for i, m := range r.msgs {
		out[i] = proto.CloneOf(m)
	}
	return out
}

// Post stores msg in its room and acknowledges it with a server-wide id
// ("1", "2", ...) and the message's position in the room. A nil message or
// one without a room fails with codes.InvalidArgument.
func (c *ChatServer) Post(_ context.Context, msg *chatpb.Message) (*chatpb.Ack, error) {
	if err := validate(msg, "Post"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	seq := c.storeLocked(msg)
	c.lastID++
	return &chatpb.Ack{Id: strconv.FormatUint(c.lastID, 10), Seq: seq}, nil
}

// Subscribe streams the messages of req's room: the backlog first (unless
// req.SkipBacklog), then every new message as it is posted. Before the
// first message it sends a header with RoomHeader set, so a client can
// wait until the subscription is live. It runs until the client cancels
// or the server stops, then returns that context's status (usually
// codes.Canceled). A missing room fails with codes.InvalidArgument.
func (c *ChatServer) Subscribe(req *chatpb.SubscribeRequest, stream grpc.ServerStreamingServer[chatpb.Message]) error {
	if req == nil || req.GetRoom() == "" {
		return status.Error(codes.InvalidArgument, "Subscribe: room is required")
	}
	ctx := stream.Context()

	c.mu.Lock()
	r := c.roomLocked(req.GetRoom())
	next := 0 // index in r.msgs of the next message to send
	if req.GetSkipBacklog() {
		next = len(r.msgs)
	}
	c.mu.Unlock()

	if err := stream.SendHeader(metadata.Pairs(RoomHeader, req.GetRoom())); err != nil {
		return err
	}
	for {
		c.mu.Lock()
		pending := r.msgs[next:]
		changed := r.changed
		c.mu.Unlock()

		for _, m := range pending {
			if err := stream.Send(m); err != nil {
				return err
			}
		}
		next += len(pending)
		if len(pending) > 0 {
			continue // more may have arrived while sending
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-changed:
		}
	}
}

// Upload stores every message of the client stream in its room and, when
// the client half-closes, replies with a Summary: how many messages, their
// text and payload bytes, and the client seq of the last one. A message
// without a room fails the call with codes.InvalidArgument; the messages
// before it stay stored.
func (c *ChatServer) Upload(stream grpc.ClientStreamingServer[chatpb.Message, chatpb.Summary]) error {
	sum := &chatpb.Summary{}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(sum)
		}
		if err != nil {
			return err
		}
		if err := validate(msg, "Upload message "+strconv.FormatInt(sum.Count+1, 10)); err != nil {
			return err
		}
		c.mu.Lock()
		c.storeLocked(msg)
		c.mu.Unlock()
		sum.Count++
		sum.Bytes += int64(len(msg.GetText()) + len(msg.GetPayload()))
		sum.LastSeq = msg.GetSeq()
	}
}

// Talk answers every message with an echo: the same message with Seq set
// to the server's count of messages on this stream (1, 2, ...). Payloads
// are echoed too, so a client that stops reading soon blocks the server,
// and then its own Sends: a flow-control probe. Talk stores nothing and
// returns OK when the client half-closes. A message without a room fails
// the call with codes.InvalidArgument.
func (c *ChatServer) Talk(stream grpc.BidiStreamingServer[chatpb.Message, chatpb.Message]) error {
	var n int64
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		n++
		if err := validate(msg, "Talk message "+strconv.FormatInt(n, 10)); err != nil {
			return err
		}
		echo := proto.CloneOf(msg)
		echo.Seq = n
		if err := stream.Send(echo); err != nil {
			return err
		}
	}
}

// validate reports a status error with codes.InvalidArgument for a nil
// message or one without a room; what names the call in the message.
func validate(msg *chatpb.Message, what string) error {
	if msg == nil {
		return status.Errorf(codes.InvalidArgument, "%s: nil message", what)
	}
	if msg.GetRoom() == "" {
		return status.Errorf(codes.InvalidArgument, "%s: room is required", what)
	}
	return nil
}

// roomLocked returns the room called name, creating it if needed.
// c.mu must be held.
func (c *ChatServer) roomLocked(name string) *room {
	r := c.rooms[name]
	if r == nil {
		r = &room{changed: make(chan struct{})}
		c.rooms[name] = r
	}
	return r
}

// storeLocked stores a copy of msg in its room with Seq set to its
// position there, wakes the room's subscribers and returns the position.
// c.mu must be held.
func (c *ChatServer) storeLocked(msg *chatpb.Message) int64 {
	r := c.roomLocked(msg.GetRoom())
	stored := proto.CloneOf(msg)
	stored.Seq = int64(len(r.msgs) + 1)
	r.msgs = append(r.msgs, stored)
	close(r.changed)
	r.changed = make(chan struct{})
	return stored.Seq
}
