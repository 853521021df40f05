package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/models"
)

// Worker defaults.
const (
	DefaultInterval    = 10 * time.Second
	DefaultMaxAttempts = 12 // 10s+20s+...+1h: given up after about 4.5 hours
	// DefaultBatch is how many deliveries one claim takes.
	DefaultBatch = 20
	// maxBatchesPerPass bounds one DeliverDue, so a pass ends (and
	// shutdown is noticed) even with a long queue.
	maxBatchesPerPass = 50
	// maxResponse is the most of a receiver's answer that is read: what it
	// says beyond its status is not used, and a huge (or endless) body must
	// not hold the worker until the timeout.
	maxResponse = 64 << 10
)

// Headers of a delivery.
const (
	HeaderSignature = "X-Gatehouse-Signature"
	HeaderEvent     = "X-Gatehouse-Event"
	HeaderDelivery  = "X-Gatehouse-Delivery"
	// HeaderTimestamp is when the delivery was sent (Unix seconds), signed
	// with the body: a receiver refuses an old one, so a captured delivery
	// cannot be replayed later.
	HeaderTimestamp = "X-Gatehouse-Timestamp"
)

// Backoff is how long after its n-th failed attempt a delivery is tried
// again: 10s, 20s, 40s, ... up to 1h.
func Backoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	if n > 12 {
		return time.Hour
	}
	return min(10*time.Second<<(n-1), time.Hour)
}

// Sign is the X-Gatehouse-Signature value of body sent at timestamp (the
// X-Gatehouse-Timestamp value) under secret: "sha256=" and the hex
// HMAC-SHA256 of the timestamp, a dot and the body.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp + "."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Worker POSTs the audit outbox's due deliveries to the webhook. Run one on
// every replica: they claim disjoint batches (models.DB.ClaimAuditBatch),
// so each event is delivered once, whichever replica takes it.
type Worker struct {
	DB     *models.DB
	URL    string
	Secret []byte
	// Client sends the POSTs; it is used as given but for redirects, which
	// are never followed (a 3xx is a failed delivery).
	Client  *http.Client
	Metrics *metrics.Metrics // nil: not counted
	Logger  *slog.Logger     // nil: discarded
	// Rand makes claim tokens; nil is crypto/rand.
	Rand io.Reader
	// Now stamps deliveries (X-Gatehouse-Timestamp); nil is time.Now.
	Now func() time.Time
	// Interval is how often the queue is looked at (Kick looks at once);
	// Timeout bounds one delivery; a claim lasts the batch's timeouts plus
	// a minute, so it never lapses while a delivery can still succeed.
	// MaxAttempts is the attempts before a delivery is given up on; Batch
	// how many one claim takes.
	Interval, Timeout  time.Duration
	MaxAttempts, Batch int

	kick        chan struct{}
	noRedirects bool // Client is defaults' copy that follows no redirect
}

// NewWorker is the worker of cfg (validated) over db, logging to log and
// sending with client (nil: a client of its own). The app builds it from
// the configuration alone, so a reload can build another.
func NewWorker(cfg WebhookConfig, db *models.DB, log *slog.Logger, client *http.Client) *Worker {
	return &Worker{DB: db, URL: cfg.URL, Secret: []byte(cfg.Secret), Timeout: cfg.Timeout, Logger: log, Client: client, kick: make(chan struct{}, 1)}
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
	if w.Batch <= 0 {
		w.Batch = DefaultBatch
	}
	if w.Rand == nil {
		w.Rand = rand.Reader
	}
	if w.Logger == nil {
		w.Logger = slog.New(slog.DiscardHandler)
	}
	if w.Client == nil {
		w.Client = &http.Client{}
	}
	if !w.noRedirects {
		// A copy: the caller's client is left as it was.
		c := *w.Client
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		w.Client, w.noRedirects = &c, true
	}
}

// Kick asks a running worker to look at the queue now (after an event was
// queued) rather than at its next interval. It never blocks.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}: // nil (a Worker not from NewWorker): never
	default:
	}
}

// Run delivers due events every Interval, and on Kick, until ctx ends. A
// delivery under way when ctx ends is let finish (within Timeout) and
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

// DeliverDue claims and delivers due batches until none is due, a delivery
// fails, ctx ends or maxBatchesPerPass were claimed; it returns how many
// deliveries were tried.
func (w *Worker) DeliverDue(ctx context.Context) int {
	w.defaults()
	n := 0
	for range maxBatchesPerPass {
		if ctx.Err() != nil {
			break
		}
		tried, more, err := w.deliverBatch(ctx)
		n += tried
		if err != nil {
			if ctx.Err() == nil {
				w.Logger.Warn("audit outbox", "err", err)
				w.Metrics.DBError("audit outbox")
			}
			break
		}
		if !more {
			break
		}
	}
	return n
}

// deliverBatch claims a batch and delivers it in order, stopping at the
// first failure: the rest goes back, due with the failed one's retry, so
// a receiver that is down gets nothing newer meanwhile. more is false when
// the pass should end (nothing was due, or a delivery failed).
func (w *Worker) deliverBatch(ctx context.Context) (tried int, more bool, err error) {
	var tok [16]byte
	if _, err := io.ReadFull(w.Rand, tok[:]); err != nil {
		return 0, false, err
	}
	lease := time.Duration(w.Batch)*w.Timeout + time.Minute
	batch, err := w.DB.ClaimAuditBatch(ctx, hex.EncodeToString(tok[:]), lease, w.Batch)
	if err != nil || len(batch) == 0 {
		return 0, false, err
	}
	// From here on, shutdown waits for the delivery under way: its result
	// must be recorded.
	bg := context.WithoutCancel(ctx)
	for i, d := range batch {
		if ctx.Err() != nil { // shutting down: the rest goes back as it was
			return tried, false, w.release(bg, batch[i:], w.DB.Time())
		}
		tried++
		derr := w.post(bg, d)
		rctx, cancel := context.WithTimeout(bg, 10*time.Second)
		if derr == nil {
			err = w.DB.MarkAuditDelivered(rctx, d)
			cancel()
			if err != nil {
				return tried, false, errors.Join(err, w.release(bg, batch[i+1:], w.DB.Time()))
			}
			w.Metrics.AuditDelivered()
			continue
		}
		retryAt := w.DB.Time().Add(Backoff(d.Attempts))
		gaveUp, err := w.DB.MarkAuditFailed(rctx, d, derr, retryAt, w.MaxAttempts)
		cancel()
		if err == nil {
			w.Metrics.AuditFailed(gaveUp)
			log := w.Logger.Warn
			if gaveUp {
				log = w.Logger.Error
			}
			log("audit webhook delivery failed", "event_id", d.EventID, "delivery", d.DeliveryID, "attempt", d.Attempts, "gave_up", gaveUp, "retry_in", Backoff(d.Attempts), "err", derr)
		}
		return tried, false, errors.Join(err, w.release(bg, batch[i+1:], retryAt))
	}
	return tried, len(batch) == w.Batch, nil
}

func (w *Worker) release(ctx context.Context, ds []models.ClaimedAudit, dueAt time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return w.DB.ReleaseAudit(ctx, ds, dueAt)
}

// post delivers d: nil when the receiver answered 2xx within Timeout.
func (w *Worker) post(ctx context.Context, d models.ClaimedAudit) error {
	ctx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()
	body := []byte(d.Body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gatehouse-audit")
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	ts := strconv.FormatInt(now().Unix(), 10)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(w.Secret, ts, body))
	req.Header.Set(HeaderEvent, d.Kind.String())
	req.Header.Set(HeaderDelivery, d.DeliveryID)
	resp, err := w.Client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // without the URL: its query may hold a token
		}
		return fmt.Errorf("POST: %w", err)
	}
	// Read a little, so a short answer keeps the connection for the next
	// delivery; closing the rest unread drops the connection instead.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the receiver answered HTTP %d", resp.StatusCode)
	}
	return nil
}
