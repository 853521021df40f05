package password

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func newHasher(t *testing.T, cost, minLength int) *Hasher {
	t.Helper()
	h, err := New(cost, minLength)
	if err != nil {
		t.Fatalf("New(%d, %d): %v", cost, minLength, err)
	}
	return h
}

func TestValidate(t *testing.T) {
	t.Parallel()
	h := newHasher(t, bcrypt.MinCost, 12)
	tests := []struct {
		name string
		pw   string
		want error // nil for valid
	}{
		{"empty", "", ErrTooShort},
		{"eleven ascii", strings.Repeat("a", 11), ErrTooShort},
		{"twelve ascii", strings.Repeat("a", 12), nil},
		// 12 runes but 36 bytes: length is counted in characters, not bytes.
		{"twelve three-byte runes", strings.Repeat("€", 12), nil},
		{"eleven three-byte runes", strings.Repeat("€", 11), ErrTooShort},
		{"exactly 72 bytes", strings.Repeat("a", MaxBytes), nil},
		{"73 bytes", strings.Repeat("a", MaxBytes+1), ErrTooLong},
		// 19 four-byte runes: long enough in characters, too long in bytes.
		{"76 bytes of emoji", strings.Repeat("🔑", 19), ErrTooLong},
		{"invalid UTF-8", "abcdefghijkl\xff", ErrInvalid},
		{"lone continuation byte", "\x80abcdefghijklmn", ErrInvalid},
		{"short and invalid", "\xff", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.Validate(tt.pw)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate(%q) = %v, want nil", tt.pw, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Validate(%q) = %v, want %v", tt.pw, err, tt.want)
			}
		})
	}
}

func TestTooShortMessageNamesMinimum(t *testing.T) {
	t.Parallel()
	h := newHasher(t, bcrypt.MinCost, 15)
	err := h.Validate("short")
	if err == nil || !strings.Contains(err.Error(), "15") {
		t.Fatalf("Validate(short) = %v, want a message naming 15", err)
	}
	if h.MinLength() != 15 {
		t.Fatalf("MinLength() = %d, want 15", h.MinLength())
	}
}

func TestHashRefusesWhatValidateRefuses(t *testing.T) {
	t.Parallel()
	h := newHasher(t, bcrypt.MinCost, 8)
	tests := []struct {
		name string
		pw   string
		want error
	}{
		{"too short", "short", ErrTooShort},
		{"73 bytes", strings.Repeat("x", 73), ErrTooLong},
		{"1000 bytes", strings.Repeat("x", 1000), ErrTooLong},
		{"invalid UTF-8", "password\xc3\x28", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.Hash(tt.pw)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Hash = (%q, %v), want error %v", got, err, tt.want)
			}
			if got != "" {
				t.Fatalf("Hash returned %q alongside an error", got)
			}
		})
	}
}

func TestHashAndCheck(t *testing.T) {
	t.Parallel()
	h := newHasher(t, bcrypt.MinCost, 8)
	const pw = "correct horse battery staple"
	hash, err := h.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	if hash == pw || !strings.HasPrefix(hash, "$2") {
		t.Fatalf("Hash = %q, want a bcrypt hash", hash)
	}
	if c, err := bcrypt.Cost([]byte(hash)); err != nil || c != bcrypt.MinCost {
		t.Fatalf("hash cost = %d, %v; want %d", c, err, bcrypt.MinCost)
	}
	max72 := strings.Repeat("p", MaxBytes)
	hash72, err := h.Hash(max72)
	if err != nil {
		t.Fatal(err)
	}
	empty := ""
	garbage := "not-a-bcrypt-hash"
	tests := []struct {
		name string
		hash *string
		pw   string
		want bool
	}{
		{"right password", &hash, pw, true},
		{"wrong password", &hash, pw + "!", false},
		{"case differs", &hash, strings.ToUpper(pw), false},
		{"prefix of password", &hash, pw[:10], false},
		{"empty password", &hash, "", false},
		{"nil hash", nil, pw, false},
		{"nil hash empty password", nil, "", false},
		{"empty hash", &empty, pw, false},
		{"garbage hash", &garbage, pw, false},
		{"72-byte password", &hash72, max72, true},
		// bcrypt reads only 72 bytes; a longer password must not match the
		// hash of its prefix (no silent truncation).
		{"73 bytes against hash of 72-byte prefix", &hash72, max72 + "q", false},
		{"1000 bytes against hash of 72-byte prefix", &hash72, max72 + strings.Repeat("q", 928), false},
		{"nil hash and over-long password", nil, strings.Repeat("z", 200), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash := h.Check(tt.hash, tt.pw)
			if ok != tt.want {
				t.Fatalf("Check ok = %v, want %v", ok, tt.want)
			}
			if rehash {
				t.Fatalf("Check rehash = true for a hash at the configured cost")
			}
		})
	}
}

func TestCheckRehash(t *testing.T) {
	t.Parallel()
	low := newHasher(t, bcrypt.MinCost, 8)
	high := newHasher(t, bcrypt.MinCost+1, 8)
	const pw = "a fine long password"
	lowHash, err := low.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	highHash, err := high.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		h          *Hasher
		hash       string
		pw         string
		ok, rehash bool
	}{
		{"configured cost above hash cost", high, lowHash, pw, true, true},
		{"configured cost equals hash cost", high, highHash, pw, true, false},
		{"configured cost below hash cost", low, highHash, pw, true, true},
		{"wrong password never asks for rehash", high, lowHash, "wrong password!", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash := tt.h.Check(&tt.hash, tt.pw)
			if ok != tt.ok || rehash != tt.rehash {
				t.Fatalf("Check = (%v, %v), want (%v, %v)", ok, rehash, tt.ok, tt.rehash)
			}
		})
	}
}

// TestCheckSpendsTheConfiguredCost: every check, whatever its outcome and
// the cost of the hash it meets, spends the bcrypt work of one comparison
// at the configured cost, counted in rounds (not timed): a hash left at a
// lower cost by a cost change is compared again until that is spent, and
// a missing or malformed hash meets the dummy of the configured cost.
func TestCheckSpendsTheConfiguredCost(t *testing.T) {
	t.Parallel()
	const cost = bcrypt.MinCost + 3
	const pw = "a fine long password"
	h := newHasher(t, cost, 8)
	hashes := map[int]string{}
	for c := bcrypt.MinCost; c <= cost; c++ {
		hashes[c] = mustHash(t, newHasher(t, c, 8), pw)
	}
	empty, malformed := "", "$2a$06$not-a-bcrypt-hash"
	tests := []struct {
		name string
		hash *string
		pw   string
		ok   bool
	}{
		{"no hash (unknown email)", nil, pw, false},
		{"empty hash", &empty, pw, false},
		{"malformed hash", &malformed, pw, false},
		{"over-long password", ptr(hashes[cost]), strings.Repeat("x", 100), false},
	}
	for c := bcrypt.MinCost; c <= cost; c++ {
		tests = append(tests,
			struct {
				name string
				hash *string
				pw   string
				ok   bool
			}{fmt.Sprintf("cost %d hash, right password", c), ptr(hashes[c]), pw, true},
			struct {
				name string
				hash *string
				pw   string
				ok   bool
			}{fmt.Sprintf("cost %d hash, wrong password", c), ptr(hashes[c]), "wrong password!", false})
	}
	for _, tt := range tests {
		before := h.Rounds()
		if ok, _ := h.Check(tt.hash, tt.pw); ok != tt.ok {
			t.Fatalf("%s: Check ok = %v, want %v", tt.name, ok, tt.ok)
		}
		if got := h.Rounds() - before; got != 1<<cost {
			t.Errorf("%s: %d rounds, want %d (one comparison at cost %d)", tt.name, got, 1<<cost, cost)
		}
	}
}

func mustHash(t *testing.T, h *Hasher, pw string) string {
	t.Helper()
	s, err := h.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ptr(s string) *string { return &s }

func TestNewRejectsInvalidCost(t *testing.T) {
	t.Parallel()
	if _, err := New(bcrypt.MaxCost+1, 8); err == nil {
		t.Fatal("New with cost above bcrypt.MaxCost succeeded")
	}
}

func TestDummyDoesNotPanic(t *testing.T) {
	t.Parallel()
	h := newHasher(t, bcrypt.MinCost, 8)
	for _, pw := range []string{"", "x", strings.Repeat("y", 500), "\xff\xfe"} {
		h.Dummy(pw)
	}
}
