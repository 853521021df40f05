package app_test

import (
	"context"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/config"
	gmail "github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/testkit"
)

// TestMailWiring: without a mail block there is no mailer or worker; with
// one, a message enqueued in a transaction is delivered by the worker Run
// starts, and Run stops it on shutdown.
func TestMailWiring(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Database = testkit.Database(t, "g.db")
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(t.Context(), cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Mailer != nil || a.MailWorker != nil {
		t.Fatal("mail wired without a mail block")
	}
	a.Close()

	dir := t.TempDir()
	cfg.Mail = &gmail.Config{From: "gatehouse <no-reply@example.com>", Dir: dir}
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err = app.New(t.Context(), cfg, app.Options{Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	r, err := a.Mailer.Compose("test", mail.Address{Address: "ann@example.org"}, map[string]string{"Name": "Ann", "Site": "gatehouse", "Link": "https://x/"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.DB.Tx(t.Context(), func(tx *models.DB) error { return gmail.Enqueue(t.Context(), tx, r) }); err != nil {
		t.Fatal(err)
	}
	a.MailWorker.Kick()
	path := filepath.Join(dir, r.ID+".eml")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not delivered")
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
}
