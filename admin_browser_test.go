package main

// Real-browser test of the admin console: the app under serve() with an
// empty database, so it prints the first-admin setup link; the newBrowser
// helper of browser_test.go drives Chromium. The administrator and the user
// are two isolated browser contexts (separate cookie jars).

import (
	"bytes"
	"context"
	"fmt"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/testkit"
	"image/png"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/gatehouse/gatehouse/config"
	"golang.org/x/crypto/bcrypt"
)

// noRedirectAdmin is a plain client that shows redirects instead of following them.
var noRedirectAdmin = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// adminSetupURL matches the link serve prints while no administrator exists.
var adminSetupURL = regexp.MustCompile(`(http://[^\s]+/setup\?token=[A-Za-z0-9_-]{43})\s`)

// startAdminServe runs serve() over an empty database on a loopback port and
// returns the base URL, serve's stdout and its logs.
func startAdminServe(t *testing.T) (string, *testkit.LogBuffer, *testkit.LogBuffer) {
	t.Helper()
	base, stdout, logs, _ := startAdminServeDB(t)
	return base, stdout, logs
}

// startAdminServeDB is startAdminServe that also returns the database path,
// for tests that seed rows the browser cannot create on its own.
func startAdminServeDB(t *testing.T) (string, *testkit.LogBuffer, *testkit.LogBuffer, string) {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	cfgPath := filepath.Join(dir, "config.yaml")
	database := testkit.DatabaseIn(t, dir, "g.db")
	// A configured secrets key: PostgreSQL has no generated one.
	yaml := fmt.Sprintf("listen: %q\nbase_url: %q\ndatabase: %q\nsecrets:\n  key: %q\n", ln.Addr().String(), base, database, testSecretsKey)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) (string, bool) { return "", false }
	cfg, err := config.Load(config.Source{Path: cfgPath, Getenv: noEnv, DotEnv: filepath.Join(dir, "none.env")})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	cfg.Password.BcryptCost = bcrypt.MinCost
	stdout, logs := &testkit.LogBuffer{}, &testkit.LogBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, app.Options{Listener: ln, Logger: slog.New(slog.NewTextHandler(logs, nil)), Stdout: stdout})
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
		if l := logs.String(); strings.Contains(l, "level=ERROR") || strings.Contains(l, "panic") {
			t.Errorf("server logged errors:\n%s", l)
		}
	})
	for start := time.Now(); !strings.Contains(stdout.String(), "gatehouse is running"); {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("serve did not start; stdout %q logs %q", stdout.String(), logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return base, stdout, logs, database
}

// TestAdminServePrintsSetupURL: an empty database gets a one-time setup
// link, printed once, on stdout, with the shell command for the way the test
// runs gatehouse (a go-build binary: go run .); the log says a link was
// printed but not the token; the link works once.
func TestAdminServePrintsSetupURL(t *testing.T) {
	base, stdout, logs := startAdminServe(t)
	m := adminSetupURL.FindStringSubmatch(stdout.String())
	if m == nil || !strings.HasPrefix(m[1], base+"/setup?token=") {
		t.Fatalf("stdout has no setup link:\n%s", stdout.String())
	}
	if n := strings.Count(stdout.String(), "/setup?token="); n != 1 {
		t.Fatalf("stdout has the setup link %d times, want once:\n%s", n, stdout.String())
	}
	token := strings.TrimPrefix(m[1], base+"/setup?token=")
	if strings.Contains(logs.String(), token) || strings.Contains(logs.String(), "/setup?token=") {
		t.Fatalf("the log carries the setup token:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "no accounts yet") || !strings.Contains(logs.String(), "setup link (valid for 1 hour, once) was printed to stdout") {
		t.Fatalf("log does not say a setup link was printed:\n%s", logs.String())
	}
	if want := "| go run . user create --admin --email you@example.com --password-stdin\n"; !strings.Contains(stdout.String(), want) {
		t.Fatalf("stdout lacks the CLI command %q:\n%s", want, stdout.String())
	}
	for _, bad := range []string{base + "/setup?token=wrong", base + "/setup"} {
		resp, err := noRedirectAdmin.Get(bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET %s: %d, want 404", bad, resp.StatusCode)
		}
	}
	resp, err := noRedirectAdmin.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET setup link: %d", resp.StatusCode)
	}
}

// TestAdminBrowserConsole: first-admin setup, sign-in, creating a user, the
// user signed in elsewhere, disabling them, their page signed out on reload,
// the layout on a phone, and screenshots of the users list and audit log.
func TestAdminBrowserConsole(t *testing.T) {
	base, stdout, _ := startAdminServe(t)
	m := adminSetupURL.FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no setup link on stdout:\n%s", stdout.String())
	}
	admin, console := newBrowser(t)
	// A second browser context has its own cookies: the user's own browser.
	// (Headless Chromium needs a new window for a target in a new context.)
	var userTarget target.ID
	if err := chromedp.Run(admin, chromedp.ActionFunc(func(ctx context.Context) error {
		exec := cdp.WithExecutor(ctx, chromedp.FromContext(ctx).Browser)
		bc, err := target.CreateBrowserContext().WithDisposeOnDetach(true).Do(exec)
		if err != nil {
			return err
		}
		userTarget, err = target.CreateTarget("about:blank").WithBrowserContextID(bc).WithNewWindow(true).Do(exec)
		return err
	})); err != nil {
		t.Fatalf("second browser context: %v", err)
	}
	user, cancelUser := chromedp.NewContext(admin, chromedp.WithTargetID(userTarget))
	t.Cleanup(cancelUser) // before newBrowser's cleanup closes the browser

	const adminEmail, adminPW = "ada@example.com", "ada's long admin password"
	const userEmail, userPW = "casey@example.com", "casey's long password"
	var csp []string
	noCSP := func(where string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			if err := chromedp.Evaluate(`window.__csp || []`, &csp).Do(ctx); err != nil {
				return err
			}
			if len(csp) > 0 {
				t.Errorf("CSP violations on %s: %v", where, csp)
			}
			return nil
		})
	}
	var loc, notice, shown, heading string

	// First-admin setup from the printed link signs the administrator in.
	err := chromedp.Run(admin,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(m[1]),
		chromedp.WaitVisible("#setup-form", chromedp.ByQuery),
		noCSP("setup"),
		chromedp.SendKeys("#email", adminEmail, chromedp.ByQuery),
		chromedp.SendKeys("#name", "Ada Admin", chromedp.ByQuery),
		chromedp.SendKeys("#password", adminPW, chromedp.ByQuery),
		chromedp.SendKeys("#password_again", adminPW, chromedp.ByQuery),
		chromedp.Click("#setup-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#user-table", chromedp.ByQuery),
		chromedp.Location(&loc),
	)
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	if loc != base+"/admin/users" {
		t.Fatalf("after setup at %q", loc)
	}
	// Sign out, then sign in through the login page.
	err = chromedp.Run(admin,
		chromedp.Click(`form[action="/auth/logout"] button`, chromedp.ByQuery),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.Navigate(base+"/admin/users"),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.SendKeys("#email", adminEmail, chromedp.ByQuery),
		chromedp.SendKeys("#password", adminPW, chromedp.ByQuery),
		chromedp.Click("#submit", chromedp.ByQuery),
		chromedp.WaitVisible("#user-table", chromedp.ByQuery),
		chromedp.Location(&loc),
		noCSP("users list"),
	)
	if err != nil {
		t.Fatalf("admin sign-in: %v", err)
	}
	if loc != base+"/admin/users" {
		t.Fatalf("after sign-in at %q, want back at the users list", loc)
	}

	// Create a user in the UI.
	var ssoHidden bool
	err = chromedp.Run(admin,
		chromedp.Click("#new-user", chromedp.ByQuery),
		chromedp.WaitVisible("#new-user-form", chromedp.ByQuery),
		noCSP("new user"),
		// "Single sign-on only" hides the password fields; back to a
		// password shows them again.
		chromedp.Click("#mode-none", chromedp.ByQuery),
		chromedp.WaitNotVisible("#password", chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById("password-fields").hidden`, &ssoHidden),
		chromedp.Click("#mode-password", chromedp.ByQuery),
		chromedp.WaitVisible("#password", chromedp.ByQuery),
		chromedp.SendKeys("#email", userEmail, chromedp.ByQuery),
		chromedp.SendKeys("#name", "Casey <b>Tester</b>", chromedp.ByQuery),
		chromedp.SendKeys("#password", userPW, chromedp.ByQuery),
		chromedp.SendKeys("#password_again", userPW, chromedp.ByQuery),
		chromedp.Click("#create-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#admin-notice", chromedp.ByQuery),
		chromedp.Text("#admin-notice", &notice, chromedp.ByQuery),
		chromedp.Text("#target-name", &shown, chromedp.ByQuery),
		chromedp.Location(&loc),
		noCSP("user page"),
	)
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	if !ssoHidden {
		t.Fatal(`"Single sign-on only" left the password fields visible`)
	}
	if notice != "The account was created." || shown != "Casey <b>Tester</b>" || !regexp.MustCompile(`/admin/users/\d+$`).MatchString(loc) {
		t.Fatalf("after create: notice %q, name shown %q, at %q", notice, shown, loc)
	}
	userPage := strings.TrimSuffix(loc, "?done=created")

	// The user signs in in the second context; it is not an administrator.
	err = chromedp.Run(user,
		chromedp.EmulateViewport(1024, 768),
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.SendKeys("#email", userEmail, chromedp.ByQuery),
		chromedp.SendKeys("#password", userPW, chromedp.ByQuery),
		chromedp.Click("#submit", chromedp.ByQuery),
		chromedp.WaitVisible("#user-email", chromedp.ByQuery),
		chromedp.Text("#user-email", &shown, chromedp.ByQuery),
		chromedp.Navigate(base+"/admin/users"),
		chromedp.WaitVisible("#error-title", chromedp.ByQuery),
		chromedp.Text("#error-title", &heading, chromedp.ByQuery),
		chromedp.Navigate(base+"/dashboard"),
		chromedp.WaitVisible("#user-email", chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("user sign-in: %v", err)
	}
	if shown != userEmail || heading != "Administrators only" {
		t.Fatalf("user context: signed in as %q, /admin/users shows %q", shown, heading)
	}

	// The administrator sees the session and disables the account.
	err = chromedp.Run(admin,
		chromedp.Navigate(userPage),
		chromedp.WaitVisible("#session-table", chromedp.ByQuery),
		chromedp.Click("#disable", chromedp.ByQuery),
		chromedp.WaitVisible("#admin-notice", chromedp.ByQuery),
		chromedp.Text("#admin-notice", &notice, chromedp.ByQuery),
		chromedp.WaitVisible("#no-sessions", chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("disable: %v", err)
	}
	if !strings.Contains(notice, "disabled") {
		t.Fatalf("after disable: notice %q", notice)
	}
	// The user's open page is signed out on its next request.
	err = chromedp.Run(user,
		chromedp.Reload(),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.Location(&loc),
	)
	if err != nil {
		t.Fatalf("reload after disable: %v", err)
	}
	if loc != base+"/login?next=%2Fdashboard" {
		t.Fatalf("disabled user's reload went to %q", loc)
	}

	// Screenshots for people, and the phone layout: no sideways page scroll.
	dir, err := os.MkdirTemp("", "gatehouse-admin-screenshots-")
	if err != nil {
		t.Fatal(err)
	}
	var usersPNG, auditPNG, phonePNG []byte
	overflow := map[string]bool{}
	phone := func(path string) chromedp.Action {
		return chromedp.Tasks{
			chromedp.Navigate(base + path),
			chromedp.WaitVisible("main", chromedp.ByQuery),
			chromedp.ActionFunc(func(ctx context.Context) error {
				var over bool
				err := chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth`, &over).Do(ctx)
				overflow[path] = over
				return err
			}),
			noCSP(path),
		}
	}
	err = chromedp.Run(admin,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(base+"/admin/users?sort=-last_login"),
		chromedp.WaitVisible("#user-table", chromedp.ByQuery),
		chromedp.FullScreenshot(&usersPNG, 100),
		chromedp.Navigate(base+"/admin/audit"),
		chromedp.WaitVisible("#audit-table", chromedp.ByQuery),
		chromedp.Text("#audit-table", &shown, chromedp.ByQuery),
		chromedp.FullScreenshot(&auditPNG, 100),
		noCSP("audit"),
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		phone("/admin/users"),
		phone("/admin/audit"),
		phone("/admin/users/new"),
		phone(strings.TrimPrefix(userPage, base)),
		chromedp.FullScreenshot(&phonePNG, 100),
	)
	if err != nil {
		t.Fatalf("screenshots: %v", err)
	}
	for _, kind := range []string{"user.created", "user.disabled", "login.success"} {
		if !strings.Contains(shown, kind) {
			t.Errorf("audit page lacks %s:\n%s", kind, shown)
		}
	}
	for path, over := range overflow {
		if over {
			t.Errorf("%s scrolls sideways on a phone-sized screen", path)
		}
	}
	for _, shot := range []struct {
		name, copyTo string
		png          []byte
	}{
		{"admin-users.png", "/tmp/gatehouse-admin-users.png", usersPNG},
		{"audit.png", "/tmp/gatehouse-audit.png", auditPNG},
		{"admin-user-phone.png", "/tmp/gatehouse-admin-user-phone.png", phonePNG},
	} {
		img, err := png.Decode(bytes.NewReader(shot.png))
		if err != nil || img.Bounds().Dx() < 300 || len(shot.png) < 2000 {
			t.Errorf("%s: not a real screenshot (%d bytes, %v)", shot.name, len(shot.png), err)
			continue
		}
		p := filepath.Join(dir, shot.name)
		if err := os.WriteFile(p, shot.png, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(shot.copyTo, shot.png, 0o644); err != nil {
			t.Logf("copy to %s: %v", shot.copyTo, err)
		}
		t.Logf("screenshot %s (%dx%d), copied to %s", p, img.Bounds().Dx(), img.Bounds().Dy(), shot.copyTo)
	}
	if p := console.list(); len(p) > 0 {
		t.Errorf("console problems:\n%s", strings.Join(p, "\n"))
	}
}
