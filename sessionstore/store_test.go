package sessionstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sso"
	"github.com/gatehouse/gatehouse/testkit"
	ginsessions "github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
)

const cookieName = "gh_session"

var t0 = time.Date(2030, 3, 4, 10, 0, 0, 0, time.UTC)

// env is one gatehouse-like server: a real database file, the store under
// test behind ginsessions.Sessions and tiny handlers.
type env struct {
	t     *testing.T
	path  string
	db    *models.DB
	store *Store
	clock *testkit.Clock
	srv   *httptest.Server
	log   *testkit.LogBuffer
	user  int64 // an existing user to sign in
	user2 int64
}

func defaultOpts() Options {
	return Options{IdleTimeout: 30 * time.Minute, Lifetime: 2 * time.Hour}
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	e := &env{t: t, path: testkit.Database(t, "sessions.db"), clock: testkit.NewClock(t0)}
	e.openDB()
	ctx := t.Context()
	if _, err := e.db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for i, email := range []string{"one@example.com", "two@example.com"} {
		u := &models.User{Email: email}
		if err := e.db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			e.user = u.ID
		} else {
			e.user2 = u.ID
		}
	}
	e.serve(opts)
	return e
}

func (e *env) openDB() {
	e.t.Helper()
	db, err := models.Open(e.path)
	if err != nil {
		e.t.Fatal(err)
	}
	db.Now = e.clock.Now
	e.db = db
	e.t.Cleanup(func() { db.Close() })
}

// serve (re)starts the HTTP server over e.db with a new Store.
func (e *env) serve(opts Options) {
	e.t.Helper()
	if e.srv != nil {
		e.srv.Close()
	}
	e.log = &testkit.LogBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.store = New(e.db, opts)
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(ginsessions.Sessions(cookieName, e.store))
	fail := func(c *gin.Context, err error) { c.String(http.StatusInternalServerError, "error: %v", err) }
	r.POST("/start", func(c *gin.Context) {
		id, _ := strconv.ParseInt(c.Query("user"), 10, 64)
		in := SignIn{
			UserID: id, Method: models.Method(c.DefaultQuery("method", "password")), AuthTime: e.clock.Now(),
			ProviderID: c.Query("provider"),
			Identity:   &sso.Identity{Issuer: c.Query("issuer"), Subject: c.Query("sub"), SID: c.Query("sid"), IDToken: c.Query("id_token")},
			IP:         c.ClientIP(), UserAgent: c.Request.UserAgent(), Admin: c.Query("admin") == "1",
		}
		if at := c.Query("auth_time"); at != "" {
			t, err := time.Parse(time.RFC3339, at)
			if err != nil {
				fail(c, err)
				return
			}
			in.Identity.AuthTime = t
		}
		if err := Start(ginsessions.Default(c), in); err != nil {
			fail(c, err)
			return
		}
		c.String(http.StatusOK, "started")
	})
	r.POST("/end", func(c *gin.Context) {
		if err := End(ginsessions.Default(c)); err != nil {
			fail(c, err)
			return
		}
		c.String(http.StatusOK, "ended")
	})
	r.POST("/set", func(c *gin.Context) {
		s := ginsessions.Default(c)
		s.Set(c.Query("k"), c.Query("v"))
		if err := s.Save(); err != nil {
			fail(c, err)
			return
		}
		c.String(http.StatusOK, "set")
	})
	r.GET("/get", func(c *gin.Context) {
		c.String(http.StatusOK, "%v", ginsessions.Default(c).Get(c.Query("k")))
	})
	r.POST("/mark", func(c *gin.Context) {
		s := ginsessions.Default(c)
		mark := map[string]func(ginsessions.Session, time.Time) error{"reauth": MarkReauth, "checked": MarkChecked}[c.Query("what")]
		if err := mark(s, e.clock.Now()); err != nil {
			fail(c, err)
			return
		}
		row := Current(s)
		c.String(http.StatusOK, "reauth %v checked %v", row.ReauthAt, row.SSOCheckedAt)
	})
	r.POST("/renew", func(c *gin.Context) {
		s := ginsessions.Default(c)
		if err := Renew(s, c.Query("admin") == "1"); err != nil {
			fail(c, err)
			return
		}
		c.String(http.StatusOK, "renewed")
	})
	r.GET("/privileged", func(c *gin.Context) {
		c.String(http.StatusOK, "%t", Privileged(ginsessions.Default(c)))
	})
	r.GET("/user", func(c *gin.Context) {
		s := ginsessions.Default(c)
		if err := LoadError(s); err != nil {
			c.String(http.StatusOK, "load error: %v", err)
			return
		}
		row := Current(s)
		switch {
		case row == nil:
			c.String(http.StatusOK, "signed out")
		case row.User == nil:
			c.String(http.StatusOK, "no user")
		default:
			c.String(http.StatusOK, "%s disabled=%v", row.User.Email, row.User.Disabled())
		}
	})
	r.GET("/whoami", func(c *gin.Context) {
		row := Current(ginsessions.Default(c))
		switch {
		case row == nil:
			c.String(http.StatusOK, "signed out")
		case row.UserID == nil:
			c.String(http.StatusOK, "anonymous row")
		default:
			c.String(http.StatusOK, "user %d", *row.UserID)
		}
	})
	e.srv = httptest.NewServer(r)
	e.t.Cleanup(e.srv.Close)
}

// do sends one request with the cookie value (none when empty) and returns
// the response with its body read.
func (e *env) do(method, target, cookie string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+target, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("User-Agent", "store-test/1.0")
	if cookie != "" {
		req.Header.Set("Cookie", cookieName+"="+cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, string(body)
}

// sessionCookie returns the response's session cookie, or nil.
func sessionCookie(resp *http.Response) *http.Cookie {
	var last *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			last = c
		}
	}
	return last
}

// start signs user in (with the cookie the browser has, if any) and returns
// the new token.
func (e *env) start(user int64, cookie string) string {
	e.t.Helper()
	resp, body := e.do("POST", fmt.Sprintf("/start?user=%d", user), cookie)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("start: %d %s", resp.StatusCode, body)
	}
	c := sessionCookie(resp)
	if c == nil || c.Value == "" {
		e.t.Fatalf("start set no session cookie: %q", resp.Header.Values("Set-Cookie"))
	}
	return c.Value
}

func (e *env) whoami(cookie string) string {
	e.t.Helper()
	resp, body := e.do("GET", "/whoami", cookie)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("whoami: %d %s", resp.StatusCode, body)
	}
	return body
}

func (e *env) rowCount() int {
	e.t.Helper()
	var n int64
	if err := rawSQL(e.t, e.path).QueryRowContext(e.t.Context(), "SELECT count(*) FROM sessions").Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return int(n)
}

func (e *env) row(token string) *models.Session {
	e.t.Helper()
	s, err := e.db.SessionByHash(e.t.Context(), Hash(token))
	if err != nil {
		e.t.Fatalf("session row for token: %v", err)
	}
	return s
}

func (e *env) rowGone(token string) bool {
	e.t.Helper()
	_, err := e.db.SessionByHash(e.t.Context(), Hash(token))
	return err == models.ErrNotFound
}

func TestCookieAttributes(t *testing.T) {
	tests := []struct {
		name       string
		opts       Options
		secure     bool
		wantMaxAge int
	}{
		{"http browser-session cookie", Options{IdleTimeout: 30 * time.Minute, Lifetime: 2 * time.Hour}, false, 0},
		{"https browser-session cookie", Options{Secure: true, IdleTimeout: 30 * time.Minute, Lifetime: 2 * time.Hour}, true, 0},
		{"permanent cookie", Options{Permanent: true, IdleTimeout: 30 * time.Minute, Lifetime: 12 * time.Hour}, false, 12 * 3600},
		{"permanent https cookie", Options{Secure: true, Permanent: true, IdleTimeout: time.Hour, Lifetime: 7 * 24 * time.Hour}, true, 7 * 24 * 3600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts)
			resp, _ := e.do("POST", fmt.Sprintf("/start?user=%d", e.user), "")
			c := sessionCookie(resp)
			if c == nil {
				t.Fatal("no session cookie")
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure != tt.secure || c.Domain != "" {
				t.Errorf("cookie HttpOnly=%v SameSite=%v Path=%q Secure=%v Domain=%q; want true Lax / %v empty",
					c.HttpOnly, c.SameSite, c.Path, c.Secure, c.Domain, tt.secure)
			}
			raw := strings.Join(resp.Header.Values("Set-Cookie"), "\n")
			if c.MaxAge != tt.wantMaxAge {
				t.Errorf("Max-Age = %d, want %d (header %q)", c.MaxAge, tt.wantMaxAge, raw)
			}
			if tt.wantMaxAge == 0 && (strings.Contains(raw, "Max-Age") || strings.Contains(raw, "Expires")) {
				t.Errorf("browser-session cookie carries an expiry: %q", raw)
			}
			// The clearing cookie carries the same attributes, or a browser
			// would refuse it for a __Host- cookie.
			resp, _ = e.do("POST", "/end", c.Value)
			d := sessionCookie(resp)
			if d == nil || d.MaxAge >= 0 || !d.HttpOnly || d.SameSite != http.SameSiteLaxMode || d.Path != "/" || d.Secure != tt.secure {
				t.Errorf("End cookie = %+v", d)
			}
		})
	}
}

var tokenShape = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

func TestTokenOnlyHashStored(t *testing.T) {
	e := newEnv(t, defaultOpts())
	seen := map[string]bool{}
	for range 5 {
		token := e.start(e.user, "")
		if !tokenShape.MatchString(token) {
			t.Fatalf("token %q is not 43 base64url characters", token)
		}
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || len(b) != 32 {
			t.Fatalf("token decodes to %d bytes, %v; want 32", len(b), err)
		}
		if seen[token] {
			t.Fatalf("token %q issued twice", token)
		}
		seen[token] = true
		if got := e.row(token).TokenHash; got != Hash(token) || len(got) != 64 {
			t.Fatalf("token_hash = %q, want hex SHA-256 %q", got, Hash(token))
		}
	}
	// No column of any row holds a raw token.
	rows, err := rawSQL(t, e.path).QueryContext(t.Context(), "SELECT * FROM sessions")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	n := 0
	for rows.Next() {
		n++
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			text := fmt.Sprintf("%s", v)
			for token := range seen {
				if strings.Contains(text, token) {
					t.Fatalf("column %s holds the raw token", cols[i])
				}
			}
		}
	}
	if n != len(seen) {
		t.Fatalf("%d rows, want %d", n, len(seen))
	}
}

func TestSignedInValues(t *testing.T) {
	e := newEnv(t, defaultOpts())
	resp, body := e.do("POST", fmt.Sprintf("/start?user=%d&method=sso&provider=acme&issuer=https://idp.example.com&sub=s-1&sid=sid-1&id_token=tok", e.user), "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("start: %s", body)
	}
	token := sessionCookie(resp).Value
	if got := e.whoami(token); got != fmt.Sprintf("user %d", e.user) {
		t.Fatalf("whoami = %q", got)
	}
	row := e.row(token)
	if row.UserID == nil || *row.UserID != e.user || row.AuthMethod != "sso" || row.ProviderID != "acme" ||
		row.Issuer != "https://idp.example.com" || row.Subject != "s-1" || row.SID != "sid-1" || row.IDToken != "tok" ||
		row.AuthTime == nil || !row.AuthTime.Equal(t0) || row.IP != "127.0.0.1" || row.UserAgent != "store-test/1.0" || row.Data != "{}" {
		t.Fatalf("row = %+v", row)
	}
	if !row.CreatedAt.Equal(t0) || !row.ExpiresAt.Equal(t0.Add(2*time.Hour)) || !row.IdleExpiresAt.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("row times created=%v idle=%v expires=%v", row.CreatedAt, row.IdleExpiresAt, row.ExpiresAt)
	}
	for k, want := range map[string]string{
		keyAuthMethod: "sso", keyProviderID: "acme", keySubject: "s-1", keySID: "sid-1", keyIDToken: "tok",
		keyIP: "127.0.0.1", keyUserAgent: "store-test/1.0", keyUserID: strconv.FormatInt(e.user, 10), keyAuthTime: t0.String(),
	} {
		if _, got := e.do("GET", "/get?k="+k, token); got != want {
			t.Errorf("session value %s = %q, want %q", k, got, want)
		}
	}
}

func TestStartRotates(t *testing.T) {
	e := newEnv(t, defaultOpts())
	// A planted anonymous session (fixation attempt) is replaced at sign-in.
	resp, _ := e.do("POST", "/set?k=planted&v=1", "")
	planted := sessionCookie(resp)
	if planted == nil {
		t.Fatal("setting a value on a new session issued no cookie")
	}
	if got := e.whoami(planted.Value); got != "anonymous row" {
		t.Fatalf("anonymous session whoami = %q", got)
	}
	first := e.start(e.user, planted.Value)
	if first == planted.Value || !e.rowGone(planted.Value) {
		t.Fatal("sign-in kept the planted token")
	}
	if got := e.whoami(planted.Value); got != "signed out" {
		t.Fatalf("planted token after sign-in: %q", got)
	}
	if _, got := e.do("GET", "/get?k=planted", first); got != "<nil>" {
		t.Fatalf("value from before sign-in survived Start: %q", got)
	}

	second := e.start(e.user2, first)
	if second == first {
		t.Fatal("Start reused the token")
	}
	if !e.rowGone(first) {
		t.Fatal("old row still in the database after rotation")
	}
	if got := e.whoami(first); got != "signed out" {
		t.Fatalf("old cookie still resolves: %q", got)
	}
	if got := e.whoami(second); got != fmt.Sprintf("user %d", e.user2) {
		t.Fatalf("new cookie: %q", got)
	}
	if n := e.rowCount(); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

func TestEnd(t *testing.T) {
	e := newEnv(t, defaultOpts())
	token := e.start(e.user, "")
	other := e.start(e.user, "") // a second browser of the same user
	resp, body := e.do("POST", "/end", token)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("end: %s", body)
	}
	c := sessionCookie(resp)
	if c == nil || c.Value != "" || c.MaxAge >= 0 || !c.HttpOnly || c.Path != "/" || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("End cookie = %+v; want an empty, expired, HttpOnly Lax cookie on /", c)
	}
	if !strings.Contains(strings.Join(resp.Header.Values("Set-Cookie"), ";"), "Max-Age=0") {
		t.Fatalf("End does not send Max-Age=0: %q", resp.Header.Values("Set-Cookie"))
	}
	if !e.rowGone(token) {
		t.Fatal("End left the row")
	}
	if got := e.whoami(token); got != "signed out" {
		t.Fatalf("ended token: %q", got)
	}
	if got := e.whoami(other); got != fmt.Sprintf("user %d", e.user) {
		t.Fatalf("End ended the other browser's session too: %q", got)
	}
	// Ending without a session, or twice, is harmless.
	for _, cookie := range []string{"", token} {
		resp, body := e.do("POST", "/end", cookie)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("end with cookie %q: %d %s", cookie, resp.StatusCode, body)
		}
	}
}

func TestIdleAndAbsoluteExpiry(t *testing.T) {
	// idle 30m, lifetime 2h
	type step struct {
		at   time.Duration // since sign-in
		want string        // "in" or "out"
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"idle expiry without activity", []step{{29 * time.Minute, "in"}, {29*time.Minute + 30*time.Minute, "out"}}},
		{"idle expiry exactly at the limit", []step{{30 * time.Minute, "out"}}},
		{"just before idle expiry", []step{{30*time.Minute - time.Second, "in"}}},
		{"activity extends idle", []step{{20 * time.Minute, "in"}, {45 * time.Minute, "in"}, {70 * time.Minute, "in"}, {99 * time.Minute, "in"}, {130 * time.Minute, "out"}}},
		{"activity never extends past lifetime", []step{
			{25 * time.Minute, "in"}, {50 * time.Minute, "in"}, {75 * time.Minute, "in"}, {100 * time.Minute, "in"},
			{119 * time.Minute, "in"}, {120 * time.Minute, "out"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, defaultOpts())
			token := e.start(e.user, "")
			signedIn := fmt.Sprintf("user %d", e.user)
			for _, s := range tt.steps {
				e.clock.Set(t0.Add(s.at))
				got := e.whoami(token)
				if (s.want == "in") != (got == signedIn) {
					t.Fatalf("at +%v: whoami = %q, want %s", s.at, got, s.want)
				}
				if s.want == "out" {
					if !e.rowGone(token) {
						t.Fatalf("at +%v: expired row not deleted", s.at)
					}
					return
				}
				row := e.row(token)
				if row.IdleExpiresAt.After(row.ExpiresAt) {
					t.Fatalf("at +%v: idle expiry %v past absolute %v", s.at, row.IdleExpiresAt, row.ExpiresAt)
				}
				if !row.ExpiresAt.Equal(t0.Add(2 * time.Hour)) {
					t.Fatalf("at +%v: absolute expiry moved to %v", s.at, row.ExpiresAt)
				}
			}
		})
	}
}

func TestIdleClampedToLifetime(t *testing.T) {
	e := newEnv(t, Options{IdleTimeout: 3 * time.Hour, Lifetime: time.Hour})
	token := e.start(e.user, "")
	if row := e.row(token); !row.IdleExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("idle expiry %v, want clamped to %v", row.IdleExpiresAt, t0.Add(time.Hour))
	}
	e.clock.Set(t0.Add(59 * time.Minute))
	e.whoami(token)
	if row := e.row(token); !row.IdleExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("touched idle expiry %v, want clamped to %v", row.IdleExpiresAt, t0.Add(time.Hour))
	}
}

func TestLastSeenWrittenAtMostOnceAMinute(t *testing.T) {
	e := newEnv(t, defaultOpts())
	token := e.start(e.user, "")
	steps := []struct {
		at       time.Duration
		lastSeen time.Duration // expected last_seen_at after the request
	}{
		{0, 0},
		{30 * time.Second, 0},
		{59 * time.Second, 0},
		{61 * time.Second, 61 * time.Second},
		{91 * time.Second, 61 * time.Second},
		{120 * time.Second, 61 * time.Second},
		{121 * time.Second, 121 * time.Second},
		{10 * time.Minute, 10 * time.Minute},
	}
	for _, s := range steps {
		e.clock.Set(t0.Add(s.at))
		if got := e.whoami(token); got != fmt.Sprintf("user %d", e.user) {
			t.Fatalf("at +%v: %q", s.at, got)
		}
		row := e.row(token)
		if !row.LastSeenAt.Equal(t0.Add(s.lastSeen)) {
			t.Fatalf("at +%v: last_seen_at = +%v, want +%v", s.at, row.LastSeenAt.Sub(t0), s.lastSeen)
		}
		if want := t0.Add(s.lastSeen + 30*time.Minute); !row.IdleExpiresAt.Equal(want) {
			t.Fatalf("at +%v: idle_expires_at = %v, want %v", s.at, row.IdleExpiresAt, want)
		}
	}
}

func TestGarbageCookiesSignedOut(t *testing.T) {
	e := newEnv(t, defaultOpts())
	live := e.start(e.user, "")
	unknown := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	tests := []struct {
		name   string
		header string // whole Cookie header
	}{
		{"random string", cookieName + "=hello"},
		{"43 chars not base64", cookieName + "=" + strings.Repeat("!", 43)},
		{"43 chars std base64", cookieName + "=" + strings.Repeat("+/", 21) + "A"},
		{"44 chars", cookieName + "=" + live + "A"},
		{"42 chars", cookieName + "=" + live[:42]},
		{"invalid UTF-8 bytes", cookieName + "=\xff\xfe\xfd" + live[3:]},
		{"empty", cookieName + "="},
		{"quoted garbage", cookieName + "=\"" + strings.Repeat("!", 43) + "\""},
		{"unbalanced quote", cookieName + "=\"" + live},
		{"unknown well-formed token", cookieName + "=" + unknown},
		{"the stored hash instead of the token", cookieName + "=" + Hash(live)},
		{"token of another cookie name", "other=" + live},
		{"long value", cookieName + "=" + strings.Repeat("A", 3000)},
	}
	before := e.rowCount()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), "GET", e.srv.URL+"/whoami", nil)
			req.Header.Set("Cookie", tt.header)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != "signed out" {
				t.Fatalf("whoami = %d %q, want 200 signed out", resp.StatusCode, body)
			}
			if c := sessionCookie(resp); c != nil {
				t.Fatalf("a read-only request set a cookie: %+v", c)
			}
			// Signing in from there works and issues a fresh token.
			req, _ = http.NewRequestWithContext(t.Context(), "POST", fmt.Sprintf("%s/start?user=%d", e.srv.URL, e.user2), nil)
			req.Header.Set("Cookie", tt.header)
			resp, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			c := sessionCookie(resp)
			if resp.StatusCode != http.StatusOK || c == nil || !tokenShape.MatchString(c.Value) {
				t.Fatalf("sign-in over a garbage cookie: %d %+v", resp.StatusCode, c)
			}
			if err := e.db.DeleteSession(t.Context(), Hash(c.Value)); err != nil {
				t.Fatal(err)
			}
		})
	}
	if got := e.rowCount(); got != before {
		t.Fatalf("garbage cookies changed the row count from %d to %d", before, got)
	}
	if got := e.whoami(live); got != fmt.Sprintf("user %d", e.user) {
		t.Fatalf("the live session was disturbed: %q", got)
	}
}

func TestCorruptDataSignedOut(t *testing.T) {
	e := newEnv(t, defaultOpts())
	token := e.start(e.user, "")
	if _, err := rawSQL(t, e.path).ExecContext(t.Context(), "UPDATE sessions SET data = 'not json'"); err != nil {
		t.Fatal(err)
	}
	if got := e.whoami(token); got != "signed out" {
		t.Fatalf("whoami with corrupt data = %q", got)
	}
	if !strings.Contains(e.log.String(), "decode session data") {
		t.Fatalf("corrupt data not logged: %s", e.log.String())
	}
}

func TestDatabaseErrorSignedOut(t *testing.T) {
	e := newEnv(t, defaultOpts())
	token := e.start(e.user, "")
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	resp, body := e.do("GET", "/whoami", token)
	if resp.StatusCode != http.StatusOK || body != "signed out" {
		t.Fatalf("whoami with the database closed = %d %q, want 200 signed out", resp.StatusCode, body)
	}
	if !strings.Contains(e.log.String(), "load session") {
		t.Fatalf("database error not logged: %s", e.log.String())
	}
	// Writes fail with an error the handler sees, not a panic.
	resp, body = e.do("POST", fmt.Sprintf("/start?user=%d", e.user), token)
	if resp.StatusCode != http.StatusInternalServerError || !strings.HasPrefix(body, "error:") {
		t.Fatalf("start with the database closed = %d %q", resp.StatusCode, body)
	}
}

func TestSessionSurvivesRestart(t *testing.T) {
	e := newEnv(t, Options{IdleTimeout: 30 * time.Minute, Lifetime: 2 * time.Hour, Permanent: true})
	token := e.start(e.user, "")
	if resp, _ := e.do("POST", "/set?k=theme&v=dark", token); resp.StatusCode != http.StatusOK {
		t.Fatal("set failed")
	}
	e.srv.Close()
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	e.openDB()
	e.serve(Options{IdleTimeout: 30 * time.Minute, Lifetime: 2 * time.Hour, Permanent: true})
	e.clock.Set(t0.Add(10 * time.Minute))
	if got := e.whoami(token); got != fmt.Sprintf("user %d", e.user) {
		t.Fatalf("after restart: %q", got)
	}
	if _, got := e.do("GET", "/get?k=theme", token); got != "dark" {
		t.Fatalf("value after restart = %q", got)
	}
}

func TestDataColumn(t *testing.T) {
	e := newEnv(t, defaultOpts())
	token := e.start(e.user, "")
	id := e.row(token).ID
	for _, kv := range [][2]string{{"theme", "dark"}, {"next", "/dashboard"}} {
		resp, body := e.do("POST", "/set?k="+kv[0]+"&v="+kv[1], token)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("set %s: %s", kv[0], body)
		}
		if c := sessionCookie(resp); c != nil {
			t.Fatalf("updating a value re-issued the cookie: %+v", c)
		}
	}
	row := e.row(token)
	if row.ID != id {
		t.Fatal("updating a value replaced the row")
	}
	if row.Data != `{"next":"/dashboard","theme":"dark"}` {
		t.Fatalf("data = %s", row.Data)
	}
	if row.UserID == nil || *row.UserID != e.user || row.AuthMethod != "password" {
		t.Fatalf("saving values lost the columns: %+v", row)
	}
	if _, got := e.do("GET", "/get?k=theme", token); got != "dark" {
		t.Fatalf("theme = %q", got)
	}

	// Over the cap: refused, the stored row untouched, the session alive.
	big := strings.Repeat("x", MaxDataBytes)
	resp, body := e.do("POST", "/set?k=blob&v="+big, token)
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, "cap") {
		t.Fatalf("oversized data = %d %q, want an error naming the cap", resp.StatusCode, body)
	}
	if got := e.row(token).Data; got != row.Data {
		t.Fatalf("oversized save changed data to %d bytes", len(got))
	}
	// Just under the cap is fine.
	fits := strings.Repeat("y", MaxDataBytes-len(`{"next":"/dashboard","theme":"dark","z":""}`))
	if resp, body := e.do("POST", "/set?k=z&v="+fits, token); resp.StatusCode != http.StatusOK {
		t.Fatalf("data at exactly the cap refused: %s", body)
	}
	if got := len(e.row(token).Data); got != MaxDataBytes {
		t.Fatalf("data is %d bytes, want %d", got, MaxDataBytes)
	}
	if got := e.whoami(token); got != fmt.Sprintf("user %d", e.user) {
		t.Fatalf("whoami = %q", got)
	}
}

func TestCleanup(t *testing.T) {
	e := newEnv(t, defaultOpts())
	ctx := t.Context()
	live := e.start(e.user, "")
	// A backlog larger than several batches of expired rows.
	const expired = 2*cleanupBatch + 37
	past := t0.Add(-time.Minute)
	_, err := rawSQL(t, e.path).ExecContext(ctx, `INSERT INTO sessions (token_hash, created_at, last_seen_at, idle_expires_at, expires_at)
		WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $1)
		SELECT 'expired-' || x, $2, $3, $4, $5 FROM c`, expired, past.Add(-time.Hour), past, past, past.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got := e.rowCount(); got != expired+1 {
		t.Fatalf("%d rows, want %d", got, expired+1)
	}
	e.store.cleanup(ctx)
	if got := e.rowCount(); got != 1 {
		t.Fatalf("after cleanup %d rows, want 1 (the live one)", got)
	}
	if e.rowGone(live) {
		t.Fatal("cleanup deleted the live session")
	}

	// RunCleanup removes rows that expire while it runs, and stops with ctx.
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		e.store.RunCleanup(runCtx, 10*time.Millisecond)
		close(done)
	}()
	e.clock.Set(t0.Add(3 * time.Hour))
	deadline := time.Now().Add(10 * time.Second)
	for e.rowCount() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("RunCleanup did not remove the expired session")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("RunCleanup did not return after cancel")
	}
}

func TestValidToken(t *testing.T) {
	good, err := NewToken(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		token string
		want  bool
	}{
		{good, true},
		{"", false},
		{good[:42], false},
		{good + "A", false},
		{strings.Repeat("=", 43), false},
		{strings.Repeat("é", 21) + "a", false},
	}
	for _, tt := range tests {
		if got := ValidToken(tt.token); got != tt.want {
			t.Errorf("ValidToken(%q) = %v, want %v", tt.token, got, tt.want)
		}
	}
}
