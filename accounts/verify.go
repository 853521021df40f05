package accounts

import (
	"context"
	"errors"
	gomail "net/mail"
	"time"

	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
)

// VerifyTTL is how long a link confirming an address works.
const VerifyTTL = 24 * time.Hour

// ErrVerifyInvalid refuses a confirmation link that does not work.
var ErrVerifyInvalid = &Error{Code: CodeNotFound, Msg: "This confirmation link does not work: it was used already, it expired, or a newer one was sent. Ask for a new one on your account page."}

// ErrAlreadyVerified refuses to confirm an address confirmed already.
var ErrAlreadyVerified = conflict("Your email address is confirmed already.")

// VerifyResendWait is how long after one confirmation link an account may
// ask for the next: each sends a message, so a signed-in person (or a
// stolen session) cannot flood a mailbox or the outbox.
const VerifyResendWait = time.Minute

// ErrTooSoon refuses a confirmation link asked for within
// VerifyResendWait of the one before.
var ErrTooSoon = conflict("A link was sent less than a minute ago. Wait a minute before asking for another.")

// RequestVerification mails u a link that confirms its current address.
func (s *Service) RequestVerification(ctx context.Context, u *models.User) error {
	if s.Mail == nil {
		return ErrMailOff
	}
	if u.EmailVerified() {
		return ErrAlreadyVerified
	}
	return s.sendConfirmation(ctx, u, u.Email)
}

// EmailChangeOutcome is what RequestEmailChange did, for the audit log; the
// person asking is told the same whatever it is.
type EmailChangeOutcome int

// Email change request outcomes.
const (
	// EmailChangeLinkSent: a link confirming the change went to the new
	// address.
	EmailChangeLinkSent EmailChangeOutcome = iota + 1
	// EmailChangeTaken: another account has the new address; it was told
	// so, and nothing else happens.
	EmailChangeTaken
)

// String describes the outcome for the audit log.
func (o EmailChangeOutcome) String() string {
	if o == EmailChangeTaken {
		return "the new address has an account already; it was told so, nothing changes"
	}
	return "confirmation link sent to the new address"
}

// RequestEmailChange asks to move u to the address email. Nothing changes
// until the owner of the new address opens the link mailed to it
// (ConfirmEmail). Whether another account has that address is not told to
// the person asking: that address gets a message saying so instead, and
// the answer is the same.
func (s *Service) RequestEmailChange(ctx context.Context, u *models.User, email string) (EmailChangeOutcome, error) {
	if s.Mail == nil {
		return 0, ErrMailOff
	}
	email, err := checkEmail(email)
	if err != nil {
		return 0, err
	}
	if email == u.Email {
		return 0, invalid("That is your address already.")
	}
	_, err = s.DB.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return EmailChangeLinkSent, s.sendConfirmation(ctx, u, email)
	case err != nil:
		return 0, err
	}
	// The link is stored as for any change, so the account page and the
	// resend wait are the same, but it is never sent: it could only fail.
	r, err := s.Mail.Mailer.Compose("email_taken", gomail.Address{Address: email}, map[string]any{"Email": email, "Site": s.Mail.Site})
	if err != nil {
		return 0, err
	}
	unsent, err := s.newToken()
	if err != nil {
		return 0, err
	}
	return EmailChangeTaken, s.storeConfirmation(ctx, u, email, unsent, r)
}

// sendConfirmation stores a link confirming the address email for u
// (replacing the one before) and queues the message carrying it to that
// address, in one transaction.
func (s *Service) sendConfirmation(ctx context.Context, u *models.User, email string) error {
	token, err := s.newToken()
	if err != nil {
		return err
	}
	to := recipient(u)
	data := s.mailData(u)
	if email != u.Email {
		// An address nobody has proved yet: it gets no name the account's
		// owner chose, only what the change is.
		to, data["Name"] = gomail.Address{Address: email}, ""
	}
	data["Email"], data["OldEmail"], data["Change"] = email, u.Email, email != u.Email
	data["Link"], data["Hours"] = s.URLs.Verify+"?token="+token, int(VerifyTTL.Hours())
	r, err := s.Mail.Mailer.Compose("verify", to, data)
	if err != nil {
		return err
	}
	return s.storeConfirmation(ctx, u, email, token, r)
}

// storeConfirmation stores token as u's confirmation link for email and
// queues r, in one transaction holding u's row, unless u's last link is
// younger than VerifyResendWait or u's address changed meanwhile. A link
// for a change records the address it replaces (FromEmail).
func (s *Service) storeConfirmation(ctx context.Context, u *models.User, email, token string, r mail.Rendered) error {
	err := s.send(ctx, func(tx *models.DB) error {
		locked, err := tx.LockUser(ctx, u.ID)
		if err != nil {
			return err
		}
		if locked.Email != u.Email {
			return conflict("Your address changed meanwhile. Reload the page and try again.")
		}
		last, err := tx.EmailLinkOf(ctx, u.ID, models.LinkVerify)
		switch {
		case err == nil && tx.Time().Sub(last.CreatedAt) < VerifyResendWait:
			return ErrTooSoon
		case err != nil && !errors.Is(err, models.ErrNotFound):
			return err
		}
		link := &models.EmailLink{TokenHash: sessionstore.Hash(token), Purpose: models.LinkVerify, UserID: u.ID, Email: email}
		if email != u.Email {
			link.FromEmail = u.Email
		}
		if err := tx.AddEmailLink(ctx, link, VerifyTTL); err != nil {
			return err
		}
		return mail.Enqueue(ctx, tx, r)
	})
	if err != nil {
		return err
	}
	return nil
}

// PendingEmail is the address a change of u's address waits to have
// confirmed, or "" when none waits.
func (s *Service) PendingEmail(ctx context.Context, u *models.User) (string, error) {
	l, err := s.DB.EmailLinkOf(ctx, u.ID, models.LinkVerify)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return "", nil
	case err != nil:
		return "", err
	case l.FromEmail != u.Email: // none waits, or not for this address
		return "", nil
	}
	return l.Email, nil
}

// Confirmation is what a confirmation link confirms.
type Confirmation struct {
	User *models.User
	// Email is the address confirmed; for a change, the new one.
	Email string
	// OldEmail is the address before a change; "" when the link confirmed
	// the account's own address.
	OldEmail string
}

// Change reports whether the confirmation moves the account to Email.
func (c *Confirmation) Change() bool { return c.OldEmail != "" }

// ConfirmationOf returns what a confirmation token would confirm, without
// using it, or ErrVerifyInvalid: the page the link opens names the
// address before the person confirms it.
func (s *Service) ConfirmationOf(ctx context.Context, token string) (*Confirmation, error) {
	if !sessionstore.ValidToken(token) {
		return nil, ErrVerifyInvalid
	}
	l, err := s.DB.EmailLinkByHash(ctx, models.LinkVerify, sessionstore.Hash(token))
	if errors.Is(err, models.ErrNotFound) {
		return nil, ErrVerifyInvalid
	}
	if err != nil {
		return nil, err
	}
	u, err := s.DB.UserByID(ctx, l.UserID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, ErrVerifyInvalid
	}
	if err != nil {
		return nil, err
	}
	if !confirms(l, u) {
		return nil, ErrVerifyInvalid
	}
	return &Confirmation{User: u, Email: l.Email, OldEmail: l.FromEmail}, nil
}

// confirms reports whether the link l may still be used on u, its account:
// u is enabled, and has the address l confirms or, for a change, the
// address the change replaces. An address changed another way since the
// link was sent makes it worthless.
func confirms(l *models.EmailLink, u *models.User) bool {
	if u.Disabled() {
		return false
	}
	if l.FromEmail != "" {
		return u.Email == l.FromEmail
	}
	return u.Email == l.Email
}

// ConfirmEmail uses a confirmation link. For the account's own address it
// marks the address verified. For a change it moves the account to the new
// address, verified, stamped as changed (EmailChangeCooldown then holds
// back SSO linking by it), deletes every other link mailed for the
// account, and tells the old address (the email_changed notice). One
// transaction holding the account's row does all of it, and uses up the
// link; a link that does not work (used, replaced, expired, or the account
// disabled or its address changed another way since) is ErrVerifyInvalid,
// a new address another account took meanwhile a conflict, and then
// nothing changes.
func (s *Service) ConfirmEmail(ctx context.Context, token string) (*Confirmation, error) {
	c, err := s.ConfirmationOf(ctx, token)
	if err != nil {
		return nil, err
	}
	var notice *mail.Rendered
	if c.Change() {
		if notice, err = s.emailChangedNotice(c.User, c.Email, "from the account page, and confirmed from the new address"); err != nil {
			return nil, err
		}
	}
	err = s.send(ctx, func(tx *models.DB) error {
		u, err := tx.LockUser(ctx, c.User.ID)
		if err != nil {
			return err
		}
		l, err := tx.ConsumeEmailLink(ctx, models.LinkVerify, sessionstore.Hash(token))
		switch {
		case errors.Is(err, models.ErrNotFound):
			return ErrVerifyInvalid // used or replaced meanwhile
		case err != nil:
			return err
		case !confirms(l, u): // the account changed meanwhile
			return ErrVerifyInvalid
		case l.FromEmail == "":
			return tx.MarkEmailVerified(ctx, u.ID, u.Email)
		}
		return moveEmail(ctx, tx, u.ID, l.Email, notice)
	})
	if err != nil {
		return nil, err
	}
	c.User, err = s.DB.UserByID(ctx, c.User.ID)
	return c, err
}

// moveEmail gives the account id its confirmed new address in tx, deletes
// the links mailed to the old one and queues the notice to it.
func moveEmail(ctx context.Context, tx *models.DB, id int64, email string, notice *mail.Rendered) error {
	if err := tx.ChangeEmail(ctx, id, email); err != nil {
		if errors.Is(err, models.ErrEmailTaken) {
			return conflict("Another account has this address now, so yours was not moved to it.")
		}
		return err
	}
	if err := tx.DeleteAccountLinks(ctx, id); err != nil {
		return err
	}
	return enqueue(ctx, tx, notice)
}

// emailChangedNotice renders the email_changed notice to u's address (the
// old one) for a change to email made how. The new address is named only
// when the old one was proved to be the owner's: an address an
// administrator mistyped may be a stranger's, who must not learn it.
func (s *Service) emailChangedNotice(u *models.User, email, how string) (*mail.Rendered, error) {
	data := map[string]any{"OldEmail": u.Email, "How": how}
	if u.EmailVerified() {
		data["NewEmail"] = email
	}
	return s.notice(mail.NoticeEmailChanged, "email_changed", u, data)
}
