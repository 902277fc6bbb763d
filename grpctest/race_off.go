//go:build !race

package grpctest

// raceEnabled says the binary runs under the race detector.
const raceEnabled = false
