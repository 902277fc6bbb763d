package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/streamtest/streamtest/recorder"
)

// jsonEvent is the JSON form of one recorder.Event, one object per line.
type jsonEvent struct {
	Seq    uint64 `json:"seq"`
	Call   uint64 `json:"call"`
	Method string `json:"method"`
	Side   string `json:"side"` // "client" or "server"
	Kind   string `json:"kind"` // "begin", "header", "send", "recv", "closesend", "trailer" or "end"
	// Msg is the message of a Send or Recv: protojson for a proto message,
	// a JSON string of its %v form for anything else.
	Msg json.RawMessage     `json:"msg,omitempty"`
	MD  map[string][]string `json:"md,omitempty"`
	// Err is the error of a failed Send or Recv, or the final status of an
	// End that was not OK.
	Err string `json:"err,omitempty"`
	// Code is the status code of an End ("OK", "Canceled", ...).
	Code      string    `json:"code,omitempty"`
	Time      time.Time `json:"time"`
	ElapsedNS int64     `json:"elapsed_ns"`
}

// writeJSONLines writes one JSON object per event (JSON Lines), in order.
func writeJSONLines(w io.Writer, events []recorder.Event) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, e := range events {
		je, err := toJSONEvent(e)
		if err != nil {
			return fmt.Errorf("event %d: %w", e.Seq, err)
		}
		if err := enc.Encode(je); err != nil {
			return fmt.Errorf("event %d: %w", e.Seq, err)
		}
	}
	return bw.Flush()
}

// toJSONEvent converts e; it fails only if a message cannot be marshaled.
func toJSONEvent(e recorder.Event) (jsonEvent, error) {
	je := jsonEvent{
		Seq:       e.Seq,
		Call:      e.CallID,
		Method:    e.Method,
		Side:      e.Side.String(),
		Kind:      e.Kind.String(),
		MD:        e.MD,
		Time:      e.Time,
		ElapsedNS: int64(e.Elapsed),
	}
	if e.Err != nil {
		je.Err = e.Err.Error()
	}
	if e.Kind == recorder.End {
		je.Code = status.Code(e.Err).String()
	}
	if e.Msg != nil {
		var err error
		if m, ok := e.Msg.(proto.Message); ok {
			je.Msg, err = protojson.Marshal(m)
		} else {
			je.Msg, err = jsonString(fmt.Sprint(e.Msg))
		}
		if err != nil {
			return jsonEvent{}, err
		}
	}
	return je, nil
}

// jsonString encodes s as a JSON string, without json.Marshal's escaping
// of '<', '>' and '&' (the output is not HTML).
func jsonString(s string) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
