package examples_test

// The Go code blocks of the repository's README.md are copied from this
// file, and TestREADMECodeBlocks checks that they still are: every block in
// the README compiles and runs as one of the tests below.

import (
	"context"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/streamtest/streamtest/examples"
	"github.com/streamtest/streamtest/examples/chatpb"
	"github.com/streamtest/streamtest/grpctest"
)

// README: quick start
func TestTalkEchoes(t *testing.T) {
	s := grpctest.NewServer(t, examples.NewChatServer().Register)
	stream, err := chatpb.NewChatClient(s.Conn()).Talk(t.Context())
	require.NoError(t, err)

	hi := &chatpb.Message{Room: "go", User: "ana", Text: "hi"}
	require.NoError(t, stream.Send(hi))
	reply, err := stream.Recv()
	require.NoError(t, err)
	require.NoError(t, stream.CloseSend())
	_, err = stream.Recv()
	require.ErrorIs(t, err, io.EOF)

	grpctest.RequireOrder(t, s.Recorder(),
		grpctest.ClientSends(hi), grpctest.ServerReceives(hi),
		grpctest.ServerSends(reply), grpctest.ClientReceives(reply),
		grpctest.ClientEnds(codes.OK))
}

// README: by hand
func TestTalkEchoesByHand(t *testing.T) {
	defer goleak.VerifyNone(t) // process-wide: cannot run in parallel with other tests

	lis := bufconn.Listen(64 << 10)
	srv := grpc.NewServer()
	examples.NewChatServer().Register(srv)
	go srv.Serve(lis)
	defer srv.Stop()

	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return lis.DialContext(ctx)
		}),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := chatpb.NewChatClient(conn).Talk(ctx)
	require.NoError(t, err)

	hi := &chatpb.Message{Room: "go", User: "ana", Text: "hi"}
	require.NoError(t, stream.Send(hi))
	reply, err := stream.Recv()
	require.NoError(t, err)
	require.Equal(t, hi.GetText(), reply.GetText()) // what the server received and when: unknown
	require.NoError(t, stream.CloseSend())
	_, err = stream.Recv()
	require.ErrorIs(t, err, io.EOF)
}

// README: end

var fence = regexp.MustCompile("(?s)```go\n(.*?)```")

func TestREADMECodeBlocks(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	self, err := os.ReadFile("readme_test.go")
	require.NoError(t, err)
	blocks := fence.FindAllSubmatch(readme, -1)
	if len(blocks) == 0 {
		t.Fatal("README.md has no ```go blocks; this test keeps them compiling")
	}
	for i, b := range blocks {
		if !strings.Contains(string(self), string(b[1])) {
			t.Errorf("README.md Go block %d is not a verbatim copy of code in examples/readme_test.go; "+
				"copy it back from there (or change both):\n%s", i+1, b[1])
		}
	}
}
