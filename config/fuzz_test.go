package config

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// FuzzConfigLoad feeds arbitrary YAML (and a few environment values) through
// Load from a real file. Load must never panic, and must either fail with one
// line that names the offending key (or says the YAML is invalid), or return
// a configuration that passes its own validation.
//
// Run it with: go test -run '^$' -fuzz '^FuzzConfigLoad$' ./config
func FuzzConfigLoad(f *testing.F) {
	// The shipped example configuration, as operators start from it.
	if shipped, err := os.ReadFile(filepath.Join("..", "config.yaml")); err == nil {
		f.Add(shipped, "", "", "", "")
	}
	seeds := []struct {
		yaml                            string
		baseURL, listen, issuer, fuzzed string
	}{
		{"", "", "", "", ""},
		{"---\n", "", "", "", ""},
		{"# only a comment\n", "https://login.example.com", "", "", ""},
		{"listen: 127.0.0.1:9000\nbase_url: HTTPS://Login.Example.COM/\n", "", "", "", ""},
		{"base_url: https://login.example.com?x#y\n", "", "", "", ""},
		{"base_url: ${FUZZ}\n", "", "", "", "http://[::1]:8080"},
		{"base_url: ${FUZZ:-http://localhost}\nsession:\n  cookie_name: sid\n", "", "", "", ""},
		{"listen: \"${FUZZ}\"\n", "", "", "", "0.0.0.0:80"},
		{"database: ${NOT_SET}\n", "", "", "", ""},
		{"${FUZZ}\n", "", "", "", "listen: x"},
		{"log:\n  level: debug\n  format: json\n", "", "", "", ""},
		{"session:\n  cookie_name: \"a;b\"\n", "", "", "", ""},
		{"session:\n  cookie_name: \"caf\\u00e9\"\n", "https://x.example", "", "", ""},
		{"session:\n  idle_timeout: 1h\n  lifetime: 30m\n", "", "", "", ""},
		{"session: {idle_timeout: ten minutes}\n", "", "", "", ""},
		{"password: {bcrypt_cost: \"1\\n2\"}\n", "", "", "", ""},
		{"password:\n  bcrypt_cost: 40\n", "", "", "", ""},
		{"server:\n  read_timeout: -1s\n", "", "", "", ""},
		{"throttle:\n  account: {failures: 0, window: 1m, max_delay: 1m}\n", "", "", "", ""},
		{"metrics:\n  listen: 127.0.0.1:8080\n", "", "", "", ""},
		{"trusted_proxies: [10.0.0.0/8, \"::1\"]\n", "", "", "", ""},
		{"nope: 1\n", "", "", "", ""},
		{"session:\n  \"cookie\\nname\": x\n", "", "", "", ""},
		{"- listen\n- base_url\n", "", "", "", ""},
		{"just a string\n", "", "", "", ""},
		{"listen: [1, 2]\n", "", "", "", ""},
		{"a: &a [*a]\n", "", "", "", ""},
		{"x: &x {y: 1}\nsession: *x\n", "", "", "", ""},
		{"<<: {listen: x}\n", "", "", "", ""},
		{"listen: \"unterminated\n", "", "", "", ""},
		{"\t- bad indent\n", "", "", "", ""},
		{"providers:\n- id: acme\n  issuer: https://idp.example\n  client_id: c\n  client_secret: s\n  email_domains: [\" Example.COM \"]\n  link: verified_email\n  auth_params: {prompt: login}\n", "", "", "", ""},
		{"providers:\n- id: acme\n  metadata:\n    issuer: https://idp.example\n    authorization_endpoint: https://idp.example/a\n    token_endpoint: https://idp.example/t\n    jwks_uri: https://idp.example/k\n  registration: {}\n", "", "", "", ""},
		{"providers:\n- id: \"A\\nB\"\n", "", "", "", ""},
		{"providers:\n- id: acme\n  issuer: https://idp.example\n  client_id: c\n  client_secret: s\n  auth_params: {state: x}\n", "", "", "", ""},
		{"providers:\n- id: sso\n  issuer: https://idp.example\n  client_id: c\n  client_secret: s\n", "", "", "https://other.example", ""},
		{"providers: [{id: a}, {id: a}]\n", "", "", "", ""},
		{"", "https://login.example.com:8443", "", "", ""},
		{"", "javascript:alert(1)", "", "", ""},
		{"", "http://user:pw@host", "", "", ""},
		{"", "", "[::1]:0", "", ""},
		{"", "", "", "https://idp.example", ""},
		{"", "", "", "not a url", ""},
	}
	for _, s := range seeds {
		f.Add([]byte(s.yaml), s.baseURL, s.listen, s.issuer, s.fuzzed)
	}
	keys := yamlKeys(typeOfConfig, map[string]bool{})

	f.Fuzz(func(t *testing.T, data []byte, baseURL, listen, issuer, fuzzed string) {
		dir := t.TempDir()
		path := filepath.Join(dir, "gatehouse.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{
			"GATEHOUSE_BASE_URL":   baseURL,
			"GATEHOUSE_LISTEN":     listen,
			"SSOJET_ISSUER_URL":    issuer,
			"SSOJET_CLIENT_ID":     "gatehouse",
			"SSOJET_CLIENT_SECRET": "secret",
			"FUZZ":                 fuzzed,
		}
		cfg, err := Load(Source{Path: path, Getenv: mapEnv(env), DotEnv: filepath.Join(dir, "absent.env")})
		if err != nil {
			checkLoadError(t, err.Error(), path, keys)
			return
		}
		checkLoadedConfig(t, cfg)
	})
}

var (
	// unknownRE: "<key path> (line N): unknown key", whatever the key is.
	unknownRE = regexp.MustCompile(`^.+ \(line \d+\): unknown key$`)
	// lineRE matches the " (line N)" that follows a key path in messages.
	lineRE = regexp.MustCompile(` \(line \d+\)$`)
)

// checkLoadError: one line, and either invalid YAML or a message that starts
// with the path of a key.
func checkLoadError(t *testing.T, msg, path string, keys map[string]bool) {
	t.Helper()
	if msg == "" || strings.ContainsAny(msg, "\r\n") {
		t.Fatalf("error is not one line: %q", msg)
	}
	msg = strings.TrimPrefix(msg, path+": ")
	if strings.HasPrefix(msg, "invalid YAML: ") || unknownRE.MatchString(msg) {
		return
	}
	head, _, ok := strings.Cut(msg, ": ")
	if !ok {
		t.Fatalf("error names no key: %q", msg)
	}
	head = lineRE.ReplaceAllString(head, "")
	if head == "top level" {
		return // the document itself is not a mapping of keys
	}
	first := strings.FieldsFunc(head, func(r rune) bool { return r == '.' || r == '[' || r == ' ' })
	if len(first) == 0 || !keys[first[0]] {
		t.Fatalf("error does not start with a configuration key: %q", msg)
	}
}

// checkLoadedConfig: what Load returns passes its own validation, has a
// canonical origin as base_url and consistent cookie settings.
func checkLoadedConfig(t *testing.T, cfg Config) {
	t.Helper()
	if err := cfg.validate(); err != nil {
		t.Fatalf("Load returned a config that fails validation: %v\n%+v", err, cfg)
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		t.Fatalf("base_url %q does not parse as an http(s) origin: %v", cfg.BaseURL, err)
	}
	if canon := u.Scheme + "://" + u.Host; cfg.BaseURL != canon || u.Host != strings.ToLower(u.Host) {
		t.Fatalf("base_url %q is not the canonical origin %q", cfg.BaseURL, canon)
	}
	if cfg.Secure() != (u.Scheme == "https") {
		t.Fatalf("Secure() = %v for base_url %q", cfg.Secure(), cfg.BaseURL)
	}
	want := cfg.Session.CookieName
	if cfg.Secure() {
		want = "__Host-" + want
	}
	if cfg.CookieName() != want {
		t.Fatalf("CookieName() = %q, want %q (Secure %v)", cfg.CookieName(), want, cfg.Secure())
	}
	// A name net/http would refuse is silently never set: nobody could
	// sign in, so validation must have refused it.
	if err := (&http.Cookie{Name: cfg.CookieName(), Value: "v"}).Valid(); err != nil {
		t.Fatalf("session.cookie_name %q passed validation but is not a cookie name: %v", cfg.Session.CookieName, err)
	}
	seen := map[string]bool{}
	for i, p := range cfg.Providers {
		if p.ID == "" || seen[p.ID] || strings.Trim(p.ID, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Fatalf("providers[%d]: bad or duplicate id %q", i, p.ID)
		}
		seen[p.ID] = true
		if p.RedirectURL == "" || p.PostLogoutRedirectURL == "" || !slices.Contains(p.Scopes, "openid") || p.Timeout <= 0 {
			t.Fatalf("providers[%d] (%s): defaults not filled: %+v", i, p.ID, p)
		}
		if !p.Link.Valid() {
			t.Fatalf("providers[%d] (%s): link %q", i, p.ID, p.Link)
		}
	}
	// Finish on a finished configuration changes nothing (gatehouse demo
	// finishes a loaded configuration again after editing it).
	again := cfg
	again.Providers = slices.Clone(cfg.Providers)
	for i, p := range again.Providers {
		again.Providers[i].Scopes, again.Providers[i].EmailDomains = slices.Clone(p.Scopes), slices.Clone(p.EmailDomains)
	}
	if err := again.Finish(); err != nil {
		t.Fatalf("Finish on a loaded config: %v", err)
	}
	if !reflect.DeepEqual(again, cfg) {
		t.Fatalf("Finish changed a loaded config:\n%+v\nwas\n%+v", again, cfg)
	}
}

// yamlKeys collects every key name the configuration has, at any depth.
func yamlKeys(t reflect.Type, into map[string]bool) map[string]bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return into
	}
	for name, ft := range yamlFields(t) {
		if !into[name] {
			into[name] = true
			yamlKeys(ft, into)
		}
	}
	return into
}
