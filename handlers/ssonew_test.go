package handlers_test

// "Add an SSO provider" (/admin/sso/new): discovery for a pasted issuer,
// what to register at the provider and the configuration to paste.

import (
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/testop"
)

func TestDashboardOffersAddSSOProviderToAdminsWithoutOne(t *testing.T) {
	e := newAdmEnv(t, admOpts{noOP: true})
	root := e.asRoot(t)
	if r := root.get(t, "/dashboard"); !strings.Contains(r.body, `<a class="admin-btn" href="/admin/sso/new" id="add-sso">Add an SSO provider</a>`) {
		t.Fatalf("admin dashboard without providers lacks the offer:\n%s", r.body)
	}
	ann := e.client()
	ann.login(t, admAnn, admPW)
	if r := ann.get(t, "/dashboard"); strings.Contains(r.body, "add-sso") {
		t.Errorf("a non-administrator is offered to add a provider")
	}
	// With a provider configured the offer is gone.
	withOP := newAdmEnv(t, admOpts{})
	if r := withOP.asRoot(t).get(t, "/dashboard"); strings.Contains(r.body, "add-sso") {
		t.Errorf("the offer stays with a provider configured")
	}
}

func TestAddSSOProviderAdminsOnly(t *testing.T) {
	e := newAdmEnv(t, admOpts{noOP: true})
	if r := e.client().get(t, "/admin/sso/new"); r.status != http.StatusSeeOther || r.location() != "/login?next=%2Fadmin%2Fsso%2Fnew" {
		t.Errorf("signed out: %d %q", r.status, r.location())
	}
	ann := e.client()
	ann.login(t, admAnn, admPW)
	for _, r := range []*response{ann.get(t, "/admin/sso/new"), ann.post(t, "/admin/sso/new", url.Values{"issuer": {"http://127.0.0.1:9"}})} {
		if r.status != http.StatusForbidden {
			t.Errorf("non-administrator: %d, want 403", r.status)
		}
	}
	root := e.asRoot(t)
	r := root.get(t, "/admin/sso/new")
	if r.status != http.StatusOK || !strings.Contains(r.body, `<form method="post" action="/admin/sso/new" id="sso-new-form">`) {
		t.Fatalf("GET /admin/sso/new: %d\n%s", r.status, r.body)
	}
	// The form is protected like every other: a cross-site post is refused
	// before the handler runs (no discovery request is made).
	hits := 0
	op := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits++ }))
	defer op.Close()
	cr, err := root.try("POST", "/admin/sso/new", url.Values{"issuer": {op.URL}}, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.test"})
	if err != nil || cr.status != http.StatusForbidden || hits != 0 {
		t.Errorf("cross-site post: %v %d, %d discovery requests", err, cr.status, hits)
	}
}

func TestAddSSOProviderDiscovers(t *testing.T) {
	op, err := testop.Start(testop.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Close() })
	e := newAdmEnv(t, admOpts{noOP: true})
	root := e.asRoot(t)
	// A pasted discovery URL works as well as the issuer.
	for _, pasted := range []string{op.Issuer(), " " + op.Issuer() + "/.well-known/openid-configuration "} {
		r := root.post(t, "/admin/sso/new", url.Values{"issuer": {pasted}})
		if r.status != http.StatusOK {
			t.Fatalf("POST %q: %d\n%s", pasted, r.status, r.body)
		}
		for id, want := range map[string]string{
			"redirect-uri":    e.base + "/auth/callback",
			"post-logout-uri": e.base + "/auth/logged-out",
			"backchannel-uri": e.base + "/auth/backchannel-logout",
		} {
			if !strings.Contains(r.body, `<code id="`+id+`">`+want+`</code>`) {
				t.Errorf("%s is not %s:\n%s", id, want, r.body)
			}
		}
		m := regexp.MustCompile(`(?s)<pre class="snippet" id="provider-yaml"[^>]*>(.*?)</pre>`).FindStringSubmatch(r.body)
		if m == nil {
			t.Fatalf("no configuration to paste:\n%s", r.body)
		}
		snippet := html.UnescapeString(m[1])
		// A loopback issuer gets its id from its path, or "sso".
		if !strings.Contains(snippet, "issuer: \""+op.Issuer()+"\"") || !strings.Contains(snippet, `client_secret: "${`) {
			t.Fatalf("snippet:\n%s", snippet)
		}
		// Pasted into config.yaml, it loads.
		dir := t.TempDir()
		path := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(path, []byte("base_url: "+e.base+"\n"+snippet), 0o600); err != nil {
			t.Fatal(err)
		}
		env := func(k string) (string, bool) { return "the-secret", strings.HasSuffix(k, "_CLIENT_SECRET") }
		cfg, err := config.Load(config.Source{Path: path, Getenv: env, DotEnv: filepath.Join(dir, "none.env")})
		if err != nil {
			t.Fatalf("snippet does not load: %v\n%s", err, snippet)
		}
		if p := cfg.Providers[0]; p.Issuer != op.Issuer() || p.ClientSecret != "the-secret" {
			t.Fatalf("loaded provider: %+v", p)
		}
	}
	// Nothing was written anywhere: still no provider.
	if e.app.SSO.Len() != 0 {
		t.Errorf("providers = %d after the page", e.app.SSO.Len())
	}
}

func TestAddSSOProviderRefusals(t *testing.T) {
	op, err := testop.Start(testop.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Close() })
	notJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>hello</html>")) }))
	defer notJSON.Close()
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"issuer":"` + strings.Repeat("x", 2<<20) + `"}`))
	}))
	defer huge.Close()
	e := newAdmEnv(t, admOpts{noOP: true})
	root := e.asRoot(t)
	tests := []struct {
		name, issuer string
		status       int
		want         string
	}{
		{"empty", "  ", http.StatusBadRequest, "Enter the provider&#39;s issuer URL"},
		{"not a URL", "login.example.com", http.StatusBadRequest, "is not an absolute URL"},
		{"plain http off loopback", "http://login.example.com", http.StatusBadRequest, "must use https (plain http only on loopback)"},
		{"query", "https://login.example.com/?tenant=1", http.StatusBadRequest, "must not have a query"},
		{"script", "javascript:alert(1)", http.StatusBadRequest, "is not an absolute URL"},
		{"nobody answers", "http://127.0.0.1:9/none", http.StatusUnprocessableEntity, "Discovery failed"},
		{"not JSON", notJSON.URL, http.StatusUnprocessableEntity, "document is not JSON metadata"},
		{"over the size limit", huge.URL, http.StatusUnprocessableEntity, "exceeds"},
		{"other issuer", op.Issuer() + "/", http.StatusUnprocessableEntity, "names another issuer"},
		{"404", op.Issuer() + "/nothing-here", http.StatusUnprocessableEntity, "unexpected HTTP status 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := root.post(t, "/admin/sso/new", url.Values{"issuer": {tt.issuer}})
			if r.status != tt.status || !strings.Contains(r.body, tt.want) || !strings.Contains(r.body, `role="alert"`) {
				t.Fatalf("%q: %d, want %d with %q:\n%s", tt.issuer, r.status, tt.status, tt.want, r.body)
			}
			if strings.Contains(r.body, `id="sso-found"`) {
				t.Errorf("a refused issuer shows results")
			}
			if !strings.Contains(r.body, `value="`+html.EscapeString(strings.TrimSpace(tt.issuer))+`"`) && strings.TrimSpace(tt.issuer) != "" {
				t.Errorf("the form does not keep the issuer typed")
			}
		})
	}
}
