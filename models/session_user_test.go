package models

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/testkit"
)

// countStatements counts the statements db runs from now on, as Trace
// reports them, and returns a function that reports their SQL.
func countStatements(t *testing.T, db *DB) func() []string {
	t.Helper()
	var (
		mu   sync.Mutex
		seen []string
	)
	db.Trace(func(sql string) {
		mu.Lock()
		seen = append(seen, sql)
		mu.Unlock()
	})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

func TestSessionWithUser(t *testing.T) {
	testkit.SkipOnPostgres(t, "orphans a session with PRAGMA foreign_keys = OFF")
	db := openTestDB(t)
	ctx := t.Context()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	fixedClock(db, now)
	u := mustCreateUser(t, db, "join@example.com")
	if err := db.RecordLogin(ctx, u.ID, MethodSSO); err != nil {
		t.Fatal(err)
	}
	if err := db.UpdateUser(ctx, u.ID, "Joined", "joined@example.com", false); err != nil { // sets email_changed_at
		t.Fatal(err)
	}
	far := now.Add(time.Hour)
	signedIn := mustCreateSession(t, db, "signed-in", &u.ID, far, far)
	at, reauth := now.Add(-time.Minute), now.Add(-time.Second)
	signedIn.AuthMethod, signedIn.AuthTime, signedIn.ReauthAt, signedIn.ProviderID = MethodSSO, &at, &reauth, "acme"
	signedIn.Issuer, signedIn.Subject, signedIn.SID, signedIn.IDToken, signedIn.Data = "https://idp", "sub", "sid", "tok", `{"k":"v"}`
	if err := db.SaveSessionData(ctx, signedIn); err != nil {
		t.Fatal(err)
	}
	mustCreateSession(t, db, "anonymous", nil, far, far)

	// Every column matches what the one-table queries read.
	got, err := db.SessionWithUser(ctx, "signed-in")
	if err != nil {
		t.Fatal(err)
	}
	wantSession, err := db.SessionByHash(ctx, "signed-in")
	if err != nil {
		t.Fatal(err)
	}
	wantUser, err := db.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.User == nil || !reflect.DeepEqual(*got.User, *wantUser) {
		t.Fatalf("User = %+v, want %+v", got.User, wantUser)
	}
	gotSession := *got
	gotSession.User = nil
	if !reflect.DeepEqual(gotSession, *wantSession) {
		t.Fatalf("session = %+v, want %+v", gotSession, *wantSession)
	}
	if got.ReauthAt == nil || !got.ReauthAt.Equal(reauth) || got.AuthTime == nil || !got.AuthTime.Equal(at) {
		t.Fatalf("times auth=%v reauth=%v, want %v %v", got.AuthTime, got.ReauthAt, at, reauth)
	}

	anon, err := db.SessionWithUser(ctx, "anonymous")
	if err != nil || anon.User != nil || anon.UserID != nil {
		t.Fatalf("anonymous session = %+v, %v; want no user", anon, err)
	}
	if _, err := db.SessionWithUser(ctx, "not-there"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SessionWithUser(missing) = %v, want ErrNotFound", err)
	}

	// A disabled account comes back as it is: the caller decides.
	if err := db.gorm.Exec("UPDATE users SET disabled_at = ? WHERE id = ?", now, u.ID).Error; err != nil {
		t.Fatal(err)
	}
	if got, err := db.SessionWithUser(ctx, "signed-in"); err != nil || got.User == nil || !got.User.Disabled() {
		t.Fatalf("session of a disabled account = %+v, %v; want the user, disabled", got, err)
	}

	// A session pointing at an account that is gone has no User. Foreign
	// keys prevent that row, so it is made on a connection without them.
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"PRAGMA foreign_keys = OFF",
		"UPDATE sessions SET user_id = 9999 WHERE token_hash = 'anonymous'",
		"PRAGMA foreign_keys = ON",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close()
	if got, err := db.SessionWithUser(ctx, "anonymous"); err != nil || got.User != nil || got.UserID == nil || *got.UserID != 9999 {
		t.Fatalf("session of a missing account = %+v, %v; want user_id 9999 and no User", got, err)
	}

	db.Close()
	if _, err := db.SessionWithUser(ctx, "signed-in"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("SessionWithUser on a closed database = %v, want an error other than ErrNotFound", err)
	}
}

// TestSessionWithUserOneStatement checks the page-view load is one round
// trip that reads both tables.
func TestSessionWithUserOneStatement(t *testing.T) {
	db := openTestDB(t)
	u := mustCreateUser(t, db, "one@example.com")
	far := db.now().Add(time.Hour)
	mustCreateSession(t, db, "one", &u.ID, far, far)
	statements := countStatements(t, db)
	s, err := db.SessionWithUser(t.Context(), "one")
	if err != nil || s.User == nil || s.User.ID != u.ID {
		t.Fatalf("SessionWithUser = %+v, %v", s, err)
	}
	got := statements()
	if len(got) != 1 || !strings.Contains(got[0], "FROM sessions") || !strings.Contains(got[0], "JOIN users") {
		t.Fatalf("statements = %q, want one reading sessions JOIN users", got)
	}
}

// TestSessionWithUserPlan checks the page-view query finds the session by
// the token_hash index and the account by its key, whatever the table
// sizes: the CAST around the parameter must not cost the index.
func TestSessionWithUserPlan(t *testing.T) {
	testkit.SkipOnPostgres(t, "reads SQLite's query plan")
	db := openTestDB(t)
	rows, err := db.sql.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+sessionWithUserQuery, "h")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(plan, "\n")
	if len(plan) != 2 || !strings.HasPrefix(plan[0], "SEARCH s USING INDEX sqlite_autoindex_sessions_1 (token_hash=?)") ||
		!strings.HasPrefix(plan[1], "SEARCH u USING INTEGER PRIMARY KEY (rowid=?)") {
		t.Fatalf("query plan:\n%s\nwant the session by its token_hash index, then the user by its key", got)
	}
}

// TestSessionWithUserInTx checks the load runs inside a transaction when
// called on one: it sees a row the transaction wrote before the commit.
func TestSessionWithUserInTx(t *testing.T) {
	db := openTestDB(t)
	u := mustCreateUser(t, db, "tx@example.com")
	far := db.now().Add(time.Hour)
	err := db.Tx(t.Context(), func(tx *DB) error {
		now := tx.now()
		s := &Session{TokenHash: "in-tx", UserID: &u.ID, CreatedAt: now, LastSeenAt: now, IdleExpiresAt: far, ExpiresAt: far, Data: "{}"}
		if err := tx.CreateSession(t.Context(), s); err != nil {
			return err
		}
		got, err := tx.SessionWithUser(t.Context(), "in-tx")
		if err != nil || got.User == nil || got.User.ID != u.ID {
			t.Errorf("SessionWithUser in the transaction = %+v, %v; want the uncommitted session and its user", got, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
