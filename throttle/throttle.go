// Package throttle slows down password guessing (OWASP ASVS V2.2): failed
// password checks are counted per account, per account and client address,
// and per client address, in the database so replicas share the counts.
//
// The limits are shaped so an attacker cannot lock a person out for long:
// the tight limit is per (account, address), so the real person signing in
// from elsewhere is unaffected; the account-wide limit is looser and its
// delay is capped short.
package throttle

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gatehouse/gatehouse/models"
	"gorm.io/gorm"
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

// counter is one row of the throttle table.
type counter struct {
	Key         string `gorm:"primaryKey"`
	Failures    int
	WindowStart time.Time
	LockedUntil *time.Time
}

func (counter) TableName() string { return "throttle" }

func (l *Limiter) keys(account, addr string) map[string]Rule {
	account = models.NormalizeEmail(account)
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
		var c counter
		err := l.db.Gorm(ctx).Where("key = ?", key).Take(&c).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
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
	return l.db.Tx(ctx, func(tx *models.DB) error {
		for key, rule := range l.keys(account, addr) {
			var c counter
			err := tx.Gorm(ctx).Where("key = ?", key).Take(&c).Error // the immediate transaction serialises writers
			switch {
			case errors.Is(err, gorm.ErrRecordNotFound), err == nil && now.Sub(c.WindowStart) >= rule.Window:
				c = counter{Key: key, WindowStart: now}
			case err != nil:
				return fmt.Errorf("throttle fail: %w", err)
			}
			c.Failures++
			if over := c.Failures - rule.Failures; over > 0 {
				d := min(rule.MaxDelay, time.Duration(math.Pow(2, float64(min(over-1, 30))))*time.Second)
				until := now.Add(d)
				c.LockedUntil = &until
			}
			if err := tx.Gorm(ctx).Save(&c).Error; err != nil {
				return fmt.Errorf("throttle fail: %w", err)
			}
		}
		return nil
	})
}

// Succeed clears the (account, address) counter after a correct password,
// so the person's own typos do not linger.
func (l *Limiter) Succeed(ctx context.Context, account, addr string) error {
	key := "acctip:" + models.NormalizeEmail(account) + "|" + addr
	if err := l.db.Gorm(ctx).Where("key = ?", key).Delete(&counter{}).Error; err != nil {
		return fmt.Errorf("throttle reset: %w", err)
	}
	return nil
}

// Cleanup deletes counters whose window and lock are over.
func (l *Limiter) Cleanup(ctx context.Context) error {
	now := l.db.Now().UTC()
	longest := max(l.rules.AccountAddress.Window, l.rules.Account.Window, l.rules.Address.Window)
	err := l.db.Gorm(ctx).Where("window_start < ? AND (locked_until IS NULL OR locked_until < ?)", now.Add(-longest), now).
		Delete(&counter{}).Error
	if err != nil {
		return fmt.Errorf("throttle cleanup: %w", err)
	}
	return nil
}
