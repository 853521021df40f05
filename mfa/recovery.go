package mfa

import (
	"crypto/rand"
	"fmt"
	"io"
	"strings"
)

// RecoveryCodes is how many recovery codes a set has.
const RecoveryCodes = 10

// recoveryAlphabet leaves out letters and digits people confuse (0/o,
// 1/l/i): a code is read off paper and typed.
const recoveryAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// NewRecoveryCodes makes a set of RecoveryCodes codes, each ten characters
// of recoveryAlphabet (about 49 bits) shown as xxxxx-xxxxx; r nil is
// crypto/rand.
func NewRecoveryCodes(r io.Reader) ([]string, error) {
	if r == nil {
		r = rand.Reader
	}
	codes := make([]string, RecoveryCodes)
	for i := range codes {
		var b strings.Builder
		for j := 0; j < 10; j++ {
			if j == 5 {
				b.WriteByte('-')
			}
			c, err := randomIndex(r, len(recoveryAlphabet))
			if err != nil {
				return nil, fmt.Errorf("mfa: recovery code: %w", err)
			}
			b.WriteByte(recoveryAlphabet[c])
		}
		codes[i] = b.String()
	}
	return codes, nil
}

// randomIndex is a uniform index below n from r (rejection sampling).
func randomIndex(r io.Reader, n int) (int, error) {
	limit := 256 - 256%n
	var b [1]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, err
		}
		if int(b[0]) < limit {
			return int(b[0]) % n, nil
		}
	}
}

// NormalizeRecoveryCode is a recovery code as typed, folded to lower case
// without spaces or dashes: the form whose MAC is stored.
func NormalizeRecoveryCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == ' ' || r == '-' || r == '\t':
			return -1
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return r
	}, code)
}

// LooksLikeRecoveryCode reports whether code has a recovery code's shape
// (ten characters of the alphabet once spaces and dashes are gone), so a
// form can tell it from an app's six digits.
func LooksLikeRecoveryCode(code string) bool {
	n := 0
	for _, r := range strings.ToLower(code) {
		switch {
		case r == ' ' || r == '-':
		case strings.ContainsRune(recoveryAlphabet, r):
			n++
		default:
			return false
		}
	}
	return n == 10
}
