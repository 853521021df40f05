// Package password hashes and checks local account passwords with bcrypt and
// enforces the password policy (OWASP ASVS V2.1).
package password

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// MaxBytes is bcrypt's input limit. Longer passwords are refused rather than
// silently truncated, which would make every suffix past byte 72 meaningless.
const MaxBytes = 72

// Policy errors, shown to the person choosing a password.
var (
	ErrTooShort = errors.New("password is too short")
	ErrTooLong  = fmt.Errorf("password is longer than %d bytes", MaxBytes)
	ErrInvalid  = errors.New("password must be valid UTF-8 text")
)

// Hasher hashes with a configured cost and checks against stored hashes.
type Hasher struct {
	cost      int
	minLength int
	dummyOnce sync.Once
	dummy     []byte // compared against when there is no real hash, to even out timing
	compares  atomic.Uint64
	rounds    atomic.Uint64
}

// Comparisons counts password checks made, so tests (and metrics) can
// see that every sign-in attempt spent one, whatever its outcome.
func (h *Hasher) Comparisons() uint64 { return h.compares.Load() }

// Rounds counts the bcrypt work checks spent, in key-schedule rounds: one
// bcrypt comparison at cost c is 2^c rounds. Every Check against a hash
// of the configured cost or lower spends exactly 2^cost, which is what
// keeps its time from telling one outcome from another.
func (h *Hasher) Rounds() uint64 { return h.rounds.Load() }

// New returns a Hasher. The cost is not checked here (config requires >= 10;
// tests use bcrypt.MinCost for speed).
func New(cost, minLength int) (*Hasher, error) {
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("password hasher: bcrypt cost %d out of range", cost)
	}
	return &Hasher{cost: cost, minLength: minLength}, nil
}

// dummyHash is made on first use, so commands that never check a password
// (user list, migrate) do not pay for it.
func (h *Hasher) dummyHash() []byte {
	h.dummyOnce.Do(func() {
		h.dummy, _ = bcrypt.GenerateFromPassword([]byte("gatehouse-timing-equaliser"), h.cost)
	})
	return h.dummy
}

// MinLength is the policy's minimum length in characters.
func (h *Hasher) MinLength() int { return h.minLength }

// Validate applies the policy to a new password.
func (h *Hasher) Validate(pw string) error {
	switch {
	case !utf8.ValidString(pw):
		return ErrInvalid
	case utf8.RuneCountInString(pw) < h.minLength:
		return fmt.Errorf("%w: use at least %d characters", ErrTooShort, h.minLength)
	case len(pw) > MaxBytes:
		return ErrTooLong
	}
	return nil
}

// Hash validates pw and returns its bcrypt hash.
func (h *Hasher) Hash(pw string) (string, error) {
	if err := h.Validate(pw); err != nil {
		return "", err
	}
	b, err := bcrypt.GenerateFromPassword([]byte(pw), h.cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(b), nil
}

// Check reports whether pw matches hash, and whether the hash should be
// replaced because its cost is not the configured one. Every check spends
// the configured cost's work, whatever the outcome, so the response time
// does not tell whether an account exists, has a password, or has a hash
// from before a cost change: a nil, empty or malformed hash, and an
// over-long password, are checked against a dummy hash of the configured
// cost; a hash of a lower cost is compared again until that much work is
// spent. (A hash of a higher cost, left by lowering the cost, costs its own
// work until the account's next sign-in rehashes it.)
func (h *Hasher) Check(hash *string, pw string) (ok, rehash bool) {
	h.compares.Add(1)
	var cost int
	var err error
	if hash != nil && *hash != "" {
		cost, err = bcrypt.Cost([]byte(*hash))
	}
	if hash == nil || *hash == "" || err != nil || len(pw) > MaxBytes {
		h.compare(h.dummyHash(), h.cost, pw[:min(len(pw), MaxBytes)])
		return false, false
	}
	ok = h.compare([]byte(*hash), cost, pw)
	for spent := uint64(1) << cost; spent < uint64(1)<<h.cost; spent += uint64(1) << cost {
		h.compare([]byte(*hash), cost, pw)
	}
	return ok, ok && cost != h.cost
}

// compare is one bcrypt comparison of pw against hash, whose cost is cost,
// counted in Rounds.
func (h *Hasher) compare(hash []byte, cost int, pw string) bool {
	h.rounds.Add(uint64(1) << cost)
	return bcrypt.CompareHashAndPassword(hash, []byte(pw)) == nil
}

// Dummy spends one comparison's time for a sign-in that fails before any
// hash is looked at (unknown account), keeping timing uniform.
func (h *Hasher) Dummy(pw string) { h.Check(nil, pw) }
