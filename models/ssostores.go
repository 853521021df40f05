package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/sso"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// clientRegistration is the row behind sso.ClientRegistration.
type clientRegistration struct {
	ProviderID              string `gorm:"primaryKey"`
	Issuer                  string `gorm:"primaryKey"`
	ClientID                string
	ClientSecret            string
	RegistrationAccessToken string
	RegistrationClientURI   string
	Raw                     string
	CreatedAt               time.Time
}

func (clientRegistration) TableName() string { return "client_registrations" }

var (
	_ sso.RegistrationStore = (*DB)(nil)
	_ sso.ReplayStore       = (*DB)(nil)
)

// Registration implements sso.RegistrationStore: the stored dynamic
// registration for a provider and issuer, or nil.
func (db *DB) Registration(ctx context.Context, providerID, issuer string) (*sso.ClientRegistration, error) {
	var r clientRegistration
	err := db.gorm.WithContext(ctx).Where("provider_id = ? AND issuer = ?", providerID, issuer).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load client registration: %w", err)
	}
	return &sso.ClientRegistration{
		ProviderID: r.ProviderID, Issuer: r.Issuer, ClientID: r.ClientID, ClientSecret: r.ClientSecret,
		RegistrationAccessToken: r.RegistrationAccessToken, RegistrationClientURI: r.RegistrationClientURI,
		Raw: []byte(r.Raw), CreatedAt: r.CreatedAt,
	}, nil
}

// SaveRegistration implements sso.RegistrationStore. Insert-if-absent, then
// read back: when two replicas register at once, both use the first stored.
func (db *DB) SaveRegistration(ctx context.Context, reg *sso.ClientRegistration) (*sso.ClientRegistration, error) {
	row := clientRegistration{
		ProviderID: reg.ProviderID, Issuer: reg.Issuer, ClientID: reg.ClientID, ClientSecret: reg.ClientSecret,
		RegistrationAccessToken: reg.RegistrationAccessToken, RegistrationClientURI: reg.RegistrationClientURI,
		Raw: string(reg.Raw), CreatedAt: db.now(),
	}
	if err := db.gorm.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return nil, fmt.Errorf("save client registration: %w", err)
	}
	stored, err := db.Registration(ctx, reg.ProviderID, reg.Issuer)
	if err == nil && stored == nil {
		err = errors.New("client registration vanished after save")
	}
	return stored, err
}

var _ sso.RegistrationLocker = (*DB)(nil)

// WithRegistrationLock implements sso.RegistrationLocker. On PostgreSQL fn
// runs in a transaction that first takes an advisory lock on the provider
// and issuer, and reads and saves through that transaction: replicas on
// their first use take turns, the first registers at the OP and commits,
// and the next, let in after that commit, finds the registration instead
// of registering a client of its own (before this, two replicas starting
// together left two clients at the OP, one of them unused). The lock is
// held across the registration request, which the provider's timeout
// bounds; it happens once per provider and issuer. SQLite has one process
// per file in practice, and its write lock would be held across the
// request, so fn runs as it is (insert-if-absent still keeps one).
func (db *DB) WithRegistrationLock(ctx context.Context, providerID, issuer string, fn func(ctx context.Context, store sso.RegistrationStore) error) error {
	if db.dialect != Postgres {
		return fn(ctx, db)
	}
	return db.Tx(ctx, func(tx *DB) error {
		if err := tx.serialise(ctx, "client_registration "+providerID+" "+issuer); err != nil {
			return err
		}
		return fn(ctx, tx)
	})
}

// logoutJTI is a back-channel logout token ID already accepted.
type logoutJTI struct {
	Issuer    string `gorm:"primaryKey"`
	JTI       string `gorm:"primaryKey;column:jti"`
	ExpiresAt time.Time
}

func (logoutJTI) TableName() string { return "logout_jtis" }

// Remember implements sso.ReplayStore: it records (issuer, jti) until
// expiresAt and reports false when it was already there.
func (db *DB) Remember(ctx context.Context, issuer, jti string, expiresAt time.Time) (bool, error) {
	res := db.gorm.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		Create(&logoutJTI{Issuer: issuer, JTI: jti, ExpiresAt: expiresAt.UTC()})
	if res.Error != nil {
		return false, fmt.Errorf("remember logout token: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}
