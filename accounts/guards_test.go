package accounts

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sso"
	"golang.org/x/crypto/bcrypt"
)

// TestLastAdminConcurrent: two administrators taking each other's rights
// away at the same moment (demote, disable or delete, both at once) leave
// one administrator, round after round, on either database: the guard
// locks the administrators' rows before it counts them.
func TestLastAdminConcurrent(t *testing.T) {
	t.Parallel()
	s := newService(t, bcrypt.MinCost)
	ctx := context.Background()
	actions := map[string]func(actor, target *models.User) error{
		"demote": func(_, target *models.User) error {
			_, err := s.UpdateUser(ctx, target.ID, target.Name, target.Email, false)
			return err
		},
		"disable": func(actor, target *models.User) error { return s.SetDisabled(ctx, actor, target.ID, true) },
		"delete": func(actor, target *models.User) error {
			_, err := s.DeleteUser(ctx, actor, target.ID)
			return err
		},
	}
	for name, act := range actions {
		for round := range 10 {
			a := mustAdmin(t, s, fmt.Sprintf("%s-a%d@example.com", name, round))
			b := mustAdmin(t, s, fmt.Sprintf("%s-b%d@example.com", name, round))
			var wg sync.WaitGroup
			errs := make([]error, 2)
			wg.Go(func() { errs[0] = act(a, b) })
			wg.Go(func() { errs[1] = act(b, a) })
			wg.Wait()
			refused := 0
			for _, err := range errs {
				switch {
				case errors.Is(err, ErrLastAdmin):
					refused++
				case err != nil:
					t.Fatalf("%s round %d: %v", name, round, err)
				}
			}
			n, err := s.DB.CountUsers(ctx, true)
			if err != nil || n != 1 || refused != 1 {
				t.Fatalf("%s round %d: %d administrators left and %d refusals (%v); want 1 and 1", name, round, n, refused, err)
			}
			// Make the survivor an ordinary account, so the next round
			// starts with no administrator but its own two.
			for _, u := range []*models.User{a, b} {
				if cur, err := s.DB.UserByID(ctx, u.ID); err == nil && cur.IsAdmin && !cur.Disabled() {
					if err := s.DB.UpdateUser(ctx, cur.ID, cur.Name, cur.Email, false); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
}

// TestUnlinkLastLoginConcurrent: an SSO-only account unlinking its two
// identities at the same moment keeps one, on either database.
func TestUnlinkLastLoginConcurrent(t *testing.T) {
	t.Parallel()
	s := newService(t, bcrypt.MinCost)
	ctx := context.Background()
	for round := range 10 {
		u, err := s.CreateUser(ctx, NewUser{Email: fmt.Sprintf("sso%d@example.com", round)})
		if err != nil {
			t.Fatal(err)
		}
		var ids [2]*models.Identity
		for i := range ids {
			ids[i] = &models.Identity{UserID: u.ID, ProviderID: "p", Issuer: "https://idp.example", Subject: fmt.Sprintf("r%d-%d", round, i)}
			if err := s.DB.CreateIdentity(ctx, ids[i]); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range ids {
			wg.Go(func() { _, errs[i] = s.Unlink(ctx, u.ID, ids[i].ID, true) })
		}
		wg.Wait()
		left, err := s.DB.UserIdentities(ctx, u.ID)
		if err != nil || len(left) != 1 {
			t.Fatalf("round %d: %d identities left (%v), errors %v; want 1", round, len(left), err, errs)
		}
		if !errors.Is(errs[0], ErrLastLogin) && !errors.Is(errs[1], ErrLastLogin) {
			t.Fatalf("round %d: no unlink refused: %v", round, errs)
		}
	}
}

func mustAdmin(t *testing.T, s *Service, email string) *models.User {
	t.Helper()
	u, err := s.CreateUser(context.Background(), NewUser{Email: email, Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestGroupDemotionConcurrent: two administrators who left their
// provider's admin group sign in at the same moment: one is demoted, the
// other's sign-in is refused as the last administrator, on either
// database.
func TestGroupDemotionConcurrent(t *testing.T) {
	t.Parallel()
	s := newService(t, bcrypt.MinCost)
	s.Providers = map[string]SSOPolicy{"acme": {AdminGroups: []string{"admins"}}}
	ctx := context.Background()
	left := &sso.Identity{HasGroups: true, Groups: []string{"staff"}}
	for round := range 10 {
		a := mustAdmin(t, s, fmt.Sprintf("group-a%d@example.com", round))
		b := mustAdmin(t, s, fmt.Sprintf("group-b%d@example.com", round))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Go(func() { _, errs[0] = s.SyncGroups(ctx, "acme", left, a) })
		wg.Go(func() { _, errs[1] = s.SyncGroups(ctx, "acme", left, b) })
		wg.Wait()
		refused := 0
		for _, err := range errs {
			switch {
			case errors.Is(err, ErrLastAdmin):
				refused++
			case err != nil:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		n, err := s.DB.CountUsers(ctx, true)
		if err != nil || n != 1 || refused != 1 {
			t.Fatalf("round %d: %d administrators left and %d refusals (%v); want 1 and 1", round, n, refused, err)
		}
		for _, u := range []*models.User{a, b} {
			if cur, err := s.DB.UserByID(ctx, u.ID); err == nil && cur.IsAdmin {
				if err := s.DB.SetAdmin(ctx, cur.ID, false, ""); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
