package grpctest

// Putting a goroutine's labels back exactly as they were.
//
// The harness relabels goroutines that are not its own for a while: the
// caller of a client call while gRPC starts it (see tracking.go), and the
// goroutine that runs a handler. Afterwards it must restore the labels the
// goroutine had, and runtime/pprof has no API to read them: it can only set
// them from a context (pprof.SetGoroutineLabels). Restoring "the labels of
// the call's context" instead is wrong both ways: a goroutine given a
// handler's context takes that handler's harness label and is then blamed
// as its leak, and a handler that calls out with another context loses its
// label, so the goroutines it starts next go unreported.
//
// So the harness links to the two accessors the runtime provides to
// runtime/pprof. The Go project keeps both for packages that link to them
// ("Do not remove or change the type signature", go.dev/issue/67401, in
// runtime/proflabel.go), and the linker allows it. The harness never reads
// the value: it hands back the pointer it got, so it depends on nothing of
// how the runtime represents a label set. Were the accessors ever removed,
// the package would fail to build rather than restore wrong labels.

import (
	"context"
	"runtime/pprof"
	"sync"
	"unsafe"
)

//go:linkname getProfLabel runtime/pprof.runtime_getProfLabel
func getProfLabel() unsafe.Pointer

//go:linkname setProfLabel runtime/pprof.runtime_setProfLabel
func setProfLabel(labels unsafe.Pointer)

// savedLabels is the label set a goroutine had before swapLabels, as an
// opaque value.
type savedLabels struct{ p unsafe.Pointer }

// swapLabels sets the calling goroutine's labels to those of ctx and
// returns the labels it had. Call restore on the same goroutine:
//
//	defer swapLabels(s.clientLabels).restore()
func swapLabels(ctx context.Context) savedLabels {
	old := savedLabels{getProfLabel()}
	pprof.SetGoroutineLabels(ctx)
	return old
}

// restore gives the calling goroutine back the labels saved by swapLabels.
func (l savedLabels) restore() { setProfLabel(l.p) }

// handlerLabelSets maps the label set of a harness's handler goroutines
// (the pointer runtime/pprof keeps for a goroutine, which the goroutines
// it starts inherit: see handlerBegin) to the handler's harness and method,
// for callLabels. Only compared, never read through: see above.
var handlerLabelSets sync.Map // unsafe.Pointer -> *handlerLabel

type handlerLabel struct {
	harness, method string
	calls           sync.Map // *Server called -> context.Context: its client labels with these as the outer ones
}

// callLabels returns the labels a call to s gives its caller while it
// runs: s's client labels, so that what gRPC starts then is s's. A
// goroutine of a handler of a harness (the handler, or one it started,
// whose labels it has not changed) keeps in them the handler's harness
// and method, as the outer ones: when it leaks blocked in the call, the
// handler's harness finds it (attribute), though the labels it carries
// then are s's.
func (s *Server) callLabels() context.Context {
	v, ok := handlerLabelSets.Load(getProfLabel())
	if !ok {
		return s.clientLabels
	}
	h := v.(*handlerLabel)
	if c, ok := h.calls.Load(s); ok {
		return c.(context.Context)
	}
	c, _ := h.calls.LoadOrStore(s, pprof.WithLabels(s.clientLabels, pprof.Labels(labelOuterHarness, h.harness, labelOuterMethod, h.method)))
	return c.(context.Context)
}
