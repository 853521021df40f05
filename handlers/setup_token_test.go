package handlers_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/testkit"
	"golang.org/x/crypto/bcrypt"
)

// setupReplica is one process's view of a shared database: a pool of its
// own and the accounts service over it.
func setupReplica(t *testing.T, database string) *accounts.Service {
	t.Helper()
	db, err := models.Open(database)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	h, err := password.New(bcrypt.MinCost, 12)
	if err != nil {
		t.Fatal(err)
	}
	return &accounts.Service{DB: db, Hasher: h}
}

func TestSetupTokenRand(t *testing.T) {
	t.Parallel()
	svc := setupReplica(t, testkit.Database(t, "g.db"))
	ctx := context.Background()
	seed := bytes.Repeat([]byte{5}, 32)
	s := &handlers.Setup{Rand: bytes.NewReader(seed), Accounts: svc}
	tok, err := s.Issue(ctx, handlers.SetupTTL)
	if err != nil || tok != base64.RawURLEncoding.EncodeToString(seed) {
		t.Fatalf("Issue = %q, %v; want the token of Setup.Rand's bytes", tok, err)
	}
	noEntropy := errors.New("no entropy")
	s = &handlers.Setup{Rand: iotest.ErrReader(noEntropy), Accounts: svc}
	if tok, err := s.Issue(ctx, handlers.SetupTTL); !errors.Is(err, noEntropy) || tok != "" {
		t.Fatalf("Issue without randomness = %q, %v; want the reader's error", tok, err)
	}
}

// TestSetupLinkAcrossReplicas: a link printed by one process works on
// another sharing the database, once; links printed by two processes used
// at the same moment make one administrator.
func TestSetupLinkAcrossReplicas(t *testing.T) {
	t.Parallel()
	database := testkit.Database(t, "g.db")
	a, b := setupReplica(t, database), setupReplica(t, database)
	ctx := context.Background()
	tokA, err := (&handlers.Setup{Accounts: a}).Issue(ctx, handlers.SetupTTL)
	if err != nil {
		t.Fatal(err)
	}
	tokB, err := (&handlers.Setup{Accounts: b}).Issue(ctx, handlers.SetupTTL)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := b.SetupTokenValid(ctx, sessionstore.Hash(tokA)); !ok || err != nil {
		t.Fatalf("A's link on B: valid = %v, %v", ok, err)
	}

	pw := "a long enough passphrase"
	var wg sync.WaitGroup
	made := make([]error, 8)
	for i := range made {
		svc, tok := a, tokA
		if i%2 == 1 {
			svc, tok = b, tokB
		}
		wg.Go(func() {
			_, made[i] = svc.CreateFirstAdmin(ctx, sessionstore.Hash(tok), accounts.NewUser{Email: fmt.Sprintf("first%d@example.com", i), Password: &pw})
		})
	}
	wg.Wait()
	var ok int
	for i, err := range made {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, accounts.ErrSetupInvalid):
			t.Errorf("use %d: %v, want ErrSetupInvalid or success", i, err)
		}
	}
	if n, err := a.DB.CountUsers(ctx, true); ok != 1 || n != 1 || err != nil {
		t.Fatalf("%d uses succeeded and %d administrators exist (%v); want 1 and 1", ok, n, err)
	}
	for _, tok := range []string{tokA, tokB} {
		if ok, err := a.SetupTokenValid(ctx, sessionstore.Hash(tok)); ok || err != nil {
			t.Errorf("a link still valid after the first administrator: %v, %v", ok, err)
		}
	}
}
