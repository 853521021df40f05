package sso

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

// TestGroupsOf: the groups claim is read at a dotted path as a list of
// strings or a space/comma separated string; other shapes, null, or too
// many groups are not groups at all.
func TestGroupsOf(t *testing.T) {
	many := make([]string, maxGroups+1)
	for i := range many {
		many[i] = "g"
	}
	manyJSON, _ := json.Marshal(many)
	for _, tc := range []struct {
		claims, path string
		want         []string
		found        bool
	}{
		{`{"groups":["a","b","a"]}`, "groups", []string{"a", "b"}, true},
		{`{"groups":"a b,c , d"}`, "groups", []string{"a", "b", "c", "d"}, true},
		{`{"groups":[]}`, "groups", nil, true},
		{`{"groups":""}`, "groups", nil, true},
		{`{"groups":null}`, "groups", nil, false},
		{`{"groups":[1,2]}`, "groups", nil, false},
		{`{"groups":{"a":true}}`, "groups", nil, false},
		{`{"realm_access":{"roles":["admin"]}}`, "realm_access.roles", []string{"admin"}, true},
		{`{"realm_access":["roles"]}`, "realm_access.roles", nil, false},
		{`{"realm_access":{}}`, "realm_access.roles", nil, false},
		{`{}`, "groups", nil, false},
		{`{"groups":` + string(manyJSON) + `}`, "groups", nil, false},
	} {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(tc.claims), &m); err != nil {
			t.Fatal(err)
		}
		got, found := groupsOf(m, tc.path)
		if found != tc.found || !slices.Equal(got, tc.want) {
			t.Errorf("groupsOf(%s, %q) = %q %v, want %q %v", tc.claims, tc.path, got, found, tc.want, tc.found)
		}
	}
}

// TestCheckGroups: a provider that decides groups fails closed on claims
// without them, and names an Entra ID overage; one that does not, never.
func TestCheckGroups(t *testing.T) {
	deciding := ProviderConfig{GroupsClaim: "groups", AdminGroups: []string{"admins"}}
	for _, tc := range []struct {
		cfg    ProviderConfig
		claims string
		want   error
	}{
		{deciding, `{"groups":["x"]}`, nil},
		{deciding, `{}`, ErrGroupsMissing},
		{deciding, `{"groups":5}`, ErrGroupsMissing},
		{deciding, `{"_claim_names":{"groups":"src1"}}`, ErrGroupsOverage},
		{ProviderConfig{GroupsClaim: "groups", AllowedGroups: []string{"staff"}}, `{}`, ErrGroupsMissing},
		{ProviderConfig{GroupsClaim: "groups"}, `{}`, nil},
	} {
		var m map[string]json.RawMessage
		_ = json.Unmarshal([]byte(tc.claims), &m)
		if err := tc.cfg.checkGroups(m); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("checkGroups(%s) = %v, want %v", tc.claims, err, tc.want)
		}
	}
}

// TestNormalizeGroups: bad group settings are refused naming the key.
func TestNormalizeGroups(t *testing.T) {
	for _, tc := range []struct {
		cfg ProviderConfig
		key string
	}{
		{ProviderConfig{GroupsClaim: "a..b"}, "groups_claim"},
		{ProviderConfig{GroupsClaim: ".a"}, "groups_claim"},
		{ProviderConfig{AdminGroups: []string{"ok", " "}}, "admin_groups[1]"},
		{ProviderConfig{AllowedGroups: []string{""}}, "allowed_groups[0]"},
	} {
		err := tc.cfg.normalizeGroups()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%+v: %v, want an error at %s", tc.cfg, err, tc.key)
		}
	}
	c := ProviderConfig{}
	if err := c.normalizeGroups(); err != nil || c.GroupsClaim != DefaultGroupsClaim {
		t.Fatalf("default: %q %v", c.GroupsClaim, err)
	}
}
