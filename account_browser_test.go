package main

// Real-browser test of the account page: the app under serve() (the
// startBrowserApp and newBrowser helpers of browser_test.go), one person
// signed in from two isolated browser contexts of one headless Chromium.

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// accountSignIn signs in through the login form in a browser context.
func accountSignIn(ctx context.Context, base string) error {
	return chromedp.Run(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.SendKeys("#email", browserEmail, chromedp.ByQuery),
		chromedp.SendKeys("#password", browserPW, chromedp.ByQuery),
		chromedp.Click("#submit", chromedp.ByQuery),
		chromedp.WaitVisible("#user-email", chromedp.ByQuery),
	)
}

// accountOverflowJS reports whether the page is wider than the viewport
// (a sideways scrollbar on a phone).
const accountOverflowJS = `document.documentElement.scrollWidth > window.innerWidth`

func TestAccountBrowserRevokeOtherSession(t *testing.T) {
	app := startBrowserApp(t)
	first, console := newBrowser(t)
	// A second browser context has its own cookies: another device.
	var targetID target.ID
	if err := chromedp.Run(first, chromedp.ActionFunc(func(ctx context.Context) error {
		c := chromedp.FromContext(ctx)
		exec := cdp.WithExecutor(ctx, c.Browser)
		bc, err := target.CreateBrowserContext().WithDisposeOnDetach(true).Do(exec)
		if err != nil {
			return err
		}
		targetID, err = target.CreateTarget("about:blank").WithBrowserContextID(bc).WithNewWindow(true).Do(exec)
		return err
	})); err != nil {
		t.Fatalf("second browser context: %v", err)
	}
	second, cancelSecond := chromedp.NewContext(first, chromedp.WithTargetID(targetID))
	t.Cleanup(cancelSecond) // runs before newBrowser's cleanup closes the browser

	if err := accountSignIn(first, app.base); err != nil {
		t.Fatalf("sign in (first context): %v", err)
	}
	if err := accountSignIn(second, app.base); err != nil {
		t.Fatalf("sign in (second context): %v", err)
	}

	dir, err := os.MkdirTemp("", "gatehouse-account-")
	if err != nil {
		t.Fatal(err)
	}
	var desktop, phone []byte
	var sessions, marked int
	var otherMarked bool
	var phoneOverflow bool
	var violations []string
	err = chromedp.Run(first,
		chromedp.EmulateViewport(1024, 768),
		chromedp.Navigate(app.base+"/account"),
		chromedp.WaitVisible("#session-list", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("#session-list > li").length`, &sessions),
		chromedp.Evaluate(`document.querySelectorAll("#session-list #this-device").length`, &marked),
		chromedp.Evaluate(`document.querySelector("#session-list li:not(.account-current) #this-device") !== null`, &otherMarked),
		chromedp.FullScreenshot(&desktop, 100),
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(app.base+"/account"),
		chromedp.WaitVisible("#session-list", chromedp.ByQuery),
		chromedp.Evaluate(accountOverflowJS, &phoneOverflow),
		chromedp.FullScreenshot(&phone, 100),
		chromedp.Evaluate(`window.__csp`, &violations),
	)
	if err != nil {
		t.Fatal(err)
	}
	if sessions != 2 || marked != 1 || otherMarked {
		t.Fatalf("session list: %d sessions, %d marked \"This device\" (other marked: %v); want 2 and 1 on this one", sessions, marked, otherMarked)
	}
	if phoneOverflow {
		t.Error("the account page scrolls sideways on a 390px-wide phone screen")
	}
	for _, shot := range []struct {
		name string
		png  []byte
	}{{"account.png", desktop}, {"account-phone.png", phone}} {
		p := filepath.Join(dir, shot.name)
		if err := os.WriteFile(p, shot.png, 0o644); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(shot.png))
		if err != nil {
			t.Fatalf("%s is not a PNG: %v", p, err)
		}
		if b := img.Bounds(); len(shot.png) < 2000 || b.Dx() < 300 || b.Dy() < 300 {
			t.Errorf("%s: %d bytes, %dx%d: looks empty", p, len(shot.png), b.Dx(), b.Dy())
		}
		t.Logf("screenshot: %s", p)
	}
	if err := os.WriteFile("/tmp/gatehouse-account.png", desktop, 0o644); err != nil {
		t.Errorf("copy screenshot: %v", err)
	} else {
		t.Logf("screenshot copied to /tmp/gatehouse-account.png")
	}

	// Revoke the other session from the first context.
	var notice, location string
	err = chromedp.Run(first,
		chromedp.EmulateViewport(1024, 768),
		chromedp.Click("#session-list li:not(.account-current) button", chromedp.ByQuery),
		chromedp.WaitVisible("#account-notice", chromedp.ByQuery),
		chromedp.Text("#account-notice", &notice, chromedp.ByQuery),
		chromedp.Location(&location),
		chromedp.Evaluate(`document.querySelectorAll("#session-list > li").length`, &sessions),
	)
	if err != nil {
		t.Fatal(err)
	}
	if location != app.base+"/account" || notice != "That session was signed out." || sessions != 1 {
		t.Fatalf("after revoking: at %q, notice %q, %d sessions listed", location, notice, sessions)
	}

	// The second context's next page load lands on the login page.
	err = chromedp.Run(second,
		chromedp.Navigate(app.base+"/account"),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.Location(&location),
	)
	if err != nil {
		t.Fatal(err)
	}
	if location != app.base+"/login?next=%2Faccount" {
		t.Fatalf("second context after revocation: at %q, want the login page", location)
	}
	// The first context is still signed in.
	err = chromedp.Run(first,
		chromedp.Navigate(app.base+"/account"),
		chromedp.WaitVisible("#this-device", chromedp.ByQuery),
		chromedp.Location(&location),
	)
	if err != nil || location != app.base+"/account" {
		t.Fatalf("first context after revocation: at %q (%v), want /account", location, err)
	}
	if len(violations) > 0 {
		t.Errorf("CSP violations on the account page: %v", violations)
	}
	if p := console.list(); len(p) > 0 {
		t.Errorf("console problems:\n%s", strings.Join(p, "\n"))
	}
}
