package config

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/sso"
	"github.com/gatehouse/gatehouse/throttle"
)

// mapEnv is an environment lookup over a fixed map, so no test reads or
// writes the process environment.
func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// writeFile writes content into dir/name and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// loadYAML loads content as an explicit --config file with env as the whole
// environment and no .env file.
func loadYAML(t *testing.T, content string, env map[string]string) (Config, error) {
	t.Helper()
	dir := t.TempDir()
	return Load(Source{
		Path:   writeFile(t, dir, "gatehouse.yaml", content),
		Getenv: mapEnv(env),
		DotEnv: filepath.Join(dir, "absent.env"),
	})
}

// wantErr fails unless err is non-nil, one line, and contains every part.
func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", parts)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("error %q does not contain %q", msg, p)
		}
	}
}

func defaultsLoaded() Config {
	c := Default()
	c.BaseURL = "http://127.0.0.1:8080"
	return c
}

func TestLoadDefaultsWithoutFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // no ./config.yaml here
	cfg, err := Load(Source{Getenv: mapEnv(nil), DotEnv: filepath.Join(dir, "absent.env")})
	if err != nil {
		t.Fatalf("Load with no file: %v", err)
	}
	if want := defaultsLoaded(); !reflect.DeepEqual(cfg, want) {
		t.Fatalf("Load with no file =\n%+v\nwant\n%+v", cfg, want)
	}
	if cfg.Secure() || cfg.CookieName() != "gatehouse_session" {
		t.Fatalf("defaults: Secure() = %v, CookieName() = %q", cfg.Secure(), cfg.CookieName())
	}
}

func TestLoadDefaultDotEnvAndConfigInWorkingDir(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, dir, "config.yaml", "listen: \"${ADDR}\"\n")
	writeFile(t, dir, ".env", "ADDR=127.0.0.1:7000\n")
	cfg, err := Load(Source{Getenv: mapEnv(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:7000" {
		t.Fatalf("Listen = %q, want ./config.yaml expanded with ./.env", cfg.Listen)
	}
}

func TestLoadEmptyFileMeansDefaults(t *testing.T) {
	for _, content := range []string{"", "# only a comment\n", "---\n"} {
		cfg, err := loadYAML(t, content, nil)
		if err != nil {
			t.Fatalf("Load(%q): %v", content, err)
		}
		if !reflect.DeepEqual(cfg, defaultsLoaded()) {
			t.Fatalf("Load(%q) = %+v, want defaults", content, cfg)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	missing := filepath.Join(dir, "nope.yaml")
	tests := []struct {
		name    string
		src     Source
		wantErr bool
	}{
		{"explicit --config missing", Source{Path: missing}, true},
		{"GATEHOUSE_CONFIG missing", Source{Getenv: mapEnv(map[string]string{"GATEHOUSE_CONFIG": missing})}, true},
		{"implicit ./config.yaml missing", Source{}, false},
		{"GATEHOUSE_CONFIG set but empty", Source{Getenv: mapEnv(map[string]string{"GATEHOUSE_CONFIG": ""})}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if src.Getenv == nil {
				src.Getenv = mapEnv(nil)
			}
			src.DotEnv = filepath.Join(dir, "absent.env")
			_, err := Load(src)
			if tt.wantErr {
				wantErr(t, err, "nope.yaml")
			} else if err != nil {
				t.Fatalf("Load: %v", err)
			}
		})
	}
}

func TestConfigFileSelection(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	flag := writeFile(t, dir, "flag.yaml", "listen: 127.0.0.1:1001\n")
	envFile := writeFile(t, dir, "env.yaml", "listen: 127.0.0.1:1002\n")
	writeFile(t, dir, "config.yaml", "listen: 127.0.0.1:1003\n")
	dotFile := writeFile(t, dir, "dot.yaml", "listen: 127.0.0.1:1004\n")
	dotEnv := writeFile(t, dir, "test.env", "GATEHOUSE_CONFIG="+dotFile+"\n")
	absent := filepath.Join(dir, "absent.env")
	tests := []struct {
		name   string
		src    Source
		listen string
	}{
		{"--config wins over GATEHOUSE_CONFIG", Source{Path: flag, Getenv: mapEnv(map[string]string{"GATEHOUSE_CONFIG": envFile}), DotEnv: absent}, "127.0.0.1:1001"},
		{"GATEHOUSE_CONFIG picks the file", Source{Getenv: mapEnv(map[string]string{"GATEHOUSE_CONFIG": envFile}), DotEnv: absent}, "127.0.0.1:1002"},
		{"./config.yaml when nothing is named", Source{Getenv: mapEnv(nil), DotEnv: absent}, "127.0.0.1:1003"},
		{"GATEHOUSE_CONFIG from .env", Source{Getenv: mapEnv(nil), DotEnv: dotEnv}, "127.0.0.1:1004"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Listen != tt.listen {
				t.Fatalf("Listen = %q, want %q", cfg.Listen, tt.listen)
			}
		})
	}
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"top level", "listen: 127.0.0.1:1\nlisten_addr: x\n", []string{"listen_addr (line 2)", "unknown key"}},
		{"nested", "session:\n  cookie_name: s\n  idel_timeout: 5m\n", []string{"session.idel_timeout (line 3)", "unknown key"}},
		{"nested under log", "log:\n  level: info\n  colour: true\n", []string{"log.colour (line 3)"}},
		{"nested under admin", "admin:\n  sudo_windw: 5m\n", []string{"admin.sudo_windw (line 2)"}},
		{"inside providers[1]", `providers:
  - id: one
    issuer: https://one.example.com
    client_id: a
    client_secret: b
  - id: two
    issuer: https://two.example.com
    client_id: a
    client_secret: b
    clientsecret: c
`, []string{"providers[1].clientsecret (line 10)", "unknown key"}},
		{"inside provider metadata", `providers:
  - id: one
    metadata:
      issuer: https://one.example.com
      jwks: https://one.example.com/jwks
`, []string{"providers[0].metadata.jwks (line 5)"}},
		{"inside provider registration", `providers:
  - id: one
    issuer: https://one.example.com
    registration:
      token: x
`, []string{"providers[0].registration.token (line 5)"}},
		{"key that looks like a variable is not expanded", "${KEY}: x\n", []string{"${KEY} (line 1)", "unknown key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, tt.yaml, map[string]string{"KEY": "listen"})
			wantErr(t, err, tt.want...)
		})
	}
}

func TestTypeErrorsNameKeyAndLine(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"int", "password:\n  bcrypt_cost: abc\n", "password.bcrypt_cost (line 2)"},
		{"bare integer duration", "server:\n  read_timeout: 15\n", "server.read_timeout (line 2)"},
		{"first of several", "session:\n  idle_timeout: soon\n  lifetime: later\n", "session.idle_timeout (line 2)"},
		{"sequence for string", "listen: [1]\n", "listen (line 1)"},
		{"provider field", "providers:\n  - id: a\n    auto_create: maybe\n", "providers[0].auto_create (line 3)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, tt.yaml, nil)
			wantErr(t, err, tt.want)
		})
	}
}

// TestTypeErrorsInWords pins the whole message for a value of the wrong kind
// for each kind of setting: the key path, the line, the value as written and
// what to write instead, never the decoder's Go type names.
func TestTypeErrorsInWords(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"duration", "listen: 127.0.0.1:8080\nlog:\n  level: info\nsession:\n  cookie_name: s\n  idle_timeout: 30m\n  lifetime: 12 hours\n",
			"session.lifetime (line 7): `12 hours` is not a duration; use e.g. 12h or 30m"},
		{"bare number for a duration", "server:\n  read_timeout: 15\n",
			"server.read_timeout (line 2): `15` is not a duration; use e.g. 12h or 30m"},
		{"duration in a provider", "providers:\n  - id: a\n    timeout: soon\n",
			"providers[0].timeout (line 3): `soon` is not a duration; use e.g. 12h or 30m"},
		{"integer", "password:\n  bcrypt_cost: twelve\n",
			"password.bcrypt_cost (line 2): `twelve` is not a whole number; use e.g. 12"},
		{"list for an integer", "password:\n  min_length: [8]\n",
			"password.min_length (line 2): a list is not a whole number; use e.g. 12"},
		{"boolean", "session:\n  permanent: maybe\n",
			"session.permanent (line 2): `maybe` is not true or false"},
		{"boolean in a provider", "providers:\n  - id: a\n    auto_create: sometimes\n",
			"providers[0].auto_create (line 3): `sometimes` is not true or false"},
		{"scalar for a list", "trusted_proxies: 10.0.0.1\n",
			"trusted_proxies (line 1): `10.0.0.1` is not a list; use e.g. [a, b], or one \"- item\" line each, indented below the key"},
		{"scalar for a list of providers", "providers: acme\n",
			"providers (line 1): `acme` is not a list; use e.g. [a, b], or one \"- item\" line each, indented below the key"},
		{"scalar for a map", "providers:\n  - id: a\n    auth_params: prompt=login\n",
			"providers[0].auth_params (line 3): `prompt=login` is not a mapping; put its keys on the lines below, indented"},
		{"scalar for a section", "session: 12h\n",
			"session (line 1): `12h` is not a mapping; put its keys on the lines below, indented"},
		{"list for a section", "log:\n  - debug\n",
			"log (line 2): a list is not a mapping; put its keys on the lines below, indented"},
		{"list for a single value", "listen: [1]\n",
			"listen (line 1): a list is not a single value; quote it if it is meant as text"},
		{"mapping for a duration", "admin:\n  sudo_window:\n    minutes: 5\n",
			"admin.sudo_window (line 3): a mapping is not a duration; use e.g. 12h or 30m"},
		{"empty value for a duration", "session:\n  lifetime: \"\"\n",
			"session.lifetime (line 2): an empty value is not a duration; use e.g. 12h or 30m"},
		{"expanded value", "session:\n  lifetime: ${LIFETIME}\n",
			"session.lifetime (line 2): `a day` is not a duration; use e.g. 12h or 30m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			err := decode([]byte(tt.yaml), mapEnv(map[string]string{"LIFETIME": "a day"}), &cfg)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error:\n got %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestInvalidYAML(t *testing.T) {
	_, err := loadYAML(t, "listen: [\n", nil)
	wantErr(t, err, "invalid YAML")
}

// provider is a valid provider block for tests that vary other things.
const provider = `providers:
  - id: acme
    issuer: https://idp.example.com
    client_id: gatehouse
    client_secret: %s
`

func TestExpansion(t *testing.T) {
	env := map[string]string{
		"HOST":    "127.0.0.1",
		"PORT":    "9000",
		"SECRET":  "s3cr3t",
		"PERM":    "true",
		"EMPTY":   "",
		"DOLLAR":  "a$b${c}",
		"NULLISH": "null",
		"TILDE":   "~",
		"NUMERIC": "0123",
	}
	tests := []struct {
		name   string
		yaml   string
		check  func(Config) string // returns the value to compare
		want   string
		errPts []string // non-nil: want an error containing these
	}{
		{"variables in a value", "listen: ${HOST}:${PORT}\n", func(c Config) string { return c.Listen }, "127.0.0.1:9000", nil},
		{"quoted value", "listen: \"${HOST}:${PORT}\"\n", func(c Config) string { return c.Listen }, "127.0.0.1:9000", nil},
		{"default when unset", "listen: ${NOPE:-127.0.0.1:7777}\n", func(c Config) string { return c.Listen }, "127.0.0.1:7777", nil},
		{"set var beats default", "listen: ${HOST:-0.0.0.0}:1\n", func(c Config) string { return c.Listen }, "127.0.0.1:1", nil},
		{"set-but-empty var is used, not the default", "session:\n  cookie_name: x${EMPTY:-y}\n", func(c Config) string { return c.Session.CookieName }, "x", nil},
		{"plain scalar retyped after expansion", "session:\n  permanent: ${PERM}\n", func(c Config) string {
			if c.Session.Permanent {
				return "true"
			}
			return "false"
		}, "true", nil},
		{"expanded value is not expanded again", fmtProvider("${DOLLAR}"), func(c Config) string { return c.Providers[0].ClientSecret }, "a$b${c}", nil},
		{"secret in provider", fmtProvider("${SECRET}"), func(c Config) string { return c.Providers[0].ClientSecret }, "s3cr3t", nil},
		{"double dollar survives", fmtProvider(`"pa$$word"`), func(c Config) string { return c.Providers[0].ClientSecret }, "pa$$word", nil},
		{"bare dollar survives", fmtProvider("pa$word"), func(c Config) string { return c.Providers[0].ClientSecret }, "pa$word", nil},
		{"dollar brace without close survives", fmtProvider(`"pa${word"`), func(c Config) string { return c.Providers[0].ClientSecret }, "pa${word", nil},
		{"trailing dollar survives", fmtProvider(`"password$"`), func(c Config) string { return c.Providers[0].ClientSecret }, "password$", nil},
		{"variable that looks like null stays text", fmtProvider("${NULLISH}"), func(c Config) string { return c.Providers[0].ClientSecret }, "null", nil},
		{"variable that looks like tilde stays text", fmtProvider("${TILDE}"), func(c Config) string { return c.Providers[0].ClientSecret }, "~", nil},
		{"variable that looks like a number stays text in a string", fmtProvider("${NUMERIC}"), func(c Config) string { return c.Providers[0].ClientSecret }, "0123", nil},
		{"in a sequence", "trusted_proxies:\n  - ${HOST}\n", func(c Config) string { return strings.Join(c.TrustedProxies, ",") }, "127.0.0.1", nil},
		{"in a map value", fmtProvider("x") + "    auth_params:\n      domain_hint: ${HOST}\n", func(c Config) string { return c.Providers[0].AuthParams["domain_hint"] }, "127.0.0.1", nil},
		{"unset variable", "database: ${DB_PATH}\n", nil, "", []string{"database (line 1)", "DB_PATH"}},
		{"unset variable nested", "session:\n  cookie_name: ${COOKIE}\n", nil, "", []string{"session.cookie_name (line 2)", "COOKIE"}},
		{"unset variable in providers[0]", fmtProvider("${CLIENT_SECRET}"), nil, "", []string{"providers[0].client_secret (line 5)", "CLIENT_SECRET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadYAML(t, tt.yaml, env)
			if tt.errPts != nil {
				wantErr(t, err, tt.errPts...)
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := tt.check(cfg); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func fmtProvider(secret string) string { return strings.Replace(provider, "%s", secret, 1) }

func TestDotEnvAndOverrides(t *testing.T) {
	dir := t.TempDir()
	dotEnv := writeFile(t, dir, "test.env", strings.Join([]string{
		"GATEHOUSE_LISTEN=127.0.0.1:2001",
		"GATEHOUSE_DATABASE=/tmp/from-dotenv.db",
		"COOKIE=from_dotenv",
		"SHARED=from_dotenv",
		"QUOTED='pa$word'",
		"",
	}, "\n"))
	file := writeFile(t, dir, "c.yaml", `listen: 127.0.0.1:3000
base_url: http://file.example.com
database: /tmp/from-file.db
session:
  cookie_name: ${COOKIE}_${SHARED}
`+fmtProvider("${QUOTED}"))
	tests := []struct {
		name string
		env  map[string]string
		want Config // only Listen, BaseURL, Database, Session.CookieName, secret are compared
	}{
		{
			name: ".env values seen, overrides beat the file",
			env:  nil,
			want: Config{Listen: "127.0.0.1:2001", BaseURL: "http://file.example.com", Database: "/tmp/from-dotenv.db", Session: Session{CookieName: "from_dotenv_from_dotenv"}},
		},
		{
			name: "real environment beats .env",
			env: map[string]string{
				"GATEHOUSE_LISTEN":   "127.0.0.1:4001",
				"GATEHOUSE_BASE_URL": "https://env.example.com",
				"GATEHOUSE_DATABASE": "/tmp/from-env.db",
				"SHARED":             "from_env",
			},
			want: Config{Listen: "127.0.0.1:4001", BaseURL: "https://env.example.com", Database: "/tmp/from-env.db", Session: Session{CookieName: "from_dotenv_from_env"}},
		},
		{
			name: "empty override is ignored",
			env:  map[string]string{"GATEHOUSE_LISTEN": "", "GATEHOUSE_BASE_URL": "", "GATEHOUSE_DATABASE": ""},
			want: Config{Listen: "127.0.0.1:3000", BaseURL: "http://file.example.com", Database: "/tmp/from-file.db", Session: Session{CookieName: "from_dotenv_from_dotenv"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(Source{Path: file, Getenv: mapEnv(tt.env), DotEnv: dotEnv})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Listen != tt.want.Listen || cfg.BaseURL != tt.want.BaseURL || cfg.Database != tt.want.Database || cfg.Session.CookieName != tt.want.Session.CookieName {
				t.Fatalf("got listen=%q base_url=%q database=%q cookie=%q, want %q %q %q %q",
					cfg.Listen, cfg.BaseURL, cfg.Database, cfg.Session.CookieName,
					tt.want.Listen, tt.want.BaseURL, tt.want.Database, tt.want.Session.CookieName)
			}
			if got := cfg.Providers[0].ClientSecret; got != "pa$word" {
				t.Fatalf("single-quoted .env secret = %q, want pa$word", got)
			}
		})
	}
	// Loading never writes the process environment.
	if _, ok := os.LookupEnv("COOKIE"); ok {
		t.Fatal(".env value leaked into the process environment")
	}
}

func TestOverrideBaseURLDerivedFromListen(t *testing.T) {
	cfg, err := loadYAML(t, "listen: 127.0.0.1:5000\n", map[string]string{"GATEHOUSE_LISTEN": "0.0.0.0:6000"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "0.0.0.0:6000" || cfg.BaseURL != "http://0.0.0.0:6000" {
		t.Fatalf("Listen=%q BaseURL=%q, want the override and a base_url derived from it", cfg.Listen, cfg.BaseURL)
	}
}

func TestInvalidValues(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want string
	}{
		{"bcrypt cost 9", "password:\n  bcrypt_cost: 9\n", nil, "password.bcrypt_cost"},
		{"bcrypt cost 32", "password:\n  bcrypt_cost: 32\n", nil, "password.bcrypt_cost"},
		{"min length 7", "password:\n  min_length: 7\n", nil, "password.min_length"},
		{"min length 73", "password:\n  min_length: 73\n", nil, "password.min_length"},
		{"base_url with path", "base_url: https://example.com/login\n", nil, "base_url"},
		{"base_url with query", "base_url: https://example.com?x=1\n", nil, "base_url"},
		{"base_url with credentials", "base_url: https://u:p@example.com\n", nil, "base_url"},
		{"base_url not absolute", "base_url: example.com\n", nil, "base_url"},
		{"base_url ftp", "base_url: ftp://example.com\n", nil, "base_url"},
		{"base_url from env with path", "", map[string]string{"GATEHOUSE_BASE_URL": "https://example.com/app"}, "base_url"},
		{"bad log format", "log:\n  format: xml\n", nil, "log.format"},
		{"bad log level", "log:\n  level: verbose\n", nil, "log.level"},
		{"lifetime below idle", "session:\n  idle_timeout: 2h\n  lifetime: 1h\n", nil, "session.lifetime"},
		{"idle below a minute", "session:\n  idle_timeout: 30s\n", nil, "session.idle_timeout"},
		{"cookie name with space", "session:\n  cookie_name: \"a b\"\n", nil, "session.cookie_name"},
		{"cookie name with semicolon", "session:\n  cookie_name: \"a;b\"\n", nil, "session.cookie_name"},
		{"empty listen", "listen: \"\"\nbase_url: http://example.com\n", nil, "listen"},
		{"empty database", "database: \"\"\n", nil, "database"},
		{"zero server timeout", "server:\n  read_timeout: 0s\n", nil, "server"},
		{"sudo window below a minute", "admin:\n  sudo_window: 30s\n", nil, "admin.sudo_window"},
		{"audit retention below a day", "audit:\n  retention: 23h\n", nil, "audit.retention"},
		{"audit retention zero", "audit:\n  retention: 0s\n", nil, "audit.retention"},
		{"metrics listen without port", "metrics:\n  listen: 127.0.0.1\n", nil, "metrics.listen"},
		{"metrics listen same as listen", "listen: 127.0.0.1:9100\nmetrics:\n  listen: 127.0.0.1:9100\n", nil, "metrics.listen"},
		{"throttle failures 0", "throttle:\n  account: {failures: 0, window: 1m, max_delay: 1m}\n", nil, "throttle.account"},
		{"throttle window under a second", "throttle:\n  address: {window: 500ms}\n", nil, "throttle.address"},
		{"throttle max delay 0", "throttle:\n  account_address: {max_delay: 0s}\n", nil, "throttle.account_address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, tt.yaml, tt.env)
			wantErr(t, err, tt.want+":")
		})
	}
}

func TestBaseURLAndCookies(t *testing.T) {
	tests := []struct {
		baseURL    string
		wantURL    string
		secure     bool
		cookieName string
	}{
		{"https://login.example.com", "https://login.example.com", true, "__Host-sid"},
		{"https://login.example.com/", "https://login.example.com", true, "__Host-sid"},
		{"https://login.example.com:8443", "https://login.example.com:8443", true, "__Host-sid"},
		{"HTTPS://Login.Example.COM", "https://login.example.com", true, "__Host-sid"},
		{"https://login.example.com?", "https://login.example.com", true, "__Host-sid"},
		{"http://localhost:8080", "http://localhost:8080", false, "sid"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080", false, "sid"},
	}
	for _, tt := range tests {
		t.Run(tt.baseURL, func(t *testing.T) {
			cfg, err := loadYAML(t, "base_url: \""+tt.baseURL+"\"\nsession:\n  cookie_name: sid\n", nil)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.BaseURL != tt.wantURL || cfg.Secure() != tt.secure || cfg.CookieName() != tt.cookieName {
				t.Fatalf("BaseURL=%q Secure()=%v CookieName()=%q, want %q %v %q",
					cfg.BaseURL, cfg.Secure(), cfg.CookieName(), tt.wantURL, tt.secure, tt.cookieName)
			}
		})
	}
}

func TestFileValuesDecoded(t *testing.T) {
	cfg, err := loadYAML(t, `listen: 127.0.0.1:9999
trusted_proxies: [10.0.0.0/8, 192.168.1.1]
log:
  level: debug
  format: json
server:
  read_timeout: 1m30s
session:
  idle_timeout: 10m
  lifetime: 24h
  permanent: true
password:
  bcrypt_cost: 13
  min_length: 16
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := defaultsLoaded()
	want.Listen, want.BaseURL = "127.0.0.1:9999", "http://127.0.0.1:9999"
	want.TrustedProxies = []string{"10.0.0.0/8", "192.168.1.1"}
	want.Log = Log{Level: "debug", Format: "json"}
	want.Server.ReadTimeout = 90 * time.Second
	want.Session = Session{CookieName: "gatehouse_session", IdleTimeout: 10 * time.Minute, Lifetime: 24 * time.Hour, Permanent: true}
	want.Password = Password{BcryptCost: 13, MinLength: 16}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestProviders(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // error parts; nil means valid
	}{
		{"valid discovery provider", fmtProvider("s"), nil},
		{"valid static metadata", `providers:
  - id: static
    metadata:
      issuer: https://idp.example.com
      authorization_endpoint: https://idp.example.com/auth
      token_endpoint: https://idp.example.com/token
      jwks_uri: https://idp.example.com/jwks
    client_id: a
    client_secret: b
`, nil},
		{"both issuer and metadata", `providers:
  - id: acme
    issuer: https://idp.example.com
    metadata:
      issuer: https://idp.example.com
      authorization_endpoint: https://idp.example.com/auth
      token_endpoint: https://idp.example.com/token
      jwks_uri: https://idp.example.com/jwks
    client_id: a
    client_secret: b
`, []string{"providers[0] (acme).issuer"}},
		{"neither issuer nor metadata", "providers:\n  - id: acme\n    client_id: a\n    client_secret: b\n", []string{"providers[0] (acme).issuer"}},
		{"issuer not a URL", "providers:\n  - id: acme\n    issuer: idp.example.com\n    client_id: a\n    client_secret: b\n", []string{"providers[0] (acme).issuer"}},
		{"metadata missing jwks_uri", `providers:
  - id: acme
    metadata:
      issuer: https://idp.example.com
      authorization_endpoint: https://idp.example.com/auth
      token_endpoint: https://idp.example.com/token
    client_id: a
    client_secret: b
`, []string{"providers[0] (acme).metadata.jwks_uri"}},
		{"bad id", "providers:\n  - id: Acme Corp\n    issuer: https://idp.example.com\n    client_id: a\n    client_secret: b\n", []string{"providers[0] (Acme Corp).id"}},
		{"missing id", "providers:\n  - issuer: https://idp.example.com\n    client_id: a\n    client_secret: b\n", []string{"providers[0] ().id"}},
		{"duplicate id", fmtProvider("s") + "  - id: acme\n    issuer: https://other.example.com\n    client_id: a\n    client_secret: b\n", []string{"providers[1] (acme).id", "duplicate"}},
		{"client_id without secret", "providers:\n  - id: acme\n    issuer: https://idp.example.com\n    client_id: a\n", []string{"providers[0] (acme).client_secret"}},
		{"client_id and registration", fmtProvider("s") + "    registration:\n      endpoint: https://idp.example.com/reg\n", []string{"providers[0] (acme).client_id"}},
		{"registration without endpoint in static metadata", `providers:
  - id: acme
    metadata:
      issuer: https://idp.example.com
      authorization_endpoint: https://idp.example.com/auth
      token_endpoint: https://idp.example.com/token
      jwks_uri: https://idp.example.com/jwks
    registration: {}
`, []string{"providers[0] (acme).registration.endpoint"}},
		{"valid dynamic registration with discovery", "providers:\n  - id: acme\n    issuer: https://idp.example.com\n    registration:\n      initial_access_token: t\n", nil},
		{"bad auth method", fmtProvider("s") + "    token_endpoint_auth_method: private_key_jwt\n", []string{"providers[0] (acme).token_endpoint_auth_method"}},
		{"scopes without openid", fmtProvider("s") + "    scopes: [profile, email]\n", []string{"providers[0] (acme).scopes"}},
		{"link policy invalid", fmtProvider("s") + "    link: always\n", []string{"providers[0] (acme).link", "always"}},
		{"link policy verified_email", fmtProvider("s") + "    link: verified_email\n", nil},
		{"link policy never", fmtProvider("s") + "    link: never\n", nil},
		{"auth_params overriding state", fmtProvider("s") + "    auth_params:\n      state: fixed\n", []string{"providers[0] (acme).auth_params.state"}},
		{"auth_params overriding redirect_uri", fmtProvider("s") + "    auth_params:\n      redirect_uri: https://evil.example.com\n", []string{"providers[0] (acme).auth_params.redirect_uri"}},
		{"auth_params overriding nonce", fmtProvider("s") + "    auth_params:\n      nonce: n\n", []string{"providers[0] (acme).auth_params.nonce"}},
		{"auth_params prompt allowed", fmtProvider("s") + "    auth_params:\n      prompt: login\n", nil},
		{"bad email domain", fmtProvider("s") + "    email_domains: [\"user@example.com\"]\n", []string{"providers[0] (acme).email_domains[0]"}},
		{"negative timeout", fmtProvider("s") + "    timeout: -1s\n", []string{"providers[0] (acme).timeout"}},
		{"negative refresh_interval", fmtProvider("s") + "    refresh_interval: -1s\n", []string{"providers[0] (acme).refresh_interval"}},
		{"offline_check too often", fmtProvider("s") + "    offline_check: 10s\n", []string{"providers[0] (acme).offline_check", "at least 1m"}},
		{"offline_check", fmtProvider("s") + "    offline_check: 1h\n", nil},
		{"disable_after in days", fmtProvider("s") + "    disable_after: 30d\n", nil},
		{"disable_after as a duration", fmtProvider("s") + "    disable_after: 720h\n", nil},
		{"disable_after not a period", fmtProvider("s") + "    disable_after: a month\n", []string{"providers[0] (acme).disable_after", "30d"}},
		{"disable_after too short", fmtProvider("s") + "    disable_after: 1h\n", []string{"providers[0] (acme).disable_after", "at least 1d"}},
		{"disable_after zero days", fmtProvider("s") + "    disable_after: 0d\n", []string{"providers[0] (acme).disable_after"}},
		{"http issuer off loopback", "providers:\n  - id: acme\n    issuer: http://idp.example.com\n    client_id: a\n    client_secret: b\n", []string{"providers[0] (acme).issuer", "https"}},
		{"http issuer on loopback", "providers:\n  - id: acme\n    issuer: http://127.0.0.1:5556\n    client_id: a\n    client_secret: b\n", nil},
		{"auth_params overriding response_mode", fmtProvider("s") + "    auth_params:\n      response_mode: form_post\n", []string{"providers[0] (acme).auth_params.response_mode"}},
		{"auth_params max_age not a number", fmtProvider("s") + "    auth_params:\n      max_age: soon\n", []string{"providers[0] (acme).auth_params.max_age"}},
		{"email domain with @", fmtProvider("s") + "    email_domains: [\"@example.com\"]\n", []string{"providers[0] (acme).email_domains[0]"}},
		{"relative redirect_url", fmtProvider("s") + "    redirect_url: /auth/callback\n", []string{"providers[0] (acme).redirect_url"}},
		{"static metadata endpoint downgraded to http", `providers:
  - id: acme
    metadata:
      issuer: https://idp.example.com
      authorization_endpoint: http://idp.example.com/auth
      token_endpoint: https://idp.example.com/token
      jwks_uri: https://idp.example.com/jwks
    client_id: a
    client_secret: b
`, []string{"providers[0] (acme).metadata.authorization_endpoint", "https"}},
		{"back-channel logout URL is not a key", fmtProvider("s") + "    backchannel_logout_url: https://x.example.com\n", []string{"providers[0].backchannel_logout_url (line 6)", "unknown key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, tt.yaml, nil)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			wantErr(t, err, tt.want...)
		})
	}
}

func TestProviderDefaults(t *testing.T) {
	cfg, err := loadYAML(t, "base_url: https://gh.example.com\n"+fmtProvider("s")+"    email_domains: [\" Example.COM \"]\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Providers[0]
	checks := []struct{ name, got, want string }{
		{"name", p.Name, "acme"},
		{"redirect_url", p.RedirectURL, "https://gh.example.com/auth/callback"},
		{"post_logout_redirect_url", p.PostLogoutRedirectURL, "https://gh.example.com/auth/logged-out"},
		{"scopes", strings.Join(p.Scopes, " "), "openid profile email"},
		{"link", p.Link.String(), "password"},
		{"token_endpoint_auth_method", p.TokenEndpointAuthMethod, "client_secret_basic"},
		{"email_domains", strings.Join(p.EmailDomains, ","), "example.com"},
		{"timeout", p.Timeout.String(), "10s"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

// TestProviderKeysDecoded: every provider key reaches its field, the
// OpenID Connect ones through the embedded sso.ProviderConfig.
func TestProviderKeysDecoded(t *testing.T) {
	cfg, err := loadYAML(t, `base_url: https://login.example.com
providers:
  - id: dex
    name: Dex
    metadata:
      issuer: https://dex.example.com
      authorization_endpoint: https://dex.example.com/auth
      token_endpoint: https://dex.example.com/token
      userinfo_endpoint: https://dex.example.com/userinfo
      jwks_uri: https://dex.example.com/keys
      end_session_endpoint: https://dex.example.com/logout
      registration_endpoint: https://dex.example.com/register
      id_token_signing_alg_values_supported: [ES256]
      authorization_response_iss_parameter_supported: true
    registration:
      endpoint: https://dex.example.com/register2
      initial_access_token: iat
    token_endpoint_auth_method: client_secret_post
    redirect_url: https://login.example.com/cb
    post_logout_redirect_url: https://login.example.com/bye
    scopes: [openid, email]
    auth_params: {prompt: login}
    email_domains: [dex.example]
    groups_claim: realm_access.roles
    subject_claim: oid
    email_claim: upn
    name_claim: profile.display
    admin_groups: [gatehouse-admins]
    allowed_groups: [staff, contractors]
    link: never
    auto_create: true
    refresh_interval: 5m
    timeout: 3s
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Providers[0]
	want := Provider{
		ProviderConfig: sso.ProviderConfig{
			Kind: sso.KindGeneric, ID: "dex", Name: "Dex",
			Metadata: &sso.Metadata{
				Issuer:                "https://dex.example.com",
				AuthorizationEndpoint: "https://dex.example.com/auth",
				TokenEndpoint:         "https://dex.example.com/token",
				UserinfoEndpoint:      "https://dex.example.com/userinfo",
				JWKSURI:               "https://dex.example.com/keys",
				EndSessionEndpoint:    "https://dex.example.com/logout",
				RegistrationEndpoint:  "https://dex.example.com/register",
				IDTokenSigningAlgs:    []string{"ES256"},
				AuthorizationResponseISSParameterSupported: true,
			},
			Registration:            &sso.RegistrationConfig{Endpoint: "https://dex.example.com/register2", InitialAccessToken: "iat"},
			TokenEndpointAuthMethod: "client_secret_post",
			RedirectURL:             "https://login.example.com/cb",
			PostLogoutRedirectURL:   "https://login.example.com/bye",
			BackchannelLogoutURL:    "https://login.example.com/auth/backchannel-logout",
			Scopes:                  []string{"openid", "email"},
			AuthParams:              map[string]string{"prompt": "login"},
			EmailDomains:            []string{"dex.example"},
			SubjectClaim:            "oid",
			EmailClaim:              "upn",
			NameClaim:               "profile.display",
			GroupsClaim:             "realm_access.roles",
			AdminGroups:             []string{"gatehouse-admins"},
			AllowedGroups:           []string{"staff", "contractors"},
			Timeout:                 3 * time.Second,
			MaxResponseBytes:        sso.DefaultMaxResponseBytes,
		},
		Link: accounts.LinkNever, AutoCreate: true, RefreshInterval: 5 * time.Minute,
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", p, want)
	}
}

func TestAuditRetention(t *testing.T) {
	cfg, err := loadYAML(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Audit.Retention != 400*24*time.Hour {
		t.Fatalf("default audit.retention = %v, want 400 days", cfg.Audit.Retention)
	}
	if cfg, err = loadYAML(t, "audit:\n  retention: 720h\n", nil); err != nil || cfg.Audit.Retention != 30*24*time.Hour {
		t.Fatalf("audit.retention 720h: %v, %v", cfg.Audit.Retention, err)
	}
	_, err = loadYAML(t, "audit:\n  retention: 400d\n", nil)
	wantErr(t, err, "audit.retention")
	_, err = loadYAML(t, "audit:\n  retension: 1h\n", nil)
	wantErr(t, err, "audit.retension")
}

func TestThrottleDecoded(t *testing.T) {
	cfg, err := loadYAML(t, "throttle:\n  account_address: {failures: 3, window: 10m, max_delay: 1h}\n  address: {failures: 50}\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := throttle.DefaultRules()
	want.AccountAddress = throttle.Rule{Failures: 3, Window: 10 * time.Minute, MaxDelay: time.Hour}
	want.Address.Failures = 50
	if cfg.Throttle != want {
		t.Fatalf("throttle = %+v, want %+v", cfg.Throttle, want)
	}
}

// TestThrottleForgotDecoded: throttle.forgot.address and
// throttle.forgot.email are read like the other rules, default to
// throttle.DefaultForgotRules key by key, and a bad or unknown one is an
// error naming it.
func TestThrottleForgotDecoded(t *testing.T) {
	def := throttle.DefaultForgotRules()
	tests := []struct {
		name, yaml string
		want       throttle.ForgotRules // when err is ""
		err        string
	}{
		{"absent: the defaults", "", def, ""},
		{"empty section: the defaults", "throttle:\n  forgot: {}\n", def, ""},
		{"both keys", "throttle:\n  forgot:\n    address: {failures: 30, window: 1h, max_delay: 2h}\n    email: {failures: 1, window: 30m, max_delay: 1h}\n",
			throttle.ForgotRules{
				Address: throttle.Rule{Failures: 30, Window: time.Hour, MaxDelay: 2 * time.Hour},
				Email:   throttle.Rule{Failures: 1, Window: 30 * time.Minute, MaxDelay: time.Hour},
			}, ""},
		{"one field of one key", "throttle:\n  forgot:\n    email: {failures: 5}\n",
			throttle.ForgotRules{Address: def.Address, Email: throttle.Rule{Failures: 5, Window: def.Email.Window, MaxDelay: def.Email.MaxDelay}}, ""},
		{"no request allowed", "throttle:\n  forgot:\n    email: {failures: 0}\n", def, "throttle.forgot.email:"},
		{"window under a second", "throttle:\n  forgot:\n    address: {window: 500ms}\n", def, "throttle.forgot.address:"},
		{"not a duration", "throttle:\n  forgot:\n    email: {max_delay: soon}\n", def, "throttle.forgot.email.max_delay"},
		{"unknown key", "throttle:\n  forgot:\n    account: {failures: 1}\n", def, "throttle.forgot.account (line 3): unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadYAML(t, tt.yaml, nil)
			if tt.err != "" {
				wantErr(t, err, tt.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Throttle.Forgot != tt.want {
				t.Fatalf("throttle.forgot = %+v, want %+v", cfg.Throttle.Forgot, tt.want)
			}
			if rest := cfg.Throttle; rest.AccountAddress != throttle.DefaultRules().AccountAddress || rest.Device != throttle.DefaultRules().Device {
				t.Fatalf("the sign-in rules changed: %+v", rest)
			}
		})
	}
}

func TestSSOJetEnvironment(t *testing.T) {
	ssojet := map[string]string{
		"SSOJET_ISSUER_URL":    "https://tenant.ssojet.example",
		"SSOJET_CLIENT_ID":     "cid",
		"SSOJET_CLIENT_SECRET": "pa$word",
		"SSOJET_REDIRECT_URI":  "http://localhost:8080/auth/callback",
	}
	t.Run("defines provider sso", func(t *testing.T) {
		cfg, err := loadYAML(t, "", ssojet)
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Providers) != 1 {
			t.Fatalf("got %d providers, want 1", len(cfg.Providers))
		}
		p := cfg.Providers[0]
		if p.ID != "sso" || p.Issuer != ssojet["SSOJET_ISSUER_URL"] || p.ClientID != "cid" || p.ClientSecret != "pa$word" || p.RedirectURL != ssojet["SSOJET_REDIRECT_URI"] {
			t.Fatalf("provider = %+v", p)
		}
	})
	t.Run("via .env", func(t *testing.T) {
		dir := t.TempDir()
		dotEnv := writeFile(t, dir, "test.env", "SSOJET_ISSUER_URL=https://tenant.ssojet.example\nSSOJET_CLIENT_ID=cid\nSSOJET_CLIENT_SECRET=sec\n")
		cfg, err := Load(Source{Path: writeFile(t, dir, "c.yaml", ""), Getenv: mapEnv(nil), DotEnv: dotEnv})
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Providers) != 1 || cfg.Providers[0].ID != "sso" || cfg.Providers[0].RedirectURL != "http://127.0.0.1:8080/auth/callback" {
			t.Fatalf("providers = %+v", cfg.Providers)
		}
	})
	t.Run("appended after file providers", func(t *testing.T) {
		cfg, err := loadYAML(t, fmtProvider("s"), ssojet)
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Providers) != 2 || cfg.Providers[0].ID != "acme" || cfg.Providers[1].ID != "sso" {
			t.Fatalf("providers = %+v", cfg.Providers)
		}
	})
	t.Run("file provider sso wins", func(t *testing.T) {
		cfg, err := loadYAML(t, strings.Replace(fmtProvider("s"), "id: acme", "id: sso", 1), ssojet)
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Providers) != 1 || cfg.Providers[0].Issuer != "https://idp.example.com" {
			t.Fatalf("providers = %+v", cfg.Providers)
		}
	})
	t.Run("missing secret is an error naming sso", func(t *testing.T) {
		env := map[string]string{"SSOJET_ISSUER_URL": "https://tenant.ssojet.example", "SSOJET_CLIENT_ID": "cid"}
		_, err := loadYAML(t, "", env)
		wantErr(t, err, "providers[0] (sso).client_secret")
	})
	t.Run("policy variables", func(t *testing.T) {
		env := maps.Clone(ssojet)
		env["SSOJET_EMAIL_DOMAINS"] = " Example.com, corp.example.org "
		env["SSOJET_AUTO_CREATE"] = "true"
		env["SSOJET_LINK"] = "verified_email"
		cfg, err := loadYAML(t, "", env)
		if err != nil {
			t.Fatal(err)
		}
		p := cfg.Providers[0]
		if !slices.Equal(p.EmailDomains, []string{"example.com", "corp.example.org"}) || !p.AutoCreate || p.Link != accounts.LinkVerifiedEmail {
			t.Fatalf("provider = %+v", p)
		}
	})
	t.Run("policy defaults", func(t *testing.T) {
		cfg, err := loadYAML(t, "", ssojet)
		if err != nil {
			t.Fatal(err)
		}
		if p := cfg.Providers[0]; len(p.EmailDomains) != 0 || p.AutoCreate || p.Link != accounts.LinkPassword {
			t.Fatalf("provider = %+v", p)
		}
	})
	for name, tt := range map[string]struct{ key, value, want string }{
		"bad link":         {"SSOJET_LINK", "always", `SSOJET_LINK: "always" must be password, verified_email or never`},
		"bad auto_create":  {"SSOJET_AUTO_CREATE", "yes", `SSOJET_AUTO_CREATE: "yes" must be true or false`},
		"empty domain":     {"SSOJET_EMAIL_DOMAINS", "example.com,,corp.example", `SSOJET_EMAIL_DOMAINS: "example.com,,corp.example" has an empty domain`},
		"malformed domain": {"SSOJET_EMAIL_DOMAINS", "example.com,not a domain", `(set by SSOJET_EMAIL_DOMAINS)`},
	} {
		t.Run(name, func(t *testing.T) {
			env := maps.Clone(ssojet)
			env[tt.key] = tt.value
			_, err := loadYAML(t, "", env)
			wantErr(t, err, tt.want)
		})
	}
	t.Run("policy variables ignored without issuer", func(t *testing.T) {
		if _, err := loadYAML(t, "", map[string]string{"SSOJET_LINK": "always"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no issuer, no provider", func(t *testing.T) {
		cfg, err := loadYAML(t, "", map[string]string{"SSOJET_CLIENT_ID": "cid", "SSOJET_ISSUER_URL": ""})
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Providers) != 0 {
			t.Fatalf("providers = %+v", cfg.Providers)
		}
	})
}

// TestShippedConfig loads the config.yaml shipped at the repository root with
// an empty environment: it must load cleanly and, as its comments promise,
// show the built-in defaults.
func TestShippedConfig(t *testing.T) {
	path := filepath.Join("..", "config.yaml")
	if _, err := os.Stat(path); os.IsNotExist(err) {
		t.Skip("no config.yaml at the repository root")
	}
	cfg, err := Load(Source{Path: path, Getenv: mapEnv(nil), DotEnv: filepath.Join(t.TempDir(), "absent.env")})
	if err != nil {
		t.Fatalf("shipped config.yaml does not load: %v", err)
	}
	def := defaultsLoaded()
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", cfg.Listen, def.Listen},
		{"database", cfg.Database, def.Database},
		{"log", cfg.Log, def.Log},
		{"server", cfg.Server, def.Server},
		{"session", cfg.Session, def.Session},
		{"password", cfg.Password, def.Password},
		{"admin", cfg.Admin, def.Admin},
		{"audit", cfg.Audit, def.Audit},
		{"metrics", cfg.Metrics, def.Metrics},
		{"throttle", cfg.Throttle, def.Throttle},
		{"branding", cfg.Branding, def.Branding},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("config.yaml %s = %+v, built-in default is %+v", c.name, c.got, c.want)
		}
	}
}

func TestDotEnvDollarInSecretSurvives(t *testing.T) {
	dir := t.TempDir()
	dotEnv := writeFile(t, dir, "test.env", "A=pa$word\nB=\"pa$word\"\nC='pa$word'\nD=pa$$word\n")
	tests := []struct{ name, want string }{{"A", "pa$word"}, {"B", "pa$word"}, {"C", "pa$word"}, {"D", "pa$$word"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(Source{Path: writeFile(t, dir, "c.yaml", fmtProvider("${"+tt.name+"}")), Getenv: mapEnv(nil), DotEnv: dotEnv})
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Providers[0].ClientSecret; got != tt.want {
				t.Fatalf(".env %s: secret = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
}

// pictures writes a small PNG, SVG and WebP, a GIF and an over-size PNG into
// a folder and returns their paths by name.
func pictures(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	png := "\x89PNG\r\n\x1a\nbody"
	return map[string]string{
		"png":     writeFile(t, dir, "logo.png", png),
		"svg":     writeFile(t, dir, "logo.svg", `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 2 2"><rect width="2" height="2"/></svg>`),
		"webp":    writeFile(t, dir, "logo.webp", "RIFF\x04\x00\x00\x00WEBPVP8 "),
		"gif":     writeFile(t, dir, "logo.gif", "GIF89a"),
		"fakepng": writeFile(t, dir, "fake.png", "<svg/>"),
		"html":    writeFile(t, dir, "page.svg", "<html><script>alert(1)</script></html>"),
		"big":     writeFile(t, dir, "big.png", png+strings.Repeat("x", 64<<10)),
		"missing": filepath.Join(dir, "missing.svg"),
	}
}

func TestBranding(t *testing.T) {
	pics := pictures(t)
	cfg, err := loadYAML(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if b := cfg.Branding; b.Name != "gatehouse" || b.Logo != "" || b.Colour != "" || b.LogoImage != nil {
		t.Fatalf("default branding = %+v", b)
	}
	cfg, err = loadYAML(t, "branding:\n  name: \" Acme Login \"\n  logo: "+pics["svg"]+"\n  colour: \"#5B2A86\"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.Branding
	if b.Name != "Acme Login" || b.Colour != "#5b2a86" || b.LogoImage == nil || b.LogoImage.Type != "image/svg+xml" {
		t.Fatalf("branding = %+v", b)
	}
	for _, kind := range []string{"png", "webp"} {
		if cfg, err := loadYAML(t, "branding:\n  logo: "+pics[kind]+"\n", nil); err != nil || cfg.Branding.LogoImage == nil {
			t.Errorf("%s logo: %v", kind, err)
		}
	}
	for _, colour := range []string{"#000000", "#1f4e8c", "#767676"} {
		if _, err := loadYAML(t, "branding:\n  colour: \""+colour+"\"\n", nil); err != nil {
			t.Errorf("colour %s: %v", colour, err)
		}
	}
	bad := []struct {
		name, yaml string
		want       []string
	}{
		{"empty name", "branding:\n  name: \"  \"\n", []string{"branding.name: must not be empty"}},
		{"long name", "branding:\n  name: " + strings.Repeat("n", 61) + "\n", []string{"branding.name: must be at most 60"}},
		{"name on two lines", "branding:\n  name: \"a\\nb\"\n", []string{"branding.name:"}},
		{"gif logo", "branding:\n  logo: " + pics["gif"] + "\n", []string{"branding.logo:", ".png, .svg or .webp"}},
		{"logo not what its name says", "branding:\n  logo: " + pics["fakepng"] + "\n", []string{"branding.logo:", "is not a PNG image"}},
		{"html named svg", "branding:\n  logo: " + pics["html"] + "\n", []string{"branding.logo:", "is not an SVG image"}},
		{"logo over 64 KB", "branding:\n  logo: " + pics["big"] + "\n", []string{"branding.logo:", "larger than 64 KB"}},
		{"missing logo", "branding:\n  logo: " + pics["missing"] + "\n", []string{"branding.logo:", "no such file"}},
		{"colour without #", "branding:\n  colour: \"5b2a86\"\n", []string{"branding.colour:", "#rrggbb"}},
		{"short colour", "branding:\n  colour: \"#fff\"\n", []string{"branding.colour:", "#rrggbb"}},
		{"colour name", "branding:\n  colour: red\n", []string{"branding.colour:", "#rrggbb"}},
		{"colour not hex", "branding:\n  colour: \"#12345g\"\n", []string{"branding.colour:", "#rrggbb"}},
		{"colour too light for white text", "branding:\n  colour: \"#ffcc00\"\n", []string{"branding.colour:", "too light", "4.5:1"}},
		{"unknown branding key", "branding:\n  color: \"#000000\"\n", []string{"branding.color (line 2): unknown key"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, tt.yaml, nil)
			wantErr(t, err, tt.want...)
		})
	}
}

func TestProviderIcon(t *testing.T) {
	pics := pictures(t)
	cfg, err := loadYAML(t, fmtProvider("s")+"    icon: "+pics["png"]+"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Providers[0]; p.Icon != pics["png"] || p.IconImage == nil || p.IconImage.Type != "image/png" {
		t.Fatalf("provider = %+v", p)
	}
	if cfg, err = loadYAML(t, fmtProvider("s"), nil); err != nil || cfg.Providers[0].IconImage != nil {
		t.Fatalf("no icon: %v %+v", err, cfg.Providers)
	}
	bad := []struct{ name, path, want string }{
		{"gif", pics["gif"], "must be a .png, .svg or .webp file"},
		{"fake png", pics["fakepng"], "is not a PNG image"},
		{"html named svg", pics["html"], "is not an SVG image"},
		{"over 64 KB", pics["big"], "larger than 64 KB"},
		{"missing", pics["missing"], "no such file"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, fmtProvider("s")+"    icon: "+tt.path+"\n", nil)
			wantErr(t, err, "providers[0] (acme).icon: ", tt.want)
		})
	}
}

// TestProviderSnippet: the entry the "Add an SSO provider" page shows
// loads as it is once the secret's variable is set, with the id, name and
// issuer it was made for.
func TestProviderSnippet(t *testing.T) {
	snippet := ProviderSnippet("big-corp", `Big "Corp"`, "https://login.big-corp.example/realms/staff")
	if !strings.Contains(snippet, `client_secret: "${BIG_CORP_CLIENT_SECRET}"`) {
		t.Fatalf("snippet:\n%s", snippet)
	}
	cfg, err := loadYAML(t, "base_url: https://gh.example.com\n"+snippet, map[string]string{"BIG_CORP_CLIENT_SECRET": "s3cr3t"})
	if err != nil {
		t.Fatalf("snippet does not load: %v\n%s", err, snippet)
	}
	p := cfg.Providers[0]
	if p.ID != "big-corp" || p.Name != `Big "Corp"` || p.Issuer != "https://login.big-corp.example/realms/staff" || p.ClientSecret != "s3cr3t" || p.ClientID != "REPLACE-WITH-CLIENT-ID" {
		t.Fatalf("provider = %+v", p)
	}
	_, err = loadYAML(t, snippet, nil)
	wantErr(t, err, "BIG_CORP_CLIENT_SECRET")
}
