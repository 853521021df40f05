// Package sso is gatehouse's OpenID Connect relying party: everything needed
// to send a browser to an OpenID Provider (OP), turn the code it returns into
// a verified Identity, end the OP session and accept back-channel logouts.
//
// It deliberately knows nothing about HTTP routing, sessions or the database.
// Handlers call it; state that must survive a redirect (state hash, nonce,
// PKCE verifier) is returned to the caller to persist, and the two pieces of
// state that must be shared between replicas (dynamic client registrations
// and seen logout-token jti values) sit behind the small RegistrationStore
// and ReplayStore interfaces.
//
// A Provider never talks to the network when it is created, so the
// application starts (and password sign-in works) while an OP is down.
// Discovery, dynamic registration and key fetching happen on first use, are
// cached, and failures back off exponentially; callers recognise an OP that
// cannot be reached with errors.Is(err, ErrUnavailable).
//
// Specifications implemented, cited in comments where a rule comes from:
//
//   - OpenID Connect Core 1.0 (§3.1.2.1 authorization request,
//     §3.1.3.7 ID token validation, §5.3 UserInfo)
//   - OpenID Connect Discovery 1.0
//   - OpenID Connect RP-Initiated Logout 1.0
//   - OpenID Connect Back-Channel Logout 1.0
//   - RFC 7636 PKCE, RFC 7591 dynamic client registration,
//     RFC 9207 authorization server issuer identification,
//     RFC 9700 OAuth 2.0 security best current practice.
package sso
