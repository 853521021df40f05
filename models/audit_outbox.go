package models

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

// AuditDelivery is one row of audit_outbox: an audit event's webhook
// delivery, waiting (or given up on: FailedAt). A delivered row is deleted.
type AuditDelivery struct {
	ID int64 `gorm:"primaryKey"`
	// EventID is the event's events.id (no foreign key: retention may
	// delete the event first; Body carries all of it).
	EventID int64
	// DeliveryID is the X-Gatehouse-Delivery header, the same on every
	// attempt, so a receiver can drop a repeat.
	DeliveryID string
	// Kind is the X-Gatehouse-Event header.
	Kind EventKind
	// Body is the JSON record, POSTed (and signed) byte for byte.
	Body          string
	CreatedAt     time.Time
	NextAttemptAt time.Time
	// Attempts counts the tries, a delivery whose process died included.
	Attempts     int
	LastError    string
	Claim        *string
	ClaimedUntil *time.Time
	FailedAt     *time.Time
}

// TableName is the table the webhook's outbox lives in.
func (AuditDelivery) TableName() string { return "audit_outbox" }

// maxAuditError bounds the stored text of a delivery error, in bytes.
const maxAuditError = 500

// QueueAuditDelivery adds d (EventID, DeliveryID, Kind, Body; the rest is
// set here), due at once, unless about outboxCap deliveries wait already
// (0: no bound); queued says which. RecordEvent calls it in the event's
// transaction.
//
// The bound is the span of waiting ids, newest id minus the oldest one
// waiting, two index lookups however long the queue: rows delivered out of
// order (by replicas side by side) only shorten what is let in, so more
// than outboxCap never wait (on PostgreSQL, transactions queueing at the
// same moment may each let one in).
func (db *DB) QueueAuditDelivery(ctx context.Context, d AuditDelivery, outboxCap int64) (queued bool, err error) {
	if outboxCap > 0 {
		var span []int64
		err := db.gorm.WithContext(ctx).Raw(`SELECT COALESCE((SELECT MAX(id) FROM audit_outbox) - (SELECT MIN(id) FROM audit_outbox WHERE failed_at IS NULL) + 1, 0)`).
			Scan(&span).Error
		if err != nil {
			return false, fmt.Errorf("count the audit outbox: %w", err)
		}
		if len(span) == 1 && span[0] >= outboxCap {
			return false, nil
		}
	}
	now := db.now()
	row := AuditDelivery{EventID: d.EventID, DeliveryID: d.DeliveryID, Kind: d.Kind, Body: d.Body, CreatedAt: now, NextAttemptAt: now}
	if err := db.gorm.WithContext(ctx).Create(&row).Error; err != nil {
		return false, fmt.Errorf("queue audit delivery: %w", err)
	}
	return true, nil
}

// ClaimedAudit is a delivery a worker claimed: what it POSTs, and the claim
// token MarkAuditDelivered, MarkAuditFailed and ReleaseAudit must present
// (a worker whose claim lapsed and was taken over reports nothing).
type ClaimedAudit struct {
	ID         int64
	EventID    int64
	DeliveryID string
	Kind       EventKind
	Body       string
	// Attempts includes this one.
	Attempts int
	Claim    string
}

// ClaimAuditBatch claims up to limit due deliveries, oldest first, under
// the token claim for lease, counting an attempt for each; none when the
// queue is empty or waits. Only the deliveries older than every one still
// backing off are due: a receiver that failed one (it is down, most
// likely) gets nothing newer until that one is tried again, so a single
// worker delivers in the order events were created. On PostgreSQL the rows
// are picked FOR UPDATE SKIP LOCKED, so workers on every replica claim
// disjoint batches without waiting on each other (each batch in order, the
// batches side by side); SQLite runs one writer at a time anyway. lease
// must outlast the batch's deliveries.
func (db *DB) ClaimAuditBatch(ctx context.Context, claim string, lease time.Duration, limit int) ([]ClaimedAudit, error) {
	now := db.now()
	pick := `SELECT id FROM audit_outbox
		WHERE failed_at IS NULL AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)
			AND id < COALESCE((SELECT MIN(id) FROM audit_outbox WHERE failed_at IS NULL AND next_attempt_at > ?), ?)
		ORDER BY id LIMIT ?` + db.skipLocked()
	// On PostgreSQL the pick is an ARRAY(...), evaluated once: as IN (...)
	// it may run again for each row, each run skipping the rows this very
	// statement has just locked and taking others, past the LIMIT.
	in := `id IN (` + pick + `)`
	if db.dialect == Postgres {
		in = `id = ANY(ARRAY(` + pick + `))`
	}
	var rows []ClaimedAudit
	err := db.gorm.WithContext(ctx).Raw(`UPDATE audit_outbox SET claim = ?, claimed_until = ?, attempts = attempts + 1
		WHERE failed_at IS NULL AND (claimed_until IS NULL OR claimed_until <= ?) AND `+in+`
		RETURNING id, event_id, delivery_id, kind, body, attempts, claim`,
		claim, now.Add(lease), now, now, now, now, int64(math.MaxInt64), limit).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("claim audit deliveries: %w", err)
	}
	// RETURNING promises no order.
	slices.SortFunc(rows, func(a, b ClaimedAudit) int { return cmp.Compare(a.ID, b.ID) })
	return rows, nil
}

// MarkAuditDelivered deletes the delivered row claimed as d: the receiver
// has it, and the events table keeps the event.
func (db *DB) MarkAuditDelivered(ctx context.Context, d ClaimedAudit) error {
	if err := db.gorm.WithContext(ctx).Exec(`DELETE FROM audit_outbox WHERE id = ? AND claim = ?`, d.ID, d.Claim).Error; err != nil {
		return fmt.Errorf("mark audit delivered: %w", err)
	}
	return nil
}

// MarkAuditFailed records a failed attempt of the delivery claimed as d:
// it is due again at retryAt, or, when that was attempt maxAttempts, given
// up on (kept with failed_at for inspection); gaveUp says which.
func (db *DB) MarkAuditFailed(ctx context.Context, d ClaimedAudit, cause error, retryAt time.Time, maxAttempts int) (gaveUp bool, err error) {
	now := db.now()
	msg := Clip(cause.Error(), maxAuditError)
	gaveUp = d.Attempts >= maxAttempts
	var failedAt *time.Time
	if gaveUp {
		failedAt = &now
	}
	err = db.gorm.WithContext(ctx).Exec(`UPDATE audit_outbox SET last_error = ?, next_attempt_at = ?, failed_at = ?, claim = NULL, claimed_until = NULL
		WHERE id = ? AND claim = ?`, msg, stored(retryAt), failedAt, d.ID, d.Claim).Error
	if err != nil {
		return false, fmt.Errorf("mark audit delivery failed: %w", err)
	}
	return gaveUp, nil
}

// ReleaseAudit gives back the claimed deliveries ds, never tried (their
// batch stopped at a failure, or at shutdown): their attempts are uncounted
// and they are due at dueAt, so they wait behind the one that failed.
func (db *DB) ReleaseAudit(ctx context.Context, ds []ClaimedAudit, dueAt time.Time) error {
	if len(ds) == 0 {
		return nil
	}
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	err := db.gorm.WithContext(ctx).Exec(`UPDATE audit_outbox SET attempts = attempts - 1, next_attempt_at = ?, claim = NULL, claimed_until = NULL
		WHERE id IN ? AND claim = ?`, stored(dueAt), ids, ds[0].Claim).Error
	if err != nil {
		return fmt.Errorf("release audit deliveries: %w", err)
	}
	return nil
}

// CountQueuedAudit counts the deliveries waiting (not given up on).
func (db *DB) CountQueuedAudit(ctx context.Context) (int64, error) {
	var n int64
	if err := db.gorm.WithContext(ctx).Model(&AuditDelivery{}).Where("failed_at IS NULL").Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count queued audit deliveries: %w", err)
	}
	return n, nil
}

// FailedAudit lists up to limit deliveries given up on, the latest first.
func (db *DB) FailedAudit(ctx context.Context, limit int) ([]AuditDelivery, error) {
	var out []AuditDelivery
	err := db.gorm.WithContext(ctx).Where("failed_at IS NOT NULL").Order("failed_at DESC, id DESC").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list failed audit deliveries: %w", err)
	}
	return out, nil
}

// DeleteFailedAudit deletes up to limit deliveries given up on before
// before, and returns how many went (the sweep).
func (db *DB) DeleteFailedAudit(ctx context.Context, before time.Time, limit int) (int64, error) {
	res := db.gorm.WithContext(ctx).Exec(`DELETE FROM audit_outbox WHERE id IN (SELECT id FROM audit_outbox
		WHERE failed_at < ? LIMIT ?`+db.skipLocked()+`)`, stored(before), limit)
	if res.Error != nil {
		return 0, fmt.Errorf("delete failed audit deliveries: %w", res.Error)
	}
	return res.RowsAffected, nil
}
