package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gatehouse/gatehouse/mfa"
)

// TestBrowserTOTP: in Chromium, a person sets up an authenticator app from
// the account page (the code computed from the secret the page shows),
// keeps the recovery codes it shows once, then signs in with password and
// code, and once with a recovery code.
func TestBrowserTOTP(t *testing.T) {
	app := startBrowserAppWith(t, "")
	ctx, console := newBrowser(t)
	code := func(secret string, ahead int64) string {
		c, err := mfa.Code(secret, mfa.Step(time.Now())+ahead)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	signInWithPassword := chromedp.Tasks{
		chromedp.Navigate(app.base + "/login"),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.SendKeys("#email", browserEmail, chromedp.ByQuery),
		chromedp.SendKeys("#password", browserPW, chromedp.ByQuery),
		chromedp.Click("#submit", chromedp.ByQuery),
	}
	signOut := chromedp.Tasks{
		chromedp.Navigate(app.base + "/dashboard"),
		chromedp.WaitVisible("#logout", chromedp.ByQuery),
		chromedp.Click("#logout", chromedp.ByQuery),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
	}

	var secret string
	var codes []string
	err := chromedp.Run(ctx, signInWithPassword,
		chromedp.WaitVisible("#user-email", chromedp.ByQuery),
		chromedp.Navigate(app.base+"/account"),
		chromedp.WaitVisible("#totp-begin", chromedp.ByQuery),
		chromedp.Click("#totp-begin", chromedp.ByQuery),
		chromedp.WaitVisible("#totp-secret", chromedp.ByQuery),
		chromedp.Text("#totp-secret", &secret, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	secret = strings.ReplaceAll(secret, " ", "")
	var qrLoaded bool
	err = chromedp.Run(ctx,
		chromedp.Poll(`document.querySelector("#totp-qr").complete && document.querySelector("#totp-qr").naturalWidth > 0`, &qrLoaded,
			chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.SendKeys("#code", code(secret, 0), chromedp.ByQuery),
		chromedp.Click("#totp-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#recovery-codes", chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll(".recovery-code")].map(e => e.textContent)`, &codes),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !qrLoaded || len(codes) != mfa.RecoveryCodes {
		t.Fatalf("QR code shown %v, %d recovery codes", qrLoaded, len(codes))
	}

	var shown string
	err = chromedp.Run(ctx, signOut, signInWithPassword,
		chromedp.WaitVisible("#mfa-form", chromedp.ByQuery),
		chromedp.SendKeys("#code", code(secret, 1), chromedp.ByQuery), // the next step's: the enrolment used this one
		chromedp.Click("#mfa-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#user-email", chromedp.ByQuery),
		chromedp.Text("#user-email", &shown, chromedp.ByQuery),
	)
	if err != nil || shown != browserEmail {
		t.Fatalf("password and code: %q %v", shown, err)
	}
	err = chromedp.Run(ctx, signOut, signInWithPassword,
		chromedp.WaitVisible("#mfa-form", chromedp.ByQuery),
		chromedp.SendKeys("#code", codes[0], chromedp.ByQuery),
		chromedp.Click("#mfa-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#user-email", chromedp.ByQuery),
		chromedp.Text("#user-email", &shown, chromedp.ByQuery),
	)
	if err != nil || shown != browserEmail {
		t.Fatalf("password and recovery code: %q %v", shown, err)
	}
	if p := unexpected(console.list()); len(p) > 0 {
		t.Errorf("console problems:\n%s", strings.Join(p, "\n"))
	}
}
