package main

// Browser test of "Sign in with SSO": the real `serve` beside the in-repo
// test OpenID Provider, driven through headless Chromium. It covers what
// the HTTP tests cannot: the login page's script switching to SSO mode, the
// provider's picker page, the link-by-password form, and RP-initiated
// logout bouncing through the provider.
//
// Without Chromium the test is skipped, except under CI=true, where it fails.

import (
	"context"
	"errors"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/testkit"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sso"
	"github.com/gatehouse/gatehouse/testop"
	"golang.org/x/crypto/bcrypt"
)

const ssoBrowserChromium = "/usr/bin/chromium"

// ssoBrowserInCI reports whether CI is set to a true-ish value (the rule
// browser_test.go uses too).
func ssoBrowserInCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "0" && v != "false" && v != "no"
}

// ssoBrowserContext starts headless Chromium with a throwaway profile.
func ssoBrowserContext(t *testing.T) (context.Context, *consoleLog) {
	t.Helper()
	if _, err := os.Stat(ssoBrowserChromium); err != nil {
		if ssoBrowserInCI() {
			t.Fatalf("CI: Chromium is required for browser tests but %s is missing: %v", ssoBrowserChromium, err)
		}
		t.Skipf("skipping: %s not found (%v); CI=true makes this a failure", ssoBrowserChromium, err)
	}
	userData := t.TempDir() // registered first, so removed after Chromium exited
	var output testkit.LogBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(ssoBrowserChromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1024, 900),
		chromedp.UserDataDir(userData),
		chromedp.CombinedOutput(&output),
	)
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		if err := chromedp.Cancel(bctx); err != nil { // graceful close, then wait for the process
			cancelBrowser()
		}
		cancelAlloc()
		cancel()
		for i := 0; os.RemoveAll(userData) != nil && i < 50; i++ { // helpers may hold the profile briefly
			time.Sleep(100 * time.Millisecond)
		}
		if t.Failed() {
			t.Logf("chromium output:\n%s", output.String())
		}
	})
	problems := &consoleLog{}
	chromedp.ListenTarget(bctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			problems.add("exception: " + ev.ExceptionDetails.Text + " at " + ev.ExceptionDetails.URL)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError {
				problems.add("console.error")
			}
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.LevelError {
				problems.add("log: " + ev.Entry.Text + " (" + ev.Entry.URL + ")")
			}
		}
	})
	if err := chromedp.Run(bctx); err != nil {
		t.Fatalf("start Chromium: %v\n%s", err, output.String())
	}
	return bctx, problems
}

func TestSSOBrowserFlow(t *testing.T) {
	bctx, problems := ssoBrowserContext(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	bob := testop.User{Subject: "sub-bob", Email: "bob@example.com", Name: "Bob Builder", EmailVerified: true}
	alice := testop.User{Subject: "sub-alice", Email: "alice@example.com", Name: "Alice at the IdP", EmailVerified: true}
	op, err := testop.Start(testop.Options{
		Clients: []testop.Client{{
			ID: "gatehouse-browser", Secret: "browser-test-secret-0123456789", Name: "gatehouse browser test",
			RedirectURIs:           []string{base + "/auth/callback"},
			PostLogoutRedirectURIs: []string{base + "/auth/logged-out"},
			BackchannelLogoutURI:   base + "/auth/backchannel-logout",
		}},
		Users: []testop.User{bob, alice},
	})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Close() })
	op.SetLoginUser(nil) // the OP shows its picker page

	cfg := config.Default()
	cfg.Listen = ln.Addr().String()
	cfg.BaseURL = base
	cfg.Database = testkit.Database(t, "gatehouse.db")
	cfg.Password.BcryptCost = 10 // the lowest the configuration allows
	cfg.Log.Level = "debug"
	cfg.Providers = []config.Provider{{
		ProviderConfig: sso.ProviderConfig{
			ID: "demo", Name: "Demo SSO", Issuer: op.Issuer(),
			ClientID: "gatehouse-browser", ClientSecret: "browser-test-secret-0123456789",
			EmailDomains: []string{"example.com"},
		},
		Link: accounts.LinkPassword, AutoCreate: true,
	}}
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}

	// Alice has a local account with a password: SSO as her must go
	// through the link-by-password page.
	const alicePW = "alice's local password"
	ctx := context.Background()
	db, err := app.OpenDB(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := password.New(bcrypt.MinCost, 12)
	if err != nil {
		t.Fatal(err)
	}
	pw := alicePW
	if _, err := (&accounts.Service{DB: db, Hasher: hasher}).CreateUser(ctx, accounts.NewUser{Email: alice.Email, Name: "Alice Local", Password: &pw}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	logs := &testkit.LogBuffer{}
	serveCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(serveCtx, cfg, app.Options{Listener: ln, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Stdout: io.Discard})
	}()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	ssoBrowserWaitHealthy(t, base, done)

	var text, loc string
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(bctx, actions...); err != nil {
			var where string
			_ = chromedp.Run(bctx, chromedp.Location(&where))
			t.Fatalf("%s: %v (browser at %s)", step, err, where)
		}
	}
	// startSSO switches the login page to SSO mode with its script, types
	// the email and continues to the provider's picker page.
	startSSO := func(email string) {
		t.Helper()
		run("switch to SSO and continue",
			chromedp.WaitVisible(`#sso-toggle[aria-pressed="false"]`, chromedp.ByQuery), // login.js is running
			chromedp.Click(`#sso-toggle`, chromedp.ByQuery),
			chromedp.WaitVisible(`#login-form[data-mode="sso"]`, chromedp.ByQuery),
			chromedp.Text(`#submit`, &text, chromedp.ByQuery),
		)
		if text != "Continue with Demo SSO" {
			t.Fatalf("submit button says %q in SSO mode", text)
		}
		run("continue with SSO",
			chromedp.SendKeys(`#email`, email, chromedp.ByQuery),
			chromedp.Click(`#submit`, chromedp.ByQuery),
			chromedp.WaitVisible(`button[name="subject"]`, chromedp.ByQuery),
			chromedp.Location(&loc),
		)
		if !strings.HasPrefix(loc, op.Issuer()+"/authorize") {
			t.Fatalf("expected the provider's picker, at %s", loc)
		}
	}
	// signOut signs out through the provider and back to the login page.
	signOut := func() {
		t.Helper()
		run("sign out",
			chromedp.Click(`#logout`, chromedp.ByQuery),
			chromedp.WaitVisible(`p.notice`, chromedp.ByQuery),
			chromedp.Text(`p.notice`, &text, chromedp.ByQuery),
			chromedp.Location(&loc),
		)
		if text != "You have been signed out." || loc != base+"/login" {
			t.Errorf("after sign-out: at %s, notice %q", loc, text)
		}
		if end := op.LastEndSession(); end.Get("id_token_hint") == "" || end.Get("post_logout_redirect_uri") != base+"/auth/logged-out" {
			t.Errorf("the provider's end_session saw %v", end)
		}
	}

	// Bob is new: SSO creates his account.
	run("open login", chromedp.Navigate(base+"/login"))
	startSSO(bob.Email)
	if hint := op.LastAuthorize().Get("login_hint"); hint != bob.Email {
		t.Errorf("login_hint %q", hint)
	}
	run("pick Bob at the provider",
		chromedp.Click(`button[name="subject"][value="sub-bob"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#auth-method`, chromedp.ByQuery),
		chromedp.Text(`#auth-method`, &text, chromedp.ByQuery),
		chromedp.Location(&loc),
	)
	if !strings.Contains(text, "Single sign-on") || loc != base+"/dashboard" {
		t.Fatalf("at %s, signed in with %q; want the dashboard with Single sign-on", loc, text)
	}
	run("dashboard email", chromedp.Text(`#user-email`, &text, chromedp.ByQuery))
	if text != bob.Email {
		t.Errorf("dashboard shows %q", text)
	}
	signOut()

	// Alice has a local account: prove the password to link.
	startSSO(alice.Email)
	run("pick Alice at the provider",
		chromedp.Click(`button[name="subject"][value="sub-alice"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#link-form`, chromedp.ByQuery),
		chromedp.Text(`#link-title`, &text, chromedp.ByQuery),
		chromedp.Location(&loc),
	)
	if text != "Link your account" || !strings.HasPrefix(loc, base+"/auth/link?t=") {
		t.Fatalf("at %s (%q), want the link page", loc, text)
	}
	var page string
	run("link page text", chromedp.Text(`main`, &page, chromedp.ByQuery))
	if !strings.Contains(page, "An account for alice@example.com already exists") {
		t.Errorf("link page says:\n%s", page)
	}
	var shot []byte
	run("screenshot", chromedp.FullScreenshot(&shot, 100)) // 100: PNG
	dir, err := os.MkdirTemp("", "gatehouse-sso-browser-")
	if err != nil {
		t.Fatal(err)
	}
	shotPath := filepath.Join(dir, "link-page.png")
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("link page screenshot: %s", shotPath)

	run("link with the password",
		chromedp.SendKeys(`#password`, alicePW, chromedp.ByQuery),
		chromedp.Click(`#link-submit`, chromedp.ByQuery),
		chromedp.WaitVisible(`#auth-method`, chromedp.ByQuery),
		chromedp.Text(`#auth-method`, &text, chromedp.ByQuery),
		chromedp.Location(&loc),
	)
	if !strings.Contains(text, "Single sign-on") || loc != base+"/dashboard" {
		t.Fatalf("after linking: at %s, signed in with %q", loc, text)
	}
	run("dashboard email", chromedp.Text(`#user-email`, &text, chromedp.ByQuery))
	if text != alice.Email {
		t.Errorf("dashboard shows %q", text)
	}
	signOut()

	// No page had a script error or a CSP violation. (The provider's own
	// pages have no favicon; that 404 is not ours.)
	for _, p := range problems.list() {
		if strings.Contains(p, "favicon.ico") {
			t.Logf("browser reported (ignored): %s", p)
			continue
		}
		t.Errorf("browser reported: %s", p)
	}

	// The identity is linked in the database.
	db, err = models.Open(cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id, err := db.IdentityBySubject(ctx, op.Issuer(), "sub-alice")
	if err != nil {
		t.Fatalf("alice's identity: %v", err)
	}
	u, err := db.UserByEmail(ctx, alice.Email)
	if err != nil || id.UserID != u.ID {
		t.Errorf("identity linked to user %d, alice is %v (%v)", id.UserID, u, err)
	}
}

// ssoBrowserWaitHealthy waits until serve answers /healthz.
func ssoBrowserWaitHealthy(t *testing.T, base string, done <-chan error) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v", err)
		default:
		}
		resp, err := c.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatehouse did not become healthy: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
