package accounts

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse/models"
)

// ErrSetupInvalid refuses a first-administrator setup link that was used,
// has expired or never existed, or comes when an administrator exists.
var ErrSetupInvalid = &Error{Code: CodeNotFound, Msg: "This setup link is not valid."}

// AddSetupToken stores the hash of a new first-administrator setup link's
// token, valid for ttl. Every replica shares the database, so a link
// printed by any of them works on all.
func (s *Service) AddSetupToken(ctx context.Context, hash string, ttl time.Duration) error {
	return s.DB.AddSetupToken(ctx, hash, ttl)
}

// SetupTokenValid reports whether hash is an unused, unexpired setup
// link's token and no enabled administrator exists yet.
func (s *Service) SetupTokenValid(ctx context.Context, hash string) (bool, error) {
	n, err := s.DB.CountUsers(ctx, true)
	if err != nil || n > 0 {
		return false, err
	}
	return s.DB.SetupTokenValid(ctx, hash)
}

// CreateFirstAdmin creates the first administrator from a setup link: the
// token is consumed (with every other link) in the transaction that
// creates the account, and only while no enabled administrator exists, so
// concurrent uses of one link or of links from several replicas create one
// administrator at most. A refusal of what was typed (ErrSetupInvalid
// aside) leaves the link usable.
func (s *Service) CreateFirstAdmin(ctx context.Context, hash string, n NewUser) (*models.User, error) {
	n.Admin = true
	u, err := s.newUser(n)
	if err != nil {
		return nil, err
	}
	err = s.DB.Tx(ctx, func(tx *models.DB) error {
		ok, err := tx.ConsumeSetupTokens(ctx, hash)
		if err != nil {
			return err
		}
		admins, err := tx.LockAdmins(ctx)
		switch {
		case err != nil:
			return err
		case !ok || len(admins) > 0:
			return ErrSetupInvalid
		}
		return createUser(ctx, tx, u)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// createUser stores a checked new account.
func createUser(ctx context.Context, db *models.DB, u *models.User) error {
	err := db.CreateUser(ctx, u)
	if errors.Is(err, models.ErrEmailTaken) {
		return conflict("An account with this email already exists.")
	}
	return err
}
