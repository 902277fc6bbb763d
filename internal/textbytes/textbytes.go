// Package textbytes tells bytes that hold text from other bytes, for the
// timeline and the diffs, which show the first as (quoted) text.
package textbytes

import (
	"unicode"
	"unicode/utf8"
)

// Text reports whether b reads as text: UTF-8 whose characters are
// printable, newlines, tabs and carriage returns, but for at most one in
// eight (a stray NUL, a control character, a byte that is not UTF-8), which
// quoting shows escaped. An empty b is text.
func Text(b []byte) bool {
	runes, other := 0, 0
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		runes++
		if r == utf8.RuneError && n <= 1 || !unicode.IsPrint(r) && r != '\n' && r != '\t' && r != '\r' {
			other++
		}
		b = b[n:]
	}
	return other*8 <= runes
}
