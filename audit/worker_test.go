package audit_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/audit"
	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/testkit"
	"github.com/prometheus/client_golang/prometheus"
)

const secret = "test-webhook-secret-0123456789"

// Receiver modes.
const (
	accept   = iota
	fail500  // 500 at once
	hang     // no answer until the client gives up
	huge     // 500 with a body that never ends
	redirect // 302 to a URL that would accept
)

// delivery is one POST the receiver took.
type delivery struct {
	header http.Header
	body   []byte
	mode   int
}

// receiver is a loopback webhook receiver whose answer the test sets.
type receiver struct {
	*httptest.Server
	mode atomic.Int32
	mu   sync.Mutex
	got  []delivery
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/elsewhere" {
			t.Errorf("a redirect was followed")
			return
		}
		body, _ := io.ReadAll(req.Body)
		mode := int(r.mode.Load())
		r.mu.Lock()
		r.got = append(r.got, delivery{header: req.Header.Clone(), body: body, mode: mode})
		r.mu.Unlock()
		switch mode {
		case fail500:
			http.Error(w, "down", http.StatusInternalServerError)
		case hang:
			<-req.Context().Done()
		case huge:
			w.WriteHeader(http.StatusInternalServerError)
			chunk := bytes.Repeat([]byte("x"), 64<<10)
			for range 16 { // 1 MiB, then nothing until the client leaves
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			w.(http.Flusher).Flush()
			<-req.Context().Done()
		case redirect:
			http.Redirect(w, req, "/elsewhere", http.StatusFound)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

// accepted is what the receiver accepted, in order.
func (r *receiver) accepted() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []delivery
	for _, d := range r.got {
		if d.mode == accept {
			out = append(out, d)
		}
	}
	return out
}

// all is every POST the receiver took, in order.
func (r *receiver) all() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// openDB opens database with the test's clock and the audit stream queueing
// for the webhook; logs go to buf when it is not nil.
func openDB(t *testing.T, database string, c *testkit.Clock, s *audit.Stream) *models.DB {
	t.Helper()
	db, err := models.Open(database)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.Now = c.Now
	if s == nil {
		s = &audit.Stream{}
	}
	s.Webhook = true
	db.SetAudit(s.Hooks())
	return db
}

func newClock() *testkit.Clock { return testkit.NewClock(time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC)) }

// recordEvents records n logouts of distinct accounts, ids from first.
func recordEvents(t *testing.T, db *models.DB, first, n int) {
	t.Helper()
	for i := first; i < first+n; i++ {
		id := int64(i)
		ctx := audit.WithRequestID(t.Context(), fmt.Sprintf("req-%d", i))
		if err := db.RecordEvent(ctx, &models.Event{Kind: models.EventLogout, UserID: &id, Email: fmt.Sprintf("u%d@example.org", i), Method: models.MethodPassword, IP: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
	}
}

func newWorker(db *models.DB, url string) *audit.Worker {
	return audit.NewWorker(audit.WebhookConfig{URL: url, Secret: secret, Timeout: 2 * time.Second}, db, nil, nil)
}

// subjects are the subject ids of deliveries, in order.
func subjects(t *testing.T, ds []delivery) []int64 {
	t.Helper()
	var out []int64
	for _, d := range ds {
		var r audit.Record
		if err := json.Unmarshal(d.body, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, *r.Subject.ID)
	}
	return out
}

// TestWebhookDelivers: each event is POSTed once as its schema 1 record,
// signed with HMAC-SHA256 of the exact body under the secret, with its
// kind and a delivery ID of its own in the headers, and leaves the outbox.
func TestWebhookDelivers(t *testing.T) {
	t.Parallel()
	c := newClock()
	db := openDB(t, testkit.Database(t, "a.db"), c, nil)
	rc := newReceiver(t)
	recordEvents(t, db, 1, 3)
	w := newWorker(db, rc.URL+"/hook?token=abc")
	if n := w.DeliverDue(t.Context()); n != 3 {
		t.Fatalf("tried %d", n)
	}
	got := rc.accepted()
	if len(got) != 3 {
		t.Fatalf("received %d", len(got))
	}
	events, err := db.Events(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for i, d := range got {
		mac := hmac.New(sha256.New, []byte(secret))
		ts := d.header.Get("X-Gatehouse-Timestamp")
		if n, err := strconv.ParseInt(ts, 10, 64); err != nil || time.Since(time.Unix(n, 0)).Abs() > time.Minute {
			t.Errorf("X-Gatehouse-Timestamp %q", ts)
		}
		mac.Write([]byte(ts + "."))
		mac.Write(d.body)
		if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); d.header.Get("X-Gatehouse-Signature") != want {
			t.Errorf("signature %q, want %q", d.header.Get("X-Gatehouse-Signature"), want)
		}
		if ct := d.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		if ev := d.header.Get("X-Gatehouse-Event"); ev != "logout" {
			t.Errorf("X-Gatehouse-Event %q", ev)
		}
		id := d.header.Get("X-Gatehouse-Delivery")
		if len(id) != 32 || ids[id] {
			t.Errorf("X-Gatehouse-Delivery %q (seen: %v)", id, ids[id])
		}
		ids[id] = true
		e := events[len(events)-1-i] // Events is newest first
		want, _ := audit.NewRecord(audit.WithRequestID(t.Context(), fmt.Sprintf("req-%d", i+1)), &e).JSON()
		if !bytes.Equal(d.body, want) {
			t.Errorf("body %s\nwant %s", d.body, want)
		}
	}
	if n, _ := db.CountQueuedAudit(t.Context()); n != 0 {
		t.Fatalf("queued %d", n)
	}
	if n := w.DeliverDue(t.Context()); n != 0 {
		t.Fatalf("delivered again: %d", n)
	}
}

// TestWebhookFailuresThenRecovery: a receiver that answers 500, then hangs
// past the timeout, then sends a 500 with an endless body (cut at the size
// cap, long before the timeout) holds the queue, retried after 10s, 20s,
// 40s by the injected clock and never sooner, while newer events wait
// behind the first; once it recovers every event arrives exactly once, in
// the order they were created, and the metrics counted it all.
func TestWebhookFailuresThenRecovery(t *testing.T) {
	t.Parallel()
	c := newClock()
	db := openDB(t, testkit.Database(t, "a.db"), c, nil)
	rc := newReceiver(t)
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	m.CountAuditQueueWith(db.CountQueuedAudit)
	var logs testkit.LogBuffer
	w := newWorker(db, rc.URL)
	w.Metrics, w.Logger = m, slog.New(slog.NewTextHandler(&logs, nil))
	recordEvents(t, db, 1, 3)

	for i, mode := range []int{fail500, hang, huge} {
		rc.mode.Store(int32(mode))
		w.Timeout = 5 * time.Second
		if mode == hang {
			w.Timeout = 300 * time.Millisecond
		}
		start := time.Now()
		if n := w.DeliverDue(t.Context()); n != 1 {
			t.Fatalf("failure %d: tried %d", i+1, n)
		}
		took := time.Since(start)
		if mode == hang && took < w.Timeout {
			t.Fatalf("hang: gave up after %v, before the timeout", took)
		}
		if took > 3*time.Second {
			t.Fatalf("mode %d: took %v: the timeout or the size cap did not hold", mode, took)
		}
		recordEvents(t, db, 4+i, 1) // a newer event, due at once
		if n := w.DeliverDue(t.Context()); n != 0 {
			t.Fatalf("failure %d: tried again at once", i+1)
		}
		wait := audit.Backoff(i + 1)
		c.Advance(wait - time.Second)
		if n := w.DeliverDue(t.Context()); n != 0 {
			t.Fatalf("failure %d: tried again before %v", i+1, wait)
		}
		c.Advance(time.Second)
	}
	if got := subjects(t, rc.all()); fmt.Sprint(got) != "[1 1 1]" {
		t.Fatalf("failed attempts were for %v, want the oldest event each time", got)
	}
	rc.mode.Store(accept)
	if n := w.DeliverDue(t.Context()); n != 6 {
		t.Fatalf("tried %d after recovery", n)
	}
	c.Advance(48 * time.Hour)
	w.DeliverDue(t.Context())
	if got := subjects(t, rc.accepted()); fmt.Sprint(got) != "[1 2 3 4 5 6]" {
		t.Fatalf("delivered %v, want each event once, in order", got)
	}
	got := testkit.ParseMetrics(t, gatheredText(t, reg))
	for name, want := range map[string]float64{
		"gatehouse_audit_webhook_delivered_total": 6, `gatehouse_audit_webhook_failed_total{outcome="retry"}`: 3, "gatehouse_audit_outbox_queue": 0,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	if l := logs.String(); strings.Count(l, "audit webhook delivery failed") != 3 || strings.Contains(l, "127.0.0.1") {
		t.Errorf("log (3 failures, no receiver URL):\n%s", l)
	}
}

// gatheredText is reg in the text exposition format.
func gatheredText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	metrics.Handler(reg, slog.New(slog.DiscardHandler)).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

// TestWebhookGivesUp: a receiver that redirects (never followed) fails the
// delivery; after MaxAttempts it is given up on, kept with its last error,
// and the events behind it go on.
func TestWebhookGivesUp(t *testing.T) {
	t.Parallel()
	c := newClock()
	db := openDB(t, testkit.Database(t, "a.db"), c, nil)
	rc := newReceiver(t)
	w := newWorker(db, rc.URL)
	w.MaxAttempts = 2
	recordEvents(t, db, 1, 2)
	rc.mode.Store(redirect)
	w.DeliverDue(t.Context())
	c.Advance(audit.Backoff(1))
	rc.mode.Store(fail500)
	w.DeliverDue(t.Context())
	failed, err := db.FailedAudit(t.Context(), 10)
	if err != nil || len(failed) != 1 || failed[0].Attempts != 2 || failed[0].LastError != "the receiver answered HTTP 500" {
		t.Fatalf("failed %+v %v", failed, err)
	}
	rc.mode.Store(accept)
	c.Advance(audit.Backoff(2))
	if n := w.DeliverDue(t.Context()); n != 1 {
		t.Fatalf("tried %d", n)
	}
	if got := subjects(t, rc.accepted()); fmt.Sprint(got) != "[2]" {
		t.Fatalf("delivered %v", got)
	}
	if all := rc.all(); len(all) != 3 || all[0].mode != redirect {
		t.Fatalf("attempts %d", len(all))
	}
}

// TestWebhookTwoWorkers: two workers on two pools of one database (two
// replicas) drain one queue together while the receiver is slow enough for
// their deliveries to overlap: each event is delivered exactly once.
func TestWebhookTwoWorkers(t *testing.T) {
	t.Parallel()
	c := newClock()
	database := testkit.Database(t, "a.db")
	db1, db2 := openDB(t, database, c, nil), openDB(t, database, c, nil)
	rc := newReceiver(t)
	slow := rc.Config.Handler
	rc.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		slow.ServeHTTP(w, r)
	})
	const n = 60
	recordEvents(t, db1, 1, n)
	var wg sync.WaitGroup
	tried := make([]int, 2)
	for i, db := range []*models.DB{db1, db2} {
		w := newWorker(db, rc.URL)
		w.Batch = 5
		wg.Go(func() {
			for range 100 { // bounded: a pass delivers until the queue is empty
				k := w.DeliverDue(t.Context())
				tried[i] += k
				if k == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	got := rc.accepted()
	if len(got) != n || tried[0]+tried[1] != n {
		t.Fatalf("received %d, tried %v, want %d", len(got), tried, n)
	}
	seen := map[int64]int{}
	for _, s := range subjects(t, got) {
		seen[s]++
	}
	for i := int64(1); i <= n; i++ {
		if seen[i] != 1 {
			t.Errorf("event of %d delivered %d times", i, seen[i])
		}
	}
	if tried[0] == 0 || tried[1] == 0 {
		t.Logf("one worker did all the work: %v", tried)
	}
	if q, _ := db1.CountQueuedAudit(t.Context()); q != 0 {
		t.Fatalf("queued %d", q)
	}
}

// TestWebhookOutboxCap: past the cap, events are stored but not queued;
// the log says so at most once a minute, with how many were left out, and
// the metric counts each.
func TestWebhookOutboxCap(t *testing.T) {
	t.Parallel()
	c := newClock()
	var logs testkit.LogBuffer
	reg := prometheus.NewRegistry()
	s := &audit.Stream{OutboxCap: 3, Now: c.Now, Metrics: metrics.New(reg), Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	db := openDB(t, testkit.Database(t, "a.db"), c, s)
	recordEvents(t, db, 1, 10)
	c.Advance(59 * time.Second)
	recordEvents(t, db, 11, 1)
	c.Advance(time.Second)
	recordEvents(t, db, 12, 1)
	if q, _ := db.CountQueuedAudit(t.Context()); q != 3 {
		t.Fatalf("queued %d, want 3", q)
	}
	if evs, _ := db.Events(t.Context(), 100); len(evs) != 12 {
		t.Fatalf("stored %d events, want 12", len(evs))
	}
	warnings := strings.Count(logs.String(), "audit outbox full")
	if warnings != 2 || !strings.Contains(logs.String(), "not_queued=1 ") || !strings.Contains(logs.String(), "not_queued=8 ") {
		t.Fatalf("%d warnings:\n%s", warnings, logs.String())
	}
	if strings.Count(logs.String(), "msg=audit ") != 12 {
		t.Fatalf("audit records:\n%s", logs.String())
	}
	if got := testkit.ParseMetrics(t, gatheredText(t, reg))["gatehouse_audit_outbox_skipped_total"]; got != 9 {
		t.Fatalf("skipped metric %v, want 9", got)
	}
}

// TestWebhookRunKickAndStop: a recorded event kicks a running worker,
// which delivers it long before its interval; when its context ends during
// a delivery (a slow receiver) it lets the delivery finish and records it.
func TestWebhookRunKickAndStop(t *testing.T) {
	t.Parallel()
	c := newClock()
	rc := newReceiver(t)
	s := &audit.Stream{}
	db := openDB(t, testkit.Database(t, "a.db"), c, s)
	w := newWorker(db, rc.URL)
	w.Interval = time.Hour
	s.Kick = w.Kick
	db.SetAudit(s.Hooks())
	var arrived atomic.Int32
	release := make(chan struct{})
	slow := rc.Config.Handler
	rc.Config.Handler = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		<-release
		slow.ServeHTTP(rw, r)
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	time.Sleep(50 * time.Millisecond) // Run's first pass found nothing
	recordEvents(t, db, 1, 1)
	for deadline := time.Now().Add(10 * time.Second); arrived.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Kick started no delivery")
		}
	}
	cancel() // mid-delivery
	time.Sleep(50 * time.Millisecond)
	close(release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if got, q := len(rc.accepted()), queued(t, db); got != 1 || q != 0 {
		t.Fatalf("received %d, queued %d", got, q)
	}
}

func queued(t *testing.T, db *models.DB) int64 {
	t.Helper()
	n, err := db.CountQueuedAudit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}
