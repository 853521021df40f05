package main

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/gatehouse/gatehouse/mfa"
)

// addAuthenticator gives the page's browser tab a DevTools virtual
// authenticator: a platform authenticator that keeps discoverable
// credentials and verifies its user (as a fingerprint reader would),
// answering every prompt at once.
func addAuthenticator(ctx context.Context) error {
	if err := webauthn.Enable().WithEnableUI(false).Do(ctx); err != nil {
		return err
	}
	_, err := webauthn.AddVirtualAuthenticator(&webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
		Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true,
		HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
	}).Do(ctx)
	return err
}

// TestBrowserPasskey: in Chromium with a virtual authenticator, a person
// adds a passkey from the account page (its first second factor, so the
// recovery codes show once), signs in with the passkey alone, then with
// password and the passkey as the second step, and the account page lists
// the passkey with its last use. gatehouse is served at localhost: a
// passkey needs a domain name and a secure context.
func TestBrowserPasskey(t *testing.T) {
	app := startBrowserAppAt(t, "localhost", "")
	ctx, console := newBrowser(t)
	signOut := chromedp.Tasks{
		chromedp.Navigate(app.base + "/dashboard"),
		chromedp.WaitVisible("#logout", chromedp.ByQuery),
		chromedp.Click("#logout", chromedp.ByQuery),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
	}
	signInWithPassword := chromedp.Tasks{
		chromedp.Navigate(app.base + "/login"),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.SendKeys("#email", browserEmail, chromedp.ByQuery),
		chromedp.SendKeys("#password", browserPW, chromedp.ByQuery),
		chromedp.Click("#submit", chromedp.ByQuery),
	}

	// The virtual authenticator answers the sign-in page's autofill prompt
	// (conditional mediation) at once, with no one to pick a passkey; it is
	// switched off, as in a browser without it, except where tested.
	var noAutofill page.ScriptIdentifier
	autofill := func(on bool) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			if on {
				return page.RemoveScriptToEvaluateOnNewDocument(noAutofill).Do(ctx)
			}
			var err error
			noAutofill, err = page.AddScriptToEvaluateOnNewDocument(
				`PublicKeyCredential.isConditionalMediationAvailable = function () { return Promise.resolve(false); };`).Do(ctx)
			return err
		})
	}

	var codes []string
	err := chromedp.Run(ctx,
		autofill(false),
		chromedp.Navigate(app.base+"/login"),
		chromedp.ActionFunc(addAuthenticator),
		signInWithPassword,
		chromedp.WaitVisible("#user-email", chromedp.ByQuery),
		chromedp.Navigate(app.base+"/account"),
		chromedp.WaitVisible("#passkey-add", chromedp.ByQuery),
		chromedp.SendKeys("#passkey-name", "Test laptop", chromedp.ByQuery),
		chromedp.Click("#passkey-add", chromedp.ByQuery),
		chromedp.WaitVisible("#recovery-codes", chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll(".recovery-code")].map(e => e.textContent)`, &codes),
	)
	if err != nil {
		t.Fatalf("add a passkey: %v", err)
	}
	if len(codes) != mfa.RecoveryCodes {
		t.Fatalf("%d recovery codes shown, want %d", len(codes), mfa.RecoveryCodes)
	}

	// From the autofill: the sign-in page asks as it loads.
	var shown, method, factor string
	err = chromedp.Run(ctx, signOut, autofill(true),
		chromedp.Navigate(app.base+"/login"),
		chromedp.WaitVisible("#user-email", chromedp.ByQuery),
		chromedp.Text("#user-email", &shown, chromedp.ByQuery),
		chromedp.Text("#auth-method", &method, chromedp.ByQuery),
		chromedp.Text("#auth-factor", &factor, chromedp.ByQuery),
	)
	if err != nil || shown != browserEmail || method != "Passkey" || factor != "passkey" {
		t.Fatalf("passkey alone, from the autofill: signed in as %q with %q and factor %q, %v", shown, method, factor, err)
	}

	// With the button, and the page asked for is kept.
	var listed string
	err = chromedp.Run(ctx, autofill(false), signOut,
		chromedp.Navigate(app.base+"/login?next=%2Faccount"),
		chromedp.WaitVisible("#passkey-signin", chromedp.ByQuery),
		chromedp.Click("#passkey-signin", chromedp.ByQuery),
		chromedp.WaitVisible("#passkey-list", chromedp.ByQuery),
		chromedp.Text("#passkey-list", &listed, chromedp.ByQuery),
	)
	if err != nil || !strings.Contains(listed, "Test laptop") || strings.Contains(listed, "never") {
		t.Fatalf("passkey alone, with the button: account page lists %q, %v", listed, err)
	}

	err = chromedp.Run(ctx, signOut, signInWithPassword,
		chromedp.WaitVisible("#mfa-form", chromedp.ByQuery),
		chromedp.WaitVisible("#passkey-second", chromedp.ByQuery),
		chromedp.Click("#passkey-second", chromedp.ByQuery),
		chromedp.WaitVisible("#user-email", chromedp.ByQuery),
		chromedp.Text("#user-email", &shown, chromedp.ByQuery),
		chromedp.Text("#auth-factor", &factor, chromedp.ByQuery),
	)
	if err != nil || shown != browserEmail || factor != "passkey" {
		t.Fatalf("password and passkey: signed in as %q with factor %q, %v", shown, factor, err)
	}

	if p := unexpected(console.list()); len(p) > 0 {
		t.Errorf("console problems:\n%s", strings.Join(p, "\n"))
	}
}
