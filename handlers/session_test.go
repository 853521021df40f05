package handlers_test

// The signed-in request path: the session and its account in one query,
// and what a load that fails or finds no usable account does.

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/metrics"
	"gorm.io/gorm"
)

// statementLog records the SQL of every statement the data layer runs.
type statementLog struct {
	mu  sync.Mutex
	sql []string
}

// watch registers the log on db's gorm callbacks; it runs before the server
// starts, so no request races the registration.
func (l *statementLog) watch(t testing.TB, d *handlers.Deps) {
	t.Helper()
	record := func(tx *gorm.DB) {
		l.mu.Lock()
		l.sql = append(l.sql, tx.Statement.SQL.String())
		l.mu.Unlock()
	}
	cb := d.DB.Gorm(context.Background()).Callback()
	for _, err := range []error{
		cb.Create().After("*").Register("test:statements", record),
		cb.Query().After("*").Register("test:statements", record),
		cb.Update().After("*").Register("test:statements", record),
		cb.Delete().After("*").Register("test:statements", record),
		cb.Row().After("*").Register("test:statements", record),
		cb.Raw().After("*").Register("test:statements", record),
	} {
		if err != nil {
			t.Fatalf("register statement callback: %v", err)
		}
	}
}

// take returns the statements since the last take.
func (l *statementLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.sql
	l.sql = nil
	return s
}

func TestAuthenticatedPageOneQuery(t *testing.T) {
	var log statementLog
	e := newEnv(t, envOpts{deps: func(d *handlers.Deps) { log.watch(t, d) }})
	c := e.login(t, alice, goodPW)
	log.take()
	e.wantSignedIn(t, c, alice)
	got := log.take()
	if len(got) != 1 || !strings.Contains(got[0], "FROM sessions") || !strings.Contains(got[0], "JOIN users") {
		t.Fatalf("GET /dashboard ran %d statements, want 1 (sessions JOIN users):\n%s", len(got), strings.Join(got, "\n"))
	}
	// Once a minute the page also records activity: one write more.
	e.clock.Advance(time.Minute)
	e.wantSignedIn(t, c, alice)
	if got := log.take(); len(got) != 2 || !strings.Contains(got[1], "UPDATE") {
		t.Fatalf("GET /dashboard a minute later ran %q, want the load and the last-seen update", got)
	}
}

func TestDisabledAccountSessionEnded(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.login(t, alice, goodPW)
	// Disabling ends the account's sessions in the same transaction; a row
	// that survives it anyway (written by an older version, say) must not
	// sign anyone in.
	err := e.db.Gorm(context.Background()).Exec("UPDATE users SET disabled_at = ? WHERE email = ?", e.clock.Now(), alice).Error
	if err != nil {
		t.Fatal(err)
	}
	e.wantSignedOut(t, c)
	if row := e.sessionRow(t, c.Value); row != nil {
		t.Fatalf("the session of a disabled account survived: %+v", row)
	}
}

func TestSessionLoadErrorCounted(t *testing.T) {
	reg := metrics.NewRegistry()
	e := newEnv(t, envOpts{deps: func(d *handlers.Deps) { d.Metrics = metrics.New(reg) }})
	c := e.login(t, alice, goodPW)
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	e.wantSignedOut(t, c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, f := range families {
		if f.GetName() != "gatehouse_db_errors_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "op" && l.GetValue() == "load session user" {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	if n != 1 {
		t.Fatalf(`gatehouse_db_errors_total{op="load session user"} = %v, want 1`, n)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "load session user; treating as signed out") {
		t.Fatalf("load error not logged:\n%s", logs)
	}
}
