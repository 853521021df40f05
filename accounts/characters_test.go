package accounts_test

// Look-alike and invisible characters at every way into the accounts:
// creation, the admin edit, the account page's name, password sign-in and
// SSO claims.

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
)

// ssoChars are the characters the tests below put in emails and names:
// look-alikes that lower-casing folds onto ASCII, and invisible ones.
var ssoChars = []struct {
	name      string
	c         string
	invisible bool // refused in every email and in typed names
}{
	{"U+212A KELVIN SIGN", "\u212A", false},
	{"U+0130 CAPITAL I WITH DOT ABOVE", "\u0130", false},
	{"U+200B ZERO WIDTH SPACE", "\u200B", true},
	{"U+202E RIGHT-TO-LEFT OVERRIDE", "\u202E", true},
	{"U+2066 LEFT-TO-RIGHT ISOLATE", "\u2066", true},
	{"U+200D ZERO WIDTH JOINER", "\u200D", true},
	{"U+FEFF BYTE ORDER MARK", "\uFEFF", true},
	{"U+3164 HANGUL FILLER", "\u3164", true},
}

func TestLookalikeCharacters(t *testing.T) {
	t.Parallel()
	for _, ch := range ssoChars {
		t.Run(ch.name, func(t *testing.T) {
			e := newSSOEnv(t)
			ctx := t.Context()
			wantInvalid := func(what string, err error, msg string) {
				t.Helper()
				var ae *accounts.Error
				if !errors.As(err, &ae) || ae.Code != accounts.CodeInvalid || !strings.Contains(ae.Msg, msg) {
					t.Errorf("%s: %v, want an invalid-input refusal saying %q", what, err, msg)
				}
			}
			bob := e.user(t, ssoBystander, ssoWithPassword)

			// Account creation (the console and the command line) and the
			// admin edit.
			_, err := e.svc.CreateUser(ctx, accounts.NewUser{Email: "ki" + ch.c + "m@example.com", Name: "Kim"})
			_, editErr := e.svc.UpdateUser(ctx, bob.ID, bob.Name, "bo"+ch.c+"b@example.com", false)
			if ch.invisible {
				wantInvalid("CreateUser", err, "Enter a valid email address.")
				wantInvalid("UpdateUser", editErr, "Enter a valid email address.")
			} else if err != nil || editErr != nil {
				t.Errorf("a look-alike email, stored normalised: CreateUser %v, UpdateUser %v; want both accepted", err, editErr)
			}

			// Names typed on the console, the account page or the command line.
			name := "Ki" + ch.c + "m Example"
			got, err := accounts.CheckName(name)
			_, pageErr := e.svc.UpdateName(ctx, bob.ID, name)
			if ch.invisible {
				wantInvalid("CheckName", err, "Names cannot contain invisible characters")
				wantInvalid("UpdateName", pageErr, "Names cannot contain invisible characters")
			} else if err != nil || got != name || pageErr != nil {
				t.Errorf("CheckName(%q) = %q, %v; UpdateName %v; want it kept", name, got, err, pageErr)
			}

			// An SSO claim hiding characters is no email at all; a
			// look-alike neither links nor creates.
			want := ssoRefused(accounts.ReasonEmailLookalike)
			if ch.invisible {
				want = ssoRefused(accounts.ReasonNoEmail)
			}
			p := accounts.SSOPolicy{Link: accounts.LinkVerifiedEmail, Authoritative: ssoAuthoritative(t, []string{"example.com"}), AutoCreate: true}
			users, ids := e.users(t), e.identities(t)
			res, err := e.resolve(ctx, p, ssoNewIdentity("ne"+ch.c+"w@example.com", true))
			e.checkNew(t, res, err, want, nil, users, ids, 0)

			if !ch.invisible {
				return
			}
			// A row an older version stored with such an email cannot be
			// signed in to: the typed address is unknown, not looked up.
			stored := "ol" + ch.c + "d@example.com"
			if _, err := e.raw.ExecContext(ctx, `INSERT INTO users (email, name, password_hash, is_admin, created_at, updated_at)
				VALUES ($1, 'Old', $2, FALSE, $3, $4)`, stored, e.hash, e.now, e.now); err != nil {
				t.Fatal(err)
			}
			if _, err := e.db.UserByEmail(ctx, stored); err != nil {
				t.Fatalf("seeded row not found: %v", err)
			}
			u, err := e.svc.Authenticate(ctx, stored, ssoPassword)
			var le *accounts.LoginError
			if u != nil || !errors.As(err, &le) || le.Reason != accounts.ReasonUnknownEmail || le.User != nil {
				t.Errorf("Authenticate(%q) = %v, %v; want unknown_email", stored, u, err)
			}
		})
	}
}

// TestSSOAutoCreateNameCharacters: a provider's display name is kept
// without the characters a typed name may not have.
func TestSSOAutoCreateNameCharacters(t *testing.T) {
	t.Parallel()
	tests := []struct{ claim, want string }{
		{"Alice Example", "Alice Example"},
		{"\u202EelpmaxE ecilA\u202C", "elpmaxE ecilA"},
		{"Ali\u200Bce Exa\u2066mple\u2069", "Alice Example"},
		{"Alice\nExample", "Alice Example"},
		{"Alice\u2028Example", "Alice Example"},
		{"\uFEFF\u3164Alice\u200D", "Alice"},
		{"K\u212Aelvin \u0130nce", "K\u212Aelvin \u0130nce"}, // visible: kept as sent
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q", tc.claim), func(t *testing.T) {
			e := newSSOEnv(t)
			id := ssoNewIdentity(ssoEmail, false)
			id.Name = tc.claim
			res, err := e.resolve(t.Context(), accounts.SSOPolicy{Link: accounts.LinkPassword, AutoCreate: true}, id)
			if err != nil || !ssoCreates.equal(ssoGot(res)) {
				t.Fatalf("ResolveSSO = %+v, %v; want a created account", res, err)
			}
			if res.User.Name != tc.want {
				t.Errorf("name = %q, want %q", res.User.Name, tc.want)
			}
			if _, err := accounts.CheckName(res.User.Name); err != nil {
				t.Errorf("stored name %q is not one CheckName accepts: %v", res.User.Name, err)
			}
		})
	}
}

// TestSSOLookalikeEmail: an email claim that only normalises to an
// account's address (a look-alike folded by lower-casing) never links or
// creates by itself, under any policy; it falls back to password proof.
// The exact claim is the baseline it is compared with.
func TestSSOLookalikeEmail(t *testing.T) {
	t.Parallel()
	const (
		tUser       = "user with password"
		tAdmin      = "admin with password"
		tSSOOnly    = "SSO-only pre-provisioned"
		tLinkedElse = "SSO-only linked to another provider"
		tNone       = "no account, auto-create"
	)
	kinds := map[string]ssoUserKind{tUser: ssoWithPassword, tAdmin: ssoAdminWithPassword, tSSOOnly: ssoOnly, tLinkedElse: ssoOnlyLinked}
	lookalike := ssoRefused(accounts.ReasonEmailLookalike)
	expect := []struct {
		policy        accounts.LinkPolicy
		target        string
		exact, folded ssoWant
	}{
		{accounts.LinkVerifiedEmail, tUser, ssoLinks, ssoNeedPassword},
		{accounts.LinkVerifiedEmail, tAdmin, ssoNeedPassword, ssoNeedPassword},
		{accounts.LinkVerifiedEmail, tSSOOnly, ssoLinks, lookalike},
		{accounts.LinkVerifiedEmail, tLinkedElse, ssoLinks, ssoUseLab},
		{accounts.LinkVerifiedEmail, tNone, ssoCreates, lookalike},
		{accounts.LinkPassword, tUser, ssoNeedPassword, ssoNeedPassword},
		{accounts.LinkPassword, tSSOOnly, ssoLinks, lookalike},
		{accounts.LinkPassword, tLinkedElse, ssoUseLab, ssoUseLab},
		{accounts.LinkPassword, tNone, ssoCreates, lookalike},
		{accounts.LinkNever, tUser, ssoRefused(accounts.ReasonLinkNever), ssoRefused(accounts.ReasonLinkNever)},
		{accounts.LinkNever, tNone, ssoCreates, lookalike},
	}
	// Each folds onto ssoEmail, alice@example.com.
	claims := []string{"ALICE@EXAMPLE.COM", "al\u0130ce@example.com", "AL\u0130CE@EXAMPLE.COM", " al\u0130ce@example.com "}
	for _, ex := range expect {
		for _, claim := range claims {
			want := ex.folded
			if claim == "ALICE@EXAMPLE.COM" {
				want = ex.exact
			}
			t.Run(fmt.Sprintf("%s/%s/%q", ex.policy, ex.target, claim), func(t *testing.T) {
				e := newSSOEnv(t)
				target, usersBefore, idsBefore, targetIDs := e.seedTarget(t, kinds, ex.target)
				e.now = e.now.Add(time.Hour)
				p := accounts.SSOPolicy{Link: ex.policy, Authoritative: ssoAuthoritative(t, []string{"example.com"}), AutoCreate: true}
				res, err := e.resolve(t.Context(), p, ssoNewIdentity(claim, true))
				e.checkNew(t, res, err, want, target, usersBefore, idsBefore, targetIDs)
			})
		}
	}
}
