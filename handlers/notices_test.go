package handlers_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	gmail "github.com/gatehouse/gatehouse/mail"
)

// subjects lists the subjects of the messages to addr, oldest first.
func (e *env) subjects(t testing.TB, addr string) []string {
	t.Helper()
	var out []string
	for _, m := range e.outbox(t) {
		if m.to == addr {
			out = append(out, m.subject)
		}
	}
	return out
}

// TestNewBrowserNotice: a sign-in from a browser the account was not
// signed in from before is told to its owner, with when, where and how,
// and no link; the account's first sign-in and a known browser are not.
func TestNewBrowserNotice(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{mail: true, throttle: true})
	first := e.newBrowser()
	first.post(t, "/auth/login", loginForm(alice, goodPW)).want(t, http.StatusSeeOther, "/dashboard")
	if got := e.subjects(t, alice); len(got) != 0 {
		t.Fatalf("the first sign-in sent %q", got)
	}
	// The same browser again: known.
	first.post(t, "/auth/logout", nil)
	first.post(t, "/auth/login", loginForm(alice, goodPW)).want(t, http.StatusSeeOther, "/dashboard")
	if got := e.subjects(t, alice); len(got) != 0 {
		t.Fatalf("a known browser sent %q", got)
	}
	second := e.newBrowser()
	second.send(req{method: "POST", path: "/auth/login", form: loginForm(alice, goodPW), header: map[string]string{
		"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
	}})
	got := e.subjects(t, alice)
	if len(got) != 1 || !strings.Contains(got[0], "New sign-in") {
		t.Fatalf("messages to alice: %q", got)
	}
	text, html := parts(t, e.lastTo(t, alice).raw)
	for _, want := range []string{"Firefox on Linux", "127.0.0.1", "2030-01-02 09:00 UTC", "password"} {
		if !strings.Contains(text, want) || !strings.Contains(html, want) {
			t.Errorf("notice lacks %q:\n%s", want, text)
		}
	}
	if urlRE.MatchString(text) || urlRE.MatchString(html) {
		t.Errorf("the notice carries a link:\n%s", text)
	}
	// An address never proved to be the owner's gets no notice naming an
	// IP address and a browser.
	e.createUnverified(t, unverified, goodPW)
	e.signedIn(t, unverified, goodPW)
	e.signedIn(t, unverified, goodPW)
	if got := e.subjects(t, unverified); len(got) != 0 {
		t.Fatalf("an unconfirmed address got %q", got)
	}
	// A failed sign-in from a third browser tells nothing.
	e.newBrowser().post(t, "/auth/login", loginForm(alice, "wrong password")).want(t, http.StatusUnauthorized, "")
	if n := len(e.subjects(t, alice)); n != 1 {
		t.Fatalf("%d messages after a failed sign-in", n)
	}
}

// TestPasswordChangedNotice: every change of a password tells the owner who
// made it, never with a link.
func TestPasswordChangedNotice(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{mail: true})
	b := e.signedIn(t, alice, goodPW)
	const changed = "changed on the account page"
	b.post(t, "/account/password", url.Values{"current_password": {goodPW}, "new_password": {changed}, "confirm_password": {changed}}).
		want(t, http.StatusSeeOther, "/account?notice=password_changed")
	text, _ := parts(t, e.lastTo(t, alice).raw)
	if !strings.Contains(text, "changed from the account page") || !strings.Contains(text, "every other session") || urlRE.MatchString(text) {
		t.Fatalf("notice:\n%s", text)
	}

	admin := e.signedIn(t, rootAdmin, goodPW)
	id := strconv.FormatInt(e.user(t, bob).ID, 10)
	admin.post(t, "/admin/users/"+id+"/password", url.Values{"password": {"set by the admin"}, "password_again": {"set by the admin"}}).want(t, http.StatusSeeOther, "")
	text, _ = parts(t, e.lastTo(t, bob).raw)
	if !strings.Contains(text, "changed by an administrator") || !strings.Contains(text, "every session") {
		t.Fatalf("notice:\n%s", text)
	}
	admin.post(t, "/admin/users/"+id+"/password/remove", nil).want(t, http.StatusSeeOther, "")
	m := e.lastTo(t, bob)
	if text, _ = parts(t, m.raw); !strings.Contains(m.subject, "removed") || !strings.Contains(text, "removed by an administrator") {
		t.Fatalf("notice %q:\n%s", m.subject, text)
	}
}

// TestNoticesSwitchedOff: mail.notices turns each notice off.
func TestNoticesSwitchedOff(t *testing.T) {
	t.Parallel()
	off := new(false)
	e := newMailEnv(t, mailEnvOpts{mail: true, throttle: true, notices: gmail.Notices{PasswordChanged: off, EmailChanged: off, NewBrowser: off}})
	e.signedIn(t, alice, goodPW)
	b := e.signedIn(t, alice, goodPW) // a second browser
	const changed = "changed on the account page"
	b.post(t, "/account/password", url.Values{"current_password": {goodPW}, "new_password": {changed}, "confirm_password": {changed}}).
		want(t, http.StatusSeeOther, "/account?notice=password_changed")
	admin := e.signedIn(t, rootAdmin, goodPW)
	u := e.user(t, alice)
	admin.post(t, "/admin/users/"+strconv.FormatInt(u.ID, 10), url.Values{"email": {"alice2@example.com"}, "name": {u.Name}}).want(t, http.StatusSeeOther, "")
	if n := len(e.outbox(t)); n != 0 {
		t.Fatalf("%d messages with every notice off: %q", n, e.subjects(t, alice))
	}
}
