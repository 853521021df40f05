package handlers_test

// The one HTTP client of the handler tests and the response it reads. A
// browser never follows redirects, so a test steps through every 303 and
// 302 and sees each Set-Cookie and Location. newBrowser gives one with its
// own cookie jar that sends the headers of a same-origin form on its POSTs
// to gatehouse; newClient gives a script's client, with no jar and no
// browser headers, for tests that send exact cookies and headers. Each
// fixture (env, ssoBrowser, admClient, acctBrowser) wraps one.
//
// From the lowest level up: exchange sends a built *http.Request; send
// builds one from a req (explicit cookies, raw body, Host) and adds the
// browser's headers; do is send for a form and extra headers; must, get
// and post fail the test on an error or an unaccepted 5xx.

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/testkit"
)

var (
	tagRE   = regexp.MustCompile(`<[^>]*>`)
	spaceRE = regexp.MustCompile(`\s+`)
)

// pageText is a page as a person reads it: tags dropped, entities decoded,
// whitespace collapsed.
func pageText(body string) string {
	return strings.TrimSpace(spaceRE.ReplaceAllString(html.UnescapeString(tagRE.ReplaceAllString(body, " ")), " "))
}

// browser is one client of gatehouse. A target starting with / is a path
// on gatehouse; anything else is an absolute URL (a test OP's, say).
type browser struct {
	base string             // gatehouse's base URL
	logs *testkit.LogBuffer // gatehouse's log, quoted when it answers 5xx
	c    *http.Client       // never follows redirects
	jar  *cookiejar.Jar     // c's; nil for a script, which keeps no cookies
	ua   string             // the User-Agent; Go's default when empty
	// curl: the requests of a script, not a browser: no Origin or
	// Sec-Fetch-Site of its own.
	curl bool
	// serverErrorsOK: must returns a 5xx answer instead of failing.
	serverErrorsOK bool
	// unavailableOK: must returns a 503 (a provider that is down); any
	// other 5xx still fails the test.
	unavailableOK bool
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// newBrowser is a browser with its own, empty cookie jar (shared by
// gatehouse and the test OPs: cookies ignore ports). It goes over
// http.DefaultTransport, like the sso package's requests to the OPs.
func (s *server) newBrowser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return &browser{base: s.base, logs: s.logs, jar: jar, c: &http.Client{
		Jar: jar, Timeout: 30 * time.Second, CheckRedirect: noRedirects,
	}}
}

// newClient is a script's client: no cookie jar (it sends the cookies a
// request names and nothing else), no browser headers, every answer
// returned. It goes over the httptest server's own transport, which trusts
// its TLS certificate.
func (s *server) newClient() *browser {
	return &browser{base: s.base, logs: s.logs, curl: true, serverErrorsOK: true, c: &http.Client{
		Transport: s.srv.Client().Transport, Timeout: 30 * time.Second, CheckRedirect: noRedirects,
	}}
}

// req is one request.
type req struct {
	method  string            // GET when empty
	path    string            // a path on gatehouse, or an absolute URL
	form    url.Values        // sent urlencoded when non-nil
	body    io.Reader         // raw body, with ctype
	ctype   string            // the body's Content-Type
	header  map[string]string // set last: they win over the browser's own
	host    string            // the Host header, when set
	cookies []*http.Cookie    // sent as well as the jar's
}

// do sends a request; POSTs to gatehouse carry the headers a browser
// sends for a same-origin form.
func (b *browser) do(method, target string, form url.Values, header map[string]string) (*response, error) {
	return b.send(req{method: method, path: target, form: form, header: header})
}

// get loads target, failing the test as must does.
func (b *browser) get(t testing.TB, target string) *response {
	t.Helper()
	return b.must(t, req{method: http.MethodGet, path: target})
}

// post submits a form (an empty one when nil) to target, failing the test
// as must does.
func (b *browser) post(t testing.TB, target string, form url.Values) *response {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	return b.must(t, req{method: http.MethodPost, path: target, form: form})
}

// cookie returns the value of the browser's cookie for gatehouse with that
// name, or "".
func (b *browser) cookie(name string) string {
	if b.jar == nil {
		return ""
	}
	u, _ := url.Parse(b.base)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// send sends r.
func (b *browser) send(r req) (*response, error) {
	if r.method == "" {
		r.method = http.MethodGet
	}
	body, ctype := r.body, r.ctype
	if r.form != nil {
		body, ctype = strings.NewReader(r.form.Encode()), "application/x-www-form-urlencoded"
	}
	target := r.path
	if strings.HasPrefix(target, "/") {
		target = b.base + target
	}
	hr, err := http.NewRequest(r.method, target, body)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		hr.Header.Set("Content-Type", ctype)
	}
	if b.ua != "" {
		hr.Header.Set("User-Agent", b.ua)
	}
	if !b.curl && r.method == http.MethodPost && b.onGatehouse(hr.URL) {
		hr.Header.Set("Origin", b.base)
		hr.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	if r.host != "" {
		hr.Host = r.host
	}
	for _, c := range r.cookies {
		hr.AddCookie(c)
	}
	return b.exchange(hr)
}

func (b *browser) onGatehouse(u *url.URL) bool { return u.Scheme+"://"+u.Host == b.base }

// exchange sends a request as it is and reads the whole answer.
func (b *browser) exchange(hr *http.Request) (*response, error) {
	resp, err := b.c.Do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	r := &response{status: resp.StatusCode, header: resp.Header, body: string(data), cookies: resp.Cookies()}
	r.loc = r.location()
	if u, err := url.Parse(r.loc); err == nil && r.loc != "" && !u.IsAbs() && !b.onGatehouse(hr.URL) {
		r.loc = hr.URL.ResolveReference(u).String()
	}
	return r, nil
}

// must sends r and fails the test when that fails, or when the answer is a
// 5xx the browser does not accept (serverErrorsOK, unavailableOK).
func (b *browser) must(t testing.TB, r req) *response {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	resp, err := b.send(r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	if resp.status >= 500 && !b.serverErrorsOK && (!b.unavailableOK || resp.status != http.StatusServiceUnavailable) {
		t.Fatalf("%s %s: server error %d:\n%s\nserver log:\n%s", r.method, r.path, resp.status, resp.text(), b.logs.String())
	}
	return resp
}

// response is a fully read HTTP response.
type response struct {
	status  int
	header  http.Header
	body    string
	cookies []*http.Cookie // the Set-Cookie cookies, as sent
	// loc is where the redirect goes: the Location header as sent when the
	// request was to gatehouse (its redirects are paths there, which a
	// test compares as they are), resolved against the request URL
	// otherwise. Either way get(t, r.loc) follows it.
	loc string
}

// text is the page as a person reads it.
func (r *response) text() string { return pageText(r.body) }

// location is the Location header as sent.
func (r *response) location() string { return r.header.Get("Location") }

// cookie returns the Set-Cookie named name, or nil.
func (r *response) cookie(name string) *http.Cookie {
	for _, c := range r.cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// want fails unless r has the status (and, for redirects, the location).
func (r *response) want(t testing.TB, status int, loc string) *response {
	t.Helper()
	if r.status != status || (loc != "" && r.loc != loc) {
		t.Fatalf("got %d Location %q, want %d %q; body:\n%s", r.status, r.loc, status, loc, r.body)
	}
	return r
}

// has fails unless the body contains every string.
func (r *response) has(t testing.TB, subs ...string) *response {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(r.body, s) {
			t.Fatalf("body lacks %q:\n%s", s, r.body)
		}
	}
	return r
}

// lacks fails when the body contains any of the strings.
func (r *response) lacks(t testing.TB, subs ...string) *response {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(r.body, s) {
			t.Fatalf("body contains %q:\n%s", s, r.body)
		}
	}
	return r
}

// page loads target as a person's browser shows it: a notice in the address
// (?notice=, ?error=, ?done=) is answered with a redirect to the same page
// without it, which this follows once.
func (b *browser) page(t testing.TB, target string) *response {
	t.Helper()
	r := b.get(t, target)
	if r.status == http.StatusSeeOther && strings.HasPrefix(target, "/") {
		from, _, _ := strings.Cut(target, "?")
		to, _, _ := strings.Cut(r.loc, "?")
		if from == to {
			return b.get(t, r.loc)
		}
	}
	return r
}
