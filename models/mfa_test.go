package models

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestMFAStore: an app waits until a code confirms it and is then kept;
// steps only move forward; a recovery code is used once; an account keeps
// its five newest second steps, each usable once and not after expiry;
// DeleteMFA removes them all.
func TestMFAStore(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	set := fixedClock(db, t0)
	u := &User{Email: "alice@example.com"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := db.PutTOTPFactor(ctx, u.ID, []byte("sealed-1")); err != nil {
		t.Fatal(err)
	}
	if err := db.PutTOTPFactor(ctx, u.ID, []byte("sealed-2")); err != nil { // replaces one waiting
		t.Fatal(err)
	}
	f, err := db.TOTPFactorOf(ctx, u.ID)
	if err != nil || f.Confirmed() || string(f.Secret) != "sealed-2" {
		t.Fatalf("waiting app: %+v %v", f, err)
	}
	for _, tc := range []struct {
		step int64
		ok   bool
	}{{100, true}, {100, false}, {99, false}, {101, true}} {
		if ok, err := db.UseTOTPStep(ctx, u.ID, tc.step); err != nil || ok != tc.ok {
			t.Fatalf("step %d: %v %v, want %v", tc.step, ok, err, tc.ok)
		}
	}
	if f, _ = db.TOTPFactorOf(ctx, u.ID); !f.Confirmed() || f.LastStep != 101 {
		t.Fatalf("confirmed app: %+v", f)
	}
	if err := db.PutTOTPFactor(ctx, u.ID, []byte("sealed-3")); !errors.Is(err, ErrFactorExists) {
		t.Fatalf("replace a confirmed app: %v", err)
	}

	if err := db.ReplaceRecoveryCodes(ctx, u.ID, []string{"h1", "h2"}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := db.UseRecoveryCode(ctx, u.ID, "h1"); !ok {
		t.Fatal("h1 unused but refused")
	}
	if ok, _ := db.UseRecoveryCode(ctx, u.ID, "h1"); ok {
		t.Fatal("h1 used twice")
	}
	if n, _ := db.RecoveryCodesLeft(ctx, u.ID); n != 1 {
		t.Fatalf("%d left", n)
	}

	for i := range 7 {
		set(t0.Add(time.Duration(i) * time.Second))
		if err := db.AddPendingMFA(ctx, PendingMFA{TokenHash: fmt.Sprint("p", i), UserID: u.ID}, 5*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 7 {
		_, err := db.PendingMFAByHash(ctx, fmt.Sprint("p", i))
		if want := i >= 2; (err == nil) != want {
			t.Fatalf("p%d kept %v, want %v (%v)", i, err == nil, want, err)
		}
	}
	if ok, _ := db.ConsumePendingMFA(ctx, "p6"); !ok {
		t.Fatal("p6 not consumed")
	}
	if ok, _ := db.ConsumePendingMFA(ctx, "p6"); ok {
		t.Fatal("p6 consumed twice")
	}
	set(t0.Add(6 * time.Minute))
	if ok, _ := db.ConsumePendingMFA(ctx, "p5"); ok {
		t.Fatal("an expired step consumed")
	}
	if n, err := db.DeleteExpiredPendingMFA(ctx, 100); err != nil || n != 4 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if err := db.DeleteMFA(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.TOTPFactorOf(ctx, u.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("app after DeleteMFA: %v", err)
	}
	if n, _ := db.RecoveryCodesLeft(ctx, u.ID); n != 0 {
		t.Fatalf("%d codes after DeleteMFA", n)
	}
}
