package models

import (
	"context"
	"fmt"
	"time"
)

// OutboxMail is one row of mail_outbox: a rendered message waiting to be
// delivered, delivered (SentAt), or given up on (FailedAt).
type OutboxMail struct {
	ID int64 `gorm:"primaryKey"`
	// MessageID is the random part of the message's Message-ID header.
	MessageID string
	// Recipient is the envelope recipient, the address RCPT TO names.
	Recipient string
	Subject   string
	// Body is the whole RFC 5322 message as it is submitted.
	Body          string
	CreatedAt     time.Time
	NextAttemptAt time.Time
	// Attempts counts the claims: a delivery that never reported back (its
	// process died) counts too.
	Attempts     int
	LastError    string
	Claim        *string
	ClaimedUntil *time.Time
	SentAt       *time.Time
	FailedAt     *time.Time
}

// TableName is the table the outbox lives in.
func (OutboxMail) TableName() string { return "mail_outbox" }

// maxMailError bounds the stored text of a delivery error, in bytes.
const maxMailError = 1000

// EnqueueMail adds m (MessageID, Recipient, Subject and Body; the rest is
// set here) to the outbox, due at once. Called on the tx of a Tx, the
// message is sent if and only if that transaction commits.
func (db *DB) EnqueueMail(ctx context.Context, m OutboxMail) error {
	now := db.now()
	row := OutboxMail{
		MessageID: m.MessageID, Recipient: m.Recipient, Subject: Text(m.Subject), Body: m.Body,
		CreatedAt: now, NextAttemptAt: now,
	}
	if err := db.gorm.WithContext(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("enqueue mail: %w", err)
	}
	return nil
}

// ClaimedMail is a message a worker claimed for delivery: what it needs to
// deliver and then report with MarkMailSent or MarkMailFailed.
type ClaimedMail struct {
	ID        int64
	MessageID string
	Recipient string
	Body      string
	// Attempts includes this one.
	Attempts int
	// Claim is the token MarkMailSent and MarkMailFailed must present:
	// a worker whose claim lapsed and was taken over reports nothing.
	Claim string
}

// ClaimMail claims the outbox's most overdue message, if one is due and
// unclaimed (or its claim lapsed), for lease under the token claim, and
// counts the attempt; ok is false when none is due. One statement does it:
// on PostgreSQL the row is picked FOR UPDATE SKIP LOCKED, so workers on
// every replica claim disjoint messages without waiting on each other, and
// a row another worker claimed meanwhile is re-checked and passed over;
// SQLite runs one writer at a time anyway. lease must outlast a delivery.
func (db *DB) ClaimMail(ctx context.Context, claim string, lease time.Duration) (m ClaimedMail, ok bool, err error) {
	now := db.now()
	var rows []ClaimedMail
	err = db.gorm.WithContext(ctx).Raw(`UPDATE mail_outbox SET claim = ?, claimed_until = ?, attempts = attempts + 1
		WHERE sent_at IS NULL AND failed_at IS NULL AND id = (SELECT id FROM mail_outbox
			WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)
			ORDER BY next_attempt_at, id LIMIT 1`+db.skipLocked()+`)
		RETURNING id, message_id, recipient, body, attempts, claim`, claim, now.Add(lease), now, now).Scan(&rows).Error
	if err != nil {
		return m, false, fmt.Errorf("claim mail: %w", err)
	}
	if len(rows) == 0 {
		return m, false, nil
	}
	return rows[0], true, nil
}

// MarkMailSent records the delivery of the message claimed as m and
// empties its body: a delivered body may hold a working link (an
// invitation works for a week), which the database must not keep.
func (db *DB) MarkMailSent(ctx context.Context, m ClaimedMail) error {
	err := db.gorm.WithContext(ctx).Exec(`UPDATE mail_outbox SET sent_at = ?, claim = NULL, claimed_until = NULL, last_error = '', body = ''
		WHERE id = ? AND claim = ?`, db.now(), m.ID, m.Claim).Error
	if err != nil {
		return fmt.Errorf("mark mail sent: %w", err)
	}
	return nil
}

// MailBackoff is how long after its n-th failed attempt a message is tried
// again: 1m, 2m, 4m, ... up to 1h.
func MailBackoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	if n > 7 {
		return time.Hour
	}
	return min(time.Minute<<(n-1), time.Hour)
}

// MarkMailFailed records a failed delivery of the message claimed as m:
// it is due again after MailBackoff(m.Attempts), or, when that was attempt
// maxAttempts (or the error is permanent), given up on; gaveUp says which.
func (db *DB) MarkMailFailed(ctx context.Context, m ClaimedMail, cause error, permanent bool, maxAttempts int) (gaveUp bool, err error) {
	now := db.now()
	msg := Clip(cause.Error(), maxMailError)
	gaveUp = permanent || m.Attempts >= maxAttempts
	var failedAt *time.Time
	if gaveUp {
		failedAt = &now
	}
	err = db.gorm.WithContext(ctx).Exec(`UPDATE mail_outbox SET last_error = ?, next_attempt_at = ?, failed_at = ?, claim = NULL, claimed_until = NULL
		WHERE id = ? AND claim = ?`, msg, now.Add(MailBackoff(m.Attempts)), failedAt, m.ID, m.Claim).Error
	if err != nil {
		return false, fmt.Errorf("mark mail failed: %w", err)
	}
	return gaveUp, nil
}

// FailedMail lists up to limit messages given up on, the latest first, for
// an administrator to look at and retry.
func (db *DB) FailedMail(ctx context.Context, limit int) ([]OutboxMail, error) {
	var out []OutboxMail
	err := db.gorm.WithContext(ctx).Where("failed_at IS NOT NULL").Order("failed_at DESC, id DESC").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list failed mail: %w", err)
	}
	return out, nil
}

// RetriedMail is what RetryMail tells of the message it put back: enough
// for the audit log, never the body.
type RetriedMail struct {
	ID        int64
	Recipient string
	Subject   string
}

// RetryMail puts the failed message id back in the queue, due at once with
// its attempts reset, and returns its recipient and subject (read in the
// same statement, so they are the message's that was retried). It is
// ErrNotFound unless id was given up on.
func (db *DB) RetryMail(ctx context.Context, id int64) (RetriedMail, error) {
	var rows []RetriedMail
	err := db.gorm.WithContext(ctx).Raw(`UPDATE mail_outbox SET failed_at = NULL, attempts = 0, next_attempt_at = ?
		WHERE id = ? AND failed_at IS NOT NULL AND sent_at IS NULL
		RETURNING id, recipient, subject`, db.now(), id).Scan(&rows).Error
	if err != nil {
		return RetriedMail{}, fmt.Errorf("retry mail: %w", err)
	}
	if len(rows) == 0 {
		return RetriedMail{}, ErrNotFound
	}
	return rows[0], nil
}

// CountQueuedMail counts the messages neither sent nor given up on.
func (db *DB) CountQueuedMail(ctx context.Context) (int64, error) {
	var n int64
	if err := db.gorm.WithContext(ctx).Model(&OutboxMail{}).Where("sent_at IS NULL AND failed_at IS NULL").Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count queued mail: %w", err)
	}
	return n, nil
}

// DeleteOldMail deletes up to limit messages sent before sentBefore or
// given up on before failedBefore (their bodies may carry links that are
// nobody's business once delivered), and returns how many went.
func (db *DB) DeleteOldMail(ctx context.Context, sentBefore, failedBefore time.Time, limit int) (int64, error) {
	res := db.gorm.WithContext(ctx).Exec(`DELETE FROM mail_outbox WHERE id IN (SELECT id FROM mail_outbox
		WHERE sent_at < ? OR failed_at < ? LIMIT ?`+db.skipLocked()+`)`, sentBefore, failedBefore, limit)
	if res.Error != nil {
		return 0, fmt.Errorf("delete old mail: %w", res.Error)
	}
	return res.RowsAffected, nil
}
