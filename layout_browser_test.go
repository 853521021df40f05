package main

// Real-browser layout test: every page a person sees, at a phone's width and
// a laptop's, must fit the window without a sideways scroll. A page wider
// than a phone's screen is shown zoomed out, which is unreadable.

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/testkit"
	"github.com/gatehouse/gatehouse/testop"
)

// layoutWidths are the windows every page is checked in: a phone (390x844,
// as an iPhone 12-15 reports) and a common laptop.
var layoutWidths = []layoutWidth{{390, 844, true}, {1280, 800, false}}

// layoutWidth is a window the layout tests load pages in.
type layoutWidth struct {
	w, h   int64
	mobile bool
}

// emulate sizes the window, as a phone (scale 2, touch) when mobile.
func (vp layoutWidth) emulate() chromedp.Action {
	var opts []chromedp.EmulateViewportOption
	if vp.mobile {
		opts = append(opts, chromedp.EmulateScale(2), chromedp.EmulateMobile)
	}
	return chromedp.EmulateViewport(vp.w, vp.h, opts...)
}

// The account in this test has long, unbreakable parts on purpose: they are
// what pushes a page wider than a phone.
const (
	layoutEmail = "maximilian.wolfeschlegelsteinhausenbergerdorff@engineering.example.com"
	layoutName  = "Maximilian Wolfeschlegelsteinhausenbergerdorff"
	layoutPW    = "a long enough password for layout"
)

// TestBrowserLayoutNoOverflow visits each page at each width and asserts
// that the page is no wider than the window; with GATEHOUSE_SCREENSHOTS set
// it saves a full-page PNG of each into that folder.
func TestBrowserLayoutNoOverflow(t *testing.T) {
	base, stdout, _, dbPath := startAdminServeDB(t)
	m := adminSetupURL.FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no setup link on stdout:\n%s", stdout.String())
	}
	setupURL := m[1]
	ctx, _ := newBrowserFor(t, 4*browserTimeout) // every page at two widths
	shots := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if shots != "" {
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// check loads url at every width, waits for ready, and asserts the fit.
	check := func(name, url, ready string) {
		t.Helper()
		for _, vp := range layoutWidths {
			var fit struct {
				ScrollWidth int64    `json:"scrollWidth"`
				InnerWidth  int64    `json:"innerWidth"`
				Wide        []string `json:"wide"`
				Scrolls     []string `json:"scrolls"`
			}
			var png []byte
			err := chromedp.Run(ctx,
				vp.emulate(),
				chromedp.Navigate(url),
				chromedp.WaitVisible(ready, chromedp.ByQuery),
				// The widest offenders are named, so a failure says what to fix.
				chromedp.Evaluate(fmt.Sprintf(`(() => {
  const w = %d, wide = [];
  const scrolled = el => { for (let p = el.parentElement; p; p = p.parentElement) { if (getComputedStyle(p).overflowX !== "visible") return true; } return false; };
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    const spills = el.scrollWidth > el.clientWidth && getComputedStyle(el).overflowX === "visible";
    if ((r.right > w + 0.5 || spills) && wide.length < 5 && (getComputedStyle(el).position === "absolute" || !scrolled(el))) {
      wide.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "") + " right=" + Math.round(r.right) + (spills ? " content=" + el.scrollWidth + "px in " + el.clientWidth + "px" : ""));
    }
  }
  const scrolls = [...document.querySelectorAll(".admin-table-wrap")].filter(e => e.scrollWidth > e.clientWidth).map(e => e.getAttribute("aria-label"));
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, wide: wide, scrolls: scrolls};
})()`, vp.w), &fit),
				chromedp.ActionFunc(func(ctx context.Context) error {
					if shots == "" {
						return nil
					}
					return chromedp.FullScreenshot(&png, 100).Do(ctx)
				}),
			)
			if err != nil {
				t.Fatalf("%s at %dx%d: %v", name, vp.w, vp.h, err)
			}
			// A mobile window zooms out to fit a too-wide page, which makes
			// innerWidth grow: so it must also still be the screen's width.
			if fit.ScrollWidth > fit.InnerWidth || fit.InnerWidth != vp.w {
				t.Errorf("%s (%s) at %dx%d: page is %dpx wide in a %dpx window; overflowing: %s",
					name, url, vp.w, vp.h, fit.ScrollWidth, fit.InnerWidth, strings.Join(fit.Wide, ", "))
			}
			// A table may scroll in its own wrapper as a last resort, but on
			// a laptop every column (the audit log's Details last) must show.
			if !vp.mobile && len(fit.Scrolls) > 0 {
				t.Errorf("%s at %dx%d: tables scroll sideways, hiding columns: %v", name, vp.w, vp.h, fit.Scrolls)
			}
			if shots != "" {
				p := filepath.Join(shots, fmt.Sprintf("%s-%d.png", name, vp.w))
				if err := os.WriteFile(p, png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}

	// Signed out: the login page, the error page, first-admin setup.
	check("login", base+"/login", "#login-form")
	check("error", base+"/no/such/page", "#error-title")
	check("setup", setupURL, "#setup-form")

	err := chromedp.Run(ctx,
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(setupURL),
		chromedp.WaitVisible("#setup-form", chromedp.ByQuery),
		chromedp.SendKeys("#email", layoutEmail, chromedp.ByQuery),
		chromedp.SendKeys("#name", layoutName, chromedp.ByQuery),
		chromedp.SendKeys("#password", layoutPW, chromedp.ByQuery),
		chromedp.SendKeys("#password_again", layoutPW, chromedp.ByQuery),
		chromedp.Click("#setup-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#user-table", chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("setup: %v", err)
	}

	// A linked identity, as single sign-on would leave it: the browser has no
	// provider to link one through. Its long subject and email are real-world.
	db, err := models.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := db.UserByEmail(context.Background(), layoutEmail)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	err = db.CreateIdentity(context.Background(), &models.Identity{
		UserID: admin.ID, ProviderID: "acme", Issuer: "https://login.acme-corporation.example.com/tenants/5f0c8a3e",
		Subject: "00u1a2b3c4d5e6f7g8h9i0j1k2l3m4n5o6p7q8r9s0", Email: layoutEmail, Claims: "{}",
	})
	// Audit events as the console writes them, with the longest details it
	// produces: an unlinked subject, and an edit naming old and new emails.
	for _, e := range []models.Event{
		{Kind: models.EventIdentityUnlinked, ActorID: &admin.ID, UserID: &admin.ID, Email: layoutEmail, Method: models.MethodAdmin, ProviderID: "acme",
			IP: "2001:db8:85a3:0000:0000:8a2e:0370:7334", Detail: "subject 00u1a2b3c4d5e6f7g8h9i0j1k2l3m4n5o6p7q8r9s0t1u2v3w4x5y6z7"},
		{Kind: models.EventUserUpdated, ActorID: &admin.ID, UserID: &admin.ID, Email: layoutEmail, Method: models.MethodAdmin,
			IP: "203.0.113.77", Detail: "email changed from " + layoutEmail + " to another." + layoutEmail + "; name changed; administrator role granted"},
	} {
		if err == nil {
			err = db.RecordEvent(context.Background(), &e)
		}
	}
	// A message the relay refused for good, with a long address and error.
	if err == nil {
		err = db.EnqueueMail(context.Background(), models.OutboxMail{
			MessageID: strings.Repeat("a", 32), Recipient: layoutEmail, Subject: "Reset your gatehouse password", Body: "not shown",
		})
	}
	var claimed models.ClaimedMail
	if err == nil {
		claimed, _, err = db.ClaimMail(context.Background(), "layout", time.Minute)
	}
	if err == nil {
		_, err = db.MarkMailFailed(context.Background(), claimed, errors.New("smtp: RCPT TO: 550 5.1.1 <"+layoutEmail+
			">: Recipient address rejected: User unknown in virtual mailbox table"), true, 10)
	}
	// An invited account and a change of address waiting to be confirmed,
	// each with a link whose token the test knows, for the pages the links
	// open and the invited account's page.
	inviteTok, verifyTok := layoutLink(t), layoutLink(t)
	invited := &models.User{Email: "invited." + layoutEmail, Name: layoutName}
	if err == nil {
		err = db.CreateUser(context.Background(), invited)
	}
	if err == nil {
		err = db.AddEmailLink(context.Background(), &models.EmailLink{
			TokenHash: sessionstore.Hash(inviteTok), Purpose: models.LinkInvite, UserID: invited.ID, Email: invited.Email,
		}, 24*time.Hour)
	}
	if err == nil {
		err = db.AddEmailLink(context.Background(), &models.EmailLink{
			TokenHash: sessionstore.Hash(verifyTok), Purpose: models.LinkVerify, UserID: admin.ID, Email: "another." + layoutEmail, FromEmail: layoutEmail,
		}, 24*time.Hour)
	}
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	userPage := fmt.Sprintf("%s/admin/users/%d", base, admin.ID)

	check("dashboard", base+"/dashboard", "#user-email")
	check("account", base+"/account", "main")
	// Setting up an authenticator app (left waiting: nothing else changes).
	if err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/account"),
		chromedp.WaitVisible("#totp-begin", chromedp.ByQuery),
		chromedp.Click("#totp-begin", chromedp.ByQuery),
		chromedp.WaitVisible("#totp-form", chromedp.ByQuery),
	); err != nil {
		t.Fatalf("set up an app: %v", err)
	}
	check("mfa-setup", base+"/account/mfa/totp", "#totp-form")
	check("admin-users", base+"/admin/users", "#user-table")
	check("admin-user", userPage, "#identity-table")
	check("admin-new-user", base+"/admin/users/new", "#new-user-form")
	check("admin-audit", base+"/admin/audit", "#audit-table")
	check("reauth", base+"/auth/reauth?next="+userPage[len(base):]+"/disable", "#reauth-action")
	check("admin-confirm", userPage+"/disable", "#confirm-form")
	check("admin-confirm-password", userPage+"/password", "#confirm-form")
	check("logout", base+"/auth/logout", "#logout")
	check("admin-sso-new", base+"/admin/sso/new", "#sso-new-form")
	check("admin-mail", base+"/admin/mail", "#failed-mail-table")
	check("admin-user-invited", fmt.Sprintf("%s/admin/users/%d", base, invited.ID), "#invitation")
	check("verify", base+"/auth/verify?token="+verifyTok, "#verify-form")
	check("invite", base+"/auth/invite?token="+inviteTok, "#invite-form")
	check("demo-mail", startDemoMail(t)+"/demo/mail", "#demo-mail-list")

	// "Add an SSO provider" with its results: long URIs and the YAML to
	// paste, which may scroll inside its own box but not widen the page.
	op, err := testop.Start(testop.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	for _, vp := range layoutWidths {
		var fit struct {
			ScrollWidth int64 `json:"scrollWidth"`
			InnerWidth  int64 `json:"innerWidth"`
		}
		err := chromedp.Run(ctx,
			vp.emulate(),
			chromedp.Navigate(base+"/admin/sso/new"),
			chromedp.WaitVisible("#sso-new-form", chromedp.ByQuery),
			chromedp.SendKeys("#issuer", op.Issuer()+"/.well-known/openid-configuration", chromedp.ByQuery),
			chromedp.Click("#sso-new-submit", chromedp.ByQuery),
			chromedp.WaitVisible("#sso-found", chromedp.ByQuery),
			chromedp.Evaluate(`({scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth})`, &fit),
		)
		if err != nil {
			t.Fatalf("admin-sso-new results at %dx%d: %v", vp.w, vp.h, err)
		}
		if fit.ScrollWidth > fit.InnerWidth || fit.InnerWidth != vp.w {
			t.Errorf("admin-sso-new results at %dx%d: page is %dpx wide in a %dpx window", vp.w, vp.h, fit.ScrollWidth, fit.InnerWidth)
		}
	}

	// The user page must really have had both tables the bug needs.
	var tables int
	if err := chromedp.Run(ctx,
		chromedp.Navigate(userPage),
		chromedp.WaitVisible("#session-table", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("#identity-table tbody tr, #session-table tbody tr").length`, &tables),
	); err != nil {
		t.Fatal(err)
	}
	if tables < 2 {
		t.Errorf("admin user page had %d identity and session rows, want at least one of each", tables)
	}
}

// layoutLink is a new link token.
func layoutLink(t *testing.T) string {
	t.Helper()
	tok, err := sessionstore.NewToken(nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// startDemoMail serves a gatehouse built as the demo builds it, its mail
// captured, with one message of long lines and a long link captured, and
// returns its base URL.
func startDemoMail(t *testing.T) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	cfg := config.Default()
	cfg.Database = testkit.Database(t, "demo.db")
	cfg.BaseURL = base
	cfg.Mail = &mail.Config{From: demoMailFrom, Dir: t.TempDir()}
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	captured := mail.NewMemoryTransport(0)
	a, err := app.New(context.Background(), cfg, app.Options{DemoMail: captured})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	srv.Config.Handler = a.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	r, err := a.Mailer.Compose("test", netmail.Address{Name: layoutName, Address: layoutEmail}, map[string]string{
		"Name": layoutName, "Site": "gatehouse", "Link": base + "/auth/reset?token=" + strings.Repeat("Zm9vYmFy", 6),
	})
	if err == nil {
		err = captured.Deliver(context.Background(), mail.Envelope{ID: r.ID, To: r.To}, r.Raw)
	}
	if err != nil {
		t.Fatal(err)
	}
	return base
}
