package sessionstore

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, err := NewToken(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !tokenShape.MatchString(tok) || !ValidToken(tok) || seen[tok] {
			t.Fatalf("token %q: not 43 base64url characters, or repeated", tok)
		}
		seen[tok] = true
	}
	// A short read is an error, never a shorter or padded token.
	tok, err := NewToken(bytes.NewReader(make([]byte, tokenBytes-1)))
	if !errors.Is(err, io.ErrUnexpectedEOF) || tok != "" {
		t.Fatalf("NewToken(short reader) = %q, %v; want io.ErrUnexpectedEOF", tok, err)
	}
}

func TestHash(t *testing.T) {
	// SHA-256 of "abc" (FIPS 180-2 appendix B.1).
	if got := Hash("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("Hash(abc) = %s", got)
	}
	if got := Hash(strings.Repeat("x", 43)); len(got) != 64 || strings.ToLower(got) != got {
		t.Fatalf("Hash is not 64 lower-case hex digits: %q", got)
	}
}
