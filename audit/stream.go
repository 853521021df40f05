package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/models"
)

// DefaultOutboxCap is how many deliveries may wait in audit_outbox: past
// it (a receiver down for days, or a flood of failed sign-ins) events are
// still stored, in the events table, but not queued, so nothing an
// anonymous client does grows the outbox without bound.
const DefaultOutboxCap = 100_000

// skipWarnEvery is how often at most the log says events were not queued.
const skipWarnEvery = time.Minute

// Stream is what becomes of each stored audit event: one log record and,
// with Webhook, a queued delivery. Hooks gives it to models.DB.
type Stream struct {
	// Logger receives the records; nil discards them.
	Logger *slog.Logger
	// Webhook queues each event for delivery to audit.webhook.
	Webhook bool
	// OutboxCap bounds the waiting deliveries; 0 is DefaultOutboxCap.
	OutboxCap int64
	// Kick asks the worker to deliver now (after a commit); nil: none.
	Kick    func()
	Metrics *metrics.Metrics // nil: not counted
	// Now and Rand are the clock (of the skip warning) and the source of
	// delivery IDs; nil is time.Now and crypto/rand.
	Now  func() time.Time
	Rand io.Reader

	mu       sync.Mutex
	warnedAt time.Time // the last "not queued" warning
	skipped  int64     // events not queued since then
}

// Hooks are s as models.DB.Audit.
func (s *Stream) Hooks() *models.EventHooks {
	h := &models.EventHooks{Recorded: s.recorded}
	if s.Webhook {
		h.Delivery, h.Skipped, h.OutboxCap = s.delivery, s.skip, s.OutboxCap
		if h.OutboxCap <= 0 {
			h.OutboxCap = DefaultOutboxCap
		}
	}
	return h
}

func (s *Stream) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// recorded writes e's log record and wakes the worker.
func (s *Stream) recorded(ctx context.Context, e *models.Event) {
	_ = Log(ctx, s.logger().Handler(), NewRecord(ctx, e)) // a log write has nowhere else to report
	if s.Webhook && s.Kick != nil {
		s.Kick()
	}
}

// delivery is e's outbox row: its record as JSON, and a random delivery ID.
func (s *Stream) delivery(ctx context.Context, e *models.Event) (models.AuditDelivery, error) {
	body, err := NewRecord(ctx, e).JSON()
	if err != nil {
		return models.AuditDelivery{}, err
	}
	r := s.Rand
	if r == nil {
		r = rand.Reader
	}
	var id [16]byte
	if _, err := io.ReadFull(r, id[:]); err != nil {
		return models.AuditDelivery{}, fmt.Errorf("delivery id: %w", err)
	}
	return models.AuditDelivery{EventID: e.ID, DeliveryID: hex.EncodeToString(id[:]), Kind: e.Kind, Body: string(body)}, nil
}

// skip counts an event the full outbox did not take, and says so in the
// log at most once a minute (with how many since the last time): a flood
// must not grow the log either.
func (s *Stream) skip(ctx context.Context, e *models.Event) {
	s.Metrics.AuditSkipped()
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	s.mu.Lock()
	s.skipped++
	t := now()
	if !s.warnedAt.IsZero() && t.Sub(s.warnedAt) < skipWarnEvery {
		s.mu.Unlock()
		return
	}
	n := s.skipped
	s.warnedAt, s.skipped = t, 0
	s.mu.Unlock()
	s.logger().WarnContext(ctx, "audit outbox full: events are stored but not sent to audit.webhook until the receiver catches up",
		"not_queued", n, "event_id", e.ID)
}
