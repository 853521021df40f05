package handlers_test

// throttle.forgot.* as configured, not only the defaults, is what limits
// "Forgot password?" requests.

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/config"
	gmail "github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/throttle"
)

// TestForgotLimitsFromConfig: the configured throttle.forgot rules are the
// ones in force. A rule allows `failures` requests, and the next one sets
// the first delay (1s), as every throttle rule does; the one after, at the
// same instant, is refused with 429 and sends nothing.
func TestForgotLimitsFromConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		rules throttle.ForgotRules
		// emails are the addresses asked for in turn; ok how many of the
		// requests are answered before the first 429.
		emails []string
		ok     int
	}{
		{
			name:   "email: 1 request",
			rules:  throttle.ForgotRules{Address: throttle.DefaultForgotRules().Address, Email: throttle.Rule{Failures: 1, Window: time.Hour, MaxDelay: time.Hour}},
			emails: []string{alice, alice, alice, alice}, ok: 2,
		},
		{
			name:   "email: the default 3",
			rules:  throttle.DefaultForgotRules(),
			emails: []string{alice, alice, alice, alice, alice, alice}, ok: 4,
		},
		{
			name:   "address: 2 requests, any emails",
			rules:  throttle.ForgotRules{Address: throttle.Rule{Failures: 2, Window: time.Hour, MaxDelay: time.Hour}, Email: throttle.DefaultForgotRules().Email},
			emails: []string{alice, bob, alice, bob}, ok: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := &env{server: newServer(t, serverOpts{
				throttle: true,
				configure: func(c *config.Config) {
					c.Mail = &gmail.Config{From: "gatehouse <no-reply@example.com>", Dir: t.TempDir()}
					c.Throttle.Forgot = tt.rules
				},
			})}
			e.client = e.newClient()
			e.createUser(t, alice, goodPW, false)
			e.createUser(t, bob, goodPW, false)
			for i, email := range tt.emails {
				r := e.do(t, req{method: http.MethodPost, path: "/auth/forgot", form: url.Values{"email": {email}}})
				switch {
				case i < tt.ok && r.status != http.StatusOK:
					t.Fatalf("request %d (%s): %d, want 200", i+1, email, r.status)
				case i == tt.ok && (r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == ""):
					t.Fatalf("request %d (%s): %d (Retry-After %q), want 429 with Retry-After", i+1, email, r.status, r.header.Get("Retry-After"))
				case i == tt.ok:
					if n := countRows(t, e.dbPath, "mail_outbox", ""); n != int64(tt.ok) {
						t.Fatalf("%d messages queued, want %d: the refused request sent one", n, tt.ok)
					}
					return
				}
			}
			t.Fatalf("no request was refused")
		})
	}
}
