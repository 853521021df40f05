package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/sso"
	"gorm.io/gorm"
)

// ErrIdentityTaken is returned when an SSO identity is already linked to an account.
var ErrIdentityTaken = errors.New("this sign-in is already linked to an account")

// Identity links an OpenID Provider account (issuer + subject) to a local
// account. A returning SSO user is found by issuer and subject, never by
// email: emails change and can be reassigned at the provider.
type Identity struct {
	ID          int64
	UserID      int64
	ProviderID  string
	Issuer      string
	Subject     string
	Email       string
	Claims      string
	CreatedAt   time.Time
	LastLoginAt *time.Time
	// RefreshToken is the provider's refresh token, sealed (secrets.Box),
	// for the offline check; nil without one.
	RefreshToken []byte
	// ConfirmedAt is when the provider last vouched for the person: a
	// sign-in or a successful offline check. RevokedAt is when it said the
	// person is gone (the check's definite no); a later sign-in clears it.
	ConfirmedAt, RevokedAt *time.Time
	// CheckAt is when the next offline check is due; nil: none.
	CheckAt *time.Time
}

// NewIdentity is the row linking the verified identity id, signed in
// through providerID, to the account userID.
func NewIdentity(userID int64, providerID string, id *sso.Identity) *Identity {
	return &Identity{
		UserID: userID, ProviderID: providerID, Issuer: id.Issuer, Subject: id.Subject,
		Email: sso.NormalizeEmail(id.Email), Claims: string(id.Claims),
	}
}

// IdentityBySubject finds the identity for (issuer, subject).
func (db *DB) IdentityBySubject(ctx context.Context, issuer, subject string) (*Identity, error) {
	var id Identity
	err := db.gorm.WithContext(ctx).Where("issuer = ? AND subject = ?", issuer, subject).Take(&id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find identity: %w", err)
	}
	return &id, nil
}

// CreateIdentity links an identity, stamping it as just used and
// confirmed by its provider.
func (db *DB) CreateIdentity(ctx context.Context, id *Identity) error {
	now := db.now()
	id.CreatedAt, id.LastLoginAt, id.ConfirmedAt = now, &now, &now
	if err := db.gorm.WithContext(ctx).Create(id).Error; err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return ErrIdentityTaken
		}
		return fmt.Errorf("link identity: %w", err)
	}
	return nil
}

// TouchIdentity records a sign-in through the identity with the latest email
// and claims the provider sent: the provider confirms the person, so a
// revocation it reported before no longer stands.
func (db *DB) TouchIdentity(ctx context.Context, id int64, email, claims string) error {
	now := db.now()
	err := db.gorm.WithContext(ctx).Model(&Identity{}).Where("id = ?", id).
		Updates(map[string]any{"email": email, "claims": claims, "last_login_at": now, "confirmed_at": now, "revoked_at": nil}).Error
	if err != nil {
		return fmt.Errorf("touch identity %d: %w", id, err)
	}
	return nil
}

// UserIdentities lists the identities linked to a user.
func (db *DB) UserIdentities(ctx context.Context, userID int64) ([]Identity, error) {
	var ids []Identity
	if err := db.gorm.WithContext(ctx).Where("user_id = ?", userID).Order("created_at").Find(&ids).Error; err != nil {
		return nil, fmt.Errorf("list identities of user %d: %w", userID, err)
	}
	return ids, nil
}

// DeleteSessionsBySID ends the sessions a provider session created
// (Back-Channel Logout 1.0 §2.7: by sid when present, else by sub).
func (db *DB) DeleteSessionsBySID(ctx context.Context, issuer, subject, sid string) (int64, error) {
	q := db.gorm.WithContext(ctx).Where("issuer = ?", issuer)
	switch {
	case sid != "" && subject != "":
		q = q.Where("sid = ? AND subject = ?", sid, subject)
	case sid != "":
		q = q.Where("sid = ?", sid)
	case subject != "":
		q = q.Where("subject = ?", subject)
	default:
		return 0, errors.New("delete sessions: need a sid or a subject")
	}
	res := q.Delete(&Session{})
	if res.Error != nil {
		return 0, fmt.Errorf("end provider sessions: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// ErrAmbiguous is a lookup that found more than one row where one was
// meant.
var ErrAmbiguous = errors.New("more than one match")

// ProviderIdentityBySubject is provider's identity with subject (under
// any issuer of it), ErrNotFound, or ErrAmbiguous when identities of two
// issuers have it.
func (db *DB) ProviderIdentityBySubject(ctx context.Context, providerID, subject string) (*Identity, error) {
	var ids []Identity
	err := db.gorm.WithContext(ctx).Where("provider_id = ? AND subject = ?", providerID, subject).Order("id").Limit(2).Find(&ids).Error
	if err != nil {
		return nil, fmt.Errorf("find identity: %w", err)
	}
	switch len(ids) {
	case 0:
		return nil, ErrNotFound
	case 1:
		return &ids[0], nil
	}
	return nil, ErrAmbiguous
}

// ProviderIdentities lists the identities signed in through providerID,
// oldest first, at most limit.
func (db *DB) ProviderIdentities(ctx context.Context, providerID string, limit int) ([]Identity, error) {
	var ids []Identity
	err := db.gorm.WithContext(ctx).Where("provider_id = ?", providerID).Order("id").Limit(limit).Find(&ids).Error
	if err != nil {
		return nil, fmt.Errorf("list identities of %s: %w", providerID, err)
	}
	return ids, nil
}

// RekeyIdentity moves the identity id from (fromIssuer, fromSubject) to a
// new issuer and subject, and the sessions it signed in with; the unique
// key refuses one linked already (ErrIdentityTaken), and an identity no
// longer at its old key is ErrNotFound.
func (db *DB) RekeyIdentity(ctx context.Context, id int64, fromIssuer, fromSubject, issuer, subject string) error {
	res := db.gorm.WithContext(ctx).Model(&Identity{}).Where("id = ? AND issuer = ? AND subject = ?", id, fromIssuer, fromSubject).
		Updates(map[string]any{"issuer": issuer, "subject": subject})
	if errors.Is(res.Error, gorm.ErrDuplicatedKey) {
		return ErrIdentityTaken
	}
	if res.Error != nil {
		return fmt.Errorf("rekey identity: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return ErrNotFound
	}
	err := db.gorm.WithContext(ctx).Model(&Session{}).Where("issuer = ? AND subject = ?", fromIssuer, fromSubject).
		Updates(map[string]any{"issuer": issuer, "subject": subject}).Error
	if err != nil {
		return fmt.Errorf("rekey sessions: %w", err)
	}
	return nil
}
