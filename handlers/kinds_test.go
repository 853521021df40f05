package handlers_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/sso"
	"github.com/gatehouse/gatehouse/testop"
)

const testTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"

// TestKindEntra: kind entra keys identities on oid, refuses a token
// without tid or of another directory, and counts the xms_edov optional
// claim as a verified address.
func TestKindEntra(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{providers: func(e *ssoEnv, ps []config.Provider) {
		// The issuer the tenant would give is Microsoft's; the test's
		// provider stands in for it.
		ps[0].Kind, ps[0].Tenant = sso.KindEntra, testTenant
	}})
	entra := func(sub string, extra map[string]any) *testop.User {
		return &testop.User{Subject: sub, Email: ssoBob.Email, Name: "Bob", Extra: extra}
	}
	for _, tc := range []struct {
		name  string
		extra map[string]any
	}{
		{"no tid", map[string]any{"oid": "oid-bob"}},
		{"another directory", map[string]any{"oid": "oid-bob", "tid": "00000000-0000-0000-0000-000000000000"}},
		{"no oid", map[string]any{"tid": testTenant}},
	} {
		e.op.SetLoginUser(entra("pairwise-1", tc.extra))
		b := e.browser()
		if r := b.get(t, b.toCallback(t, ssoBob.Email)); r.status != http.StatusBadRequest || b.session(t) != nil {
			t.Fatalf("%s: %d", tc.name, r.status)
		}
	}
	e.op.SetLoginUser(entra("pairwise-1", map[string]any{"oid": "oid-bob", "tid": testTenant, "xms_edov": true}))
	e.browser().signIn(t, ssoBob.Email)
	if e.identity("oid-bob") == nil {
		t.Fatal("the identity is not keyed on oid")
	}
	if !e.userByEmail(t, ssoBob.Email).EmailVerified() {
		t.Fatal("xms_edov did not count as a verified address")
	}
}

// TestKindGoogle: kind google vouches for an address only when the
// account's hosted domain (hd) is one of email_domains: a consumer Google
// account using a company address is never trusted.
func TestKindGoogle(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		hd       any
		verified bool
	}{
		{"workspace account of the domain", "example.com", true},
		{"consumer account", nil, false},
		{"another domain's workspace", "other.example", false},
		{"hd not a string", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newSSOEnv(t, ssoEnvOpts{providers: func(e *ssoEnv, ps []config.Provider) { ps[0].Kind = sso.KindGoogle }})
			u := ssoBob
			if tc.hd != nil {
				u.Extra = map[string]any{"hd": tc.hd}
			}
			e.op.SetLoginUser(&u)
			e.browser().signIn(t, ssoBob.Email)
			if got := e.userByEmail(t, ssoBob.Email).EmailVerified(); got != tc.verified {
				t.Fatalf("address verified %v, want %v", got, tc.verified)
			}
		})
	}
}

// TestKindEntraMultiTenant: a multi-tenant app (tenant organizations)
// accepts the discovery document's issuer template and signs in people of
// allowed_tenants only, each identity under its tenant's issuer.
func TestKindEntraMultiTenant(t *testing.T) {
	t.Parallel()
	const other = "00000000-0000-0000-0000-000000000001"
	e := newSSOEnv(t, ssoEnvOpts{tenantIssuers: true, providers: func(e *ssoEnv, ps []config.Provider) {
		ps[0].Kind, ps[0].Tenant, ps[0].AllowedTenants = sso.KindEntra, "organizations", []string{testTenant}
	}})
	in := func(tid string) *testop.User {
		return &testop.User{Subject: "pairwise", Email: ssoBob.Email, Name: "Bob", Extra: map[string]any{"oid": "oid-bob", "tid": tid}}
	}
	e.op.SetLoginUser(in(other))
	b := e.browser()
	if r := b.get(t, b.toCallback(t, ssoBob.Email)); r.status != http.StatusBadRequest || b.session(t) != nil {
		t.Fatalf("a directory not in allowed_tenants: %d", r.status)
	}
	e.op.SetLoginUser(in(testTenant))
	row := e.browser().signIn(t, ssoBob.Email)
	tenantIss := e.op.Issuer() + "/" + testTenant + "/v2.0"
	if row.Issuer != tenantIss {
		t.Fatalf("session issuer %q, want the tenant's %q", row.Issuer, tenantIss)
	}
	// An app launcher names the tenant's issuer: it starts a sign-in; a
	// tenant not allowed names no provider.
	b = e.browser()
	if r := b.get(t, "/auth/initiate?iss="+url.QueryEscape(tenantIss)); r.status != http.StatusSeeOther {
		t.Fatalf("initiate with the tenant's issuer: %d", r.status)
	}
	b.get(t, "/auth/initiate?iss="+url.QueryEscape(e.op.Issuer()+"/"+other+"/v2.0")).want(t, http.StatusBadRequest, "")
}
