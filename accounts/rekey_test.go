package accounts

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sso"
	"golang.org/x/crypto/bcrypt"
)

// TestRekey: a CSV plan moves identities (a swap included), reports two
// identities onto one key, a key linked elsewhere and rows it cannot
// match, and is refused while it has conflicts; a clean plan applies in
// one transaction, audited per identity; a claim plan keys identities on
// a stored claim.
func TestRekey(t *testing.T) {
	t.Parallel()
	s := newService(t, bcrypt.MinCost)
	s.Providers = map[string]SSOPolicy{"acme": {}, "other": {}}
	ctx := context.Background()
	link := func(provider, email, sub, claims string) {
		t.Helper()
		u, err := s.CreateUser(ctx, NewUser{Email: email})
		if err != nil {
			t.Fatal(err)
		}
		id := &sso.Identity{Issuer: "https://old.example", Subject: sub, Email: email, Claims: []byte(claims)}
		if err := s.DB.CreateIdentity(ctx, models.NewIdentity(u.ID, provider, id)); err != nil {
			t.Fatal(err)
		}
	}
	link("acme", "a@example.com", "s1", `{"oid":"o1"}`)
	link("acme", "b@example.com", "s2", `{"oid":"o2"}`)
	link("acme", "c@example.com", "s3", `{}`)
	link("other", "d@example.com", "taken", `{}`)

	plan, err := s.PlanRekeyCSV(ctx, "acme", []RekeyRow{
		{OldSubject: "s1", NewSubject: "s2"}, {OldSubject: "s2", NewSubject: "s1"}, // a swap
		{OldSubject: "s3", NewSubject: "taken"},
		{OldSubject: "s9", NewSubject: "x"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Changes) != 2 || len(plan.Conflicts) != 1 || len(plan.Unmatched) != 1 || !strings.Contains(plan.Conflicts[0], "another account") {
		t.Fatalf("plan: %+v", plan)
	}
	if err := s.ApplyRekey(ctx, plan, nil); !errors.Is(err, ErrRekeyConflicts) {
		t.Fatalf("applying a plan with conflicts: %v", err)
	}
	if _, err := s.PlanRekeyCSV(ctx, "acme", []RekeyRow{{OldSubject: "s1", NewSubject: "n"}, {OldSubject: "s1", NewSubject: "m"}}); err == nil {
		t.Fatal("an old subject twice was accepted")
	}
	two, _ := s.PlanRekeyCSV(ctx, "acme", []RekeyRow{{OldSubject: "s1", NewSubject: "n"}, {OldSubject: "s2", NewSubject: "n"}})
	if len(two.Conflicts) != 1 {
		t.Fatalf("two identities onto one key: %+v", two)
	}

	plan.Conflicts = nil
	plan, _ = s.PlanRekeyCSV(ctx, "acme", []RekeyRow{{OldSubject: "s1", NewSubject: "s2"}, {OldSubject: "s2", NewSubject: "s1", NewIssuer: "https://new.example"}})
	if err := s.ApplyRekey(ctx, plan, nil); err != nil {
		t.Fatal(err)
	}
	if id, err := s.DB.IdentityBySubject(ctx, "https://old.example", "s2"); err != nil || id.Email != "a@example.com" {
		t.Fatalf("a's identity after the swap: %+v %v", id, err)
	}
	if id, err := s.DB.IdentityBySubject(ctx, "https://new.example", "s1"); err != nil || id.Email != "b@example.com" {
		t.Fatalf("b's identity after the swap: %+v %v", id, err)
	}
	evs, _, err := s.DB.SearchEvents(ctx, models.EventFilter{Kind: models.EventIdentityRekeyed.String()})
	if err != nil || len(evs) != 2 {
		t.Fatalf("%d identity.rekeyed events (%v), want 2", len(evs), err)
	}

	byClaim, err := s.PlanRekeyClaim(ctx, "acme", "oid")
	if err != nil || len(byClaim.Changes) != 2 || len(byClaim.Unmatched) != 1 {
		t.Fatalf("claim plan: %+v %v", byClaim, err)
	}
	if _, err := s.PlanRekeyClaim(ctx, "nope", "oid"); err == nil {
		t.Fatal("a provider not configured was planned")
	}
}
