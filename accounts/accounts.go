// Package accounts is the account policy over the data layer: password
// sign-in, account creation and password changes. Handlers and the CLI both
// call it, so every rule lives in one place that tests reach without HTTP.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/secrets"
	"github.com/gatehouse/gatehouse/sso"
	"github.com/go-webauthn/webauthn/webauthn"
)

// ErrBadCredentials is the single answer to every failed password sign-in:
// unknown email, wrong password, no password and disabled account alike, so
// the answer does not reveal which accounts exist.
var ErrBadCredentials = errors.New("incorrect email or password")

// Failure reasons of a password sign-in, recorded in the audit log (never
// shown to the user).
const (
	ReasonUnknownEmail  Reason = "unknown_email"
	ReasonWrongPassword Reason = "wrong_password"
	ReasonNoPassword    Reason = "no_password"
	ReasonDisabled      Reason = "disabled"
	// ReasonNotAdmin: a right password on the break-glass page of
	// login.mode sso_only, which only administrators may use; counted as
	// a failure, so the throttle tells nobody the password was right.
	ReasonNotAdmin Reason = "break_glass_not_admin"
)

// LoginError is a failed sign-in; it matches ErrBadCredentials with errors.Is
// and keeps the real reason for the log.
type LoginError struct {
	Reason Reason
	User   *models.User // nil for an unknown email
}

func (e *LoginError) Error() string {
	return ErrBadCredentials.Error() + " (" + e.Reason.String() + ")"
}
func (e *LoginError) Is(target error) bool { return target == ErrBadCredentials }

// Service applies account policy.
type Service struct {
	DB     *models.DB
	Hasher *password.Hasher
	Logger *slog.Logger
	// Providers holds each OpenID Provider's SSO policy by provider ID.
	Providers map[string]SSOPolicy
	// Mail sends messages (links, security notices); nil is mail off,
	// when links are handed to an administrator to pass on instead.
	Mail *Mail
	// URLs are the pages the links gatehouse makes open.
	URLs URLs
	// Rand is the randomness of link tokens; nil is crypto/rand.
	Rand io.Reader
	// Secrets seals second factors' secrets; without a key (nil, or
	// PostgreSQL with no secrets.key) none can be set up.
	Secrets *secrets.Box
	// Issuer names the service in authenticator apps (branding.name).
	Issuer string
	// MFAPolicy says who must sign in with a second factor.
	MFAPolicy MFAConfig
	// WebAuthn is the passkeys' relying party (RelyingParty of base_url).
	WebAuthn *webauthn.WebAuthn
}

// Authenticate checks an email and password. Every check spends one bcrypt
// comparison at the configured cost (see password.Hasher.Check) so timing
// does not reveal which accounts exist. A success whose hash has another
// cost than configured is rehashed.
func (s *Service) Authenticate(ctx context.Context, email, pw string) (*models.User, error) {
	u, err := s.userByLoginEmail(ctx, email)
	if errors.Is(err, models.ErrNotFound) {
		s.Hasher.Dummy(pw)
		return nil, &LoginError{Reason: ReasonUnknownEmail}
	}
	if err != nil {
		return nil, err
	}
	ok, rehash := s.Hasher.Check(u.PasswordHash, pw)
	switch {
	case u.Disabled():
		return nil, &LoginError{Reason: ReasonDisabled, User: u}
	case !u.HasPassword():
		return nil, &LoginError{Reason: ReasonNoPassword, User: u}
	case !ok:
		return nil, &LoginError{Reason: ReasonWrongPassword, User: u}
	}
	if rehash {
		if h, err := s.Hasher.Hash(pw); err == nil {
			if err := s.DB.SetPasswordHash(ctx, u.ID, &h); err != nil {
				s.Logger.WarnContext(ctx, "rehash password", "user_id", u.ID, "err", err)
			}
		}
	}
	return u, nil
}

// userByLoginEmail finds the account a typed email names. An address no
// account may have (one hiding invisible characters) names none, whatever
// rows an older version stored, so it is not looked up.
func (s *Service) userByLoginEmail(ctx context.Context, email string) (*models.User, error) {
	if !models.ValidEmail(sso.NormalizeEmail(email)) {
		return nil, models.ErrNotFound
	}
	return s.DB.UserByEmail(ctx, email)
}

// RecordSignIn stamps the account's last sign-in time and method.
func (s *Service) RecordSignIn(ctx context.Context, userID int64, method models.Method) error {
	return s.DB.RecordLogin(ctx, userID, method)
}

// NewUser is what creating an account takes. A nil Password makes an
// SSO-only account.
type NewUser struct {
	Email    string
	Name     string
	Admin    bool
	Password *string
}

// CreateUser validates and creates an account.
func (s *Service) CreateUser(ctx context.Context, n NewUser) (*models.User, error) {
	u, err := s.newUser(n)
	if err != nil {
		return nil, err
	}
	if err := createUser(ctx, s.DB, u); err != nil {
		return nil, err
	}
	return u, nil
}

// newUser checks a new account's email, name and password and hashes the
// password, before any transaction begins (bcrypt is slow).
func (s *Service) newUser(n NewUser) (*models.User, error) {
	email, err := checkEmail(n.Email)
	if err != nil {
		return nil, err
	}
	name, err := CheckName(n.Name)
	if err != nil {
		return nil, err
	}
	u := &models.User{Email: email, Name: name, IsAdmin: n.Admin}
	if n.Password != nil {
		h, err := s.hash(*n.Password)
		if err != nil {
			return nil, err
		}
		u.PasswordHash = &h
	}
	return u, nil
}

// MaxNameLen is the longest display name, in characters.
const MaxNameLen = 200

// CheckName trims a display name and checks it is text of at most
// MaxNameLen characters on one line, with no character that hides or
// reorders text (sso.Invisible: zero-width, bidi): a name is shown to
// administrators beside others and must read as what it is. The admin
// console, the account page and the command line apply these rules;
// just-in-time creation makes a provider's name fit them (jitName).
func CheckName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameLen:
		return "", invalid(fmt.Sprintf("Names are at most %d characters of text.", MaxNameLen))
	case strings.ContainsFunc(name, unicode.IsControl):
		return "", invalid("Names cannot contain line breaks or control characters.")
	case sso.HasInvisible(name):
		return "", invalid("Names cannot contain invisible characters (zero-width spaces or joiners, text-direction marks).")
	}
	return name, nil
}

// checkEmail normalises an email and checks its shape.
func checkEmail(email string) (string, error) {
	email = sso.NormalizeEmail(email)
	if !models.ValidEmail(email) {
		return "", invalid("Enter a valid email address.")
	}
	return email, nil
}

// hash hashes a new password, refusing one the policy does not allow.
func (s *Service) hash(pw string) (string, error) {
	h, err := s.Hasher.Hash(pw)
	if err != nil {
		return "", invalid(policyMessage(err, s.Hasher))
	}
	return h, nil
}

// SetPassword replaces an account's password and ends all its sessions
// (a password change must log out whoever else knew the old one). how
// tells the owner, in the notice, who changed it ("by an administrator").
func (s *Service) SetPassword(ctx context.Context, userID int64, pw, how string) error {
	h, err := s.hash(pw)
	if err != nil {
		return err
	}
	return s.replacePassword(ctx, userID, passwordChange{hash: &h, how: how})
}

// passwordChange is one change of an account's password: the new hash
// (nil: none), the session to keep (a token hash; "": none) and how it was
// changed, for the notice to the owner.
type passwordChange struct {
	user   *models.User
	hash   *string
	keep   string
	how    string
	notice *mail.Rendered // set by composeChange
}

// composeChange renders the change's "your password was changed" notice,
// when that notice is on.
func (s *Service) composeChange(c *passwordChange) error {
	var err error
	c.notice, err = s.notice(mail.NoticePasswordChanged, "password_changed", c.user, map[string]any{
		"How": c.how, "Removed": c.hash == nil, "KeptOne": c.keep != "",
	})
	return err
}

// apply stores the change inside the transaction tx: the new hash, every
// session of the account but keep ended, its known browsers forgotten,
// every link mailed for it deleted (a reset, an invitation, a change of
// address asked for before), and the notice queued. No
// session, browser or link that came before keeps anything from the old
// password, and a failure changes nothing. Every password change goes
// through here.
func (c *passwordChange) apply(ctx context.Context, tx *models.DB) error {
	id := c.user.ID
	if err := tx.SetPasswordHash(ctx, id, c.hash); err != nil {
		return err
	}
	if _, err := tx.DeleteUserSessions(ctx, id, c.keep); err != nil {
		return fmt.Errorf("end sessions after password change: %w", err)
	}
	if err := tx.DeleteAccountLinks(ctx, id); err != nil {
		return err
	}
	if err := tx.DeletePendingMFA(ctx, id); err != nil { // begun with the old password
		return err
	}
	if err := tx.ForgetDevices(ctx, id); err != nil {
		return err
	}
	return enqueue(ctx, tx, c.notice)
}

// replacePassword applies the change c to the account userID in a
// transaction of its own, then asks for the notice to be sent.
func (s *Service) replacePassword(ctx context.Context, userID int64, c passwordChange) error {
	u, err := s.DB.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	c.user = u
	if err := s.composeChange(&c); err != nil {
		return err
	}
	return s.send(ctx, func(tx *models.DB) error { return c.apply(ctx, tx) })
}

func policyMessage(err error, h *password.Hasher) string {
	switch {
	case errors.Is(err, password.ErrTooShort):
		return fmt.Sprintf("Use a password of at least %d characters.", h.MinLength())
	case errors.Is(err, password.ErrTooLong):
		return fmt.Sprintf("Use a password of at most %d bytes.", password.MaxBytes)
	default:
		return "Passwords must be text."
	}
}
