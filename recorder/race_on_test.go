//go:build race

package recorder

// raceEnabled: the race detector slows the recording loop about tenfold, so
// heavy tests run a smaller size under it.
const raceEnabled = true
