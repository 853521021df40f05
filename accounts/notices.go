package accounts

import (
	"context"
	"maps"
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
// maxBreakGlassNotices bounds the administrators one break-glass sign-in
// writes to.
const maxBreakGlassNotices = 100

// AnnounceBreakGlass tells every enabled administrator (when mail is on)
// that u gave the right password on the break-glass page, from ip: the
// one password path of login.mode sso_only must never go unnoticed.
func (s *Service) AnnounceBreakGlass(ctx context.Context, u *models.User, ip string) error {
	if s.Mail == nil {
		return nil
	}
	admins, err := s.DB.Admins(ctx, maxBreakGlassNotices)
	if err != nil {
		return err
	}
	data := map[string]any{"Who": u.Email, "When": s.DB.Now().UTC().Format("2006-01-02 15:04 UTC"), "IP": or(ip, "unknown")}
	msgs := make([]*mail.Rendered, 0, len(admins))
	for i := range admins {
		d := s.mailData(&admins[i])
		maps.Copy(d, data)
		r, err := s.Mail.Mailer.Compose("break_glass", recipient(&admins[i]), d)
		if err != nil {
			return err
		}
		msgs = append(msgs, &r)
	}
	return s.send(ctx, func(tx *models.DB) error { return enqueue(ctx, tx, msgs...) })
}

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
