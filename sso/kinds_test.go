package sso

import (
	"errors"
	"testing"
)

// TestNormalizeKind: each kind's defaults, and the settings it refuses.
func TestNormalizeKind(t *testing.T) {
	for _, tc := range []struct {
		cfg  ProviderConfig
		key  string // "" valid
		want func(ProviderConfig) bool
	}{
		{cfg: ProviderConfig{}, want: func(c ProviderConfig) bool { return c.Kind == KindGeneric }},
		{cfg: ProviderConfig{Kind: KindEntra, Tenant: "72F988BF-86f1-41af-91ab-2d7cd011db47"}, want: func(c ProviderConfig) bool {
			return c.Issuer == "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0" && c.SubjectClaim == "oid"
		}},
		{cfg: ProviderConfig{Kind: KindEntra, Tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47", Issuer: "https://op.test", SubjectClaim: "sub"},
			want: func(c ProviderConfig) bool { return c.Issuer == "https://op.test" && c.SubjectClaim == "sub" }},
		{cfg: ProviderConfig{Kind: KindGoogle}, want: func(c ProviderConfig) bool { return c.Issuer == "https://accounts.google.com" }},
		{cfg: ProviderConfig{Kind: KindOkta, AdminGroups: []string{"a"}}, want: func(c ProviderConfig) bool {
			return len(c.Scopes) == 4 && c.Scopes[3] == "groups"
		}},
		{cfg: ProviderConfig{Kind: "azure"}, key: "kind"},
		{cfg: ProviderConfig{Kind: KindEntra}, key: "tenant"},
		{cfg: ProviderConfig{Kind: KindEntra, Tenant: "organizations"}, key: "allowed_tenants"},
		{cfg: ProviderConfig{Kind: KindEntra, Tenant: "organizations", AllowedTenants: []string{"contoso"}}, key: "allowed_tenants[0]"},
		{cfg: ProviderConfig{Kind: KindEntra, Tenant: "consumers"}, key: "tenant"},
		{cfg: ProviderConfig{Kind: KindEntra, Tenant: "organizations", AllowedTenants: []string{"72f988bf-86f1-41af-91ab-2d7cd011db47"},
			Metadata: &Metadata{Issuer: "https://login.microsoftonline.com/organizations/v2.0"}}, key: "metadata.issuer"},
		{cfg: ProviderConfig{Kind: KindEntra, Tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47", AllowedTenants: []string{"72f988bf-86f1-41af-91ab-2d7cd011db47"}}, key: "allowed_tenants"},
		{cfg: ProviderConfig{Kind: KindEntra, Tenant: "organizations", AllowedTenants: []string{"72F988BF-86f1-41af-91ab-2d7cd011db47"}}, want: func(c ProviderConfig) bool {
			return c.MultiTenant() && c.Issuer == "https://login.microsoftonline.com/organizations/v2.0" &&
				c.AllowedTenants[0] == "72f988bf-86f1-41af-91ab-2d7cd011db47" &&
				c.TenantIssuer("https://login.microsoftonline.com/{tenantid}/v2.0", "72F988BF-86F1-41AF-91AB-2D7CD011DB47") == "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0" &&
				c.TenantIssuer("https://login.microsoftonline.com/{tenantid}/v2.0", "00000000-0000-0000-0000-000000000000") == ""
		}},
		{cfg: ProviderConfig{Kind: KindEntra, Tenant: "contoso.onmicrosoft.com"}, key: "tenant"},
		{cfg: ProviderConfig{Tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47"}, key: "tenant"},
	} {
		c := tc.cfg
		err := c.normalizeKind()
		var ce *ConfigError
		switch {
		case tc.key != "" && (!errors.As(err, &ce) || ce.Key != tc.key):
			t.Errorf("%+v: %v, want an error at %s", tc.cfg, err, tc.key)
		case tc.key == "" && (err != nil || !tc.want(c)):
			t.Errorf("%+v: %+v %v", tc.cfg, c, err)
		}
	}
}

// TestIssuerTemplate: a multi-tenant document's issuer is accepted only as
// one tenant placeholder on the configured issuer's scheme and host.
func TestIssuerTemplate(t *testing.T) {
	configured := "https://login.microsoftonline.com/organizations/v2.0"
	for doc, want := range map[string]bool{
		"https://login.microsoftonline.com/{tenantid}/v2.0":            true,
		"https://evil.example/{tenantid}/v2.0":                         false,
		"http://login.microsoftonline.com/{tenantid}/v2.0":             false,
		"https://login.microsoftonline.com/{tenantid}/{tenantid}/v2.0": false,
		"https://login.microsoftonline.com/common/v2.0":                false,
	} {
		if got := issuerTemplate(configured, doc); got != want {
			t.Errorf("issuerTemplate(%q) = %v, want %v", doc, got, want)
		}
	}
}
