// Package e2e holds end-to-end evidence tests for streamtest — stress,
// faults and bad input — and nothing importable beyond that.
//
// The tests drive recorder, grpctest and fakes against real peers, grpc-go's
// interop TestService (google.golang.org/grpc/interop) and the examples Chat
// service, on grpctest harnesses, and check each claim with the toolkit's own
// reports, observed through the real test or a spy testing.TB:
//
//   - TestStress: 64 concurrent bidi streams; every message recorded once,
//     in order, causally sequenced; nothing left running at Close.
//   - TestFaults: disconnects, panics, cancels, deadlines and server stops
//     end both halves of a call with the right status, leak nothing and let
//     Close return within its bound.
//   - TestBadInput: every misuse gets a clear error or report, never a panic
//     or a hang. BAD_INPUT.md is the table it observed.
//
// Run them with:
//
//	go test -race ./e2e/                                     # stress at 64 x 200 messages
//	STREAMTEST_STRESS=full go test -race -run Stress ./e2e/  # 64 x 10,000 (scripts/soak)
//	go test ./e2e/ -run TestBadInput -update                 # rewrite BAD_INPUT.md
//	STREAMTEST_BUGS=1 go test ./e2e/ -run TestBadInput       # run the rows skipped as known bugs
package e2e
