package app_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/secrets"
	"github.com/gatehouse/gatehouse/testkit"
)

// TestSecretsKeyFileMissing: an SQLite installation whose key file is
// gone while second factors are sealed under it does not start (a new key
// would open none of them) and says what to restore; without sealed
// factors a new key is made.
func TestSecretsKeyFileMissing(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Database = testkit.Database(t, "g.db")
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	if models.ParseDatabase(cfg.Database) != nil || strings.HasPrefix(cfg.Database, "postgres") {
		t.Skip("the key file is SQLite's: PostgreSQL needs secrets.key")
	}
	a, err := app.New(context.Background(), cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(secrets.KeyFile(cfg.Database)); err != nil {
		t.Fatalf("no key file made: %v", err)
	}
	u := &models.User{Email: "alice@example.com"}
	if err := a.DB.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if err := a.DB.PutTOTPFactor(context.Background(), u.ID, []byte("sealed")); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if err := os.Remove(secrets.KeyFile(cfg.Database)); err != nil {
		t.Fatal(err)
	}
	for range 2 { // and again: the refused start left no new key behind
		_, err = app.New(context.Background(), cfg, app.Options{})
		if err == nil || !strings.Contains(err.Error(), "was missing") || !strings.Contains(err.Error(), "1 second factors") {
			t.Fatalf("start without the key file: %v", err)
		}
	}
}
