package textbytes_test

import (
	"testing"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/textbytes"
)

func TestMain(m *testing.M) { grpctest.VerifyTestMain(m) }

func TestText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"", true},
		{"feature 1|a", true},
		{"two\nlines\r\n\ttabbed", true},
		{"héllo, 世界", true},
		{"cpu=0.93 host=a\x00", true},               // one in 16: a stray NUL
		{"1234567\x00", true},                       // one in 8
		{"123456\x00", false},                       // one in 7
		{"nul\x00", false},                          // one in 4
		{"\x00\x00\x00\x00\x00\x00\x00\x00", false}, // zeros
		{"\xff\xfe", false},                         // not UTF-8
		{"cut \xe4\xb8", false},                     // a rune cut short: 2 bad bytes of 6
		{"ab\u200bcd", false},                       // a format character: one in 5
		{"zero\u200bwid", true},                     // one in 8
	} {
		if got := textbytes.Text([]byte(tc.in)); got != tc.want {
			t.Errorf("Text(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
