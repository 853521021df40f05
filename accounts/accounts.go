// Package accounts is the account policy over the data layer: password
// sign-in, account creation and password changes. Handlers and the CLI both
// call it, so every rule lives in one place that tests reach without HTTP.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/password"
)

// ErrBadCredentials is the single answer to every failed password sign-in:
// unknown email, wrong password, no password and disabled account alike, so
// the answer does not reveal which accounts exist.
var ErrBadCredentials = errors.New("incorrect email or password")

// Failure reasons recorded in the audit log (never shown to the user).
const (
	ReasonUnknownEmail  = "unknown_email"
	ReasonWrongPassword = "wrong_password"
	ReasonNoPassword    = "no_password"
	ReasonDisabled      = "disabled"
)

// LoginError is a failed sign-in; it matches ErrBadCredentials with errors.Is
// and keeps the real reason for the log.
type LoginError struct {
	Reason string
	User   *models.User // nil for an unknown email
}

func (e *LoginError) Error() string        { return ErrBadCredentials.Error() + " (" + e.Reason + ")" }
func (e *LoginError) Is(target error) bool { return target == ErrBadCredentials }

// ValidationError is a problem with what a person typed, safe to show them.
type ValidationError struct{ Msg string }

func (e *ValidationError) Error() string { return e.Msg }

// Service applies account policy.
type Service struct {
	DB     *models.DB
	Hasher *password.Hasher
	Logger *slog.Logger
}

// Authenticate checks an email and password. Every failure costs one bcrypt
// comparison so timing does not reveal which accounts exist. A success whose
// hash used a lower cost than configured is rehashed.
func (s *Service) Authenticate(ctx context.Context, email, pw string) (*models.User, error) {
	u, err := s.DB.UserByEmail(ctx, email)
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
	email := models.NormalizeEmail(n.Email)
	if !models.ValidEmail(email) {
		return nil, &ValidationError{"Enter a valid email address."}
	}
	name := strings.TrimSpace(n.Name)
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > 200 {
		return nil, &ValidationError{"Names are at most 200 characters of text."}
	}
	u := &models.User{Email: email, Name: name, IsAdmin: n.Admin}
	if n.Password != nil {
		h, err := s.Hasher.Hash(*n.Password)
		if err != nil {
			return nil, &ValidationError{policyMessage(err, s.Hasher)}
		}
		u.PasswordHash = &h
	}
	if err := s.DB.CreateUser(ctx, u); err != nil {
		if errors.Is(err, models.ErrEmailTaken) {
			return nil, &ValidationError{"An account with this email already exists."}
		}
		return nil, err
	}
	return u, nil
}

// SetPassword replaces an account's password and ends all its sessions
// (a password change must log out whoever else knew the old one).
func (s *Service) SetPassword(ctx context.Context, userID int64, pw string) error {
	h, err := s.Hasher.Hash(pw)
	if err != nil {
		return &ValidationError{policyMessage(err, s.Hasher)}
	}
	if err := s.DB.SetPasswordHash(ctx, userID, &h); err != nil {
		return err
	}
	if _, err := s.DB.DeleteUserSessions(ctx, userID, ""); err != nil {
		return fmt.Errorf("end sessions after password change: %w", err)
	}
	return nil
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
