package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/models"
)

// Worker defaults.
const (
	DefaultInterval    = 10 * time.Second
	DefaultTimeout     = 60 * time.Second
	DefaultMaxAttempts = 10 // 1m+2m+...+1h: given up after about 5 hours
	// maxPerPass bounds the deliveries of one DeliverDue, so a pass ends
	// (and shutdown is noticed) even with a long queue.
	maxPerPass = 100
)

// Worker delivers the outbox's due messages through Transport. Run one on
// every replica: they claim disjoint messages (models.DB.ClaimMail), so
// each message is delivered once, whichever replica takes it.
type Worker struct {
	DB        *models.DB
	Transport Transport
	// From is the envelope sender (MAIL FROM), the address of mail.from.
	From    string
	Metrics *metrics.Metrics // nil: not counted
	Logger  *slog.Logger     // nil: discarded
	// Rand makes claim tokens; nil is crypto/rand.
	Rand io.Reader
	// Interval is how often the queue is looked at (Kick looks at once);
	// Timeout bounds one delivery; the claim lasts Timeout plus a minute,
	// so it never lapses while the delivery can still succeed.
	// MaxAttempts is the attempts before a message is given up on.
	Interval, Timeout time.Duration
	MaxAttempts       int

	kick chan struct{}
}

func (w *Worker) defaults() {
	if w.Interval <= 0 {
		w.Interval = DefaultInterval
	}
	if w.Timeout <= 0 {
		w.Timeout = DefaultTimeout
	}
	if w.MaxAttempts <= 0 {
		w.MaxAttempts = DefaultMaxAttempts
	}
	if w.Rand == nil {
		w.Rand = rand.Reader
	}
	if w.Logger == nil {
		w.Logger = slog.New(slog.DiscardHandler)
	}
}

// NewWorker is a Worker delivering with mr's transport from mr's sender.
func NewWorker(db *models.DB, mr *Mailer, m *metrics.Metrics, log *slog.Logger) *Worker {
	return &Worker{DB: db, Transport: mr.Transport, From: mr.From.Address, Metrics: m, Logger: log, Rand: mr.opts.Rand, kick: make(chan struct{}, 1)}
}

// Kick asks a running worker to look at the queue now (after a flow
// enqueued a message) rather than at its next interval. It never blocks.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}: // nil (a Worker not from NewWorker): never
	default:
	}
}

// Run delivers due messages every Interval, and on Kick, until ctx ends.
// A delivery under way when ctx ends is let finish (within Timeout) and
// recorded, so shutting down neither loses nor repeats it.
func (w *Worker) Run(ctx context.Context) {
	w.defaults()
	t := time.NewTicker(w.Interval)
	defer t.Stop()
	for {
		w.DeliverDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.kick:
		}
	}
}

// DeliverDue claims and delivers due messages one at a time until none is
// due, ctx ends or maxPerPass were tried; it returns how many were tried.
func (w *Worker) DeliverDue(ctx context.Context) int {
	w.defaults()
	n := 0
	for ; n < maxPerPass && ctx.Err() == nil; n++ {
		ok, err := w.deliverOne(ctx)
		if err != nil {
			if ctx.Err() == nil {
				w.Logger.Warn("mail outbox", "err", err)
				w.Metrics.DBError("mail outbox")
			}
			break
		}
		if !ok {
			break
		}
	}
	return n
}

// deliverOne claims one due message and delivers it; ok is false when none
// was due.
func (w *Worker) deliverOne(ctx context.Context) (ok bool, err error) {
	var tok [16]byte
	if _, err := io.ReadFull(w.Rand, tok[:]); err != nil {
		return false, err
	}
	m, ok, err := w.DB.ClaimMail(ctx, hex.EncodeToString(tok[:]), w.Timeout+time.Minute)
	if err != nil || !ok {
		return false, err
	}
	// From here on, shutdown waits: the result must be recorded.
	bg := context.WithoutCancel(ctx)
	dctx, cancel := context.WithTimeout(bg, w.Timeout)
	derr := w.Transport.Deliver(dctx, Envelope{ID: m.MessageID, From: w.From, To: m.Recipient}, []byte(m.Body))
	cancel()
	rctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	if derr == nil {
		w.Metrics.MailSent()
		return true, w.DB.MarkMailSent(rctx, m)
	}
	var perm *PermanentError
	gaveUp, err := w.DB.MarkMailFailed(rctx, m, derr, errors.As(derr, &perm), w.MaxAttempts)
	if err != nil {
		return true, err
	}
	w.Metrics.MailFailed(gaveUp)
	log := w.Logger.Warn
	if gaveUp {
		log = w.Logger.Error
	}
	log("mail delivery failed", "outbox_id", m.ID, "attempt", m.Attempts, "gave_up", gaveUp, "err", derr)
	return true, nil
}
