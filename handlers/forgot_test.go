package handlers_test

// "Forgot password?" end to end over HTTP, with mail configured (mail.dir:
// the messages are read from the outbox, where the request leaves them).

import (
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/config"
	gmail "github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/models"
)

const sam = "sam@example.com" // SSO-only, signs in with Acme

// newForgotEnv is gatehouse with mail on (to a folder), provider Acme,
// and alice and bob (passwords), carol (disabled) and sam (SSO-only, an
// Acme identity).
func newForgotEnv(t testing.TB, throttle bool) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{server: newServer(t, serverOpts{
		throttle:  throttle,
		providers: func(string) []config.Provider { return []config.Provider{deadProvider("acme", "Acme")} },
		configure: func(c *config.Config) {
			// Every sign-in here is from a new browser: those notices are
			// TestNewBrowserNotice's.
			c.Mail = &gmail.Config{From: "gatehouse <no-reply@example.com>", Dir: dir, Notices: gmail.Notices{NewBrowser: new(false)}}
		},
	})}
	e.client = e.newClient()
	e.createUser(t, alice, goodPW, false)
	e.createUser(t, bob, goodPW, false)
	u := e.createUser(t, carol, goodPW, false)
	ctx := context.Background()
	if err := e.db.SetDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	s := e.createUser(t, sam, "", false)
	if err := e.db.CreateIdentity(ctx, &models.Identity{UserID: s.ID, ProviderID: "acme", Issuer: "http://127.0.0.1:9/acme", Subject: "sam-1", Email: sam}); err != nil {
		t.Fatal(err)
	}
	return e
}

// sentMail is one outbox row.
type sentMail struct {
	to, subject, raw string
}

// outbox is every message queued so far, oldest first.
func (e *env) outbox(t testing.TB) []sentMail {
	t.Helper()
	rows, err := rawSQL(t, e.dbPath).Query(`SELECT recipient, subject, body FROM mail_outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []sentMail
	for rows.Next() {
		var m sentMail
		if err := rows.Scan(&m.to, &m.subject, &m.raw); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// parts are a message's decoded text and HTML bodies.
func parts(t testing.TB, raw string) (text, html string) {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("message does not parse: %v\n%s", err, raw)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // quoted-printable is decoded here
		if err == io.EOF {
			return text, html
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
			html = string(b)
		} else {
			text = string(b)
		}
	}
}

var urlRE = regexp.MustCompile(`https?://[^\s"<>]+`)

// resetLink is the one link of a reset message, checked to be the same in
// both parts and to point at the reset page of base_url.
func (e *env) resetLink(t testing.TB, m sentMail) string {
	t.Helper()
	return e.linkIn(t, m, "/auth/reset")
}

// linkIn is the one link in both parts of m, which must open path with a
// token.
func (e *env) linkIn(t testing.TB, m sentMail, path string) string {
	t.Helper()
	text, html := parts(t, m.raw)
	tl, hl := urlRE.FindAllString(text, -1), urlRE.FindAllString(html, -1)
	if len(tl) != 1 || len(hl) != 1 {
		t.Fatalf("want exactly one link in each part, got text %q, html %q", tl, hl)
	}
	link := strings.ReplaceAll(hl[0], "&amp;", "&")
	if tl[0] != link {
		t.Fatalf("text link %q, html link %q", tl[0], link)
	}
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(link, e.base+path+"?token=") || len(u.Query().Get("token")) < 43 {
		t.Fatalf("link %q is not a %s link at %s", link, path, e.base)
	}
	return link
}

func (e *env) forgot(t *testing.T, email string) *response {
	t.Helper()
	return e.do(t, req{method: "POST", path: "/auth/forgot", form: url.Values{"email": {email}}})
}

func resetForm(token, pw, confirm string) url.Values {
	return url.Values{"token": {token}, "new_password": {pw}, "confirm_password": {confirm}}
}

func tokenOf(t testing.TB, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

// TestForgotSameAnswerForEveryAddress: a local account, an SSO-only one,
// a disabled one and an unknown address get the same status and body;
// only the first two get a message, the SSO-only one with no link.
func TestForgotSameAnswerForEveryAddress(t *testing.T) {
	t.Parallel()
	e := newForgotEnv(t, false)
	r := e.do(t, req{path: "/auth/forgot"}).want(t, http.StatusOK, "")
	r.has(t, `<form method="post" action="/auth/forgot"`)
	e.do(t, req{path: "/login"}).has(t, `<a href="/auth/forgot" id="forgot-link">Forgot your password?</a>`).lacks(t, "Ask your administrator")

	var first *response
	for i, email := range []string{alice, "nobody@example.com", sam, carol, " ALICE@Example.com "} {
		r := e.forgot(t, email)
		if r.status != http.StatusOK || !strings.Contains(r.body, "If an account exists for that address, we sent a link.") {
			t.Fatalf("%s: %d\n%s", email, r.status, r.body)
		}
		if first == nil {
			first = r
		} else if r.status != first.status || r.body != first.body {
			t.Fatalf("%s: the answer differs from %s's:\n%s\n---\n%s", email, alice, r.body, first.body)
		}
		if n := len(e.outbox(t)); n != map[int]int{0: 1, 1: 1, 2: 2, 3: 2, 4: 3}[i] {
			t.Fatalf("after %s: %d messages queued", email, n)
		}
	}
	msgs := e.outbox(t)
	if msgs[0].to != alice || msgs[1].to != sam || msgs[2].to != alice {
		t.Fatalf("recipients %q %q %q", msgs[0].to, msgs[1].to, msgs[2].to)
	}
	e.resetLink(t, msgs[0])
	text, html := parts(t, msgs[1].raw)
	if urlRE.MatchString(text) || urlRE.MatchString(html) || strings.Contains(msgs[1].raw, "token") {
		t.Fatalf("SSO-only message carries a link:\n%s", msgs[1].raw)
	}
	if !strings.Contains(text, "you sign in with Acme") {
		t.Fatalf("SSO-only message does not name Acme:\n%s", text)
	}
	if n := countRows(t, e.dbPath, "password_resets", ""); n != 1 {
		t.Fatalf("%d reset links stored, want alice's newest alone", n)
	}
	evs := e.events(t, models.EventPasswordResetRequested)
	if len(evs) != 5 {
		t.Fatalf("%d reset-requested events, want 5", len(evs))
	}
	for _, ev := range evs {
		if strings.Contains(ev.Detail, "token") || strings.Contains(ev.Detail, tokenOf(t, e.resetLink(t, msgs[2]))) {
			t.Fatalf("event detail %q", ev.Detail)
		}
	}
	if logs := e.logs.String(); strings.Contains(logs, tokenOf(t, e.resetLink(t, msgs[2]))) {
		t.Fatal("the token was logged")
	}
	e.noServerErrors(t)
}

// TestResetLinkWorksOnce: the link opens the form, sets a password with the
// account page's rules, ends every session of the account, queues a notice,
// and then works no more.
func TestResetLinkWorksOnce(t *testing.T) {
	t.Parallel()
	e := newForgotEnv(t, false)
	aliceSession := e.login(t, alice, goodPW)
	bobSession := e.login(t, bob, goodPW)
	e.forgot(t, alice).want(t, http.StatusOK, "")
	link := e.resetLink(t, e.outbox(t)[0])
	tok := tokenOf(t, link)

	r := e.do(t, req{path: link}).want(t, http.StatusOK, "")
	r.has(t, `name="new_password"`, `name="confirm_password"`, alice)
	if got := r.header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Fatalf("Referrer-Policy %q", got)
	}
	const newPW = "a brand new passphrase"
	e.do(t, req{method: "POST", path: "/auth/reset", form: resetForm(tok, newPW, newPW+"x")}).want(t, http.StatusBadRequest, "").has(t, "do not match")
	e.do(t, req{method: "POST", path: "/auth/reset", form: resetForm(tok, "short", "short")}).want(t, http.StatusBadRequest, "").has(t, "at least")
	e.do(t, req{method: "POST", path: "/auth/reset", form: resetForm(tok, "", "")}).want(t, http.StatusBadRequest, "")
	e.login(t, alice, goodPW) // nothing changed yet
	e.wantSignedIn(t, aliceSession, alice)

	r = e.do(t, req{method: "POST", path: "/auth/reset", form: resetForm(tok, newPW, newPW)}).want(t, http.StatusSeeOther, "/login?notice=password_reset")
	r = e.do(t, req{path: r.location()})
	r = e.do(t, req{path: r.location(), cookies: r.cookies}).want(t, http.StatusOK, "")
	r.has(t, "Your password was changed, and every session of your account was signed out.")

	e.wantSignedOut(t, aliceSession)
	e.wantSignedIn(t, bobSession, bob)
	if n := countRows(t, e.dbPath, "sessions", "user_id = (SELECT id FROM users WHERE email = ?)", alice); n != 0 {
		t.Fatalf("%d sessions of alice left", n)
	}
	e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, goodPW)}).want(t, http.StatusUnauthorized, "")
	e.wantSignedIn(t, e.login(t, alice, newPW), alice)

	msgs := e.outbox(t)
	if len(msgs) != 2 || msgs[1].to != alice || !strings.Contains(msgs[1].subject, "password was changed") {
		t.Fatalf("no password-changed notice: %+v", msgs)
	}
	if text, _ := parts(t, msgs[1].raw); urlRE.MatchString(text) {
		t.Fatalf("the notice carries a link:\n%s", text)
	}

	// Used: the link and its form are refused, and nothing changes.
	e.do(t, req{path: link}).want(t, http.StatusNotFound, "").has(t, "This reset link does not work")
	e.do(t, req{method: "POST", path: "/auth/reset", form: resetForm(tok, "yet another passphrase", "yet another passphrase")}).want(t, http.StatusNotFound, "")
	e.login(t, alice, newPW)
	if n := len(e.events(t, models.EventPasswordResetCompleted)); n != 1 {
		t.Fatalf("%d reset-completed events", n)
	}
	e.noServerErrors(t)
}

// TestResetLinkExpires: after an hour the link is refused.
func TestResetLinkExpires(t *testing.T) {
	t.Parallel()
	e := newForgotEnv(t, false)
	e.forgot(t, alice)
	link := e.resetLink(t, e.outbox(t)[0])
	e.clock.Advance(59 * time.Minute)
	e.do(t, req{path: link}).want(t, http.StatusOK, "")
	e.clock.Advance(time.Minute)
	e.do(t, req{path: link}).want(t, http.StatusNotFound, "")
	e.do(t, req{method: "POST", path: "/auth/reset", form: resetForm(tokenOf(t, link), "a brand new passphrase", "a brand new passphrase")}).want(t, http.StatusNotFound, "")
	e.login(t, alice, goodPW)
}

// TestResetLinkReplaced: a newer request, or any password change, makes
// the link useless.
func TestResetLinkReplaced(t *testing.T) {
	t.Parallel()
	e := newForgotEnv(t, false)
	e.forgot(t, alice)
	e.forgot(t, alice)
	msgs := e.outbox(t)
	older, newer := e.resetLink(t, msgs[0]), e.resetLink(t, msgs[1])
	if older == newer {
		t.Fatal("the same link twice")
	}
	e.do(t, req{path: older}).want(t, http.StatusNotFound, "")
	e.do(t, req{path: newer}).want(t, http.StatusOK, "")

	// A password change from the account page.
	c := e.login(t, alice, goodPW)
	const changed = "changed on the account page"
	e.do(t, req{method: "POST", path: "/account/password", cookies: []*http.Cookie{c}, form: url.Values{
		"current_password": {goodPW}, "new_password": {changed}, "confirm_password": {changed},
	}}).want(t, http.StatusSeeOther, "/account?notice=password_changed")
	e.do(t, req{path: newer}).want(t, http.StatusNotFound, "")

	// And one by the accounts service (the admin console, the CLI).
	e.forgot(t, alice)
	msgs = e.outbox(t)
	if len(msgs) != 4 || !strings.Contains(msgs[2].subject, "password was changed") {
		t.Fatalf("want the account page's change notice, then the new link: %+v", msgs)
	}
	link := e.resetLink(t, msgs[3])
	u, err := e.db.UserByEmail(context.Background(), alice)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.app.Accounts.SetPassword(context.Background(), u.ID, "set by an administrator", "by an administrator"); err != nil {
		t.Fatal(err)
	}
	e.do(t, req{method: "POST", path: "/auth/reset", form: resetForm(tokenOf(t, link), "a brand new passphrase", "a brand new passphrase")}).want(t, http.StatusNotFound, "")
	e.login(t, alice, "set by an administrator")
	e.noServerErrors(t)
}

// TestForgotThrottled: requests are limited per typed email (known or not,
// alike) and per client address, with 429 and Retry-After, and a refused
// request sends nothing.
func TestForgotThrottled(t *testing.T) {
	t.Parallel()
	e := newForgotEnv(t, true)
	for _, email := range []string{alice, "nobody@example.com"} {
		for range 4 { // 3 allowed, and the one that sets the first delay
			e.forgot(t, email).want(t, http.StatusOK, "")
		}
		r := e.forgot(t, email).want(t, http.StatusTooManyRequests, "")
		if r.header.Get("Retry-After") == "" {
			t.Fatalf("%s: 429 without Retry-After", email)
		}
	}
	if n := len(e.outbox(t)); n != 4 {
		t.Fatalf("%d messages, want alice's 4", n)
	}
	// Per address: 11 requests in all (8 so far), then refused for any email.
	for _, email := range []string{"x1@example.com", "x2@example.com", "x3@example.com"} {
		e.forgot(t, email).want(t, http.StatusOK, "")
	}
	e.forgot(t, bob).want(t, http.StatusTooManyRequests, "")
	e.clock.Advance(16 * time.Minute)
	e.forgot(t, bob).want(t, http.StatusOK, "")
	if n := countRows(t, e.dbPath, "throttle", "key LIKE 'forgot:%'"); n != 7 { // one address, six emails
		t.Fatalf("%d forgot counters", n)
	}
}

// TestForgotHeaderInjection: an email with a line break is refused before
// anything is looked up or queued; no header is ever made of it.
func TestForgotHeaderInjection(t *testing.T) {
	t.Parallel()
	e := newForgotEnv(t, false)
	for _, email := range []string{
		alice + "\r\nBcc: evil@example.org", alice + "\nBcc: evil@example.org", alice + "\rBcc: evil@example.org",
		"evil@example.org\r\n\r\nbody", alice + "\x00", alice + "\u2028Bcc: evil@example.org",
		"Alice <" + alice + ">, evil@example.org", alice + ",evil@example.org",
	} {
		r := e.forgot(t, email)
		if r.status != http.StatusBadRequest && (r.status != http.StatusOK || !strings.Contains(r.body, "If an account exists")) {
			t.Fatalf("%q: %d", email, r.status)
		}
	}
	for _, m := range e.outbox(t) {
		if strings.Contains(m.raw, "evil@") || strings.Contains(m.raw, "Bcc") {
			t.Fatalf("injected:\n%s", m.raw)
		}
	}
	if n := len(e.outbox(t)); n != 0 {
		t.Fatalf("%d messages queued", n)
	}
	e.noServerErrors(t)
}

// TestForgotWithoutMail: with no mail block, the page says to ask an
// administrator, with no form, and a POST gets the same page.
func TestForgotWithoutMail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.do(t, req{path: "/login"}).has(t, "Forgot password? Ask your administrator to set a new one.").lacks(t, "/auth/forgot")
	get := e.do(t, req{path: "/auth/forgot"}).want(t, http.StatusOK, "").has(t, "Ask your administrator").lacks(t, "<form method=\"post\" action=\"/auth/forgot\"")
	post := e.forgot(t, alice).want(t, http.StatusOK, "")
	if post.body != get.body {
		t.Fatalf("POST answers differently from GET:\n%s\n---\n%s", post.body, get.body)
	}
	e.do(t, req{path: "/auth/reset?token=" + strings.Repeat("A", 43)}).want(t, http.StatusNotFound, "")
	if n := countRows(t, e.dbPath, "mail_outbox", ""); n != 0 {
		t.Fatalf("%d messages queued without mail", n)
	}
}

// FuzzResetForm: POST /auth/reset never fails with a 5xx or a logged
// error; only the live token with a matching, acceptable password changes
// the password (303 to the sign-in page), and every other form leaves it as
// it was (a 4xx).
func FuzzResetForm(f *testing.F) {
	for _, s := range []struct {
		token, pw, confirm string
		live               bool
	}{
		{"", "a brand new passphrase", "a brand new passphrase", true},
		{"", "short", "short", true},
		{"", "a brand new passphrase", "a brand new passphrasE", true},
		{"", "", "", true},
		{"", strings.Repeat("p", 73), strings.Repeat("p", 73), true},
		{"", strings.Repeat("p", 1025), strings.Repeat("p", 1025), true},
		{"", "passphrase\xff\xfe long enough", "passphrase\xff\xfe long enough", true},
		{"", "pass\x00phrase long enough", "pass\x00phrase long enough", true},
		{strings.Repeat("A", 43), "a brand new passphrase", "a brand new passphrase", false},
		{"", "a brand new passphrase", "a brand new passphrase", false},
		{"%zz", "a brand new passphrase", "a brand new passphrase", false},
		{strings.Repeat("A", 4096), "a brand new passphrase", "a brand new passphrase", false},
		{"token\r\nX: y", "a brand new passphrase", "a brand new passphrase", false},
	} {
		f.Add(s.token, s.pw, s.confirm, s.live)
	}
	e := newForgotEnv(f, false)
	ctx := context.Background()
	current := goodPW
	issue := func(t testing.TB) string {
		if _, err := e.app.Accounts.RequestPasswordReset(ctx, alice); err != nil {
			t.Fatal(err)
		}
		msgs := e.outbox(t)
		return tokenOf(t, e.resetLink(t, msgs[len(msgs)-1]))
	}
	live := issue(f)
	f.Fuzz(func(t *testing.T, token, pw, confirm string, useLive bool) {
		if useLive {
			token = live
		}
		r, err := e.try(req{method: http.MethodPost, path: "/auth/reset", form: resetForm(token, pw, confirm)})
		if err != nil {
			t.Fatalf("POST /auth/reset: %v", err)
		}
		if logs := e.logs.Drain(); fuzzLogErrorRE.MatchString(logs) {
			t.Fatalf("server logged an error: %s", fuzzLogErrorRE.FindString(logs))
		}
		if r.status >= 500 {
			t.Fatalf("status %d; body:\n%s", r.status, r.body)
		}
		changed := r.status == http.StatusSeeOther
		if changed {
			if token != live || pw != confirm || r.location() != "/login?notice=password_reset" {
				t.Fatalf("303 to %q for token %q (live %v), %q / %q", r.location(), token, token == live, pw, confirm)
			}
			if _, err := e.app.Accounts.Authenticate(ctx, alice, pw); err != nil {
				t.Fatalf("the new password does not sign in: %v", err)
			}
			current, live = pw, issue(t)
			return
		}
		if r.status < 400 || r.status >= 500 {
			t.Fatalf("status %d, want 303 or a 4xx", r.status)
		}
		if token != live && r.status != http.StatusNotFound && r.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("a token that is not the live one got %d, want 404", r.status)
		}
		if _, err := e.app.Accounts.Authenticate(ctx, alice, current); err != nil {
			t.Fatalf("a refused reset changed the password: %v", err)
		}
	})
}
