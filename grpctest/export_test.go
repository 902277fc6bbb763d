package grpctest

// ScanLabelled is one scan of the goroutine profile for the goroutines of
// harness id, for BenchmarkLeakScan.
var ScanLabelled = labelled
