package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
)

// ResetTTL is how long a password reset link works.
const ResetTTL = time.Hour

// ErrMailOff is the answer of a flow that needs mail when none is
// configured.
var ErrMailOff = errors.New("mail is not configured")

// ErrResetInvalid refuses a reset link that does not work: unknown, used,
// expired, replaced by a newer one, made useless by a password change, or
// of an account that is disabled or gone.
var ErrResetInvalid = &Error{Code: CodeNotFound, Msg: "This password reset link does not work: it was used already, it expired, or a newer one was sent. Ask for a new link."}

// ResetOutcome is what a reset request did, for the audit log; the person
// asking is told the same whatever it is.
type ResetOutcome int

// Reset request outcomes.
const (
	// ResetNoAccount: no enabled account has the address; nothing sent.
	ResetNoAccount ResetOutcome = iota + 1
	// ResetLinkSent: a message with a reset link was queued.
	ResetLinkSent
	// ResetSSONotice: the account has no password; a message naming its
	// providers was queued.
	ResetSSONotice
	// ResetDisabled: the account is disabled; nothing sent.
	ResetDisabled
)

// String describes the outcome for the audit log.
func (o ResetOutcome) String() string {
	switch o {
	case ResetNoAccount:
		return "no account; nothing sent"
	case ResetLinkSent:
		return "reset link sent"
	case ResetSSONotice:
		return "account has no password; sign-in providers named, no link sent"
	case ResetDisabled:
		return "account disabled; nothing sent"
	}
	return fmt.Sprintf("ResetOutcome(%d)", int(o))
}

// ResetRequest is the result of RequestPasswordReset.
type ResetRequest struct {
	Outcome ResetOutcome
	User    *models.User // nil for ResetNoAccount
}

// RequestPasswordReset answers "Forgot password?" for the typed email: an
// enabled account with a password gets a message with a new reset link
// (valid ResetTTL, replacing any older link), one without a password a
// message naming the providers it signs in with, and an unknown or
// disabled account nothing. The token is stored hashed and the message is
// queued in the same transaction, so either both happen or neither; no
// message is delivered during the call.
func (s *Service) RequestPasswordReset(ctx context.Context, email string) (ResetRequest, error) {
	if s.Mail == nil {
		return ResetRequest{}, ErrMailOff
	}
	u, err := s.userByLoginEmail(ctx, email)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return ResetRequest{Outcome: ResetNoAccount}, nil
	case err != nil:
		return ResetRequest{}, err
	case u.Disabled():
		return ResetRequest{Outcome: ResetDisabled, User: u}, nil
	}
	data := s.mailData(u)
	if !u.HasPassword() {
		ids, err := s.DB.UserIdentities(ctx, u.ID)
		if err != nil {
			return ResetRequest{}, err
		}
		var names []string
		for _, id := range ids {
			name := id.ProviderID
			if s.Mail.ProviderName != nil {
				name = s.Mail.ProviderName(id.ProviderID)
			}
			names = append(names, name)
		}
		data["Providers"] = or(strings.Join(names, " or "), "single sign-on")
		r, err := s.Mail.Mailer.Compose("reset_sso", recipient(u), data)
		if err != nil {
			return ResetRequest{}, err
		}
		if err := mail.Enqueue(ctx, s.DB, r); err != nil {
			return ResetRequest{}, err
		}
		s.kick()
		return ResetRequest{Outcome: ResetSSONotice, User: u}, nil
	}
	token, err := s.newToken()
	if err != nil {
		return ResetRequest{}, err
	}
	data["Link"] = s.URLs.Reset + "?token=" + token
	data["Minutes"] = int(ResetTTL.Minutes())
	r, err := s.Mail.Mailer.Compose("reset", recipient(u), data)
	if err != nil {
		return ResetRequest{}, err
	}
	err = s.DB.Tx(ctx, func(tx *models.DB) error {
		// Holding the row: an address changed since u was read must not
		// get a link (a change deletes the links of the old address in
		// its own transaction, which this one now runs before or after).
		locked, err := tx.LockUser(ctx, u.ID)
		switch {
		case err != nil:
			return err
		case locked.Email != u.Email || locked.Disabled() || !locked.HasPassword():
			return errChanged
		}
		if err := tx.AddPasswordReset(ctx, u.ID, sessionstore.Hash(token), ResetTTL); err != nil {
			return err
		}
		return mail.Enqueue(ctx, tx, r)
	})
	if errors.Is(err, errChanged) {
		return ResetRequest{Outcome: ResetNoAccount}, nil
	}
	if err != nil {
		return ResetRequest{}, err
	}
	s.kick()
	return ResetRequest{Outcome: ResetLinkSent, User: u}, nil
}

// errChanged aborts a transaction whose account changed since it was read.
var errChanged = errors.New("the account changed meanwhile")

// ResetUser returns the enabled account a reset link's token resets, or
// ErrResetInvalid.
func (s *Service) ResetUser(ctx context.Context, token string) (*models.User, error) {
	if !sessionstore.ValidToken(token) {
		return nil, ErrResetInvalid
	}
	id, err := s.DB.PasswordResetUser(ctx, sessionstore.Hash(token))
	if errors.Is(err, models.ErrNotFound) {
		return nil, ErrResetInvalid
	}
	if err != nil {
		return nil, err
	}
	u, err := s.DB.UserByID(ctx, id)
	if errors.Is(err, models.ErrNotFound) || err == nil && u.Disabled() {
		return nil, ErrResetInvalid
	}
	return u, err
}

// ResetPassword sets the password of the account a reset link's token
// resets, with the rules of every new password. In one transaction it uses
// up the link, stores the password, ends every session of the account,
// forgets its browsers (replacePassword) and queues a "your password was
// changed" message; a link that does not work is ErrResetInvalid and a
// password the policy refuses an *Error, and then nothing changes. The
// link reached the account's address, so that address is verified too.
func (s *Service) ResetPassword(ctx context.Context, token, pw string) (*models.User, error) {
	if s.Mail == nil {
		return nil, ErrMailOff
	}
	u, err := s.ResetUser(ctx, token)
	if err != nil {
		return nil, err
	}
	h, err := s.hash(pw)
	if err != nil {
		return nil, err
	}
	change := passwordChange{user: u, hash: &h, how: "with a reset link"}
	if err := s.composeChange(&change); err != nil {
		return nil, err
	}
	err = s.send(ctx, func(tx *models.DB) error {
		locked, err := tx.LockUser(ctx, u.ID)
		if err != nil {
			return err
		}
		id, err := tx.ConsumePasswordReset(ctx, sessionstore.Hash(token))
		switch {
		case errors.Is(err, models.ErrNotFound), err == nil && id != u.ID, err == nil && locked.Disabled():
			return ErrResetInvalid // used, replaced or disabled meanwhile
		case err != nil:
			return err
		}
		// The link reached the account's address (a change of address
		// deletes the links sent to the old one): it is the owner's.
		if err := tx.MarkEmailVerified(ctx, u.ID, locked.Email); err != nil {
			return err
		}
		return change.apply(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	u.PasswordHash = &h
	return u, nil
}
