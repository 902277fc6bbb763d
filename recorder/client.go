package recorder

import (
	"context"
	"errors"
	"io"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/streamtest/streamtest/internal/rpcstatus"
)

// CallIDHeader is the request metadata key through which a recording client
// tells a recording server which call it is, so that both halves of an RPC
// share one CallID. The server side strips it from what it records and from
// the metadata its handler sees. A client sends it only once its Recorder
// has made a server-side interceptor or wrapper (the header is of no use to
// any other server), so a Recorder that records only clients adds nothing
// to their requests; TagContext adds it when asked.
const CallIDHeader = "streamtest-call-id"

// tag returns ctx with this recorder's call-id header for call, if this
// recorder records servers too; else ctx.
func (r *Recorder) tag(ctx context.Context, call *callInfo) context.Context {
	if !r.serving.Load() {
		return ctx
	}
	return r.tagID(ctx, call.id)
}

// tagID returns ctx with this recorder's call-id header for the call id.
func (r *Recorder) tagID(ctx context.Context, id uint64) context.Context {
	var b [48]byte
	v := strconv.AppendUint(b[:0], r.id, 10)
	v = append(v, '.')
	v = strconv.AppendUint(v, id, 10)
	return metadata.AppendToOutgoingContext(ctx, CallIDHeader, string(v))
}

// TagContext returns ctx with a new call id of this Recorder in its
// outgoing metadata (CallIDHeader), for users who build their own stream
// client interceptor with WrapClientStream: create the stream of method
// with the returned context, wrap it, and the server half, if this
// Recorder records it, shares the call's id. It returns ctx as it is for a
// method that WithMethods leaves out. Unlike the interceptors, it adds the
// header whether or not this Recorder records servers (it cannot know that
// yet when the first call starts):
//
//	ctx = rec.TagContext(ctx, method)
//	cs, err := streamer(ctx, desc, cc, method, opts...)
//	if err != nil {
//		return nil, err
//	}
//	return rec.WrapClientStream(cs, desc, method), nil
//
// StreamClientInterceptor and UnaryClientInterceptor tag their calls
// themselves.
func (r *Recorder) TagContext(ctx context.Context, method string) context.Context {
	r.ready()
	if ctx == nil || !r.records(method) {
		return ctx
	}
	return r.tagID(ctx, r.ids.Add(1))
}

// CallID returns the CallID under which r records the call whose client
// stream has context ctx (stream.Context() of a stream created through r's
// StreamClientInterceptor, or with a context from TagContext), and whether
// r tagged that call at all: only a Recorder that also records servers
// tags the calls its client interceptor makes (see CallIDHeader). With it
// a test can pick its own call out of Calls, or tell which recorded call a
// stream it holds belongs to. A client interceptor inside the recorder's
// that replaces the outgoing metadata (metadata.NewOutgoingContext) drops
// the tag from the stream's context too: CallID then returns false,
// though the client half is recorded (see the package doc on one call's
// two halves).
func (r *Recorder) CallID(ctx context.Context) (uint64, bool) {
	if r == nil || ctx == nil {
		return 0, false
	}
	r.ready()
	md, _ := metadata.FromOutgoingContext(ctx)
	id, i := r.newestTag(md[CallIDHeader])
	return id, i >= 0
}

// newestTag returns the call id in the last of vs that this recorder's
// client put there, and its index; -1 if none. AppendToOutgoingContext
// appends, so an earlier one came with the context (metadata a proxy
// forwarded, say) and names another call.
func (r *Recorder) newestTag(vs []string) (uint64, int) {
	for i := len(vs) - 1; i >= 0; i-- {
		if id, ok := r.parseTag(vs[i]); ok {
			return id, i
		}
	}
	return 0, -1
}

// parseTag returns the call id that this recorder's client side put in v.
func (r *Recorder) parseTag(v string) (uint64, bool) {
	rid, cid, ok := strings.Cut(v, ".")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseUint(rid, 10, 64)
	if err != nil || id != r.id {
		return 0, false
	}
	c, err := strconv.ParseUint(cid, 10, 64)
	return c, err == nil && c != 0
}

// callID returns the id of a call half whose request metadata is md, a
// copy, from which it strips every CallIDHeader value: the id this
// recorder's client put there or in carried (the values a recorder
// further out set aside: see carriedIDs), else a new one. others are the
// values of other recorders, for recorders further in; stripped says
// whether md had any.
func (r *Recorder) callID(md metadata.MD, carried []string) (id uint64, others []string, stripped bool) {
	vs := md[CallIDHeader]
	if len(vs) > 0 {
		delete(md, CallIDHeader)
		stripped = true
	}
	// The newest value of this recorder's (see newestTag); values in md
	// come before those carried.
	id, inMD := r.newestTag(vs)
	inCarried := -1
	if inMD < 0 {
		id, inCarried = r.newestTag(carried)
	}
	others = appendExcept(others, vs, inMD)
	others = appendExcept(others, carried, inCarried)
	if id == 0 {
		id = r.ids.Add(1)
	}
	return id, others, stripped
}

// appendExcept appends to dst the values of vs but the one at index skip.
func appendExcept(dst, vs []string, skip int) []string {
	for i, v := range vs {
		if i != skip {
			dst = append(dst, v)
		}
	}
	return dst
}

// carriedIDs is the context key under which a server half keeps the
// call-id values of other recorders that it stripped from the metadata,
// for the recorders further in on the same server (each Recorder on both
// sides of the same calls then correlates its own halves), without
// showing them to the handler.
type carriedIDs struct{}

// requestMD returns a copy of the request metadata in ctx (grpc makes a
// fresh one) without the call-id headers of recorders further out, nil if
// none.
func requestMD(ctx context.Context) metadata.MD {
	md, ok := metadata.FromOutgoingContext(ctx)
	if !ok || len(md) == 0 {
		return nil
	}
	delete(md, CallIDHeader)
	return md
}

// unaryCall holds what the client side of one unary call needs, in one
// allocation.
type unaryCall struct {
	call            callInfo
	header, trailer metadata.MD
	hopt            grpc.HeaderCallOption
	topt            grpc.TrailerCallOption
	opts            [4]grpc.CallOption
}

// UnaryClientInterceptor records unary calls made through a ClientConn:
// Begin, Send, Header, Recv, Trailer and End on the client side.
func (r *Recorder) UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	r.ready()
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if !r.records(method) {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		uc := &unaryCall{call: callInfo{id: r.ids.Add(1), method: method, oneLog: true}}
		call := &uc.call
		start := r.now()
		send := event{call: call, side: Client, kind: Send, at: start}.withMsg(req, nil)
		send.strict, send.err = clientMarshalCheck(req, send.pm != nil, opts)
		if send.err == nil && ctx.Err() != nil {
			// gRPC fails the call without sending it. (A context that
			// ends later, while gRPC sends, cannot be told from here.)
			send.err = status.FromContextError(ctx.Err()).Err()
		}
		begin, seq := r.add(event{call: call, side: Client, kind: Begin, at: start, md: requestMD(ctx)}, send)

		uc.hopt.HeaderAddr = &uc.header
		uc.topt.TrailerAddr = &uc.trailer
		opts = append(append(uc.opts[:0], opts...), &uc.hopt, &uc.topt)
		err := invoker(r.tag(ctx, call), method, req, reply, cc, opts...)
		now := r.now()
		if send.err == nil && status.Code(err) == codes.ResourceExhausted && clientSendTooLarge(cc, method, req, opts) {
			// gRPC refused to send the request: the Send failed.
			r.amend(call, Send, recordRef{i: begin + 1, seq: seq + 1}, func(rec *record) { rec.err = err })
		}
		var es [4]event
		n := 0
		if len(uc.header) > 0 {
			es[n] = event{call: call, side: Client, kind: Header, at: now, md: uc.header}
			n++
		}
		if err == nil {
			es[n] = event{call: call, side: Client, kind: Recv, at: now, elapsed: now - start}.withMsg(reply, nil)
		} else {
			es[n] = event{call: call, side: Client, kind: Recv, at: now, elapsed: now - start, err: err}
		}
		n++
		if tr := receivedTrailer(uc.trailer); len(tr) > 0 {
			es[n] = event{call: call, side: Client, kind: Trailer, at: now, md: tr}
			n++
		}
		es[n] = event{call: call, side: Client, kind: End, at: now, err: endStatus(err)}
		r.add(es[:n+1]...)
		return err
	}
}

// StreamClientInterceptor records streaming calls made through a
// ClientConn. The client side of a call ends when RecvMsg returns an error
// (io.EOF means OK), when a call without server streaming has received its
// one response, or when the call's context ends (after what a RecvMsg in
// progress then returns: see the package documentation).
func (r *Recorder) StreamClientInterceptor() grpc.StreamClientInterceptor {
	r.ready()
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		if !r.records(method) {
			return streamer(ctx, desc, cc, method, opts...)
		}
		w := &clientStream{intercepted: true}
		w.info = callInfo{id: r.ids.Add(1), method: method}
		call := &w.info
		begin := r.now()
		r.add(event{call: call, side: Client, kind: Begin, at: begin, md: requestMD(ctx)})
		if r.serving.Load() { // the server half may be this recorder's: see pairState
			w.pair = new(pairState)
			r.storePair(call.id, w.pair)
		}
		cs, err := streamer(r.tag(ctx, call), desc, cc, method, opts...)
		if err != nil {
			if w.pair != nil {
				r.dropPair(call.id)
			}
			r.add(event{call: call, side: Client, kind: End, at: r.now(), err: endStatus(err)})
			return nil, err
		}
		// The call's deadline may be the service config's ("timeout"),
		// which gRPC puts on cs.Context(), counted from the start of the
		// call. Calling cs.Context() would disable the call's retries
		// (gRPC documents so): the recorder watches a context with the
		// same deadline instead, counted from before the streamer ran, so
		// that it is never later than gRPC's. (Under xDS, gRPC takes the
		// method's config from its config selector, which
		// GetMethodConfig does not consult.)
		if cc != nil {
			mc := cc.GetMethodConfig(method)
			if t := mc.Timeout; t != nil && *t >= 0 {
				w.parent = ctx
				ctx, w.release = context.WithDeadline(ctx, r.base.Add(begin+*t))
			}
			if mc.RetryPolicy != nil && w.pair != nil {
				// A call gRPC may retry: its server halves are attempts,
				// and an attempt's status is not the call's. (Known only
				// now: the first call of a channel brings its service
				// config.)
				r.dropPair(call.id)
				w.pair = nil
			}
		}
		return r.wrapClient(ctx, cs, desc, w), nil
	}
}

// WrapClientStream returns cs wrapped so that its events are recorded, for
// users who build their own stream client interceptor. It records Begin at
// once. If cs was created with a context from TagContext, the call shares
// its id with the server half; otherwise it gets an id of its own. A
// method that WithMethods leaves out gets cs back unwrapped.
//
// It reads cs.Context(), for the call's metadata and to end the call with
// its context. As gRPC documents for ClientStream.Context, that commits
// the call to its current attempt: a wrapped gRPC stream is not retried.
// StreamClientInterceptor, which is given the call's context, leaves
// retries alone.
func (r *Recorder) WrapClientStream(cs grpc.ClientStream, desc *grpc.StreamDesc, method string) grpc.ClientStream {
	r.ready()
	if cs == nil {
		return nil
	}
	if !r.records(method) {
		return cs
	}
	if desc == nil {
		desc = &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}
	}
	ctx := cs.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	w := &clientStream{}
	md, _ := metadata.FromOutgoingContext(ctx) // a copy: callID edits it
	id, _, _ := r.callID(md, nil)
	if len(md) == 0 {
		md = nil
	}
	w.info = callInfo{id: id, method: method}
	r.add(event{call: &w.info, side: Client, kind: Begin, at: r.now(), md: md})
	return r.wrapClient(ctx, cs, desc, w)
}

// wrapClient completes w, whose callInfo is filled in, as the wrapper of cs.
func (r *Recorder) wrapClient(ctx context.Context, cs grpc.ClientStream, desc *grpc.StreamDesc, w *clientStream) *clientStream {
	w.ClientStream, w.r, w.call, w.serverStreams = cs, r, &w.info, desc.ServerStreams
	if ctx.Done() != nil {
		w.ctx, w.grace = ctx, recvGrace
		w.stop = context.AfterFunc(ctx, func() {
			// The goroutine is the recorder's, started by whoever ended
			// ctx: it drops the runtime/pprof labels it inherited from
			// them, which leak checks that go by labels (grpctest's)
			// would otherwise count as that goroutine's for up to
			// recvGrace.
			pprof.SetGoroutineLabels(context.Background())
			w.contextEnded(ctx)
		})
	}
	return w
}

// recvGrace bounds how long the end of a call whose context has ended
// waits for a RecvMsg in progress to return (see contextEnded).
const recvGrace = time.Second

// statusGrace bounds how long the end of a call whose context has ended
// after its server half ended waits for the code's next RecvMsg to record
// it (see contextEnded). Short, as code that reads what it expects and
// cancels without reading the status holds the End back this long. Code
// that goes on reading after its cancel does so at once; if it comes
// later, the End recorded meanwhile is still corrected by what its RecvMsg
// returns (see end), only a message read then comes after the End.
const statusGrace = 50 * time.Millisecond

// pairState is what the two halves of a stream that one Recorder records
// share: the server half marks its end, which the client half's context
// watch reads (see contextEnded). StreamClientInterceptor makes it and
// puts it in Recorder.pairs under the call's id before the call starts;
// the server half takes it out when it begins.
//
// A call with a retry policy gets none: its server halves are attempts,
// and an attempt's status is not the call's. Reset drops the pairs of the
// calls in progress (their ends are then recorded as without one).
// Recorder.pairsOut counts the pairs stored and not yet taken, so that a
// Reset with none out does not touch the map (whose Clear allocates).
type pairState struct {
	// serverEnded: the server half ended with a status of its own, not
	// Canceled or DeadlineExceeded (which the client's cancel or deadline
	// gives it, and the client's End then reports as it is).
	serverEnded atomic.Bool
}

// contextEnded ends the call because ctx, its context, has ended. It runs
// on the goroutine context.AfterFunc starts for it, once ctx ends.
//
// A RecvMsg in progress then normally returns at once, with the context's
// error or with a message that had arrived: contextEnded waits for it (at
// most w.grace) so that what it returned is recorded before the End. Not
// waiting would race with that return, and the same program would record
// the failed Recv or not from one run to the next. The bound keeps a
// RecvMsg that does not return (a stream below the recorder that ignores
// this context) from keeping the call without an End.
//
// A SendMsg in progress is waited for first, with the same bound: when
// gRPC ends the call because of that SendMsg (a message over the size
// limit), it cancels the stream's context before SendMsg returns the
// error the End must carry. A SendMsg that fails once the context has
// ended records the End itself before it returns (see SendMsg); whichever
// comes first records it.
func (w *clientStream) contextEnded(ctx context.Context) {
	if w.ended.Load() {
		return
	}
	// One bound for all the waits: the End comes at most w.grace late.
	deadline := time.Now().Add(w.grace)
	w.sends.wait(time.Until(deadline))
	w.recvs.wait(time.Until(deadline))
	w.headers.wait(time.Until(deadline))
	if w.awaitsStatus() {
		// The server half had ended: its status may have reached the
		// client, and then the code's next RecvMsg returns it (io.EOF
		// for OK, after any messages not yet read) although the context
		// has ended. Recording the context's status at once would
		// contradict what the code gets (a client End DeadlineExceeded
		// for a call whose Recv returned io.EOF: 1 run in 4 under load).
		// So the End waits for that RecvMsg, which records it, for at
		// most statusGrace; a code that never reads again gets the
		// context's status.
		w.awaitEnd(min(statusGrace, time.Until(deadline)))
	}
	if w.noHeader.Load() && !w.intercepted && w.sendErr.Load() == nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// gRPC's Header found the stream over without a header, and
		// ended it, canceling the watched context (WrapClientStream's):
		// a trailers-only response, whose status the next RecvMsg
		// returns at once. Wait for that End, with the same bound (the
		// caller may have canceled during Header, and never call RecvMsg).
		w.awaitEnd(time.Until(deadline))
	}
	w.end(w.ctxEndStatus(ctx.Err()), false, nil)
}

// storePair puts p in r.pairs under call id id.
func (r *Recorder) storePair(id uint64, p *pairState) {
	r.pairsOut.Add(1)
	r.pairs.Store(id, p)
}

// takePair takes the pairState of call id id out of r.pairs, if it is
// there.
func (r *Recorder) takePair(id uint64) (*pairState, bool) {
	v, ok := r.pairs.LoadAndDelete(id)
	if !ok {
		return nil, false
	}
	r.pairsOut.Add(-1)
	return v.(*pairState), true
}

// dropPair removes the pairState of call id id from r.pairs, if it is
// there.
func (r *Recorder) dropPair(id uint64) { r.takePair(id) }

// awaitsStatus reports whether the server half of the call, recorded by
// the same Recorder, has ended and no RecvMsg is in progress: the code's
// next RecvMsg may return the server's status, whatever the context says.
func (w *clientStream) awaitsStatus() bool {
	return w.pair != nil && w.pair.serverEnded.Load() && !w.recvs.inProgress()
}

// awaitEnd waits until the End is recorded, or for grace.
func (w *clientStream) awaitEnd(grace time.Duration) {
	w.endMu.Lock()
	if w.ended.Load() {
		w.endMu.Unlock()
		return
	}
	if w.endWait == nil {
		w.endWait = make(chan struct{})
	}
	ch := w.endWait
	w.endMu.Unlock()
	t := time.NewTimer(grace)
	select {
	case <-ch:
	case <-t.C:
	}
	t.Stop()
}

// inFlight counts the calls of one method (SendMsg, RecvMsg) in progress
// on a stream, for contextEnded to wait for.
type inFlight struct {
	n        atomic.Int32
	returned atomic.Pointer[chan struct{}] // closed when n drops to 0, if a wait published it
}

func (f *inFlight) enter() { f.n.Add(1) }

// leave ends a call, once it has recorded what it returned, and wakes a
// wait for it.
func (f *inFlight) leave() {
	if f.n.Add(-1) == 0 && f.returned.Load() != nil {
		if ch := f.returned.Swap(nil); ch != nil {
			close(*ch)
		}
	}
}

// inProgress reports whether a call is in progress.
func (f *inFlight) inProgress() bool { return f.n.Load() > 0 }

// wait returns once no call is in progress, or after grace.
func (f *inFlight) wait(grace time.Duration) {
	if !f.inProgress() {
		return
	}
	ch := make(chan struct{})
	p := &ch
	if !f.returned.CompareAndSwap(nil, p) {
		// Another wait waits too: share its channel. Gone already means
		// the call has returned.
		p = f.returned.Load()
	}
	if p != nil && f.inProgress() { // else it returned before it could see the channel
		t := time.NewTimer(grace)
		select {
		case <-*p:
		case <-t.C:
		}
		t.Stop()
	}
}

type clientStream struct {
	grpc.ClientStream
	r             *Recorder
	info          callInfo  // the call half, allocated with its wrapper
	call          *callInfo // &info
	serverStreams bool
	intercepted   bool            // made by StreamClientInterceptor, which watches the caller's context
	ctx           context.Context // the context watched for the call's end, if it can end
	stop          func() bool
	release       context.CancelFunc // of ctx, if the recorder made it (a service-config timeout)
	parent        context.Context    // what ctx derives from, if the recorder made it
	grace         time.Duration      // see contextEnded
	pair          *pairState         // shared with the server half, if this recorder may record it
	ctxEnd        recordRef          // the End, if the context (not RecvMsg) ended the call (under endMu)

	header    atomic.Bool // Header event recorded
	closeSent atomic.Bool // CloseSend recorded (and did not fail)

	sendExt, recvExt extCache              // of SendMsg's goroutine, of RecvMsg's
	sendErr          atomic.Pointer[error] // a SendMsg error other than io.EOF with which gRPC ended the call
	endMu            sync.Mutex            // held while the End is recorded
	ended            atomic.Bool           // End event recorded (set under endMu, once it is)
	endWait          chan struct{}         // closed when the End is recorded, if awaitEnd made it (under endMu)
	noHeader         atomic.Bool           // gRPC's Header returned nil, nil: it ended the stream (see contextEnded)
	sends, recvs     inFlight              // SendMsg and RecvMsg calls in progress (see contextEnded)
	headers          inFlight              // Header calls in progress (see contextEnded; they record no End)
}

func (w *clientStream) SendMsg(m any) error {
	w.sends.enter()
	defer w.sends.leave()
	start := w.r.now()
	i, seq := w.r.add(event{call: w.call, side: Client, kind: Send, at: start, pending: true}.withMsg(m, &w.sendExt))
	err := w.ClientStream.SendMsg(m)
	elapsed := w.r.now() - start
	w.r.finish(w.call, Send, i, seq, elapsed, err)
	if err != nil && w.intercepted && !errors.Is(err, io.EOF) && w.ClientStream.Context().Err() != nil {
		// gRPC ended the call with this error (it does for every SendMsg
		// error but io.EOF) and canceled its stream's context, which the
		// interceptor does not watch: it watches the caller's, which may
		// never end. The End is recorded now, with the error, as below.
		// (gRPC's Context commits the call to its attempt, which no longer
		// matters once the call has ended; an error from a stream further
		// in that leaves gRPC's context alone does not end the call.)
		sendErr := err
		w.sendErr.Store(&sendErr)
		if !w.recvs.inProgress() {
			w.end(err, false, nil)
		}
	} else if err != nil && w.ctx != nil {
		if cerr := w.contextErr(); cerr != nil {
			if !errors.Is(err, io.EOF) {
				// gRPC ended the call with an error of SendMsg's own (a
				// message too large, one it cannot marshal), and with it
				// the stream's context, the one watched (WrapClientStream):
				// the End carries this error, not Canceled. (An error that
				// leaves the watched context alone, from a stream further
				// in that refused the message, does not end the call.)
				sendErr := err // a copy: taking err's address would move it to the heap on every SendMsg
				w.sendErr.Store(&sendErr)
			}
			// The call ended with its context. The End is recorded before
			// SendMsg returns, not whenever context.AfterFunc gets to it:
			// code that has seen the Send fail may check the End at once.
			// (With a RecvMsg in progress, the End waits for what it
			// returns, as in contextEnded, and comes with it; so it does,
			// in contextEnded, for the next RecvMsg once the server half
			// has ended: see awaitsStatus.)
			if !w.recvs.inProgress() && !w.awaitsStatus() {
				w.end(w.ctxEndStatus(cerr), false, nil)
			}
		}
	}
	return err
}

// ctxEndStatus is the End of a call whose watched context ended with
// cerr: the error of a SendMsg that made gRPC end the call, if one did,
// else cerr.
func (w *clientStream) ctxEndStatus(cerr error) error {
	if p := w.sendErr.Load(); p != nil {
		return *p
	}
	return cerr
}

// contextErr returns the error of the context the call's end is watched
// on: its Err; if the recorder derived that context, its parent's Err
// (the context package cancels a parent's children after it closes the
// parent's Done, which gRPC may have seen first), or DeadlineExceeded once
// that context's deadline has passed (its timer may not have fired yet);
// else nil.
func (w *clientStream) contextErr() error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if w.parent == nil {
		return nil
	}
	if err := w.parent.Err(); err != nil {
		return err
	}
	if d, _ := w.ctx.Deadline(); !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

func (w *clientStream) RecvMsg(m any) error {
	w.recvs.enter()
	defer w.leaveRecv()
	start := w.r.now()
	err := w.ClientStream.RecvMsg(m)
	now := w.r.now()
	w.recordHeader(now)
	switch {
	case err == nil:
		w.r.add(event{call: w.call, side: Client, kind: Recv, at: now, elapsed: now - start}.withMsg(m, &w.recvExt))
		if !w.serverStreams {
			w.end(nil, true, nil)
		}
	case errors.Is(err, io.EOF):
		w.end(nil, true, nil)
	default:
		// The failed Recv goes in with the End, or not at all if the
		// call has ended already.
		w.end(err, true, &event{call: w.call, side: Client, kind: Recv, at: now, elapsed: now - start, err: err})
	}
	return err
}

// leaveRecv ends a RecvMsg. If a SendMsg through the interceptor made
// gRPC end the call while this RecvMsg was in progress, it left the End
// to it; a RecvMsg that returned a message records none, so the End is
// recorded now. (The leave comes before the load of sendErr: SendMsg
// stores sendErr before it looks at recvs, so one of the two sees the
// other; end records once.)
func (w *clientStream) leaveRecv() {
	w.recvs.leave()
	if w.intercepted && !w.recvs.inProgress() {
		if p := w.sendErr.Load(); p != nil && !w.ended.Load() {
			w.end(*p, false, nil)
		}
	}
}

// CloseSend takes its Seq when it is called, like SendMsg: the server can
// see the half-close (and end) before CloseSend returns. Only the first
// call is recorded, unless it failed: gRPC ignores the later ones.
func (w *clientStream) CloseSend() error {
	if !w.closeSent.CompareAndSwap(false, true) {
		return w.ClientStream.CloseSend()
	}
	start := w.r.now()
	i, seq := w.r.add(event{call: w.call, side: Client, kind: CloseSend, at: start})
	err := w.ClientStream.CloseSend()
	if err != nil {
		w.r.finish(w.call, CloseSend, i, seq, w.r.now()-start, err)
		w.closeSent.Store(false)
	}
	return err
}

func (w *clientStream) Header() (metadata.MD, error) {
	// Counted apart from RecvMsg (which records an End; Header does not):
	// gRPC's Header may end the call (a trailers-only response) and cancel
	// its context, which contextEnded then sees, and must wait for what
	// Header returns.
	w.headers.enter()
	md, err := w.ClientStream.Header()
	if md == nil && err == nil {
		w.noHeader.Store(true)
	}
	w.headers.leave()
	if err == nil {
		w.recordHeaderMD(w.r.now(), md)
	}
	return md, err
}

// recordHeader records the response header once RecvMsg has returned: it is
// then known without blocking.
func (w *clientStream) recordHeader(now time.Duration) {
	if w.header.Load() {
		return
	}
	md, err := w.ClientStream.Header()
	if err != nil {
		w.header.Store(true)
		return
	}
	w.recordHeaderMD(now, md)
}

func (w *clientStream) recordHeaderMD(now time.Duration, md metadata.MD) {
	if !w.header.CompareAndSwap(false, true) {
		return
	}
	if len(md) > 0 {
		w.r.add(event{call: w.call, side: Client, kind: Header, at: now, md: md.Copy()})
	}
}

// end records the end of the call once, after first if not nil (a failed
// Recv: recorded with the End, or on its own if the call has ended
// already). err is converted to a status error. onStream says RecvMsg ended it
// (rather than the context): the stream is done on the wire, so its
// trailer can be read without blocking, and the context watch can go.
func (w *clientStream) end(err error, onStream bool, first *event) {
	w.endMu.Lock()
	defer w.endMu.Unlock()
	if w.ended.Load() {
		if first != nil { // a RecvMsg that failed after the end
			w.r.add(*first)
		}
		if onStream && w.ctxEnd.ok {
			// The context ended the call, and then RecvMsg returned its
			// status all the same: the status had reached the client
			// before gRPC acted on the context (the server ended as the
			// context did, so contextEnded did not wait for this RecvMsg).
			// The End says what the code got.
			st := endStatus(err)
			w.r.amend(w.call, End, w.ctxEnd, func(rec *record) { rec.err = st })
		}
		return
	}
	if w.pair != nil {
		w.r.dropPair(w.info.id) // if the server half never took it
	}
	// Set once the End is in: whoever sees it set may rely on the End.
	defer func() {
		w.ended.Store(true)
		if w.endWait != nil {
			close(w.endWait)
		}
	}()
	now := w.r.now()
	var es [3]event
	n := 0
	if first != nil {
		es[n] = *first
		n++
	}
	if w.release != nil {
		defer w.release()
	}
	if onStream {
		if w.stop != nil {
			w.stop()
		}
		if tr := receivedTrailer(w.ClientStream.Trailer()); len(tr) > 0 {
			es[n] = event{call: w.call, side: Client, kind: Trailer, at: now, md: tr.Copy()}
			n++
		}
	}
	es[n] = event{call: w.call, side: Client, kind: End, at: now, err: endStatus(err)}
	i, seq := w.r.add(es[:n+1]...)
	if !onStream {
		w.ctxEnd = recordRef{i: i + uint64(n), seq: seq + uint64(n), ok: true}
	}
}

// receivedTrailer returns the trailer md that a client received without
// the keys in which gRPC carries the status rather than metadata the
// server set: content-type, which a trailers-only response (a call that
// fails before it sends anything) has in its one HEADERS frame, and
// grpc-status-details-bin, the status's details (the End's status has
// them). md itself if it has neither; else a copy.
func receivedTrailer(md metadata.MD) metadata.MD {
	_, ct := md["content-type"]
	_, details := md["grpc-status-details-bin"]
	if !ct && !details {
		return md
	}
	out := make(metadata.MD, len(md))
	for k, v := range md {
		if k != "content-type" && k != "grpc-status-details-bin" {
			out[k] = v
		}
	}
	return out
}

// endStatus returns err as the final status of a call, a status error
// (nil for OK), as gRPC's server makes it of a handler's error: err itself
// if it is a status error; the status of one that it wraps, or of an error
// type with a GRPCStatus method; Canceled or DeadlineExceeded for a context
// error; else codes.Unknown with err's text.
func endStatus(err error) error { return rpcstatus.Err(err) }
