package sso

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// assertNoSecrets fails if an error message leaks protocol secrets.
func assertNoSecrets(t *testing.T, err error, extra ...string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, s := range append([]string{testCode, testVerifier, testClientSecret, testAccessToken, testNonce}, extra...) {
		if s != "" && strings.Contains(msg, s) {
			t.Errorf("error %q leaks %q", msg, s)
		}
	}
}

func TestExchangeSuccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method   string
		wantAuth bool // credentials in the Authorization header
	}{
		{AuthMethodBasic, true},
		{AuthMethodPost, false},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			op := newTestOP(t, newFakeClock())
			claims := op.claims()
			op.issue(claims)
			p := newTestProvider(t, op, func(c *ProviderConfig, _ *Options) { c.TokenEndpointAuthMethod = tt.method })

			id, err := exchange(p)
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			want := Identity{
				ProviderID:    "test",
				Issuer:        op.issuer(),
				Subject:       testSubject,
				Email:         "alice@example.com",
				EmailExact:    true,
				EmailVerified: true,
				Name:          "Alice",
				SID:           "session-1",
				AuthTime:      op.clock.Now().Add(-time.Minute),
			}
			got := *id
			got.IDToken, got.Claims = "", nil
			if !got.AuthTime.Equal(want.AuthTime) {
				t.Errorf("AuthTime = %v, want %v", got.AuthTime, want.AuthTime)
			}
			got.AuthTime = want.AuthTime
			if !reflect.DeepEqual(got, want) {
				t.Errorf("identity = %+v\nwant %+v", got, want)
			}
			if id.IDToken != op.sign(claims) {
				t.Error("IDToken is not the raw ID token")
			}
			var snapshot map[string]any
			if err := json.Unmarshal(id.Claims, &snapshot); err != nil || snapshot["sid"] != "session-1" {
				t.Errorf("Claims = %s, %v", id.Claims, err)
			}
			if n := op.hitCount("/userinfo"); n != 0 {
				t.Errorf("userinfo called %d times though the ID token had email and name", n)
			}

			op.mu.Lock()
			form, auth := op.tokenForms[0], op.tokenAuth[0]
			op.mu.Unlock()
			for k, v := range map[string]string{
				"grant_type":    "authorization_code",
				"code":          testCode,
				"code_verifier": testVerifier,
				"redirect_uri":  "https://app.example.com/sso/test/callback",
			} {
				if form.Get(k) != v {
					t.Errorf("token request %s = %q, want %q", k, form.Get(k), v)
				}
			}
			basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(testClientID+":"+testClientSecret))
			if tt.wantAuth {
				if auth != basic || form.Has("client_secret") {
					t.Errorf("basic auth: header %q, form secret present %v", auth, form.Has("client_secret"))
				}
			} else if auth != "" || form.Get("client_id") != testClientID || form.Get("client_secret") != testClientSecret {
				t.Errorf("post auth: header %q, form %v", auth, form)
			}
			if n := op.hitCount("/token"); n != 1 {
				t.Errorf("token endpoint called %d times, want 1 (no auth-style probing)", n)
			}
		})
	}
}

// TestExchangeIDTokenValidation covers OIDC Core §3.1.3.7 rule by rule.
func TestExchangeIDTokenValidation(t *testing.T) {
	t.Parallel()
	_, foreignKey := testKeys()
	tests := []struct {
		name   string
		mutate func(c map[string]any, now time.Time)
		sign   jwtOptions
		want   error // reason wrapped by ErrInvalidToken; nil means success
	}{
		{name: "valid"},
		{name: "nonce missing", mutate: func(c map[string]any, _ time.Time) { delete(c, "nonce") }, want: errNonceMissing},
		{name: "nonce wrong", mutate: func(c map[string]any, _ time.Time) { c["nonce"] = "nonce-other" }, want: errNonce},
		{name: "nonce empty", mutate: func(c map[string]any, _ time.Time) { c["nonce"] = "" }, want: errNonce},
		{name: "sub missing", mutate: func(c map[string]any, _ time.Time) { delete(c, "sub") }, want: errSubject},
		{name: "sub empty", mutate: func(c map[string]any, _ time.Time) { c["sub"] = "" }, want: errSubject},
		{name: "sub too long", mutate: func(c map[string]any, _ time.Time) { c["sub"] = strings.Repeat("s", 256) }, want: errSubject},
		{name: "sub with NUL", mutate: func(c map[string]any, _ time.Time) { c["sub"] = "alice\x00" }, want: errIdentifierText},
		{name: "sub with a newline", mutate: func(c map[string]any, _ time.Time) { c["sub"] = "alice\nbob" }, want: errIdentifierText},
		{name: "sid with NUL", mutate: func(c map[string]any, _ time.Time) { c["sid"] = "s\x00" }, want: errIdentifierText},
		{name: "sid over 1,024 bytes", mutate: func(c map[string]any, _ time.Time) { c["sid"] = strings.Repeat("s", 1025) }, want: errIdentifierText},
		{name: "iat missing", mutate: func(c map[string]any, _ time.Time) { delete(c, "iat") }, want: errIATMissing},
		{name: "iat future beyond skew", mutate: func(c map[string]any, now time.Time) { c["iat"] = now.Add(3 * time.Minute).Unix() }, want: errIATFuture},
		{name: "iat future within skew", mutate: func(c map[string]any, now time.Time) { c["iat"] = now.Add(time.Minute).Unix() }},
		{name: "iat older than a day", mutate: func(c map[string]any, now time.Time) { c["iat"] = now.Add(-25 * time.Hour).Unix() }, want: errIATTooOld},
		{name: "iat as string", mutate: func(c map[string]any, now time.Time) { c["iat"] = "1700000000" }, want: errMalformed},
		{name: "exp missing", mutate: func(c map[string]any, _ time.Time) { delete(c, "exp") }, want: errExpMissing},
		{name: "exp past beyond skew", mutate: func(c map[string]any, now time.Time) { c["exp"] = now.Add(-3 * time.Minute).Unix() }, want: errExpired},
		{name: "exp past within skew", mutate: func(c map[string]any, now time.Time) { c["exp"] = now.Add(-time.Minute).Unix() }},
		{name: "auth_time future beyond skew", mutate: func(c map[string]any, now time.Time) { c["auth_time"] = now.Add(3 * time.Minute).Unix() }, want: errAuthTimeAhead},
		{name: "auth_time a year ahead", mutate: func(c map[string]any, now time.Time) { c["auth_time"] = now.AddDate(1, 0, 0).Unix() }, want: errAuthTimeAhead},
		{name: "auth_time future within skew", mutate: func(c map[string]any, now time.Time) { c["auth_time"] = now.Add(time.Minute).Unix() }},
		{name: "auth_time a year old", mutate: func(c map[string]any, now time.Time) { c["auth_time"] = now.AddDate(-1, 0, 0).Unix() }},
		{name: "nbf in the future", mutate: func(c map[string]any, now time.Time) { c["nbf"] = now.Add(10 * time.Minute).Unix() }, want: errNBF},
		{name: "aud wrong", mutate: func(c map[string]any, _ time.Time) { c["aud"] = "client-other" }, want: errAudience},
		{name: "aud array without client", mutate: func(c map[string]any, _ time.Time) { c["aud"] = []string{"a", "b"} }, want: errAudience},
		{name: "several aud without azp", mutate: func(c map[string]any, _ time.Time) { c["aud"] = []string{testClientID, "other"} }, want: errAZPMissing},
		{name: "several aud with azp", mutate: func(c map[string]any, _ time.Time) {
			c["aud"], c["azp"] = []string{testClientID, "other"}, testClientID
		}},
		{name: "azp wrong", mutate: func(c map[string]any, _ time.Time) { c["azp"] = "other" }, want: errAZP},
		{name: "iss wrong", mutate: func(c map[string]any, _ time.Time) { c["iss"] = c["iss"].(string) + "/" }, want: errIssuer},
		{name: "alg none", sign: jwtOptions{alg: "none"}, want: errAlg},
		{name: "HS256 keyed with client secret", sign: jwtOptions{alg: jose.HS256, key: []byte(testClientSecret)}, want: errAlg},
		{name: "RS384 not advertised", sign: jwtOptions{alg: jose.RS384}, want: errAlg},
		{name: "foreign key with known kid", sign: jwtOptions{key: foreignKey}, want: errSignature},
		{name: "foreign key with unknown kid", sign: jwtOptions{key: foreignKey, kid: "key-other"}, want: errSignature},
		{name: "foreign key without kid", sign: jwtOptions{key: foreignKey, kid: "-"}, want: errSignature},
		{name: "at_hash wrong", mutate: func(c map[string]any, _ time.Time) { c["at_hash"] = atHash("another-token") }, want: errAtHash},
		{name: "at_hash right", mutate: func(c map[string]any, _ time.Time) { c["at_hash"] = atHash(testAccessToken) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newTestOP(t, newFakeClock())
			claims := op.claims()
			if tt.mutate != nil {
				tt.mutate(claims, op.clock.Now())
			}
			raw := signJWT(t, claims, tt.sign)
			op.set(func(op *testOP) { op.idToken = raw })
			p := newTestProvider(t, op)

			id, err := exchange(p)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Exchange: %v", err)
				}
				if id.Subject != testSubject {
					t.Errorf("Subject = %q", id.Subject)
				}
				return
			}
			if !errors.Is(err, ErrInvalidToken) || !errors.Is(err, tt.want) {
				t.Fatalf("Exchange error = %v, want ErrInvalidToken wrapping %q", err, tt.want)
			}
			if tt.want == errIssuer && !errors.Is(err, ErrIssuerMismatch) {
				t.Errorf("iss mismatch does not match ErrIssuerMismatch: %v", err)
			}
			if id != nil {
				t.Error("identity returned with an error")
			}
			assertNoSecrets(t, err, strings.Split(raw, ".")[2])
		})
	}
}

func TestExchangeTokenResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		extra map[string]any
		want  error
	}{
		{"no id_token", map[string]any{"id_token": ""}, errNoIDToken},
		{"token_type not Bearer", map[string]any{"token_type": "mac"}, errTokenType},
		{"token_type bearer lower-case", map[string]any{"token_type": "bearer"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newTestOP(t, newFakeClock())
			op.issue(op.claims())
			op.set(func(op *testOP) { op.tokenExtra = tt.extra })
			_, err := exchange(newTestProvider(t, op))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Exchange: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidToken) || !errors.Is(err, tt.want) {
				t.Fatalf("Exchange error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestExchangeMaxAge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(c map[string]any, now time.Time)
		ok     bool
	}{
		{"recent auth_time", func(c map[string]any, now time.Time) { c["auth_time"] = now.Add(-5 * time.Minute).Unix() }, true},
		{"auth_time missing", func(c map[string]any, _ time.Time) { delete(c, "auth_time") }, false},
		{"auth_time older than max_age", func(c map[string]any, now time.Time) { c["auth_time"] = now.Add(-20 * time.Minute).Unix() }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newTestOP(t, newFakeClock())
			claims := op.claims()
			tt.mutate(claims, op.clock.Now())
			op.issue(claims)
			p := newTestProvider(t, op, func(c *ProviderConfig, _ *Options) { c.AuthParams = map[string]string{"max_age": "600"} })
			_, err := exchange(p)
			if tt.ok != (err == nil) {
				t.Fatalf("Exchange error = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, errAuthTime) {
				t.Errorf("error %v does not wrap errAuthTime", err)
			}
		})
	}
}

// TestExchangeReauthentication: the answer to a Reauthenticate request
// must show an authentication after the request (auth_time no earlier than
// Pending.AuthTimeNotBefore less the skew), measured from the request so
// that time spent at the OP's login page does not count against it.
func TestExchangeReauthentication(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		authTime func(requested time.Time) any // nil: no auth_time claim
		ok       bool
	}{
		{"signed in after the request", func(r time.Time) any { return r.Add(4 * time.Minute).Unix() }, true},
		{"signed in at the request", func(r time.Time) any { return r.Unix() }, true},
		{"just within the skew before the request", func(r time.Time) any { return r.Add(-DefaultClockSkew).Unix() }, true},
		{"beyond the skew before the request", func(r time.Time) any { return r.Add(-DefaultClockSkew - time.Second).Unix() }, false},
		{"a day before the request", func(r time.Time) any { return r.Add(-24 * time.Hour).Unix() }, false},
		{"no auth_time", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newTestOP(t, newFakeClock())
			p := newTestProvider(t, op)
			req, err := p.AuthCodeURL(context.Background(), AuthOptions{Reauthenticate: true})
			if err != nil {
				t.Fatal(err)
			}
			requested := req.AuthTimeNotBefore
			op.clock.Advance(5 * time.Minute) // the user at the OP's login page
			claims := op.claims()
			delete(claims, "auth_time")
			if tt.authTime != nil {
				claims["auth_time"] = tt.authTime(requested)
			}
			op.issue(claims)
			pending := req.Pending()
			pending.Nonce, pending.CodeVerifier = testNonce, testVerifier
			id, err := p.Exchange(context.Background(), CallbackParams{Code: testCode}, pending)
			if tt.ok {
				if err != nil {
					t.Fatalf("Exchange: %v", err)
				}
				if id.AuthTime.Unix() != tt.authTime(requested).(int64) {
					t.Errorf("AuthTime %v", id.AuthTime)
				}
				return
			}
			if !errors.Is(err, ErrNotReauthenticated) || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Exchange error = %v, want ErrNotReauthenticated and ErrInvalidToken", err)
			}
		})
	}
	// Without AuthTimeNotBefore (any other request), an old auth_time or
	// none at all is fine.
	t.Run("ordinary sign-in", func(t *testing.T) {
		op := newTestOP(t, newFakeClock())
		claims := op.claims()
		delete(claims, "auth_time")
		op.issue(claims)
		if _, err := exchange(newTestProvider(t, op)); err != nil {
			t.Fatalf("Exchange: %v", err)
		}
	})
}

func TestExchangeUserinfo(t *testing.T) {
	t.Parallel()
	withoutClaims := func(names ...string) func(map[string]any) {
		return func(c map[string]any) {
			for _, n := range names {
				delete(c, n)
			}
		}
	}
	unavailableHandler := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }
	tests := []struct {
		name         string
		idToken      func(c map[string]any)
		userinfo     map[string]any
		handler      http.HandlerFunc
		noEndpoint   bool
		wantErr      error
		wantEmail    string
		wantVerified bool
		wantName     string
		wantCalls    int
	}{
		{
			name:      "fills missing email and name",
			idToken:   withoutClaims("email", "email_verified", "name"),
			wantEmail: "userinfo@example.com", wantVerified: true, wantName: "From Userinfo", wantCalls: 1,
		},
		{
			name:      "ID token claims are not overridden",
			idToken:   withoutClaims("name"),
			wantEmail: "alice@example.com", wantVerified: true, wantName: "From Userinfo", wantCalls: 1,
		},
		{
			name:      "subject mismatch",
			idToken:   withoutClaims("email", "email_verified"),
			userinfo:  map[string]any{"sub": "user-2", "email": "mallory@example.com", "email_verified": true},
			wantErr:   ErrUserinfoSubject,
			wantCalls: 1,
		},
		{
			name:      "subject mismatch when only name is missing",
			idToken:   withoutClaims("name"),
			userinfo:  map[string]any{"sub": "user-2", "name": "Mallory"},
			wantErr:   ErrUserinfoSubject,
			wantCalls: 1,
		},
		{
			name:      "subject missing",
			idToken:   withoutClaims("email"),
			userinfo:  map[string]any{"email": "bob@example.com"},
			wantErr:   ErrUserinfoSubject,
			wantCalls: 1,
		},
		{
			name:      "email_verified string in userinfo is false",
			idToken:   withoutClaims("email", "email_verified"),
			userinfo:  map[string]any{"sub": testSubject, "email": "Bob@Example.com", "email_verified": "true", "name": "Bob"},
			wantEmail: "bob@example.com", wantVerified: false, wantName: "Alice", wantCalls: 1,
		},
		{
			name:      "email_verified string in ID token is false",
			idToken:   func(c map[string]any) { c["email_verified"] = "true" },
			wantEmail: "alice@example.com", wantVerified: false, wantName: "Alice", wantCalls: 0,
		},
		{
			name:      "userinfo verification of another address does not count",
			idToken:   withoutClaims("email_verified", "name"),
			userinfo:  map[string]any{"sub": testSubject, "email": "other@example.com", "email_verified": true},
			wantEmail: "alice@example.com", wantVerified: false, wantCalls: 1,
		},
		{
			name:      "userinfo verification of the same address counts",
			idToken:   withoutClaims("email_verified", "name"),
			userinfo:  map[string]any{"sub": testSubject, "email": "alice@EXAMPLE.com", "email_verified": true},
			wantEmail: "alice@example.com", wantVerified: true, wantCalls: 1,
		},
		{
			name:      "userinfo down while email known",
			idToken:   withoutClaims("name"),
			handler:   unavailableHandler,
			wantEmail: "alice@example.com", wantVerified: true, wantCalls: 1,
		},
		{
			name:      "userinfo down while email unknown",
			idToken:   withoutClaims("email"),
			handler:   unavailableHandler,
			wantErr:   ErrUnavailable,
			wantCalls: 1,
		},
		{
			name:    "userinfo answers HTML",
			idToken: withoutClaims("email"),
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.Write([]byte("<html>hello</html>"))
			},
			wantErr:   ErrUnavailable,
			wantCalls: 1,
		},
		{
			name:      "userinfo refuses the token",
			idToken:   withoutClaims("email"),
			handler:   func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) },
			wantErr:   ErrUserinfo,
			wantCalls: 1,
		},
		{
			name:       "no userinfo endpoint",
			idToken:    withoutClaims("email", "email_verified"),
			noEndpoint: true,
			wantName:   "Alice",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newTestOP(t, newFakeClock())
			claims := op.claims()
			tt.idToken(claims)
			op.issue(claims)
			op.set(func(op *testOP) {
				if tt.userinfo != nil {
					op.userinfo = tt.userinfo
				}
				if tt.noEndpoint {
					delete(op.discovery, "userinfo_endpoint")
				}
			})
			if tt.handler != nil {
				op.handle("/userinfo", tt.handler)
			}
			id, err := exchange(newTestProvider(t, op))
			if n := op.hitCount("/userinfo"); n != tt.wantCalls {
				t.Errorf("userinfo calls = %d, want %d", n, tt.wantCalls)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Exchange error = %v, want %v", err, tt.wantErr)
				}
				assertNoSecrets(t, err)
				return
			}
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if id.Email != tt.wantEmail || id.EmailVerified != tt.wantVerified || id.Name != tt.wantName {
				t.Errorf("got email %q verified %v name %q, want %q %v %q",
					id.Email, id.EmailVerified, id.Name, tt.wantEmail, tt.wantVerified, tt.wantName)
			}
		})
	}
}

func TestExchangeSignedUserinfo(t *testing.T) {
	t.Parallel()
	op := newTestOP(t, newFakeClock())
	claims := op.claims()
	delete(claims, "email")
	op.issue(claims)
	signed := func(c map[string]any) http.HandlerFunc {
		tok := op.sign(c)
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/jwt")
			w.Write([]byte(tok))
		}
	}
	good := map[string]any{"sub": testSubject, "email": "signed@example.com", "email_verified": true, "iss": op.issuer(), "aud": testClientID}
	op.handle("/userinfo", signed(good))
	id, err := exchange(newTestProvider(t, op))
	if err != nil || id.Email != "signed@example.com" {
		t.Fatalf("signed userinfo: %v, %+v", err, id)
	}

	bad := map[string]any{"sub": testSubject, "email": "signed@example.com", "iss": "https://evil.example.com"}
	op.handle("/userinfo", signed(bad))
	if _, err := exchange(newTestProvider(t, op)); !errors.Is(err, ErrUserinfo) || !errors.Is(err, ErrIssuerMismatch) {
		t.Fatalf("signed userinfo from another issuer: %v", err)
	}
}

// TestExchangeResponseIssuer covers RFC 9207 §2.4.
func TestExchangeResponseIssuer(t *testing.T) {
	t.Parallel()
	const evil = "https://evil.example.com"
	tests := []struct {
		name      string
		supported bool // authorization_response_iss_parameter_supported
		iss       string
		errCode   string
		want      error
	}{
		{name: "iss matches", supported: true, iss: "<issuer>"},
		{name: "iss wrong", iss: evil, want: ErrIssuerMismatch},
		{name: "iss wrong when supported", supported: true, iss: evil, want: ErrIssuerMismatch},
		{name: "iss with trailing slash", iss: "<issuer>/", want: ErrIssuerMismatch},
		{name: "iss missing when supported", supported: true, want: ErrIssuerMismatch},
		{name: "iss missing when not supported"},
		{name: "error response with wrong iss", iss: evil, errCode: "access_denied", want: ErrIssuerMismatch},
		{name: "error response", supported: true, iss: "<issuer>", errCode: "access_denied", want: ErrAuthorization},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newTestOP(t, newFakeClock())
			op.issue(op.claims())
			op.set(func(op *testOP) { op.discovery["authorization_response_iss_parameter_supported"] = tt.supported })
			iss := strings.ReplaceAll(tt.iss, "<issuer>", op.issuer())
			p := newTestProvider(t, op)
			_, err := p.Exchange(context.Background(),
				CallbackParams{Code: testCode, Iss: iss, Error: tt.errCode, ErrorDescription: "no"},
				Pending{Nonce: testNonce, CodeVerifier: testVerifier})
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Exchange: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Exchange error = %v, want %v", err, tt.want)
			}
			if tt.want == ErrIssuerMismatch && errors.Is(err, ErrAuthorization) {
				t.Error("issuer mismatch reported as the OP's authorization error")
			}
			if n := op.hitCount("/token"); n != 0 {
				t.Errorf("token endpoint called %d times after a bad authorization response", n)
			}
			var ae *AuthorizationError
			if tt.want == ErrAuthorization && (!errors.As(err, &ae) || ae.Code != tt.errCode) {
				t.Errorf("error %v is not an AuthorizationError with code %q", err, tt.errCode)
			}
		})
	}
}

func TestExchangeInvalidCallback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cb      CallbackParams
		pending Pending
	}{
		{"no code", CallbackParams{}, Pending{Nonce: testNonce, CodeVerifier: testVerifier}},
		{"no nonce", CallbackParams{Code: testCode}, Pending{CodeVerifier: testVerifier}},
		{"no verifier", CallbackParams{Code: testCode}, Pending{Nonce: testNonce}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newTestOP(t, newFakeClock())
			op.issue(op.claims())
			_, err := newTestProvider(t, op).Exchange(context.Background(), tt.cb, tt.pending)
			if !errors.Is(err, ErrInvalidCallback) {
				t.Fatalf("Exchange error = %v, want ErrInvalidCallback", err)
			}
			if n := op.hitCount("/token"); n != 0 {
				t.Errorf("token endpoint called %d times", n)
			}
		})
	}
}

// TestExchangeTokenEndpointFailures checks that a broken token endpoint is
// an error of the right kind and never a success or a hang.
func TestExchangeTokenEndpointFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    error
	}{
		{"server error", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }, ErrUnavailable},
		{"HTML page", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html><body>Maintenance</body></html>"))
		}, ErrUnavailable},
		{"HTML 404", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, ErrUnavailable},
		{"truncated JSON", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"access_token": "x", "id_token": `))
		}, ErrUnavailable},
		{"no access_token", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer"})
		}, ErrUnavailable},
		{"invalid_grant", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_grant", "error_description": "code already used"})
		}, ErrCodeRejected},
		{"10 MB body", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"access_token": "`))
			writeBytes(w, 10<<20)
		}, ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newTestOP(t, newFakeClock())
			op.handle("/token", func(w http.ResponseWriter, r *http.Request) {
				r.ParseForm()
				tt.handler(w, r)
			})
			id, err := exchange(newTestProvider(t, op))
			if !errors.Is(err, tt.want) || id != nil {
				t.Fatalf("Exchange = %v, %v; want error %v", id, err, tt.want)
			}
			assertNoSecrets(t, err)
		})
	}
}

func TestExchangeTokenEndpointHangs(t *testing.T) {
	t.Parallel()
	op := newTestOP(t, newFakeClock())
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before the server closes
	op.handle("/token", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	const timeout = 300 * time.Millisecond
	p := newTestProvider(t, op, func(c *ProviderConfig, _ *Options) { c.Timeout = timeout })
	if _, err := p.ClientID(context.Background()); err != nil { // discovery, outside the timing
		t.Fatal(err)
	}
	start := time.Now()
	_, err := exchange(p)
	elapsed := time.Since(start)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Exchange error = %v, want ErrUnavailable", err)
	}
	if elapsed < timeout || elapsed > timeout+2*time.Second {
		t.Errorf("Exchange returned after %v, want about %v", elapsed, timeout)
	}
}

// TestJWKSUnknownKeyTypes: RFC 7517 §5 says to ignore keys we do not
// understand; one odd key must not break the set.
func TestJWKSUnknownKeyTypes(t *testing.T) {
	t.Parallel()
	op := newTestOP(t, newFakeClock())
	op.issue(op.claims())
	key, _ := testKeys()
	good, err := json.Marshal(jose.JSONWebKey{Key: key.Public(), KeyID: testKID, Algorithm: "RS256", Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	jwks := `{"keys":[
		{"kty":"XYZ","kid":"future","use":"sig","crv":"Q1","x":"AAAA"},
		{"kty":"OKP","kid":"ed448","crv":"Ed448","x":"` + strings.Repeat("A", 76) + `"},
		{"kty":"EC","kid":"k1","alg":"ES256K","crv":"secp256k1","x":"AAAA","y":"AAAA"},
		` + string(good) + `]}`
	op.set(func(op *testOP) { op.jwks = []byte(jwks) })
	if _, err := exchange(newTestProvider(t, op)); err != nil {
		t.Fatalf("Exchange with odd keys beside a good one: %v", err)
	}
}

// writeBytes writes n bytes of filler from a small buffer, so the server
// side of size tests does not allocate n bytes.
func writeBytes(w http.ResponseWriter, n int) {
	chunk := []byte(strings.Repeat("a", 32<<10))
	for n > 0 {
		c := min(n, len(chunk))
		if _, err := w.Write(chunk[:c]); err != nil {
			return
		}
		n -= c
	}
}
