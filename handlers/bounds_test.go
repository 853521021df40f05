package handlers_test

// Bounds on unauthenticated work: requests anyone can send without a
// cookie must not write rows or log lines without limit, and one noisy
// address must not spend another's allowance. Every loop here is bounded
// in count, and each client has a 30s timeout.

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/testkit"
)

// metric is one sample of the app's /metrics exposition (0 when absent),
// keyed as testkit.ParseMetrics keys it.
func (s *server) metric(t testing.TB, key string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	s.app.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return testkit.ParseMetrics(t, rec.Body.String())[key]
}

// fromAddr is a cookie-less client whose connections leave from the
// loopback address ip (127.0.0.0/8 is all loopback), so the server sees
// that client address with no proxy header to trust.
func fromAddr(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// send makes one request with c and returns the status, the Retry-After
// header and the body.
func send(t *testing.T, c *http.Client, method, target string, form url.Values) (int, string, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

// b64 is s base64url-encoded without padding, as in a JWT.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestCallbackWithoutPendingWritesNothing: cookie-less callbacks, which
// anyone can send as fast as they like, get the friendly "Sign-in expired"
// page and are counted, but write no audit row and no log line above
// debug level.
func TestCallbackWithoutPendingWritesNothing(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{})
	c := fromAddr("127.0.0.1")
	const n = 300
	events := e.count("events", "")
	before := e.metric(t, "gatehouse_sso_callbacks_without_pending_total")
	e.logs.Drain()
	for i := range n {
		target := e.base + "/auth/callback?" + url.Values{"state": {fmt.Sprintf("junk-%d", i)}, "code": {"junk"}}.Encode()
		if i%2 == 1 {
			target = e.base + "/auth/callback" // no state either
		}
		status, _, body := send(t, c, http.MethodGet, target, nil)
		if status != http.StatusBadRequest || !strings.Contains(pageText(body), "Sign-in expired") {
			t.Fatalf("callback %d: %d, want 400 Sign-in expired:\n%s", i, status, pageText(body))
		}
	}
	if got := e.count("events", ""); got != events {
		t.Errorf("%d cookie-less callbacks wrote %d audit rows, want none", n, got-events)
	}
	if got := e.metric(t, "gatehouse_sso_callbacks_without_pending_total"); got != before+n {
		t.Errorf("gatehouse_sso_callbacks_without_pending_total = %v, want %v", got, before+n)
	}
	for line := range strings.Lines(e.logs.Drain()) {
		if !strings.Contains(line, "level=DEBUG") && !strings.Contains(line, "msg=request ") {
			t.Fatalf("a cookie-less callback logged above debug level: %s", line)
		}
	}
}

// TestSSOStartLimitPerAddress: one client address starting SSO sign-ins
// without a cookie (each a new browser, each a stored pending sign-in) is
// answered 429 once past its allowance, and stores nothing more; another
// address still starts sign-ins.
func TestSSOStartLimitPerAddress(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{})
	start := url.Values{"email": {"bob@example.com"}, "is_sso": {"true"}, "next": {""}}
	const tries, perMinute = 100, 60
	noisy := fromAddr("127.0.0.1")
	started, limited := 0, 0
	for i := range tries {
		status, retry, body := send(t, noisy, http.MethodPost, e.base+"/auth/login", start)
		switch status {
		case http.StatusSeeOther:
			started++
		case http.StatusTooManyRequests:
			limited++
			if retry == "" || !strings.Contains(pageText(body), "Too many sign-ins") {
				t.Fatalf("start %d: 429 without Retry-After (%q) or the friendly page:\n%s", i, retry, pageText(body))
			}
		default:
			t.Fatalf("start %d: %d\n%s", i, status, pageText(body))
		}
	}
	// The allowance refills at one a second: a slow run may get one or two more.
	if started < perMinute || started > perMinute+3 || limited != tries-started {
		t.Fatalf("%d of %d starts from one address went through (%d limited), want about %d", started, tries, limited, perMinute)
	}
	if n := e.count("pending_logins", ""); n != int64(started) {
		t.Fatalf("%d pending sign-ins stored for %d started", n, started)
	}
	if got := e.metric(t, `gatehouse_limited_requests_total{limit="sso_start_address"}`); got != float64(limited) {
		t.Errorf("sso_start_address refusals counted %v, want %d", got, limited)
	}
	if status, _, body := send(t, fromAddr("127.0.0.2"), http.MethodPost, e.base+"/auth/login", start); status != http.StatusSeeOther {
		t.Fatalf("a start from another address: %d, want 303\n%s", status, pageText(body))
	}
}

// TestSSOStartGlobalCap: with maxLivePending sign-ins in progress, a start
// from anywhere is answered 503 and stores nothing; once they expire (not
// yet swept), starts work again.
func TestSSOStartGlobalCap(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{})
	const maxLivePending = 10_000
	now := e.clock.Now()
	err := inRawTx(rawSQL(t, e.dbPath), func(tx *sql.Tx) error {
		st, err := tx.Prepare(`INSERT INTO pending_logins (state_hash, browser_hash, provider_id, nonce, code_verifier, created_at, expires_at)
			VALUES ($1, $2, 'acme', 'n', 'v', $3, $4)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for i := range maxLivePending {
			if _, err := st.Exec(fmt.Sprintf("seed-%d", i), fmt.Sprintf("b-%d", i), now, now.Add(10*time.Minute)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	start := url.Values{"email": {"bob@example.com"}, "is_sso": {"true"}, "next": {""}}
	for i, ip := range []string{"127.0.0.3", "127.0.0.4", "127.0.0.5"} {
		status, retry, body := send(t, fromAddr(ip), http.MethodPost, e.base+"/auth/login", start)
		if status != http.StatusServiceUnavailable || retry == "" || !strings.Contains(pageText(body), "Too many sign-ins are in progress") {
			t.Fatalf("start %d at the cap: %d (Retry-After %q), want 503 with the friendly page:\n%s", i, status, retry, pageText(body))
		}
	}
	if n := e.count("pending_logins", ""); n != maxLivePending {
		t.Fatalf("%d pending sign-ins stored, want the cap of %d", n, maxLivePending)
	}
	if got := e.metric(t, `gatehouse_limited_requests_total{limit="pending_cap"}`); got != 3 {
		t.Errorf("pending_cap refusals counted %v, want 3", got)
	}
	e.clock.Advance(10 * time.Minute)
	if status, _, body := send(t, fromAddr("127.0.0.3"), http.MethodPost, e.base+"/auth/login", start); status != http.StatusSeeOther {
		t.Fatalf("a start once the others expired: %d, want 303\n%s", status, pageText(body))
	}
}

// TestBackchannelLimitPerAddress: junk back-channel logout posts cannot
// crowd out a provider's logout tokens. Junk from another address spends
// only that address's allowance; junk from the provider's own address that
// fails the cheap checks (not a JWT, an unknown issuer) spends none.
func TestBackchannelLimitPerAddress(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{})
	ctx := context.Background()
	const junkPosts = 60
	// A token claiming the provider's issuer with a signature that fails:
	// worth verifying, so it takes from its address's allowance.
	forged := "eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ." +
		b64(`{"iss":"`+e.op.Issuer()+`","aud":"x","events":{}}`) + ".c2ln"
	b := e.browser()
	row := b.signIn(t, "bob@example.com")
	attacker := fromAddr("127.0.0.2")
	limited := 0
	for i := range junkPosts {
		status, _, _ := send(t, attacker, http.MethodPost, e.base+"/auth/backchannel-logout", url.Values{"logout_token": {forged}})
		switch status {
		case http.StatusTooManyRequests:
			limited++
		case http.StatusBadRequest:
		default:
			t.Fatalf("junk post %d: %d", i, status)
		}
	}
	if limited < junkPosts/2 {
		t.Fatalf("only %d of %d junk posts from one address were limited", limited, junkPosts)
	}
	if status, err := e.op.SendBackchannelLogout(ctx, ssoClientID(0), "", row.SID, nil); err != nil || status != http.StatusOK {
		t.Fatalf("the provider's logout token after junk from another address: %d %v, want 200", status, err)
	}
	if b.session(t) != nil {
		t.Fatal("the session survived the provider's logout token")
	}

	// Junk from the provider's own address that fails the cheap checks.
	b = e.browser()
	row = b.signIn(t, "bob@example.com")
	provider := fromAddr("127.0.0.1")
	unknown := "eyJhbGciOiJSUzI1NiJ9." + b64(`{"iss":"https://elsewhere.example"}`) + ".c2ln"
	for i := range junkPosts {
		tok := "not.a.jwt"
		if i%2 == 1 {
			tok = unknown
		}
		if status, _, _ := send(t, provider, http.MethodPost, e.base+"/auth/backchannel-logout", url.Values{"logout_token": {tok}}); status != http.StatusBadRequest {
			t.Fatalf("cheap junk post %d: %d, want 400", i, status)
		}
	}
	if status, err := e.op.SendBackchannelLogout(ctx, ssoClientID(0), "", row.SID, nil); err != nil || status != http.StatusOK {
		t.Fatalf("the provider's logout token after cheap junk from its address: %d %v, want 200", status, err)
	}
	if got := e.metric(t, `gatehouse_limited_requests_total{limit="backchannel_address"}`); got != float64(limited) {
		t.Errorf("backchannel_address refusals counted %v, want %d", got, limited)
	}
	if n := e.count("events", "kind = ?", models.EventBackchannel); n != 2 {
		t.Errorf("%d back-channel logouts audited, want the provider's 2", n)
	}
}

// TestAuditCSVStreams: the audit export reads the log in keyset pages of
// 500, each written as it is read, never the whole selection at once (the
// statements it runs are traced), and still exports every matching event,
// newest first, filters included.
func TestAuditCSVStreams(t *testing.T) {
	t.Parallel()
	e := newAdmEnv(t, admOpts{})
	root := e.asRoot(t)
	const n, annEvery = 1_234, 2 // every other event concerns ann: 617, two pages
	now := e.clock.Now()
	err := inRawTx(rawSQL(t, e.dbPath), func(tx *sql.Tx) error {
		for i := range n {
			var user any
			if i%annEvery == 0 {
				user = e.ann.ID
			}
			if _, err := tx.Exec(`INSERT INTO events (created_at, kind, user_id, detail) VALUES ($1, 'test.bulk', $2, $3)`,
				now.Add(time.Duration(i)*time.Second), user, fmt.Sprintf("bulk %04d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var reads []string
	e.db.Trace(func(q string) {
		if strings.Contains(q, "FROM `events`") || strings.Contains(q, `FROM "events"`) { // gorm quotes by dialect
			mu.Lock()
			reads = append(reads, q)
			mu.Unlock()
		}
	})
	export := func(query string, want, pages int) {
		t.Helper()
		mu.Lock()
		reads = nil
		mu.Unlock()
		req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/admin/audit.csv?"+query, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := root.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d, want 200", query, resp.StatusCode)
		}
		recs, err := csv.NewReader(resp.Body).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != want+1 {
			t.Fatalf("%s: %d rows exported, want %d and the header", query, len(recs)-1, want)
		}
		for i := 1; i < len(recs)-1; i++ {
			a, _ := strconv.Atoi(recs[i][0])
			b, _ := strconv.Atoi(recs[i+1][0])
			if a <= b {
				t.Fatalf("%s: row %d (id %d) before id %d: not newest first", query, i, a, b)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(reads) != pages {
			t.Errorf("%s: %d reads of the events table, want %d pages:\n%s", query, len(reads), pages, strings.Join(reads, "\n"))
		}
		for _, q := range reads {
			// SQLite's driver gets the limit written in; PostgreSQL's gets it
			// bound ($n), and the page count above shows its size.
			if !regexp.MustCompile(`LIMIT (500|\$\d+)$`).MatchString(q) || strings.Contains(q, "OFFSET") {
				t.Errorf("%s: an export read not bounded by a keyset page of 500: %s", query, q)
			}
		}
	}
	export("kind=test.bulk", n, 3)                                         // 500, 500, 234
	export("kind=test.bulk&user="+strconv.FormatInt(e.ann.ID, 10), 617, 2) // 500, 117
	export("kind=test.nothing", 0, 1)
	e.noServerErrors(t)
}
