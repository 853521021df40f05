package models

import (
	"database/sql"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/testkit"
)

func TestSessionTimeColumns(t *testing.T) {
	testkit.SkipOnPostgres(t, "checks the text SQLite stores times as")
	db := openTestDB(t)
	ctx := t.Context()
	far := db.now().Add(time.Hour)
	s := mustCreateSession(t, db, "t", nil, far, far)
	zone := time.FixedZone("UTC-3", -3*3600)
	reauth := time.Date(2030, 6, 1, 9, 30, 0, 0, zone) // 12:30 UTC
	checked := reauth.Add(90 * time.Second)
	s.ReauthAt, s.SSOCheckedAt = &reauth, &checked
	if err := db.SaveSessionData(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := db.SessionByHash(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if got.ReauthAt == nil || !got.ReauthAt.Equal(reauth) || got.SSOCheckedAt == nil || !got.SSOCheckedAt.Equal(checked) {
		t.Fatalf("read back reauth=%v checked=%v, want %v %v", got.ReauthAt, got.SSOCheckedAt, reauth, checked)
	}
	for col, want := range map[string]string{"reauth_at": "2030-06-01 12:30:00+00:00", "sso_checked_at": "2030-06-01 12:31:30+00:00"} {
		var raw string
		if err := db.sql.QueryRowContext(ctx, "SELECT "+col+" || '' FROM sessions").Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if raw != want {
			t.Errorf("sessions.%s = %q, want %q (UTC)", col, raw, want)
		}
	}
	got.ReauthAt, got.SSOCheckedAt = nil, nil
	if err := db.SaveSessionData(ctx, got); err != nil {
		t.Fatal(err)
	}
	if got, err := db.SessionByHash(ctx, "t"); err != nil || got.ReauthAt != nil || got.SSOCheckedAt != nil {
		t.Fatalf("after clearing: %+v, %v; want both times NULL", got, err)
	}
}

// TestMigrateSessionTimes runs migration 5 over sessions written before it,
// whose times were RFC 3339 strings in the data column, and back down.
func TestMigrateSessionTimes(t *testing.T) {
	testkit.SkipOnPostgres(t, "carries values out of SQLite JSON; no PostgreSQL database predates the columns")
	ctx := t.Context()
	db, err := Open(testkit.EmptyDatabase(t, t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := db.migrator()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 4); err != nil {
		t.Fatal(err)
	}
	rows := []struct{ hash, data string }{
		{"both", `{"reauth_at":"2030-01-02T09:00:00Z","sso_checked_at":"2030-01-02T09:05:00Z","theme":"dark"}`},
		{"reauth", `{"reauth_at":"2030-01-02T09:00:00Z"}`},
		{"offset", `{"sso_checked_at":"2030-01-02T12:00:00+03:00"}`},
		{"not a time", `{"reauth_at":"yesterday","sso_checked_at":42,"theme":"dark"}`},
		{"neither", `{"theme":"dark"}`},
		{"corrupt", `not json`},
	}
	for _, r := range rows {
		_, err := db.sql.ExecContext(ctx, `INSERT INTO sessions (token_hash, created_at, last_seen_at, idle_expires_at, expires_at, data)
			VALUES ($1, '2030-01-02 08:00:00+00:00', '2030-01-02 08:00:00+00:00', '2030-01-02 10:00:00+00:00', '2030-01-02 10:00:00+00:00', $2)`, r.hash, r.data)
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.UpTo(ctx, 5); err != nil {
		t.Fatalf("migrate up to 5: %v", err)
	}
	at := func(s string) *time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	want := map[string]struct {
		reauth, checked *time.Time
		data            string
	}{
		"both":       {at("2030-01-02T09:00:00Z"), at("2030-01-02T09:05:00Z"), `{"theme":"dark"}`},
		"reauth":     {at("2030-01-02T09:00:00Z"), nil, `{}`},
		"offset":     {nil, at("2030-01-02T09:00:00Z"), `{}`},
		"not a time": {nil, nil, `{"theme":"dark"}`},
		"neither":    {nil, nil, `{"theme":"dark"}`},
		"corrupt":    {nil, nil, `not json`},
	}
	sameTime := func(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }
	for hash, w := range want {
		// Read as the schema is at version 5: the Session model names the
		// columns of the latest version.
		var reauth, checked sql.NullTime
		var data string
		err := db.sql.QueryRowContext(ctx, "SELECT reauth_at, sso_checked_at, data FROM sessions WHERE token_hash = $1", hash).Scan(&reauth, &checked, &data)
		if err != nil {
			t.Fatalf("%s: %v", hash, err)
		}
		if !sameTime(timeOrNil(reauth), w.reauth) || !sameTime(timeOrNil(checked), w.checked) || data != w.data {
			t.Errorf("%s after up: reauth=%v checked=%v data=%s; want %v %v %s", hash, reauth, checked, data, w.reauth, w.checked, w.data)
		}
	}
	// The new columns hold the driver's form, which the expiry queries'
	// text comparisons and every other time column use.
	var raw string
	if err := db.sql.QueryRowContext(ctx, "SELECT reauth_at || '' FROM sessions WHERE token_hash = 'both'").Scan(&raw); err != nil || raw != "2030-01-02 09:00:00+00:00" {
		t.Errorf("stored reauth_at = %q, %v", raw, err)
	}

	if _, err := p.DownTo(ctx, 4); err != nil {
		t.Fatalf("migrate down to 4: %v", err)
	}
	for hash, data := range map[string]string{
		"both":    `{"reauth_at":"2030-01-02T09:00:00Z","sso_checked_at":"2030-01-02T09:05:00Z","theme":"dark"}`,
		"reauth":  `{"reauth_at":"2030-01-02T09:00:00Z"}`,
		"offset":  `{"sso_checked_at":"2030-01-02T09:00:00Z"}`,
		"neither": `{"theme":"dark"}`,
		"corrupt": `not json`,
	} {
		var got string
		if err := db.sql.QueryRowContext(ctx, "SELECT data FROM sessions WHERE token_hash = $1", hash).Scan(&got); err != nil || !sameJSON(got, data) {
			t.Errorf("%s after down: data = %s, %v; want %s", hash, got, err, data)
		}
	}
	if n, err := db.Migrate(ctx); err != nil || n < 1 {
		t.Fatalf("migrate up again = %d, %v", n, err)
	}
}

// sameJSON reports whether a and b are the same JSON object (keys in any
// order), or the same text when either is not JSON.
func sameJSON(a, b string) bool {
	var x, y map[string]any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return a == b
	}
	return reflect.DeepEqual(x, y)
}
