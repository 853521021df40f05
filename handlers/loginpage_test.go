package handlers_test

// The login page as people expect it (issue #11 item 6): provider buttons
// that name the provider and show its icon, a show-password button, focus
// back on the password after a wrong one, the "Forgot password?" line, and
// the operator's branding on every page.

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/images"
	"github.com/gatehouse/gatehouse/sso"
)

const (
	testPNG = "\x89PNG\r\n\x1a\n-not-really-pixels"
	testSVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 2 2"><script>alert(1)</script><rect width="2" height="2"/></svg>`
)

// writePicture writes a picture file for the configuration to read.
func writePicture(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// staticProvider is a provider that needs no OP: static metadata at a
// loopback port nobody answers, enough to render the login page.
func staticProvider(id, name, icon string) config.Provider {
	iss := "http://127.0.0.1:9/" + id
	return config.Provider{ProviderConfig: sso.ProviderConfig{
		ID: id, Name: name, Icon: icon, ClientID: "gatehouse", ClientSecret: "secret",
		Metadata: &sso.Metadata{Issuer: iss, AuthorizationEndpoint: iss + "/authorize", TokenEndpoint: iss + "/token", JWKSURI: iss + "/jwks"},
	}}
}

// deadProvider is a discovery provider whose issuer nobody answers at:
// starting SSO with it renders the login page again, in SSO mode.
func deadProvider(id, name string) config.Provider {
	return config.Provider{ProviderConfig: sso.ProviderConfig{
		ID: id, Name: name, Issuer: "http://127.0.0.1:9/" + id, ClientID: "gatehouse", ClientSecret: "secret", Timeout: time.Second,
	}}
}

// newLoginEnv is an env whose configuration has the given providers.
func newLoginEnv(t *testing.T, providers []config.Provider, configure func(*config.Config)) *env {
	t.Helper()
	e := &env{server: newServer(t, serverOpts{providers: func(string) []config.Provider { return providers }, configure: configure})}
	e.client = e.newClient()
	e.createUser(t, alice, goodPW, false)
	return e
}

var iconRE = regexp.MustCompile(`<img class="provider-icon" src="(/assets/brand/icon-[a-z]+-[0-9a-f]{12}\.(?:png|svg))"`)

func TestLoginProviderButtonsNameProviderWithIcon(t *testing.T) {
	png := writePicture(t, "acme.png", testPNG)
	svg := writePicture(t, "globex.svg", testSVG)
	e := newLoginEnv(t, []config.Provider{
		staticProvider("acme", "Acme", png), staticProvider("globex", "Globex", svg), staticProvider("initech", "Initech", ""),
	}, nil)
	r := e.do(t, req{path: "/login"})
	if r.status != http.StatusOK {
		t.Fatalf("GET /login: %d", r.status)
	}
	for _, want := range []string{"Continue with Acme", "Continue with Globex", "Continue with Initech", "Sign in with SSO"} {
		if !strings.Contains(r.text(), want) {
			t.Errorf("login page lacks %q:\n%s", want, r.text())
		}
	}
	icons := iconRE.FindAllStringSubmatch(r.body, -1)
	if len(icons) != 2 {
		t.Fatalf("want 2 provider icons (acme, globex; initech has none), got %v in:\n%s", icons, r.body)
	}
	for i, want := range []struct{ data, typ string }{{testPNG, "image/png"}, {testSVG, "image/svg+xml"}} {
		url := icons[i][1]
		ir := e.do(t, req{path: url})
		if ir.status != http.StatusOK || ir.body != want.data {
			t.Fatalf("GET %s: %d %q", url, ir.status, ir.body)
		}
		for k, v := range map[string]string{
			"Content-Type":            want.typ,
			"X-Content-Type-Options":  "nosniff",
			"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
			"Cache-Control":           "public, max-age=31536000, immutable",
		} {
			if got := ir.header.Get(k); got != v {
				t.Errorf("GET %s: %s = %q, want %q", url, k, got, v)
			}
		}
	}
	// The digest is part of the address: an old or made-up one is not served.
	if r := e.do(t, req{path: "/assets/brand/icon-acme-000000000000.png"}); r.status != http.StatusNotFound {
		t.Errorf("icon with a wrong digest: %d, want 404", r.status)
	}
}

func TestLoginOneProviderButtonNamesIt(t *testing.T) {
	p := deadProvider("acme", "Acme")
	p.Icon = writePicture(t, "acme.png", testPNG)
	e := newLoginEnv(t, []config.Provider{p}, nil)
	r := e.do(t, req{path: "/login"})
	if !strings.Contains(r.text(), "or Sign in with Acme") || !strings.Contains(r.body, `data-sso-submit="Continue with Acme"`) || strings.Contains(r.body, `id="providers"`) {
		t.Fatalf("one provider: want its name on the SSO button and no provider list:\n%s", r.body)
	}
	if len(iconRE.FindAllString(r.body, -1)) != 1 {
		t.Errorf("the one provider's button shows no icon:\n%s", r.body)
	}
	// Back on the page in SSO mode (the provider is not answering): the
	// submit button continues with the provider, by name.
	r = e.do(t, req{method: "POST", path: "/auth/login", form: map[string][]string{"email": {alice}, "is_sso": {"true"}}})
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, `id="submit">Continue with Acme<`) {
		t.Fatalf("SSO mode: %d\n%s", r.status, r.body)
	}
}

func TestLoginShowPasswordToggle(t *testing.T) {
	e := newEnv(t, envOpts{})
	r := e.do(t, req{path: "/login"})
	// The button is hidden until login.js shows it: without JavaScript it
	// could do nothing.
	want := `<button type="button" class="reveal" id="password-reveal" data-reveal="password" aria-controls="password" aria-pressed="false" aria-label="Show password" hidden>Show</button>`
	if !strings.Contains(r.body, want) {
		t.Fatalf("login page lacks the show-password button %s:\n%s", want, r.body)
	}
	if n := strings.Count(r.body, `type="password"`); n != strings.Count(r.body, "data-reveal=") {
		t.Errorf("%d password fields, %d show-password buttons", n, strings.Count(r.body, "data-reveal="))
	}
}

// autofocus reports which of the login page's fields has autofocus.
func autofocus(t *testing.T, body string) string {
	t.Helper()
	var got []string
	for _, m := range regexp.MustCompile(`<input [^>]*>`).FindAllString(body, -1) {
		if strings.Contains(m, " autofocus") {
			got = append(got, regexp.MustCompile(`id="([^"]+)"`).FindStringSubmatch(m)[1])
		}
	}
	if len(got) != 1 {
		t.Fatalf("want exactly one autofocus field, got %v", got)
	}
	return got[0]
}

func TestLoginFocusStaysOnPasswordAfterWrongPassword(t *testing.T) {
	e := newEnv(t, envOpts{})
	if f := autofocus(t, e.do(t, req{path: "/login"}).body); f != "email" {
		t.Errorf("fresh login page focuses %q, want email", f)
	}
	r := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, "wrong password here")})
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, badCredMsg) || !strings.Contains(r.body, `value="`+alice+`"`) {
		t.Fatalf("wrong password: %d\n%s", r.status, r.body)
	}
	if f := autofocus(t, r.body); f != "password" {
		t.Errorf("after a wrong password the page focuses %q, want password", f)
	}
	// No email kept (it was not one): the email is what to type.
	r = e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(strings.Repeat("a", 300)+"@example.com", "x")})
	if f := autofocus(t, r.body); r.status != http.StatusBadRequest || f != "email" {
		t.Errorf("invalid email: %d, focus %q, want 400 and email", r.status, f)
	}
}

func TestLoginForgotPasswordLine(t *testing.T) {
	const line = `<p class="forgot" id="forgot">Forgot password? Ask your administrator to set a new one.</p>`
	e := newLoginEnv(t, []config.Provider{deadProvider("acme", "Acme")}, nil)
	if r := e.do(t, req{path: "/login"}); !strings.Contains(r.body, line) {
		t.Fatalf("login page lacks %s:\n%s", line, r.body)
	}
	// In SSO mode no password can be typed: the line is hidden with the
	// password field (login.js shows both again on the way back).
	r := e.do(t, req{method: "POST", path: "/auth/login", form: map[string][]string{"email": {alice}, "is_sso": {"true"}}})
	if !strings.Contains(r.body, `<p class="forgot" id="forgot" hidden>`) {
		t.Fatalf("SSO mode shows the forgot-password line:\n%s", r.body)
	}
}

func TestBrandingOnEveryPage(t *testing.T) {
	logoPath := writePicture(t, "logo.svg", testSVG)
	logo, err := images.Load(logoPath)
	if err != nil {
		t.Fatal(err)
	}
	e := newLoginEnv(t, nil, func(c *config.Config) {
		c.Branding = config.Branding{Name: "Acme Login", Logo: logoPath, LogoImage: logo, Colour: "#5b2a86"}
	})
	logoURL := "/assets/brand/logo-" + logo.Sum + ".svg"
	pages := []struct {
		path   string
		status int
		title  string
	}{
		{"/login", http.StatusOK, "Sign in · Acme Login"},
		{"/no/such/page", http.StatusNotFound, "Page not found · Acme Login"},
	}
	for _, p := range pages {
		r := e.do(t, req{path: p.path})
		if r.status != p.status {
			t.Fatalf("GET %s: %d", p.path, r.status)
		}
		for _, want := range []string{
			"<title>" + p.title + "</title>",
			`<link rel="stylesheet" href="/assets/brand.css">`,
			`<img class="brand-logo" src="` + logoURL + `" alt="" height="32"><span class="brand-name">Acme Login</span>`,
			`<footer class="foot">Acme Login</footer>`,
		} {
			if !strings.Contains(r.body, want) {
				t.Errorf("GET %s lacks %s:\n%s", p.path, want, r.body)
			}
		}
		if strings.Contains(r.text(), "gatehouse") && p.path == "/login" {
			t.Errorf("GET %s still says gatehouse: %s", p.path, r.text())
		}
	}
	// The refusal written outside Gin carries the brand too.
	r := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, goodPW), header: map[string]string{"Sec-Fetch-Site": "cross-site"}})
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "<title>Request refused · Acme Login</title>") {
		t.Errorf("cross-site refusal: %d\n%s", r.status, r.body)
	}
	css := e.do(t, req{path: "/assets/brand.css"})
	if css.status != http.StatusOK || css.header.Get("Content-Type") != "text/css; charset=utf-8" ||
		!strings.Contains(css.body, "--primary: #5b2a86;") || !strings.Contains(css.body, "--primary-dark: #47216") {
		t.Fatalf("brand.css: %d %q\n%s", css.status, css.header.Get("Content-Type"), css.body)
	}
	lr := e.do(t, req{path: logoURL})
	if lr.status != http.StatusOK || lr.body != testSVG || lr.header.Get("Content-Type") != "image/svg+xml" ||
		lr.header.Get("Content-Security-Policy") != "default-src 'none'; style-src 'unsafe-inline'; sandbox" || lr.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("logo: %d %v", lr.status, lr.header)
	}
}

func TestBrandingDefault(t *testing.T) {
	e := newEnv(t, envOpts{})
	r := e.do(t, req{path: "/login"})
	if !strings.Contains(r.body, "<title>Sign in · gatehouse</title>") || !strings.Contains(r.body, `<span class="brand-name">gatehouse</span>`) ||
		strings.Contains(r.body, "brand.css") || strings.Contains(r.body, "brand-logo") {
		t.Fatalf("default branding:\n%s", r.body)
	}
	if r := e.do(t, req{path: "/assets/brand.css"}); r.status != http.StatusNotFound {
		t.Errorf("brand.css without branding.colour: %d, want 404", r.status)
	}
}
