package fakes_test

import (
	"context"
	"regexp"
	"testing"

	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/streamtest/streamtest/fakes"
	"github.com/streamtest/streamtest/internal/reportloc"
)

// Where testing prints the fake server's reports: at the line of the
// user's test that NewServer, Close or the misused step was called on (see
// reportloc). Each scenario fails on purpose, in a child process.
var serverLocationScenarios = map[string]reportloc.Scenario{
	// Reported by the Close that t.Cleanup runs, the harness's report of the
	// undrained stream and the fake's of the script: at the NewServer line.
	"UndrainedStreamAndCallNotMade": {Reports: 2, Run: func(t *testing.T) {
		reportloc.WantNextLine()
		srv := fakes.NewServer(t)
		srv.Expect(fullDuplex).RecvAny()
		srv.Expect(unaryCall).Send(&testpb.SimpleResponse{}).Return(nil)
		stream, err := testpb.NewTestServiceClient(srv.Conn()).FullDuplexCall(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_ = stream
	}},
	// A mismatch, reported at Close: at the NewServer line.
	"Mismatch": {Reports: 1, Run: func(t *testing.T) {
		reportloc.WantNextLine()
		srv := fakes.NewServer(t)
		srv.Expect(fullDuplex).Recv(req(1)).RecvEOF()
		_, _ = exchange(t.Context(), testpb.NewTestServiceClient(srv.Conn()), req(2))
	}},
	// Reported by an explicit Close: at the Close line.
	"ExplicitClose": {Reports: 1, Run: func(t *testing.T) {
		srv := fakes.NewServer(t)
		srv.Expect(fullDuplex).RecvEOF()
		reportloc.WantNextLine()
		srv.Close()
	}},
	// Misuse, reported at once: at the line of the misuse.
	"UnknownMethod": {Reports: 1, Run: func(t *testing.T) {
		srv := fakes.NewServer(t)
		reportloc.WantNextLine()
		srv.Expect(unknownMethod)
	}},
}

// TestServerLocationScenarios runs a scenario in the child process TestServerReportLocations starts.
func TestServerLocationScenarios(t *testing.T) { reportloc.Child(t, serverLocationScenarios) }

func TestServerReportLocations(t *testing.T) {
	reportloc.Check(t, "TestServerLocationScenarios", serverLocationScenarios, regexp.MustCompile(`^(grpctest|fakes): `))
}
