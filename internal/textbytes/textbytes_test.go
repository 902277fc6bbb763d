package textbytes_test

import (
	"testing"

	"github.com/streamtest/streamtest/grpctest"
	"github.com/streamtest/streamtest/internal/textbytes"
)

func TestMain(m *testing.M) { grpctest.VerifyTestMain(m) }

func TestPrintable(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"", true},
		{"feature 1|a", true},
		{"two\nlines\r\n\ttabbed", true},
		{"héllo, 世界", true},
		{"nul\x00", false},
		{"bell\a", false},
		{"\xff\xfe", false},              // not UTF-8
		{"cut \xe4\xb8", false},          // a rune cut short
		{"zero\u200bwidth space", false}, // a format character
	} {
		if got := textbytes.Printable([]byte(tc.in)); got != tc.want {
			t.Errorf("Printable(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
