package handlers_test

// Admin console tests: the real handler stack (real SQLite file, session
// store, views, account service and a real OpenID Provider on loopback)
// behind httptest, driven by browsers (browser_test.go) with their own
// cookie jars that never follow redirects. Helpers carry an "adm" prefix so they cannot clash with
// other test files of the package.

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/testkit"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/sso"
	"github.com/gatehouse/gatehouse/testop"
)

const (
	admPW    = "correct horse battery staple"
	admNewPW = "a brand new long password"
	admRoot  = "root@example.com" // the administrator
	admAnn   = "ann@example.com"  // an ordinary account
	admXSS   = `<script>alert(1)</script>`
)

// admEnv is one running handler stack.
type admEnv struct {
	*server
	setup *handlers.Setup
	op    *testop.Provider
	svc   *accounts.Service
	root  *models.User // nil with noUsers
	ann   *models.User
}

type admOpts struct {
	noUsers bool // no accounts at all (first-admin setup)
	noOP    bool // no OpenID Provider (benchmarks)
}

func newAdmEnv(t testing.TB, o admOpts) *admEnv {
	t.Helper()
	e := &admEnv{}
	clock := testkit.NewClock(time.Date(2030, 3, 4, 10, 0, 0, 0, time.UTC))
	var providers func(string) []config.Provider
	if !o.noOP {
		providers = func(base string) []config.Provider {
			var err error
			e.op, err = testop.Start(testop.Options{
				Now: clock.Now,
				Clients: []testop.Client{{
					ID: "gatehouse", Secret: "op-secret", Name: "gatehouse",
					RedirectURIs:           []string{base + "/auth/callback"},
					PostLogoutRedirectURIs: []string{base + "/auth/logged-out"},
				}},
			})
			if err != nil {
				t.Fatalf("start provider: %v", err)
			}
			t.Cleanup(func() { e.op.Close() })
			return []config.Provider{{
				ProviderConfig: sso.ProviderConfig{
					ID: "acme", Name: "Acme SSO", Issuer: e.op.Issuer(), ClientID: "gatehouse", ClientSecret: "op-secret",
					EmailDomains: []string{"example.com"},
				},
				Link: accounts.LinkVerifiedEmail,
			}}
		}
	}
	e.server = newServer(t, serverOpts{clock: clock, providers: providers})
	e.setup, e.svc = e.app.Setup, e.app.Accounts
	if !o.noUsers {
		e.root = e.mkUser(t, admRoot, "Root Admin", admPW, true)
		e.ann = e.mkUser(t, admAnn, "Ann Example", admPW, false)
	}
	return e
}

// mkUser creates an account directly; an empty pw makes it SSO-only.
func (e *admEnv) mkUser(t testing.TB, email, name, pw string, admin bool) *models.User {
	t.Helper()
	return e.createUser(t, email, name, pw, admin)
}

// user reloads an account; nil when it is gone.
func (e *admEnv) user(t testing.TB, id int64) *models.User {
	t.Helper()
	u, err := e.db.UserByID(context.Background(), id)
	if errors.Is(err, models.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// count runs SELECT COUNT(*) FROM table WHERE where.
func (e *admEnv) count(t testing.TB, table, where string, args ...any) int64 {
	t.Helper()
	return countRows(t, e.cfg.Database, table, where, args...)
}

// events lists the events of a kind, oldest first.
func (e *admEnv) events(t testing.TB, kind models.EventKind) []models.Event {
	t.Helper()
	es, _, err := e.db.SearchEvents(context.Background(), models.EventFilter{Kind: kind.String()})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(es) // SearchEvents lists newest first
	return es
}

// wantEvent checks the newest event of kind has the actor and target.
func (e *admEnv) wantEvent(t testing.TB, kind models.EventKind, actor, target int64, detail string) models.Event {
	t.Helper()
	es := e.events(t, kind)
	if len(es) == 0 {
		t.Fatalf("no %s event recorded", kind)
	}
	ev := es[len(es)-1]
	if ev.ActorID == nil || *ev.ActorID != actor || ev.UserID == nil || *ev.UserID != target {
		t.Fatalf("%s event: actor %v user %v, want actor %d user %d", kind, ptrText(ev.ActorID), ptrText(ev.UserID), actor, target)
	}
	if !strings.Contains(ev.Detail, detail) {
		t.Fatalf("%s event detail %q lacks %q", kind, ev.Detail, detail)
	}
	return ev
}

func ptrText(p *int64) string {
	if p == nil {
		return "nil"
	}
	return strconv.FormatInt(*p, 10)
}

// noServerErrors fails when the server logged an error or a panic.
func (e *admEnv) noServerErrors(t testing.TB) {
	t.Helper()
	logs := e.logs.String()
	for _, bad := range []string{"level=ERROR", "panic", "SQLITE_BUSY"} {
		if strings.Contains(logs, bad) {
			t.Errorf("server log contains %q:\n%s", bad, logs)
		}
	}
}

// admClient is one browser (browser_test.go) of an admin test: its own
// cookie jar, redirects not followed, and a 5xx fails the test.
type admClient struct {
	*browser
	e *admEnv
}

func (e *admEnv) client() *admClient {
	return &admClient{browser: e.newBrowser(), e: e}
}

// try sends one request; target is a path on gatehouse or an absolute URL.
func (c *admClient) try(method, target string, form url.Values, header map[string]string) (*response, error) {
	return c.browser.do(method, target, form, header)
}

// do sends one request, failing the test on a 5xx answer.
func (c *admClient) do(t testing.TB, method, target string, form url.Values) *response {
	t.Helper()
	return c.must(t, req{method: method, path: target, form: form})
}

func (c *admClient) login(t testing.TB, email, pw string) {
	t.Helper()
	c.post(t, "/auth/login", url.Values{"email": {email}, "password": {pw}, "next": {""}, "is_sso": {"false"}}).
		want(t, http.StatusSeeOther, "/dashboard")
}

// loginFails checks a password sign-in is refused with the single answer.
func (c *admClient) loginFails(t testing.TB, email, pw string) {
	t.Helper()
	c.post(t, "/auth/login", url.Values{"email": {email}, "password": {pw}, "next": {""}, "is_sso": {"false"}}).
		want(t, http.StatusUnauthorized, "").has(t, "Incorrect email or password.")
}

// ssoLogin signs in through the provider as (sub, email) and returns
// gatehouse's answer to the callback.
func (c *admClient) ssoLogin(t testing.TB, sub, email string) *response {
	t.Helper()
	c.e.op.SetLoginUser(&testop.User{Subject: sub, Email: email, Name: "SSO " + sub, EmailVerified: true})
	r := c.post(t, "/auth/login", url.Values{"provider": {"acme"}, "email": {""}, "next": {""}, "is_sso": {"true"}})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, c.e.op.Issuer()) {
		t.Fatalf("start SSO: got %d %q; body:\n%s", r.status, r.loc, r.body)
	}
	r = c.get(t, r.loc)
	if (r.status != http.StatusFound && r.status != http.StatusSeeOther) || !strings.HasPrefix(r.loc, c.e.srv.URL+"/auth/callback") {
		t.Fatalf("provider authorize: got %d %q; body:\n%s", r.status, r.loc, r.body)
	}
	return c.get(t, r.loc)
}

// signedInAs is the email the dashboard shows, or "" when signed out.
func (c *admClient) signedInAs(t testing.TB) string {
	t.Helper()
	r := c.get(t, "/dashboard")
	if r.status == http.StatusSeeOther && strings.HasPrefix(r.loc, "/login") {
		return ""
	}
	m := regexp.MustCompile(`id="user-email">([^<]*)<`).FindStringSubmatch(r.body)
	if r.status != http.StatusOK || m == nil {
		t.Fatalf("GET /dashboard: %d %q\n%s", r.status, r.loc, r.body)
	}
	return m[1]
}

func (c *admClient) wantSignedIn(t testing.TB, email string) {
	t.Helper()
	if got := c.signedInAs(t); got != email {
		t.Fatalf("signed in as %q, want %q", got, email)
	}
}

func (c *admClient) wantSignedOut(t testing.TB) {
	t.Helper()
	if got := c.signedInAs(t); got != "" {
		t.Fatalf("still signed in as %q", got)
	}
}

// sessionRow is the database row of this browser's session.
func (c *admClient) sessionRow(t testing.TB) *models.Session {
	t.Helper()
	tok := c.cookie(c.e.cfg.CookieName())
	if tok == "" {
		t.Fatal("no session cookie")
	}
	row, err := c.e.db.SessionByHash(context.Background(), sessionstore.Hash(tok))
	if err != nil {
		t.Fatalf("session row: %v", err)
	}
	return row
}

// asRoot signs the administrator in.
func (e *admEnv) asRoot(t testing.TB) *admClient {
	t.Helper()
	c := e.client()
	c.login(t, admRoot, admPW)
	return c
}

func userPath(id int64, rest string) string {
	return "/admin/users/" + strconv.FormatInt(id, 10) + rest
}

func done(id int64, code string) string { return userPath(id, "?done="+code) }

// tableRow is the HTML of the table row with the id.
func tableRow(t testing.TB, body, id string) string {
	t.Helper()
	i := strings.Index(body, `<tr id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no row %s in:\n%s", id, body)
	}
	j := strings.Index(body[i:], "</tr>")
	return body[i : i+j]
}

// rowCount counts the table rows whose id starts with prefix.
func rowCount(body, prefix string) int { return strings.Count(body, `<tr id="`+prefix) }

// snapshot prints what admin actions could change, to compare before and after.
func (e *admEnv) snapshot(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	db := rawSQL(t, e.cfg.Database)
	each := func(query string, dest []any, line func()) {
		rows, err := db.Query(query)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				t.Fatal(err)
			}
			line()
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	var u models.User
	each("SELECT id, email, name, is_admin, disabled_at, password_hash FROM users ORDER BY id",
		[]any{&u.ID, &u.Email, &u.Name, &u.IsAdmin, &u.DisabledAt, &u.PasswordHash}, func() {
			fmt.Fprintf(&b, "user %d %s %q admin=%t disabled=%v pw=%v\n", u.ID, u.Email, u.Name, u.IsAdmin, u.DisabledAt, ptrStr(u.PasswordHash))
		})
	var id models.Identity
	each("SELECT id, user_id, subject FROM identities ORDER BY id", []any{&id.ID, &id.UserID, &id.Subject}, func() {
		fmt.Fprintf(&b, "identity %d user %d %s\n", id.ID, id.UserID, id.Subject)
	})
	var s models.Session
	each("SELECT id, user_id FROM sessions ORDER BY id", []any{&s.ID, &s.UserID}, func() {
		fmt.Fprintf(&b, "session %d user %s\n", s.ID, ptrText(s.UserID))
	})
	var ev models.Event
	each("SELECT id, kind FROM events WHERE kind NOT LIKE 'login.%' AND kind NOT LIKE 'reauth.%' ORDER BY id", []any{&ev.ID, &ev.Kind}, func() {
		fmt.Fprintf(&b, "event %d %s\n", ev.ID, ev.Kind)
	})
	return b.String()
}

func ptrStr(p *string) string {
	if p == nil {
		return "nil"
	}
	return *p
}

// linkIdentity attaches an identity straight in the database.
func (e *admEnv) linkIdentity(t testing.TB, u *models.User, sub string) *models.Identity {
	t.Helper()
	id := &models.Identity{UserID: u.ID, ProviderID: "acme", Issuer: "https://idp.invalid", Subject: sub, Email: u.Email, Claims: "{}"}
	if err := e.db.CreateIdentity(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	return id
}

// --- authorisation ----------------------------------------------------------

func TestAdminAuthorization(t *testing.T) {
	t.Parallel()
	e := newAdmEnv(t, admOpts{})
	ann := e.client()
	ann.login(t, admAnn, admPW)
	ident := e.linkIdentity(t, e.ann, "ann-sub")
	sess := ann.sessionRow(t)
	other := e.mkUser(t, "other@example.com", "Other", admPW, false)
	fill := strings.NewReplacer(":id", strconv.FormatInt(e.ann.ID, 10), ":iid", strconv.FormatInt(ident.ID, 10),
		":sid", strconv.FormatInt(sess.ID, 10))
	evil := url.Values{
		"email": {"evil@example.com"}, "name": {"Evil"}, "admin": {"1"}, "password_mode": {"password"},
		"password": {"evil long password"}, "password_again": {"evil long password"},
	}

	var routes []string
	for _, r := range handlers.AdminTestRoutes() {
		if r.Path == "/admin" || strings.HasPrefix(r.Path, "/admin/") || strings.HasPrefix(r.Path, "/admin.") {
			routes = append(routes, r.Method+" "+r.Path)
		}
	}
	slices.Sort(routes)
	for _, want := range []string{
		"GET /admin/users", "POST /admin/users/new", "POST /admin/users/:id", "POST /admin/users/:id/disable",
		"POST /admin/users/:id/delete", "POST /admin/users/:id/password/remove", "POST /admin/users/:id/identities/:iid/unlink",
		"POST /admin/users/:id/sessions/:sid/revoke", "POST /admin/users/:id/sessions/revoke-all", "GET /admin/audit.csv",
	} {
		if !slices.Contains(routes, want) {
			t.Fatalf("route %s not registered; have %v", want, routes)
		}
	}
	if len(routes) < 17 {
		t.Fatalf("only %d admin routes found: %v", len(routes), routes)
	}

	anon := e.client()
	root := e.asRoot(t)
	before := e.snapshot(t)
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt, " ")
		path = fill.Replace(path)
		var form url.Values
		if method == http.MethodPost {
			form = evil
		}
		// A signed-in non-administrator: 403 with the friendly page.
		r := ann.do(t, method, path, form)
		if r.status != http.StatusForbidden || !strings.Contains(r.body, "Administrators only") {
			t.Errorf("%s as non-admin: got %d %q, want 403", rt, r.status, r.loc)
		}
		// Signed out: to the login page (remembering GET targets).
		r = anon.do(t, method, path, form)
		wantLoc := "/login"
		if method == http.MethodGet {
			wantLoc += "?next=" + url.QueryEscape(path)
		}
		if r.status != http.StatusSeeOther || r.loc != wantLoc {
			t.Errorf("%s signed out: got %d %q, want 303 %q", rt, r.status, r.loc, wantLoc)
		}
		// An administrator can read every page.
		if method == http.MethodGet && !strings.Contains(path, "/delete") {
			if r := root.do(t, method, path, nil); r.status != http.StatusOK && r.status != http.StatusSeeOther {
				t.Errorf("%s as admin: got %d", rt, r.status)
			}
		}
	}
	if after := e.snapshot(t); after != before {
		t.Fatalf("refused requests changed something:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	ann.wantSignedIn(t, admAnn)
	if e.user(t, other.ID) == nil {
		t.Fatal("other account vanished")
	}

	// The layout shows the admin links to administrators only.
	root.get(t, "/dashboard").want(t, http.StatusOK, "").has(t, `href="/admin/users"`, `href="/admin/audit"`)
	ann.get(t, "/dashboard").want(t, http.StatusOK, "").lacks(t, `href="/admin/users"`, `href="/admin/audit"`)
	// A demoted administrator loses access on the next request.
	if err := e.db.UpdateUser(context.Background(), e.root.ID, e.root.Name, e.root.Email, false); err != nil {
		t.Fatal(err)
	}
	root.get(t, "/admin/users").want(t, http.StatusForbidden, "")
	e.noServerErrors(t)
}

// --- users list --------------------------------------------------------------

func TestAdminUsersList(t *testing.T) {
	t.Parallel()
	e := newAdmEnv(t, admOpts{})
	ctx := context.Background()
	for i := range 60 {
		e.clock.Advance(time.Second)
		u := e.mkUser(t, fmt.Sprintf("u%02d@list.example", i), fmt.Sprintf("List User %02d", i), "", i == 7)
		if i%3 == 0 {
			e.linkIdentity(t, u, fmt.Sprintf("list-%d", i))
		}
		if i%5 == 0 {
			if err := e.db.SetDisabled(ctx, u.ID, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	root := e.asRoot(t)
	e.clock.Advance(time.Minute)
	e.client().login(t, admAnn, admPW)

	r := root.get(t, "/admin/users").want(t, http.StatusOK, "").has(t, "62 accounts", "page 1 of 2", `id="next-page"`)
	if n := rowCount(r.body, "user-"); n != 50 {
		t.Fatalf("page 1 has %d rows, want 50", n)
	}
	annRow := tableRow(t, r.body, "user-"+strconv.FormatInt(e.ann.ID, 10))
	for _, want := range []string{admAnn, "Ann Example", "2030-03-04 10:02 UTC", "password", "Enabled", "<td>Yes</td>", "<td>0</td>"} {
		if !strings.Contains(annRow, want) {
			t.Errorf("ann's row lacks %q: %s", want, annRow)
		}
	}
	r = root.get(t, "/admin/users?page=2").want(t, http.StatusOK, "").has(t, `id="prev-page"`)
	if n := rowCount(r.body, "user-"); n != 12 {
		t.Fatalf("page 2 has %d rows, want 12", n)
	}
	u06, _ := e.db.UserByEmail(ctx, "u06@list.example")
	row := tableRow(t, root.get(t, "/admin/users?q=u06").body, "user-"+strconv.FormatInt(u06.ID, 10))
	for _, want := range []string{"List User 06", "<td>No</td>", "<td>1</td>", "never"} {
		if !strings.Contains(row, want) {
			t.Errorf("u06 row lacks %q: %s", want, row)
		}
	}

	for _, tc := range []struct {
		query string
		n     int
		has   []string
	}{
		{"q=LIST+USER+07", 1, []string{"u07@list.example"}},
		{"q=U07%40LIST", 1, []string{"u07@list.example"}},
		{"q=list.example", 60, nil},
		{"q=100%25", 0, []string{"No accounts match."}},
		{"admin=yes", 2, []string{admRoot, "u07@list.example"}},
		{"admin=no", 60, nil},
		{"disabled=yes", 12, []string{"u00@list.example", "Disabled"}},
		{"disabled=no", 50, nil},
		{"password=yes", 2, []string{admRoot, admAnn}},
		{"password=no", 60, nil},
		{"sso=yes", 20, []string{"u03@list.example"}},
		{"sso=no", 42, nil},
		{"sso=yes&disabled=yes", 4, []string{"u00@list.example", "u15@list.example"}},
	} {
		r := root.get(t, "/admin/users?"+tc.query).want(t, http.StatusOK, "").has(t, tc.has...)
		if !strings.Contains(r.body, fmt.Sprintf(">%d account", tc.n)) {
			t.Errorf("%s: want %d matches: %s", tc.query, tc.n, regexp.MustCompile(`id="user-count">[^<]*`).FindString(r.body))
		}
	}

	// Sorting: every key both ways.
	order := func(query string, emails ...string) {
		t.Helper()
		body := root.get(t, "/admin/users?"+query).want(t, http.StatusOK, "").body
		last := -1
		for _, em := range emails {
			i := strings.Index(body, ">"+em+"<")
			if i < 0 || i < last {
				t.Fatalf("%s: %s out of order (%d after %d)", query, em, i, last)
			}
			last = i
		}
	}
	order("sort=-last_login", admAnn, admRoot)
	order("sort=last_login&password=yes", admRoot, admAnn)
	order("sort=email&admin=yes", admRoot, "u07@list.example")
	order("sort=-email&admin=yes", "u07@list.example", admRoot)
	order("sort=name&password=yes", admAnn, admRoot)
	order("sort=-name&password=yes", admRoot, admAnn)
	order("sort=created&password=yes", admRoot, admAnn)
	order("sort=-created&q=list+user+0", "u09@list.example", "u08@list.example", "u00@list.example")
	root.get(t, "/admin/users?sort=-last_login").has(t, `aria-sort="descending"`)

	// Invalid parameters are ignored, never a 5xx.
	for _, q := range []string{
		"page=-1", "page=abc", "page=99999999999999999999", "page=1000000000", "sort=%3BDROP+TABLE+users", "sort=-",
		"admin=maybe", "disabled=1", "q=%ff%fe", "q=" + strings.Repeat("x", 5000), "q=%25_%5C", "sso[]=yes", "q=<b>&sort=<i>",
	} {
		if r := root.get(t, "/admin/users?"+q); r.status != http.StatusOK {
			t.Errorf("?%s: status %d", q, r.status)
		}
	}
	root.get(t, "/admin/users?q=<b>").lacks(t, "<b>")
	e.noServerErrors(t)
}

// --- create ----------------------------------------------------------------------

func TestAdminCreateUser(t *testing.T) {
	t.Parallel()
	e := newAdmEnv(t, admOpts{})
	ctx := context.Background()
	root := e.asRoot(t)
	root.get(t, "/admin/users/new").want(t, http.StatusOK, "").has(t, `id="new-user-form"`, "At least 12 characters")

	form := func(email, name, mode, pw, again string, admin bool) url.Values {
		v := url.Values{"email": {email}, "name": {name}, "password_mode": {mode}, "password": {pw}, "password_again": {again}}
		if admin {
			v.Set("admin", "1")
		}
		return v
	}
	// With a password: normalised email, and the password works.
	r := root.post(t, "/admin/users/new", form("  New.Person@Example.COM ", " New Person ", "password", admNewPW, admNewPW, false))
	np, err := e.db.UserByEmail(ctx, "new.person@example.com")
	if err != nil {
		t.Fatalf("created user not found: %v (response %d %s)", err, r.status, r.body)
	}
	r.want(t, http.StatusSeeOther, done(np.ID, "created"))
	if np.Name != "New Person" || np.IsAdmin || !np.HasPassword() || np.Disabled() {
		t.Fatalf("created user %+v", np)
	}
	root.page(t, r.loc).want(t, http.StatusOK, "").has(t, "The account was created.", "new.person@example.com")
	e.wantEvent(t, models.EventUserCreated, e.root.ID, np.ID, "password")
	e.client().login(t, "new.person@example.com", admNewPW)

	// SSO-only: no password hash at all.
	r = root.post(t, "/admin/users/new", form("sso.only@example.com", "", "none", "", "", false))
	so, err := e.db.UserByEmail(ctx, "sso.only@example.com")
	if err != nil {
		t.Fatal(err)
	}
	r.want(t, http.StatusSeeOther, done(so.ID, "created"))
	if so.PasswordHash != nil {
		t.Fatal("SSO-only account has a password hash")
	}
	e.wantEvent(t, models.EventUserCreated, e.root.ID, so.ID, "single sign-on only")
	e.client().loginFails(t, "sso.only@example.com", admPW)

	// The page hides the password fields for "Single sign-on only" with an
	// asset script (no inline script under the CSP), and the server ignores
	// passwords typed before switching to it.
	root.get(t, "/admin/users/new").has(t, `<script src="/assets/js/admin_user_new.js" defer></script>`, `<div id="password-fields">`)
	root.get(t, "/assets/js/admin_user_new.js").want(t, http.StatusOK, "").has(t, "password-fields", "mode-password")
	r = root.post(t, "/admin/users/new", form("typed.then.sso@example.com", "", "none", admNewPW, admNewPW, false))
	ts, err := e.db.UserByEmail(ctx, "typed.then.sso@example.com")
	if err != nil {
		t.Fatal(err)
	}
	r.want(t, http.StatusSeeOther, done(ts.ID, "created"))
	if ts.PasswordHash != nil {
		t.Fatal("SSO-only account kept the password typed before choosing single sign-on only")
	}
	e.client().loginFails(t, "typed.then.sso@example.com", admNewPW)

	// An administrator.
	r = root.post(t, "/admin/users/new", form("second.admin@example.com", "Second", "none", "", "", true))
	sa, err := e.db.UserByEmail(ctx, "second.admin@example.com")
	if err != nil || !sa.IsAdmin {
		t.Fatalf("admin not created: %v %+v", err, sa)
	}
	r.want(t, http.StatusSeeOther, done(sa.ID, "created"))
	e.wantEvent(t, models.EventUserCreated, e.root.ID, sa.ID, "administrator")

	before := e.snapshot(t)
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		msg    string
		kept   []string
	}{
		{"duplicate email in another case", form("ANN@Example.com", "Dup Ann", "password", admNewPW, admNewPW, false),
			http.StatusConflict, "An account with this email already exists.", []string{`value="ANN@Example.com"`, `value="Dup Ann"`}},
		{"bad email", form("not-an-email", "Bad", "password", admNewPW, admNewPW, true),
			http.StatusBadRequest, "Enter a valid email address.", []string{`value="not-an-email"`, `value="Bad"`, `name="admin" value="1" checked`}},
		{"short password", form("short@example.com", "Short", "password", "short", "short", false),
			http.StatusBadRequest, "Use a password of at least 12 characters.", []string{`value="short@example.com"`}},
		{"passwords differ", form("differ@example.com", "", "password", admNewPW, admNewPW+"x", false),
			http.StatusBadRequest, "The two passwords do not match.", []string{`value="differ@example.com"`}},
		{"no password", form("nopw@example.com", "", "password", "", "", false),
			http.StatusBadRequest, "Enter an initial password", []string{`value="nopw@example.com"`}},
		{"too long name", form("long@example.com", strings.Repeat("n", 201), "none", "", "", false),
			http.StatusBadRequest, "Names are at most 200 characters", []string{`value="long@example.com"`}},
	} {
		r := root.post(t, "/admin/users/new", tc.form)
		if r.status != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, r.status, tc.status)
		}
		r.has(t, tc.msg).has(t, tc.kept...).lacks(t, admNewPW, `value="short"`)
	}
	if after := e.snapshot(t); after != before {
		t.Fatalf("refused creations changed something:\n%s\n%s", before, after)
	}

	// Names and emails stay inert text everywhere they are shown.
	r = root.post(t, "/admin/users/new", form(`"xss"@example.com`, admXSS, "none", "", "", false))
	xu, err := e.db.UserByEmail(ctx, `"xss"@example.com`)
	if err != nil {
		t.Fatalf("xss user: %v (%d %s)", err, r.status, r.body)
	}
	escaped := "&lt;script&gt;alert(1)&lt;/script&gt;"
	for _, page := range []string{"/admin/users?q=xss", userPath(xu.ID, ""), userPath(xu.ID, "/delete"), "/admin/audit"} {
		rr := root.get(t, page).want(t, http.StatusOK, "").lacks(t, admXSS, `"xss"@`)
		if page != "/admin/audit" {
			rr.has(t, escaped)
		}
	}
	e.noServerErrors(t)
}

// --- edit ---------------------------------------------------------------------------

func TestAdminEditUser(t *testing.T) {
	t.Parallel()
	e := newAdmEnv(t, admOpts{})
	root := e.asRoot(t)
	ann := e.ann
	root.get(t, userPath(ann.ID, "")).want(t, http.StatusOK, "").has(t, admAnn, "Ann Example", `id="edit-form"`)

	edit := func(id int64, name, email string, admin bool) *response {
		v := url.Values{"name": {name}, "email": {email}}
		if admin {
			v.Set("admin", "1")
		}
		return root.post(t, userPath(id, ""), v)
	}
	edit(ann.ID, " Ann Other ", " Ann.Other@Example.com ", false).want(t, http.StatusSeeOther, done(ann.ID, "updated"))
	got := e.user(t, ann.ID)
	if got.Name != "Ann Other" || got.Email != "ann.other@example.com" || got.IsAdmin {
		t.Fatalf("after edit: %+v", got)
	}
	e.wantEvent(t, models.EventUserUpdated, e.root.ID, ann.ID, "name; email ann@example.com → ann.other@example.com")
	root.page(t, done(ann.ID, "updated")).has(t, "The account was saved.")

	// An email another account has: 409, what was typed is kept.
	bob := e.mkUser(t, "bob@example.com", "Bob", "", false)
	before := e.snapshot(t)
	edit(bob.ID, "Bobby", "ANN.OTHER@example.com", false).want(t, http.StatusConflict, "").
		has(t, "Another account already uses ann.other@example.com.", `value="ANN.OTHER@example.com"`, `value="Bobby"`)
	edit(bob.ID, "Bobby", "not an email", false).want(t, http.StatusBadRequest, "").has(t, "Enter a valid email address.", `value="not an email"`)
	edit(bob.ID, strings.Repeat("b", 201), "bob@example.com", false).want(t, http.StatusBadRequest, "").has(t, "Names are at most 200 characters")
	if after := e.snapshot(t); after != before {
		t.Fatalf("refused edits changed something:\n%s\n%s", before, after)
	}

	// Promote and demote, recorded with the old and new flag.
	edit(bob.ID, "Bob", "bob@example.com", true).want(t, http.StatusSeeOther, done(bob.ID, "updated"))
	if !e.user(t, bob.ID).IsAdmin {
		t.Fatal("bob not promoted")
	}
	e.wantEvent(t, models.EventUserUpdated, e.root.ID, bob.ID, "admin false → true")
	edit(bob.ID, "Bob", "bob@example.com", false).want(t, http.StatusSeeOther, done(bob.ID, "updated"))
	if e.user(t, bob.ID).IsAdmin {
		t.Fatal("bob not demoted")
	}
	e.wantEvent(t, models.EventUserUpdated, e.root.ID, bob.ID, "admin true → false")

	// Saving without a change records nothing.
	n := len(e.events(t, models.EventUserUpdated))
	edit(bob.ID, "Bob", "BOB@example.com", false).want(t, http.StatusSeeOther, done(bob.ID, "unchanged"))
	if len(e.events(t, models.EventUserUpdated)) != n {
		t.Fatal("an unchanged save was audited")
	}

	// Names stay inert.
	edit(bob.ID, admXSS, "bob@example.com", false).want(t, http.StatusSeeOther, "")
	root.get(t, userPath(bob.ID, "")).lacks(t, admXSS).has(t, "&lt;script&gt;alert(1)&lt;/script&gt;")
	root.get(t, "/admin/users/99999").want(t, http.StatusNotFound, "").has(t, "No such account")
	root.get(t, "/admin/users/abc").want(t, http.StatusNotFound, "")
	root.post(t, "/admin/users/99999/disable", nil).want(t, http.StatusNotFound, "")
	e.noServerErrors(t)
}

// --- disable and enable -----------------------------------------------------------

func TestAdminDisableEnable(t *testing.T) {
	t.Parallel()
	e := newAdmEnv(t, admOpts{})
	sam := e.mkUser(t, "sam@example.com", "Sam Sample", admPW, false)
	samPW := e.client()
	samPW.login(t, sam.Email, admPW)
	samSSO := e.client()
	samSSO.ssoLogin(t, "sam-sub", sam.Email).want(t, http.StatusSeeOther, "/dashboard")
	samSSO.wantSignedIn(t, sam.Email)
	if n := e.count(t, "identities", "user_id = ?", sam.ID); n != 1 {
		t.Fatalf("sam has %d identities, want 1", n)
	}

	root := e.asRoot(t)
	root.post(t, userPath(sam.ID, "/disable"), nil).want(t, http.StatusSeeOther, done(sam.ID, "disabled"))
	if !e.user(t, sam.ID).Disabled() {
		t.Fatal("sam not disabled")
	}
	if n := e.count(t, "sessions", "user_id = ?", sam.ID); n != 0 {
		t.Fatalf("%d sessions left after disable", n)
	}
	e.wantEvent(t, models.EventUserDisabled, e.root.ID, sam.ID, "")
	// Open sessions stop working on their next request.
	samPW.wantSignedOut(t)
	samSSO.wantSignedOut(t)
	// Password and SSO sign-in are refused.
	e.client().loginFails(t, sam.Email, admPW)
	e.client().ssoLogin(t, "sam-sub", sam.Email).want(t, http.StatusForbidden, "").has(t, "This account is disabled.")
	root.get(t, userPath(sam.ID, "")).has(t, "Disabled since", `id="enable"`).lacks(t, `id="disable"`)
	root.get(t, "/admin/users?disabled=yes").has(t, sam.Email)

	// Disabling again changes nothing.
	n := len(e.events(t, models.EventUserDisabled))
	root.post(t, userPath(sam.ID, "/disable"), nil).want(t, http.StatusSeeOther, done(sam.ID, "unchanged"))
	if len(e.events(t, models.EventUserDisabled)) != n {
		t.Fatal("a second disable was audited")
	}

	root.post(t, userPath(sam.ID, "/enable"), nil).want(t, http.StatusSeeOther, done(sam.ID, "enabled"))
	if e.user(t, sam.ID).Disabled() {
		t.Fatal("sam still disabled")
	}
	e.wantEvent(t, models.EventUserEnabled, e.root.ID, sam.ID, "")
	c := e.client()
	c.login(t, sam.Email, admPW)
	c.wantSignedIn(t, sam.Email)
	c = e.client()
	c.ssoLogin(t, "sam-sub", sam.Email).want(t, http.StatusSeeOther, "/dashboard")
	c.wantSignedIn(t, sam.Email)
	e.noServerErrors(t)
}

// --- delete --------------------------------------------------------------------------

func TestAdminDelete(t *testing.T) {
	t.Parallel()
	e := newAdmEnv(t, admOpts{})
	sam := e.mkUser(t, "sam@example.com", "Sam Sample", admPW, false)
	samPW := e.client()
	samPW.login(t, sam.Email, admPW)
	samSSO := e.client()
	samSSO.ssoLogin(t, "sam-sub", sam.Email).want(t, http.StatusSeeOther, "/dashboard")

	root := e.asRoot(t)
	root.get(t, userPath(sam.ID, "/delete")).want(t, http.StatusOK, "").
		has(t, "Delete this account?", `id="delete-email">sam@example.com<`, `id="delete-name">Sam Sample<`,
			"its 1 linked sign-in provider", "its 2 sessions", `action="/admin/users/`+strconv.FormatInt(sam.ID, 10)+`/delete"`)
	root.post(t, userPath(sam.ID, "/delete"), nil).want(t, http.StatusSeeOther, "/admin/users?done=deleted")
	if e.user(t, sam.ID) != nil {
		t.Fatal("sam still exists")
	}
	for _, table := range []string{"identities", "sessions"} {
		if n := e.count(t, table, "user_id = ?", sam.ID); n != 0 {
			t.Fatalf("%d %s rows left", n, table)
		}
	}
	ev := e.wantEvent(t, models.EventUserDeleted, e.root.ID, sam.ID, "Sam Sample")
	if ev.Email != sam.Email {
		t.Fatalf("delete event email %q", ev.Email)
	}
	samPW.wantSignedOut(t)
	samSSO.wantSignedOut(t)
	root.page(t, "/admin/users?done=deleted").has(t, "The account was deleted").lacks(t, sam.Email)
	root.get(t, userPath(sam.ID, "")).want(t, http.StatusNotFound, "")
	root.post(t, userPath(sam.ID, "/delete"), nil).want(t, http.StatusNotFound, "")
	// The audit log keeps the deleted account's history.
	root.get(t, "/admin/audit?user="+strconv.FormatInt(sam.ID, 10)).has(t, "user.deleted", "sam@example.com", "deleted)")
	e.noServerErrors(t)
}

// --- passwords --------------------------------------------------------------------

func TestAdminPasswords(t *testing.T) {
	t.Parallel()
	e := newAdmEnv(t, admOpts{})
	ann := e.client()
	ann.login(t, admAnn, admPW)
	root := e.asRoot(t)
	pw := func(p, again string) url.Values { return url.Values{"password": {p}, "password_again": {again}} }
	path := userPath(e.ann.ID, "/password")

	before := e.snapshot(t)
	root.post(t, path, pw("short", "short")).want(t, http.StatusBadRequest, "").has(t, "Use a password of at least 12 characters.").lacks(t, `value="short"`)
	root.post(t, path, pw(admNewPW, admNewPW+"!")).want(t, http.StatusBadRequest, "").has(t, "The two passwords do not match.").lacks(t, admNewPW)
	root.post(t, path, pw("", "")).want(t, http.StatusBadRequest, "")
	if after := e.snapshot(t); after != before {
		t.Fatalf("refused password changes changed something")
	}
	ann.wantSignedIn(t, admAnn)

	root.post(t, path, pw(admNewPW, admNewPW)).want(t, http.StatusSeeOther, done(e.ann.ID, "password_set"))
	e.wantEvent(t, models.EventPasswordSet, e.root.ID, e.ann.ID, "")
	ann.wantSignedOut(t)
	e.client().loginFails(t, admAnn, admPW)
	ann.login(t, admAnn, admNewPW)
	ann.wantSignedIn(t, admAnn)

	root.post(t, userPath(e.ann.ID, "/password/remove"), nil).want(t, http.StatusSeeOther, done(e.ann.ID, "password_removed"))
	if e.user(t, e.ann.ID).PasswordHash != nil {
		t.Fatal("password still set")
	}
	e.wantEvent(t, models.EventPasswordRemoved, e.root.ID, e.ann.ID, "")
	ann.wantSignedOut(t)
	e.client().loginFails(t, admAnn, admNewPW)
	root.get(t, userPath(e.ann.ID, "")).has(t, `id="target-password">No<`).lacks(t, `id="remove-password"`)
	// Removing a missing password is a no-op; an administrator's own is refused.
	root.post(t, userPath(e.ann.ID, "/password/remove"), nil).want(t, http.StatusSeeOther, done(e.ann.ID, "unchanged"))
	root.post(t, userPath(e.root.ID, "/password/remove"), nil).want(t, http.StatusConflict, "").has(t, "You cannot do that to your own account.")
	if !e.user(t, e.root.ID).HasPassword() {
		t.Fatal("root lost its password")
	}
	e.noServerErrors(t)
}

// --- identities and sessions ---------------------------------------------------------

func TestAdminUnlinkAndSessions(t *testing.T) {
	t.Parallel()
	e := newAdmEnv(t, admOpts{})
	sam := e.mkUser(t, "sam@example.com", "Sam Sample", admPW, false)
	pw1, pw2, viaSSO := e.client(), e.client(), e.client()
	pw1.login(t, sam.Email, admPW)
	pw2.login(t, sam.Email, admPW)
	viaSSO.ssoLogin(t, "sam-sub", sam.Email).want(t, http.StatusSeeOther, "/dashboard")
	ids, err := e.db.UserIdentities(context.Background(), sam.ID)
	if err != nil || len(ids) != 1 {
		t.Fatalf("identities: %v %v", ids, err)
	}
	ident := ids[0]

	root := e.asRoot(t)
	page := root.get(t, userPath(sam.ID, "")).want(t, http.StatusOK, "").body
	irow := tableRow(t, page, "identity-"+strconv.FormatInt(ident.ID, 10))
	for _, want := range []string{"Acme SSO", "sam-sub", "sam@example.com", "2030-03-04 10:00 UTC", "/unlink"} {
		if !strings.Contains(irow, want) {
			t.Errorf("identity row lacks %q: %s", want, irow)
		}
	}
	if n := rowCount(page, "session-"); n != 3 {
		t.Fatalf("user page lists %d sessions, want 3", n)
	}
	srow := tableRow(t, page, "session-"+strconv.FormatInt(viaSSO.sessionRow(t).ID, 10))
	for _, want := range []string{"127.0.0.1", "Go-http-client", "single sign-on (Acme SSO)"} {
		if !strings.Contains(srow, want) {
			t.Errorf("session row lacks %q: %s", want, srow)
		}
	}

	// Unlink: the identity goes, and so do the sessions it started.
	root.post(t, userPath(sam.ID, fmt.Sprintf("/identities/%d/unlink", ident.ID)), nil).want(t, http.StatusSeeOther, done(sam.ID, "unlinked"))
	if n := e.count(t, "identities", "user_id = ?", sam.ID); n != 0 {
		t.Fatal("identity still linked")
	}
	ev := e.wantEvent(t, models.EventIdentityUnlinked, e.root.ID, sam.ID, "sam-sub")
	if ev.ProviderID != "acme" {
		t.Fatalf("unlink event provider %q", ev.ProviderID)
	}
	viaSSO.wantSignedOut(t)
	pw1.wantSignedIn(t, sam.Email)
	pw2.wantSignedIn(t, sam.Email)
	root.post(t, userPath(sam.ID, fmt.Sprintf("/identities/%d/unlink", ident.ID)), nil).want(t, http.StatusSeeOther, done(sam.ID, "already_gone"))
	// Another account's identity cannot be reached through sam's page.
	annIdent := e.linkIdentity(t, e.ann, "ann-sub")
	root.post(t, userPath(sam.ID, fmt.Sprintf("/identities/%d/unlink", annIdent.ID)), nil).want(t, http.StatusSeeOther, done(sam.ID, "already_gone"))
	if e.count(t, "identities", "id = ?", annIdent.ID) != 1 {
		t.Fatal("ann's identity was unlinked through sam's page")
	}

	// Revoke one session.
	s1 := pw1.sessionRow(t)
	root.post(t, userPath(sam.ID, fmt.Sprintf("/sessions/%d/revoke", s1.ID)), nil).want(t, http.StatusSeeOther, done(sam.ID, "session_revoked"))
	e.wantEvent(t, models.EventSessionRevoked, e.root.ID, sam.ID, fmt.Sprintf("session %d", s1.ID))
	pw1.wantSignedOut(t)
	pw2.wantSignedIn(t, sam.Email)
	root.post(t, userPath(sam.ID, fmt.Sprintf("/sessions/%d/revoke", s1.ID)), nil).want(t, http.StatusSeeOther, done(sam.ID, "already_gone"))
	// Another account's session cannot be revoked through sam's page.
	annC := e.client()
	annC.login(t, admAnn, admPW)
	root.post(t, userPath(sam.ID, fmt.Sprintf("/sessions/%d/revoke", annC.sessionRow(t).ID)), nil).want(t, http.StatusSeeOther, done(sam.ID, "already_gone"))
	annC.wantSignedIn(t, admAnn)

	// Revoke all.
	pw1.login(t, sam.Email, admPW)
	root.post(t, userPath(sam.ID, "/sessions/revoke-all"), nil).want(t, http.StatusSeeOther, done(sam.ID, "sessions_revoked"))
	e.wantEvent(t, models.EventSessionRevoked, e.root.ID, sam.ID, "all sessions (2)")
	pw1.wantSignedOut(t)
	pw2.wantSignedOut(t)
	annC.wantSignedIn(t, admAnn)
	root.get(t, userPath(sam.ID, "")).has(t, `id="no-sessions"`, `id="no-identities"`)
	// The admin's own session is marked on their own page.
	root.get(t, userPath(e.root.ID, "")).has(t, "this browser")
	e.noServerErrors(t)
}

// --- guard rails --------------------------------------------------------------------

func TestAdminGuardRails(t *testing.T) {
	t.Parallel()
	e := newAdmEnv(t, admOpts{})
	root := e.asRoot(t)
	self := func(suffix string, form url.Values, status int, msg string) {
		t.Helper()
		before := e.snapshot(t)
		root.post(t, userPath(e.root.ID, suffix), form).want(t, status, "").has(t, msg)
		if after := e.snapshot(t); after != before {
			t.Fatalf("POST %s changed something:\n%s\n%s", suffix, before, after)
		}
	}
	lastAdmin := "This is the last enabled administrator: make another administrator first."
	selfMsg := "You cannot do that to your own account."
	// The only administrator.
	self("/disable", nil, http.StatusConflict, selfMsg)
	self("/delete", nil, http.StatusConflict, selfMsg)
	self("", url.Values{"name": {"Root"}, "email": {admRoot}}, http.StatusConflict, lastAdmin)
	self("/password/remove", nil, http.StatusConflict, selfMsg)
	root.get(t, userPath(e.root.ID, "/delete")).has(t, "You cannot delete your own account.", `id="delete-confirm" disabled`)
	root.get(t, userPath(e.root.ID, "")).lacks(t, `id="disable"`, `id="delete"`).has(t, `id="self-badge"`)

	// With a second administrator: still not to oneself.
	admin2 := e.mkUser(t, "admin2@example.com", "Admin Two", admPW, true)
	self("/disable", nil, http.StatusConflict, selfMsg)
	self("/delete", nil, http.StatusConflict, selfMsg)
	self("", url.Values{"name": {"Root"}, "email": {admRoot}}, http.StatusConflict, selfMsg)
	// ... but to the other one, yes.
	root.post(t, userPath(admin2.ID, ""), url.Values{"name": {"Admin Two"}, "email": {admin2.Email}}).want(t, http.StatusSeeOther, done(admin2.ID, "updated"))
	a2 := e.client()
	a2.login(t, admin2.Email, admPW)
	a2.get(t, "/admin/users").want(t, http.StatusForbidden, "")

	// The second administrator, once disabled, does not count: root is the last enabled one.
	root.post(t, userPath(admin2.ID, ""), url.Values{"name": {"Admin Two"}, "email": {admin2.Email}, "admin": {"1"}}).want(t, http.StatusSeeOther, "")
	root.post(t, userPath(admin2.ID, "/disable"), nil).want(t, http.StatusSeeOther, done(admin2.ID, "disabled"))
	self("", url.Values{"name": {"Root"}, "email": {admRoot}}, http.StatusConflict, lastAdmin)
	root.post(t, userPath(admin2.ID, "/delete"), nil).want(t, http.StatusSeeOther, "/admin/users?done=deleted")
	if u := e.user(t, e.root.ID); !u.IsAdmin || u.Disabled() {
		t.Fatalf("root lost its role: %+v", u)
	}
	e.noServerErrors(t)
}

// --- sudo mode -----------------------------------------------------------------------

func TestAdminSudoMode(t *testing.T) {
	t.Parallel()
	e := newAdmEnv(t, admOpts{})
	annC := e.client()
	annC.login(t, admAnn, admPW)
	ident := e.linkIdentity(t, e.ann, "ann-sub")
	admin2 := e.mkUser(t, "admin2@example.com", "Admin Two", admPW, true)
	victim := e.mkUser(t, "victim@example.com", "Victim", admPW, false)
	off := e.mkUser(t, "off@example.com", "Off", admPW, false)
	if err := e.db.SetDisabled(context.Background(), off.ID, true); err != nil {
		t.Fatal(err)
	}
	root := e.asRoot(t)
	e.clock.Advance(11 * time.Minute) // older than the 10-minute sudo window

	actions := []struct {
		method, path string
		form         url.Values
	}{
		{"POST", userPath(e.ann.ID, "/disable"), nil},
		{"GET", userPath(victim.ID, "/delete"), nil},
		{"POST", userPath(victim.ID, "/delete"), nil},
		{"POST", userPath(e.ann.ID, "/password"), url.Values{"password": {admNewPW}, "password_again": {admNewPW}}},
		{"POST", userPath(e.ann.ID, "/password/remove"), nil},
		{"POST", userPath(e.ann.ID, fmt.Sprintf("/identities/%d/unlink", ident.ID)), nil},
		{"POST", userPath(e.ann.ID, ""), url.Values{"name": {"Ann Example"}, "email": {admAnn}, "admin": {"1"}}}, // promote
		{"POST", userPath(admin2.ID, ""), url.Values{"name": {"Admin Two"}, "email": {admin2.Email}}},            // demote
		{"POST", "/admin/users/new", url.Values{"email": {"new.admin@example.com"}, "admin": {"1"}, "password_mode": {"none"}}},
		{"POST", userPath(admin2.ID, ""), url.Values{"name": {"Admin Two"}, "email": {"admin2.new@example.com"}, "admin": {"1"}}}, // new email
		{"POST", userPath(off.ID, "/enable"), nil},
	}
	before := e.snapshot(t)
	for _, a := range actions {
		r := root.do(t, a.method, a.path, a.form)
		want := "/auth/reauth?next="
		if a.method == "GET" {
			want += url.QueryEscape(a.path)
		}
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, want) {
			t.Errorf("%s %s outside sudo mode: got %d %q, want 303 %s...", a.method, a.path, r.status, r.loc, want)
		}
	}
	// An action with a confirmation page comes back to that page after
	// re-authenticating (TestAdminSudoCarriesAction), whatever the Referer.
	r, err := root.try("POST", userPath(e.ann.ID, "/disable"), url.Values{}, map[string]string{"Referer": e.srv.URL + userPath(e.ann.ID, "")})
	if err != nil {
		t.Fatal(err)
	}
	r.want(t, http.StatusSeeOther, "/auth/reauth?next="+url.QueryEscape(userPath(e.ann.ID, "/disable")))
	// Another form comes back to the page it was posted from.
	r, err = root.try("POST", userPath(admin2.ID, ""), url.Values{"name": {"Admin Two"}, "email": {admin2.Email}}, map[string]string{"Referer": e.srv.URL + userPath(admin2.ID, "")})
	if err != nil {
		t.Fatal(err)
	}
	r.want(t, http.StatusSeeOther, "/auth/reauth?next="+url.QueryEscape(userPath(admin2.ID, ""))+"&action="+url.QueryEscape(userPath(admin2.ID, "")))
	if after := e.snapshot(t); after != before {
		t.Fatalf("actions outside sudo mode changed something:\n%s\n%s", before, after)
	}
	annC.wantSignedIn(t, admAnn)

	// Non-destructive actions need no re-authentication.
	root.post(t, userPath(e.ann.ID, ""), url.Values{"name": {"Ann Renamed"}, "email": {admAnn}}).want(t, http.StatusSeeOther, done(e.ann.ID, "updated"))

	// Re-authenticate, then every action goes through.
	root.get(t, "/auth/reauth?next="+url.QueryEscape(userPath(e.ann.ID, ""))).want(t, http.StatusOK, "")
	root.post(t, "/auth/reauth", url.Values{"password": {"wrong password!"}, "next": {userPath(e.ann.ID, "")}}).want(t, http.StatusUnauthorized, "")
	root.post(t, "/auth/reauth", url.Values{"password": {admPW}, "next": {userPath(e.ann.ID, "")}}).want(t, http.StatusSeeOther, userPath(e.ann.ID, ""))
	root.post(t, userPath(e.ann.ID, fmt.Sprintf("/identities/%d/unlink", ident.ID)), nil).want(t, http.StatusSeeOther, done(e.ann.ID, "unlinked"))
	root.post(t, userPath(e.ann.ID, ""), url.Values{"name": {"Ann Renamed"}, "email": {admAnn}, "admin": {"1"}}).want(t, http.StatusSeeOther, done(e.ann.ID, "updated"))
	root.post(t, userPath(admin2.ID, ""), url.Values{"name": {"Admin Two"}, "email": {admin2.Email}}).want(t, http.StatusSeeOther, done(admin2.ID, "updated"))
	root.post(t, userPath(e.ann.ID, "/password"), url.Values{"password": {admNewPW}, "password_again": {admNewPW}}).want(t, http.StatusSeeOther, done(e.ann.ID, "password_set"))
	root.post(t, userPath(e.ann.ID, "/password/remove"), nil).want(t, http.StatusSeeOther, done(e.ann.ID, "password_removed"))
	root.post(t, userPath(e.ann.ID, "/disable"), nil).want(t, http.StatusSeeOther, done(e.ann.ID, "disabled"))
	root.get(t, userPath(victim.ID, "/delete")).want(t, http.StatusOK, "").has(t, "victim@example.com")
	root.post(t, userPath(victim.ID, "/delete"), nil).want(t, http.StatusSeeOther, "/admin/users?done=deleted")
	root.post(t, "/admin/users/new", url.Values{"email": {"new.admin@example.com"}, "admin": {"1"}, "password_mode": {"none"}}).want(t, http.StatusSeeOther, "")
	root.post(t, userPath(off.ID, "/enable"), nil).want(t, http.StatusSeeOther, done(off.ID, "enabled"))
	root.post(t, userPath(off.ID, ""), url.Values{"name": {"Off"}, "email": {"off.new@example.com"}}).want(t, http.StatusSeeOther, done(off.ID, "updated"))
	if u := e.user(t, off.ID); u.Disabled() || u.Email != "off.new@example.com" {
		t.Fatalf("enable and email change after re-authentication did not apply: %+v", u)
	}
	got := e.user(t, e.ann.ID)
	_, victimErr := e.db.UserByEmail(context.Background(), victim.Email)
	if !got.IsAdmin || !got.Disabled() || got.PasswordHash != nil || !errors.Is(victimErr, models.ErrNotFound) || e.user(t, admin2.ID).IsAdmin {
		t.Fatalf("actions after re-authentication did not all apply: ann %+v victim %+v admin2 %+v", got, e.user(t, victim.ID), e.user(t, admin2.ID))
	}
	if u, err := e.db.UserByEmail(context.Background(), "new.admin@example.com"); err != nil || !u.IsAdmin {
		t.Fatalf("new admin: %v", err)
	}
	annC.wantSignedOut(t)
	e.noServerErrors(t)
}

// --- audit log -------------------------------------------------------------------------

func TestAdminAuditLog(t *testing.T) {
	t.Parallel()
	e := newAdmEnv(t, admOpts{})
	ctx := context.Background()
	root := e.asRoot(t)
	// Day 1: a user whose email a spreadsheet would run as a formula.
	root.post(t, "/admin/users/new", url.Values{"email": {"=cmd|'calc'!a0@example.com"}, "name": {"+Plus"}, "password_mode": {"none"}}).want(t, http.StatusSeeOther, "")
	formula, err := e.db.UserByEmail(ctx, "=cmd|'calc'!a0@example.com")
	if err != nil {
		t.Fatal(err)
	}
	// Day 2: disable ann. Day 3: enable her, and an event with hostile cells.
	e.clock.Advance(24 * time.Hour)
	root.login(t, admRoot, admPW) // stay inside the session's idle limit
	root.post(t, userPath(e.ann.ID, "/disable"), nil).want(t, http.StatusSeeOther, "")
	e.clock.Advance(24 * time.Hour)
	root.login(t, admRoot, admPW)
	root.post(t, userPath(e.ann.ID, "/enable"), nil).want(t, http.StatusSeeOther, "")
	if err := e.db.RecordEvent(ctx, &models.Event{Kind: models.EventLoginFailure, Email: "-2@example.com", IP: "=1+2", Detail: "@SUM(A1)", Method: models.MethodPassword}); err != nil {
		t.Fatal(err)
	}

	r := root.get(t, "/admin/audit").want(t, http.StatusOK, "")
	iEnabled, iDisabled, iCreated := strings.Index(r.body, ">user.enabled<"), strings.Index(r.body, ">user.disabled<"), strings.Index(r.body, ">user.created<")
	if iEnabled < 0 || iDisabled < 0 || iCreated < 0 || !(iEnabled < iDisabled && iDisabled < iCreated) {
		t.Fatalf("audit not newest first: enabled %d disabled %d created %d", iEnabled, iDisabled, iCreated)
	}
	disabledRow := tableRow(t, r.body, "event-"+strconv.FormatInt(e.events(t, models.EventUserDisabled)[0].ID, 10))
	for _, want := range []string{admRoot, admAnn, "2030-03-05", "admin", "127.0.0.1"} {
		if !strings.Contains(disabledRow, want) {
			t.Errorf("disabled row lacks %q: %s", want, disabledRow)
		}
	}

	count := func(query string) int {
		t.Helper()
		return rowCount(root.get(t, "/admin/audit?"+query).want(t, http.StatusOK, "").body, "event-")
	}
	kinds := func(query string) []string {
		t.Helper()
		body := root.get(t, "/admin/audit?"+query).body
		var out []string
		for _, m := range regexp.MustCompile(`<code class="admin-kind"[^>]*>([a-z._]+)</code>`).FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	annID := strconv.FormatInt(e.ann.ID, 10)
	if got := kinds("user=" + annID); !slices.Equal(got, []string{"user.enabled", "user.disabled"}) {
		t.Errorf("user=%s: %v", annID, got)
	}
	if got := kinds("user=ANN%40example.com"); !slices.Equal(got, []string{"user.enabled", "user.disabled"}) {
		t.Errorf("user=email: %v", got)
	}
	root.get(t, "/admin/audit?user=nobody%40example.com").has(t, "No account has that email", ">0 events")
	if got := kinds("kind=user.disabled"); !slices.Equal(got, []string{"user.disabled"}) {
		t.Errorf("kind exact: %v", got)
	}
	if got := kinds("kind=user."); !slices.Equal(got, []string{"user.enabled", "user.disabled", "user.created"}) {
		t.Errorf("kind prefix: %v", got)
	}
	for _, k := range kinds("kind=login.") {
		if !strings.HasPrefix(k, "login.") {
			t.Errorf("kind=login. shows %s", k)
		}
	}
	if got := kinds("kind=user.&from=2030-03-05&to=2030-03-05"); !slices.Equal(got, []string{"user.disabled"}) {
		t.Errorf("one day: %v", got)
	}
	if got := kinds("kind=user.&from=2030-03-05"); !slices.Equal(got, []string{"user.enabled", "user.disabled"}) {
		t.Errorf("from: %v", got)
	}
	if got := kinds("kind=user.&to=2030-03-04"); !slices.Equal(got, []string{"user.created"}) {
		t.Errorf("to: %v", got)
	}
	if got := kinds("user=" + strconv.FormatInt(e.root.ID, 10) + "&kind=user."); len(got) != 3 {
		t.Errorf("actor filter: %v", got)
	}
	// Malformed filters are ignored.
	for _, q := range []string{"from=yesterday", "to=2030-13-45", "kind=%27%3B--", "user=-1", "user=%ff", "page=0", "page=x", "page=99999999999999999999", "user=" + strings.Repeat("a", 3000)} {
		root.get(t, "/admin/audit?"+q).want(t, http.StatusOK, "")
	}
	if n := count("kind=%27%3B--"); n < 5 {
		t.Errorf("an invalid kind filtered to %d rows", n)
	}

	// Pagination: 50 a page.
	for i := range 120 {
		if err := e.db.RecordEvent(ctx, &models.Event{Kind: "test.bulk", Detail: fmt.Sprintf("bulk %03d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	r = root.get(t, "/admin/audit?kind=test.bulk").has(t, "120 events", "page 1 of 3", "bulk 119", `id="next-page"`).lacks(t, "bulk 069")
	if n := rowCount(r.body, "event-"); n != 50 {
		t.Fatalf("page 1: %d rows", n)
	}
	r = root.get(t, "/admin/audit?kind=test.bulk&page=3").has(t, "bulk 000", `id="prev-page"`).lacks(t, "bulk 020")
	if n := rowCount(r.body, "event-"); n != 20 {
		t.Fatalf("page 3: %d rows", n)
	}
	if !strings.Contains(root.get(t, "/admin/audit?kind=test.bulk").body, `href="/admin/audit.csv?kind=test.bulk"`) {
		t.Error("the CSV link does not carry the filters")
	}

	// CSV: header, the filtered rows, formulas neutralised.
	csvGet := func(query string) [][]string {
		t.Helper()
		r := root.get(t, "/admin/audit.csv?"+query).want(t, http.StatusOK, "")
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Fatalf("Content-Type %q", ct)
		}
		if cd := r.header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="gatehouse-audit-`) {
			t.Fatalf("Content-Disposition %q", cd)
		}
		recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
		if err != nil {
			t.Fatalf("parse CSV: %v\n%s", err, r.body)
		}
		want := []string{"id", "time", "kind", "actor_id", "actor_email", "user_id", "email", "method", "provider", "ip", "detail"}
		if len(recs) == 0 || !slices.Equal(recs[0], want) {
			t.Fatalf("CSV header %v", recs)
		}
		return recs[1:]
	}
	recs := csvGet("kind=user.")
	if len(recs) != 3 || recs[0][2] != "user.enabled" || recs[2][2] != "user.created" {
		t.Fatalf("CSV kind=user.: %v", recs)
	}
	created := recs[2]
	if created[3] != strconv.FormatInt(e.root.ID, 10) || created[4] != admRoot || created[5] != strconv.FormatInt(formula.ID, 10) {
		t.Errorf("created row: %v", created)
	}
	if created[6] != "'=cmd|'calc'!a0@example.com" {
		t.Errorf("formula email not neutralised: %q", created[6])
	}
	recs = csvGet("kind=login.failure")
	if len(recs) != 1 {
		t.Fatalf("CSV login.failure: %v", recs)
	}
	if got := recs[0]; got[6] != "'-2@example.com" || got[9] != "'=1+2" || got[10] != "'@SUM(A1)" {
		t.Errorf("hostile cells not neutralised: %v", got)
	}
	if recs := csvGet("kind=test.bulk"); len(recs) != 120 {
		t.Errorf("CSV is paged: %d rows", len(recs))
	}
	if recs := csvGet("user=" + annID + "&from=2030-03-06"); len(recs) != 1 || recs[0][2] != "user.enabled" {
		t.Errorf("CSV user and date filter: %v", recs)
	}
	if recs := csvGet("user=nobody%40example.com"); len(recs) != 0 {
		t.Errorf("CSV of an unknown email: %v", recs)
	}
	e.noServerErrors(t)
}

// --- first-admin setup -------------------------------------------------------------------

func TestAdminSetup(t *testing.T) {
	t.Parallel()
	setupForm := func(tok, email string) url.Values {
		return url.Values{"token": {tok}, "email": {email}, "name": {"First Admin"}, "password": {admNewPW}, "password_again": {admNewPW}}
	}
	e := newAdmEnv(t, admOpts{noUsers: true, noOP: true})
	c := e.client()
	// No link issued: everything is refused.
	c.get(t, "/setup").want(t, http.StatusNotFound, "").has(t, "This setup link is not valid")
	c.post(t, "/setup", setupForm("", "first@example.com")).want(t, http.StatusNotFound, "")

	tok, err := e.setup.Issue(context.Background(), handlers.SetupTTL)
	if err != nil || len(tok) < 43 {
		t.Fatalf("issue: %q %v", tok, err)
	}
	c.get(t, "/setup?token=wrong").want(t, http.StatusNotFound, "")
	c.get(t, "/setup?token="+tok[:len(tok)-1]).want(t, http.StatusNotFound, "")
	c.post(t, "/setup", setupForm(tok+"x", "first@example.com")).want(t, http.StatusNotFound, "")
	c.get(t, "/setup?token="+url.QueryEscape(tok)).want(t, http.StatusOK, "").has(t, `name="token" value="`+tok+`"`, "Create the first administrator")
	// Typing mistakes keep the link usable and what was typed.
	bad := setupForm(tok, "First@Example.com")
	bad.Set("password_again", "something else entirely")
	c.post(t, "/setup", bad).want(t, http.StatusBadRequest, "").has(t, "The two passwords do not match.", `value="First@Example.com"`).lacks(t, admNewPW)
	bad = setupForm(tok, "first@example.com")
	bad.Set("password", "short")
	bad.Set("password_again", "short")
	c.post(t, "/setup", bad).want(t, http.StatusBadRequest, "").has(t, "at least 12 characters")
	c.post(t, "/setup", setupForm(tok, "not-an-email")).want(t, http.StatusBadRequest, "").has(t, "Enter a valid email address.")
	if n := e.count(t, "users", "1 = 1"); n != 0 {
		t.Fatalf("%d users after refused setups", n)
	}

	c.post(t, "/setup", setupForm(tok, " First@Example.com ")).want(t, http.StatusSeeOther, "/admin/users")
	c.get(t, "/admin/users").want(t, http.StatusOK, "").has(t, "first@example.com")
	first, err := e.db.UserByEmail(context.Background(), "first@example.com")
	if err != nil || !first.IsAdmin || first.Name != "First Admin" {
		t.Fatalf("first admin: %+v %v", first, err)
	}
	e.wantEvent(t, models.EventUserCreated, first.ID, first.ID, "setup link")
	e.client().login(t, "first@example.com", admNewPW)

	// Used once only.
	other := e.client()
	other.get(t, "/setup?token="+tok).want(t, http.StatusNotFound, "")
	other.post(t, "/setup", setupForm(tok, "second@example.com")).want(t, http.StatusNotFound, "")
	// A fresh link is refused while an administrator exists.
	tok2, _ := e.setup.Issue(context.Background(), handlers.SetupTTL)
	other.get(t, "/setup?token="+tok2).want(t, http.StatusNotFound, "")
	other.post(t, "/setup", setupForm(tok2, "second@example.com")).want(t, http.StatusNotFound, "")
	if n := e.count(t, "users", "1 = 1"); n != 1 {
		t.Fatalf("%d users, want 1", n)
	}

	// Expired after an hour.
	e2 := newAdmEnv(t, admOpts{noUsers: true, noOP: true})
	tok3, _ := e2.setup.Issue(context.Background(), handlers.SetupTTL)
	e2.clock.Advance(61 * time.Minute)
	c2 := e2.client()
	c2.get(t, "/setup?token="+tok3).want(t, http.StatusNotFound, "")
	c2.post(t, "/setup", setupForm(tok3, "late@example.com")).want(t, http.StatusNotFound, "")
	if n := e2.count(t, "users", "1 = 1"); n != 0 {
		t.Fatal("an expired link created an account")
	}

	// Concurrent posts of one link create one administrator.
	e3 := newAdmEnv(t, admOpts{noUsers: true, noOP: true})
	tok4, _ := e3.setup.Issue(context.Background(), handlers.SetupTTL)
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	errs := make([]error, 8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e3.client().try("POST", "/setup", setupForm(tok4, fmt.Sprintf("racer%d@example.com", i)), nil)
			if err != nil {
				errs[i] = err
				return
			}
			statuses[i] = r.status
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	won := 0
	for _, s := range statuses {
		switch s {
		case http.StatusSeeOther:
			won++
		case http.StatusNotFound:
		default:
			t.Errorf("concurrent setup answered %d", s)
		}
	}
	if won != 1 || e3.count(t, "users", "is_admin") != 1 {
		t.Fatalf("concurrent setup: %d succeeded (%v), %d admins", won, statuses, e3.count(t, "users", "is_admin"))
	}
	for _, env := range []*admEnv{e, e2, e3} {
		env.noServerErrors(t)
	}
}

// The delete confirmation names only what the account has, so a fresh
// account does not read "its 0 linked sign-in providers and ends its 0
// sessions", and one of each is singular.
func TestAdminDeletePageWording(t *testing.T) {
	t.Parallel()
	e := newAdmEnv(t, admOpts{})
	root := e.asRoot(t)
	text := func(u *models.User) string {
		t.Helper()
		r := root.get(t, userPath(u.ID, "/delete")).want(t, http.StatusOK, "")
		return pageText(r.body)
	}

	bare := e.mkUser(t, "bare@example.com", "", admPW, false)
	if got := text(bare); !strings.Contains(got, "Deleting bare@example.com removes the account. The audit log") || strings.Contains(got, " 0 ") {
		t.Fatalf("no identities, no sessions:\n%s", got)
	}

	pw := e.mkUser(t, "pw@example.com", "", admPW, false)
	e.client().login(t, pw.Email, admPW)
	if got := text(pw); !strings.Contains(got, "removes the account and ends its 1 session.") || strings.Contains(got, "provider") {
		t.Fatalf("one session:\n%s", got)
	}

	linked := e.mkUser(t, "linked@example.com", "", admPW, false)
	e.linkIdentity(t, linked, "linked-sub")
	if got := text(linked); !strings.Contains(got, "removes the account and its 1 linked sign-in provider.") || strings.Contains(got, "session.") {
		t.Fatalf("one identity:\n%s", got)
	}

	both := e.mkUser(t, "both@example.com", "", admPW, false)
	e.linkIdentity(t, both, "both-sub-1")
	e.linkIdentity(t, both, "both-sub-2")
	e.client().login(t, both.Email, admPW)
	e.client().login(t, both.Email, admPW)
	if got := text(both); !strings.Contains(got, "removes the account, its 2 linked sign-in providers and ends its 2 sessions.") {
		t.Fatalf("two of each:\n%s", got)
	}
	e.noServerErrors(t)
}

// A GET of a POST-only admin form address goes back to the page the form
// lives on: the account's page, or the list when there is no account ID.
func TestAdminFormAddressGETRedirects(t *testing.T) {
	t.Parallel()
	e := newAdmEnv(t, admOpts{})
	sam := e.mkUser(t, "sam@example.com", "", admPW, false)
	root := e.asRoot(t)
	page := userPath(sam.ID, "")
	for _, p := range []string{"/sessions/1/revoke", "/sessions/revoke-all"} {
		root.get(t, userPath(sam.ID, p)).want(t, http.StatusSeeOther, page)
	}
	// A sudo action's address is its confirmation page (TestAdminSudoCarriesAction).
	for _, p := range []string{"/disable", "/enable", "/password", "/password/remove"} {
		root.get(t, userPath(sam.ID, p)).want(t, http.StatusOK, "").has(t, `action="`+userPath(sam.ID, p)+`"`)
	}
	root.get(t, userPath(sam.ID, "/identities/1/unlink")).want(t, http.StatusSeeOther, done(sam.ID, "already_gone"))
	root.get(t, page).want(t, http.StatusOK, "")
	root.do(t, http.MethodPut, page, nil).want(t, http.StatusMethodNotAllowed, "")
	e.noServerErrors(t)
}

// An action that asked for re-authentication is not lost, and not done
// behind the person's back either: after the password they land on a page
// at the action's own address that says "Confirm: Disable account <email>"
// and has the button; only that button's POST does it. The re-authentication
// page names the action, and names accounts to administrators only.
func TestAdminSudoCarriesAction(t *testing.T) {
	t.Parallel()
	e := newAdmEnv(t, admOpts{})
	ident := e.linkIdentity(t, e.ann, "ann-sub")
	root := e.asRoot(t)
	e.clock.Advance(11 * time.Minute) // older than the 10-minute sudo window

	disable := userPath(e.ann.ID, "/disable")
	reauth := "/auth/reauth?next=" + url.QueryEscape(disable)
	root.post(t, disable, nil).want(t, http.StatusSeeOther, reauth)
	root.get(t, reauth).want(t, http.StatusOK, "")
	if got := pageText(root.get(t, reauth).body); !strings.Contains(got, "This needs a recent sign-in: Disable account ann@example.com") {
		t.Fatalf("re-authentication page does not name the action:\n%s", got)
	}
	root.post(t, "/auth/reauth", url.Values{"password": {admPW}, "next": {disable}}).want(t, http.StatusSeeOther, disable)
	if e.user(t, e.ann.ID).Disabled() {
		t.Fatal("re-authenticating did the action itself")
	}
	r := root.get(t, disable).want(t, http.StatusOK, "").has(t, `<form method="post" action="`+disable+`"`, `id="confirm-submit">Disable account</button>`)
	if got := pageText(r.body); !strings.Contains(got, "Confirm: Disable account ann@example.com") {
		t.Fatalf("confirmation page:\n%s", got)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("confirmation page Cache-Control %q", r.header.Get("Cache-Control"))
	}
	root.post(t, disable, nil).want(t, http.StatusSeeOther, done(e.ann.ID, "disabled"))
	if !e.user(t, e.ann.ID).Disabled() {
		t.Fatal("the confirmed action was not done")
	}

	// The other confirmation pages, in sudo mode now.
	unlink := userPath(e.ann.ID, fmt.Sprintf("/identities/%d/unlink", ident.ID))
	for path, want := range map[string]string{
		userPath(e.ann.ID, "/enable"):          "Confirm: Enable account ann@example.com",
		userPath(e.ann.ID, "/password/remove"): "Confirm: Remove the password of ann@example.com",
		userPath(e.ann.ID, "/password"):        "Confirm: Set a password for ann@example.com",
		unlink:                                 "Confirm: Unlink Acme SSO from ann@example.com",
	} {
		if got := pageText(root.get(t, path).want(t, http.StatusOK, "").body); !strings.Contains(got, want) {
			t.Errorf("GET %s does not say %q:\n%s", path, want, got)
		}
	}
	root.get(t, userPath(e.ann.ID, "/password")).has(t, `name="password"`, `name="password_again"`)

	// Outside sudo mode again, a form that cannot be carried (its fields)
	// comes back to its page, and the re-authentication page names it.
	e.clock.Advance(11 * time.Minute)
	r, err := root.try("POST", userPath(e.ann.ID, ""), url.Values{"name": {"Ann"}, "email": {admAnn}, "admin": {"1"}},
		map[string]string{"Referer": e.srv.URL + userPath(e.ann.ID, "")})
	if err != nil {
		t.Fatal(err)
	}
	r.want(t, http.StatusSeeOther, "/auth/reauth?next="+url.QueryEscape(userPath(e.ann.ID, ""))+"&action="+url.QueryEscape(userPath(e.ann.ID, "")))
	if got := pageText(root.get(t, r.loc).body); !strings.Contains(got, "This needs a recent sign-in: Change the email or administrator role of ann@example.com") {
		t.Fatalf("re-authentication page for a promotion:\n%s", got)
	}
	// A wrong password keeps the description.
	root.post(t, "/auth/reauth", url.Values{"password": {"wrong password!"}, "next": {userPath(e.ann.ID, "")}, "action": {userPath(e.ann.ID, "")}}).
		want(t, http.StatusUnauthorized, "").has(t, "Change the email or administrator role of ann@example.com")

	// Addresses stay on gatehouse: another origin in next or action is
	// dropped, and the page names nothing.
	for _, q := range []string{"next=" + url.QueryEscape("//evil.example/admin/users/1/disable"), "next=%2Faccount&action=" + url.QueryEscape("https://evil.example"+disable)} {
		r := root.get(t, "/auth/reauth?"+q).want(t, http.StatusOK, "").lacks(t, "evil.example")
		if strings.Contains(pageText(r.body), "ann@example.com") {
			t.Errorf("reauth?%s names an account", q)
		}
	}
	root.post(t, "/auth/reauth", url.Values{"password": {admPW}, "next": {"//evil.example/"}}).want(t, http.StatusSeeOther, "/account")

	// Someone who is not an administrator is told nothing about accounts.
	ann := e.client()
	if err := e.db.SetDisabled(context.Background(), e.ann.ID, false); err != nil {
		t.Fatal(err)
	}
	ann.login(t, admAnn, admPW)
	body := ann.get(t, "/auth/reauth?next="+url.QueryEscape(userPath(e.root.ID, "/disable"))).want(t, http.StatusOK, "").body
	if strings.Contains(body, admRoot) {
		t.Errorf("a non-administrator's re-authentication page names %s", admRoot)
	}
	e.noServerErrors(t)
}

// The audit log and a user page's recent activity read as sentences, with
// the event code beside each, and times relative to gatehouse's clock
// ("3 minutes ago") with the exact UTC time, in the console's one format,
// on hover. The CSV export keeps the codes and RFC 3339 times.
func TestAdminAuditSentences(t *testing.T) {
	t.Parallel()
	e := newAdmEnv(t, admOpts{})
	root := e.asRoot(t) // signs in at 2030-03-04 10:00 UTC
	sam := e.mkUser(t, "sam@example.com", "", "", false)
	e.clock.Advance(2 * time.Minute)
	root.post(t, userPath(e.ann.ID, "/disable"), nil).want(t, http.StatusSeeOther, done(e.ann.ID, "disabled"))
	e.client().ssoLogin(t, "sam-sub", sam.Email).want(t, http.StatusSeeOther, "/dashboard")
	e.clock.Advance(3 * time.Minute)

	body := root.get(t, "/admin/audit").want(t, http.StatusOK, "").body
	disabled := e.events(t, models.EventUserDisabled)[0]
	row := tableRow(t, body, "event-"+strconv.FormatInt(disabled.ID, 10))
	for _, want := range []string{
		"ann@example.com was disabled by root@example.com",
		`<code class="admin-kind" title="Event code">user.disabled</code>`,
		`<time datetime="2030-03-04T10:02:00Z" title="2030-03-04 10:02 UTC">3 minutes ago</time>`,
	} {
		if !strings.Contains(row, want) {
			t.Errorf("disabled row lacks %q:\n%s", want, row)
		}
	}
	text := pageText(body)
	for _, want := range []string{
		"root@example.com signed in with a password",
		"sam@example.com signed in with Acme SSO",
		"Acme SSO was linked to sam@example.com",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("audit log does not say %q:\n%s", want, text)
		}
	}
	if !strings.Contains(body, ">5 minutes ago</time>") {
		t.Errorf("root's sign-in is not 5 minutes ago:\n%s", body)
	}

	// The user page's recent activity: the same sentences, and details with
	// no separator left over from a part that is not set.
	page := root.get(t, userPath(e.ann.ID, "")).want(t, http.StatusOK, "").body
	if !strings.Contains(pageText(page), "ann@example.com was disabled by root@example.com") || !strings.Contains(page, ">3 minutes ago</time>") {
		t.Errorf("user page activity:\n%s", pageText(page))
	}
	for _, stray := range []string{"<td> · ", "<td>·", " · </td>"} {
		if strings.Contains(page, stray) {
			t.Errorf("user page activity has a stray separator %q", stray)
		}
	}
	// The console's dates have one format: the user page's too.
	if !strings.Contains(page, "2030-03-04 10:0") || regexp.MustCompile(`\d\d:\d\d:\d\d UTC`).MatchString(page) {
		t.Errorf("user page dates are not all YYYY-MM-DD HH:MM UTC")
	}

	// Older than a month: the date itself.
	e.clock.Advance(40 * 24 * time.Hour)
	root = e.asRoot(t) // the old session has expired
	row = tableRow(t, root.get(t, "/admin/audit").body, "event-"+strconv.FormatInt(disabled.ID, 10))
	if !strings.Contains(row, `title="2030-03-04 10:02 UTC">2030-03-04 10:02 UTC</time>`) {
		t.Errorf("old event's time:\n%s", row)
	}

	// The CSV keeps raw codes and RFC 3339 times.
	r := root.get(t, "/admin/audit.csv?kind=user.disabled").want(t, http.StatusOK, "")
	recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("CSV: %v %q", err, r.body)
	}
	if recs[1][1] != "2030-03-04T10:02:00Z" || recs[1][2] != "user.disabled" || recs[1][7] != "admin" {
		t.Errorf("CSV row %q", recs[1])
	}
	e.noServerErrors(t)
}
