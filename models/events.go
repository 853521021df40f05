package models

import (
	"context"
	"fmt"
	"time"
)

// Event kinds written to the audit log.
const (
	EventLoginSuccess = "login.success"
	EventLoginFailure = "login.failure"
	EventLogout       = "logout"
	EventUserCreated  = "user.created"
	EventUserDisabled = "user.disabled"
	EventUserEnabled  = "user.enabled"
	EventPasswordSet  = "user.password_set"
)

// Event is one audit log entry. It stores the email as it was, not a foreign
// key, so the log outlives deleted accounts.
type Event struct {
	ID         int64
	CreatedAt  time.Time
	Kind       string
	ActorID    *int64
	UserID     *int64
	Email      string
	Method     string
	ProviderID string
	IP         string `gorm:"column:ip"`
	Detail     string
}

// RecordEvent appends e to the audit log.
func (db *DB) RecordEvent(ctx context.Context, e *Event) error {
	e.CreatedAt = db.now()
	if err := db.gorm.WithContext(ctx).Create(e).Error; err != nil {
		return fmt.Errorf("record event %s: %w", e.Kind, err)
	}
	return nil
}

// Events returns the newest events first (at most limit).
func (db *DB) Events(ctx context.Context, limit int) ([]Event, error) {
	var es []Event
	if err := db.gorm.WithContext(ctx).Order("id DESC").Limit(limit).Find(&es).Error; err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return es, nil
}

// SSO event kinds.
const (
	EventIdentityLinked   = "identity.linked"
	EventIdentityUnlinked = "identity.unlinked"
	EventLinkFailure      = "link.failure"
	EventBackchannel      = "logout.backchannel"
)

// Re-authentication (sudo mode) and admin event kinds.
const (
	EventReauth          = "reauth.success"
	EventReauthFailure   = "reauth.failure"
	EventUserUpdated     = "user.updated"
	EventUserDeleted     = "user.deleted"
	EventPasswordRemoved = "user.password_removed"
	EventSessionRevoked  = "session.revoked"
)

// Account page (self-service) event kinds.
const (
	EventProfileUpdated        = "user.profile_updated"
	EventPasswordChangeFailure = "user.password_change_failure"
)
