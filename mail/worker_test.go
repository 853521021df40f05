package mail

import (
	"bytes"
	"context"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/testkit"
	"github.com/prometheus/client_golang/prometheus"
)

// clock is a settable time for a DB.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func openDB(t *testing.T, database string, c *clock) *models.DB {
	t.Helper()
	db, err := models.Open(database)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.Now = c.Now
	return db
}

// enqueue composes n messages and enqueues each in a transaction of db.
func enqueue(t *testing.T, db *models.DB, mr *Mailer, n int) []Rendered {
	t.Helper()
	var out []Rendered
	for i := range n {
		r, err := mr.Compose("test", mail.Address{Address: fmt.Sprintf("user%d@example.org", i)}, hostile{Name: "Ann", Site: "gatehouse", Link: "https://x/"})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Tx(t.Context(), func(tx *models.DB) error { return Enqueue(t.Context(), tx, r) }); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func queued(t *testing.T, db *models.DB) int64 {
	t.Helper()
	n, err := db.CountQueuedMail(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWorkerRetriesWithBackoff: a relay that drops the connection, then
// answers 451, then stalls (the delivery times out) delays the message,
// tried again only after 1m, 2m, 4m by the injected clock; once the relay
// works it arrives exactly once, and the metrics counted it all.
func TestWorkerRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC)}
	db := openDB(t, testkit.Database(t, "g.db"), c)
	rl := newRelay(t, true, false)
	mr := testMailer(t, Config{From: "gatehouse <no-reply@example.com>", Dir: "unused"})
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	m.CountMailQueueWith(db.CountQueuedMail)
	w := NewWorker(db, mr, m, nil)
	w.Transport = rl.transport("starttls")
	w.Timeout = 500 * time.Millisecond
	sent := enqueue(t, db, mr, 1)

	for i, mode := range []int{drop, tempFail, stall} {
		rl.setMode(mode)
		if n := w.DeliverDue(t.Context()); n != 1 {
			t.Fatalf("failure %d: tried %d", i+1, n)
		}
		if n := w.DeliverDue(t.Context()); n != 0 {
			t.Fatalf("failure %d: tried again at once", i+1)
		}
		wait := models.MailBackoff(i + 1)
		c.add(wait - time.Second)
		if n := w.DeliverDue(t.Context()); n != 0 {
			t.Fatalf("failure %d: tried again before %v", i+1, wait)
		}
		c.add(time.Second)
	}
	rl.setMode(accept)
	if n := w.DeliverDue(t.Context()); n != 1 {
		t.Fatalf("tried %d", n)
	}
	c.add(48 * time.Hour)
	w.DeliverDue(t.Context())
	got := rl.messages()
	if len(got) != 1 || !bytes.Contains(got[0].data, []byte(sent[0].ID)) {
		t.Fatalf("received %d messages", len(got))
	}
	if q := queued(t, db); q != 0 {
		t.Fatalf("still queued: %d", q)
	}
	for name, want := range map[string]float64{
		"gatehouse_mail_sent_total": 1, `gatehouse_mail_failed_total{outcome="retry"}`: 3, "gatehouse_mail_queue": 0,
	} {
		if got, ok := gathered(t, reg)[name]; !ok || got != want {
			t.Errorf("%s = %v (%v), want %v", name, got, ok, want)
		}
	}
}

// TestWorkerGivesUp: a permanent refusal (550) gives up at once and a
// temporary one after MaxAttempts; both are listed as failed, and a retry
// delivers them once the relay accepts.
func TestWorkerGivesUp(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC)}
	db := openDB(t, testkit.Database(t, "g.db"), c)
	rl := newRelay(t, true, false)
	mr := testMailer(t, Config{From: "gatehouse <no-reply@example.com>", Dir: "unused"})
	w := NewWorker(db, mr, nil, nil)
	w.Transport = rl.transport("starttls")
	w.MaxAttempts = 3

	rl.setMode(permFail)
	enqueue(t, db, mr, 1)
	w.DeliverDue(t.Context())
	rl.setMode(tempFail)
	enqueue(t, db, mr, 1)
	for range 3 {
		w.DeliverDue(t.Context())
		c.add(time.Hour)
	}
	if q := queued(t, db); q != 0 {
		t.Fatalf("queued %d", q)
	}
	failed, err := db.FailedMail(t.Context(), 10)
	if err != nil || len(failed) != 2 || failed[0].Attempts != 3 || failed[1].Attempts != 1 {
		t.Fatalf("failed %+v %v", failed, err)
	}
	rl.mu.Lock()
	attempts := rl.attempts
	rl.mu.Unlock()
	if attempts != 4 {
		t.Fatalf("relay saw %d attempts, want 1+3", attempts)
	}
	rl.setMode(accept)
	for _, f := range failed {
		if _, err := db.RetryMail(t.Context(), f.ID); err != nil {
			t.Fatal(err)
		}
	}
	w.DeliverDue(t.Context())
	if got := rl.messages(); len(got) != 2 {
		t.Fatalf("received %d", len(got))
	}
}

// TestTwoWorkersDeliverEachOnce: two workers on two pools of one database
// (two replicas) drain one queue together, each message delivered exactly
// once, while the relay is slow enough for their deliveries to overlap.
func TestTwoWorkersDeliverEachOnce(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC)}
	database := testkit.Database(t, "g.db")
	db1, db2 := openDB(t, database, c), openDB(t, database, c)
	rl := newRelay(t, false, false)
	rl.delay = 5 * time.Millisecond
	mr := testMailer(t, Config{From: "gatehouse <no-reply@example.com>", Dir: "unused"})
	const n = 30
	sent := enqueue(t, db1, mr, n)
	var wg sync.WaitGroup
	tried := make([]int, 2)
	for i, db := range []*models.DB{db1, db2} {
		w := NewWorker(db, mr, nil, nil)
		w.Transport = rl.transport("none")
		wg.Go(func() {
			for range 50 { // bounded: a pass delivers until the queue is empty
				k := w.DeliverDue(t.Context())
				tried[i] += k
				if k == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	got := rl.messages()
	if len(got) != n || tried[0]+tried[1] != n {
		t.Fatalf("received %d, tried %v, want %d", len(got), tried, n)
	}
	seen := map[string]int{}
	for _, g := range got {
		msg, err := mail.ReadMessage(bytes.NewReader(g.data))
		if err != nil {
			t.Fatal(err)
		}
		seen[msg.Header.Get("Message-ID")]++
	}
	for _, r := range sent {
		if id := "<" + r.ID + "@example.com>"; seen[id] != 1 {
			t.Errorf("%s delivered %d times", id, seen[id])
		}
	}
	if tried[0] == 0 || tried[1] == 0 {
		t.Logf("one worker did all the work: %v", tried)
	}
	if q := queued(t, db1); q != 0 {
		t.Fatalf("queued %d", q)
	}
}

// TestWorkerRunKickAndStop: Run delivers on Kick, long before its
// interval, and when its context ends during a delivery (a slow relay) it
// lets the delivery finish and records it before returning.
func TestWorkerRunKickAndStop(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC)}
	db := openDB(t, testkit.Database(t, "g.db"), c)
	rl := newRelay(t, false, false)
	rl.delay = 300 * time.Millisecond
	mr := testMailer(t, Config{From: "gatehouse <no-reply@example.com>", Dir: "unused"})
	w := NewWorker(db, mr, nil, nil)
	w.Transport = rl.transport("none")
	w.Interval = time.Hour
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	time.Sleep(50 * time.Millisecond) // Run's first pass found nothing
	enqueue(t, db, mr, 1)
	w.Kick()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		rl.mu.Lock()
		n := rl.attempts
		rl.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Kick started no delivery")
		}
	}
	cancel() // mid-delivery
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if got, q := len(rl.messages()), queued(t, db); got != 1 || q != 0 {
		t.Fatalf("received %d, queued %d", got, q)
	}
}

// TestWorkerDirTransport: with mail.dir the worker writes each message as
// <id>.eml, the message as rendered.
func TestWorkerDirTransport(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC)}
	db := openDB(t, testkit.Database(t, "g.db"), c)
	dir := t.TempDir()
	mr := testMailer(t, Config{From: "gatehouse <no-reply@example.com>", Dir: dir})
	sent := enqueue(t, db, mr, 2)
	if n := NewWorker(db, mr, nil, nil).DeliverDue(t.Context()); n != 2 {
		t.Fatalf("delivered %d", n)
	}
	for _, r := range sent {
		b, err := os.ReadFile(filepath.Join(dir, r.ID+".eml"))
		if err != nil || !bytes.Equal(b, r.Raw) {
			t.Fatalf("%s.eml: %v", r.ID, err)
		}
	}
}

// gathered is every sample of reg by name{label="value"}.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += fmt.Sprintf("{%s=%q}", l.GetName(), l.GetValue())
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			out[name] = v
		}
	}
	return out
}
