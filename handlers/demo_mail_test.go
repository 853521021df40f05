package handlers_test

// The demo's mail page (/demo/mail) over HTTP: gatehouse built as the demo
// builds it (a mail block, the messages captured in memory), a password
// reset asked for and delivered by the real worker, and its link followed
// from the page.

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/config"
	gmail "github.com/gatehouse/gatehouse/mail"
)

// demoMailFrom is the sender gatehouse demo configures.
const demoMailFrom = "gatehouse demo <demo@gatehouse.localhost>"

// newDemoMailEnv is gatehouse with mail on and delivered to captured, as
// the demo runs it, and alice (a password).
func newDemoMailEnv(t *testing.T, captured *gmail.MemoryTransport) *env {
	t.Helper()
	e := &env{server: newServer(t, serverOpts{
		demoMail: captured,
		configure: func(c *config.Config) {
			c.Mail = &gmail.Config{From: demoMailFrom, Dir: t.TempDir()}
		},
	})}
	e.client = e.newClient()
	e.createUser(t, alice, goodPW, false)
	return e
}

var demoLinkRE = regexp.MustCompile(`<a href="([^"]+)">`)

// TestDemoMailShowsResetLink: /demo/mail lists nothing at first; after a
// "Forgot password?" request and the worker's delivery it shows the
// recipient, subject, date and text with the reset link clickable, and
// that link resets the password.
func TestDemoMailShowsResetLink(t *testing.T) {
	t.Parallel()
	captured := gmail.NewMemoryTransport(0)
	e := newDemoMailEnv(t, captured)

	r := e.do(t, req{path: "/demo/mail"}).want(t, http.StatusOK, "").has(t, `id="demo-mail-empty"`, `href="/auth/forgot"`)
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q, want no-store", cc)
	}

	e.do(t, req{method: "POST", path: "/auth/forgot", form: url.Values{"email": {alice}}}).want(t, http.StatusOK, "")
	if n := e.app.MailWorker.DeliverDue(context.Background()); n != 1 {
		t.Fatalf("the worker tried %d messages, want 1", n)
	}
	msgs := captured.Messages()
	if len(msgs) != 1 || msgs[0].To != alice {
		t.Fatalf("captured %+v", msgs)
	}

	r = e.do(t, req{path: "/demo/mail"}).want(t, http.StatusOK, "")
	r.lacks(t, `id="demo-mail-empty"`).has(t, `class="demo-mail-to">`+alice+`<`, "Reset your gatehouse password", "<time datetime=\"2030-01-02T09:00:00Z\"", "just now")
	links := demoLinkRE.FindAllStringSubmatch(r.body, -1)
	var reset string
	for _, m := range links {
		if l := html.UnescapeString(m[1]); strings.HasPrefix(l, e.base+"/auth/reset?token=") {
			reset = l
		}
	}
	if reset == "" {
		t.Fatalf("no reset link on the page:\n%s", r.body)
	}
	if want := ">" + reset + "</a>"; !strings.Contains(html.UnescapeString(r.body), want) {
		t.Fatalf("the link's text is not the link %q:\n%s", reset, r.body)
	}
	if !strings.Contains(r.body, `<pre class="demo-mail-body">`) || !strings.Contains(pageText(r.body), "To choose a new password") {
		t.Fatalf("the page does not show the message's text:\n%s", r.body)
	}

	// The link works, as it would from a mail program.
	tok := regexp.MustCompile(`token=([^&]+)`).FindStringSubmatch(reset)[1]
	e.do(t, req{path: reset}).want(t, http.StatusOK, "").has(t, `name="new_password"`)
	const newPW = "a new passphrase from the demo"
	e.do(t, req{method: "POST", path: "/auth/reset", form: url.Values{"token": {tok}, "new_password": {newPW}, "confirm_password": {newPW}}}).
		want(t, http.StatusSeeOther, "/login?notice=password_reset")
	e.login(t, alice, newPW)

	// The "password changed" notice follows, newest first.
	e.app.MailWorker.DeliverDue(context.Background())
	r = e.do(t, req{path: "/demo/mail"}).want(t, http.StatusOK, "")
	first, second := strings.Index(r.body, "password was changed"), strings.Index(r.body, "Reset your gatehouse password")
	if first < 0 || second < 0 || first > second {
		t.Fatalf("want the password-changed notice above the reset message:\n%s", r.body)
	}
	e.noServerErrors(t)
}

// TestDemoMailEscapes: what a message says is shown as text: markup in a
// subject, a recipient or a body stays escaped, and only http(s) URLs
// become links.
func TestDemoMailEscapes(t *testing.T) {
	t.Parallel()
	captured := gmail.NewMemoryTransport(0)
	e := newDemoMailEnv(t, captured)
	raw := "Subject: <script>alert(1)</script>\r\nDate: Wed, 02 Jan 2030 08:00:00 +0000\r\n\r\n" +
		"<b>bold</b> javascript:alert(2) http://x.example/?a=1&b=\"><img src=x onerror=alert(3)>\r\n"
	if err := captured.Deliver(context.Background(), gmail.Envelope{ID: "0123456789abcdef", To: `"><i>to</i>@example.com`}, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	r := e.do(t, req{path: "/demo/mail"}).want(t, http.StatusOK, "")
	r.lacks(t, "<script>alert", "<b>bold", "<img", "<i>to", `href="javascript`)
	r.has(t, "&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;b&gt;bold&lt;/b&gt;", `<a href="http://x.example/?a=1&amp;b=">http://x.example/?a=1&amp;b=</a>`, "1 hour ago")
}

// TestDemoMailOnlyInTheDemo: without the demo's capture there is no
// /demo/mail, whatever the mail configuration.
func TestDemoMailOnlyInTheDemo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    serverOpts
	}{
		{"mail off", serverOpts{}},
		{"mail to a folder", serverOpts{configure: func(c *config.Config) {
			c.Mail = &gmail.Config{From: demoMailFrom, Dir: t.TempDir()}
		}}},
		{"mail to a transport a test gave", serverOpts{mailTransport: gmail.NewMemoryTransport(0), configure: func(c *config.Config) {
			c.Mail = &gmail.Config{From: demoMailFrom, Dir: t.TempDir()}
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := &env{server: newServer(t, tt.o)}
			e.client = e.newClient()
			e.do(t, req{path: "/demo/mail"}).want(t, http.StatusNotFound, "").has(t, "Page not found")
		})
	}
}
