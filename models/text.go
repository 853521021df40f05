package models

import (
	"strings"
	"unicode/utf8"
)

// IsText reports whether s can be stored in a text column of either
// database: valid UTF-8 without NUL (PostgreSQL refuses both; SQLite keeps
// whatever it is given).
func IsText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// Text is s made storable (see IsText): invalid UTF-8 and NUL bytes
// replaced by U+FFFD. It is for a value gatehouse keeps but whose sender
// cannot be asked to fix it: a browser's User-Agent, a relay's error, a row
// an older version stored in SQLite.
func Text(s string) string {
	if IsText(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// Clip is Text(s) cut to at most n bytes, at a character boundary: a
// bounded, storable copy of text from elsewhere (a relay's or a provider's
// error, a claim quoted in a decision trace).
func Clip(s string, n int) string {
	s = Text(s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
