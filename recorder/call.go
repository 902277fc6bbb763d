package recorder

import (
	"google.golang.org/grpc/metadata"
)

// Call is a snapshot of one RPC: the kept events of its client half, its
// server half, or both when the same Recorder recorded both sides. A nil
// *Call is a call with no events: ID 0, no messages, Done false.
type Call struct {
	id     uint64
	method string
	events []Event
	sides  [2]bool // which sides have events
}

func groupCalls(events []Event) []*Call {
	var calls []*Call
	byID := make(map[uint64]*Call)
	for _, e := range events {
		c := byID[e.CallID]
		if c == nil {
			c = &Call{id: e.CallID, method: e.Method}
			byID[e.CallID] = c
			calls = append(calls, c)
		}
		c.events = append(c.events, e)
		if e.Side == Client || e.Side == Server {
			c.sides[e.Side] = true
		}
	}
	return calls
}

// ID returns the call's id, the CallID of its events.
func (c *Call) ID() uint64 {
	if c == nil {
		return 0
	}
	return c.id
}

// Method returns the full method name of the call.
func (c *Call) Method() string {
	if c == nil {
		return ""
	}
	return c.method
}

// Events returns the call's events in Seq order.
func (c *Call) Events() []Event {
	if c == nil {
		return nil
	}
	return append([]Event(nil), c.events...)
}

// prefer returns the side whose view of the call counts: the client's if it
// was recorded, else the server's.
func (c *Call) prefer() Side {
	if c == nil || c.sides[Client] {
		return Client
	}
	return Server
}

// messages returns the messages of the successful events of one side and kind.
func (c *Call) messages(side Side, kind Kind) []any {
	if c == nil {
		return nil
	}
	var out []any
	for _, e := range c.events {
		if e.Side == side && e.Kind == kind && e.Err == nil {
			out = append(out, e.Msg)
		}
	}
	return out
}

// Requests returns what the client sent, in order: the client's Sends if the
// client side was recorded, else what the server received.
func (c *Call) Requests() []any {
	if c.prefer() == Client {
		return c.messages(Client, Send)
	}
	return c.messages(Server, Recv)
}

// Responses returns what the server sent, in order: the server's Sends if the
// server side was recorded, else what the client received.
func (c *Call) Responses() []any {
	if c != nil && c.sides[Server] {
		return c.messages(Server, Send)
	}
	return c.messages(Client, Recv)
}

func (c *Call) last(side Side, kind Kind) (Event, bool) {
	if c == nil {
		return Event{}, false
	}
	for i := len(c.events) - 1; i >= 0; i-- {
		if e := c.events[i]; e.Side == side && e.Kind == kind {
			return e, true
		}
	}
	return Event{}, false
}

// metadataOf returns the metadata of the preferred side's event of kind,
// falling back to the other side's.
func (c *Call) metadataOf(kind Kind) metadata.MD {
	side := c.prefer()
	if e, ok := c.last(side, kind); ok {
		return e.MD.Copy()
	}
	if e, ok := c.last(1-side, kind); ok {
		return e.MD.Copy()
	}
	return nil
}

// Header returns the response header: as the client received it if the
// client side was recorded, else as the server sent it. Nil if none.
func (c *Call) Header() metadata.MD { return c.metadataOf(Header) }

// Trailer returns the response trailer: as the client received it if the
// client side was recorded, else as the server set it. Nil if none.
func (c *Call) Trailer() metadata.MD { return c.metadataOf(Trailer) }

// Err returns the call's final status: nil for OK, a *status.Status error
// otherwise (as the client saw it if the client side was recorded). It is
// nil too while the call has not ended; see Done.
func (c *Call) Err() error {
	if e, ok := c.last(c.prefer(), End); ok {
		return e.Err
	}
	return nil
}

// Done reports whether the call has ended: an End event exists on the
// client side if it was recorded, else on the server side.
func (c *Call) Done() bool {
	_, ok := c.last(c.prefer(), End)
	return ok
}
