package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

var verifyLinkRE = regexp.MustCompile(`https?://[^\s"<>]+/auth/verify\?token=[A-Za-z0-9_-]+`)

// TestBrowserEmailChange: in Chromium, a signed-in person asks to change
// their address on the account page; nothing changes until they open the
// link mailed to the new address and confirm; then the account page shows
// the new address, confirmed, and the old address got a notice.
func TestBrowserEmailChange(t *testing.T) {
	mailDir := t.TempDir()
	app := startBrowserAppWith(t, fmt.Sprintf("mail:\n  from: \"gatehouse <no-reply@example.com>\"\n  dir: %q\n", mailDir))
	ctx, console := newBrowser(t)
	const newEmail = "browser.moved@example.com"

	var pending, shown string
	err := chromedp.Run(ctx,
		chromedp.Navigate(app.base+"/login"),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.SendKeys("#email", browserEmail, chromedp.ByQuery),
		chromedp.SendKeys("#password", browserPW, chromedp.ByQuery),
		chromedp.Click("#submit", chromedp.ByQuery),
		chromedp.WaitVisible("#user-email", chromedp.ByQuery),
		chromedp.Navigate(app.base+"/account"),
		chromedp.WaitVisible("#email-form", chromedp.ByQuery),
		chromedp.SendKeys("#new_email", newEmail, chromedp.ByQuery),
		chromedp.Click("#email-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#email-pending", chromedp.ByQuery),
		chromedp.Text("#email-pending", &pending, chromedp.ByQuery),
		chromedp.Text("#account-email", &shown, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pending, newEmail) || shown != browserEmail {
		t.Fatalf("waiting: %q, shown address %q", pending, shown)
	}

	link := deliveredLink(t, mailDir, newEmail, verifyLinkRE)
	var state string
	err = chromedp.Run(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible("#verify-form", chromedp.ByQuery),
		chromedp.Click("#verify-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#account-notice", chromedp.ByQuery),
		chromedp.Text("#account-email", &shown, chromedp.ByQuery),
		chromedp.Text("#email-state", &state, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if shown != newEmail || state != "(confirmed)" {
		t.Fatalf("after confirming: %q %q", shown, state)
	}
	deliveredLink(t, mailDir, browserEmail, regexp.MustCompile(`was changed`)) // the notice to the old address
	if p := unexpected(console.list()); len(p) > 0 {
		t.Errorf("console problems:\n%s", strings.Join(p, "\n"))
	}
}
