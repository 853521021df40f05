package sessionstore

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestMarkReauthAndChecked(t *testing.T) {
	e := newEnv(t, defaultOpts())
	token := e.start(e.user, "")

	reauth, checked := t0.Add(5*time.Minute), t0.Add(7*time.Minute)
	e.clock.Set(reauth)
	resp, body := e.do("POST", "/mark?what=reauth", token)
	if resp.StatusCode != http.StatusOK || body != fmt.Sprintf("reauth %v checked <nil>", &reauth) {
		t.Fatalf("mark reauth = %d %q", resp.StatusCode, body)
	}
	// A re-authentication is a privilege change: a new token, the old dead.
	c := sessionCookie(resp)
	if c == nil || c.Value == "" || c.Value == token || !e.rowGone(token) {
		t.Fatalf("re-authentication kept the token (cookie %+v, old row gone %t)", c, e.rowGone(token))
	}
	token = c.Value
	if row := e.row(token); !row.CreatedAt.Equal(t0) || row.ReauthAt == nil {
		t.Fatalf("renewed row: created %v (want the sign-in's %v), reauth %v", row.CreatedAt, t0, row.ReauthAt)
	}
	id := e.row(token).ID
	e.clock.Set(checked)
	resp, body = e.do("POST", "/mark?what=checked", token)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mark checked = %d %q", resp.StatusCode, body)
	}
	if c := sessionCookie(resp); c != nil {
		t.Fatalf("a provider check re-issued the cookie: %+v", c)
	}
	row := e.row(token)
	if row.ID != id || row.ReauthAt == nil || !row.ReauthAt.Equal(reauth) || row.SSOCheckedAt == nil || !row.SSOCheckedAt.Equal(checked) {
		t.Fatalf("row after marks: id %d (want %d) reauth %v checked %v", row.ID, id, row.ReauthAt, row.SSOCheckedAt)
	}
	if row.Data != "{}" || row.UserID == nil || *row.UserID != e.user || row.AuthTime == nil || !row.AuthTime.Equal(t0) {
		t.Fatalf("marks disturbed the other columns: %+v", row)
	}
	// A later request loads them back from the columns.
	for k, want := range map[string]time.Time{keyReauthAt: reauth, keyCheckedAt: checked} {
		if _, got := e.do("GET", "/get?k="+k, token); got != want.String() {
			t.Errorf("session value %s = %q, want %q", k, got, want)
		}
	}
	// A new sign-in starts without them.
	second := e.start(e.user, token)
	if row := e.row(second); row.ReauthAt != nil || row.SSOCheckedAt != nil {
		t.Fatalf("Start kept reauth %v checked %v", row.ReauthAt, row.SSOCheckedAt)
	}

	// A mark never starts a session, nor marks an anonymous one.
	resp, _ = e.do("POST", "/set?k=theme&v=dark", "")
	anon := sessionCookie(resp).Value
	rows := e.rowCount()
	for _, cookie := range []string{"", anon} {
		for _, what := range []string{"reauth", "checked"} {
			resp, body := e.do("POST", "/mark?what="+what, cookie)
			if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, ErrNotSignedIn.Error()) {
				t.Errorf("mark %s with cookie %q = %d %q, want %v", what, cookie, resp.StatusCode, body, ErrNotSignedIn)
			}
			if c := sessionCookie(resp); c != nil {
				t.Errorf("refused mark %s set a cookie: %+v", what, c)
			}
		}
	}
	if got := e.rowCount(); got != rows {
		t.Fatalf("refused marks changed the row count from %d to %d", rows, got)
	}
	if row := e.row(anon); row.ReauthAt != nil || row.SSOCheckedAt != nil {
		t.Fatalf("anonymous session marked: %+v", row)
	}
}

// TestRenew: Renew gives a signed-in session a new token and kills the old
// one, keeping every sign-in fact, the creation time and the absolute
// expiry (a renewal never extends a session), and records the privilege
// the new token was issued under.
func TestRenew(t *testing.T) {
	e := newEnv(t, Options{IdleTimeout: time.Hour, Lifetime: 2 * time.Hour, Permanent: true})
	resp, body := e.do("POST", fmt.Sprintf("/start?user=%d&method=sso&provider=acme&issuer=https://idp&sub=s1&sid=sid1&id_token=tok", e.user), "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("start: %d %s", resp.StatusCode, body)
	}
	token := sessionCookie(resp).Value
	if _, got := e.do("GET", "/privileged", token); got != "false" {
		t.Fatalf("a non-admin sign-in is privileged: %s", got)
	}
	before := e.row(token)

	e.clock.Set(t0.Add(40 * time.Minute))
	resp, body = e.do("POST", "/renew?admin=1", token)
	c := sessionCookie(resp)
	if resp.StatusCode != http.StatusOK || c == nil || c.Value == "" || c.Value == token {
		t.Fatalf("renew: %d %q, cookie %+v", resp.StatusCode, body, c)
	}
	if !e.rowGone(token) || e.whoami(token) != "signed out" {
		t.Fatal("the old token still works after Renew")
	}
	if c.MaxAge != int((80 * time.Minute).Seconds()) {
		t.Errorf("renewed cookie Max-Age %d, want the %d seconds left of the lifetime", c.MaxAge, int((80 * time.Minute).Seconds()))
	}
	after := e.row(c.Value)
	if !after.CreatedAt.Equal(before.CreatedAt) || !after.ExpiresAt.Equal(before.ExpiresAt) ||
		!after.IdleExpiresAt.Equal(t0.Add(100*time.Minute)) || !after.LastSeenAt.Equal(t0.Add(40*time.Minute)) {
		t.Errorf("renewed row times: created %v expires %v idle %v seen %v; before created %v expires %v",
			after.CreatedAt, after.ExpiresAt, after.IdleExpiresAt, after.LastSeenAt, before.CreatedAt, before.ExpiresAt)
	}
	if *after.UserID != e.user || after.AuthMethod != "sso" || !after.AuthTime.Equal(*before.AuthTime) || after.ProviderID != "acme" ||
		after.Issuer != "https://idp" || after.Subject != "s1" || after.SID != "sid1" || after.IDToken != "tok" ||
		after.IP != before.IP || after.UserAgent != before.UserAgent {
		t.Errorf("renewal lost sign-in facts:\nbefore %+v\nafter  %+v", before, after)
	}
	if _, got := e.do("GET", "/privileged", c.Value); got != "true" {
		t.Errorf("renewed as an administrator, Privileged = %s", got)
	}
	resp, _ = e.do("POST", "/renew", c.Value)
	if _, got := e.do("GET", "/privileged", sessionCookie(resp).Value); got != "false" {
		t.Errorf("renewed as a demoted account, Privileged = %s", got)
	}
	admin := e.start(e.user2, "")
	if _, got := e.do("GET", "/privileged", admin); got != "false" {
		t.Errorf("Start without Admin: Privileged = %s", got)
	}
	resp, _ = e.do("POST", fmt.Sprintf("/start?user=%d&admin=1", e.user2), "")
	if _, got := e.do("GET", "/privileged", sessionCookie(resp).Value); got != "true" {
		t.Errorf("Start with Admin: Privileged = %s", got)
	}

	// Renew never starts a session, nor renews an anonymous one.
	resp, _ = e.do("POST", "/set?k=theme&v=dark", "")
	anon := sessionCookie(resp).Value
	rows := e.rowCount()
	for _, cookie := range []string{"", anon} {
		resp, body := e.do("POST", "/renew", cookie)
		if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, ErrNotSignedIn.Error()) || sessionCookie(resp) != nil {
			t.Errorf("renew with cookie %q = %d %q, cookie %v", cookie, resp.StatusCode, body, sessionCookie(resp))
		}
	}
	if e.rowCount() != rows {
		t.Fatal("a refused renewal changed the rows")
	}
}

func TestCurrentUser(t *testing.T) {
	e := newEnv(t, defaultOpts())
	token := e.start(e.user, "")
	if _, got := e.do("GET", "/user", token); got != "one@example.com disabled=false" {
		t.Fatalf("user of a signed-in session = %q", got)
	}
	resp, _ := e.do("POST", "/set?k=theme&v=dark", "")
	if _, got := e.do("GET", "/user", sessionCookie(resp).Value); got != "no user" {
		t.Fatalf("user of an anonymous session = %q", got)
	}
	if _, got := e.do("GET", "/user", ""); got != "signed out" {
		t.Fatalf("user without a session = %q", got)
	}
	// A database error signs the request out and is kept for the caller.
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, got := e.do("GET", "/user", token); !strings.HasPrefix(got, "load error: ") {
		t.Fatalf("user with the database closed = %q, want the load error", got)
	}
}

// TestStartAuthTime: a session's authentication time is the provider's
// auth_time when that is earlier than the sign-in, and never later: a
// provider clock ahead of gatehouse's must not lengthen sudo mode.
func TestStartAuthTime(t *testing.T) {
	e := newEnv(t, defaultOpts())
	e.clock.Set(t0)
	for _, tc := range []struct {
		name     string
		authTime time.Time
		want     time.Time
	}{
		{"earlier at the provider", t0.Add(-time.Hour), t0.Add(-time.Hour)},
		{"ahead at the provider", t0.Add(2 * time.Minute), t0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.do("POST", fmt.Sprintf("/start?user=%d&auth_time=%s", e.user, tc.authTime.Format(time.RFC3339)), "")
			c := sessionCookie(resp)
			if resp.StatusCode != http.StatusOK || c == nil {
				t.Fatalf("start: %d %s", resp.StatusCode, body)
			}
			if row := e.row(c.Value); row.AuthTime == nil || !row.AuthTime.Equal(tc.want) {
				t.Fatalf("auth time %v, want %v", row.AuthTime, tc.want)
			}
		})
	}
}
