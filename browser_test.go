package main

// Real-browser tests: the real app under serve() on a loopback port, driven
// by Debian's Chromium through chromedp. They run in every `go test ./...`;
// without Chromium they skip, except under CI where they fail.

import (
	"bytes"
	"context"
	"fmt"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/testkit"
	"image/png"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/password"
	"golang.org/x/crypto/bcrypt"
)

const (
	chromiumPath   = "/usr/bin/chromium"
	browserTimeout = 60 * time.Second
	// testSecretsKey is the secrets.key of the served apps: PostgreSQL has
	// no generated one.
	testSecretsKey = "dGVzdCBrZXkgZm9yIGdhdGVob3VzZSBzZWNyZXRzISE="
	browserEmail   = "browser@example.com"
	browserPW      = "correct horse battery staple"
)

// browserFlags are the only Chromium switches used (besides the user data
// dir, and the remote debugging port chromedp adds): headless, and nothing
// that reaches out to the network on its own.
var browserFlags = []string{
	"headless", "no-sandbox", "disable-gpu", "no-first-run",
	"disable-background-networking", "disable-component-update", "disable-sync",
}

// inCI reports whether CI is set to a true-ish value.
func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "0" && v != "false" && v != "no"
}

// requireChromium skips the test when Chromium is not installed, or fails
// it under CI, where the browser tests must run.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if inCI() {
			t.Fatalf("Chromium is required under CI but %s is missing: %v (apt-get install chromium)", chromiumPath, err)
		}
		t.Skipf("skipping browser test: %s not found (%v); install Debian's chromium package to run it", chromiumPath, err)
	}
}

// browserApp is gatehouse served for a browser test.
type browserApp struct {
	base string
	logs *testkit.LogBuffer
}

// startBrowserApp runs the real app with serve() on a loopback listener, with
// one SSO provider configured (static metadata at unused loopback URLs, so
// the toggle shows; SSO is never submitted) and one password account.
func startBrowserApp(t *testing.T) *browserApp { t.Helper(); return startBrowserAppWith(t, "") }

// startBrowserAppWith is startBrowserApp with more configuration (YAML
// appended to the file, such as a mail block).
func startBrowserAppWith(t *testing.T, extra string) *browserApp {
	t.Helper()
	return startBrowserAppAt(t, "127.0.0.1", extra)
}

// startBrowserAppAt is startBrowserAppWith with base_url naming host (the
// server listens on 127.0.0.1 whatever it is): "localhost" for passkeys,
// which need a domain name and a secure context.
func startBrowserAppAt(t *testing.T, host, extra string) *browserApp {
	t.Helper()
	requireChromium(t) // before starting anything a skip would tear down
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	yaml := fmt.Sprintf(`listen: %q
base_url: %q
database: %q
secrets:
  key: `+testSecretsKey+`
providers:
  - id: acme
    name: Acme
    client_id: gatehouse-test
    client_secret: not-a-secret
    metadata:
      issuer: http://127.0.0.1:9/acme
      authorization_endpoint: http://127.0.0.1:9/acme/authorize
      token_endpoint: http://127.0.0.1:9/acme/token
      jwks_uri: http://127.0.0.1:9/acme/jwks
`, ln.Addr().String(), base, testkit.DatabaseIn(t, dir, "g.db")) + extra
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) (string, bool) { return "", false }
	cfg, err := config.Load(config.Source{Path: cfgPath, Getenv: noEnv, DotEnv: filepath.Join(dir, "none.env")})
	if err != nil {
		ln.Close()
		t.Fatalf("config: %v", err)
	}
	cfg.Password.BcryptCost = bcrypt.MinCost

	// The account, created the way the CLI would, before the server starts.
	db, err := models.Open(cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	hasher, err := password.New(bcrypt.MinCost, cfg.Password.MinLength)
	if err != nil {
		t.Fatal(err)
	}
	pw := browserPW
	svc := &accounts.Service{DB: db, Hasher: hasher, Logger: slog.New(slog.DiscardHandler)}
	if _, err := svc.CreateUser(context.Background(), accounts.NewUser{Email: browserEmail, Name: "Browser Tester", Password: &pw}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	a := &browserApp{base: base, logs: &testkit.LogBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, app.Options{Listener: ln, Logger: slog.New(slog.NewTextHandler(a.logs, nil)), Stdout: &testkit.LogBuffer{}})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
		if logs := a.logs.String(); strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "locked") {
			t.Errorf("server logged errors:\n%s", logs)
		}
	})
	// The listener is open already, so this waits for serve to be ready.
	resp, err := noRedirect.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("app did not start: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("app /healthz: %d", resp.StatusCode)
	}
	return a
}

// consoleLog collects what a page reports as going wrong.
type consoleLog struct {
	mu       sync.Mutex
	problems []string
}

func (c *consoleLog) add(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.problems = append(c.problems, s)
}

func (c *consoleLog) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.problems)
}

// cspWatch records securitypolicyviolation events from before any page
// script runs, so violations during page load are caught too.
const cspWatch = `window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});`

// newBrowser starts a fresh headless Chromium for one test, bounded by
// browserTimeout, and collects console errors, exceptions and CSP reports.
func newBrowser(t *testing.T) (context.Context, *consoleLog) {
	t.Helper()
	return newBrowserFor(t, browserTimeout)
}

// newBrowserFor is newBrowser bounded by timeout: for a test that visits
// many pages, so that a busy machine slows it without failing it.
func newBrowserFor(t *testing.T, timeout time.Duration) (context.Context, *consoleLog) {
	t.Helper()
	requireChromium(t)
	userData := t.TempDir() // registered first, so removed after the browser has exited

	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(chromiumPath), chromedp.UserDataDir(userData)}
	for _, f := range browserFlags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	var output, cdpErrors testkit.LogBuffer
	opts = append(opts, chromedp.CombinedOutput(&output))

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx,
		chromedp.WithErrorf(func(format string, args ...any) { fmt.Fprintf(&cdpErrors, format+"\n", args...) }))
	t.Cleanup(func() {
		if err := chromedp.Cancel(bctx); err != nil { // graceful Browser.close, then wait for the process
			cancelBrowser()
		}
		cancelAlloc() // waits for Chromium to exit
		cancel()
		// Helper processes can hold the profile a moment longer than the
		// browser; clear it here so t.TempDir's removal cannot race them.
		for i := 0; os.RemoveAll(userData) != nil && i < 50; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if t.Failed() {
			t.Logf("chromium output:\n%s\nchromedp errors:\n%s", output.String(), cdpErrors.String())
		}
	})

	console := &consoleLog{}
	chromedp.ListenTarget(bctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			console.add(fmt.Sprintf("exception: %s (%s:%d)", msg, d.URL, d.LineNumber))
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError || ev.Type == runtime.APITypeAssert {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				console.add("console." + string(ev.Type) + ": " + strings.Join(parts, " "))
			}
		case *cdplog.EventEntryAdded:
			if e := ev.Entry; e.Level == cdplog.LevelError || e.Level == cdplog.LevelWarning {
				console.add(fmt.Sprintf("log %s/%s: %s (%s)", e.Source, e.Level, e.Text, e.URL))
			}
		}
	})
	start := time.Now()
	if err := chromedp.Run(bctx, chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(cspWatch).Do(ctx)
		return err
	})); err != nil {
		t.Fatalf("start Chromium (%s): %v\noutput:\n%s", chromiumPath, err, output.String())
	}
	t.Logf("Chromium started in %v", time.Since(start).Round(time.Millisecond))
	return bctx, console
}

// unexpected drops the reports containing one of the expected strings.
func unexpected(problems []string, expected ...string) []string {
	return slices.DeleteFunc(problems, func(p string) bool {
		return slices.ContainsFunc(expected, func(e string) bool { return strings.Contains(p, e) })
	})
}

// loginState is what the login form looks like to the person using it.
type loginState struct {
	Hidden    bool   `json:"hidden"`
	Displayed bool   `json:"displayed"`
	Required  bool   `json:"required"`
	Submit    string `json:"submit"`
	Toggle    string `json:"toggle"`
	IsSSO     string `json:"isSSO"`
	Mode      string `json:"mode"`
	Pressed   string `json:"pressed"`
	Focus     string `json:"focus"`
	Path      string `json:"path"`
	Providers bool   `json:"providers"`
}

const loginStateJS = `(() => {
  const field = document.getElementById("password-field");
  const pw = document.getElementById("password");
  const toggle = document.getElementById("sso-toggle");
  return {
    hidden: field.hidden,
    displayed: field.getClientRects().length > 0 && pw.getClientRects().length > 0,
    required: pw.required,
    submit: document.getElementById("submit").textContent.trim(),
    toggle: toggle ? toggle.textContent.trim() : "",
    isSSO: document.getElementById("is_sso").value,
    mode: document.getElementById("login-form").dataset.mode,
    pressed: toggle ? (toggle.getAttribute("aria-pressed") || "") : "",
    focus: document.activeElement ? document.activeElement.id : "",
    path: location.pathname + location.search,
    providers: document.getElementById("providers") !== null,
  };
})()`

func TestBrowserSSOToggle(t *testing.T) {
	app := startBrowserApp(t)
	ctx, console := newBrowser(t)

	passwordMode := loginState{Hidden: false, Displayed: true, Required: true, Submit: "Sign in", Toggle: "Sign in with Acme", IsSSO: "false", Mode: "password", Pressed: "false", Path: "/login"}
	ssoMode := loginState{Hidden: true, Displayed: false, Required: false, Submit: "Continue with Acme", Toggle: "Back to password login", IsSSO: "true", Mode: "sso", Pressed: "true", Path: "/login", Focus: "email"}

	var st loginState
	check := func(step string, want loginState) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			if err := chromedp.Evaluate(loginStateJS, &st).Do(ctx); err != nil {
				return err
			}
			got := st
			if want.Focus == "" {
				got.Focus = "" // focus only matters where the step says so
			}
			if got != want {
				t.Errorf("%s:\n got  %+v\n want %+v", step, got, want)
			}
			return nil
		})
	}
	err := chromedp.Run(ctx,
		chromedp.Navigate(app.base+"/login"),
		chromedp.WaitVisible("#sso-toggle", chromedp.ByQuery),
		check("initial page", passwordMode),
		chromedp.Click("#sso-toggle", chromedp.ByQuery),
		chromedp.WaitNotVisible("#password", chromedp.ByQuery),
		check("after toggling to SSO", ssoMode),
		chromedp.SendKeys("#email", "someone@example.com", chromedp.ByQuery),
		chromedp.Click("#sso-toggle", chromedp.ByQuery),
		chromedp.WaitVisible("#password", chromedp.ByQuery),
		check("after toggling back", func() loginState { s := passwordMode; s.Focus = "password"; return s }()),
		chromedp.Click("#sso-toggle", chromedp.ByQuery),
		chromedp.WaitNotVisible("#password", chromedp.ByQuery),
		check("toggled to SSO again", ssoMode),
		chromedp.Click("#sso-toggle", chromedp.ByQuery),
		chromedp.WaitVisible("#password", chromedp.ByQuery),
		check("and back again", func() loginState { s := passwordMode; s.Focus = "password"; return s }()),
	)
	if err != nil {
		t.Fatal(err)
	}
	if st.Providers {
		t.Error("per-provider buttons shown with a single provider")
	}
	if p := console.list(); len(p) > 0 {
		t.Errorf("console problems:\n%s", strings.Join(p, "\n"))
	}
}

func TestBrowserPasswordLogin(t *testing.T) {
	app := startBrowserApp(t)
	ctx, console := newBrowser(t)

	var errText, emailValue, pwValue, location, shownEmail, jsCookies, notice string
	var cookies []*network.Cookie
	getCookies := chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cookies, err = network.GetCookies().WithURLs([]string{app.base}).Do(ctx)
		return err
	})
	err := chromedp.Run(ctx,
		chromedp.Navigate(app.base+"/login"),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		// A wrong password first: the error shows and the email stays.
		chromedp.SendKeys("#email", browserEmail, chromedp.ByQuery),
		chromedp.SendKeys("#password", "not the right password", chromedp.ByQuery),
		chromedp.Click("#submit", chromedp.ByQuery),
		chromedp.WaitVisible("#form-error", chromedp.ByQuery),
		chromedp.Text("#form-error", &errText, chromedp.ByQuery),
		chromedp.Value("#email", &emailValue, chromedp.ByQuery),
		chromedp.Value("#password", &pwValue, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if errText != "Incorrect email or password." || emailValue != browserEmail || pwValue != "" {
		t.Errorf("after a wrong password: error %q, email %q, password %q; want the error, the email kept, the password cleared", errText, emailValue, pwValue)
	}

	err = chromedp.Run(ctx,
		chromedp.SendKeys("#password", browserPW, chromedp.ByQuery),
		chromedp.Click("#submit", chromedp.ByQuery),
		chromedp.WaitVisible("#user-email", chromedp.ByQuery),
		chromedp.Location(&location),
		chromedp.Text("#user-email", &shownEmail, chromedp.ByQuery),
		chromedp.Evaluate(`document.cookie`, &jsCookies),
		getCookies,
	)
	if err != nil {
		t.Fatal(err)
	}
	if location != app.base+"/dashboard" || shownEmail != browserEmail {
		t.Fatalf("after sign-in: at %q showing %q, want %s/dashboard showing %s", location, shownEmail, app.base, browserEmail)
	}
	var session *network.Cookie
	for _, c := range cookies {
		if c.Name == "gatehouse_session" {
			session = c
		}
	}
	if session == nil || !session.HTTPOnly || session.SameSite != network.CookieSameSiteLax || !session.Session {
		t.Errorf("session cookie in the browser = %+v, want HttpOnly, SameSite=Lax, session-only", session)
	}
	if strings.Contains(jsCookies, "gatehouse_session") {
		t.Errorf("page script can read the session cookie: %q", jsCookies)
	}

	err = chromedp.Run(ctx,
		chromedp.Click("#logout", chromedp.ByQuery),
		chromedp.WaitVisible(".notice", chromedp.ByQuery),
		chromedp.Location(&location),
		chromedp.Text(".notice", &notice, chromedp.ByQuery),
		getCookies,
	)
	if err != nil {
		t.Fatal(err)
	}
	if location != app.base+"/login" || notice != "You have been signed out." {
		t.Errorf("after sign-out: at %q with notice %q", location, notice)
	}
	for _, c := range cookies {
		if c.Name == "gatehouse_session" {
			t.Errorf("session cookie still in the browser after sign-out: %+v", c)
		}
	}

	err = chromedp.Run(ctx,
		chromedp.Navigate(app.base+"/dashboard"),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.Location(&location),
	)
	if err != nil {
		t.Fatal(err)
	}
	if location != app.base+"/login?next=%2Fdashboard" {
		t.Errorf("/dashboard after sign-out went to %q, want the login page", location)
	}
	// Chromium reports the wrong password's 401 answer; nothing else may appear.
	if p := unexpected(console.list(), "status of 401 (Unauthorized) ("+app.base+"/auth/login)"); len(p) > 0 {
		t.Errorf("console problems:\n%s", strings.Join(p, "\n"))
	}
}

func TestBrowserScreenshots(t *testing.T) {
	app := startBrowserApp(t)
	ctx, _ := newBrowser(t)
	dir, err := os.MkdirTemp("", "gatehouse-screenshots-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)

	var login, dashboard []byte
	err = chromedp.Run(ctx,
		chromedp.EmulateViewport(1024, 768),
		chromedp.Navigate(app.base+"/login"),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.FullScreenshot(&login, 100), // quality 100 is PNG
		chromedp.SendKeys("#email", browserEmail, chromedp.ByQuery),
		chromedp.SendKeys("#password", browserPW, chromedp.ByQuery),
		chromedp.Submit("#login-form", chromedp.ByQuery),
		chromedp.WaitVisible("#user-email", chromedp.ByQuery),
		chromedp.FullScreenshot(&dashboard, 100),
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, shot := range []struct {
		name string
		png  []byte
	}{{"login.png", login}, {"dashboard.png", dashboard}} {
		p := filepath.Join(dir, shot.name)
		if err := os.WriteFile(p, shot.png, 0o644); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(shot.png))
		if err != nil {
			t.Errorf("%s is not a PNG: %v", p, err)
			continue
		}
		b := img.Bounds()
		if len(shot.png) < 2000 || b.Dx() < 300 || b.Dy() < 300 {
			t.Errorf("%s: %d bytes, %dx%d: looks empty", p, len(shot.png), b.Dx(), b.Dy())
		}
		t.Logf("%s: %d bytes, %dx%d", p, len(shot.png), b.Dx(), b.Dy())
	}
}

// TestBrowserNoConsoleErrors loads the login page and uses it; nothing may
// be reported as an error, and the CSP must block nothing. Then it breaks
// the policy on purpose to prove both watchers would have seen it.
func TestBrowserNoConsoleErrors(t *testing.T) {
	app := startBrowserApp(t)
	ctx, console := newBrowser(t)

	var violations []string
	var scriptRan bool
	err := chromedp.Run(ctx,
		chromedp.Navigate(app.base+"/login"),
		chromedp.WaitVisible("#sso-toggle", chromedp.ByQuery),
		chromedp.Click("#sso-toggle", chromedp.ByQuery),
		chromedp.Click("#sso-toggle", chromedp.ByQuery),
		chromedp.Navigate(app.base+"/login?error=sso_failed"),
		chromedp.WaitVisible("#form-error", chromedp.ByQuery),
		chromedp.Navigate(app.base+"/no/such/page"),
		chromedp.WaitVisible("#error-title", chromedp.ByQuery),
		chromedp.Navigate(app.base+"/login"),
		chromedp.WaitVisible("#sso-toggle", chromedp.ByQuery),
		chromedp.Sleep(200*time.Millisecond), // let late reports arrive
		chromedp.Evaluate(`window.__csp`, &violations),
	)
	if err != nil {
		t.Fatal(err)
	}
	// The 404 page's status is reported; nothing else may appear.
	problems := unexpected(console.list(), "status of 404 (Not Found) ("+app.base+"/no/such/page)")
	if len(problems) > 0 || len(violations) > 0 {
		t.Errorf("console problems:\n%s\nCSP violations: %v", strings.Join(problems, "\n"), violations)
	}

	// Self-check: an inline script must be blocked and reported.
	before := len(console.list())
	err = chromedp.Run(ctx,
		chromedp.Evaluate(`(() => { const s = document.createElement("script"); s.textContent = "window.__inline = true"; document.body.appendChild(s); })()`, nil),
		chromedp.Sleep(300*time.Millisecond),
		chromedp.Evaluate(`window.__csp`, &violations),
		chromedp.Evaluate(`window.__inline === true`, &scriptRan),
	)
	if err != nil {
		t.Fatal(err)
	}
	if scriptRan {
		t.Error("an inline script ran: the CSP does not block inline scripts")
	}
	if len(violations) == 0 {
		t.Error("self-check: the securitypolicyviolation watcher saw nothing")
	}
	if len(console.list()) == before {
		t.Error("self-check: the console listener saw no CSP report")
	}
}
