package sessionstore

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
)

// tokenBytes is a token's entropy: 256 bits, beyond guessing for any number
// of live sessions and links.
const tokenBytes = 32

// tokenLen is the length of a base64url-encoded token of tokenBytes.
const tokenLen = 43

// NewToken returns a new random token, base64url without padding: the form
// of session cookies, browser-binding cookies and one-time links, which all
// must be unguessable. r is the randomness (nil: crypto/rand.Reader); a
// failed read is returned, never turned into a weak token.
func NewToken(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, tokenBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Hash is the form a token is stored and looked up in (hex SHA-256), so
// the database never holds a usable token.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ValidToken reports whether t has the shape NewToken gives, so malformed
// cookies and links are turned away before any lookup.
func ValidToken(t string) bool {
	if len(t) != tokenLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(t)
	return err == nil
}
