package sso

import (
	"fmt"
	"testing"
)

// TestEmailCharacters: the character rules for emails, one row per
// address: what NormalizeEmail makes of it, whether that is the address as
// written (EmailExact) and whether it hides characters (HasInvisible).
func TestEmailCharacters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, email, norm string
		exact, invisible  bool
	}{
		{"ascii", "kim@example.com", "kim@example.com", true, false},
		{"ascii upper case and space", "  Kim@Example.COM ", "kim@example.com", true, false},
		{"U+212A KELVIN SIGN folds to k", "\u212Aim@example.com", "kim@example.com", false, false},
		{"U+212A in the domain", "kim@\u212Aexample.com", "kim@kexample.com", false, false},
		{"U+0130 folds to i", "\u0130nfo@example.com", "info@example.com", false, false},
		{"U+017F LONG S is not folded by lower-casing", "\u017Fam@example.com", "\u017Fam@example.com", true, false},
		{"non-ascii lower case stays as written", "jürgen@exämple.com", "jürgen@exämple.com", true, false},
		{"non-ascii upper case is folded", "JÜRGEN@example.com", "jürgen@example.com", false, false},
		{"cyrillic upper case is folded", "КИМ@example.com", "ким@example.com", false, false},
		{"U+200B ZERO WIDTH SPACE", "kim\u200B@example.com", "kim\u200B@example.com", true, true},
		{"U+202E RIGHT-TO-LEFT OVERRIDE", "kim@\u202Emoc.elpmaxe", "kim@\u202Emoc.elpmaxe", true, true},
		{"U+2066 LEFT-TO-RIGHT ISOLATE", "kim@example.com\u2066", "kim@example.com\u2066", true, true},
		{"U+200D ZERO WIDTH JOINER", "k\u200Dim@example.com", "k\u200Dim@example.com", true, true},
		{"U+FEFF BYTE ORDER MARK", "\uFEFFkim@example.com", "\uFEFFkim@example.com", true, true},
		{"U+00AD SOFT HYPHEN", "ki\u00ADm@example.com", "ki\u00ADm@example.com", true, true},
		{"U+3164 HANGUL FILLER", "kim\u3164@example.com", "kim\u3164@example.com", true, true},
		{"U+FE0F VARIATION SELECTOR-16", "kim\uFE0F@example.com", "kim\uFE0F@example.com", true, true},
		{"NUL", "kim\x00@example.com", "kim\x00@example.com", true, true},
		{"line separator inside", "kim\u2028@example.com", "kim\u2028@example.com", true, true},
		{"empty", "", "", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NormalizeEmail(tc.email); got != tc.norm {
				t.Errorf("NormalizeEmail(%q) = %q, want %q", tc.email, got, tc.norm)
			}
			if got := EmailExact(tc.email); got != tc.exact {
				t.Errorf("EmailExact(%q) = %v, want %v", tc.email, got, tc.exact)
			}
			if got := HasInvisible(tc.email); got != tc.invisible {
				t.Errorf("HasInvisible(%q) = %v, want %v", tc.email, got, tc.invisible)
			}
		})
	}
}

// TestInvisible: which characters count as invisible, and RemoveInvisible
// takes out exactly those.
func TestInvisible(t *testing.T) {
	t.Parallel()
	invisible := []rune{
		0x00, 0x09, 0x0A, 0x1B, 0x7F, 0x85, // controls
		0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, // zero-width
		0x200E, 0x200F, 0x061C, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, // bidi marks, embeddings, overrides
		0x2066, 0x2067, 0x2068, 0x2069, // bidi isolates
		0x00AD, 0x180E, 0x2061, 0xE0041, // other format characters
		0x2028, 0x2029, // line and paragraph separators
		0xFE00, 0xFE0F, 0xE0100, // variation selectors
		0x034F, 0x115F, 0x3164, 0xFFA0, // other default-ignorable code points
	}
	visible := []rune{'a', 'Z', '0', '@', '.', '-', ' ', 0xA0, 'é', 0x212A, 0x0130, 'Ж', 'α', '中', 0x1F600}
	for _, r := range invisible {
		if !Invisible(r) {
			t.Errorf("Invisible(%U) = false, want true", r)
		}
	}
	for _, r := range visible {
		if Invisible(r) {
			t.Errorf("Invisible(%U) = true, want false", r)
		}
	}
	tests := []struct{ in, want string }{
		{"Alice Example", "Alice Example"},
		{"Ali\u200Bce", "Alice"},
		{"\u202Eelpmaxe\u202C ecilA", "elpmaxe ecilA"},
		{"\u2066Kim\u2069", "Kim"},
		{"Zoë 中文", "Zoë 中文"},
		{string(invisible), ""},
	}
	for _, tc := range tests {
		if got := RemoveInvisible(tc.in); got != tc.want {
			t.Errorf("RemoveInvisible(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestExchangeEmailClaim: the identity's email is the claim normalised;
// a look-alike that only normalises to an address is not exact, and a
// claim hiding invisible characters is dropped.
func TestExchangeEmailClaim(t *testing.T) {
	t.Parallel()
	tests := []struct {
		claim     any
		wantEmail string
		wantExact bool
	}{
		{"kim@example.com", "kim@example.com", true},
		{" Kim@EXAMPLE.com ", "kim@example.com", true},
		{"\u212Aim@example.com", "kim@example.com", false},
		{"\u0130nfo@example.com", "info@example.com", false},
		{"kim\u200B@example.com", "", false},
		{"kim@\u202Emoc.elpmaxe", "", false},
		{"\u2066kim@example.com\u2069", "", false},
		{"   ", "", false},
		{42, "", false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q", tc.claim), func(t *testing.T) {
			op := newTestOP(t, newFakeClock())
			claims := op.claims()
			claims["email"] = tc.claim
			op.issue(claims)
			id, err := exchange(newTestProvider(t, op))
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if id.Email != tc.wantEmail || id.EmailExact != tc.wantExact {
				t.Errorf("email %q exact %v, want %q %v", id.Email, id.EmailExact, tc.wantEmail, tc.wantExact)
			}
		})
	}
}
