package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/audit"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/testkit"
)

// TestReloadRefusedKeepsRunning: a reload refused after part of the
// application was wired (here, trusted_proxies, which only the handlers
// check) leaves the running one whole: its audit webhook still queues
// every event. A restart-only change is refused by name.
func TestReloadRefusedKeepsRunning(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Database = testkit.Database(t, "g.db")
	cfg.Audit.Webhook = &audit.WebhookConfig{URL: "http://127.0.0.1:9/hook", Secret: "0123456789abcdef0123"}
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })

	next := cfg
	next.Audit.Webhook = nil
	next.TrustedProxies = []string{"not an address"}
	if _, err := a.Reload(next); err == nil {
		t.Fatal("a reload with a bad trusted_proxies was taken")
	}
	if err := a.DB.RecordEvent(t.Context(), &models.Event{Kind: models.EventLogout, Email: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	if n, err := a.DB.CountQueuedAudit(t.Context()); err != nil || n != 1 {
		t.Fatalf("%d deliveries queued after a refused reload, want 1 (%v)", n, err)
	}

	moved := cfg
	moved.Listen = "127.0.0.1:1"
	if _, err := a.Reload(moved); err == nil || !strings.Contains(err.Error(), "listen cannot change while gatehouse runs") {
		t.Fatalf("restart-only change: %v", err)
	}
	if _, err := a.Reload(cfg); err != nil {
		t.Fatalf("the same configuration again: %v", err)
	}
}
