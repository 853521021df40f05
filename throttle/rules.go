package throttle

import (
	"fmt"
	"time"
)

// Rule allows Failures in Window; past it each failure doubles a delay from
// 1s up to MaxDelay. The yaml tags are the configuration file's keys.
type Rule struct {
	// Failures allowed in Window before delays start.
	Failures int `yaml:"failures"`
	// Window is the counting window.
	Window time.Duration `yaml:"window"`
	// MaxDelay caps the growing delay.
	MaxDelay time.Duration `yaml:"max_delay"`
}

// Rules are the limits in force, the throttle section of the configuration
// file.
type Rules struct {
	// AccountAddress: one account from one client address (the tight limit).
	AccountAddress Rule `yaml:"account_address"`
	// Account: one account from anywhere (looser, short cap, so nobody is
	// locked out of their own account for long).
	Account Rule `yaml:"account"`
	// Address: one client address across accounts (password spraying).
	Address Rule `yaml:"address"`
	// Device: one account from a browser that signed in to it before; such
	// a browser answers to this rule instead of the three above.
	Device Rule `yaml:"device"`
	// Forgot limits "Forgot password?" requests (throttle.forgot.address
	// and throttle.forgot.email), which send mail rather than check a
	// password.
	Forgot ForgotRules `yaml:"forgot"`
	// Code: wrong second-factor codes for one account, from anywhere. Its
	// own counter, which a right password does not clear: the password
	// rules above count codes too, but whoever has the password would
	// reset them by signing in again.
	Code Rule `yaml:"code"`
}

// DefaultRules: 5 failures per account and address per 5 minutes (delay
// capped at 15 minutes), 20 per account per 5 minutes (capped at 1 minute),
// 20 per address per minute (capped at 1 minute), 10 per account and known
// device per 5 minutes (capped at 15 minutes: the person's own typos get
// more room than a stranger's address, and a stolen device cookie little
// more than one address gets, far less than many addresses), and
// DefaultForgotRules; and 5 wrong second-factor codes per account per
// hour (then delays up to an hour: an app code is one of a million, and
// three are right at any time).
func DefaultRules() Rules {
	return Rules{
		AccountAddress: Rule{Failures: 5, Window: 5 * time.Minute, MaxDelay: 15 * time.Minute},
		Account:        Rule{Failures: 20, Window: 5 * time.Minute, MaxDelay: time.Minute},
		Address:        Rule{Failures: 20, Window: time.Minute, MaxDelay: time.Minute},
		Device:         Rule{Failures: 10, Window: 5 * time.Minute, MaxDelay: 15 * time.Minute},
		Forgot:         DefaultForgotRules(),
		Code:           Rule{Failures: 5, Window: time.Hour, MaxDelay: time.Hour},
	}
}

// Validate reports the first rule that cannot work: a rule must allow at
// least one failure, and a window or delay under a second would make the
// delays, counted in whole seconds, meaningless. The error starts with the
// rule's key ("account: ...", "forgot.email: ...").
func (r Rules) Validate() error {
	for _, rule := range []struct {
		key string
		r   Rule
	}{
		{"account_address", r.AccountAddress},
		{"account", r.Account},
		{"address", r.Address},
		{"device", r.Device},
		{"forgot.address", r.Forgot.Address},
		{"forgot.email", r.Forgot.Email},
		{"code", r.Code},
	} {
		if rule.r.Failures < 1 || rule.r.Window < time.Second || rule.r.MaxDelay < time.Second {
			return fmt.Errorf("%s: failures >= 1, window and max_delay >= 1s", rule.key)
		}
	}
	return nil
}
