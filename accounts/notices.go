package accounts

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/models"
)

// SignInSeen describes a sign-in for the owner of the account: when, from
// where, in what browser and how.
type SignInSeen struct {
	At       time.Time
	IP       string
	Browser  string // a short description of the user agent ("Firefox on Linux")
	Method   models.Method
	Provider string // the provider's name, for an SSO sign-in
}

// NotifyNewBrowser tells the owner of u that u was signed in to from a
// browser not seen for it before (the new_browser notice). u is the
// account as it was before this sign-in: its first sign-in ever is not
// news to anyone, so it sends nothing; and the notice names an IP address
// and a browser, so it goes only to an address proved to be the owner's.
func (s *Service) NotifyNewBrowser(ctx context.Context, u *models.User, seen SignInSeen) error {
	if u.LastLoginAt == nil || !u.EmailVerified() {
		return nil
	}
	how := seen.Method.Label()
	if seen.Provider != "" {
		how += " (" + seen.Provider + ")"
	}
	n, err := s.notice(mail.NoticeNewBrowser, "new_browser", u, map[string]any{
		"When": seen.At.UTC().Format("2006-01-02 15:04 UTC"), "IP": or(seen.IP, "unknown"),
		"Browser": or(seen.Browser, "Unknown browser"), "How": how, "SSO": seen.Method == models.MethodSSO,
	})
	if err != nil || n == nil {
		return err
	}
	if err := enqueue(ctx, s.DB, n); err != nil {
		return err
	}
	s.kick()
	return nil
}
