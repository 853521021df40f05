package sso

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// maxTokenAge bounds how old an iat may be. Tokens reach us straight from
// the token endpoint or, for logout tokens, right after the OP issued them;
// an iat older than a day means a broken OP clock or a token kept and
// replayed. OIDC Core §3.1.3.7 step 10 leaves "the acceptable range" to the
// client. Skew bounds the future side.
const maxTokenAge = 24 * time.Hour

// joseHeader is the protected header of a compact JWS, read before the
// signature is verified only to pick the rules to apply.
type joseHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

// parseHeader decodes the header of a compact JWS (RFC 7515 §7.1). JWE and
// the JSON serialization are refused: ID and logout tokens are compact JWS.
func parseHeader(raw string) (joseHeader, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return joseHeader{}, invalidf(errMalformed, "not a compact JWS")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return joseHeader{}, invalidf(errMalformed, "header is not base64url")
	}
	var h joseHeader
	if err := json.Unmarshal(b, &h); err != nil {
		return joseHeader{}, invalidf(errMalformed, "header is not a JSON object")
	}
	return h, nil
}

// verifySignature checks the alg allow-list and the signature and returns
// the verified payload (OIDC Core §3.1.3.7 steps 6-8). The allow-list holds
// only asymmetric algorithms, so "none" and HS* (keyed with the client
// secret, which is not the OP's alone) never verify. src is where the token
// came from, which decides whether an unknown kid refetches the keys.
func verifySignature(ctx context.Context, rt *resolved, raw string, src keySource) (joseHeader, []byte, error) {
	h, err := parseHeader(raw)
	if err != nil {
		return h, nil, err
	}
	if !slices.Contains(rt.algs, h.Alg) {
		return h, nil, invalidf(errAlg, "alg %q, allowed %v", h.Alg, rt.algs)
	}
	payload, err := rt.keys.verify(ctx, raw, rt.algs, src)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return h, nil, err
		}
		if errors.Is(err, errKeysThrottled) {
			return h, nil, invalid(errKeysThrottled)
		}
		return h, nil, invalidf(errSignature, "%v", err)
	}
	return h, payload, nil
}

// numericDate is a JWT NumericDate (RFC 7519 §2): a JSON number of seconds.
// Strings are refused.
type numericDate struct{ time.Time }

// UnmarshalJSON implements json.Unmarshaler.
func (d *numericDate) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("NumericDate must be a number: %w", err)
	}
	if math.IsNaN(f) || f < 0 || f > 1<<40 {
		return fmt.Errorf("NumericDate %v out of range", f)
	}
	d.Time = time.Unix(int64(f), 0).UTC()
	return nil
}

// audience is the aud claim: a string or an array of strings (RFC 7519
// §4.1.3).
type audience []string

// UnmarshalJSON implements json.Unmarshaler.
func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("aud must be a string or array of strings: %w", err)
	}
	*a = many
	return nil
}

// timeRules are the clock checks shared by ID and logout tokens.
type timeRules struct {
	now  time.Time
	skew time.Duration
}

// checkExp: exp must be present and the current time before it, allowing
// for skew (OIDC Core §3.1.3.7 step 9).
func (r timeRules) checkExp(exp *numericDate) error {
	if exp == nil {
		return invalid(errExpMissing)
	}
	if !r.now.Before(exp.Add(r.skew)) {
		return invalidf(errExpired, "exp %s, now %s", exp.UTC().Format(time.RFC3339), r.now.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkIAT: iat must be present, not in the future beyond skew and not
// older than maxTokenAge (OIDC Core §3.1.3.7 step 10).
func (r timeRules) checkIAT(iat *numericDate) error {
	if iat == nil {
		return invalid(errIATMissing)
	}
	if iat.After(r.now.Add(r.skew)) {
		return invalidf(errIATFuture, "iat %s, now %s", iat.UTC().Format(time.RFC3339), r.now.UTC().Format(time.RFC3339))
	}
	if iat.Before(r.now.Add(-maxTokenAge)) {
		return invalidf(errIATTooOld, "iat %s, now %s", iat.UTC().Format(time.RFC3339), r.now.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkNBF: when nbf is present the current time must not be before it
// (RFC 7519 §4.1.5), allowing for skew.
func (r timeRules) checkNBF(nbf *numericDate) error {
	if nbf != nil && r.now.Add(r.skew).Before(nbf.Time) {
		return invalidf(errNBF, "nbf %s, now %s", nbf.UTC().Format(time.RFC3339), r.now.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkIssuer: iss must equal the issuer exactly (OIDC Core §3.1.3.7
// step 2; no normalisation, no trailing-slash leniency).
func checkIssuer(got, want string) error {
	if got != want {
		return fmt.Errorf("%w: %w: %w: got %q, want %q", ErrInvalidToken, ErrIssuerMismatch, errIssuer, got, want)
	}
	return nil
}

// checkAudience: aud must contain our client_id (OIDC Core §3.1.3.7 step 3).
func checkAudience(aud audience, clientID string) error {
	if !slices.Contains(aud, clientID) {
		return invalidf(errAudience, "aud %q", []string(aud))
	}
	return nil
}
