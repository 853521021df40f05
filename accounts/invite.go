package accounts

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
)

// InviteTTL is how long an invitation link works.
const InviteTTL = 7 * 24 * time.Hour

// ErrInviteInvalid refuses an invitation link that does not work: unknown,
// used, expired, replaced by a newer one, or of an account that has a
// password by now, is disabled or is gone.
var ErrInviteInvalid = &Error{Code: CodeNotFound, Msg: "This invitation link does not work: it was used already, it expired, or a newer one was sent. Ask your administrator for a new invitation."}

// ErrHasPassword and ErrHasIdentity refuse to invite an account that can
// sign in already: an invitation sets a password, and must not add one
// behind the back of someone who uses the account.
var (
	ErrHasPassword = conflict("This account has a password already, so it needs no invitation. Its owner can use \"Forgot your password?\".")
	ErrHasIdentity = conflict("This account signs in with single sign-on already, so it needs no invitation.")
)

// Invitation is a new invitation link for an account.
type Invitation struct {
	User *models.User
	// Link is the link itself, which exists nowhere else: only its hash is
	// stored. When Sent is false (mail off) it is for the administrator to
	// pass on.
	Link string
	// Sent reports whether a message with the link was queued.
	Sent      bool
	ExpiresAt time.Time
}

// Invite creates an account without a password (n.Password is ignored)
// and invites its owner: a link, valid InviteTTL, to choose a password or
// to sign in with the provider trusted for the address. With send and mail
// on the link is mailed; either way it is returned. inviter names who
// invites, for the message. The account, the link and the message are
// stored in one transaction.
func (s *Service) Invite(ctx context.Context, n NewUser, inviter string, send bool) (*Invitation, error) {
	n.Password = nil
	u, err := s.newUser(n)
	if err != nil {
		return nil, err
	}
	var inv *Invitation
	err = s.send(ctx, func(tx *models.DB) error {
		if err := createUser(ctx, tx, u); err != nil {
			return err
		}
		inv, err = s.invite(ctx, tx, u, inviter, send)
		return err
	})
	if err != nil {
		return nil, err
	}
	return inv, nil
}

// Reinvite makes a new invitation link for the account id, which must have
// no password, replacing the one before; with send (and mail on) the link
// is mailed too. An administrator resends an invitation, or copies a link
// to pass on when mail is off or did not arrive.
func (s *Service) Reinvite(ctx context.Context, id int64, inviter string, send bool) (*Invitation, error) {
	var inv *Invitation
	err := s.send(ctx, func(tx *models.DB) error {
		u, err := lockInvitable(ctx, tx, id)
		if err != nil {
			return err
		}
		inv, err = s.invite(ctx, tx, u, inviter, send)
		return err
	})
	if err != nil {
		return nil, err
	}
	return inv, nil
}

// lockInvitable locks the account id in tx and returns it if it may be
// invited: enabled, with no password and no linked identity.
func lockInvitable(ctx context.Context, tx *models.DB, id int64) (*models.User, error) {
	u, err := tx.LockUser(ctx, id)
	switch {
	case err != nil:
		return nil, err
	case u.HasPassword():
		return nil, ErrHasPassword
	case u.Disabled():
		return nil, conflict("This account is disabled: enable it before inviting its owner.")
	}
	ids, err := tx.UserIdentities(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		return nil, ErrHasIdentity
	}
	return u, nil
}

// invite stores a new invitation link for u in tx and, with send and mail
// on, queues the message that carries it.
func (s *Service) invite(ctx context.Context, tx *models.DB, u *models.User, inviter string, send bool) (*Invitation, error) {
	token, err := s.newToken()
	if err != nil {
		return nil, err
	}
	link := &models.EmailLink{TokenHash: sessionstore.Hash(token), Purpose: models.LinkInvite, UserID: u.ID, Email: u.Email}
	if err := tx.AddEmailLink(ctx, link, InviteTTL); err != nil {
		return nil, err
	}
	inv := &Invitation{User: u, Link: s.URLs.Invite + "?token=" + token, ExpiresAt: link.ExpiresAt}
	if !send || s.Mail == nil {
		return inv, nil
	}
	data := s.mailData(u)
	data["Link"], data["Inviter"], data["Days"] = inv.Link, inviter, int(InviteTTL/(24*time.Hour))
	if id := s.TrustedProvider(u.Email); id != "" && s.Mail.ProviderName != nil {
		data["Provider"] = s.Mail.ProviderName(id)
	}
	r, err := s.Mail.Mailer.Compose("invite", recipient(u), data)
	if err != nil {
		return nil, err
	}
	if err := mail.Enqueue(ctx, tx, r); err != nil {
		return nil, err
	}
	inv.Sent = true
	return inv, nil
}

// TrustedProvider is the ID of the first provider (by ID) that is trusted
// for email's domain and may link an account to it, or "": the provider an
// invited person can sign in with instead of choosing a password.
func (s *Service) TrustedProvider(email string) string {
	ids := make([]string, 0, len(s.Providers))
	for id := range s.Providers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		p := s.Providers[id]
		if p.Link != LinkNever && p.Authoritative != nil && p.Authoritative(email) {
			return id
		}
	}
	return ""
}

// InvitedUser returns the account an invitation token is for, or
// ErrInviteInvalid.
func (s *Service) InvitedUser(ctx context.Context, token string) (*models.User, error) {
	if !sessionstore.ValidToken(token) {
		return nil, ErrInviteInvalid
	}
	l, err := s.DB.EmailLinkByHash(ctx, models.LinkInvite, sessionstore.Hash(token))
	if errors.Is(err, models.ErrNotFound) {
		return nil, ErrInviteInvalid
	}
	if err != nil {
		return nil, err
	}
	u, err := s.DB.UserByID(ctx, l.UserID)
	if errors.Is(err, models.ErrNotFound) || err == nil && (u.Disabled() || u.HasPassword()) {
		return nil, ErrInviteInvalid
	}
	return u, err
}

// AcceptInvitation sets the first password of the account an invitation
// token is for, with the rules of every new password. In one transaction,
// holding the account's row, it uses up the link, checks the account may
// still be invited, stores the password (as every password change does:
// passwordChange.apply) and marks the address the link went to verified.
// A link that does not work is ErrInviteInvalid and a password the policy
// refuses an *Error, and then nothing changes.
func (s *Service) AcceptInvitation(ctx context.Context, token, pw string) (*models.User, error) {
	u, err := s.InvitedUser(ctx, token)
	if err != nil {
		return nil, err
	}
	h, err := s.hash(pw)
	if err != nil {
		return nil, err
	}
	// The person chose this password a moment ago: no notice.
	change := passwordChange{user: u, hash: &h}
	err = s.DB.Tx(ctx, func(tx *models.DB) error {
		if _, err := lockInvitable(ctx, tx, u.ID); err != nil {
			if ErrorCode(err) == CodeConflict {
				return ErrInviteInvalid // a password, an identity or disabled meanwhile
			}
			return err
		}
		l, err := tx.ConsumeEmailLink(ctx, models.LinkInvite, sessionstore.Hash(token))
		if errors.Is(err, models.ErrNotFound) {
			return ErrInviteInvalid // used or replaced meanwhile
		}
		if err != nil {
			return err
		}
		if err := tx.MarkEmailVerified(ctx, u.ID, l.Email); err != nil {
			return err
		}
		return change.apply(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	return s.DB.UserByID(ctx, u.ID)
}
