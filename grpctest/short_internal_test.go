package grpctest

import (
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"testing"
	"time"
)

type shortUser struct{ Name string }

// Go values in reports: their type, then their value in braces, as proto
// messages are shown; nil pointers, Stringers and collections read as Go.
func TestShortRendersGoValues(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
	}{
		{&shortUser{Name: "x"}, `*grpctest.shortUser{Name:"x"}`},
		{shortUser{Name: "y"}, `grpctest.shortUser{Name:"y"}`},
		{(*shortUser)(nil), `(*grpctest.shortUser)(nil)`},
		{map[string]int{"b": 2, "a": 1}, `map[string]int{"a":1 "b":2}`},
		{[]int{1, 2}, `[]int{1 2}`},
		{[2]string{"p", "q"}, `[2]string{"p" "q"}`},
		{time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC), `time.Time(2020-01-02 03:04:05 +0000 UTC)`},
		{"text", `"text"`},
		{7, `7`},
		{[]byte("abc"), `[]uint8("abc")`},
		{(*testgrpc.Payload)(nil), `(*grpc_testing.Payload)(nil)`},
		{&testgrpc.Payload{Body: []byte("x")}, `*grpc_testing.Payload{body:"x"}`},
	} {
		if got := short(tc.in); got != tc.want {
			t.Errorf("short(%T) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
