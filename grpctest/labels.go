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

// labelSets maps the label sets the harnesses give goroutines (the
// pointer runtime/pprof keeps for a goroutine, which the goroutines it
// starts inherit) to whose they are: a harness's server and client sets
// (see inLabels), the set of each of its handlers' methods (handlerBegin),
// and the sets enterCall gives a goroutine of a harness while it calls
// one. Only compared, never read through: see above. A harness's Close
// takes its sets out (forgetLabelSets).
var labelSets sync.Map // unsafe.Pointer -> *labelOwner

// labelOwner is what a goroutine with a registered label set runs for:
// harness's side (its server, its client), or the handler of method.
type labelOwner struct {
	harness, side, method string
	calls                 sync.Map // harness id called -> context.Context: its client labels with these as the outer ones
}

// registerLabels registers the calling goroutine's label set as owner's.
func registerLabels(owner *labelOwner) { labelSets.LoadOrStore(getProfLabel(), owner) }

// enterCall gives the calling goroutine the labels of a call to s, for the
// call's length, and returns the labels it had: s's client labels, so that
// what gRPC starts then is s's. A goroutine whose label set is registered
// (one of a harness's, or of a handler's) keeps whose it is in labels of
// their own (the outer ones): when it leaks blocked in the call, its own
// harness finds it (attribute), though the labels it carries then are s's.
// Any other caller (the test's goroutine, a goroutine that set labels of
// its own) is marked as none of the harnesses'.
func (s *Server) enterCall() savedLabels {
	v, ok := labelSets.Load(getProfLabel())
	if !ok {
		return swapLabels(s.unownedCall)
	}
	o := v.(*labelOwner)
	if c, ok := o.calls.Load(s.id); ok {
		return swapLabels(c.(context.Context))
	}
	c, _ := o.calls.LoadOrStore(s.id, pprof.WithLabels(s.clientLabels, pprof.Labels(
		labelOuterHarness, o.harness, labelOuterSide, o.side, labelOuterMethod, o.method)))
	saved := swapLabels(c.(context.Context))
	registerLabels(o) // a call it makes inside this one keeps the same owner
	return saved
}

// registerClientLabels registers s's client label sets, on a goroutine
// that carries s.clientLabels (see inLabels): those and the ones of a call
// by a goroutine none of the harnesses labelled (unownedCall), which the
// goroutines started inside such a call inherit (by an interceptor of the
// test's, or gRPC): they are s's client's, and a call they make is too.
func (s *Server) registerClientLabels() {
	owner := &labelOwner{harness: s.id, side: "client"}
	registerLabels(owner)
	pprof.SetGoroutineLabels(s.unownedCall)
	registerLabels(owner)
	pprof.SetGoroutineLabels(s.clientLabels)
}

// forgetLabelSets takes the label sets of s's goroutines out of labelSets,
// once Close has checked for the goroutines that carry them.
func (s *Server) forgetLabelSets() {
	labelSets.Range(func(p, v any) bool {
		if v.(*labelOwner).harness == s.id {
			labelSets.Delete(p)
		}
		return true
	})
}
