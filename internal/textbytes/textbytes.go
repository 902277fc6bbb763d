// Package textbytes tells bytes that hold text from other bytes, for the
// timeline and the diffs, which show the first as text.
package textbytes

import (
	"unicode"
	"unicode/utf8"
)

// Printable reports whether b is UTF-8 text of printable characters,
// newlines, tabs and carriage returns. An empty b is.
func Printable(b []byte) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 || !unicode.IsPrint(r) && r != '\n' && r != '\t' && r != '\r' {
			return false
		}
		b = b[n:]
	}
	return true
}
