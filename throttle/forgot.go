package throttle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/sso"
)

// ForgotRules limit "Forgot password?" requests, each of which may send a
// message: per client address (one network, as for sign-in), and per
// email typed. Every request counts, whatever its outcome, and none is
// given back: in these rules Failures are requests. The yaml tags are the
// keys under throttle.forgot.
type ForgotRules struct {
	Address Rule `yaml:"address"`
	// Email counts requests per typed email, on a short hash of it, so an
	// address with an account and one without are limited alike.
	Email Rule `yaml:"email"`
}

// DefaultForgotRules: 10 requests per client address per 15 minutes and 3
// per typed email per 15 minutes, each delay capped at 15 minutes. A person
// who lost a message asks again once or twice; nobody needs more.
func DefaultForgotRules() ForgotRules {
	return ForgotRules{
		Address: Rule{Failures: 10, Window: 15 * time.Minute, MaxDelay: 15 * time.Minute},
		Email:   Rule{Failures: 3, Window: 15 * time.Minute, MaxDelay: 15 * time.Minute},
	}
}

// forgotBucketBytes is how much of a typed email's hash keys its
// counter: 2 bytes, 65,536 counters at most. The email is not the key (anyone can type any number of
// addresses, and each would be a row), and neither is the account (only
// existing accounts would ever be throttled, which would tell a client
// which addresses have one): the key is a slice of the email's hash, so
// every address, with an account or without, is counted alike, and the
// table holds at most 2^(8*forgotBucketBytes) such rows.
const forgotBucketBytes = 2

// forgotKeys are the counters a forgot request from addr for email counts
// on: the client's network, then the email's bucket.
func (l *Limiter) forgotKeys(email, addr string) []key {
	sum := sha256.Sum256([]byte("forgot|" + sso.NormalizeEmail(email)))
	bucket := hex.EncodeToString(sum[:forgotBucketBytes])
	return []key{
		{name: "forgot:ip:" + network(addr), rule: l.rules.Forgot.Address},
		{name: "forgot:acct:" + bucket, rule: l.rules.Forgot.Email}, // "acct": stored names never change
	}
}

// BeginForgot counts a "Forgot password?" request for email from the
// client address addr, unless one of its counters is locked: then it
// returns how long to wait and counts nothing, and no message may be sent.
func (l *Limiter) BeginForgot(ctx context.Context, email, addr string) (time.Duration, error) {
	_, wait, err := l.begin(ctx, l.forgotKeys(email, addr))
	if err != nil {
		return 0, fmt.Errorf("throttle forgot: %w", err)
	}
	return wait, nil
}
