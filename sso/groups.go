package sso

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// DefaultGroupsClaim is where groups are when groups_claim is not set.
const DefaultGroupsClaim = "groups"

const (
	// maxGroups bounds the groups read from one sign-in: a token with
	// more is refused rather than searched.
	maxGroups = 1000
	// maxGroupName bounds one configured group name.
	maxGroupName = 256
)

// normalizeGroups validates the claim mapping and group settings and
// applies the default claims.
func (c *ProviderConfig) normalizeGroups() error {
	for _, k := range []struct {
		key, def string
		v        *string
	}{
		{"groups_claim", DefaultGroupsClaim, &c.GroupsClaim}, {"subject_claim", "sub", &c.SubjectClaim},
		{"email_claim", "email", &c.EmailClaim}, {"name_claim", "name", &c.NameClaim},
	} {
		if *k.v == "" {
			*k.v = k.def
		}
		if len(*k.v) > 200 || slices.Contains(strings.Split(*k.v, "."), "") {
			return badKey(k.key, "%q must be a claim name, or names joined by dots (realm_access.roles)", *k.v)
		}
	}
	for key, groups := range map[string][]string{"admin_groups": c.AdminGroups, "allowed_groups": c.AllowedGroups} {
		for i, g := range groups {
			if strings.TrimSpace(g) == "" || len(g) > maxGroupName {
				return badKey(fmt.Sprintf("%s[%d]", key, i), "must be a group name of 1 to %d bytes", maxGroupName)
			}
		}
	}
	return nil
}

// DecidesGroups reports whether sign-ins through the provider depend on
// the person's groups (admin_groups or allowed_groups set): then a sign-in
// without the groups claim fails (ErrGroupsMissing).
func (c ProviderConfig) DecidesGroups() bool {
	return len(c.AdminGroups) > 0 || len(c.AllowedGroups) > 0
}

// claimAt follows a dotted path into the claims.
func claimAt(claims map[string]json.RawMessage, path string) (json.RawMessage, bool) {
	if raw, ok := claims[path]; ok { // a key with dots of its own ("https://example.com/groups")
		return raw, string(raw) != "null"
	}
	names := strings.Split(path, ".")
	raw, ok := claims[names[0]]
	for _, name := range names[1:] {
		if !ok {
			return nil, false
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil, false
		}
		raw, ok = obj[name]
	}
	return raw, ok && string(raw) != "null"
}

// groupsOf reads the groups claim at path: a list of strings, or one
// string of names separated by spaces or commas. found is false when the
// claim is absent or of another shape (which says nothing of the groups).
func groupsOf(claims map[string]json.RawMessage, path string) (groups []string, found bool) {
	raw, ok := claimAt(claims, path)
	if !ok {
		return nil, false
	}
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, false
		}
		list = strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	}
	if len(list) > maxGroups {
		return nil, false
	}
	for _, g := range list {
		if g = strings.TrimSpace(g); g != "" && !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	return groups, true
}

// GroupsIn reads the groups claim at path from a claims snapshot
// (Identity.Claims), as Exchange does: for an identity parked while the
// person proves a password.
func GroupsIn(claims json.RawMessage, path string) ([]string, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(claims, &m) != nil {
		return nil, false
	}
	return groupsOf(m, cmp.Or(path, DefaultGroupsClaim))
}

// overage reports whether the claims name the groups claim in
// _claim_names (OIDC Core §5.6.2, distributed claims): Entra ID's answer
// for a person in more groups than a token holds.
func overage(claims map[string]json.RawMessage, path string) bool {
	raw, ok := claims["_claim_names"]
	if !ok {
		return false
	}
	var names map[string]json.RawMessage
	if json.Unmarshal(raw, &names) != nil {
		return false
	}
	_, ok = names[strings.Split(path, ".")[0]]
	return ok
}

// checkGroups fails a sign-in through a provider that decides groups when
// the claims do not carry them.
func (c ProviderConfig) checkGroups(claims map[string]json.RawMessage) error {
	if !c.DecidesGroups() {
		return nil
	}
	if _, found := groupsOf(claims, c.GroupsClaim); found {
		return nil
	}
	if overage(claims, c.GroupsClaim) {
		return fmt.Errorf("%w: %q named in _claim_names", ErrGroupsOverage, c.GroupsClaim)
	}
	return fmt.Errorf("%w: %q", ErrGroupsMissing, c.GroupsClaim)
}

// Member reports the first of groups the person is in, and whether there
// is one.
func (id *Identity) Member(groups []string) (string, bool) {
	for _, g := range groups {
		if slices.Contains(id.Groups, g) {
			return g, true
		}
	}
	return "", false
}
