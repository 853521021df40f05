package main

// CLI tests drive run() exactly as main does, with a temporary config file
// and SQLite database; serve tests run the real server on a loopback port.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/testkit"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"golang.org/x/crypto/bcrypt"
)

// hermetic clears the environment variables that would override a test's
// configuration file.
func hermetic(t *testing.T) {
	t.Helper()
	for _, k := range []string{"GATEHOUSE_CONFIG", "GATEHOUSE_DATABASE", "GATEHOUSE_LISTEN", "GATEHOUSE_BASE_URL", "SSOJET_ISSUER_URL"} {
		t.Setenv(k, "")
	}
}

// writeConfig writes a config file in dir whose database is dir/g.db, with
// the cheapest bcrypt cost the configuration allows, plus extra YAML.
func writeConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	p := filepath.Join(dir, "config.yaml")
	body := fmt.Sprintf("database: %q\nlog:\n  level: warn\npassword:\n  bcrypt_cost: 10\n%s", testkit.DatabaseIn(t, dir, "g.db"), extra)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type cliResult struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, args, strings.NewReader(stdin), &out, &errb)
	return cliResult{code, out.String(), errb.String()}
}

func (r cliResult) want(t *testing.T, code int, stdout, stderr string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stdout, stdout) || !strings.Contains(r.stderr, stderr) {
		t.Fatalf("exit %d (want %d)\nstdout (want %q):\n%s\nstderr (want %q):\n%s", r.code, code, stdout, r.stdout, stderr, r.stderr)
	}
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// postLogin signs in over HTTP and returns the session cookie, or nil with
// the status when sign-in failed.
func postLogin(t *testing.T, base, email, pw string) (*http.Cookie, int) {
	t.Helper()
	resp, err := noRedirect.PostForm(base+"/auth/login", url.Values{"email": {email}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return nil, resp.StatusCode
	}
	for _, c := range resp.Cookies() {
		if c.Name == "gatehouse_session" && c.Value != "" {
			return c, resp.StatusCode
		}
	}
	t.Fatalf("sign-in gave no session cookie: %v", resp.Header["Set-Cookie"])
	return nil, 0
}

// dashboardStatus is GET /dashboard's status with the cookie.
func dashboardStatus(t *testing.T, base string, c *http.Cookie) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/dashboard", nil)
	req.AddCookie(c)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestCLIUserLifecycle(t *testing.T) {
	hermetic(t)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "")
	const pw1, pw2 = "correct horse battery staple", "another long passphrase"

	runCLI(t, pw1+"\n", "user", "create", "--admin", "--email", " Alice@Example.com ", "--name", "Alice A", "--password-stdin", "--config", cfgPath).
		want(t, exitOK, "created alice@example.com (id 1, admin)", "")
	runCLI(t, pw1+"\n", "user", "create", "--email", "alice@example.com", "--password-stdin", "--config", cfgPath).
		want(t, exitFailure, "", "already exists")
	runCLI(t, "short\n", "user", "create", "--email", "bob@example.com", "--password-stdin", "--config", cfgPath).
		want(t, exitFailure, "", "Use a password of at least 12 characters.")
	runCLI(t, "", "user", "create", "--email", "sso-only@example.com", "--config", cfgPath).
		want(t, exitOK, "created sso-only@example.com (id ", "") // not always 2: PostgreSQL spends an ID on the refused duplicate

	list := runCLI(t, "", "user", "list", "--config", cfgPath)
	list.want(t, exitOK, "EMAIL", "")
	alice := regexp.MustCompile(`(?m)^1\s+alice@example\.com\s+Alice A\s+true\s+true\s+enabled\s+never\s*$`)
	ssoOnly := regexp.MustCompile(`(?m)^\d+\s+sso-only@example\.com\s+false\s+false\s+enabled\s+never\s*$`)
	if !alice.MatchString(list.stdout) || !ssoOnly.MatchString(list.stdout) || strings.Contains(list.stdout, "bob@") {
		t.Fatalf("user list:\n%s", list.stdout)
	}

	// A running server over the same database, to hold sessions.
	cfg, err := config.Load(config.Source{Path: cfgPath})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password.BcryptCost = bcrypt.MinCost // the stored cost-10 hashes are still checked as they are
	a, err := app.New(context.Background(), cfg, app.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.DB.Close() })
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)

	c1, _ := postLogin(t, srv.URL, "alice@example.com", pw1)
	if got := dashboardStatus(t, srv.URL, c1); got != http.StatusOK {
		t.Fatalf("dashboard after sign-in: %d", got)
	}
	if list := runCLI(t, "", "user", "list", "--config", cfgPath); !strings.Contains(list.stdout, " password") {
		t.Errorf("last sign-in method not listed:\n%s", list.stdout)
	}

	runCLI(t, pw2+"\n", "user", "set-password", "--email", "ALICE@example.com", "--password-stdin", "--config", cfgPath).
		want(t, exitOK, "password set for alice@example.com; its sessions were ended", "")
	if got := dashboardStatus(t, srv.URL, c1); got != http.StatusSeeOther {
		t.Errorf("session survived set-password: dashboard %d, want 303", got)
	}
	if c, status := postLogin(t, srv.URL, "alice@example.com", pw1); c != nil || status != http.StatusUnauthorized {
		t.Errorf("old password still signs in (%d)", status)
	}
	c2, status := postLogin(t, srv.URL, "alice@example.com", pw2)
	if c2 == nil {
		t.Fatalf("new password does not sign in (%d)", status)
	}
	runCLI(t, "short\n", "user", "set-password", "--email", "alice@example.com", "--password-stdin", "--config", cfgPath).
		want(t, exitFailure, "", "Use a password of at least 12 characters.")
	runCLI(t, pw2+"\n", "user", "set-password", "--email", "nobody@example.com", "--password-stdin", "--config", cfgPath).
		want(t, exitFailure, "", "nobody@example.com")

	runCLI(t, "", "user", "disable", "--email", "alice@example.com", "--config", cfgPath).
		want(t, exitOK, "disabled alice@example.com; its sessions were ended", "")
	if got := dashboardStatus(t, srv.URL, c2); got != http.StatusSeeOther {
		t.Errorf("session survived disable: dashboard %d, want 303", got)
	}
	if c, status := postLogin(t, srv.URL, "alice@example.com", pw2); c != nil || status != http.StatusUnauthorized {
		t.Errorf("disabled account signs in (%d)", status)
	}
	if list := runCLI(t, "", "user", "list", "--config", cfgPath); !regexp.MustCompile(`alice@example\.com.*\bdisabled\b`).MatchString(list.stdout) {
		t.Errorf("user list does not show alice disabled:\n%s", list.stdout)
	}
	runCLI(t, "", "user", "disable", "--email", "nobody@example.com", "--config", cfgPath).
		want(t, exitFailure, "", "nobody@example.com")

	// The CLI recorded its actions in the audit log.
	events, err := a.DB.Events(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[models.EventKind]int{}
	for _, e := range events {
		if e.Method == "cli" {
			kinds[e.Kind]++
		}
	}
	if kinds[models.EventUserCreated] != 2 || kinds[models.EventPasswordSet] != 1 || kinds[models.EventUserDisabled] != 1 {
		t.Errorf("cli audit events = %v", kinds)
	}
}

func TestCLIUsageErrors(t *testing.T) {
	hermetic(t)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "")
	missing := filepath.Join(dir, "missing.yaml")
	badKey := filepath.Join(dir, "bad-key.yaml")
	if err := os.WriteFile(badKey, []byte("listen: 127.0.0.1:0\n\nbogus_key: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badNested := filepath.Join(dir, "bad-nested.yaml")
	if err := os.WriteFile(badNested, []byte("session:\n  idle_timeout: 5m\n  idle_timout: 5m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badValue := filepath.Join(dir, "bad-value.yaml")
	if err := os.WriteFile(badValue, []byte("session:\n  idle_timeout: 10s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badYAML := filepath.Join(dir, "bad-yaml.yaml")
	if err := os.WriteFile(badYAML, []byte("listen: [unclosed\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	badType := filepath.Join(dir, "bad-type.yaml")
	if err := os.WriteFile(badType, []byte("session:\n  lifetime: 12 hours\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stderr []string
	}{
		{"unknown command", []string{"frobnicate"}, "", exitUsage, []string{`unknown command "frobnicate"`, "Usage:"}},
		{"unknown user subcommand", []string{"user", "frobnicate", "--config", cfgPath}, "", exitUsage, []string{`unknown user subcommand "frobnicate"`}},
		{"user without subcommand", []string{"user"}, "", exitUsage, []string{"user needs a subcommand"}},
		{"missing --email", []string{"user", "create", "--password-stdin", "--config", cfgPath}, "correct horse battery staple\n", exitUsage, []string{"--email is required"}},
		{"missing --email on disable", []string{"user", "disable", "--config", cfgPath}, "", exitUsage, []string{"--email is required"}},
		{"unknown flag", []string{"user", "list", "--frobnicate", "--config", cfgPath}, "", exitUsage, []string{"frobnicate"}},
		{"stray argument", []string{"migrate", "--config", cfgPath, "extra"}, "", exitUsage, []string{`unexpected argument "extra"`}},
		{"empty stdin", []string{"user", "create", "--email", "a@example.com", "--password-stdin", "--config", writeConfig(t, t.TempDir(), "")}, "", exitUsage, []string{"no password on standard input"}},
		{"set-password without --password-stdin", []string{"user", "set-password", "--email", "a@example.com", "--config", cfgPath}, "", exitUsage, []string{"--password-stdin is required"}},
		{"missing config for migrate", []string{"migrate", "--config", missing}, "", exitUsage, []string{"invalid configuration", "missing.yaml", "no such file"}},
		{"missing config for user list", []string{"user", "list", "--config", missing}, "", exitUsage, []string{"missing.yaml"}},
		{"missing config for serve", []string{"serve", "--config", missing}, "", exitUsage, []string{"missing.yaml"}},
		{"unknown key", []string{"migrate", "--config", badKey}, "", exitUsage, []string{"bogus_key", "line 3", "unknown key"}},
		{"unknown nested key", []string{"serve", "--config", badNested}, "", exitUsage, []string{"session.idle_timout", "line 3", "unknown key"}},
		{"invalid value", []string{"user", "list", "--config", badValue}, "", exitUsage, []string{"session.idle_timeout", "at least 1m"}},
		{"invalid YAML", []string{"migrate", "--config", badYAML}, "", exitUsage, []string{"bad-yaml.yaml", "invalid YAML"}},
		{"value of the wrong kind", []string{"serve", "--config", badType}, "", exitUsage, []string{"session.lifetime (line 2): `12 hours` is not a duration; use e.g. 12h or 30m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.stdin, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
				}
			}
		})
	}
	// Nothing was created by a refused command.
	if _, err := os.Stat(filepath.Join(dir, "g.db")); !testkit.OnPostgres() && !os.IsNotExist(err) {
		t.Errorf("a usage error created the database (stat: %v)", err)
	}
}

func TestCLIMigrateIdempotent(t *testing.T) {
	hermetic(t)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "")
	dbPath := testkit.EmptyDatabase(t, dir, "g.db")
	t.Setenv("GATEHOUSE_DATABASE", dbPath)

	first := runCLI(t, "", "migrate", "--config", cfgPath)
	first.want(t, exitOK, "to "+models.Redact(dbPath), "")
	if m := regexp.MustCompile(`applied (\d+) migration`).FindStringSubmatch(first.stdout); m == nil || m[1] == "0" {
		t.Fatalf("first migrate applied nothing: %q", first.stdout)
	}
	for range 2 {
		runCLI(t, "", "migrate", "--config", cfgPath).want(t, exitOK, "applied 0 migration(s) to "+models.Redact(dbPath), "")
	}
	db, err := models.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if ok, err := db.MigrationsCurrent(context.Background()); !ok || err != nil {
		t.Errorf("migrations not current after migrate: %v %v", ok, err)
	}
}

func TestCLIDatabaseFromEnvironment(t *testing.T) {
	testkit.SkipOnPostgres(t, "the SQLite file GATEHOUSE_DATABASE names is created")
	hermetic(t)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "")
	envDB := filepath.Join(dir, "sub", "from-env.db")
	t.Setenv("GATEHOUSE_DATABASE", envDB)
	runCLI(t, "", "migrate", "--config", cfgPath).want(t, exitOK, "to "+envDB, "")
	if _, err := os.Stat(envDB); err != nil {
		t.Errorf("GATEHOUSE_DATABASE not used: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "g.db")); !os.IsNotExist(err) {
		t.Errorf("the file's database was created despite GATEHOUSE_DATABASE")
	}
}

func TestCLIVersionAndHelp(t *testing.T) {
	runCLI(t, "", "version").want(t, exitOK, "gatehouse "+version+"\n", "")
	for _, arg := range []string{"help", "-h", "--help"} {
		runCLI(t, "", arg).want(t, exitOK, "Usage: gatehouse", "")
	}
}

// TestCLIHelp asks every command and subcommand for its usage: it goes to
// stdout with exit 0, names the command and its flags, and runs nothing.
func TestCLIHelp(t *testing.T) {
	hermetic(t)
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"serve", "--help"}, []string{"Usage: gatehouse serve", "-config"}},
		{[]string{"migrate", "-h"}, []string{"Usage: gatehouse migrate", "-config"}},
		{[]string{"demo", "--help"}, []string{"Usage: gatehouse demo", "-config", "-op-listen"}},
		{[]string{"user", "--help"}, []string{"Usage: gatehouse user", "create", "list", "set-password", "disable"}},
		{[]string{"user", "-h"}, []string{"Usage: gatehouse user", "set-password"}},
		{[]string{"user", "create", "--help"}, []string{"Usage: gatehouse user create", "-email", "-name", "-admin", "-password-stdin", "-config"}},
		{[]string{"user", "list", "-h"}, []string{"Usage: gatehouse user list", "-config"}},
		{[]string{"user", "set-password", "--help"}, []string{"Usage: gatehouse user set-password", "-email", "-password-stdin"}},
		{[]string{"user", "disable", "--help"}, []string{"Usage: gatehouse user disable", "-email", "last administrator"}},
		{[]string{"version", "--help"}, []string{"Usage: gatehouse version"}},
		{[]string{"help", "serve"}, []string{"Usage: gatehouse serve", "-config"}},
		{[]string{"help", "user"}, []string{"Usage: gatehouse user", "set-password"}},
		{[]string{"help", "user", "create"}, []string{"Usage: gatehouse user create", "-password-stdin"}},
		{[]string{"--config", "/nonexistent.yaml", "--help"}, []string{"Usage: gatehouse serve"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCLI(t, "", tt.args...)
			if r.code != exitOK || r.stderr != "" {
				t.Fatalf("exit %d (want 0)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			for _, s := range tt.want {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
				}
			}
		})
	}
	if got, want := runCLI(t, "", "help", "serve").stdout, runCLI(t, "", "serve", "--help").stdout; got != want {
		t.Errorf("help serve:\n%s\nserve --help:\n%s", got, want)
	}
}

// TestCLIHelpErrors: help for no such command, and a bad flag, are usage
// errors with the usage on stderr and nothing on stdout.
func TestCLIHelpErrors(t *testing.T) {
	hermetic(t)
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"help", "nosuch"}, []string{`unknown command "nosuch"`, "Commands:", "user create"}},
		{[]string{"help", "user", "nosuch"}, []string{`unknown user subcommand "nosuch"`, "set-password"}},
		{[]string{"serve", "--frobnicate"}, []string{"frobnicate", "Usage: gatehouse serve", "-config"}},
		{[]string{"user", "create", "--frobnicate"}, []string{"frobnicate", "Usage: gatehouse user create", "-password-stdin"}},
		{[]string{"version", "extra"}, []string{`unexpected argument "extra"`, "Usage: gatehouse version"}},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCLI(t, "", tt.args...)
			if r.code != exitUsage || r.stdout != "" {
				t.Fatalf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", r.code, exitUsage, r.stdout, r.stderr)
			}
			for _, s := range tt.want {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
				}
			}
		})
	}
}

// startServe runs serve() on a fresh loopback port and returns the base URL,
// its cancel and a channel with serve's result.
func startServe(t *testing.T, cfg config.Config, stdout io.Writer, logs io.Writer) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	cfg.BaseURL = base
	cfg.Password.BcryptCost = bcrypt.MinCost
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, app.Options{Listener: ln, Logger: slog.New(slog.NewTextHandler(logs, nil)), Stdout: stdout})
	}()
	return base, cancel, done
}

func TestServeGraceful(t *testing.T) {
	cfg := config.Default()
	cfg.Database = testkit.Database(t, "g.db")
	var stdout, logs testkit.LogBuffer
	base, cancel, done := startServe(t, cfg, &stdout, &logs)
	defer cancel()

	resp, err := noRedirect.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Fatalf("GET /healthz: %d %q", resp.StatusCode, body)
	}
	// Hold an idle keep-alive connection open: shutdown must not wait on it.
	resp, err = noRedirect.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v, want nil after cancel", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not return after its context was cancelled")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still answers after serve returned")
	}
	if !strings.Contains(stdout.String(), "gatehouse is running at "+base) {
		t.Errorf("stdout = %q", stdout.String())
	}
	for _, want := range []string{"no accounts yet", "gatehouse listening", "shutting down"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", logs.String())
	}
}

func TestServeBadDatabase(t *testing.T) {
	cfg := config.Default()
	cfg.Database = t.TempDir() // a directory, not a file
	base, cancel, done := startServe(t, cfg, io.Discard, io.Discard)
	defer cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("serve over a directory returned nil")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve kept running over an unusable database")
	}
	if _, err := noRedirect.Get(base + "/healthz"); err == nil {
		t.Error("listener left open after serve failed")
	}
}

// TestCLIServe runs `gatehouse serve` through run(), as main would.
func TestCLIServe(t *testing.T) {
	hermetic(t)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "listen: 127.0.0.1:0\n")
	// writeConfig set log.level warn; the address is logged at info.
	if err := os.WriteFile(cfgPath, bytes.Replace(must(os.ReadFile(cfgPath)), []byte("level: warn"), []byte("level: info"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr testkit.LogBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"serve", "--config", cfgPath}, strings.NewReader(""), &stdout, &stderr)
	}()

	addrRE := regexp.MustCompile(`msg="gatehouse listening" addr=(\S+)`)
	var addr string
	for deadline := time.Now().Add(20 * time.Second); addr == ""; time.Sleep(20 * time.Millisecond) {
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		}
		select {
		case c := <-code:
			t.Fatalf("serve exited %d early:\n%s", c, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve never logged its address:\n%s", stderr.String())
		}
	}
	resp, err := noRedirect.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %d", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(dir, "g.db")); err != nil && !testkit.OnPostgres() {
		t.Errorf("database not created at the configured path: %v", err)
	}
	cancel()
	select {
	case c := <-code:
		if c != exitOK {
			t.Fatalf("serve exited %d after cancel, want 0:\n%s", c, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not exit after cancel")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestCLIDemoLoopbackOnly: the demo prints an administrator's password and
// runs a provider that signs anyone in, so it refuses, before creating or
// binding anything, to listen on an address other machines could reach.
func TestCLIDemoLoopbackOnly(t *testing.T) {
	hermetic(t)
	tests := []struct {
		name, listen string
		args         []string
		stderr       string
	}{
		{"every IPv4 interface", "0.0.0.0:0", nil, `listen "0.0.0.0:0" is not a loopback address`},
		{"every interface", ":0", nil, `listen ":0" is not a loopback address`},
		{"every IPv6 interface", "[::]:0", nil, `listen "[::]:0" is not a loopback address`},
		{"provider on every interface", "127.0.0.1:0", []string{"--op-listen", "0.0.0.0:0"}, `--op-listen "0.0.0.0:0" is not a loopback address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfgPath := writeConfig(t, dir, fmt.Sprintf("listen: %q\n", tt.listen))
			var out, errb bytes.Buffer
			// Bounded: a demo that did start would serve until this ends.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			code := run(ctx, append([]string{"demo", "--config", cfgPath}, tt.args...), strings.NewReader(""), &out, &errb)
			if code != exitUsage || !strings.Contains(errb.String(), tt.stderr) {
				t.Fatalf("exit %d (want %d), stderr (want %q):\n%s\nstdout:\n%s", code, exitUsage, tt.stderr, errb.String(), out.String())
			}
			if strings.Contains(out.String(), "password") {
				t.Errorf("a refused demo printed credentials:\n%s", out.String())
			}
		})
	}
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.9.9.9:1": true, "[::1]:0": true, "localhost:9090": true, "LOCALHOST:1": true,
		"0.0.0.0:8080": false, ":8080": false, "[::]:1": false, "192.0.2.1:80": false, "example.com:80": false, "127.0.0.1": false,
	} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%q) = %t, want %t", addr, got, want)
		}
	}
}

// TestSetupInvocation: the command printed with the setup link is the one
// that runs this gatehouse: go run . for a go run build (the Go build cache
// or a go-build temporary directory), else the binary's path as typed,
// quoted for the shell, and --config when serve had one.
func TestSetupInvocation(t *testing.T) {
	for _, c := range []struct{ arg0, config, want string }{
		{"/tmp/go-build1234567/b001/exe/gatehouse", "", "go run ."},
		{"/home/ann/.cache/go-build/3f/3f0a-d/gatehouse", "", "go run ."},
		{"/tmp/go-build99/b001/exe/gatehouse", "dev.yaml", "go run . --config dev.yaml"},
		{"./gatehouse", "", "./gatehouse"},
		{"gatehouse", "", "gatehouse"},
		{"/usr/local/bin/gatehouse", "/etc/gatehouse/config.yaml", "/usr/local/bin/gatehouse --config /etc/gatehouse/config.yaml"},
		{"/opt/my apps/gatehouse", "it's.yaml", `'/opt/my apps/gatehouse' --config 'it'\''s.yaml'`},
	} {
		if got := invocation(c.arg0, c.config); got != c.want {
			t.Errorf("invocation(%q, %q) = %q, want %q", c.arg0, c.config, got, c.want)
		}
	}
}
