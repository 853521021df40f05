// Package throttle slows down password guessing (OWASP ASVS V2.2): password
// checks are counted per account and client address, per account, per
// client address, and per known device, in the database so replicas share
// the counts.
//
// A check is counted before it runs (Begin) and credited back when the
// password was right, so a burst of concurrent guesses meets the limit as
// sequential ones do: the count and the check of the limit are one
// transaction, and the slow bcrypt comparison comes after both.
//
// The limits are shaped so an attacker cannot lock a person out: a browser
// that signed in to the account before (its device cookie names a device
// remembered for the account) is counted by its own per-device rule only,
// so guesses from elsewhere never refuse it; other browsers are counted per
// (account, address), per account and per address. Addresses are counted
// by network: an IPv4 address, or an IPv6 /64.
//
// Bucket is the in-memory guard for endpoints that must not be flooded;
// Buckets keeps one per client address (the back-channel logout providers
// post to, SSO sign-in starts), tracking a bounded number of addresses.
package throttle

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/sso"
)

const (
	// DeviceLifetime is how long a browser stays a known device after its
	// last successful sign-in: the device cookie's Max-Age, and the age at
	// which Cleanup forgets the device.
	DeviceLifetime = 180 * 24 * time.Hour
	// DevicesPerAccount is how many devices an account has remembered at
	// most; a sign-in from one more forgets the least recently used.
	DevicesPerAccount = 10
)

// Limiter counts password checks and says how long to wait.
type Limiter struct {
	db    *models.DB
	rules Rules
}

// New returns a Limiter over db with rules (Rules.Forgot limits "Forgot
// password?" requests).
func New(db *models.DB, rules Rules) *Limiter {
	return &Limiter{db: db, rules: rules}
}

// Client is where a password check comes from.
type Client struct {
	// Account is the email the password is checked for, as typed.
	Account string
	// Addr is the client's IP address (an IPv6 one counted by its /64).
	Addr string
	// Device is the token of the browser's device cookie, empty when it
	// sent none.
	Device string
}

// key is one counter an attempt is counted on and the rule it answers to.
// An own key belongs to this client and account alone: a correct password
// clears it, where shared keys only get the attempt back.
type key struct {
	name string
	rule Rule
	own  bool
}

// keys are the counters c's attempts are counted on: its device's alone
// when the device signed in to the account before, else the (account,
// address), account and address ones.
func (l *Limiter) keys(ctx context.Context, c Client) ([]key, error) {
	account := sso.NormalizeEmail(c.Account)
	if c.Device != "" {
		hash := sessionstore.Hash(c.Device)
		known, err := l.db.KnownDevice(ctx, account, hash, DeviceLifetime)
		if err != nil {
			return nil, err
		}
		if known {
			return []key{{name: "dev:" + account + "|" + hash, rule: l.rules.Device, own: true}}, nil
		}
	}
	addr := network(c.Addr)
	return []key{
		{name: "acctip:" + account + "|" + addr, rule: l.rules.AccountAddress, own: true},
		{name: "acct:" + account, rule: l.rules.Account},
		{name: "ip:" + addr, rule: l.rules.Address},
	}, nil
}

// network is the part of a client address the address rules count by: an
// IPv4 address (IPv4-mapped IPv6 included) as it is, an IPv6 address by its
// /64, the block one subscriber or one LAN gets, so the 2^64 addresses an
// attacker holds there are one client. What is not an IP address is
// counted as it is, cut to the length of the longest address.
func network(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr[:min(len(addr), len("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"))]
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	return netip.PrefixFrom(ip, 64).Masked().String()
}

func names(keys []key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.name
	}
	return out
}

func byName(keys []key) map[string]key {
	out := make(map[string]key, len(keys))
	for _, k := range keys {
		out[k.name] = k
	}
	return out
}

// Check returns how long c must wait before another password check (zero:
// none), counting nothing. Begin is what guards a check; Check is for
// reporting the state.
func (l *Limiter) Check(ctx context.Context, c Client) (time.Duration, error) {
	keys, err := l.keys(ctx, c)
	if err != nil {
		return 0, fmt.Errorf("throttle check: %w", err)
	}
	return l.wait(ctx, keys)
}

// wait is the longest lock among keys' counters, read outside any
// transaction.
func (l *Limiter) wait(ctx context.Context, keys []key) (time.Duration, error) {
	now := l.db.Time()
	var wait time.Duration
	for _, k := range keys {
		c, err := l.db.ThrottleCounter(ctx, k.name)
		if errors.Is(err, models.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("throttle check: %w", err)
		}
		wait = max(wait, lockLeft(c, now))
	}
	return wait, nil
}

func lockLeft(c *models.ThrottleCounter, now time.Time) time.Duration {
	if c.LockedUntil != nil && c.LockedUntil.After(now) {
		return c.LockedUntil.Sub(now)
	}
	return 0
}

// Attempt is one password check counted as a failure before it ran. A
// wrong password needs nothing more; Succeeded or Abandoned give the
// attempt back.
type Attempt struct {
	db    *models.DB
	keys  []key
	locks map[string]time.Time // the locks this attempt's count set, by key
}

// Begin counts a password check from c as a failed one, unless one of its
// counters is locked: then it returns how long to wait, counts nothing,
// and the check must not run. Checking the locks and counting are one
// transaction, so concurrent attempts are let through one at a time and no
// more of them than sequential ones. Past a rule's allowance each further
// attempt locks the counter for a delay that doubles (1s, 2s, 4s, ...) up
// to MaxDelay; a window over starts the count again.
func (l *Limiter) Begin(ctx context.Context, c Client) (*Attempt, time.Duration, error) {
	keys, err := l.keys(ctx, c)
	if err != nil {
		return nil, 0, fmt.Errorf("throttle begin: %w", err)
	}
	return l.begin(ctx, keys)
}

// begin is Begin over the counters keys.
func (l *Limiter) begin(ctx context.Context, keys []key) (*Attempt, time.Duration, error) {
	// A locked client, an attacker's usual state, is answered from a plain
	// read without taking the database's write lock.
	if wait, err := l.wait(ctx, keys); err != nil || wait > 0 {
		return nil, wait, err
	}
	rules := byName(keys)
	a := &Attempt{db: l.db, keys: keys, locks: map[string]time.Time{}}
	now := l.db.Time()
	var wait time.Duration
	err := l.db.UpdateThrottleCounters(ctx, names(keys), func(cs []*models.ThrottleCounter) bool {
		for _, c := range cs {
			wait = max(wait, lockLeft(c, now))
		}
		if wait > 0 {
			return false
		}
		for _, c := range cs {
			rule := rules[c.Key].rule
			if now.Sub(c.WindowStart) >= rule.Window {
				*c = models.ThrottleCounter{Key: c.Key, WindowStart: now}
			}
			c.Failures++
			if over := c.Failures - rule.Failures; over > 0 {
				until := now.Add(min(rule.MaxDelay, time.Duration(math.Pow(2, float64(min(over-1, 30))))*time.Second))
				c.LockedUntil = &until
				a.locks[c.Key] = until
			}
		}
		return true
	})
	if err != nil {
		return nil, 0, fmt.Errorf("throttle begin: %w", err)
	}
	if wait > 0 {
		return nil, wait, nil
	}
	return a, 0, nil
}

// Succeeded settles an attempt whose password was right: its own counter
// (this address's or this device's for the account) is cleared, so the
// person's typos do not linger, and the shared ones get the attempt back
// with any lock it set, as if it had never been counted.
func (a *Attempt) Succeeded(ctx context.Context) error { return a.settle(ctx, true) }

// Abandoned settles an attempt that reached no verdict (the account could
// not be read): every counter gets it back.
func (a *Attempt) Abandoned(ctx context.Context) error { return a.settle(ctx, false) }

func (a *Attempt) settle(ctx context.Context, success bool) error {
	rules := byName(a.keys)
	err := a.db.UpdateThrottleCounters(ctx, names(a.keys), func(cs []*models.ThrottleCounter) bool {
		for _, c := range cs {
			if success && rules[c.Key].own {
				c.Failures, c.LockedUntil = 0, nil
				continue
			}
			c.Failures = max(0, c.Failures-1)
			if until, ok := a.locks[c.Key]; ok && c.LockedUntil != nil && c.LockedUntil.Equal(until) {
				c.LockedUntil = nil
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("throttle settle: %w", err)
	}
	return nil
}

// RememberDevice records that the browser whose device cookie carries
// token signed in to the account userID, so its next password checks for
// the account count on its own device rule; only the token's hash is kept.
func (l *Limiter) RememberDevice(ctx context.Context, userID int64, token string) error {
	if err := l.db.RememberDevice(ctx, userID, sessionstore.Hash(token), DevicesPerAccount); err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	return nil
}

// Cleanup deletes counters whose window and lock are over, and devices
// unused for DeviceLifetime.
func (l *Limiter) Cleanup(ctx context.Context) error {
	longest := max(l.rules.AccountAddress.Window, l.rules.Account.Window, l.rules.Address.Window, l.rules.Device.Window,
		l.rules.Forgot.Address.Window, l.rules.Forgot.Email.Window, l.rules.Code.Window)
	if _, err := l.db.DeleteOldThrottleCounters(ctx, longest); err != nil {
		return fmt.Errorf("throttle cleanup: %w", err)
	}
	if _, err := l.db.DeleteOldDevices(ctx, DeviceLifetime); err != nil {
		return fmt.Errorf("throttle cleanup: %w", err)
	}
	return nil
}

// BeginCode counts a second-factor code check for the account email
// before it runs, on the account's code counter (Rules.Code), unless that
// counter is locked: then it returns how long to wait and counts nothing.
// Settle the attempt like a password's: Succeeded for a right code.
func (l *Limiter) BeginCode(ctx context.Context, email string) (*Attempt, time.Duration, error) {
	a, wait, err := l.begin(ctx, []key{{name: "code:" + sso.NormalizeEmail(email), rule: l.rules.Code}})
	if err != nil {
		return nil, 0, fmt.Errorf("throttle code: %w", err)
	}
	return a, wait, nil
}
