package main

import (
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserForgotPassword: the whole "Forgot password?" flow in Chromium
// against the served app with mail to a folder: ask for a link from the
// sign-in page, read the message the mail worker delivered, follow its
// link, set a new password, and sign in with it.
func TestBrowserForgotPassword(t *testing.T) {
	mailDir := t.TempDir()
	app := startBrowserAppWith(t, fmt.Sprintf("mail:\n  from: \"gatehouse <no-reply@example.com>\"\n  dir: %q\n", mailDir))
	ctx, console := newBrowser(t)

	var sent string
	err := chromedp.Run(ctx,
		chromedp.Navigate(app.base+"/login"),
		chromedp.WaitVisible("#forgot-link", chromedp.ByQuery),
		chromedp.Click("#forgot-link", chromedp.ByQuery),
		chromedp.WaitVisible("#forgot-form", chromedp.ByQuery),
		chromedp.SendKeys("#email", browserEmail, chromedp.ByQuery),
		chromedp.Click("#forgot-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#forgot-sent", chromedp.ByQuery),
		chromedp.Text("#forgot-sent", &sent, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if sent != "If an account exists for that address, we sent a link." {
		t.Fatalf("after asking: %q", sent)
	}

	link := deliveredResetLink(t, mailDir)
	if !strings.HasPrefix(link, app.base+"/auth/reset?token=") {
		t.Fatalf("link %q", link)
	}
	const newPW = "a new passphrase from the mail"
	var notice, shownEmail string
	err = chromedp.Run(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible("#reset-form", chromedp.ByQuery),
		chromedp.SendKeys("#new_password", newPW, chromedp.ByQuery),
		chromedp.SendKeys("#confirm_password", newPW, chromedp.ByQuery),
		chromedp.Click("#reset-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.Text(".notice", &notice, chromedp.ByQuery),
		chromedp.SendKeys("#email", browserEmail, chromedp.ByQuery),
		chromedp.SendKeys("#password", newPW, chromedp.ByQuery),
		chromedp.Click("#submit", chromedp.ByQuery),
		chromedp.WaitVisible("#user-email", chromedp.ByQuery),
		chromedp.Text("#user-email", &shownEmail, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(notice, "Your password was changed") || shownEmail != browserEmail {
		t.Fatalf("notice %q, signed in as %q", notice, shownEmail)
	}
	if p := unexpected(console.list()); len(p) > 0 {
		t.Errorf("console problems:\n%s", strings.Join(p, "\n"))
	}
}

var resetLinkRE = regexp.MustCompile(`https?://[^\s"<>]+/auth/reset\?token=[A-Za-z0-9_-]+`)

// deliveredResetLink waits for the mail worker's .eml in dir and returns
// the one link of its text part.
func deliveredResetLink(t *testing.T, dir string) string {
	t.Helper()
	return deliveredLink(t, dir, browserEmail, resetLinkRE)
}

// deliveredLink waits for the mail worker's .eml to the address to in dir
// and returns the one link of its text part that re matches.
func deliveredLink(t *testing.T, dir, to string, re *regexp.Regexp) string {
	t.Helper()
	var m *mail.Message
	for deadline := time.Now().Add(20 * time.Second); m == nil; time.Sleep(20 * time.Millisecond) {
		files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				continue // being written
			}
			if msg, err := mail.ReadMessage(strings.NewReader(string(b))); err == nil && strings.Contains(msg.Header.Get("To"), "<"+to+">") {
				m = msg
			}
		}
		if m == nil && time.Now().After(deadline) {
			t.Fatalf("no message to %s delivered", to)
		}
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := multipart.NewReader(m.Body, params["boundary"]).NextPart() // the text part, decoded
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(p)
	if err != nil {
		t.Fatal(err)
	}
	links := re.FindAllString(string(text), -1)
	if len(links) != 1 {
		t.Fatalf("want one link, got %q in:\n%s", links, text)
	}
	return links[0]
}
