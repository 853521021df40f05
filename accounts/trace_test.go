package accounts_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
)

// TestSSOTraceRules: each rule beyond the link matrix (TestSSOResolveMatrix)
// is named as the decisive one when it decides, and says why.
func TestSSOTraceRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		policy  accounts.SSOPolicy
		seed    func(t *testing.T, e *ssoEnv)
		groups  []string
		email   string
		rule    accounts.Rule
		verdict accounts.Verdict
		detail  string // in the decisive step
		admin   accounts.Verdict
	}{
		{name: "allowed groups refuse", policy: accounts.SSOPolicy{AllowedGroups: []string{"staff"}, AutoCreate: true}, groups: []string{"guests"},
			rule: accounts.RuleAllowedGroups, verdict: accounts.VerdictRefuse, detail: "in none of allowed_groups (staff)"},
		{name: "known identity", seed: func(t *testing.T, e *ssoEnv) {
			u := e.user(t, ssoBystander, ssoWithPassword)
			e.identity(t, u.ID, ssoProvider, ssoIssuer, ssoSubject)
		}, rule: accounts.RuleIdentity, verdict: accounts.VerdictSignIn, detail: "linked to account", admin: accounts.VerdictSkip},
		{name: "known identity, disabled", seed: func(t *testing.T, e *ssoEnv) {
			u := e.user(t, ssoBystander, ssoDisabled)
			e.identity(t, u.ID, ssoProvider, ssoIssuer, ssoSubject)
		}, rule: accounts.RuleDisabled, verdict: accounts.VerdictRefuse, detail: "is disabled"},
		{name: "no email", email: "not an address", rule: accounts.RuleEmail, verdict: accounts.VerdictRefuse, detail: "no usable email"},
		{name: "admin granted", policy: accounts.SSOPolicy{AutoCreate: true, AdminGroups: []string{"ops", "admins"}}, groups: []string{"staff", "admins"},
			rule: accounts.RuleAutoCreate, verdict: accounts.VerdictCreate, detail: "auto_create", admin: accounts.VerdictGrant},
		{name: "not an admin", policy: accounts.SSOPolicy{AutoCreate: true, AdminGroups: []string{"admins"}}, groups: []string{"staff"},
			rule: accounts.RuleAutoCreate, verdict: accounts.VerdictCreate, detail: "auto_create", admin: accounts.VerdictKeep},
		{name: "last admin", policy: accounts.SSOPolicy{AdminGroups: []string{"admins"}}, groups: []string{"staff"}, seed: func(t *testing.T, e *ssoEnv) {
			u := e.user(t, ssoBystander, ssoAdminWithPassword)
			e.identity(t, u.ID, ssoProvider, ssoIssuer, ssoSubject)
		}, rule: accounts.RuleAdminGroups, verdict: accounts.VerdictRefuse, detail: "last administrator"},
		{name: "migration window", policy: accounts.SSOPolicy{MigrateFrom: "old"}, seed: func(t *testing.T, e *ssoEnv) {
			u := e.user(t, ssoBystander, ssoOnly)
			e.identity(t, u.ID, "old", "https://old.example", ssoSubject)
		}, rule: accounts.RuleMigration, verdict: accounts.VerdictLink, detail: "old's identity"},
		{name: "migration window, administrator", policy: accounts.SSOPolicy{MigrateFrom: "old"}, seed: func(t *testing.T, e *ssoEnv) {
			u := e.user(t, ssoBystander, ssoAdminWithPassword)
			e.identity(t, u.ID, "old", "https://old.example", ssoSubject)
		}, rule: accounts.RuleMigration, verdict: accounts.VerdictNeedPassword, detail: "must prove the password"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newSSOEnv(t)
			if c.seed != nil {
				c.seed(t, e)
			}
			p := c.policy
			if p.MigrateFrom != "" {
				p.MigrateEnd = e.now.Add(24 * time.Hour)
			}
			id := ssoNewIdentity(ssoIdPEmail, true)
			if c.email != "" {
				id.Email, id.EmailExact = c.email, false
			}
			if c.groups != nil {
				id.Groups, id.HasGroups = c.groups, true
			}
			users, ids := e.users(t), e.identities(t)
			for _, dry := range []bool{true, false} {
				var res *accounts.Resolution
				var err error
				if dry {
					res, err = e.trace(t.Context(), p, id)
				} else {
					res, err = e.resolve(t.Context(), p, id)
				}
				if err != nil {
					t.Fatal(err)
				}
				ssoCheckDecisive(t, res.Trace, c.rule)
				step, _ := res.Trace.Decisive()
				if step.Verdict != c.verdict || !strings.Contains(step.Detail, c.detail) {
					t.Errorf("dry=%v: decisive %+v, want verdict %q and %q", dry, step, c.verdict, c.detail)
				}
				if c.admin != "" {
					found := false
					for _, s := range res.Trace.Steps {
						found = found || (s.Rule == accounts.RuleAdminGroups && s.Verdict == c.admin)
					}
					if !found {
						t.Errorf("dry=%v: no admin_groups step %q in %s", dry, c.admin, res.Trace)
					}
				}
				if res.Trace.Steps[0].Rule != accounts.RuleClaims || !strings.Contains(res.Trace.Steps[0].Detail, "subject "+ssoSubject) {
					t.Errorf("first step = %+v, want the claim mapping", res.Trace.Steps[0])
				}
				if dry && (e.users(t) != users || e.identities(t) != ids) {
					t.Errorf("the dry run changed rows")
				}
			}
		})
	}
}

// TestTraceBounds: a stored trace stays small whatever the claims hold.
func TestTraceBounds(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t)
	id := ssoNewIdentity(ssoIdPEmail, true)
	id.Name = strings.Repeat("n", 10_000)
	for i := range 500 {
		id.Groups = append(id.Groups, strings.Repeat("g", 100)+string(rune('a'+i%26)))
	}
	id.HasGroups = true
	res, err := e.trace(t.Context(), accounts.SSOPolicy{AutoCreate: true}, id)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Trace.String()); n > 24*600 {
		t.Errorf("stored trace is %d bytes", n)
	}
	if got := accounts.ParseTrace(res.Trace.String()); got == nil || len(got.Steps) != len(res.Trace.Steps) {
		t.Errorf("round trip = %+v", got)
	}
	if accounts.ParseTrace("{broken") != nil || accounts.ParseTrace("") != nil {
		t.Error("a broken trace parsed")
	}
}
