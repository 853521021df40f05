package sso

import (
	"errors"
	"fmt"
)

// Error categories. Handlers branch on them with errors.Is to choose a
// friendly page; the full error (which wraps the precise reason) is for the
// log. No error produced by this package contains a token, code, secret or
// PKCE verifier.
var (
	// ErrConfig reports a provider configuration that cannot work. It is
	// returned by NewProvider and NewSet, and by calls that need a feature
	// that the configuration lacks (for example a ReplayStore).
	ErrConfig = errors.New("sso: invalid provider configuration")

	// ErrUnavailable reports that the OP could not be used right now: it is
	// unreachable, timed out, answered 5xx, or sent something that is not
	// the JSON it should be (HTML error pages, garbage, over-size bodies).
	// It is also returned, without a network call, while a failed discovery
	// or registration is backing off. Show "try again later" or offer
	// password sign-in.
	ErrUnavailable = errors.New("sso: identity provider unavailable")

	// ErrIssuerMismatch reports an issuer that is not exactly the configured
	// one: in the discovery document (OIDC Discovery §4.3), in the
	// authorization response "iss" parameter (RFC 9207 §2.4) or in a token.
	// It may indicate a mix-up attack or a misconfigured issuer URL.
	ErrIssuerMismatch = errors.New("sso: issuer mismatch")

	// ErrInvalidCallback reports an authorization response or pending
	// request that cannot be processed (no code, no nonce or verifier).
	ErrInvalidCallback = errors.New("sso: invalid authorization callback")

	// ErrAuthorization is matched by every *AuthorizationError: the OP
	// answered the authorization request with an error such as
	// access_denied or login_required.
	ErrAuthorization = errors.New("sso: authorization request failed")

	// ErrCodeRejected reports that the token endpoint refused the code
	// exchange with an OAuth error (invalid_grant for a used or expired
	// code, invalid_client for bad credentials...). Restarting the sign-in
	// usually helps; persistent invalid_client means misconfiguration.
	ErrCodeRejected = errors.New("sso: token endpoint rejected the code exchange")

	// ErrInvalidToken reports an ID token or logout token that failed
	// validation. The wrapped error names the rule that failed.
	ErrInvalidToken = errors.New("sso: invalid token")

	// ErrUserinfoSubject reports a UserInfo response whose sub differs from
	// the ID token's sub; OIDC Core §5.3.2 requires rejecting it because the
	// response may belong to another user.
	ErrUserinfoSubject = errors.New("sso: userinfo subject does not match ID token subject")

	// ErrUserinfo reports a UserInfo response that could not be used for a
	// reason other than availability or subject mismatch.
	ErrUserinfo = errors.New("sso: invalid userinfo response")

	// ErrRegistration reports that dynamic client registration (RFC 7591)
	// failed. It is combined with ErrUnavailable when the registration
	// endpoint could not be reached.
	ErrRegistration = errors.New("sso: dynamic client registration failed")

	// ErrReplay reports a logout token whose jti was already accepted
	// (Back-Channel Logout 1.0 §2.6). It also matches ErrInvalidToken.
	ErrReplay = errors.New("sso: logout token replayed")

	// ErrNotReauthenticated reports that the answer to a re-authentication
	// request (AuthOptions.Reauthenticate) shows no new authentication:
	// the ID token's auth_time is missing or earlier than the request. The
	// OP ignored prompt=login and max_age=0, perhaps answering from an old
	// session; the user has not proved who they are just now. It also
	// matches ErrInvalidToken.
	ErrNotReauthenticated = errors.New("sso: the provider did not authenticate the user again")

	// ErrGroupsMissing: the provider decides admin or allowed groups, and
	// neither its ID token nor its UserInfo carried the groups claim. The
	// sign-in fails closed: no silent demotion, promotion or entry.
	ErrGroupsMissing = errors.New("sso: the groups claim is missing")
	// ErrGroupsOverage: Entra ID left the groups out of a token whose
	// person is in too many (it names a Graph source in _claim_names
	// instead); the app registration must filter them.
	ErrGroupsOverage = errors.New("sso: the provider left the groups out (group overage)")
)

// AuthorizationError is the error response of the authorization endpoint
// (RFC 6749 §4.1.2.1), passed in CallbackParams.Error. Code is the OAuth
// error code (access_denied, login_required, ...), which handlers may use to
// choose a message; Description is OP-supplied text for the log only.
type AuthorizationError struct {
	Code        string
	Description string
}

// Error implements error.
func (e *AuthorizationError) Error() string {
	if e.Description == "" {
		return fmt.Sprintf("sso: authorization failed: %q", e.Code)
	}
	return fmt.Sprintf("sso: authorization failed: %q: %q", e.Code, e.Description)
}

// Is makes errors.Is(err, ErrAuthorization) true for every AuthorizationError.
func (e *AuthorizationError) Is(target error) bool { return target == ErrAuthorization }

// Reasons wrapped by ErrInvalidToken. They are unexported because handlers
// should not branch on them; their text ends up in the log.
var (
	errAlg            = errors.New("signature algorithm not allowed")
	errSignature      = errors.New("signature verification failed")
	errIssuer         = errors.New("iss does not match the issuer")
	errAudience       = errors.New("aud does not contain the client_id")
	errAZPMissing     = errors.New("azp missing from a token with several audiences")
	errAZP            = errors.New("azp is not the client_id")
	errExpMissing     = errors.New("exp missing")
	errExpired        = errors.New("token expired")
	errIATMissing     = errors.New("iat missing")
	errIATFuture      = errors.New("iat in the future")
	errIATTooOld      = errors.New("iat too far in the past")
	errNBF            = errors.New("nbf in the future")
	errSubject        = errors.New("sub missing, empty or longer than 255 characters")
	errNonceMissing   = errors.New("nonce missing")
	errNonce          = errors.New("nonce does not match the authorization request")
	errAtHash         = errors.New("at_hash does not match the access token")
	errAuthTime       = errors.New("auth_time missing or older than max_age")
	errAuthTimeAhead  = errors.New("auth_time in the future")
	errNoIDToken      = errors.New("token response has no id_token")
	errTokenType      = errors.New("token_type is not Bearer")
	errMalformed      = errors.New("malformed token")
	errTyp            = errors.New("typ header is not logout+jwt")
	errEvents         = errors.New("events lacks the back-channel logout event object")
	errNoncePresent   = errors.New("logout token contains a nonce")
	errSubOrSID       = errors.New("logout token has neither sub nor sid")
	errIdentifierText = errors.New("sub, sid or jti holds control characters or invalid UTF-8, or is over 1,024 bytes")
	errJTIMissing     = errors.New("jti missing")
	errKeysThrottled  = errors.New("signing key unknown and key set refetch is rate-limited")
)

// invalid wraps reason as an ErrInvalidToken.
func invalid(reason error) error {
	return fmt.Errorf("%w: %w", ErrInvalidToken, reason)
}

// invalidf wraps reason as an ErrInvalidToken with detail appended. The
// detail must never contain token material.
func invalidf(reason error, format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrInvalidToken, reason, fmt.Sprintf(format, args...))
}

// notReauthenticated is an ErrNotReauthenticated (and ErrInvalidToken)
// with detail, which must never contain token material.
func notReauthenticated(format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrInvalidToken, ErrNotReauthenticated, fmt.Sprintf(format, args...))
}

// unavailable wraps err as an ErrUnavailable with context.
func unavailable(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
}
