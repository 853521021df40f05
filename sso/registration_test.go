package sso

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"testing"
)

// dynamicConfig switches a test provider to dynamic registration.
func dynamicConfig(store RegistrationStore, initialToken string) func(*ProviderConfig, *Options) {
	return func(c *ProviderConfig, o *Options) {
		c.ClientID, c.ClientSecret = "", ""
		c.Registration = &RegistrationConfig{InitialAccessToken: initialToken}
		o.Registrations = store
	}
}

// TestDynamicRegistrationOnce: two instances (replicas, or before and
// after a restart) sharing a store register one client between them.
func TestDynamicRegistrationOnce(t *testing.T) {
	t.Parallel()
	op := newTestOP(t, newFakeClock())
	store := newMemRegistrations()
	ctx := context.Background()

	first := newTestProvider(t, op, dynamicConfig(store, "iat-secret"))
	id1, err := first.ClientID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.ClientID(ctx); err != nil { // cached in memory
		t.Fatal(err)
	}
	second := newTestProvider(t, op, dynamicConfig(store, "iat-secret"))
	id2, err := second.ClientID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := op.hitCount("/register"); n != 1 {
		t.Fatalf("%d registrations, want 1", n)
	}
	if id1 != "dyn-client-1" || id2 != id1 {
		t.Errorf("client ids %q and %q, want both dyn-client-1", id1, id2)
	}

	op.mu.Lock()
	body, auth := op.regBodies[0], op.regAuth[0]
	op.mu.Unlock()
	if auth != "Bearer iat-secret" {
		t.Errorf("registration Authorization = %q", auth)
	}
	want := map[string]any{
		"redirect_uris":                       []any{"https://app.example.com/sso/test/callback"},
		"post_logout_redirect_uris":           []any{"https://app.example.com/signed-out"},
		"backchannel_logout_uri":              "https://app.example.com/sso/test/backchannel",
		"backchannel_logout_session_required": false,
		"token_endpoint_auth_method":          "client_secret_basic",
		"grant_types":                         []any{"authorization_code"},
		"response_types":                      []any{"code"},
		"client_name":                         "Test OP",
		"application_type":                    "web",
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("registration request = %v\nwant %v", body, want)
	}

	stored, _ := store.Registration(ctx, "test", op.issuer())
	if stored == nil || stored.ClientSecret != "dyn-secret-dyn-client-1" || stored.RegistrationAccessToken == "" ||
		stored.RegistrationClientURI == "" || len(stored.Raw) == 0 || !stored.CreatedAt.Equal(op.clock.Now()) {
		t.Errorf("stored registration = %+v", stored)
	}

	// The registered credentials are the ones used at the token endpoint.
	op.issue(withAudience(op.claims(), id1))
	if _, err := exchange(second); err != nil {
		t.Fatalf("Exchange with registered client: %v", err)
	}
	op.mu.Lock()
	tokenAuth := op.tokenAuth[0]
	op.mu.Unlock()
	r := &http.Request{Header: http.Header{"Authorization": {tokenAuth}}}
	if user, pass, ok := r.BasicAuth(); !ok || user != id1 || pass != "dyn-secret-dyn-client-1" {
		t.Errorf("token endpoint auth = %q", tokenAuth)
	}
}

// TestDynamicRegistrationRace: when another instance saved first, its
// registration is used and ours is deleted at the OP.
func TestDynamicRegistrationRace(t *testing.T) {
	t.Parallel()
	op := newTestOP(t, newFakeClock())
	store := newMemRegistrations()
	ctx := context.Background()
	if _, err := newTestProvider(t, op, dynamicConfig(store, "")).ClientID(ctx); err != nil {
		t.Fatal(err)
	}
	store.mu.Lock()
	store.forgetful = true // the second instance looks before the first saves
	store.mu.Unlock()
	id, err := newTestProvider(t, op, dynamicConfig(store, "")).ClientID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id != "dyn-client-1" {
		t.Errorf("client id %q, want the race winner dyn-client-1", id)
	}
	op.mu.Lock()
	deleted, auth := op.deleted, op.regAuth
	op.mu.Unlock()
	if !reflect.DeepEqual(deleted, []string{"dyn-client-2"}) {
		t.Errorf("deleted registrations %v, want [dyn-client-2]", deleted)
	}
	if auth[0] != "" {
		t.Errorf("Authorization %q sent without an initial access token", auth[0])
	}
}

func TestDynamicRegistrationFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		noEP    bool
		want    []error
	}{
		{"rejected", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_redirect_uri"})
		}, false, []error{ErrRegistration}},
		{"server error", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) },
			false, []error{ErrRegistration, ErrUnavailable}},
		{"no client_secret", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusCreated, map[string]any{"client_id": "c"})
		}, false, []error{ErrRegistration}},
		{"unsupported auth method", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusCreated, map[string]any{"client_id": "c", "client_secret": "s", "token_endpoint_auth_method": "private_key_jwt"})
		}, false, []error{ErrRegistration}},
		{"no registration endpoint", nil, true, []error{ErrRegistration, ErrConfig}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newTestOP(t, newFakeClock())
			if tt.handler != nil {
				op.handle("/register", tt.handler)
			}
			if tt.noEP {
				op.set(func(op *testOP) { delete(op.discovery, "registration_endpoint") })
			}
			store := newMemRegistrations()
			_, err := newTestProvider(t, op, dynamicConfig(store, "")).ClientID(context.Background())
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("error = %v, want %v", err, w)
				}
			}
			if reg, _ := store.Registration(context.Background(), "test", op.issuer()); reg != nil {
				t.Errorf("failed registration stored: %+v", reg)
			}
		})
	}
}

// withAudience sets aud of ID token claims.
func withAudience(c map[string]any, aud string) map[string]any {
	c["aud"] = aud
	return c
}
