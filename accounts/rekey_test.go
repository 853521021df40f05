package accounts

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

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

// TestRekeyIssuersAndSessions: a new issuer must be an https URL no other
// provider uses; a re-keyed identity takes its sessions along.
func TestRekeyIssuersAndSessions(t *testing.T) {
	t.Parallel()
	s := newService(t, bcrypt.MinCost)
	s.Providers = map[string]SSOPolicy{"acme": {Issuer: "https://old.example"}, "other": {Issuer: "https://other.example"}}
	ctx := context.Background()
	u, err := s.CreateUser(ctx, NewUser{Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DB.CreateIdentity(ctx, models.NewIdentity(u.ID, "acme", &sso.Identity{Issuer: "https://old.example", Subject: "s1", Email: u.Email})); err != nil {
		t.Fatal(err)
	}
	for _, iss := range []string{"https://other.example", "http://evil.example", "not a url", "https://x.example/\x00"} {
		plan, err := s.PlanRekeyCSV(ctx, "acme", []RekeyRow{{OldSubject: "s1", NewSubject: "n1", NewIssuer: iss}})
		if err != nil || len(plan.Conflicts) != 1 {
			t.Fatalf("new issuer %q: %+v %v", iss, plan, err)
		}
	}
	now := s.DB.Now()
	if err := s.DB.CreateSession(ctx, &models.Session{TokenHash: "h1", UserID: &u.ID, CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour), AuthMethod: models.MethodSSO,
		Issuer: "https://old.example", Subject: "s1", SID: "sid-1"}); err != nil {
		t.Fatal(err)
	}
	plan, _ := s.PlanRekeyCSV(ctx, "acme", []RekeyRow{{OldSubject: "s1", NewSubject: "n1", NewIssuer: "https://new.example"}})
	if err := s.ApplyRekey(ctx, plan, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DB.DeleteSessionsBySID(ctx, "https://new.example", "n1", "sid-1"); err != nil || n != 1 {
		t.Fatalf("the session did not follow its identity: %d %v", n, err)
	}
	if err := s.ApplyRekey(ctx, plan, nil); err == nil || ErrorCode(err) != CodeConflict {
		t.Fatalf("applying a stale plan: %v", err)
	}
}

// TestMigrationWindowGuards: a migration window links a user's account,
// but an administrator's only with the password, and never a subject two
// of the old provider's identities share.
func TestMigrationWindowGuards(t *testing.T) {
	t.Parallel()
	s := newService(t, bcrypt.MinCost)
	ctx := context.Background()
	s.Providers = map[string]SSOPolicy{"old": {}, "new": {MigrateFrom: "old", MigrateEnd: s.DB.Now().Add(time.Hour), AutoCreate: true}}
	link := func(email, iss, sub string, admin bool) {
		t.Helper()
		pw := "correct horse battery staple"
		u, err := s.CreateUser(ctx, NewUser{Email: email, Admin: admin, Password: &pw})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.DB.CreateIdentity(ctx, models.NewIdentity(u.ID, "old", &sso.Identity{Issuer: iss, Subject: sub, Email: email})); err != nil {
			t.Fatal(err)
		}
	}
	link("user@example.com", "https://old.example", "u1", false)
	link("admin@example.com", "https://old.example", "a1", true)
	link("x@example.com", "https://old-a.example", "amb", false)
	link("y@example.com", "https://old-b.example", "amb", false)
	resolve := func(sub, email string) *Resolution {
		t.Helper()
		r, err := s.ResolveSSO(ctx, "new", &sso.Identity{Issuer: "https://new.example", Subject: sub, Email: email, EmailExact: true})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := resolve("u1", "someone-else@example.com"); r.Outcome != OutcomeSignIn || r.User.Email != "user@example.com" || r.MigratedFrom != "old" {
		t.Fatalf("user: %+v", r)
	}
	if r := resolve("a1", "attacker@example.com"); r.Outcome != OutcomeNeedPassword || r.User.Email != "admin@example.com" {
		t.Fatalf("administrator: %+v", r)
	}
	if r := resolve("amb", "z@example.com"); r.MigratedFrom != "" {
		t.Fatalf("an ambiguous subject was carried over: %+v", r)
	}
}
