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
