// Package goid reads goroutine numbers, as tracebacks print them, for the
// module's reports and its checks of where a call comes from (a Close
// called from inside one of the calls it would wait for).
package goid

import (
	"runtime"
	"strconv"
	"strings"
)

// ID returns the number of the calling goroutine, read from the first line
// of its traceback ("goroutine 42 [running]:"); 0 if it cannot be read.
func ID() uint64 {
	var buf [64]byte
	id, _ := FromTraceback(string(buf[:runtime.Stack(buf[:], false)]))
	return id
}

// FromTraceback returns the goroutine number of a traceback, which begins
// "goroutine 7 [".
func FromTraceback(tb string) (uint64, bool) {
	n, _, _ := strings.Cut(strings.TrimPrefix(tb, "goroutine "), " ")
	id, err := strconv.ParseUint(n, 10, 64)
	return id, err == nil
}
