package models

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestPasskeyStore: a credential is registered once, an account keeps at
// most MaxPasskeys, the counter only goes up (or stays 0 on authenticators
// that keep none), HasSecondFactor sees a passkey, and removing the last
// factor drops the recovery codes.
func TestPasskeyStore(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	alice := mustCreateUser(t, db, "alice@example.com")
	bob := mustCreateUser(t, db, "bob@example.com")
	add := func(userID int64, id string) error {
		return db.AddPasskey(ctx, &Passkey{UserID: userID, CredentialID: []byte(id), UserHandle: []byte("h"), Name: id, Credential: []byte("{}")}, nil)
	}
	if has, err := db.HasSecondFactor(ctx, alice.ID); err != nil || has {
		t.Fatalf("no factor yet: %v %v", has, err)
	}
	if err := add(alice.ID, "k0"); err != nil {
		t.Fatal(err)
	}
	if has, _ := db.HasSecondFactor(ctx, alice.ID); !has {
		t.Fatal("a passkey is a second factor")
	}
	if err := add(bob.ID, "k0"); !errors.Is(err, ErrPasskeyExists) {
		t.Fatalf("same credential for another account: %v", err)
	}
	for i := 1; i < MaxPasskeys; i++ {
		if err := add(alice.ID, fmt.Sprint("k", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := add(alice.ID, "one-too-many"); !errors.Is(err, ErrTooManyPasskeys) {
		t.Fatalf("passkey %d: %v", MaxPasskeys+1, err)
	}
	p, err := db.PasskeyByCredentialID(ctx, []byte("k0"))
	if err != nil || p.UserID != alice.ID {
		t.Fatalf("find k0: %+v %v", p, err)
	}
	for _, tc := range []struct {
		count int64
		ok    bool
	}{{0, true}, {0, true}, {5, true}, {5, false}, {4, false}, {0, false}, {6, true}} {
		if ok, err := db.UsePasskey(ctx, p.ID, tc.count, []byte("{}")); err != nil || ok != tc.ok {
			t.Fatalf("counter %d: %v %v, want %v", tc.count, ok, err, tc.ok)
		}
	}

	if err := db.ReplaceRecoveryCodes(ctx, alice.ID, []string{"h1"}); err != nil {
		t.Fatal(err)
	}
	ps, _ := db.PasskeysOf(ctx, alice.ID)
	for i, p := range ps {
		if ok, err := db.DeletePasskey(ctx, alice.ID, p.ID); !ok || err != nil {
			t.Fatalf("delete %s: %v %v", p.Name, ok, err)
		}
		dropped, err := db.DropOrphanRecovery(ctx, alice.ID)
		if err != nil || dropped != (i == len(ps)-1) {
			t.Fatalf("after deleting %d of %d: dropped %v %v", i+1, len(ps), dropped, err)
		}
	}
	if n, _ := db.RecoveryCodesLeft(ctx, alice.ID); n != 0 {
		t.Fatalf("%d recovery codes outlive the last factor", n)
	}
	if ok, _ := db.DeletePasskey(ctx, bob.ID, ps[0].ID); ok {
		t.Fatal("deleted a passkey twice")
	}
}

// TestPasskeyCounterRace: of requests carrying the same assertion at once,
// one is accepted.
func TestPasskeyCounterRace(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	u := mustCreateUser(t, db, "alice@example.com")
	p := &Passkey{UserID: u.ID, CredentialID: []byte("k"), UserHandle: []byte("h"), Name: "k", Credential: []byte("{}")}
	if err := db.AddPasskey(ctx, p, nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 8 {
		wg.Go(func() {
			ok, err := db.UsePasskey(ctx, p.ID, 7, []byte("{}"))
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				won++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d of 8 requests with counter 7 accepted, want 1", won)
	}
}

// TestPasskeyCeremonies: a ceremony is found by its challenge only from
// the browser and for the purpose it was begun with, once, and not after
// expiry; a browser keeps its newest few; the table has a cap in all,
// which concurrent begins cannot overshoot.
func TestPasskeyCeremonies(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	set := fixedClock(db, t0)
	begin := func(challenge, browser string, keep, maxLive int) error {
		return db.CreatePasskeyCeremony(ctx, &PasskeyCeremony{ChallengeHash: challenge, BrowserHash: browser, Purpose: CeremonyLogin, Data: []byte("{}")},
			5*time.Minute, keep, maxLive)
	}
	if err := begin("c1", "b1", 5, 100); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		browser string
		purpose CeremonyPurpose
	}{{"b2", CeremonyLogin}, {"b1", CeremonySecond}, {"b1", CeremonyRegister}} {
		if _, err := db.ConsumePasskeyCeremony(ctx, "c1", tc.browser, tc.purpose); !errors.Is(err, ErrNotFound) {
			t.Fatalf("c1 from %s for %s: %v", tc.browser, tc.purpose, err)
		}
	}
	if c, err := db.ConsumePasskeyCeremony(ctx, "c1", "b1", CeremonyLogin); err != nil || c.Purpose != CeremonyLogin {
		t.Fatalf("c1: %+v %v", c, err)
	}
	if _, err := db.ConsumePasskeyCeremony(ctx, "c1", "b1", CeremonyLogin); !errors.Is(err, ErrNotFound) {
		t.Fatalf("c1 twice: %v", err)
	}

	for i := range 7 {
		if err := begin(fmt.Sprint("k", i), "b3", 5, 100); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 7 {
		_, err := db.ConsumePasskeyCeremony(ctx, fmt.Sprint("k", i), "b3", CeremonyLogin)
		if want := i >= 2; (err == nil) != want {
			t.Fatalf("k%d kept %v, want %v (%v)", i, err == nil, want, err)
		}
	}

	if err := begin("late", "b4", 5, 100); err != nil {
		t.Fatal(err)
	}
	set(t0.Add(5 * time.Minute))
	if _, err := db.ConsumePasskeyCeremony(ctx, "late", "b4", CeremonyLogin); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired ceremony: %v", err)
	}

	// The cap in all: 20 new browsers at once against a cap of 10.
	set(t0.Add(time.Hour))
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	for i := range 20 {
		wg.Go(func() {
			err := begin(fmt.Sprint("cap", i), fmt.Sprint("new", i), 5, 10)
			if errors.Is(err, ErrTooManyCeremonies) {
				mu.Lock()
				refused++
				mu.Unlock()
			} else if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if refused != 10 {
		t.Fatalf("%d of 20 begins refused under a cap of 10, want 10", refused)
	}
	set(t0.Add(2 * time.Hour))
	if n, err := db.DeleteExpiredPasskeyCeremonies(ctx, 100); err != nil || n != 10 {
		t.Fatalf("swept %d expired ceremonies, want 10: %v", n, err)
	}
}
