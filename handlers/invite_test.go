package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
	gmail "github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sso"
)

const (
	rootAdmin = "root@example.com"
	invitee   = "nia@example.com"
	newPW     = "a passphrase of my own"
)

// mailEnvOpts shape newMailEnv.
type mailEnvOpts struct {
	mail     bool // a mail block (messages written to a folder)
	throttle bool
	notices  gmail.Notices
	// providers are the configured OpenID Providers.
	providers []config.Provider
	// mfaFor is mfa.required_for ("" none).
	mfaFor accounts.MFARequirement
	// localhost makes base_url http://localhost:PORT (the server still
	// listens, and the tests still connect, on 127.0.0.1): passkeys need
	// a domain name, and are off at an IP address.
	localhost bool
	// login is login.mode ("" password).
	login config.LoginMode
}

// newMailEnv is an env with an administrator (rootAdmin) and alice, bob
// and carol (disabled), with or without mail.
func newMailEnv(t testing.TB, o mailEnvOpts) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{server: newServer(t, serverOpts{
		throttle:  o.throttle,
		providers: func(string) []config.Provider { return o.providers },
		configure: func(c *config.Config) {
			if o.mfaFor != "" {
				c.MFA.RequiredFor = o.mfaFor
			}
			if o.login != "" {
				c.Login.Mode = o.login
			}
			if o.mail {
				c.Mail = &gmail.Config{From: "gatehouse <no-reply@example.com>", Dir: dir, Notices: o.notices}
			}
			if o.localhost {
				c.BaseURL = strings.Replace(c.BaseURL, "//127.0.0.1:", "//localhost:", 1)
			}
		},
	})}
	e.client = e.newClient()
	e.server.createUser(t, rootAdmin, "Root Admin", goodPW, true)
	e.createUser(t, alice, goodPW, false)
	e.createUser(t, bob, goodPW, false)
	u := e.createUser(t, carol, goodPW, false)
	if err := e.db.SetDisabled(context.Background(), u.ID, true); err != nil {
		t.Fatal(err)
	}
	return e
}

// signedIn is a browser signed in as email.
func (e *env) signedIn(t testing.TB, email, pw string) *browser {
	t.Helper()
	b := e.newBrowser()
	b.post(t, "/auth/login", url.Values{"email": {email}, "password": {pw}}).want(t, http.StatusSeeOther, "/dashboard")
	return b
}

// user is the account with email as stored now.
func (e *env) user(t testing.TB, email string) *models.User {
	t.Helper()
	u, err := e.db.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatalf("%s: %v", email, err)
	}
	return u
}

func acceptForm(token, pw, confirm string) url.Values {
	return url.Values{"token": {token}, "new_password": {pw}, "confirm_password": {confirm}}
}

func newUserInvite(email string) url.Values {
	return url.Values{"email": {email}, "name": {"Nia New"}, "password_mode": {"invite"}}
}

var inviteLinkRE = regexp.MustCompile(`id="invite-link" value="([^"]+)"`)

// shownLink is the invitation link an admin page shows.
func shownLink(t testing.TB, r *response) string {
	t.Helper()
	m := inviteLinkRE.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no invitation link on the page:\n%s", r.body)
	}
	return strings.ReplaceAll(m[1], "&amp;", "&")
}

// TestInviteByMail: an administrator invites someone; the message carries
// one link, which opens a form with the password rules of every new
// password, signs the person in, verifies the address, and works once.
func TestInviteByMail(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{mail: true})
	admin := e.signedIn(t, rootAdmin, goodPW)
	r := admin.post(t, "/admin/users/new", newUserInvite(invitee)).want(t, http.StatusSeeOther, "")
	if !strings.HasSuffix(r.loc, "?done=invited") {
		t.Fatalf("after inviting: %q", r.loc)
	}
	admin.page(t, r.loc).want(t, http.StatusOK, "").has(t, "an invitation was sent", "Resend invitation", "Copy invitation link", "Not confirmed")

	u := e.user(t, invitee)
	if u.HasPassword() || u.EmailVerified() || u.Name != "Nia New" {
		t.Fatalf("invited account %+v", u)
	}
	msgs := e.outbox(t)
	if len(msgs) != 1 || msgs[0].to != invitee || !strings.Contains(msgs[0].subject, "invited") {
		t.Fatalf("outbox %+v", msgs)
	}
	text, _ := parts(t, msgs[0].raw)
	if !strings.Contains(text, "Root Admin invited you") || !strings.Contains(text, "within 7 days") {
		t.Fatalf("invitation text:\n%s", text)
	}
	link := e.linkIn(t, msgs[0], "/auth/invite")
	tok := tokenOf(t, link)

	p := e.newBrowser()
	r = p.get(t, link).want(t, http.StatusOK, "").has(t, invitee, `name="new_password"`, `name="confirm_password"`)
	if got := r.header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Fatalf("Referrer-Policy %q", got)
	}
	p.post(t, "/auth/invite", acceptForm(tok, newPW, newPW+"x")).want(t, http.StatusBadRequest, "").has(t, "do not match")
	p.post(t, "/auth/invite", acceptForm(tok, "short", "short")).want(t, http.StatusBadRequest, "").has(t, "at least")
	p.post(t, "/auth/invite", acceptForm(tok, "", "")).want(t, http.StatusBadRequest, "")
	if e.user(t, invitee).HasPassword() {
		t.Fatal("a refused form set the password")
	}
	p.post(t, "/auth/invite", acceptForm(tok, newPW, newPW)).want(t, http.StatusSeeOther, "/account?notice=invitation_accepted")
	p.page(t, "/account?notice=invitation_accepted").want(t, http.StatusOK, "").has(t, "Welcome!", invitee, "(confirmed)")

	u = e.user(t, invitee)
	if !u.HasPassword() || !u.EmailVerified() {
		t.Fatalf("after accepting: %+v", u)
	}
	if n := len(e.outbox(t)); n != 1 {
		t.Fatalf("%d messages: choosing a first password sends no notice", n)
	}
	// Used: refused, nothing changes.
	q := e.newBrowser()
	q.get(t, link).want(t, http.StatusNotFound, "").has(t, "This invitation link does not work")
	q.post(t, "/auth/invite", acceptForm(tok, "another passphrase", "another passphrase")).want(t, http.StatusNotFound, "")
	e.signedIn(t, invitee, newPW)
	e.wantEvents(t, models.EventInvitationSent, 1)
	e.wantEvents(t, models.EventInvitationAccepted, 1)
	e.noServerErrors(t)
}

// TestInviteWithoutMail: with no mail block the administrator gets the link
// to pass on, once; a new one replaces it; an account with a password is
// not invited.
func TestInviteWithoutMail(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{})
	admin := e.signedIn(t, rootAdmin, goodPW)
	admin.get(t, "/admin/users/new").want(t, http.StatusOK, "").has(t, "mail is not set up")
	r := admin.post(t, "/admin/users/new", newUserInvite(invitee)).want(t, http.StatusOK, "").has(t, "The account was created.", "pass this link on yourself")
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Fatalf("Cache-Control %q", got)
	}
	first := shownLink(t, r)
	if !strings.HasPrefix(first, e.base+"/auth/invite?token=") {
		t.Fatalf("link %q", first)
	}
	if n := countRows(t, e.dbPath, "mail_outbox", ""); n != 0 {
		t.Fatalf("%d messages queued without mail", n)
	}
	u := e.user(t, invitee)
	page := "/admin/users/" + strconv.FormatInt(u.ID, 10)
	admin.page(t, page).want(t, http.StatusOK, "").has(t, "Invited ", "Copy invitation link").lacks(t, "Resend invitation", "Send invitation")
	admin.post(t, page+"/invite", nil).want(t, http.StatusConflict, "").has(t, "Mail is not set up")

	second := shownLink(t, admin.post(t, page+"/invite/link", nil).want(t, http.StatusOK, ""))
	if second == first {
		t.Fatal("the same link twice")
	}
	p := e.newBrowser()
	p.get(t, first).want(t, http.StatusNotFound, "")
	p.get(t, second).want(t, http.StatusOK, "")
	p.post(t, "/auth/invite", acceptForm(tokenOf(t, second), newPW, newPW)).want(t, http.StatusSeeOther, "/account?notice=invitation_accepted")

	admin.page(t, page).want(t, http.StatusOK, "").lacks(t, "Copy invitation link")
	admin.post(t, page+"/invite/link", nil).want(t, http.StatusConflict, "").has(t, "has a password already")
	e.wantEvents(t, models.EventInvitationLinked, 2)
	e.noServerErrors(t)
}

// TestInviteLinkNeedsSudo: a link shown on the page lets its holder in, so
// showing one needs a recent sign-in; without one nothing is made.
func TestInviteLinkNeedsSudo(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{})
	admin := e.signedIn(t, rootAdmin, goodPW)
	e.clock.Advance(11 * time.Minute)
	r := admin.post(t, "/admin/users/new", newUserInvite(invitee)).want(t, http.StatusSeeOther, "")
	if !strings.HasPrefix(r.loc, "/auth/reauth") {
		t.Fatalf("outside sudo mode: %q", r.loc)
	}
	if _, err := e.db.UserByEmail(context.Background(), invitee); err == nil {
		t.Fatal("the account was created outside sudo mode")
	}
	sso := e.createUser(t, "sso@example.com", "", false)
	page := "/admin/users/" + strconv.FormatInt(sso.ID, 10)
	r = admin.post(t, page+"/invite/link", nil).want(t, http.StatusSeeOther, "")
	if !strings.HasPrefix(r.loc, "/auth/reauth") {
		t.Fatalf("outside sudo mode: %q", r.loc)
	}
	if n := countRows(t, e.dbPath, "email_links", ""); n != 0 {
		t.Fatalf("%d links made outside sudo mode", n)
	}
}

// TestInviteLinkEnds: the link stops working after 7 days, when the
// password is set another way, when the address changes, and when a
// newer invitation is sent.
func TestInviteLinkEnds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	invite := func(t *testing.T, e *env) (*models.User, string) {
		inv, err := e.app.Accounts.Invite(ctx, accounts.NewUser{Email: invitee}, "Root", true)
		if err != nil {
			t.Fatal(err)
		}
		return inv.User, inv.Link
	}
	t.Run("expires", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, mailEnvOpts{mail: true})
		_, link := invite(t, e)
		e.clock.Advance(accounts.InviteTTL - time.Minute)
		e.newBrowser().get(t, link).want(t, http.StatusOK, "")
		e.clock.Advance(time.Minute)
		e.newBrowser().get(t, link).want(t, http.StatusNotFound, "")
		e.newBrowser().post(t, "/auth/invite", acceptForm(tokenOf(t, link), newPW, newPW)).want(t, http.StatusNotFound, "")
	})
	t.Run("password set by an administrator", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, mailEnvOpts{mail: true})
		u, link := invite(t, e)
		if err := e.app.Accounts.SetPassword(ctx, u.ID, "set by an administrator", "by an administrator"); err != nil {
			t.Fatal(err)
		}
		e.newBrowser().get(t, link).want(t, http.StatusNotFound, "")
	})
	t.Run("address changed", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, mailEnvOpts{mail: true})
		u, link := invite(t, e)
		if _, err := e.app.Accounts.UpdateUser(ctx, u.ID, u.Name, "nia.new@example.com", false); err != nil {
			t.Fatal(err)
		}
		e.newBrowser().get(t, link).want(t, http.StatusNotFound, "")
	})
	t.Run("resent", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, mailEnvOpts{mail: true})
		u, link := invite(t, e)
		admin := e.signedIn(t, rootAdmin, goodPW)
		admin.post(t, "/admin/users/"+strconv.FormatInt(u.ID, 10)+"/invite", nil).want(t, http.StatusSeeOther, "")
		e.newBrowser().get(t, link).want(t, http.StatusNotFound, "")
		msgs := e.outbox(t)
		if len(msgs) != 2 {
			t.Fatalf("%d messages", len(msgs))
		}
		e.newBrowser().get(t, e.linkIn(t, msgs[1], "/auth/invite")).want(t, http.StatusOK, "")
	})
	t.Run("account disabled", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, mailEnvOpts{mail: true})
		u, link := invite(t, e)
		if err := e.app.Accounts.SetDisabled(ctx, e.user(t, rootAdmin), u.ID, true); err != nil {
			t.Fatal(err)
		}
		e.newBrowser().get(t, link).want(t, http.StatusNotFound, "")
		if _, err := e.app.Accounts.Reinvite(ctx, u.ID, "Root", true); accounts.ErrorCode(err) != accounts.CodeConflict {
			t.Fatalf("reinvite a disabled account: %v", err)
		}
		// Enabled again, the account has no link that worked before.
		if err := e.app.Accounts.SetDisabled(ctx, e.user(t, rootAdmin), u.ID, false); err != nil {
			t.Fatal(err)
		}
		e.newBrowser().get(t, link).want(t, http.StatusNotFound, "")
	})
	t.Run("disabled in the console", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, mailEnvOpts{mail: true})
		u, link := invite(t, e)
		admin := e.signedIn(t, rootAdmin, goodPW)
		page := "/admin/users/" + strconv.FormatInt(u.ID, 10)
		admin.post(t, page+"/disable", nil).want(t, http.StatusSeeOther, "")
		admin.post(t, page+"/enable", nil).want(t, http.StatusSeeOther, "")
		e.newBrowser().get(t, link).want(t, http.StatusNotFound, "")
	})
}

// TestInviteSignedInAccount: an account that signs in with single sign-on
// is not invited (a link would add a password behind its owner's back),
// and a link made before its identity was linked stops working.
func TestInviteSignedInAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newMailEnv(t, mailEnvOpts{mail: true})
	inv, err := e.app.Accounts.Invite(ctx, accounts.NewUser{Email: invitee}, "Root", false)
	if err != nil {
		t.Fatal(err)
	}
	u := inv.User
	if err := e.app.Accounts.AttachIdentity(ctx, u, "acme", &sso.Identity{Issuer: "https://idp.example", Subject: "nia", Email: invitee}); err != nil {
		t.Fatal(err)
	}
	e.newBrowser().post(t, "/auth/invite", acceptForm(tokenOf(t, inv.Link), newPW, newPW)).want(t, http.StatusNotFound, "")
	if e.user(t, invitee).HasPassword() {
		t.Fatal("an invitation set a password on an account that signs in with SSO")
	}
	admin := e.signedIn(t, rootAdmin, goodPW)
	page := "/admin/users/" + strconv.FormatInt(u.ID, 10)
	admin.page(t, page).want(t, http.StatusOK, "").lacks(t, "Copy invitation link", "Send invitation")
	admin.post(t, page+"/invite/link", nil).want(t, http.StatusConflict, "").has(t, "signs in with single sign-on already")
	admin.post(t, page+"/invite", nil).want(t, http.StatusConflict, "")
}

// TestInviteRefusals: a taken address, bad tokens and forms change
// nothing and send nothing.
func TestInviteRefusals(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{mail: true})
	admin := e.signedIn(t, rootAdmin, goodPW)
	admin.post(t, "/admin/users/new", newUserInvite(alice)).want(t, http.StatusConflict, "").has(t, "already exists")
	admin.post(t, "/admin/users/new", newUserInvite("not an address")).want(t, http.StatusBadRequest, "")
	for _, tok := range []string{"", "x", strings.Repeat("A", 43), strings.Repeat("A", 5000), "%00", "a\r\nb"} {
		e.newBrowser().get(t, "/auth/invite?token="+url.QueryEscape(tok)).want(t, http.StatusNotFound, "")
		e.newBrowser().post(t, "/auth/invite", acceptForm(tok, newPW, newPW)).want(t, http.StatusNotFound, "")
	}
	if n := countRows(t, e.dbPath, "mail_outbox", ""); n != 0 {
		t.Fatalf("%d messages", n)
	}
	if n := countRows(t, e.dbPath, "email_links", ""); n != 0 {
		t.Fatalf("%d links", n)
	}
	// Header injection through the name: refused before anything is stored.
	r := admin.post(t, "/admin/users/new", url.Values{"email": {invitee}, "name": {"Nia\r\nBcc: all@example.com"}, "password_mode": {"invite"}})
	if r.status != http.StatusBadRequest {
		t.Fatalf("a name with a line break: %d", r.status)
	}
	if n := countRows(t, e.dbPath, "mail_outbox", ""); n != 0 {
		t.Fatalf("%d messages", n)
	}
	e.noServerErrors(t)
}

// TestInvitePage offers the provider trusted for the invited address
// beside the password form.
func TestInvitePage(t *testing.T) {
	t.Parallel()
	p := deadProvider("acme", "Acme")
	p.EmailDomains = []string{"example.com"}
	p.Link = accounts.LinkVerifiedEmail
	e := newMailEnv(t, mailEnvOpts{mail: true, providers: []config.Provider{p, deadProvider("other", "Other")}})
	inv, err := e.app.Accounts.Invite(context.Background(), accounts.NewUser{Email: invitee}, "Root", true)
	if err != nil {
		t.Fatal(err)
	}
	r := e.newBrowser().get(t, inv.Link).want(t, http.StatusOK, "")
	r.has(t, `action="/auth/login"`, `name="provider" value="acme"`, "Continue with Acme", `value="`+invitee+`"`).lacks(t, "Continue with Other")
	text, _ := parts(t, e.outbox(t)[0].raw)
	if !strings.Contains(text, "sign in with Acme or choose a password") {
		t.Fatalf("invitation text:\n%s", text)
	}
}
