package accounts

import (
	"context"
	gomail "net/mail"

	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
)

// Mail is what the flows that send messages need; nil on Service means
// mail is off.
type Mail struct {
	Mailer *mail.Mailer
	// Site is the name messages call the service by (branding.name).
	Site string
	// ProviderName names an OpenID Provider by its ID, for the messages
	// that point to one.
	ProviderName func(id string) string
	// Kick asks the delivery worker to send now, after a commit; nil
	// leaves the message to the worker's next round.
	Kick func()
	// Notices switches the security notices (mail.notices).
	Notices mail.Notices
}

// URLs are the pages the links gatehouse hands out open; a link is the
// page's address with ?token=....
type URLs struct {
	Reset  string // base_url + /auth/reset
	Invite string // base_url + /auth/invite
	Verify string // base_url + /auth/verify
}

// newToken is a new link token from the service's randomness.
func (s *Service) newToken() (string, error) { return sessionstore.NewToken(s.Rand) }

// mailData is what every message's template reads about its account.
func (s *Service) mailData(u *models.User) map[string]any {
	return map[string]any{"Name": u.Name, "Email": u.Email, "Site": s.Mail.Site}
}

// notice renders security notice n (template name) to u's address, or
// returns nil when mail is off or the notice is switched off. It is
// rendered before the transaction that queues it, so a message that cannot
// be rendered fails the action before anything changes.
func (s *Service) notice(n mail.Notice, name string, to *models.User, data map[string]any) (*mail.Rendered, error) {
	if s.Mail == nil || !s.Mail.Notices.On(n) {
		return nil, nil
	}
	d := s.mailData(to)
	for k, v := range data {
		d[k] = v
	}
	r, err := s.Mail.Mailer.Compose(name, recipient(to), d)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// enqueue queues the rendered messages that are not nil through db (the
// tx of the action that sends them).
func enqueue(ctx context.Context, db *models.DB, msgs ...*mail.Rendered) error {
	for _, m := range msgs {
		if m == nil {
			continue
		}
		if err := mail.Enqueue(ctx, db, *m); err != nil {
			return err
		}
	}
	return nil
}

// send runs fn in one transaction and, once it commits, asks the delivery
// worker to send what fn queued: a message goes if and only if its action
// is stored, and without waiting for the worker's next round.
func (s *Service) send(ctx context.Context, fn func(tx *models.DB) error) error {
	if err := s.DB.Tx(ctx, fn); err != nil {
		return err
	}
	s.kick()
	return nil
}

// kick asks the delivery worker to look at the outbox now.
func (s *Service) kick() {
	if s.Mail != nil && s.Mail.Kick != nil {
		s.Mail.Kick()
	}
}

// recipient is u's address for a message.
func recipient(u *models.User) gomail.Address {
	return gomail.Address{Name: u.Name, Address: u.Email}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
