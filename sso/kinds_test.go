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
		{cfg: ProviderConfig{Kind: KindEntra, Tenant: "organizations"}, key: "tenant"},
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
