package handlers_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/audit"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
)

// auditLines are the log's audit records (msg=audit) of event kind.
func auditLines(log string, kind models.EventKind) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, " msg=audit ") && strings.Contains(l, " event="+kind.String()+" ") {
			out = append(out, l)
		}
	}
	return out
}

// TestAuditRecordOfSignIn: a real sign-in over HTTP, and a failed one by an
// anonymous client, each yield exactly one audit record, carrying the
// request's X-Request-ID, the event's id and subject, and nothing of the
// password.
func TestAuditRecordOfSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	r := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, goodPW)})
	if r.status != http.StatusSeeOther {
		t.Fatalf("login: %d", r.status)
	}
	bad := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm("nobody@example.com", "wrong password 123")})
	logs := e.logs.String()
	for _, c := range []struct {
		resp  *response
		kind  models.EventKind
		email string
	}{{r, models.EventLoginSuccess, alice}, {bad, models.EventLoginFailure, "nobody@example.com"}} {
		id := c.resp.header.Get("X-Request-ID")
		lines := auditLines(logs, c.kind)
		if len(id) != 16 || len(lines) != 1 {
			t.Fatalf("%s: request %q, %d audit records:\n%s", c.kind, id, len(lines), logs)
		}
		l := lines[0]
		for _, want := range []string{"schema=1 ", " request_id=" + id, " subject.email=" + c.email, " method=password", " ip=127.0.0.1"} {
			if !strings.Contains(l, want) {
				t.Errorf("%s record lacks %q: %s", c.kind, want, l)
			}
		}
		evs, err := e.db.Events(t.Context(), 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Kind == c.kind && !strings.Contains(l, " event_id="+itoa(ev.ID)+" ") {
				t.Errorf("%s record does not carry event id %d: %s", c.kind, ev.ID, l)
			}
		}
	}
	if strings.Contains(logs, goodPW) || strings.Contains(logs, "wrong password 123") {
		t.Fatal("a password reached the log")
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestAuditWebhookOfSignIn: with audit.webhook configured, app.New wires
// the outbox and the worker: a sign-in's event is queued in its request,
// and the worker POSTs it, signed, with the request's ID in the body.
func TestAuditWebhookOfSignIn(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var bodies []string
	const secret = "handlers-test-secret-0123"
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get(audit.HeaderSignature) != audit.Sign([]byte(secret), r.Header.Get(audit.HeaderTimestamp), b) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	s := newServer(t, serverOpts{configure: func(c *config.Config) {
		c.Audit.Webhook = &audit.WebhookConfig{URL: rc.URL, Secret: secret}
		if err := c.Audit.Webhook.Validate(); err != nil {
			t.Fatal(err)
		}
	}})
	s.createUser(t, alice, "Alice", goodPW, false)
	e := &env{server: s, client: s.newClient()}
	r := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, goodPW)})
	if r.status != http.StatusSeeOther {
		t.Fatalf("login: %d", r.status)
	}
	if n, err := s.db.CountQueuedAudit(t.Context()); err != nil || n != 1 {
		t.Fatalf("queued %d %v", n, err)
	}
	if s.app.AuditWorker == nil {
		t.Fatal("no audit worker")
	}
	if n := s.app.AuditWorker.DeliverDue(t.Context()); n != 1 {
		t.Fatalf("delivered %d", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 {
		t.Fatalf("received %d", len(bodies))
	}
	var rec audit.Record
	if err := json.Unmarshal([]byte(bodies[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Event != "login.success" || rec.RequestID != r.header.Get("X-Request-ID") || rec.Subject == nil || rec.Subject.Email != alice {
		t.Fatalf("delivered %+v", rec)
	}
}
