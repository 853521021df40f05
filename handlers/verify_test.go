package handlers_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/models"
)

const (
	unverified = "una@example.com"
	moved      = "una.new@example.com"
)

// lastTo is the newest message to addr, failing when there is none.
func (e *env) lastTo(t testing.TB, addr string) sentMail {
	t.Helper()
	msgs := e.outbox(t)
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].to == addr {
			return msgs[i]
		}
	}
	t.Fatalf("no message to %s in %+v", addr, msgs)
	return sentMail{}
}

// TestVerifyOwnAddress: an account whose address was never confirmed asks
// for a link from the account page; opening it shows what it confirms,
// and only the POST confirms it, once.
func TestVerifyOwnAddress(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{mail: true})
	e.createUnverified(t, unverified, goodPW)
	b := e.signedIn(t, unverified, goodPW)
	b.page(t, "/account").want(t, http.StatusOK, "").has(t, "(not confirmed)", "Send a confirmation link")

	b.post(t, "/account/email/verify", nil).want(t, http.StatusSeeOther, "/account?notice=verification_sent")
	m := e.lastTo(t, unverified)
	link := e.linkIn(t, m, "/auth/verify")
	tok := tokenOf(t, link)
	// Within a minute a second one is refused: each is a message.
	b.post(t, "/account/email/verify", nil).want(t, http.StatusConflict, "").has(t, "Wait a minute")
	if n := len(e.outbox(t)); n != 1 {
		t.Fatalf("%d messages", n)
	}

	// The GET (a mail scanner's, say) confirms nothing.
	other := e.newBrowser()
	other.get(t, link).want(t, http.StatusOK, "").has(t, "Confirm your email address", unverified)
	if e.user(t, unverified).EmailVerified() {
		t.Fatal("opening the link confirmed the address")
	}
	other.post(t, "/auth/verify", url.Values{"token": {tok}}).want(t, http.StatusSeeOther, "/login?notice=email_verified")
	if !e.user(t, unverified).EmailVerified() {
		t.Fatal("the address is not confirmed")
	}
	other.post(t, "/auth/verify", url.Values{"token": {tok}}).want(t, http.StatusNotFound, "").has(t, "This confirmation link does not work")
	b.page(t, "/account").want(t, http.StatusOK, "").has(t, "(confirmed)").lacks(t, "Send a confirmation link")
	b.post(t, "/account/email/verify", nil).want(t, http.StatusConflict, "").has(t, "confirmed already")
	e.wantEvents(t, models.EventEmailVerified, 1)
	e.noServerErrors(t)
}

// TestEmailChange: the change waits for the new address to confirm it; it
// then takes effect, verified, the old address is told, and links mailed
// to the old address stop working.
func TestEmailChange(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{mail: true})
	e.createUser(t, unverified, goodPW, false)
	b := e.signedIn(t, unverified, goodPW)
	e.forgot(t, unverified)
	reset := e.resetLink(t, e.lastTo(t, unverified))

	b.post(t, "/account/email", url.Values{"email": {"  UNA.New@Example.com "}}).want(t, http.StatusSeeOther, "/account?notice=email_change_sent")
	u := e.user(t, unverified) // unchanged until confirmed
	b.page(t, "/account").want(t, http.StatusOK, "").has(t, "Waiting for", moved)
	m := e.lastTo(t, moved)
	if !strings.Contains(m.subject, "new") {
		t.Fatalf("subject %q", m.subject)
	}
	link := e.linkIn(t, m, "/auth/verify")
	e.newBrowser().get(t, link).want(t, http.StatusOK, "").has(t, "Confirm your new email address", unverified, moved)

	b.post(t, "/auth/verify", url.Values{"token": {tokenOf(t, link)}}).want(t, http.StatusSeeOther, "/account?notice=email_changed")
	after := e.user(t, moved)
	if after.ID != u.ID || !after.EmailVerified() || after.EmailChangedAt == nil {
		t.Fatalf("after the change: %+v", after)
	}
	notice := e.lastTo(t, unverified)
	if !strings.Contains(notice.subject, "was changed") {
		t.Fatalf("no notice to the old address: %q", notice.subject)
	}
	if text, _ := parts(t, notice.raw); urlRE.MatchString(text) || !strings.Contains(text, moved) {
		t.Fatalf("notice to the old address:\n%s", text)
	}
	e.newBrowser().get(t, reset).want(t, http.StatusNotFound, "")
	e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(unverified, goodPW)}).want(t, http.StatusUnauthorized, "")
	e.signedIn(t, moved, goodPW)
	ev := e.events(t, models.EventEmailChanged)
	if len(ev) != 1 || !strings.Contains(ev[0].Detail, unverified+" → "+moved) {
		t.Fatalf("email.changed events %+v", ev)
	}
	e.noServerErrors(t)
}

// TestEmailChangeTaken: asking for an address another account has gets
// the same answer as any other; that address is told, and nothing changes.
func TestEmailChangeTaken(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{mail: true})
	e.createUser(t, unverified, goodPW, false)
	b := e.signedIn(t, unverified, goodPW)
	r1 := b.post(t, "/account/email", url.Values{"email": {bob}}).want(t, http.StatusSeeOther, "/account?notice=email_change_sent")
	e.clock.Advance(2 * time.Minute)
	r2 := b.post(t, "/account/email", url.Values{"email": {moved}}).want(t, http.StatusSeeOther, "/account?notice=email_change_sent")
	if r1.body != r2.body {
		t.Fatalf("the answers differ:\n%s\n%s", r1.body, r2.body)
	}
	m := e.lastTo(t, bob)
	if text, _ := parts(t, m.raw); urlRE.MatchString(text) || !strings.Contains(text, "exists already") {
		t.Fatalf("message to the taken address:\n%s", text)
	}
	if e.user(t, bob).Email != bob || e.user(t, unverified).Email != unverified {
		t.Fatal("an address changed")
	}
}

// TestEmailChangeThrottled: each request mails the typed address, so
// requests are limited like "Forgot password?" (per typed address and per
// client address), with Retry-After, and a refused one sends nothing:
// several accounts cannot flood one mailbox.
func TestEmailChangeThrottled(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{mail: true, throttle: true})
	var throttled *response
	for i := range 6 {
		email := "user" + strconv.Itoa(i) + "@example.com"
		e.createUser(t, email, goodPW, false)
		r := e.signedIn(t, email, goodPW).post(t, "/account/email", url.Values{"email": {"victim@example.com"}})
		if r.status == http.StatusTooManyRequests {
			throttled = r
			break
		}
		r.want(t, http.StatusSeeOther, "/account?notice=email_change_sent")
	}
	if throttled == nil || throttled.header.Get("Retry-After") == "" {
		t.Fatalf("no 429 with Retry-After: %+v", throttled)
	}
	throttled.has(t, "Too many requests")
	if sent := len(e.subjects(t, "victim@example.com")); sent > 4 {
		t.Fatalf("%d messages to one address", sent)
	}
}

// TestEmailChangeRefusals: bad input, a missing recent sign-in, no mail,
// a link for an address taken meanwhile: each is refused and changes
// nothing.
func TestEmailChangeRefusals(t *testing.T) {
	t.Parallel()
	t.Run("input", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, mailEnvOpts{mail: true})
		b := e.signedIn(t, alice, goodPW)
		for _, bad := range []string{"", "not-an-address", alice, "a\r\nBcc: x@example.com", "x@exa\u200bmple.com", strings.Repeat("a", 300) + "@example.com", "\xff@example.com"} {
			r := b.post(t, "/account/email", url.Values{"email": {bad}})
			if r.status != http.StatusBadRequest {
				t.Errorf("%q: %d", bad, r.status)
			}
		}
		if n := countRows(t, e.dbPath, "mail_outbox", ""); n != 0 {
			t.Fatalf("%d messages", n)
		}
	})
	t.Run("sudo", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, mailEnvOpts{mail: true})
		b := e.signedIn(t, alice, goodPW)
		e.clock.Advance(11 * time.Minute)
		r := b.post(t, "/account/email", url.Values{"email": {moved}}).want(t, http.StatusSeeOther, "")
		if !strings.HasPrefix(r.loc, "/auth/reauth") {
			t.Fatalf("outside sudo mode: %q", r.loc)
		}
		if n := countRows(t, e.dbPath, "email_links", ""); n != 0 {
			t.Fatalf("%d links", n)
		}
	})
	t.Run("no mail", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, mailEnvOpts{})
		b := e.signedIn(t, alice, goodPW)
		b.page(t, "/account").want(t, http.StatusOK, "").has(t, "ask an administrator").lacks(t, `id="email-form"`)
		b.post(t, "/account/email", url.Values{"email": {moved}}).want(t, http.StatusConflict, "").has(t, "cannot send mail")
		b.post(t, "/account/email/verify", nil).want(t, http.StatusConflict, "")
	})
	t.Run("taken meanwhile", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, mailEnvOpts{mail: true})
		b := e.signedIn(t, alice, goodPW)
		b.post(t, "/account/email", url.Values{"email": {moved}}).want(t, http.StatusSeeOther, "")
		link := e.linkIn(t, e.lastTo(t, moved), "/auth/verify")
		e.createUser(t, moved, goodPW, false)
		b.post(t, "/auth/verify", url.Values{"token": {tokenOf(t, link)}}).want(t, http.StatusConflict, "").has(t, "Another account has this address")
		if e.user(t, alice).Email != alice {
			t.Fatal("alice moved")
		}
	})
	t.Run("expired", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, mailEnvOpts{mail: true})
		b := e.signedIn(t, alice, goodPW)
		b.post(t, "/account/email", url.Values{"email": {moved}}).want(t, http.StatusSeeOther, "")
		link := e.linkIn(t, e.lastTo(t, moved), "/auth/verify")
		e.clock.Advance(accounts.VerifyTTL)
		b.get(t, link).want(t, http.StatusNotFound, "")
		b.post(t, "/auth/verify", url.Values{"token": {tokenOf(t, link)}}).want(t, http.StatusNotFound, "")
	})
}

// TestAdminEmailChangeNotices: an administrator's change of address tells
// the old address, leaves the new one unconfirmed, and ends the links
// mailed to the old one.
func TestAdminEmailChangeNotices(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{mail: true})
	u := e.user(t, alice)
	e.forgot(t, alice)
	reset := e.resetLink(t, e.lastTo(t, alice))
	admin := e.signedIn(t, rootAdmin, goodPW)
	admin.post(t, "/admin/users/"+strconv.FormatInt(u.ID, 10), url.Values{"email": {moved}, "name": {u.Name}}).want(t, http.StatusSeeOther, "")
	after := e.user(t, moved)
	if after.EmailVerified() {
		t.Fatal("an address an administrator typed counts as confirmed")
	}
	notice := e.lastTo(t, alice)
	text, _ := parts(t, notice.raw)
	if !strings.Contains(text, "by an administrator") || !strings.Contains(text, moved) || urlRE.MatchString(text) {
		t.Fatalf("notice:\n%s", text)
	}
	e.newBrowser().get(t, reset).want(t, http.StatusNotFound, "")
	// The old address of an account whose address was never confirmed may
	// be a stranger's: it is told of the change, not of the new address.
	v := e.createUnverified(t, unverified, goodPW)
	admin.post(t, "/admin/users/"+strconv.FormatInt(v.ID, 10), url.Values{"email": {"una.other@example.com"}}).want(t, http.StatusSeeOther, "")
	text, _ = parts(t, e.lastTo(t, unverified).raw)
	if !strings.Contains(text, "was changed by an administrator") || strings.Contains(text, "una.other") {
		t.Fatalf("notice to an unconfirmed address:\n%s", text)
	}
	admin.page(t, "/admin/users?verified=no").want(t, http.StatusOK, "").has(t, moved).lacks(t, bob)
	admin.page(t, "/admin/users?verified=yes").want(t, http.StatusOK, "").has(t, bob).lacks(t, moved)
}
