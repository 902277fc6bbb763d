// Command demo runs the example Chat service in-process, records one call
// of each gRPC kind on both sides with a recorder.Recorder, and prints what
// happened as one ordered timeline:
//
//	go run ./examples/demo           # the timeline (recorder.Timeline)
//	go run ./examples/demo -mermaid  # a Mermaid sequence diagram
//	go run ./examples/demo -json     # one JSON object per event
//
// The calls: a bidirectional Talk (three messages echoed, then the client
// half-closes), a unary Post, a client-streaming Upload, and a
// server-streaming Subscribe that replays the room and is then canceled by
// the client. Everything runs over an in-memory bufconn listener and is
// shut down before the output is printed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/streamtest/streamtest/recorder"
)

// timeout bounds the whole demo; it normally takes a few milliseconds.
const timeout = 10 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program: it parses args, runs the recorded chat and
// writes the chosen rendering to stdout. It returns the exit code: 0 on
// success (and for -h), 1 if the chat or the output failed, 2 for bad
// usage, with a message and the usage on stderr.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mermaid := fs.Bool("mermaid", false, "print a Mermaid sequence diagram instead of the timeline")
	jsonLines := fs.Bool("json", false, "print the events as JSON lines instead of the timeline")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: demo [-mermaid | -json]\n\n"+
			"demo runs the example Chat service in-process, records one call of\n"+
			"each gRPC kind on both sides and prints the recorded timeline.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2 // fs has printed the error and the usage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "demo: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *mermaid && *jsonLines {
		fmt.Fprintln(stderr, "demo: -mermaid and -json cannot be used together")
		fs.Usage()
		return 2
	}

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rec := recorder.New()
	if err := runChat(ctx, rec); err != nil {
		fmt.Fprintf(stderr, "demo: %v\nrecorded so far:\n%s", err, rec)
		return 1
	}

	var err error
	switch {
	case *mermaid:
		err = writeMermaid(stdout, rec.Events())
	case *jsonLines:
		err = writeJSONLines(stdout, rec.Events())
	default:
		_, err = fmt.Fprint(stdout, rec.String())
	}
	if err != nil {
		fmt.Fprintf(stderr, "demo: writing output: %v\n", err)
		return 1
	}
	return 0
}
