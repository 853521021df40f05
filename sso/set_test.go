package sso

import (
	"encoding/json"
	"errors"
	"testing"
)

func newSetProvider(t *testing.T, id string, domains ...string) *Provider {
	t.Helper()
	p, err := NewProvider(ProviderConfig{
		ID: id, Issuer: "https://" + id + ".example.net", ClientID: "c", ClientSecret: "s",
		RedirectURL: "https://app.example.com/cb", EmailDomains: domains,
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSetForEmail(t *testing.T) {
	t.Parallel()
	corp := newSetProvider(t, "corp", "corp.example", "Corp-Subsidiary.example")
	partner := newSetProvider(t, "partner", "partner.example")
	both, err := NewSet(corp, partner)
	if err != nil {
		t.Fatal(err)
	}
	only, err := NewSet(corp)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		set    *Set
		email  string
		want   *Provider
		choice Choice
	}{
		{"domain match", both, "alice@corp.example", corp, ChoiceDomain},
		{"domain match is case-insensitive and trimmed", both, "  Bob@PARTNER.example ", partner, ChoiceDomain},
		{"configured domain normalised", both, "c@corp-subsidiary.example", corp, ChoiceDomain},
		{"subdomain does not match", both, "x@eu.corp.example", nil, ChoiceNone},
		{"unknown domain, several providers", both, "x@gmail.example", nil, ChoiceNone},
		{"unknown domain, one provider", only, "x@gmail.example", corp, ChoiceOnly},
		{"domain match with one provider", only, "x@corp.example", corp, ChoiceDomain},
		{"no email, one provider", only, "", corp, ChoiceOnly},
		{"no email, several providers", both, "", nil, ChoiceNone},
		{"empty set", &Set{}, "x@corp.example", nil, ChoiceNone},
		{"nil set", nil, "x@corp.example", nil, ChoiceNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, choice := tt.set.ForEmail(tt.email)
			if got != tt.want || choice != tt.choice {
				t.Errorf("ForEmail(%q) = %v, %v; want %v, %v", tt.email, got, choice, tt.want, tt.choice)
			}
		})
	}
}

func TestSetByIDAndOrder(t *testing.T) {
	t.Parallel()
	a, b := newSetProvider(t, "a"), newSetProvider(t, "b")
	s, err := NewSet(b, a)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s.ByID("a"); !ok || got != a {
		t.Errorf("ByID(a) = %v, %v", got, ok)
	}
	if _, ok := s.ByID("c"); ok {
		t.Error("ByID(c) found a provider")
	}
	if all := s.All(); len(all) != 2 || all[0] != b || all[1] != a || s.Len() != 2 {
		t.Errorf("All() = %v, want configuration order", all)
	}
}

func TestNewSetRejectsAmbiguity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		providers []*Provider
	}{
		{"duplicate id", []*Provider{newSetProvider(t, "a"), newSetProvider(t, "a")}},
		{"shared domain", []*Provider{newSetProvider(t, "a", "x.example"), newSetProvider(t, "b", "X.example")}},
		{"nil provider", []*Provider{nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewSet(tt.providers...); !errors.Is(err, ErrConfig) {
				t.Errorf("NewSet error = %v, want ErrConfig", err)
			}
		})
	}
}

func TestAuthoritative(t *testing.T) {
	t.Parallel()
	p := newSetProvider(t, "corp", "corp.example")
	for email, want := range map[string]bool{
		"a@corp.example": true, "A@CORP.EXAMPLE": true, "a@evil.example": false,
		"a@x.corp.example": false, "corp.example": false, "": false,
	} {
		if got := p.Authoritative(email); got != want {
			t.Errorf("Authoritative(%q) = %v, want %v", email, got, want)
		}
	}
}

// TestMultiFactor: a sign-in counts as multi-factor only by an amr value
// or the acr the provider is configured with; an amr that is not an array
// of strings says nothing; a provider configured with neither is never
// taken at its word.
func TestMultiFactor(t *testing.T) {
	t.Parallel()
	claims := func(raw string) *Identity {
		t.Helper()
		var c idTokenClaims
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			t.Fatal(err)
		}
		id, err := newIdentity(ProviderConfig{ID: "p"}, &c, "", map[string]json.RawMessage{})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	configured := &Provider{cfg: ProviderConfig{MFAAMR: []string{"mfa", "hwk"}, MFAACR: []string{"urn:example:loa:3"}}}
	bare := &Provider{cfg: ProviderConfig{}}
	for _, tc := range []struct {
		claims string
		want   bool
	}{
		{`{"amr":["pwd","mfa"]}`, true},
		{`{"amr":["hwk"]}`, true},
		{`{"amr":["pwd"]}`, false},
		{`{"amr":"mfa"}`, false},
		{`{"amr":[1,2]}`, false},
		{`{"amr":["pwd"],"acr":"urn:example:loa:3"}`, true},
		{`{"acr":"urn:example:loa:2"}`, false},
		{`{"acr":["urn:example:loa:3"]}`, false},
		{`{}`, false},
	} {
		id := claims(tc.claims)
		if got := configured.MultiFactor(id); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.claims, got, tc.want)
		}
		if bare.MultiFactor(id) {
			t.Errorf("%s: a provider configured with no amr or acr vouched", tc.claims)
		}
	}
	if configured.MultiFactor(nil) {
		t.Error("no identity vouched")
	}
}
