package handlers_test

// Fuzz tests. FuzzSafeNext is a pure function; the others drive
// the real handler stack of http_test.go / sso_test.go over loopback. Each
// fuzz process (the coordinator and every worker) builds one environment in
// the FuzzXxx body, before f.Fuzz; inside the fuzz function only t (never
// the environment's testing.TB, which is the *testing.F) may fail the test.
//
// Plain `go test` runs every seed (f.Add and testdata/fuzz/FuzzXxx/) once.
// To fuzz one target: go test -run '^$' -fuzz '^FuzzLoginForm$' ./handlers
// (`make fuzz` runs each for a few seconds).

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/sso"

	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
)

// fuzzBase is the origin redirect targets are resolved against.
var fuzzBase, _ = url.Parse("https://gatehouse.example/")

// FuzzSafeNext: SafeNext returns "" or its input, and what it returns is a
// path on this site however a browser reads it, also once more
// percent-decoded.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{
		"", "/", "/dashboard", "/dashboard?tab=1#x", "/account/sessions?page=2&sort=desc",
		"/search?q=a%20b", "/café", "/authors", "/ /evil.com", "/dashboard?next=//evil.com",
		"/http://evil.com", "/" + strings.Repeat("a", 1023), "/" + strings.Repeat("a", 1024),
		"//evil.com", "///evil.com", `/\evil.com`, `\\evil.com`, `/dashboard\..\..\evil`,
		"https://evil.com", "http:/evil.com", "javascript:alert(1)", "dashboard", "./x",
		"/%2F%2Fevil.com", "/%2fevil.com", "/%5Cevil.com", "/%252F%252Fevil.com",
		"/%25252F%25252Fevil.com", "/%2525252F%2525252Fevil.com", "/%255Cevil.com",
		"/\t/evil.com", "/%09/evil.com", "/%0A/evil.com", "/dashboard%00", "/dash\u0085board",
		"/dash\u2028board", "/dashboard%", "/dashboard%zz", "/%E2%80%A8", "/%C2%85",
		"/auth/logout", "/%61uth/logout", "/./auth/logout", "/dashboard/%2e%2e/auth/logout",
		"/.//auth/logout", "/x/..//evil.com", "/%2e%2e//evil.com", "/?//evil.com", "/#//evil.com",
		"/@evil.com", "/:@evil.com", "/a:b@evil.com", "/%40evil.com", "/\u3000/evil.com",
		"/./%2F/evil.com", "/a/../%2F/evil.com", "/a/..%2F%2Fevil.com", "/.%2F/evil.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := handlers.SafeNext(in)
		if out != "" && out != in {
			t.Fatalf("SafeNext(%q) = %q, want \"\" or the input", in, out)
		}
		if out == "" {
			return
		}
		checkSameSite(t, out)
		// Sign-in redirects with http.Redirect, which cleans the path
		// ("/./%2F/x" becomes "/%2F/x"): what it sends must pass too.
		if loc := fuzzRedirect(out); loc != out {
			checkRedirectApproved(t, loc, in)
		}
	})
}

// checkRedirectApproved: the Location sent for next is one SafeNext
// approves, unless only its length cap refuses it (http.Redirect escapes
// non-ASCII bytes, "\xbf" becomes "%bf"), and it stays on this site.
func checkRedirectApproved(t *testing.T, loc, next string) {
	t.Helper()
	if handlers.SafeNext(loc) != loc && len(loc) <= 1024 {
		t.Fatalf("next %q is approved, but it redirects to %q, which SafeNext refuses", next, loc)
	}
	checkSameSite(t, loc)
}

// fuzzRedirect is the Location Gin's c.Redirect (http.Redirect) sends for
// target from POST /auth/login.
func fuzzRedirect(target string) string {
	rec := httptest.NewRecorder()
	http.Redirect(rec, httptest.NewRequest(http.MethodPost, "/auth/login", nil), target, http.StatusSeeOther)
	return rec.Header().Get("Location")
}

// checkSameSite fails unless target is a same-site path: a leading "/" that
// no browser reads as "//host", no control characters or backslashes, no
// scheme or host, the same host when resolved, and all of that again after
// one round of percent-decoding.
func checkSameSite(t *testing.T, target string) {
	t.Helper()
	for round, s := range []string{target, ""} {
		if round == 1 {
			d, err := url.PathUnescape(target)
			if err != nil {
				return // a browser keeps a bad escape as it is: checked above
			}
			s = d
		}
		if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, `/\`) {
			t.Fatalf("%q (round %d: %q) is not a single-slash path", target, round, s)
		}
		if strings.ContainsRune(s, '\\') || strings.ContainsFunc(s, func(r rune) bool {
			return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
		}) {
			t.Fatalf("%q (round %d: %q) contains a backslash or a control character", target, round, s)
		}
		u, err := url.Parse(s)
		if err != nil {
			if round == 0 {
				t.Fatalf("%q does not parse: %v", target, err)
			}
			continue // "%zz" after decoding "%25zz": not a URL a browser would decode to
		}
		if u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
			t.Fatalf("%q (round %d: %q) has a scheme, host or user: %#v", target, round, s, u)
		}
		if r := fuzzBase.ResolveReference(u); r.Scheme != "https" || r.Host != fuzzBase.Host || r.User != nil {
			t.Fatalf("%q (round %d: %q) resolves to %q, off this site", target, round, s, r)
		}
	}
}

// fuzzLogErrorRE finds a line logged at ERROR (a panic recovered by Gin is
// one). Logged values are quoted, so fuzzed text cannot start a line.
var fuzzLogErrorRE = regexp.MustCompile(`(?m)^time=\S+ level=ERROR .*$`)

// fuzzHeader drops what net/http's client refuses in a header value
// (control characters other than tab): what cannot be sent cannot arrive.
func fuzzHeader(s string) string {
	return strings.Map(func(r rune) rune {
		if (r < ' ' && r != '\t') || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// FuzzLoginForm posts arbitrary bodies, content types and header values to
// POST /auth/login. Never a 5xx; a redirect only for the right password of
// an enabled user, to /dashboard or to the SafeNext-approved next.
func FuzzLoginForm(f *testing.F) {
	const urlencoded = "application/x-www-form-urlencoded"
	form := func(email, pw, next string, extra ...string) []byte {
		v := url.Values{"email": {email}, "password": {pw}, "next": {next}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Add(extra[i], extra[i+1])
		}
		return []byte(v.Encode())
	}
	multi := func(fields ...string) ([]byte, string) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		_ = w.SetBoundary("fuzzboundary")
		for i := 0; i+1 < len(fields); i += 2 {
			_ = w.WriteField(fields[i], fields[i+1])
		}
		_ = w.Close()
		return b.Bytes(), w.FormDataContentType()
	}
	type seed struct {
		body                               []byte
		ctype, origin, site, cookie, agent string
	}
	seeds := []seed{
		{form(alice, goodPW, ""), urlencoded, "", "", "", ""},
		{form("  Alice@Example.COM ", goodPW, "/account/sessions?page=2"), urlencoded, "", "", "", "Mozilla/5.0"},
		{form(bob, goodPW, "//evil.com"), urlencoded, "", "", "", ""},
		{form(bob, goodPW, "/%2F%2Fevil.com"), urlencoded, "", "", "", ""},
		{form(bob, goodPW, `/\evil.com`), urlencoded, "", "", "", ""},
		{form(bob, goodPW, "https://evil.com/"), urlencoded, "", "", "", ""},
		{form(bob, goodPW, "/x/../auth/logout"), urlencoded, "", "", "", ""},
		{form(bob, goodPW, "/a/b/../../c?x=/../y#z"), urlencoded, "", "", "", ""},
		{form(bob, goodPW, "/./%2F/evil.com"), urlencoded, "", "", "", ""},
		{form(alice, "wrong password!", "/dashboard"), urlencoded, "", "", "", ""},
		{form(carol, goodPW, ""), urlencoded, "", "", "", ""},
		{form("nobody@example.com", goodPW, ""), urlencoded, "", "", "", ""},
		{form(alice, goodPW+"\xff", ""), urlencoded, "", "", "", ""},
		{form(alice+"\xff", goodPW, ""), urlencoded, "", "", "", ""},
		{form(alice, strings.Repeat("p", 1025), ""), urlencoded, "", "", "", ""},
		{form(strings.Repeat("a", 250)+"@x.io", goodPW, ""), urlencoded, "", "", "", ""},
		{form(alice, goodPW, "", "is_sso", "true"), urlencoded, "", "", "", ""},
		{form(alice, goodPW, "", "provider", "acme"), urlencoded, "", "", "", ""},
		{form(alice, goodPW, "", "email", bob), urlencoded, "", "", "", ""},
		{[]byte("email=alice%40example.com&password=correct+horse+battery+staple&email=x"), urlencoded, "", "", "", ""},
		{[]byte("email=%zz&password=x"), urlencoded, "", "", "", ""},
		{[]byte("email=a;password=b"), urlencoded, "", "", "", ""},
		{[]byte("email=" + alice + "&password=" + goodPW), "text/plain", "", "", "", ""},
		{[]byte(`{"email":"alice@example.com","password":"correct horse battery staple"}`), "application/json", "", "", "", ""},
		{[]byte("garbage\x00\xff"), "", "", "", "", ""},
		{nil, urlencoded, "", "", "", ""},
		{bytes.Repeat([]byte("a"), handlers.MaxFormBytes+1), urlencoded, "", "", "", ""},
		{form(alice, goodPW, ""), urlencoded, "http://evil.test", "cross-site", "", ""},
		{form(alice, goodPW, ""), urlencoded, "null", "", "", ""},
		{form(alice, goodPW, ""), urlencoded, "", "same-site", "", ""},
		{form(alice, goodPW, ""), urlencoded, "", "", "gatehouse_session=AAAA; gatehouse_sso=x", ""},
		{form(alice, goodPW, ""), urlencoded, "", "", "gatehouse_session=" + strings.Repeat("A", 43), strings.Repeat("é", 600)},
		{form(alice, goodPW, ""), urlencoded + "; charset=utf-8", "", "", "", ""},
		{form(alice, goodPW, ""), "multipart/form-data", "", "", "", ""},
		{form(alice, goodPW, ""), "multipart/form-data; boundary=", "", "", "", ""},
		{[]byte("--x\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\n"), "multipart/form-data; boundary=x", "", "", "", ""},
	}
	body, ctype := multi("email", alice, "password", goodPW, "next", "/account")
	seeds = append(seeds, seed{body: body, ctype: ctype})
	body, ctype = multi("email", bob, "password", goodPW, "next", "//evil.com")
	seeds = append(seeds, seed{body: body, ctype: ctype})
	body, ctype = multi("email", alice, "password", "nope")
	seeds = append(seeds, seed{body: body, ctype: ctype})
	for _, s := range seeds {
		f.Add(s.body, s.ctype, s.origin, s.site, s.cookie, s.agent)
	}

	e := newEnv(f, envOpts{})
	accountsOK := map[string]bool{alice: true, bob: true} // carol is disabled
	f.Fuzz(func(t *testing.T, body []byte, ctype, origin, site, cookie, agent string) {
		ctype, origin, site, cookie, agent = fuzzHeader(ctype), fuzzHeader(origin), fuzzHeader(site), fuzzHeader(cookie), fuzzHeader(agent)
		header := map[string]string{"User-Agent": agent}
		if origin != "" {
			header["Origin"] = origin
		}
		if site != "" {
			header["Sec-Fetch-Site"] = site
		}
		if cookie != "" {
			header["Cookie"] = cookie
		}
		r, err := e.try(req{method: http.MethodPost, path: "/auth/login", body: bytes.NewReader(body), ctype: ctype, header: header})
		if err != nil {
			t.Fatalf("POST /auth/login: %v", err)
		}
		if logs := e.logs.Drain(); fuzzLogErrorRE.MatchString(logs) {
			t.Fatalf("server logged an error: %s", fuzzLogErrorRE.FindString(logs))
		}
		if r.status >= 500 {
			t.Fatalf("status %d; body:\n%s", r.status, r.body)
		}

		// What the handler reads, read the same way.
		email, pw, next, ok := fuzzLoginFields(body, ctype)
		right := ok && pw == goodPW && accountsOK[sso.NormalizeEmail(email)]
		session := r.cookie(e.cfg.CookieName())
		if r.status < 300 || r.status >= 400 {
			if session != nil && session.Value != "" && session.MaxAge >= 0 {
				t.Fatalf("status %d set a session cookie", r.status)
			}
			if right && origin == "" && site == "" {
				t.Fatalf("the right password for %q got %d, want 303; body:\n%s", email, r.status, r.body)
			}
			return
		}
		if r.status != http.StatusSeeOther || !right {
			t.Fatalf("redirect %d to %q for email %q password %q (parsed %v)", r.status, r.location(), email, pw, ok)
		}
		if session == nil || session.Value == "" {
			t.Fatalf("303 without a session cookie: %v", r.header["Set-Cookie"])
		}
		want := "/dashboard"
		if n := handlers.SafeNext(next); n != "" {
			want = fuzzRedirect(n)
		}
		if loc := r.location(); loc != want {
			t.Fatalf("Location %q, want %q (next %q)", loc, want, next)
		}
		if loc := r.location(); loc != "/dashboard" {
			checkRedirectApproved(t, loc, next)
		}
	})
}

// fuzzLoginFields parses a login body as the handler does: ParseForm (which
// must succeed), then Gin's PostForm (multipart too, first value wins).
func fuzzLoginFields(body []byte, ctype string) (email, pw, next string, ok bool) {
	r := httptest.NewRequest(http.MethodPost, "/auth/login", bytes.NewReader(body))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, handlers.MaxFormBytes)
	if r.ParseForm() != nil {
		return "", "", "", false
	}
	_ = r.ParseMultipartForm(32 << 20) // Gin's default MaxMultipartMemory
	v := r.PostForm
	email = strings.TrimSpace(v.Get("email"))
	pw = v.Get("password")
	sso := v.Get("provider") != ""
	for _, s := range v["is_sso"] {
		sso = sso || s == "true"
	}
	ok = !sso && email != "" && len(email) <= 254 && utf8.ValidString(email) && len(pw) <= 1024 && utf8.ValidString(pw)
	return email, pw, v.Get("next"), ok
}

// fuzzQuery percent-encodes the bytes an HTTP request line cannot carry
// (controls, space, '#'); every other byte reaches the server as it is.
func fuzzQuery(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '#' {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// fuzzSSOSignIn signs browser b in as the OP's current login user by
// walking the redirects, and returns the session row. For use outside the
// fuzz function only.
func fuzzSSOSignIn(tb testing.TB, e *ssoEnv, b *ssoBrowser, email string) *models.Session {
	tb.Helper()
	r, err := b.do(http.MethodPost, "/auth/login", ssoForm(email), nil)
	for hops := 0; err == nil && r.status/100 == 3 && hops < 5; hops++ {
		r, err = b.do(http.MethodGet, r.loc, nil, nil)
	}
	if err != nil || r.status != http.StatusOK || !strings.Contains(r.body, `id="user-email">`+email+`<`) {
		tb.Fatalf("SSO sign-in of %s: %v, status %d, page:\n%s", email, err, r.status, r.text())
	}
	row, err := e.db.SessionByHash(context.Background(), sessionstore.Hash(b.cookie(e.cfg.CookieName())))
	if err != nil || row.SID == "" {
		tb.Fatalf("SSO session row of %s: %v %+v", email, err, row)
	}
	return row
}

// FuzzCallbackQuery sends arbitrary query strings to GET /auth/callback:
// without the browser-binding cookie (mode%3 == 0), with one that has no
// pending sign-in (1), or with a browser that has just started a real
// sign-in (2), whose state replaces "{state}" in the query ("{iss}" is the
// OP's issuer in every mode). Never a 5xx, a session or a redirect to the
// dashboard.
func FuzzCallbackQuery(f *testing.F) {
	for _, s := range []struct {
		q    string
		mode uint8
	}{
		{"", 0}, {"", 1}, {"", 2},
		{"state={state}&code=abc&iss={iss}", 0},
		{"state={state}&code=abc&iss={iss}", 1},
		{"state={state}&code=abc&iss={iss}", 2},
		{"state={state}&code=abc", 2},
		{"state={state}&code=abc&iss=https%3A%2F%2Fevil.example", 2},
		{"state={state}&code=&iss={iss}", 2},
		{"state={state}&error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&iss={iss}", 2},
		{"state={state}&error=login_required", 2},
		{"state={state}&state=other&code=abc&iss={iss}", 2},
		{"state=other&state={state}&code=abc&iss={iss}", 2},
		{"state={state}&code=" + strings.Repeat("c", 4097) + "&iss={iss}", 2},
		{"state=" + strings.Repeat("s", 513) + "&code=abc", 1},
		{"state={state};code=abc", 2},
		{"state={state}&code=a%zzb&iss={iss}", 2},
		{"code=abc&iss={iss}", 2},
		{"state=%00%ff&code=\xff\xfe", 1},
		{"state=a&code=b&iss=" + strings.Repeat("i", 2049), 1},
		{"error=server_error&error_description=" + strings.Repeat("d", 2000), 1},
		{"%", 1}, {"&&&=&=", 0}, {"state", 1}, {"state=", 1},
	} {
		f.Add(s.q, s.mode)
	}

	// Each start comes from its own address (through the trusted loopback
	// proxy), so the per-address limit on SSO starts does not end the run.
	e := newSSOEnv(f, ssoEnvOpts{proxies: []string{"127.0.0.1"}})
	client := e.newClient() // no cookies but the request's: every Set-Cookie stays visible
	pending := e.browser()  // one browser: its pending sign-ins are capped at 10
	var starts atomic.Uint32
	stranger := strings.Repeat("B", 43)
	f.Fuzz(func(t *testing.T, raw string, mode uint8) {
		state, browser := "not-a-pending-state", ""
		switch mode % 3 {
		case 1:
			browser = stranger
		case 2:
			n := starts.Add(1)
			from := map[string]string{"X-Forwarded-For": fmt.Sprintf("198.18.%d.%d", n>>8&0xff, n&0xff)}
			r, err := pending.do(http.MethodPost, "/auth/login", ssoForm("bob@example.com"), from)
			if err != nil || r.status != http.StatusSeeOther {
				t.Fatalf("start SSO: %v %+v", err, r)
			}
			authz, err := url.Parse(r.loc)
			if err != nil || authz.Query().Get("state") == "" {
				t.Fatalf("start SSO went to %q", r.loc)
			}
			state, browser = authz.Query().Get("state"), pending.cookie("gatehouse_sso")
		}
		raw = strings.NewReplacer("{state}", url.QueryEscape(state), "{iss}", url.QueryEscape(e.op.Issuer())).Replace(raw)

		hr, err := http.NewRequest(http.MethodGet, e.base+"/auth/callback", nil)
		if err != nil {
			t.Fatal(err)
		}
		hr.URL.RawQuery = fuzzQuery(raw)
		if browser != "" {
			hr.AddCookie(&http.Cookie{Name: "gatehouse_sso", Value: browser})
		}
		r, err := client.exchange(hr)
		if err != nil {
			t.Fatalf("GET /auth/callback?%s: %v", hr.URL.RawQuery, err)
		}
		if logs := e.logs.Drain(); fuzzLogErrorRE.MatchString(logs) {
			t.Fatalf("server logged an error: %s", fuzzLogErrorRE.FindString(logs))
		}
		if r.status >= 500 {
			t.Fatalf("GET /auth/callback?%s: status %d; page:\n%s", hr.URL.RawQuery, r.status, r.body)
		}
		if r.cookie(e.cfg.CookieName()) != nil {
			t.Fatalf("callback set the session cookie: %v", r.header["Set-Cookie"])
		}
		if loc, err := hr.URL.Parse(r.location()); r.location() != "" && err == nil && strings.HasPrefix(loc.Path, "/dashboard") {
			t.Fatalf("callback redirected to %q", loc)
		}
		if n := countRows(t, e.dbPath, "sessions", ""); n != 0 {
			t.Fatalf("sessions: %d rows, want none", n)
		}
	})
}

// FuzzBackchannelLogout posts arbitrary bodies to POST
// /auth/backchannel-logout while bob and alice have SSO sessions. The
// logout_token is token, or, when jwtHeader or jwtClaims is set, the JSON
// header and claims ("{iss}", "{aud}", "{sub}", "{sid}", "{kid}", "{now}"
// and "{exp}" filled in) base64url-encoded, with token as the signature.
// Only the seeded logout token of alice's session (signed by the OP in this
// process) is valid: it gives 200 the first time and 400 after. Anything
// else is 400, 413 or 429 and ends no session. Always no-store, never 5xx.
func FuzzBackchannelLogout(f *testing.F) {
	e := newSSOEnv(f, ssoEnvOpts{})
	ctx := context.Background()
	bobRow := fuzzSSOSignIn(f, e, e.browser(), "bob@example.com")
	e.op.SetLoginUser(&ssoAlice)
	aliceBrowser := e.browser()
	aliceRow := fuzzSSOSignIn(f, e, aliceBrowser, "alice@example.com")
	aliceToken := aliceBrowser.cookie(e.cfg.CookieName())
	valid, err := e.op.LogoutToken(ssoClientID(0), "", aliceRow.SID, nil)
	if err != nil {
		f.Fatal(err)
	}
	var kid string
	if h, err := base64.RawURLEncoding.DecodeString(strings.Split(valid, ".")[0]); err == nil {
		var hd struct{ Kid string }
		_ = json.Unmarshal(h, &hd)
		kid = hd.Kid
	}
	fill := strings.NewReplacer("{iss}", e.op.Issuer(), "{aud}", ssoClientID(0), "{sub}", "sub-bob",
		"{sid}", bobRow.SID, "{kid}", kid, "{now}", fmt.Sprint(e.clock.Now().Unix()),
		"{exp}", fmt.Sprint(e.clock.Now().Add(time.Minute).Unix()))

	const urlencoded = "application/x-www-form-urlencoded"
	const claims = `{"iss":"{iss}","aud":"{aud}","iat":{now},"exp":{exp},"jti":"j1","sid":"{sid}","events":{"http://schemas.openid.net/event/backchannel-logout":{}}}`
	sig := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 256))
	for _, s := range []struct {
		ctype           string
		body            []byte
		token, hdr, clm string
	}{
		// The valid token twice: 200, then 400 (its jti was seen).
		{urlencoded, nil, valid, "", ""},
		{urlencoded, nil, valid, "", ""},
		{urlencoded, []byte("x=1"), valid[:len(valid)-2], "", ""},
		{urlencoded, nil, sig, `{"alg":"RS256","kid":"{kid}","typ":"logout+jwt"}`, claims},
		{urlencoded, nil, "", `{"alg":"none","typ":"logout+jwt"}`, claims},
		{urlencoded, nil, "c2ln", `{"alg":"HS256","kid":"{kid}"}`, claims},
		{urlencoded, nil, sig, `{"alg":"RS256","kid":"unknown"}`, claims},
		{urlencoded, nil, sig, `{"alg":"ES256","kid":"{kid}"}`, claims},
		{urlencoded, nil, sig, `{"alg":"RS256","kid":"{kid}","crit":["exp"]}`, claims},
		{urlencoded, nil, sig, `{"alg":"RS256"}`, `{"iss":"{iss}"}`},
		{urlencoded, nil, sig, `null`, `[]`},
		{urlencoded, nil, sig, `{`, `{"iss":{"a":1}}`},
		{urlencoded, nil, "not.a.jwt", "", ""},
		{urlencoded, nil, "....", "", ""},
		{urlencoded, nil, "a.b", "", ""},
		{urlencoded, nil, strings.Repeat("A", 16<<10+1), "", ""},
		{urlencoded, []byte("logout_token="), "", "", ""},
		{urlencoded, []byte("logout_token=%zz"), "", "", ""},
		{urlencoded, []byte("logout_token=a&logout_token=b"), "", "", ""},
		{urlencoded, bytes.Repeat([]byte("x"), handlers.MaxFormBytes+1), "", "", ""},
		{"application/json", []byte(`{"logout_token":"x.y.z"}`), "", "", ""},
		{"multipart/form-data; boundary=b", []byte("--b\r\nContent-Disposition: form-data; name=\"logout_token\"\r\n\r\nx.y.z\r\n--b--\r\n"), "", "", ""},
		{"", []byte("logout_token=x.y.z"), "", "", ""},
		{"text/plain", []byte("\x00\xff"), "", "", ""},
	} {
		f.Add(s.ctype, s.body, s.token, s.hdr, s.clm)
	}

	client := e.newClient()
	used := false
	f.Fuzz(func(t *testing.T, ctype string, body []byte, token, jwtHeader, jwtClaims string) {
		if jwtHeader != "" || jwtClaims != "" {
			b64 := base64.RawURLEncoding.EncodeToString
			token = b64([]byte(fill.Replace(jwtHeader))) + "." + b64([]byte(fill.Replace(jwtClaims))) + "." + token
		}
		if token != "" {
			form := "logout_token=" + url.QueryEscape(token)
			if len(body) > 0 {
				form += "&"
			}
			body = append([]byte(form), body...)
		}
		ctype = fuzzHeader(ctype)
		if ctype == "" {
			ctype = urlencoded
		}
		// Is this the valid token, as the handler will read it?
		pr := httptest.NewRequest(http.MethodPost, "/auth/backchannel-logout", bytes.NewReader(body))
		pr.Header.Set("Content-Type", ctype)
		pr.Body = http.MaxBytesReader(httptest.NewRecorder(), pr.Body, handlers.MaxFormBytes)
		isValid := pr.ParseForm() == nil && pr.PostForm.Get("logout_token") == valid

		var r *response
		for try := 0; ; try++ { // wait out the rate limit (20/s): coverage stays deterministic
			var err error
			if r, err = client.send(req{method: http.MethodPost, path: "/auth/backchannel-logout", body: bytes.NewReader(body), ctype: ctype}); err != nil {
				t.Fatalf("POST /auth/backchannel-logout: %v", err)
			}
			if r.status != http.StatusTooManyRequests || try == 40 {
				break
			}
			time.Sleep(60 * time.Millisecond)
		}
		if logs := e.logs.Drain(); fuzzLogErrorRE.MatchString(logs) {
			t.Fatalf("server logged an error: %s", fuzzLogErrorRE.FindString(logs))
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", cc)
		}
		page, status := r.body, r.status
		if isValid && !used {
			if status != http.StatusOK {
				t.Fatalf("the valid logout token got %d %q, want 200", status, page)
			}
			used = true
			if _, err := e.db.SessionByHash(ctx, sessionstore.Hash(aliceToken)); !errors.Is(err, models.ErrNotFound) {
				t.Fatalf("alice's session survived a valid logout token: %v", err)
			}
		} else if status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge && status != http.StatusTooManyRequests {
			t.Fatalf("status %d %q, want 400, 413 or 429 (valid token: %v, used before: %v)", status, page, isValid, used)
		}
		if _, err := e.db.SessionByHash(ctx, bobRow.TokenHash); err != nil {
			t.Fatalf("bob's session is gone after status %d: %v", status, err)
		}
	})
}
