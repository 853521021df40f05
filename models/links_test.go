package models

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestEmailLinks: an account has one live link of each purpose, a newer
// one replacing the older; a link is found only by its purpose and while
// unexpired; consuming it works once, also under concurrency; the sweep
// deletes expired links, and an account's go with it.
func TestEmailLinks(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	set := fixedClock(db, t0)
	alice := &User{Email: "alice@example.com"}
	bob := &User{Email: "bob@example.com"}
	for _, u := range []*User{alice, bob} {
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	add := func(hash string, p LinkPurpose, u *User, ttl time.Duration) {
		t.Helper()
		if err := db.AddEmailLink(ctx, &EmailLink{TokenHash: hash, Purpose: p, UserID: u.ID, Email: u.Email}, ttl); err != nil {
			t.Fatal(err)
		}
	}
	add("i1", LinkInvite, alice, time.Hour)
	add("v1", LinkVerify, alice, time.Hour)
	add("i2", LinkInvite, alice, 2*time.Hour) // replaces i1, not v1
	add("b1", LinkInvite, bob, time.Minute)
	if _, err := db.EmailLinkByHash(ctx, LinkInvite, "i1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("replaced link: %v", err)
	}
	if _, err := db.EmailLinkByHash(ctx, LinkVerify, "i2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("link of another purpose: %v", err)
	}
	if l, err := db.EmailLinkByHash(ctx, LinkVerify, "v1"); err != nil || l.UserID != alice.ID || !l.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("verify link: %+v %v", l, err)
	}
	if l, err := db.EmailLinkOf(ctx, alice.ID, LinkInvite); err != nil || l.TokenHash != "i2" {
		t.Fatalf("alice's invitation: %+v %v", l, err)
	}

	// One of concurrent consumers gets the link.
	var wg sync.WaitGroup
	got := make([]error, 6)
	for i := range got {
		wg.Go(func() { _, got[i] = db.ConsumeEmailLink(ctx, LinkInvite, "i2") })
	}
	wg.Wait()
	won := 0
	for _, err := range got {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrNotFound):
			t.Fatal(err)
		}
	}
	if won != 1 {
		t.Fatalf("%d consumers got the link, want 1", won)
	}

	set(t0.Add(time.Minute)) // bob's is past its expiry
	if _, err := db.EmailLinkOf(ctx, bob.ID, LinkInvite); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired link found: %v", err)
	}
	if _, err := db.ConsumeEmailLink(ctx, LinkInvite, "b1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired link consumed: %v", err)
	}
	if n, err := db.DeleteExpiredEmailLinks(ctx, 100); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	if err := db.DeleteUser(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.EmailLinkByHash(ctx, LinkVerify, "v1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a deleted account's link: %v", err)
	}
}

// TestEmailVerification: an address is verified only while it is the
// account's; an administrator's change clears it, a confirmed change sets
// it.
func TestEmailVerification(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	u := &User{Email: "alice@example.com"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	verified := func() bool {
		t.Helper()
		got, err := db.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.EmailVerified()
	}
	if verified() {
		t.Fatal("a new account is verified")
	}
	if err := db.MarkEmailVerified(ctx, u.ID, "other@example.com"); err != nil || verified() {
		t.Fatalf("a link to another address verified it (%v)", err)
	}
	if err := db.MarkEmailVerified(ctx, u.ID, "Alice@Example.com"); err != nil || !verified() {
		t.Fatalf("not verified (%v)", err)
	}
	if err := db.UpdateUser(ctx, u.ID, "", "alice@example.com", false); err != nil || !verified() {
		t.Fatalf("an edit that kept the address cleared it (%v)", err)
	}
	if err := db.UpdateUser(ctx, u.ID, "", "alice2@example.com", false); err != nil || verified() {
		t.Fatalf("an administrator's new address counts as verified (%v)", err)
	}
	if err := db.ChangeEmail(ctx, u.ID, "alice3@example.com"); err != nil || !verified() {
		t.Fatalf("a confirmed change is not verified (%v)", err)
	}
	other := &User{Email: "bob@example.com"}
	if err := db.CreateUser(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := db.ChangeEmail(ctx, u.ID, "bob@example.com"); !errors.Is(err, ErrEmailTaken) {
		t.Fatalf("change to a taken address: %v", err)
	}
}
