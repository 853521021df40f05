package testop

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// signingKey is the provider's current RS256 key.
type signingKey struct {
	kid  string
	priv *rsa.PrivateKey
}

// jwk returns the public JWK published in the JWKS (RFC 7517 §4).
func (k signingKey) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: "RS256", Use: "sig"}
}

// RotateKey replaces the signing key with a fresh RSA 2048 key with a new kid.
// The old key disappears from the JWKS, so tokens it signed stop verifying at
// the relying party (the provider itself still accepts them as
// id_token_hint).
func (p *Provider) RotateKey() error {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("testop: generate key: %w", err)
	}
	// The kid is the RFC 7638 thumbprint, so it changes with the key.
	jwk := jose.JSONWebKey{Key: &priv.PublicKey}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return fmt.Errorf("testop: key thumbprint: %w", err)
	}
	k := signingKey{kid: base64.RawURLEncoding.EncodeToString(thumb), priv: priv}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.key = k
	p.pubKeys[k.kid] = &priv.PublicKey
	return nil
}

// currentKey returns the signing key.
func (p *Provider) currentKey() signingKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.key
}

// foreign returns a key that is never published, generated on first use.
func (p *Provider) foreign() (*rsa.PrivateKey, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.foreignKey == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("testop: generate foreign key: %w", err)
		}
		p.foreignKey = k
	}
	return p.foreignKey, nil
}

// SignJWT signs claims with the current key (RS256). The default header
// {"alg":"RS256","kid":<current>,"typ":"JWT"} is overridden by header, where a
// nil value removes the field, so negative tests can forge arbitrary tokens
// that carry a genuine signature.
func (p *Provider) SignJWT(header map[string]any, claims map[string]any) (string, error) {
	k := p.currentKey()
	h := map[string]any{"alg": "RS256", "kid": k.kid, "typ": "JWT"}
	for name, v := range header {
		if v == nil {
			delete(h, name)
		} else {
			h[name] = v
		}
	}
	return signCompact(h, claims, "RS256", k.priv, nil)
}

// signIDToken signs an ID token for client as b dictates; normally RS256 with
// the current key and a kid header (OIDC Core §2, §10.1).
func (p *Provider) signIDToken(client Client, claims map[string]any, b Behavior) (string, error) {
	alg := b.SignAlg
	if alg == "" {
		alg = "RS256"
	}
	k := p.currentKey()
	header := map[string]any{"alg": alg, "typ": "JWT"}
	if alg == "RS256" {
		header["kid"] = k.kid
	}
	priv := k.priv
	if b.SignWithForeignKey {
		var err error
		if priv, err = p.foreign(); err != nil {
			return "", err
		}
	}
	if b.IDTokenClaims != nil {
		b.IDTokenClaims(claims)
	}
	if b.IDTokenHeader != nil {
		b.IDTokenHeader(header)
	}
	return signCompact(header, claims, alg, priv, []byte(client.Secret))
}

// signCompact produces a JWS Compact Serialization (RFC 7515 §7.1). alg is
// the algorithm actually used; header is written as given, so it may lie.
func signCompact(header, claims map[string]any, alg string, priv *rsa.PrivateKey, secret []byte) (string, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("testop: marshal JWT header: %w", err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("testop: marshal JWT claims: %w", err)
	}
	input := b64(h) + "." + b64(c)
	var sig []byte
	switch alg {
	case "none": // RFC 7519 §6: unsecured JWT, empty signature.
	case "HS256":
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(input))
		sig = mac.Sum(nil)
	case "RS256":
		sum := sha256.Sum256([]byte(input))
		if sig, err = rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, sum[:]); err != nil {
			return "", fmt.Errorf("testop: sign JWT: %w", err)
		}
	default:
		return "", fmt.Errorf("testop: unsupported signing algorithm %q", alg)
	}
	return input + "." + b64(sig), nil
}

// verifyOwnJWT checks raw is an RS256 JWT signed by any key this provider
// ever used and issued by it; expiry is deliberately not checked because
// RP-Initiated Logout 1.0 §2 accepts expired id_token_hints.
func (p *Provider) verifyOwnJWT(raw string) (map[string]any, error) {
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, fmt.Errorf("parse JWT: %w", err)
	}
	p.mu.Lock()
	pub := p.pubKeys[jws.Signatures[0].Header.KeyID]
	p.mu.Unlock()
	if pub == nil {
		return nil, errors.New("JWT signed by unknown key")
	}
	payload, err := jws.Verify(pub)
	if err != nil {
		return nil, fmt.Errorf("verify JWT: %w", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, fmt.Errorf("decode JWT claims: %w", err)
	}
	if claims["iss"] != p.issuer {
		return nil, fmt.Errorf("JWT issued by %v, not by us", claims["iss"])
	}
	return claims, nil
}

// audiences returns the aud claim as a list (RFC 7519 §4.1.3 allows a string
// or an array).
func audiences(claims map[string]any) []string {
	switch aud := claims["aud"].(type) {
	case string:
		return []string{aud}
	case []any:
		var out []string
		for _, a := range aud {
			if s, ok := a.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// halfHash is the at_hash value for token (OIDC Core §3.1.3.6, checked by
// RPs per §3.1.3.8): base64url of the left half of its SHA-256 hash.
func halfHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return b64(sum[:len(sum)/2])
}

// s256 is the PKCE S256 transform (RFC 7636 §4.2).
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return b64(sum[:])
}

// b64 is unpadded base64url (RFC 7515 §2).
func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
