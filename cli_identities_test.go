package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sso"
)

const rekeyProviderYAML = `providers:
  - id: acme
    client_id: gatehouse
    client_secret: not-a-secret
    metadata:
      issuer: http://127.0.0.1:9/acme
      authorization_endpoint: http://127.0.0.1:9/acme/authorize
      token_endpoint: http://127.0.0.1:9/acme/token
      jwks_uri: http://127.0.0.1:9/acme/jwks
`

// TestCLIIdentitiesRekey: identities rekey prints its plan and changes
// nothing without --apply; with it, the identities move.
func TestCLIIdentitiesRekey(t *testing.T) {
	hermetic(t)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, rekeyProviderYAML)
	withApp := func(fn func(a *app.App)) {
		t.Helper()
		cfg, err := config.Load(config.Source{Path: cfgPath})
		if err != nil {
			t.Fatal(err)
		}
		a, err := app.New(context.Background(), cfg, app.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		fn(a)
	}
	const iss = "http://127.0.0.1:9/acme"
	withApp(func(a *app.App) {
		u, err := a.Accounts.CreateUser(context.Background(), accounts.NewUser{Email: "ann@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.DB.CreateIdentity(context.Background(), models.NewIdentity(u.ID, "acme", &sso.Identity{Issuer: iss, Subject: "s1", Email: u.Email})); err != nil {
			t.Fatal(err)
		}
	})
	mapping := filepath.Join(dir, "map.csv")
	if err := os.WriteFile(mapping, []byte("old_subject,new_subject\ns1,n1\nzz,n2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	subjectOf := func() string {
		var got string
		withApp(func(a *app.App) {
			ids, err := a.DB.ProviderIdentities(context.Background(), "acme", 10)
			if err != nil || len(ids) != 1 {
				t.Fatalf("identities: %v %v", ids, err)
			}
			got = ids[0].Subject
		})
		return got
	}
	runCLI(t, "", "identities", "rekey", "--provider", "acme", "--from-csv", mapping, "--config", cfgPath).
		want(t, exitOK, "1 changes, 0 conflicts, 1 unmatched\ndry run", "")
	if s := subjectOf(); s != "s1" {
		t.Fatalf("a dry run changed the subject to %q", s)
	}
	runCLI(t, "", "identities", "rekey", "--provider", "acme", "--from-csv", mapping, "--apply", "--config", cfgPath).
		want(t, exitOK, "applied: 1 identities re-keyed", "")
	if s := subjectOf(); s != "n1" {
		t.Fatalf("after --apply the subject is %q", s)
	}
	runCLI(t, "", "identities", "rekey", "--provider", "acme", "--config", cfgPath).want(t, exitUsage, "", "exactly one of --from-csv and --by-claim")
	runCLI(t, "", "identities", "rekey", "--provider", "nope", "--by-claim", "oid", "--config", cfgPath).want(t, exitFailure, "", "No provider nope")
}
