package sso

import (
	"fmt"
	"slices"
	"strings"
)

// Choice says how Set.ForEmail picked a provider, so the caller can tell
// an authoritative match from a mere default.
type Choice int

// Choices returned by Set.ForEmail.
const (
	// ChoiceNone: no provider could be picked; use a provider id posted by
	// the user or show one button per provider.
	ChoiceNone Choice = iota
	// ChoiceDomain: the email's domain is in the provider's EmailDomains.
	ChoiceDomain
	// ChoiceOnly: no domain matched, but it is the only provider.
	ChoiceOnly
)

// String implements fmt.Stringer for logs.
func (c Choice) String() string {
	switch c {
	case ChoiceDomain:
		return "domain"
	case ChoiceOnly:
		return "only"
	default:
		return "none"
	}
}

// Set is the ordered list of configured providers (the order of the
// sign-in buttons). It is immutable and safe for concurrent use; the nil
// *Set is an empty set.
type Set struct {
	providers []*Provider
	byID      map[string]*Provider
	byDomain  map[string]*Provider
}

// NewSet builds a Set. Provider IDs must be unique, and an email domain may
// belong to one provider only, since ForEmail must be unambiguous.
func NewSet(providers ...*Provider) (*Set, error) {
	s := &Set{byID: map[string]*Provider{}, byDomain: map[string]*Provider{}}
	for _, p := range providers {
		if p == nil {
			return nil, fmt.Errorf("%w: nil provider", ErrConfig)
		}
		if _, dup := s.byID[p.ID()]; dup {
			return nil, fmt.Errorf("%w: duplicate provider id %q", ErrConfig, p.ID())
		}
		s.byID[p.ID()] = p
		for _, d := range p.cfg.EmailDomains {
			if other, dup := s.byDomain[d]; dup {
				return nil, fmt.Errorf("%w: email domain %q claimed by providers %q and %q", ErrConfig, d, other.ID(), p.ID())
			}
			s.byDomain[d] = p
		}
		s.providers = append(s.providers, p)
	}
	return s, nil
}

// All returns the providers in configuration order.
func (s *Set) All() []*Provider {
	if s == nil {
		return nil
	}
	return append([]*Provider(nil), s.providers...)
}

// Len returns the number of providers.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.providers)
}

// ByID returns the provider with the given id. Use it for the provider
// stored with a pending request, never one named by the callback URL.
func (s *Set) ByID(id string) (*Provider, bool) {
	if s == nil {
		return nil, false
	}
	p, ok := s.byID[id]
	return p, ok
}

// Name returns the display name of the provider with the given id, or the
// id itself when no such provider is configured (any more).
func (s *Set) Name(id string) string {
	if p, ok := s.ByID(id); ok {
		return p.Name()
	}
	return id
}

// ForEmail picks the provider for an email address: the one whose
// EmailDomains contain its domain (exact match, no subdomains); otherwise
// the only provider if there is exactly one; otherwise none.
func (s *Set) ForEmail(email string) (*Provider, Choice) {
	if s == nil {
		return nil, ChoiceNone
	}
	if p, ok := s.byDomain[EmailDomain(email)]; ok {
		return p, ChoiceDomain
	}
	if len(s.providers) == 1 {
		return s.providers[0], ChoiceOnly
	}
	return nil, ChoiceNone
}

// EmailDomain returns the normalised domain of an address, or "" if it has
// none.
func EmailDomain(email string) string {
	email = NormalizeEmail(email)
	at := strings.LastIndexByte(email, '@')
	if at < 1 || at == len(email)-1 {
		return ""
	}
	return email[at+1:]
}

// MultiFactor reports whether the provider's ID token says the person
// signed in with more than one factor: an amr value in mfa_amr, or the
// acr in mfa_acr. A provider configured with neither is never taken at
// its word.
func (p *Provider) MultiFactor(id *Identity) bool {
	if id == nil {
		return false
	}
	for _, v := range id.AMR {
		if slices.Contains(p.cfg.MFAAMR, v) {
			return true
		}
	}
	return id.ACR != "" && slices.Contains(p.cfg.MFAACR, id.ACR)
}
