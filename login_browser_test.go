package main

// Real-browser test of the login page's show-password toggle and focus
// handling (issue #11 item 6), with and without JavaScript.

import (
	"context"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// revealState is what a person sees of the password field and its toggle.
type revealState struct {
	Type         string `json:"type"`
	Pressed      string `json:"pressed"`
	Label        string `json:"label"`
	ButtonShown  bool   `json:"buttonShown"`
	ForgotShown  bool   `json:"forgotShown"`
	Focus        string `json:"focus"`
	Email        string `json:"email"`
	Password     string `json:"password"`
	TypeOnSubmit string `json:"typeOnSubmit"`
}

const revealStateJS = `(() => {
  const pw = document.getElementById("password");
  const b = document.getElementById("password-reveal");
  const forgot = document.getElementById("forgot");
  return {
    type: pw.type,
    pressed: b.getAttribute("aria-pressed"),
    label: b.getAttribute("aria-label"),
    buttonShown: b.getClientRects().length > 0,
    forgotShown: forgot.getClientRects().length > 0,
    focus: document.activeElement ? document.activeElement.id : "",
    email: document.getElementById("email").value,
    password: pw.value,
  };
})()`

// submitTypeJS shows the password, then submits with the submission itself
// stopped, and reports the field's type once the page's submit handler ran.
const submitTypeJS = `(() => {
  const form = document.getElementById("login-form");
  document.getElementById("password-reveal").click();
  const shown = document.getElementById("password").type;
  form.addEventListener("submit", e => e.preventDefault(), {once: true});
  form.requestSubmit(document.getElementById("submit"));
  return shown + "," + document.getElementById("password").type;
})()`

func TestBrowserLoginShowPasswordAndFocus(t *testing.T) {
	app := startBrowserApp(t)
	ctx, console := newBrowser(t)

	var st revealState
	check := func(step string, want revealState) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			if err := chromedp.Evaluate(revealStateJS, &st).Do(ctx); err != nil {
				return err
			}
			if st != want {
				t.Errorf("%s:\n got  %+v\n want %+v", step, st, want)
			}
			return nil
		})
	}
	const typed = "not the right password"
	hidden := revealState{Type: "password", Pressed: "false", Label: "Show password", ButtonShown: true, ForgotShown: true}
	initial := hidden
	initial.Focus = "email"
	filled := hidden
	filled.Email, filled.Password, filled.Focus = browserEmail, typed, "password"
	shown := filled
	shown.Type, shown.Pressed = "text", "true"
	var onSubmit string
	err := chromedp.Run(ctx,
		chromedp.Navigate(app.base+"/login"),
		chromedp.WaitVisible("#password-reveal", chromedp.ByQuery), // login.js showed it
		check("initial page", initial),
		chromedp.SendKeys("#email", browserEmail, chromedp.ByQuery),
		chromedp.SendKeys("#password", typed, chromedp.ByQuery),
		chromedp.Click("#password-reveal", chromedp.ByQuery),
		check("password shown", shown),
		chromedp.Click("#password-reveal", chromedp.ByQuery),
		check("password hidden again", filled),
		chromedp.Evaluate(submitTypeJS, &onSubmit),
	)
	if err != nil {
		t.Fatal(err)
	}
	if onSubmit != "text,password" {
		t.Errorf("shown then submitted: types %q, want text then password (never sent as text)", onSubmit)
	}
	// A wrong password: the page comes back with the email kept and the
	// focus in the empty password field, ready for the next try.
	afterFail := hidden
	afterFail.Email, afterFail.Focus = browserEmail, "password"
	ssoMode := revealState{Type: "password", Pressed: "false", Label: "Show password", Email: browserEmail, Focus: "email"}
	err = chromedp.Run(ctx,
		chromedp.Click("#password-reveal", chromedp.ByQuery), // shown while submitting for real
		chromedp.Click("#submit", chromedp.ByQuery),
		chromedp.WaitVisible("#form-error", chromedp.ByQuery),
		chromedp.WaitVisible("#password-reveal", chromedp.ByQuery),
		check("after a wrong password", afterFail),
		// SSO mode: no password, so neither its toggle nor the
		// forgot-password line shows.
		chromedp.Click("#sso-toggle", chromedp.ByQuery),
		chromedp.WaitNotVisible("#password", chromedp.ByQuery),
		check("SSO mode", ssoMode),
		chromedp.Click("#sso-toggle", chromedp.ByQuery),
		chromedp.WaitVisible("#password", chromedp.ByQuery),
		check("back to password", afterFail),
	)
	if err != nil {
		t.Fatal(err)
	}

	// Without JavaScript the toggle could do nothing: it stays hidden, and
	// the rest of the page (the forgot-password line) is there.
	noJS := hidden
	noJS.ButtonShown, noJS.Focus = false, "email"
	err = chromedp.Run(ctx,
		emulation.SetScriptExecutionDisabled(true),
		chromedp.Navigate(app.base+"/login"),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		emulation.SetScriptExecutionDisabled(false), // for Evaluate; the page's script did not run
		check("without JavaScript", noJS),
	)
	if err != nil {
		t.Fatal(err)
	}
	// Chromium reports the wrong password's 401 answer; nothing else may appear.
	if p := unexpected(console.list(), "status of 401 (Unauthorized) ("+app.base+"/auth/login)"); len(p) > 0 {
		t.Errorf("console problems:\n%v", p)
	}
}
