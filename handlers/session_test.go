package handlers_test

// The signed-in request path: the session and its account in one query,
// and what a load that fails or finds no usable account does.

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/models"
)

// statementLog records the SQL of every statement the data layer runs.
type statementLog struct {
	mu  sync.Mutex
	sql []string
}

func (l *statementLog) record(sql string) {
	l.mu.Lock()
	l.sql = append(l.sql, sql)
	l.mu.Unlock()
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
	e := newEnv(t, envOpts{})
	e.db.Trace(log.record)
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
	raw, err := models.OpenSQL(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec("UPDATE users SET disabled_at = $1 WHERE email = $2", e.clock.Now(), alice); err != nil {
		t.Fatal(err)
	}
	e.wantSignedOut(t, c)
	if row := e.sessionRow(t, c.Value); row != nil {
		t.Fatalf("the session of a disabled account survived: %+v", row)
	}
}

func TestSessionLoadErrorCounted(t *testing.T) {
	e := newEnv(t, envOpts{})
	reg := e.app.Registry
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
