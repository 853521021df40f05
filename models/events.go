package models

import (
	"context"
	"fmt"
	"time"
)

// EventKind names what an audit event records. Its values are stored and
// filtered on (an exact kind, or a prefix such as "login."), so they never
// change once written.
type EventKind string

// String returns the stored form.
func (k EventKind) String() string { return string(k) }

// Event kinds written to the audit log.
const (
	EventLoginSuccess EventKind = "login.success"
	EventLoginFailure EventKind = "login.failure"
	// EventBreakGlass: an administrator's right password on the
	// break-glass page of login.mode sso_only.
	EventBreakGlass   EventKind = "login.break_glass"
	EventLogout       EventKind = "logout"
	EventUserCreated  EventKind = "user.created"
	EventUserDisabled EventKind = "user.disabled"
	EventUserEnabled  EventKind = "user.enabled"
	EventPasswordSet  EventKind = "user.password_set"
)

// Event is one audit log entry. It stores the email as it was, not a foreign
// key, so the log outlives deleted accounts.
type Event struct {
	ID         int64
	CreatedAt  time.Time
	Kind       EventKind
	ActorID    *int64
	UserID     *int64
	Email      string
	Method     Method
	ProviderID string
	IP         string `gorm:"column:ip"`
	Detail     string
	// Trace is an SSO sign-in's decision trace (accounts.Trace, JSON); ""
	// for other events.
	Trace string
}

// EventHooks are what RecordEvent does with an event beyond storing it: the
// audit stream (package audit) sets them through DB.Audit, so this package
// stores and queues but holds no policy of logging or delivery. Every field
// is optional.
type EventHooks struct {
	// Recorded is called with each event once it is stored: after the
	// transaction it was written in commits, and never for an event whose
	// insert failed or was rolled back. It must not block.
	Recorded func(context.Context, *Event)
	// Delivery, when set, makes RecordEvent queue each event for the
	// webhook: the row it returns goes into audit_outbox in the event's
	// transaction, so a delivery exists if and only if its event does. It
	// is called after the insert (e.ID and e.CreatedAt are set).
	Delivery func(context.Context, *Event) (AuditDelivery, error)
	// OutboxCap bounds the deliveries waiting in audit_outbox: while about
	// that many wait (see QueueAuditDelivery), an event is still stored but
	// not queued, and Skipped is called after the commit. 0 is no bound.
	OutboxCap int64
	Skipped   func(context.Context, *Event)
}

// RecordEvent appends e to the audit log and, with DB.Audit set, queues
// its webhook delivery in the same transaction and calls the hooks once the
// event is stored.
func (db *DB) RecordEvent(ctx context.Context, e *Event) error {
	h := db.audit.Load()
	if h == nil {
		h = &EventHooks{}
	}
	e.CreatedAt = db.now()
	skipped := false
	insert := func(tx *DB) error {
		if err := tx.gorm.WithContext(ctx).Create(e).Error; err != nil {
			return fmt.Errorf("record event %s: %w", e.Kind, err)
		}
		if h.Delivery == nil {
			return nil
		}
		// The delivery in a savepoint of its own: one that cannot be
		// queued is skipped (and reported), never the event with it.
		err := tx.Tx(ctx, func(sp *DB) error {
			d, err := h.Delivery(ctx, e)
			if err != nil {
				return err
			}
			queued, err := sp.QueueAuditDelivery(ctx, d, h.OutboxCap)
			skipped = !queued
			return err
		})
		if err != nil {
			skipped = true
		}
		return nil
	}
	var err error
	if h.Delivery == nil {
		err = insert(db) // one statement: no transaction of its own
	} else {
		err = db.Tx(ctx, insert)
	}
	if err != nil {
		return err
	}
	db.afterCommit(func() {
		if skipped && h.Skipped != nil {
			h.Skipped(ctx, e)
		}
		if h.Recorded != nil {
			h.Recorded(ctx, e)
		}
	})
	return nil
}

// DeleteEventsBefore deletes at most batch audit events older than before,
// oldest first, and returns how many went: the retention sweep calls it
// until a batch comes back short, so each statement holds the write lock
// briefly however large the backlog.
func (db *DB) DeleteEventsBefore(ctx context.Context, before time.Time, batch int) (int64, error) {
	res := db.gorm.WithContext(ctx).Exec(`DELETE FROM events WHERE id IN (
		SELECT id FROM events WHERE created_at < ? ORDER BY created_at, id LIMIT ?`+db.skipLocked()+`)`, before.UTC(), batch)
	if res.Error != nil {
		return 0, fmt.Errorf("delete old events: %w", res.Error)
	}
	return res.RowsAffected, nil
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
	EventIdentityLinked   EventKind = "identity.linked"
	EventIdentityUnlinked EventKind = "identity.unlinked"
	EventLinkFailure      EventKind = "link.failure"
	EventLinkCancelled    EventKind = "link.cancelled" // the person left the password-proof page: no proof was tried
	EventBackchannel      EventKind = "logout.backchannel"
)

// Re-authentication (sudo mode) and admin event kinds.
const (
	EventReauth          EventKind = "reauth.success"
	EventReauthFailure   EventKind = "reauth.failure"
	EventUserUpdated     EventKind = "user.updated"
	EventUserDeleted     EventKind = "user.deleted"
	EventPasswordRemoved EventKind = "user.password_removed"
	EventSessionRevoked  EventKind = "session.revoked"
)

// Account page (self-service) event kinds.
const (
	EventProfileUpdated        EventKind = "user.profile_updated"
	EventPasswordChangeFailure EventKind = "user.password_change_failure"
)

// Password reset ("Forgot password?") event kinds. The token is never
// recorded.
const (
	EventPasswordResetRequested EventKind = "password_reset.requested"
	EventPasswordResetCompleted EventKind = "password_reset.completed"
)

// Invitation and email address event kinds. Links are never recorded.
const (
	EventInvitationSent     EventKind = "invitation.sent"
	EventInvitationLinked   EventKind = "invitation.link_copied" // an administrator took the link to pass on
	EventInvitationAccepted EventKind = "invitation.accepted"
	EventEmailVerifyRequest EventKind = "email.verification_sent"
	EventEmailVerified      EventKind = "email.verified"
	EventEmailChangeRequest EventKind = "email.change_requested"
	EventEmailChanged       EventKind = "email.changed"
)

// Second-factor event kinds. Codes and secrets are never recorded.
const (
	EventMFAEnrolled      EventKind = "mfa.enrolled"
	EventMFARemoved       EventKind = "mfa.removed"
	EventMFARecoveryUsed  EventKind = "mfa.recovery_used"
	EventMFARecoveryCodes EventKind = "mfa.recovery_codes"
	EventMFAFailure       EventKind = "mfa.failure"
)

// EventIdentityRekeyed: an identity was given a new issuer and subject
// (gatehouse identities rekey); the detail names both.
const EventIdentityRekeyed EventKind = "identity.rekeyed"

// Group sync event kinds: an SSO sign-in made an account an administrator
// or not, as the provider's admin_groups said (the detail names the
// provider and group).
const (
	EventAdminGranted EventKind = "admin.granted"
	EventAdminRevoked EventKind = "admin.revoked"
)

// Outbox event kinds: an administrator's actions on mail. The message's
// body (it may hold a link) is never recorded.
const (
	EventMailRetried EventKind = "mail.retried"
)

// IdentityEvents lists the newest events (at most limit) about userID's
// sign-ins through providerID: successes and refusals with their decision
// traces, links, revocations.
func (db *DB) IdentityEvents(ctx context.Context, userID int64, providerID string, limit int) ([]Event, error) {
	var es []Event
	err := db.gorm.WithContext(ctx).
		Where("user_id = ? AND provider_id = ? AND kind IN ?", userID, providerID,
			[]EventKind{EventLoginSuccess, EventLoginFailure, EventIdentityLinked, EventIdentityRevoked, EventIdentityRekeyed}).
		Order("id DESC").Limit(limit).Find(&es).Error
	if err != nil {
		return nil, fmt.Errorf("list events of an identity: %w", err)
	}
	return es, nil
}
