package fakes

import "testing"

// A cut never splits an escape of prototext's output.
func TestEscapeStart(t *testing.T) {
	for _, tc := range []struct {
		s    string
		cut  int
		want int
	}{
		{`ab\x00cd`, 3, 2},   // inside \x00
		{`ab\x00cd`, 6, 6},   // right after it
		{`a\\b`, 2, 1},       // between the two of \\
		{`a\\b`, 3, 3},       // after \\
		{`a\\\x00`, 5, 3},    // \\ then inside \x00
		{`"a\"b"`, 3, 2},     // inside \"
		{`\101x`, 2, 0},      // octal
		{`plain text`, 5, 5}, // no escape
	} {
		if got := escapeStart(tc.s, tc.cut); got != tc.want {
			t.Errorf("escapeStart(%q, %d) = %d, want %d", tc.s, tc.cut, got, tc.want)
		}
	}
}
