// Package throttle slows down password guessing (OWASP ASVS V2.2): failed
// password checks are counted per account, per account and client address,
// and per client address, in the database so replicas share the counts.
//
// The limits are shaped so an attacker cannot lock a person out for long:
// the tight limit is per (account, address), so the real person signing in
// from elsewhere is unaffected; the account-wide limit is looser and its
// delay is capped short.
//
// Bucket is the in-memory guard for endpoints that must not be flooded;
// Buckets keeps one per client address (the back-channel logout providers
// post to, SSO sign-in starts), tracking a bounded number of addresses.
package throttle

import (
	"context"
	"errors"
	"fmt"
	"github.com/gatehouse/gatehouse/sso"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/models"
)

// Limiter counts failures and says how long to wait.
type Limiter struct {
	db    *models.DB
	rules Rules
}

// New returns a Limiter over db with rules.
func New(db *models.DB, rules Rules) *Limiter { return &Limiter{db: db, rules: rules} }

// ErrThrottled is returned by Check while a key is locked.
var ErrThrottled = errors.New("too many failed attempts")

func (l *Limiter) keys(account, addr string) map[string]Rule {
	account = sso.NormalizeEmail(account)
	return map[string]Rule{
		"acctip:" + account + "|" + addr: l.rules.AccountAddress,
		"acct:" + account:                l.rules.Account,
		"ip:" + addr:                     l.rules.Address,
	}
}

// Check returns how long the caller must wait before another password check
// for account from addr; zero means go ahead.
func (l *Limiter) Check(ctx context.Context, account, addr string) (time.Duration, error) {
	now := l.db.Now().UTC()
	var wait time.Duration
	for key := range l.keys(account, addr) {
		c, err := l.db.ThrottleCounter(ctx, key)
		if errors.Is(err, models.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("throttle check: %w", err)
		}
		if c.LockedUntil != nil && c.LockedUntil.After(now) {
			wait = max(wait, c.LockedUntil.Sub(now))
		}
	}
	return wait, nil
}

// Fail records a failed check. Past a rule's allowance each further failure
// locks the key for a delay that doubles (1s, 2s, 4s, ...) up to MaxDelay.
func (l *Limiter) Fail(ctx context.Context, account, addr string) error {
	now := l.db.Now().UTC()
	rules := l.keys(account, addr)
	err := l.db.UpdateThrottleCounters(ctx, slices.Collect(maps.Keys(rules)), func(c *models.ThrottleCounter, found bool) {
		rule := rules[c.Key]
		if !found || now.Sub(c.WindowStart) >= rule.Window {
			*c = models.ThrottleCounter{Key: c.Key, WindowStart: now}
		}
		c.Failures++
		if over := c.Failures - rule.Failures; over > 0 {
			d := min(rule.MaxDelay, time.Duration(math.Pow(2, float64(min(over-1, 30))))*time.Second)
			until := now.Add(d)
			c.LockedUntil = &until
		}
	})
	if err != nil {
		return fmt.Errorf("throttle fail: %w", err)
	}
	return nil
}

// Succeed clears the (account, address) counter after a correct password,
// so the person's own typos do not linger.
func (l *Limiter) Succeed(ctx context.Context, account, addr string) error {
	key := "acctip:" + sso.NormalizeEmail(account) + "|" + addr
	if err := l.db.DeleteThrottleCounter(ctx, key); err != nil {
		return fmt.Errorf("throttle reset: %w", err)
	}
	return nil
}

// Cleanup deletes counters whose window and lock are over.
func (l *Limiter) Cleanup(ctx context.Context) error {
	longest := max(l.rules.AccountAddress.Window, l.rules.Account.Window, l.rules.Address.Window)
	if _, err := l.db.DeleteOldThrottleCounters(ctx, longest); err != nil {
		return fmt.Errorf("throttle cleanup: %w", err)
	}
	return nil
}
