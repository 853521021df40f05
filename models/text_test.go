package models

import "testing"

// TestClip: text from elsewhere is made storable and cut within the bound
// at a character boundary, never inside one.
func TestClip(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijk", 10, "abcdefghij"},
		{"abcdefgh\u00e9", 9, "abcdefgh"},    // é is 2 bytes: not cut in half
		{"ab\u20ac", 4, "ab"},                // € is 3 bytes
		{"bad\xffbyte", 20, "bad\uFFFDbyte"}, // invalid UTF-8 replaced
		{"nul\x00", 20, "nul\uFFFD"},         // NUL replaced
		{"\u20ac\u20ac", 0, ""},
	} {
		if got := Clip(c.in, c.n); got != c.want || !IsText(got) || len(got) > c.n {
			t.Errorf("Clip(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
