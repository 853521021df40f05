package sso

// Provider kinds: the defaults and checks a well-known provider needs
// beyond OpenID Connect itself, so that configuring one right takes its
// kind and a few keys rather than knowing its quirks.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Kind is a provider kind (the kind key).
type Kind string

// Provider kinds.
const (
	KindGeneric  Kind = "generic"  // OpenID Connect as the standard says
	KindEntra    Kind = "entra"    // Microsoft Entra ID (Azure AD), v2.0 endpoints
	KindGoogle   Kind = "google"   // Google (Workspace)
	KindOkta     Kind = "okta"     // Okta
	KindKeycloak Kind = "keycloak" // Keycloak
)

// String is the configured form.
func (k Kind) String() string { return string(k) }

// kinds lists the kinds, for messages.
var kinds = []Kind{KindGeneric, KindEntra, KindGoogle, KindOkta, KindKeycloak}

// entraMultiTenant are the tenant values that name no one directory:
// they need allowed_tenants.
var entraMultiTenant = []string{"common", "organizations"}

// tenantPlaceholder is where a multi-tenant Entra ID discovery document's
// issuer has the tenant ("https://login.microsoftonline.com/{tenantid}/v2.0").
const tenantPlaceholder = "{tenantid}"

// normalizeKind checks the kind and applies its defaults; keys set in the
// configuration win over them.
func (c *ProviderConfig) normalizeKind() error {
	if c.Kind == "" {
		c.Kind = KindGeneric
	}
	if !slices.Contains(kinds, c.Kind) {
		return badKey("kind", "%q must be one of %v", c.Kind, kinds)
	}
	if (c.Tenant != "" || len(c.AllowedTenants) > 0) && c.Kind != KindEntra {
		return badKey("tenant", "is for kind: entra only")
	}
	switch c.Kind {
	case KindEntra:
		return c.entraDefaults()
	case KindGoogle:
		if c.Issuer == "" && c.Metadata == nil {
			c.Issuer = "https://accounts.google.com"
		}
	case KindOkta:
		// Okta's org authorization server sends groups only when asked
		// (and then in UserInfo, which mergedClaims reads).
		if c.DecidesGroups() && c.Scopes == nil {
			c.Scopes = append(defaultScopes(), "groups")
		}
	}
	return nil
}

// entraDefaults: the issuer of the tenant (the directory's ID: Entra's
// discovery names the issuer by ID, so a domain would never match it), and
// identities keyed on oid, which stays when the app registration changes
// (Entra's sub is per application).
func (c *ProviderConfig) entraDefaults() error {
	t := strings.ToLower(strings.TrimSpace(c.Tenant))
	switch {
	case t == "":
		return badKey("tenant", "required for kind: entra (the directory (tenant) ID from the app registration's overview)")
	case slices.Contains(entraMultiTenant, t):
		if len(c.AllowedTenants) == 0 {
			return badKey("allowed_tenants", "required with tenant: %s: the directory IDs whose people may sign in (a multi-tenant app otherwise signs in anyone with a Microsoft work account)", t)
		}
		for i, a := range c.AllowedTenants {
			if a = strings.ToLower(strings.TrimSpace(a)); !looksLikeGUID(a) {
				return badKey(fmt.Sprintf("allowed_tenants[%d]", i), "%q is not a directory ID", c.AllowedTenants[i])
			}
			c.AllowedTenants[i] = a
		}
	case t == "consumers":
		return badKey("tenant", "consumers (personal Microsoft accounts) has no directory to pin; use a directory ID, or organizations with allowed_tenants")
	case !looksLikeGUID(t):
		return badKey("tenant", "%q is not a directory ID (a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47)", c.Tenant)
	case len(c.AllowedTenants) > 0:
		return badKey("allowed_tenants", "is for a multi-tenant app (tenant: organizations); tenant %s pins one directory already", t)
	}
	c.Tenant = t
	if c.MultiTenant() && c.Metadata != nil && strings.Count(c.Metadata.Issuer, tenantPlaceholder) != 1 {
		return badKey("metadata.issuer", "a multi-tenant app's issuer is a template with one %s (https://login.microsoftonline.com/%s/v2.0)", tenantPlaceholder, tenantPlaceholder)
	}
	if c.Issuer == "" && c.Metadata == nil {
		c.Issuer = "https://login.microsoftonline.com/" + t + "/v2.0"
	}
	if c.SubjectClaim == "" {
		c.SubjectClaim = "oid"
	}
	return nil
}

// checkKind applies the kind's checks to a validated ID token's claims.
func (c ProviderConfig) checkKind(claims map[string]json.RawMessage) error {
	if c.Kind != KindEntra {
		return nil
	}
	// The tenant pinned: a token of another directory is refused, even
	// one whose issuer the configuration would accept.
	tid := strings.ToLower(stringClaim(claims["tid"]))
	if tid == "" {
		return invalidf(errMalformed, "entra: tid missing")
	}
	if !c.tenantAllowed(tid) {
		return invalidf(errMalformed, "entra: tid %q is not the configured tenant", tid)
	}
	return nil
}

// MultiTenant reports whether the provider is a multi-tenant Entra ID app
// (tenant organizations or common, with allowed_tenants): its discovery
// document names an issuer template, and each token's issuer is its
// tenant's.
func (c ProviderConfig) MultiTenant() bool {
	return c.Kind == KindEntra && slices.Contains(entraMultiTenant, c.Tenant)
}

// tenantAllowed reports whether a token of directory tid may sign in.
func (c ProviderConfig) tenantAllowed(tid string) bool {
	if c.MultiTenant() {
		return slices.Contains(c.AllowedTenants, strings.ToLower(tid))
	}
	return strings.EqualFold(tid, c.Tenant)
}

// issuerTemplate reports whether a discovery document's issuer doc is a
// multi-tenant template for the configured issuer: one tenant placeholder,
// on the same scheme and host.
func issuerTemplate(configured, doc string) bool {
	if strings.Count(doc, tenantPlaceholder) != 1 {
		return false
	}
	cu, err1 := url.Parse(configured)
	du, err2 := url.Parse(doc)
	return err1 == nil && err2 == nil && cu.Scheme == du.Scheme && strings.EqualFold(cu.Host, du.Host)
}

// TenantIssuer is the issuer of directory tid's tokens under a template
// (the metadata's issuer of a multi-tenant provider), or "" when tid may
// not sign in.
func (c ProviderConfig) TenantIssuer(template, tid string) string {
	if !c.tenantAllowed(tid) {
		return ""
	}
	return strings.Replace(template, tenantPlaceholder, strings.ToLower(tid), 1)
}

// looksLikeGUID reports whether s has a GUID's shape (a directory ID
// rather than a domain).
func looksLikeGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", r):
			return false
		}
	}
	return true
}

// emailVerified is whether the provider vouches for the email claim: a
// JSON true email_verified; for entra, also its domain-verified optional
// claim xms_edov; for google, only when the account's hosted domain (hd)
// is one of email_domains (a consumer Google account using a company
// address is never vouched for).
func (c ProviderConfig) emailVerified(claims map[string]json.RawMessage) bool {
	verified := trueClaim(claims["email_verified"])
	switch c.Kind {
	case KindEntra:
		verified = verified || trueClaim(claims["xms_edov"])
	case KindGoogle:
		hd := strings.ToLower(stringClaim(claims["hd"]))
		verified = verified && hd != "" && slices.Contains(c.EmailDomains, hd)
	}
	return verified
}
