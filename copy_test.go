package main

// Tests of copy-from-sqlite: an SQLite installation moved to PostgreSQL.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sso"
	"github.com/gatehouse/gatehouse/testkit"
)

// copyTables are the tables copy-from-sqlite copies, in its order.
var copyTables = models.CopyTables()

const (
	alicePW = "correct horse battery staple"
	bobPW   = "another long passphrase"
)

// skipUnlessPostgres skips a test that copies into PostgreSQL when the
// tests run on SQLite only.
func skipUnlessPostgres(t *testing.T) {
	t.Helper()
	if !testkit.OnPostgres() {
		t.Skip("copy-from-sqlite copies into PostgreSQL: run with bash .ci/postgres.sh (sets " + testkit.DatabaseEnv + ")")
	}
}

// configFor writes a config file in dir whose database is database.
func configFor(t *testing.T, dir, name, database string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	body := fmt.Sprintf("database: %q\nlog:\n  level: warn\npassword:\n  bcrypt_cost: 10\n", database)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// seedSQLite makes an SQLite installation at path with a row or more in
// every table: an admin with a password, a user with a password, an
// SSO-only user with an identity, a deleted user (so SQLite has handed out
// a higher id than any left), sessions, devices, pending sign-ins and
// links, events, throttle counters, a client registration and a logout
// token ID. Times have microseconds, and some columns are NULL.
func seedSQLite(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	db, err := models.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clock := testkit.NewClock(time.Date(2024, 3, 5, 6, 7, 8, 123456000, time.UTC))
	db.Now = clock.Now
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	hasher, err := password.New(10, 12)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	hash := func(pw string) *string {
		h, err := hasher.Hash(pw)
		must(err)
		return &h
	}
	alice := &models.User{Email: "alice@example.com", Name: "Alice Admin", PasswordHash: hash(alicePW), IsAdmin: true}
	must(db.CreateUser(ctx, alice))
	clock.Advance(time.Minute + 7*time.Microsecond)
	bob := &models.User{Email: "bob@example.com", Name: "Bob", PasswordHash: hash(bobPW)}
	must(db.CreateUser(ctx, bob))
	clock.Advance(time.Hour + 11*time.Microsecond)
	carol := &models.User{Email: "carol@example.com", Name: "Carol SSO"}
	must(db.CreateUser(ctx, carol))
	gone := &models.User{Email: "gone@example.com"}
	must(db.CreateUser(ctx, gone))
	must(db.DeleteUser(ctx, gone.ID))
	must(db.RecordLogin(ctx, alice.ID, models.MethodPassword))
	clock.Advance(3 * time.Second)
	must(db.SetDisabled(ctx, bob.ID, true))

	must(db.CreateIdentity(ctx, models.NewIdentity(carol.ID, "corp", &sso.Identity{Issuer: "https://op.example", Subject: "carol-sub", Email: carol.Email})))
	now := clock.Now()
	authTime := now.Add(-time.Minute)
	for i, uid := range []*int64{&alice.ID, &carol.ID, nil} {
		must(db.CreateSession(ctx, &models.Session{
			TokenHash: fmt.Sprintf("session-%d", i), UserID: uid, CreatedAt: now, LastSeenAt: now.Add(time.Second),
			IdleExpiresAt: now.Add(30 * time.Minute), ExpiresAt: now.Add(12 * time.Hour), IP: "192.0.2.1",
			UserAgent: "test", AuthMethod: models.MethodPassword, AuthTime: &authTime, Data: `{"k":"v"}`,
		}))
	}
	must(db.RememberDevice(ctx, alice.ID, "device-1", 5))
	must(db.AddPasswordReset(ctx, alice.ID, strings.Repeat("cd", 32), time.Hour))
	must(db.MarkEmailVerified(ctx, alice.ID, alice.Email))
	must(db.PutTOTPFactor(ctx, alice.ID, []byte{0, 1, 2, 0xff, 'x'}))
	_, err = db.UseTOTPStep(ctx, alice.ID, 42)
	must(err)
	must(db.ReplaceRecoveryCodes(ctx, alice.ID, []string{strings.Repeat("1", 64), strings.Repeat("2", 64)}))
	must(db.AddPendingMFA(ctx, models.PendingMFA{TokenHash: strings.Repeat("3", 64), UserID: alice.ID, Next: "/admin"}, 5*time.Minute))
	must(db.AddPasskey(ctx, &models.Passkey{UserID: alice.ID, CredentialID: []byte{1, 2, 3, 0xff}, UserHandle: []byte{9, 0, 9},
		Name: "Laptop", Credential: []byte(`{"id":"AQID_w"}`), SignCount: 7}, nil))
	must(db.CreatePasskeyCeremony(ctx, &models.PasskeyCeremony{ChallengeHash: strings.Repeat("4", 64), BrowserHash: "browser-1",
		Purpose: models.CeremonySecond, UserID: &alice.ID, Data: []byte(`{"session":{}}`)}, 5*time.Minute, 5, 100))
	must(db.SetAdmin(ctx, carol.ID, true, "corp: gatehouse-admins"))
	must(db.AddEmailLink(ctx, &models.EmailLink{TokenHash: strings.Repeat("ef", 32), Purpose: models.LinkInvite, UserID: carol.ID, Email: carol.Email}, 7*24*time.Hour))
	must(db.AddEmailLink(ctx, &models.EmailLink{TokenHash: strings.Repeat("ab", 32), Purpose: models.LinkVerify, UserID: alice.ID, Email: "alice.new@example.com", FromEmail: alice.Email}, 24*time.Hour))
	must(db.CreatePendingLogin(ctx, &models.PendingLogin{StateHash: "state-1", BrowserHash: "browser-1", ProviderID: "corp", Nonce: "n", CodeVerifier: "v"}, 10*time.Minute, 10, 100))
	must(db.CreatePendingLink(ctx, models.NewPendingLink(bob.ID, "corp", &sso.Identity{Issuer: "https://op.example", Subject: "bob-sub"}), 10*time.Minute))
	for _, e := range []models.Event{
		{Kind: models.EventUserCreated, UserID: &alice.ID, Email: alice.Email, Method: models.MethodCLI},
		{Kind: models.EventLoginSuccess, UserID: &alice.ID, ActorID: &alice.ID, Email: alice.Email, Method: models.MethodPassword, IP: "192.0.2.1"},
		{Kind: models.EventLoginFailure, Email: "nobody@example.com", Detail: "unknown email"},
	} {
		clock.Advance(time.Millisecond + time.Microsecond)
		must(db.RecordEvent(ctx, &e))
	}
	must(db.UpdateThrottleCounters(ctx, []string{"acct:bob@example.com", "ip:192.0.2.1"}, func(cs []*models.ThrottleCounter) bool {
		for i, c := range cs {
			c.Failures = 3 + i
		}
		locked := clock.Now().Add(15 * time.Minute)
		cs[0].LockedUntil = &locked
		return true
	}))
	_, err = db.SaveRegistration(ctx, &sso.ClientRegistration{ProviderID: "corp", Issuer: "https://op.example", ClientID: "client-1", ClientSecret: "s3cret", Raw: []byte(`{"client_id":"client-1"}`)})
	must(err)
	_, err = db.Remember(ctx, "https://op.example", "jti-1", clock.Now().Add(time.Hour))
	must(err)
	must(db.AddSetupToken(ctx, strings.Repeat("ab", 32), time.Hour))
	must(db.EnqueueMail(ctx, models.OutboxMail{MessageID: "<m1@example.com>", Recipient: "alice@example.com", Subject: "Hello",
		Body: "Subject: Hello\r\n\r\nHi\r\n"}))
	for i, failed := range []bool{false, true} {
		_, err = db.QueueAuditDelivery(ctx, models.AuditDelivery{EventID: int64(i + 1), DeliveryID: fmt.Sprintf("delivery-%d", i), Kind: models.EventLogout,
			Body: `{"schema":1,"event":"logout"}`}, 0)
		must(err)
		if failed { // attempted, and given up on: claim, last_error, failed_at set
			claimed, err := db.ClaimAuditBatch(ctx, "claim-1", time.Minute, 2)
			must(err)
			_, err = db.MarkAuditFailed(ctx, claimed[len(claimed)-1], errors.New("HTTP 500"), clock.Now(), 1)
			must(err)
			must(db.ReleaseAudit(ctx, claimed[:len(claimed)-1], clock.Now()))
		}
	}
}

// tableRows reads every row of table with plain database/sql, each value
// printed as text (a time in UTC with every digit), sorted: two databases
// holding the same rows give the same lines.
func tableRows(t *testing.T, database, table string) []string {
	t.Helper()
	pool, err := models.OpenSQL(database)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	cols := tableColumns(t, database, table)
	rows, err := pool.Query(`SELECT "` + strings.Join(cols, `", "`) + `" FROM ` + table)
	if err != nil {
		t.Fatalf("%s: %v", table, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		var b strings.Builder
		for i, v := range vals {
			switch v := v.(type) {
			case time.Time:
				fmt.Fprintf(&b, "%s=%s ", cols[i], v.UTC().Format(time.RFC3339Nano))
			case []byte:
				fmt.Fprintf(&b, "%s=%q ", cols[i], v)
			case string:
				fmt.Fprintf(&b, "%s=%q ", cols[i], v)
			default:
				fmt.Fprintf(&b, "%s=%v ", cols[i], v)
			}
		}
		out = append(out, b.String())
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// tableColumns lists table's columns in alphabetical order.
func tableColumns(t *testing.T, database, table string) []string {
	t.Helper()
	pool, err := models.OpenSQL(database)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	q := `SELECT name FROM pragma_table_info($1)`
	if models.IsPostgres(database) {
		q = `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`
	}
	rows, err := pool.Query(q, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	slices.Sort(cols)
	return cols
}

// rowCounts is every copied table's row count.
func rowCounts(t *testing.T, database string) map[string]int64 {
	t.Helper()
	pool, err := models.OpenSQL(database)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	counts := map[string]int64{}
	for _, table := range copyTables {
		var n int64
		if err := pool.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		counts[table] = n
	}
	return counts
}

// TestCopyFromSQLite moves a seeded SQLite installation into a new,
// unmigrated PostgreSQL database with the CLI: every row arrives as it was
// (times to the microsecond, NULLs, ids), new rows get new ids past the
// copied ones (and past a deleted user's), passwords still verify, and a
// second copy into the now non-empty database is refused.
func TestCopyFromSQLite(t *testing.T) {
	skipUnlessPostgres(t)
	hermetic(t)
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "old.db")
	seedSQLite(t, src)
	dst := testkit.EmptyDatabase(t, dir, "unused")
	cfg := configFor(t, dir, "pg.yaml", dst)
	wantCounts := rowCounts(t, src)
	for _, table := range copyTables {
		if wantCounts[table] == 0 {
			t.Fatalf("the seed left %s empty", table)
		}
	}

	r := runCLI(t, "", "copy-from-sqlite", "--from", src, "--config", cfg)
	r.want(t, exitOK, "", "")
	var lines []string
	var total int64
	for _, table := range copyTables {
		lines = append(lines, fmt.Sprintf("%s: %d rows", table, wantCounts[table]))
		total += wantCounts[table]
	}
	lines = append(lines, fmt.Sprintf("copied %d rows in %d tables from %s to %s", total, len(copyTables), src, models.Redact(dst)))
	if want := strings.Join(lines, "\n") + "\n"; !strings.HasSuffix(r.stdout, want) || !strings.HasPrefix(r.stdout, "applied ") {
		t.Fatalf("stdout:\n%s\nwant the destination's migrations, then:\n%s", r.stdout, want)
	}

	for _, table := range copyTables {
		if got, want := tableRows(t, dst, table), tableRows(t, src, table); !slices.Equal(got, want) {
			t.Errorf("%s on PostgreSQL:\n%s\nin SQLite:\n%s", table, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}

	// New rows get ids past the copied ones: the user past the deleted
	// user's id 4 too, which SQLite never hands out again.
	runCLI(t, "", "user", "create", "--email", "dave@example.com", "--config", cfg).want(t, exitOK, "created dave@example.com (id 5)", "")
	db, err := models.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e := &models.Event{Kind: models.EventLogout, Email: "dave@example.com"}
	if err := db.RecordEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	if e.ID != wantCounts["events"]+2 { // dave's user.created, then this one
		t.Errorf("new event got id %d, want %d", e.ID, wantCounts["events"]+2)
	}
	s := &models.Session{TokenHash: "new-session", CreatedAt: db.Now(), LastSeenAt: db.Now(), IdleExpiresAt: db.Now(), ExpiresAt: db.Now()}
	if err := db.CreateSession(ctx, s); err != nil || s.ID != wantCounts["sessions"]+1 {
		t.Errorf("new session: id %d (want %d), %v", s.ID, wantCounts["sessions"]+1, err)
	}

	// Copied passwords verify; the SSO-only account still has none.
	hasher, err := password.New(10, 12)
	if err != nil {
		t.Fatal(err)
	}
	svc := &accounts.Service{DB: db, Hasher: hasher}
	if u, err := svc.Authenticate(ctx, "alice@example.com", alicePW); err != nil || u.ID != 1 || !u.IsAdmin {
		t.Errorf("alice's copied password: %+v, %v", u, err)
	}
	if _, err := svc.Authenticate(ctx, "alice@example.com", bobPW); err == nil {
		t.Error("alice signs in with bob's password")
	}
	if _, err := svc.Authenticate(ctx, "carol@example.com", ""); err == nil {
		t.Error("the SSO-only account signs in without a password")
	}
	if u, err := db.UserByEmail(ctx, "bob@example.com"); err != nil || !u.Disabled() || !u.HasPassword() {
		t.Errorf("bob: %+v, %v", u, err)
	}

	// The destination is in use now: a second copy is refused and writes
	// nothing.
	before := rowCounts(t, dst)
	runCLI(t, "", "copy-from-sqlite", "--from", src, "--config", cfg).
		want(t, exitFailure, "", "not empty: "+strings.Join(copyTables, ", ")+" already hold rows")
	if after := rowCounts(t, dst); !mapsEqual(after, before) {
		t.Errorf("a refused copy changed the destination: %v, was %v", after, before)
	}
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestCopyFromSQLiteRefusals: a copy that cannot be right is refused
// before it writes a row, with a message saying why.
func TestCopyFromSQLiteRefusals(t *testing.T) {
	hermetic(t)
	dir := t.TempDir()

	t.Run("destination is SQLite", func(t *testing.T) {
		src := filepath.Join(dir, "src.db")
		if err := os.WriteFile(src, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(dir, "target.db")
		cfg := configFor(t, dir, "sqlite.yaml", target)
		runCLI(t, "", "copy-from-sqlite", "--from", src, "--config", cfg).
			want(t, exitUsage, "", "copies into PostgreSQL, but the configured database is the SQLite file "+target)
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Errorf("the SQLite destination was created (stat: %v)", err)
		}
		if fi, err := os.Stat(src); err != nil || fi.Size() != 0 {
			t.Errorf("the source was touched: %v, %v", fi, err)
		}
	})
	t.Run("no --from", func(t *testing.T) {
		runCLI(t, "", "copy-from-sqlite", "--config", configFor(t, dir, "any.yaml", "postgres://localhost/x")).
			want(t, exitUsage, "", "--from is required")
	})
	t.Run("--from is PostgreSQL", func(t *testing.T) {
		runCLI(t, "", "copy-from-sqlite", "--from", "postgres://u:hunter2@localhost/x", "--config", configFor(t, dir, "any.yaml", "postgres://localhost/x")).
			want(t, exitUsage, "", "not a PostgreSQL URL (postgres://u:xxxxx@localhost/x)")
	})

	skipUnlessPostgres(t)
	dst := testkit.Database(t, "dst")
	cfg := configFor(t, dir, "pg.yaml", dst)

	t.Run("missing source", func(t *testing.T) {
		missing := filepath.Join(dir, "nosuch", "gatehouse.db")
		runCLI(t, "", "copy-from-sqlite", "--from", missing, "--config", cfg).
			want(t, exitFailure, "", "no SQLite database at "+missing)
		if _, err := os.Stat(filepath.Dir(missing)); !os.IsNotExist(err) {
			t.Errorf("the missing source was created (stat: %v)", err)
		}
	})
	t.Run("source is not gatehouse's", func(t *testing.T) {
		empty := filepath.Join(dir, "empty.db")
		if err := os.WriteFile(empty, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		runCLI(t, "", "copy-from-sqlite", "--from", empty, "--config", cfg).
			want(t, exitFailure, "", empty+" is not a gatehouse database")
	})
	t.Run("source is newer", func(t *testing.T) {
		newer := filepath.Join(dir, "newer.db")
		seedSQLite(t, newer)
		pool, err := models.OpenSQL(newer)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		if _, err := pool.Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (999, TRUE)`); err != nil {
			t.Fatal(err)
		}
		runCLI(t, "", "copy-from-sqlite", "--from", newer, "--config", cfg).
			want(t, exitFailure, "", "is at migration version 999, newer than this gatehouse's")
		if got := rowCounts(t, dst)["users"]; got != 0 {
			t.Errorf("the destination got %d users", got)
		}
	})
	t.Run("destination not empty", func(t *testing.T) {
		src := filepath.Join(dir, "full.db")
		seedSQLite(t, src)
		runCLI(t, "", "user", "create", "--email", "already@example.com", "--config", cfg).want(t, exitOK, "created", "")
		before, beforeUsers := rowCounts(t, dst), tableRows(t, dst, "users")
		r := runCLI(t, "", "copy-from-sqlite", "--from", src, "--config", cfg)
		r.want(t, exitFailure, "", "copy into "+models.Redact(dst)+": the destination database is not empty: users, events already hold rows")
		if r.stdout != "" {
			t.Errorf("stdout: %q", r.stdout)
		}
		if after := rowCounts(t, dst); !mapsEqual(after, before) || !slices.Equal(tableRows(t, dst, "users"), beforeUsers) {
			t.Errorf("a refused copy changed the destination: %v, was %v", after, before)
		}
	})
}

// TestCopyFromSQLiteHelp: --help and "help copy-from-sqlite" print the
// usage with exit 0 and touch nothing.
func TestCopyFromSQLiteHelp(t *testing.T) {
	hermetic(t)
	for _, args := range [][]string{{"copy-from-sqlite", "--help"}, {"help", "copy-from-sqlite"}} {
		runCLI(t, "", args...).want(t, exitOK, "Usage: gatehouse copy-from-sqlite [flags]", "")
		if r := runCLI(t, "", args...); !strings.Contains(r.stdout, "-from file") || !strings.Contains(r.stdout, "must be\nPostgreSQL") {
			t.Errorf("usage:\n%s", r.stdout)
		}
	}
	if r := runCLI(t, "", "help"); !strings.Contains(r.stdout, "copy-from-sqlite") {
		t.Errorf("the overview does not list copy-from-sqlite:\n%s", r.stdout)
	}
}
