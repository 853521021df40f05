package models

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/sso"
	"github.com/gatehouse/gatehouse/testkit"

	"gorm.io/gorm"
)

// openTestDB opens a fresh migrated database in a temporary directory.
func openTestDB(t *testing.T) *DB {
	t.Helper()
	return openMigrated(t, testkit.DatabaseIn(t, filepath.Join(t.TempDir(), "sub dir"), "test.db"))
}

// openMigrated opens database, closed when t ends, and migrates it.
func openMigrated(t *testing.T, database string) *DB {
	t.Helper()
	db, err := Open(database)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// fixedClock sets db.Now to a settable time and returns the setter.
func fixedClock(db *DB, start time.Time) func(time.Time) {
	var mu sync.Mutex
	now := start
	db.Now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	return func(t time.Time) {
		mu.Lock()
		now = t
		mu.Unlock()
	}
}

func mustCreateUser(t *testing.T, db *DB, email string) *User {
	t.Helper()
	h := "$2a$04$hash"
	u := &User{Email: email, PasswordHash: &h}
	if err := db.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", email, err)
	}
	return u
}

func mustCreateSession(t *testing.T, db *DB, hash string, userID *int64, idle, abs time.Time) *Session {
	t.Helper()
	now := db.now()
	s := &Session{TokenHash: hash, UserID: userID, CreatedAt: now, LastSeenAt: now, IdleExpiresAt: idle, ExpiresAt: abs, Data: "{}"}
	if err := db.CreateSession(t.Context(), s); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return s
}

// countRows runs a counting query; each ? in it is a placeholder.
func countRows(t *testing.T, db *DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.gorm.WithContext(t.Context()).Raw(query, args...).Scan(&n).Error; err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestMigrateIdempotent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, err := Open(testkit.EmptyDatabase(t, t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if cur, err := db.MigrationsCurrent(ctx); err != nil || cur {
		t.Fatalf("fresh database: MigrationsCurrent = %v, %v; want false, nil", cur, err)
	}
	n, err := db.Migrate(ctx)
	if err != nil || n < 1 {
		t.Fatalf("first Migrate = %d, %v; want at least 1 applied", n, err)
	}
	n, err = db.Migrate(ctx)
	if err != nil || n != 0 {
		t.Fatalf("second Migrate = %d, %v; want 0, nil", n, err)
	}
	if cur, err := db.MigrationsCurrent(ctx); err != nil || !cur {
		t.Fatalf("MigrationsCurrent = %v, %v; want true, nil", cur, err)
	}
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func TestMigrationsSurviveReopen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := testkit.Database(t, "m.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	mustCreateUser(t, db, "keep@example.com")
	db.Close()

	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n, err := db.Migrate(ctx); err != nil || n != 0 {
		t.Fatalf("Migrate after reopen = %d, %v; want 0, nil", n, err)
	}
	if _, err := db.UserByEmail(ctx, "keep@example.com"); err != nil {
		t.Fatalf("user lost across reopen: %v", err)
	}
}

// TestPragmasOnEveryConnection holds several pooled connections at once and
// checks each one has the pragmas, not only the first.
func TestPragmasOnEveryConnection(t *testing.T) {
	testkit.SkipOnPostgres(t, "pragmas")
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	const n = 6 // below the pool's MaxOpenConns
	conns := make([]*sql.Conn, n)
	for i := range conns {
		c, err := db.sql.Conn(ctx)
		if err != nil {
			t.Fatalf("conn %d: %v", i, err)
		}
		defer c.Close()
		conns[i] = c
	}
	if got := db.sql.Stats().InUse; got != n {
		t.Fatalf("pool has %d connections in use, want %d distinct ones", got, n)
	}
	type result struct {
		journal               string
		foreignKeys, busy, sy int
		err                   error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			r := &results[i]
			if r.err = c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&r.journal); r.err != nil {
				return
			}
			if r.err = c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&r.foreignKeys); r.err != nil {
				return
			}
			if r.err = c.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&r.busy); r.err != nil {
				return
			}
			r.err = c.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&r.sy)
		})
	}
	wg.Wait()
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("conn %d: %v", i, r.err)
		}
		if r.journal != "wal" || r.foreignKeys != 1 || r.busy != 10000 || r.sy != 1 {
			t.Errorf("conn %d: journal_mode=%q foreign_keys=%d busy_timeout=%d synchronous=%d; want wal 1 10000 1",
				i, r.journal, r.foreignKeys, r.busy, r.sy)
		}
	}
}

// TestPragmasThroughGorm checks the connections gorm hands out concurrently.
func TestPragmasThroughGorm(t *testing.T) {
	testkit.SkipOnPostgres(t, "pragmas")
	t.Parallel()
	db := openTestDB(t)
	const n = 4
	var (
		ready   sync.WaitGroup
		release = make(chan struct{})
		wg      sync.WaitGroup
		mu      sync.Mutex
		errs    []string
	)
	ready.Add(n)
	for i := range n {
		wg.Go(func() {
			err := db.gorm.WithContext(t.Context()).Connection(func(tx *gorm.DB) error {
				var (
					fk, busy int
					journal  string
				)
				err := tx.Raw("PRAGMA foreign_keys").Scan(&fk).Error
				if err == nil {
					err = tx.Raw("PRAGMA busy_timeout").Scan(&busy).Error
				}
				if err == nil {
					err = tx.Raw("PRAGMA journal_mode").Scan(&journal).Error
				}
				if err == nil && (fk != 1 || busy != 10000 || journal != "wal") {
					err = fmt.Errorf("foreign_keys=%d busy_timeout=%d journal_mode=%q", fk, busy, journal)
				}
				ready.Done()
				<-release // hold the connection until all are held
				return err
			})
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("goroutine %d: %v", i, err))
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	go func() { ready.Wait(); close(done) }()
	select {
	case <-done:
		if got := db.sql.Stats().InUse; got < n {
			t.Errorf("%d connections in use, want %d", got, n)
		}
	case <-time.After(10 * time.Second):
		t.Error("connections were not all held at once")
	}
	close(release)
	wg.Wait()
	for _, e := range errs {
		t.Error(e)
	}
}

func TestForeignKeyCascade(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	u := mustCreateUser(t, db, "fk@example.com")
	far := db.now().Add(time.Hour)
	mustCreateSession(t, db, "h1", &u.ID, far, far)
	if _, err := db.sql.ExecContext(t.Context(), "DELETE FROM users WHERE id = $1", u.ID); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "SELECT count(*) FROM sessions"); n != 0 {
		t.Fatalf("%d sessions survive their user's deletion; foreign keys are off", n)
	}
	missing := int64(9999)
	s := &Session{TokenHash: "h2", UserID: &missing, CreatedAt: far, LastSeenAt: far, IdleExpiresAt: far, ExpiresAt: far}
	if err := db.CreateSession(t.Context(), s); err == nil {
		t.Fatal("session for a missing user was accepted")
	}
}

func TestValidEmail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		email string
		want  bool
	}{
		{"a@b", true},
		{"alice@example.com", true},
		{"a.b+tag@sub.example.co.uk", true},
		{"", false},
		{"alice", false},
		{"@example.com", false},
		{"alice@", false},
		{"a@b@c", false},
		{"alice@.example.com", false},
		{"alice@example.com.", false},
		{"al ice@example.com", false},
		{"alice@exa\tmple.com", false},
		{"alice@example.com\n", false},
		{"alice@exa\x00mple.com", false},
		{"alice@\xffexample.com", false},
		{strings.Repeat("a", 250) + "@b.co", false},
	}
	for _, tt := range tests {
		if got := ValidEmail(tt.email); got != tt.want {
			t.Errorf("ValidEmail(%q) = %v, want %v", tt.email, got, tt.want)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"  Alice@Example.COM \n", "alice@example.com"},
		{"bob@example.com", "bob@example.com"},
	}
	for _, tt := range tests {
		if got := sso.NormalizeEmail(tt.in); got != tt.want {
			t.Errorf("sso.NormalizeEmail(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := sso.EmailDomain("alice@example.com"); got != "example.com" {
		t.Errorf("EmailDomain = %q", got)
	}
}

func TestCreateUserEmail(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	u := mustCreateUser(t, db, "  Alice@Example.COM ")
	if u.ID == 0 || u.Email != "alice@example.com" {
		t.Fatalf("created user ID=%d Email=%q", u.ID, u.Email)
	}
	tests := []struct {
		name    string
		email   string
		wantErr error // nil: just any error
	}{
		{"same email", "alice@example.com", ErrEmailTaken},
		{"different case", "ALICE@EXAMPLE.COM", ErrEmailTaken},
		{"surrounding space", "\talice@example.com ", ErrEmailTaken},
		{"invalid", "not an email", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.CreateUser(ctx, &User{Email: tt.email})
			if err == nil {
				t.Fatal("CreateUser succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("CreateUser = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && errors.Is(err, ErrEmailTaken) {
				t.Fatalf("invalid email reported as taken: %v", err)
			}
		})
	}
	for _, lookup := range []string{"alice@example.com", "ALICE@example.com", " Alice@Example.Com "} {
		got, err := db.UserByEmail(ctx, lookup)
		if err != nil || got.ID != u.ID {
			t.Errorf("UserByEmail(%q) = %v, %v", lookup, got, err)
		}
	}
	if _, err := db.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("UserByEmail(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := db.UserByID(ctx, u.ID+100); !errors.Is(err, ErrNotFound) {
		t.Errorf("UserByID(unknown) = %v, want ErrNotFound", err)
	}
	if n := countRows(t, db, "SELECT count(*) FROM users"); n != 1 {
		t.Fatalf("%d users, want 1", n)
	}
}

func TestUserUpdates(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	set := fixedClock(db, time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	u := mustCreateUser(t, db, "u@example.com")
	admin := &User{Email: "admin@example.com", IsAdmin: true}
	if err := db.CreateUser(ctx, admin); err != nil {
		t.Fatal(err)
	}
	if admin.HasPassword() {
		t.Fatal("user with nil hash HasPassword")
	}

	later := time.Date(2030, 1, 3, 0, 0, 0, 0, time.UTC)
	set(later)
	if err := db.SetPasswordHash(ctx, u.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordLogin(ctx, admin.ID, "password"); err != nil {
		t.Fatal(err)
	}
	got, err := db.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.PasswordHash != nil || got.HasPassword() || !got.UpdatedAt.Equal(later) {
		t.Fatalf("after SetPasswordHash(nil): hash=%v updated=%v", got.PasswordHash, got.UpdatedAt)
	}
	a, err := db.UserByID(ctx, admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a.LastLoginAt == nil || !a.LastLoginAt.Equal(later) || a.LastLoginMethod != "password" {
		t.Fatalf("after RecordLogin: %v %q", a.LastLoginAt, a.LastLoginMethod)
	}
	if err := db.SetPasswordHash(ctx, 12345, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetPasswordHash(unknown) = %v, want ErrNotFound", err)
	}

	counts := []struct {
		admins bool
		want   int64
	}{{false, 2}, {true, 1}}
	for _, c := range counts {
		if n, err := db.CountUsers(ctx, c.admins); err != nil || n != c.want {
			t.Errorf("CountUsers(%v) = %d, %v; want %d", c.admins, n, err, c.want)
		}
	}
	if err := db.SetDisabled(ctx, admin.ID, true); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.CountUsers(ctx, true); n != 0 {
		t.Errorf("CountUsers(admins) counts a disabled admin: %d", n)
	}
	users, err := db.ListUsers(ctx)
	if err != nil || len(users) != 2 || users[0].Email != "admin@example.com" || users[1].Email != "u@example.com" {
		t.Fatalf("ListUsers = %+v, %v", users, err)
	}
}

func TestSetDisabled(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	now := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	fixedClock(db, now)
	u := mustCreateUser(t, db, "victim@example.com")
	other := mustCreateUser(t, db, "other@example.com")
	far := now.Add(time.Hour)
	for i := range 3 {
		mustCreateSession(t, db, fmt.Sprintf("u%d", i), &u.ID, far, far)
	}
	mustCreateSession(t, db, "o1", &other.ID, far, far)
	mustCreateSession(t, db, "anon", nil, far, far)

	if err := db.SetDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	got, _ := db.UserByID(ctx, u.ID)
	if !got.Disabled() || !got.DisabledAt.Equal(now) {
		t.Fatalf("DisabledAt = %v, want %v", got.DisabledAt, now)
	}
	if n := countRows(t, db, "SELECT count(*) FROM sessions WHERE user_id = $1", u.ID); n != 0 {
		t.Fatalf("%d sessions of the disabled user remain", n)
	}
	if n := countRows(t, db, "SELECT count(*) FROM sessions"); n != 2 {
		t.Fatalf("%d sessions remain, want the other user's and the anonymous one", n)
	}

	mustCreateSession(t, db, "u-again", &u.ID, far, far)
	if err := db.SetDisabled(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}
	got, _ = db.UserByID(ctx, u.ID)
	if got.Disabled() {
		t.Fatal("still disabled after re-enabling")
	}
	if n := countRows(t, db, "SELECT count(*) FROM sessions WHERE user_id = $1", u.ID); n != 1 {
		t.Fatalf("re-enabling deleted sessions: %d left", n)
	}
	if err := db.SetDisabled(ctx, 98765, true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetDisabled(unknown) = %v, want ErrNotFound", err)
	}
}

// TestSetDisabledIsOneTransaction makes the user update fail after the
// session delete: the sessions must come back (rolled back together).
func TestSetDisabledIsOneTransaction(t *testing.T) {
	testkit.SkipOnPostgres(t, "fails a write with an SQLite trigger")
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	u := mustCreateUser(t, db, "tx@example.com")
	far := db.now().Add(time.Hour)
	mustCreateSession(t, db, "t1", &u.ID, far, far)
	mustCreateSession(t, db, "t2", &u.ID, far, far)
	if _, err := db.sql.ExecContext(ctx, `CREATE TRIGGER users_no_update BEFORE UPDATE ON users
		BEGIN SELECT RAISE(ABORT, 'update refused'); END`); err != nil {
		t.Fatal(err)
	}
	if err := db.SetDisabled(ctx, u.ID, true); err == nil {
		t.Fatal("SetDisabled succeeded despite the trigger")
	}
	if n := countRows(t, db, "SELECT count(*) FROM sessions WHERE user_id = $1", u.ID); n != 2 {
		t.Fatalf("%d sessions left after a failed disable, want 2 (the delete must roll back)", n)
	}
}

func TestDeleteExpiredSessions(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	fixedClock(db, now)
	type row struct {
		hash      string
		idle, abs time.Time
		expired   bool
	}
	var rows []row
	for i := range 4 { // idle-expired, some exactly at now
		rows = append(rows, row{fmt.Sprintf("idle%d", i), now.Add(-time.Duration(i) * time.Minute), now.Add(time.Hour), true})
	}
	for i := range 3 { // absolutely expired (idle still in the future)
		rows = append(rows, row{fmt.Sprintf("abs%d", i), now.Add(time.Minute), now.Add(-time.Duration(i+1) * time.Second), true})
	}
	for i := range 3 { // live
		rows = append(rows, row{fmt.Sprintf("live%d", i), now.Add(time.Nanosecond * 1000), now.Add(time.Hour), false})
	}
	for _, r := range rows {
		mustCreateSession(t, db, r.hash, nil, r.idle, r.abs)
		s, err := db.SessionByHash(ctx, r.hash)
		if err != nil {
			t.Fatal(err)
		}
		if s.Expired(now) != r.expired {
			t.Fatalf("%s: Expired = %v, want %v", r.hash, s.Expired(now), r.expired)
		}
	}
	var got []int64
	for {
		n, err := db.DeleteExpiredSessions(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
		if n == 0 || len(got) > 10 {
			break
		}
	}
	if fmt.Sprint(got) != "[3 3 1 0]" {
		t.Fatalf("batches deleted %v, want [3 3 1 0]", got)
	}
	for _, r := range rows {
		_, err := db.SessionByHash(ctx, r.hash)
		if r.expired && !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: expired row still there (%v)", r.hash, err)
		}
		if !r.expired && err != nil {
			t.Errorf("%s: live row deleted (%v)", r.hash, err)
		}
	}
}

func TestSessionQueries(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	set := fixedClock(db, now)
	u := mustCreateUser(t, db, "s@example.com")
	other := mustCreateUser(t, db, "o@example.com")
	far := now.Add(time.Hour)
	a := mustCreateSession(t, db, "a", &u.ID, far, far)
	set(now.Add(time.Second))
	b := mustCreateSession(t, db, "b", &u.ID, far, far)
	mustCreateSession(t, db, "dead", &u.ID, now, far)
	o := mustCreateSession(t, db, "o", &other.ID, far, far)
	if err := db.TouchSession(ctx, a.ID, now.Add(2*time.Second), far.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}

	list, err := db.UserSessions(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("UserSessions = %+v; want a (touched last) then b, no expired row", list)
	}
	if !list[0].IdleExpiresAt.Equal(far.Add(time.Minute)) {
		t.Fatalf("TouchSession did not move idle expiry: %v", list[0].IdleExpiresAt)
	}

	if ok, err := db.DeleteSessionByID(ctx, u.ID, o.ID); err != nil || ok {
		t.Fatalf("deleting another user's session by ID = %v, %v; want false", ok, err)
	}
	if ok, err := db.DeleteSessionByID(ctx, other.ID, o.ID); err != nil || !ok {
		t.Fatalf("DeleteSessionByID = %v, %v; want true", ok, err)
	}
	if n, err := db.DeleteUserSessions(ctx, u.ID, "b"); err != nil || n != 2 {
		t.Fatalf("DeleteUserSessions(keep b) = %d, %v; want 2", n, err)
	}
	if _, err := db.SessionByHash(ctx, "b"); err != nil {
		t.Fatalf("kept session gone: %v", err)
	}
	if n, err := db.DeleteUserSessions(ctx, u.ID, ""); err != nil || n != 1 {
		t.Fatalf("DeleteUserSessions(keep none) = %d, %v; want 1", n, err)
	}
	if err := db.DeleteSession(ctx, "not-there"); err != nil {
		t.Fatalf("DeleteSession(missing) = %v", err)
	}
	if _, err := db.SessionByHash(ctx, "not-there"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SessionByHash(missing) = %v", err)
	}
}

func TestSessionSaveData(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	u := mustCreateUser(t, db, "d@example.com")
	far := db.now().Add(time.Hour)
	s := mustCreateSession(t, db, "d", nil, far, far)
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s.UserID, s.AuthMethod, s.AuthTime, s.ProviderID = &u.ID, "sso", &at, "acme"
	s.Issuer, s.Subject, s.SID, s.IDToken, s.Data = "https://idp", "sub", "sid1", "tok", `{"k":"v"}`
	if err := db.SaveSessionData(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := db.SessionByHash(ctx, "d")
	if err != nil {
		t.Fatal(err)
	}
	if got.UserID == nil || *got.UserID != u.ID || got.AuthMethod != "sso" || got.AuthTime == nil || !got.AuthTime.Equal(at) ||
		got.ProviderID != "acme" || got.Issuer != "https://idp" || got.Subject != "sub" || got.SID != "sid1" || got.IDToken != "tok" || got.Data != `{"k":"v"}` {
		t.Fatalf("saved session = %+v", got)
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	uid := int64(42)
	for _, kind := range []EventKind{EventLoginFailure, EventLoginSuccess, EventLogout} {
		if err := db.RecordEvent(ctx, &Event{Kind: kind, UserID: &uid, Email: "e@example.com", IP: "127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
	}
	es, err := db.Events(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Kind != EventLogout || es[1].Kind != EventLoginSuccess || es[0].IP != "127.0.0.1" || es[0].UserID == nil || *es[0].UserID != 42 {
		t.Fatalf("Events = %+v", es)
	}
}

// TestTimesStoredInUTC sets a clock in another zone and reads the stored
// text straight from SQLite.
func TestTimesStoredInUTC(t *testing.T) {
	testkit.SkipOnPostgres(t, "checks the text SQLite stores times as; TIMESTAMPTZ has no zone to get wrong")
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	zone := time.FixedZone("UTC+5", 5*3600)
	local := time.Date(2030, 6, 1, 17, 30, 0, 0, zone) // 12:30 UTC
	fixedClock(db, local)
	u := mustCreateUser(t, db, "tz@example.com")
	if err := db.RecordLogin(ctx, u.ID, "password"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordEvent(ctx, &Event{Kind: EventUserCreated}); err != nil {
		t.Fatal(err)
	}
	const want = "2030-06-01 12:30:00+00:00"
	queries := []string{
		"SELECT created_at || '' FROM users",
		"SELECT updated_at || '' FROM users",
		"SELECT last_login_at || '' FROM users",
		"SELECT disabled_at || '' FROM users",
		"SELECT created_at || '' FROM events",
	}
	for _, q := range queries {
		var raw string
		if err := db.sql.QueryRowContext(ctx, q).Scan(&raw); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if raw != want {
			t.Errorf("%s = %q, want %q", q, raw, want)
		}
	}
	// Session times come from the caller; they are stored in UTC too, so
	// the text comparisons of expiry queries hold.
	s := &Session{TokenHash: "tz", CreatedAt: local, LastSeenAt: local, IdleExpiresAt: local.Add(time.Hour), ExpiresAt: local.Add(2 * time.Hour), AuthTime: &local}
	if err := db.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := db.TouchSession(ctx, s.ID, local.Add(time.Minute), local.Add(time.Hour+time.Minute)); err != nil {
		t.Fatal(err)
	}
	sessionTimes := map[string]string{
		"created_at":      want,
		"last_seen_at":    "2030-06-01 12:31:00+00:00",
		"idle_expires_at": "2030-06-01 13:31:00+00:00",
		"expires_at":      "2030-06-01 14:30:00+00:00",
		"auth_time":       want,
	}
	for col, w := range sessionTimes {
		var raw string
		if err := db.sql.QueryRowContext(ctx, "SELECT "+col+" || '' FROM sessions").Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if raw != w {
			t.Errorf("sessions.%s = %q, want %q", col, raw, w)
		}
	}
	got, err := db.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(local) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreatedAt read back as %v", got.CreatedAt)
	}
}

// TestTimesReadAsWritten: a time stamped from a clock in another zone, with
// nanoseconds, reads back equal to what was written, in UTC, on either
// database: stored to the microsecond, the finest both keep.
func TestTimesReadAsWritten(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	at := time.Date(2030, 6, 1, 15, 30, 0, 123456789, time.FixedZone("EEST", 3*3600))
	db.Now = func() time.Time { return at }
	u := mustCreateUser(t, db, "times@example.com")
	got, err := db.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := at.UTC().Truncate(time.Microsecond)
	if !got.CreatedAt.Equal(want) || got.CreatedAt.Location() != time.UTC || !u.CreatedAt.Equal(got.CreatedAt) {
		t.Errorf("created_at read back as %v (%v), written %v; want %v in UTC", got.CreatedAt, got.CreatedAt.Location(), u.CreatedAt, want)
	}
	s := &Session{TokenHash: "times", UserID: &u.ID, CreatedAt: at, LastSeenAt: at, IdleExpiresAt: at.Add(time.Hour), ExpiresAt: at.Add(time.Hour)}
	if err := db.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	row, err := db.SessionWithUser(ctx, "times")
	if err != nil {
		t.Fatal(err)
	}
	if !row.CreatedAt.Equal(want) || row.CreatedAt.Location() != time.UTC || !row.User.CreatedAt.Equal(want) {
		t.Errorf("session read back with created_at %v and its user's %v; want %v in UTC", row.CreatedAt, row.User.CreatedAt, want)
	}
}
