package sso_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gatehouse/gatehouse/sso"
)

// pendingLogin is what a handler persists server-side between AuthCodeURL
// and Exchange, keyed by sso.HashState(state).
type pendingLogin struct {
	ProviderID string
	Pending    sso.Pending
}

// Example shows how handlers drive a Provider. Storage is a map here; the
// real handlers use the database, delete the row when they read it (one
// use), and expire it after a few minutes.
func Example() {
	p, err := sso.NewProvider(sso.ProviderConfig{
		ID:           "corp",
		Name:         "Corp SSO",
		Issuer:       "https://login.corp.example",
		ClientID:     "gatehouse",
		ClientSecret: "from-the-secret-store",
		RedirectURL:  "https://gatehouse.example/sso/corp/callback",
		EmailDomains: []string{"corp.example"},
	}, sso.Options{Logger: slog.Default()})
	if err != nil {
		panic(err) // configuration error: fail at startup
	}
	providers, err := sso.NewSet(p)
	if err != nil {
		panic(err)
	}
	pending := map[string]pendingLogin{}

	http.HandleFunc("POST /sso/start", func(w http.ResponseWriter, r *http.Request) {
		p, _ := providers.ForEmail(r.PostFormValue("email"))
		if p == nil {
			p, _ = providers.ByID(r.PostFormValue("provider"))
		}
		if p == nil {
			http.Error(w, "choose a provider", http.StatusBadRequest)
			return
		}
		req, err := p.AuthCodeURL(r.Context(), sso.AuthOptions{LoginHint: r.PostFormValue("email")})
		if errors.Is(err, sso.ErrUnavailable) {
			http.Error(w, "single sign-on is unavailable; use your password", http.StatusServiceUnavailable)
			return
		} else if err != nil {
			http.Error(w, "single sign-on is misconfigured", http.StatusInternalServerError)
			return
		}
		pending[sso.HashState(req.State)] = pendingLogin{ProviderID: p.ID(), Pending: req.Pending()}
		http.Redirect(w, r, req.URL, http.StatusFound)
	})

	http.HandleFunc("GET /sso/corp/callback", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		key := sso.HashState(q.Get("state"))
		login, ok := pending[key]
		delete(pending, key)
		if !ok {
			http.Error(w, "sign-in expired; start again", http.StatusBadRequest)
			return
		}
		// The provider is the one the login started with, never one
		// chosen by the callback (RFC 9700 §4.4 mix-up defence).
		p, _ := providers.ByID(login.ProviderID)
		id, err := p.Exchange(r.Context(), sso.CallbackParams{
			Code: q.Get("code"), Iss: q.Get("iss"),
			Error: q.Get("error"), ErrorDescription: q.Get("error_description"),
		}, login.Pending)
		if err != nil {
			slog.Warn("sso sign-in failed", "provider", p.ID(), "err", err)
			http.Error(w, "sign-in failed", http.StatusUnauthorized)
			return
		}
		// Link or create the account on (id.Issuer, id.Subject); trust
		// id.Email for linking only if id.EmailVerified, id.EmailExact and
		// p.Authoritative(id.Email). Keep id.IDToken and id.SID with the
		// session for logout.
		fmt.Fprintf(w, "hello %s", id.Name)
	})

	http.HandleFunc("POST /sso/corp/backchannel", func(w http.ResponseWriter, r *http.Request) {
		claims, err := p.VerifyLogoutToken(r.Context(), r.PostFormValue("logout_token"))
		if err != nil {
			// Back-Channel Logout 1.0 §2.8: 400 for a bad token.
			http.Error(w, "", http.StatusBadRequest)
			return
		}
		_ = claims // end sessions by (Issuer, SID) or (Issuer, Subject)
		w.Header().Set("Cache-Control", "no-store")
	})

}
