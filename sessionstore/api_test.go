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
	id := e.row(token).ID

	reauth, checked := t0.Add(5*time.Minute), t0.Add(7*time.Minute)
	e.clock.Set(reauth)
	resp, body := e.do("POST", "/mark?what=reauth", token)
	if resp.StatusCode != http.StatusOK || body != fmt.Sprintf("reauth %v checked <nil>", &reauth) {
		t.Fatalf("mark reauth = %d %q", resp.StatusCode, body)
	}
	if c := sessionCookie(resp); c != nil {
		t.Fatalf("a mark re-issued the cookie: %+v", c)
	}
	e.clock.Set(checked)
	if resp, body := e.do("POST", "/mark?what=checked", token); resp.StatusCode != http.StatusOK {
		t.Fatalf("mark checked = %d %q", resp.StatusCode, body)
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
