package main

// Tests of backup, restore and healthcheck: real SQLite files, the real
// server (serve, with its lock) on loopback, the commands through run().

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/migrations"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/testkit"
	"github.com/pressly/goose/v3"
)

const backupPassword = "correct horse battery staple"

// backupInstall is an SQLite installation for a test: its config file and
// database path, with one account.
func backupInstall(t *testing.T, emails ...string) (cfgPath, db string) {
	t.Helper()
	testkit.SkipOnPostgres(t, "backup and restore copy an SQLite file")
	hermetic(t)
	dir := t.TempDir()
	cfgPath = writeConfig(t, dir, "")
	for _, e := range emails {
		runCLI(t, backupPassword+"\n", "user", "create", "--email", e, "--password-stdin", "--config", cfgPath).want(t, exitOK, "created "+e, "")
	}
	return cfgPath, filepath.Join(dir, "g.db")
}

// openCheck opens the SQLite file at rest at path as backup and restore
// check it, and fails the test unless it passes the integrity check.
func openCheck(t *testing.T, path string) *models.DB {
	t.Helper()
	db, err := models.OpenSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.IntegrityCheck(context.Background()); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return db
}

// emails lists the accounts in the database at path, which may be in use.
func emails(t *testing.T, path string) []string {
	t.Helper()
	db, err := models.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.IntegrityCheck(context.Background()); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	users, err := db.ListUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, u := range users {
		out = append(out, u.Email)
	}
	return out
}

// leftovers lists the temporary files backup and restore write beside
// their target (".NAME.*.tmp"); a finished command leaves none.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".*.tmp"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// signIn posts the login form without failing the test (it runs on
// goroutines) and returns the session token.
func signIn(base string) (string, error) {
	resp, err := noRedirect.PostForm(base+"/auth/login", url.Values{"email": {"load@example.com"}, "password": {backupPassword}})
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "gatehouse_session" && c.Value != "" && resp.StatusCode == http.StatusSeeOther {
			return c.Value, nil
		}
	}
	return "", fmt.Errorf("sign-in answered %s", resp.Status)
}

// waitHealthy waits until the server at base answers /healthz, so it
// holds its lock and serves.
func waitHealthy(t *testing.T, base string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := noRedirect.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/healthz never answered 200: %v", base, err)
		}
	}
}

// TestBackupWhileServing backs up the database of a running server while
// four clients sign in over and over: each copy passes SQLite's integrity
// check and holds every session committed before its backup began, and no
// sign-in fails because of it.
func TestBackupWhileServing(t *testing.T) {
	cfgPath, db := backupInstall(t, "load@example.com")
	// Some bulk, so that copying takes long enough for sign-ins to commit
	// while it runs.
	pool, err := models.OpenSQL(db)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin()
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 1000)
	for i := range 20000 {
		if _, err := tx.Exec(`INSERT INTO events (created_at, kind, email, detail) VALUES ($1, 'test.bulk', $2, $3)`, time.Now().UTC(), fmt.Sprint(i), pad); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	pool.Close()

	cfg, err := config.Load(config.Source{Path: cfgPath})
	if err != nil {
		t.Fatal(err)
	}
	base, cancel, done := startServe(t, cfg, io.Discard, io.Discard)
	defer func() { cancel(); <-done }()

	var (
		mu     sync.Mutex
		tokens []string
		failed []error
		wg     sync.WaitGroup
	)
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := signIn(base)
				mu.Lock()
				if err != nil {
					failed = append(failed, err)
				} else {
					tokens = append(tokens, tok)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(tokens) }
	for deadline := time.Now().Add(30 * time.Second); count() < 20; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the clients signed in %d times in 30s", count())
		}
	}

	during := 0
	for round := range 3 {
		mu.Lock()
		before := append([]string(nil), tokens...)
		mu.Unlock()
		to := filepath.Join(t.TempDir(), fmt.Sprintf("backup-%d.db", round))
		runCLI(t, "", "backup", "--to", to, "--config", cfgPath).want(t, exitOK, "wrote "+to, "")
		during += count() - len(before)
		copyDB := openCheck(t, to)
		for _, tok := range before {
			if _, err := copyDB.SessionByHash(context.Background(), sessionstore.Hash(tok)); err != nil {
				t.Fatalf("round %d: a session committed before the backup is not in it: %v", round, err)
			}
		}
		if _, err := os.Stat(to + "-wal"); err == nil {
			t.Errorf("round %d: the backup has a -wal beside it: it is not one file", round)
		}
		t.Logf("round %d: %d sessions before the backup, %d committed while it ran", round, len(before), count()-len(before))
	}
	close(stop)
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("sign-ins failed while backups ran: %v", failed)
	}
	if during == 0 {
		t.Error("no sign-in committed while a backup ran: the test did not test concurrency")
	}
}

// TestBackupRefusals: an existing file is replaced only with --force, a
// failed backup leaves the previous one as it was, and what backup cannot
// do is said before anything is written.
func TestBackupRefusals(t *testing.T) {
	cfgPath, db := backupInstall(t, "ann@example.com")
	dir := t.TempDir()
	to := filepath.Join(dir, "b.db")
	r := runCLI(t, "", "backup", "--to", to, "--config", cfgPath)
	r.want(t, exitOK, "wrote "+to, "")
	for _, want := range []string{"migration version ", "1 users", "secrets.key", "once, apart from these backups"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("backup output lacks %q:\n%s", want, r.stdout)
		}
	}
	first := must(os.ReadFile(to))

	pgConfig := filepath.Join(dir, "pg.yaml")
	if err := os.WriteFile(pgConfig, []byte("database: postgres://gh:secret@db.internal/gatehouse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken")
	if err := os.MkdirAll(broken, 0o700); err != nil {
		t.Fatal(err)
	}
	brokenConfig := filepath.Join(broken, "config.yaml")
	if err := os.WriteFile(brokenConfig, fmt.Appendf(nil, "database: %q\n", filepath.Join(broken, "g.db")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(broken, "g.db"), bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name         string
		args         []string
		code         int
		stdout, errs string
	}{
		{"exists", []string{"--to", to, "--config", cfgPath}, exitFailure, "", to + " exists: add --force"},
		{"no --to", []string{"--config", cfgPath}, exitUsage, "", "--to is required"},
		{"onto the database", []string{"--to", db, "--force", "--config", cfgPath}, exitUsage, "", "is the database itself"},
		{"postgres", []string{"--to", to, "--force", "--config", pgConfig}, exitUsage, "", "use pg_dump: pg_dump --format=custom"},
		{"unknown flag", []string{"--to", to, "--force", "--database-typo"}, exitUsage, "", "flag provided but not defined"},
		{"not a database, --force", []string{"--to", to, "--force", "--config", brokenConfig}, exitFailure, "", "was not written"},
		{"missing config", []string{"--to", filepath.Join(dir, "new.db"), "--config", filepath.Join(dir, "none.yaml")}, exitUsage, "", "invalid configuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, "", append([]string{"backup"}, tt.args...)...)
			r.want(t, tt.code, tt.stdout, tt.errs)
			if strings.Contains(r.stderr, "secret@") {
				t.Errorf("the database password was printed: %s", r.stderr)
			}
			if !bytes.Equal(must(os.ReadFile(to)), first) {
				t.Fatal("a refused or failed backup changed the previous one")
			}
			if l := leftovers(t, dir); len(l) > 0 {
				t.Fatalf("temporary files left: %v", l)
			}
		})
	}

	// With --force a good backup replaces the file, with the data of now.
	runCLI(t, backupPassword+"\n", "user", "create", "--email", "bob@example.com", "--password-stdin", "--config", cfgPath).want(t, exitOK, "created", "")
	runCLI(t, "", "backup", "--to", to, "--force", "--config", cfgPath).want(t, exitOK, "2 users", "")
	if got := emails(t, to); strings.Join(got, ",") != "ann@example.com,bob@example.com" {
		t.Fatalf("replaced backup holds %v", got)
	}
	if fi := must(os.Stat(to)); fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600 (it holds password hashes)", fi.Mode().Perm())
	}
	// A database that was never created is not backed up as an empty one.
	missing := filepath.Join(dir, "missing.yaml")
	if err := os.WriteFile(missing, fmt.Appendf(nil, "database: %q\n", filepath.Join(dir, "nothing", "g.db")), 0o600); err != nil {
		t.Fatal(err)
	}
	runCLI(t, "", "backup", "--to", filepath.Join(dir, "x.db"), "--config", missing).want(t, exitFailure, "", "no SQLite database at")
	if _, err := os.Stat(filepath.Join(dir, "nothing", "g.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("backup created the missing database: %v", err)
	}
}

// TestRestoreRoundTrip: back up, change the data, restore: the data is
// back, the replaced database is kept with its WAL, and stale -wal/-shm
// files are gone.
func TestRestoreRoundTrip(t *testing.T) {
	cfgPath, db := backupInstall(t, "ann@example.com")
	backup := filepath.Join(t.TempDir(), "b.db")
	runCLI(t, "", "backup", "--to", backup, "--config", cfgPath).want(t, exitOK, "wrote", "")
	runCLI(t, backupPassword+"\n", "user", "create", "--email", "bob@example.com", "--password-stdin", "--config", cfgPath).want(t, exitOK, "created", "")
	// The files a server killed mid-write leaves: bob's new name is in the
	// WAL only, and the -shm is stale.
	pool := must(models.OpenSQL(db))
	pool.SetMaxOpenConns(1)
	if _, err := pool.Exec("PRAGMA wal_autocheckpoint = 0"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(`UPDATE users SET name = 'Bob in the WAL' WHERE email = 'bob@example.com'`); err != nil {
		t.Fatal(err)
	}
	mainBefore, walBefore := must(os.ReadFile(db)), must(os.ReadFile(db+"-wal"))
	pool.Close() // checkpoints and removes the WAL: put both back as a crash leaves them
	for name, b := range map[string][]byte{db: mainBefore, db + "-wal": walBefore, db + "-shm": []byte("stale")} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	runCLI(t, "", "restore", "--from", backup, "--config", cfgPath).want(t, exitFailure, "", db+" exists: add --force")
	if !bytes.Equal(must(os.ReadFile(db)), mainBefore) || !bytes.Equal(must(os.ReadFile(db+"-wal")), walBefore) {
		t.Fatal("a refused restore changed the database")
	}
	r := runCLI(t, "", "restore", "--from", backup, "--force", "--config", cfgPath)
	r.want(t, exitOK, "restored "+backup+" to "+db, "")
	for _, want := range []string{"1 users", "the previous database is kept as " + db + ".before-restore-", "must be the key file in use when the backup was made"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("restore output lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, stale := range []string{db + "-wal", db + "-shm"} {
		if _, err := os.Stat(stale); err == nil {
			t.Errorf("%s is still there after the restore", stale)
		}
	}
	if got := emails(t, db); strings.Join(got, ",") != "ann@example.com" {
		t.Fatalf("restored database holds %v, want the backup's ann only", got)
	}
	kept, err := filepath.Glob(db + ".before-restore-*")
	if err != nil || len(kept) != 2 { // the file and its WAL
		t.Fatalf("kept files: %v %v", kept, err)
	}
	keptDB := kept[0]
	if strings.HasSuffix(keptDB, "-wal") {
		keptDB = kept[1]
	}
	// The kept copy, opened read-write as SQLite would, recovers its WAL.
	kdb := must(models.OpenSQL(keptDB))
	defer kdb.Close()
	var name string
	if err := kdb.QueryRow(`SELECT name FROM users WHERE email = 'bob@example.com'`).Scan(&name); err != nil || name != "Bob in the WAL" {
		t.Fatalf("the kept database lost what its WAL held: %q %v", name, err)
	}
	if l := leftovers(t, filepath.Dir(db)); len(l) > 0 {
		t.Fatalf("temporary files left: %v", l)
	}
	// The restored installation serves: its account signs in.
	cfg := must(config.Load(config.Source{Path: cfgPath}))
	base, cancel, done := startServe(t, cfg, io.Discard, io.Discard)
	defer func() { cancel(); <-done }()
	if c, status := postLogin(t, base, "ann@example.com", backupPassword); c == nil {
		t.Fatalf("sign-in after restore: %d", status)
	}

	// Into a new installation (no database yet), no --force is needed.
	fresh := filepath.Join(t.TempDir(), "new")
	freshConfig := filepath.Join(fresh, "config.yaml")
	if err := os.MkdirAll(fresh, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(freshConfig, fmt.Appendf(nil, "database: %q\n", filepath.Join(fresh, "data", "g.db")), 0o600); err != nil {
		t.Fatal(err)
	}
	runCLI(t, "", "restore", "--from", backup, "--config", freshConfig).want(t, exitOK, "restored", "")
	if got := emails(t, filepath.Join(fresh, "data", "g.db")); strings.Join(got, ",") != "ann@example.com" {
		t.Fatalf("fresh restore holds %v", got)
	}
}

// TestRestoreMigratesOlderBackup: a backup made before the latest
// migration is restored and brought to the current schema.
func TestRestoreMigratesOlderBackup(t *testing.T) {
	cfgPath, db := backupInstall(t)
	old := filepath.Join(t.TempDir(), "old.db")
	pool := must(sql.Open("sqlite3", "file:"+old+"?_foreign_keys=on"))
	p := must(goose.NewProvider(goose.DialectSQLite3, pool, must(fs.Sub(migrations.SQLite, "sqlite"))))
	sources := p.ListSources()
	latest := sources[len(sources)-1].Version
	if _, err := p.UpTo(context.Background(), sources[len(sources)-2].Version); err != nil {
		t.Fatal(err)
	}
	pool.Close()

	runCLI(t, "", "restore", "--from", old, "--force", "--config", cfgPath).want(t, exitOK, "applied 1 migration(s): now at version "+fmt.Sprint(latest), "")
	current, _, err := openCheck(t, db).SchemaVersion(context.Background())
	if err != nil || current != latest {
		t.Fatalf("restored database at version %d (%v), want %d", current, err, latest)
	}
}

// TestRestoreRefusals: what restore refuses, each leaving the database
// as it was: a running server, a backup from a newer gatehouse, a file
// that is no database or no gatehouse database, a live database's file.
func TestRestoreRefusals(t *testing.T) {
	cfgPath, db := backupInstall(t, "ann@example.com")
	dir := t.TempDir()
	backup := filepath.Join(dir, "b.db")
	runCLI(t, "", "backup", "--to", backup, "--config", cfgPath).want(t, exitOK, "wrote", "")

	newer := filepath.Join(dir, "newer.db")
	if err := os.WriteFile(newer, must(os.ReadFile(backup)), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := must(models.OpenSQL(newer))
	if _, err := pool.Exec(`INSERT INTO goose_db_version (version_id, is_applied) SELECT MAX(version_id) + 1, 1 FROM goose_db_version`); err != nil {
		t.Fatal(err)
	}
	pool.Close()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.db")
	ep := must(models.OpenSQL(empty))
	if _, err := ep.Exec(`CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	ep.Close()
	live := filepath.Join(dir, "live.db")
	if err := os.WriteFile(live, must(os.ReadFile(backup)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(live+"-wal", []byte("frames"), 0o600); err != nil {
		t.Fatal(err)
	}
	pgConfig := filepath.Join(dir, "pg.yaml")
	if err := os.WriteFile(pgConfig, []byte("database: postgres://gh:secret@db.internal/gatehouse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := must(config.Load(config.Source{Path: cfgPath}))

	tests := []struct {
		name string
		from string
		// serving runs serve on the database during the restore.
		serving bool
		config  string
		code    int
		errs    string
	}{
		{"while serving", backup, true, cfgPath, exitFailure, "a gatehouse server is running on this database (" + db + ".lock is locked): stop gatehouse first"},
		{"newer", newer, false, cfgPath, exitFailure, "made by a newer gatehouse"},
		{"not a database", garbage, false, cfgPath, exitFailure, "failed its check"},
		{"not gatehouse's", empty, false, cfgPath, exitFailure, "is not a gatehouse database"},
		{"a live file", live, false, cfgPath, exitFailure, live + "-wal exists"},
		{"missing", filepath.Join(dir, "nothing.db"), false, cfgPath, exitFailure, "no backup at"},
		{"itself", db, false, cfgPath, exitUsage, "is the configured database itself"},
		{"no --from", "", false, cfgPath, exitUsage, "--from is required"},
		{"postgres", backup, false, pgConfig, exitUsage, "use pg_restore, gatehouse stopped: pg_restore --clean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.serving {
				base, cancel, done := startServe(t, cfg, io.Discard, io.Discard)
				defer func() { cancel(); <-done }()
				waitHealthy(t, base)
			}
			args := []string{"restore", "--force", "--config", tt.config}
			if tt.from != "" {
				args = append(args, "--from", tt.from)
			}
			r := runCLI(t, "", args...)
			r.want(t, tt.code, "", tt.errs)
			if strings.Contains(r.stderr, "secret@") {
				t.Errorf("the database password was printed: %s", r.stderr)
			}
			if got := emails(t, db); strings.Join(got, ",") != "ann@example.com" {
				t.Fatalf("a refused restore changed the database: %v", got)
			}
			if kept, _ := filepath.Glob(db + ".before-restore-*"); len(kept) > 0 {
				t.Fatalf("a refused restore moved the database: %v", kept)
			}
			if l := leftovers(t, filepath.Dir(db)); len(l) > 0 {
				t.Fatalf("temporary files left: %v", l)
			}
		})
	}
}

// TestServeRefusesDuringRestore: serve does not start on a database a
// restore holds, and starts once it is released.
func TestServeRefusesDuringRestore(t *testing.T) {
	cfgPath, db := backupInstall(t, "ann@example.com")
	cfg := must(config.Load(config.Source{Path: cfgPath}))
	unlock, err := models.LockStopped(db)
	if err != nil {
		t.Fatal(err)
	}
	base, cancel, done := startServe(t, cfg, io.Discard, io.Discard)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "the database is being restored") {
			t.Fatalf("serve during a restore: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve ran while a restore held the database")
	}
	cancel()
	if _, err := noRedirect.Get(base + "/healthz"); err == nil {
		t.Error("listener left open after serve refused")
	}
	unlock()
	base, cancel, done = startServe(t, cfg, io.Discard, io.Discard)
	defer func() { cancel(); <-done }()
	waitHealthy(t, base)
	runCLI(t, "", "healthcheck", "--url", base+"/healthz").want(t, exitOK, "healthy: "+base+"/healthz answered 200 OK", "")
	// Two servers on one SQLite file share the lock (WAL allows them).
	base2, cancel2, done2 := startServe(t, cfg, io.Discard, io.Discard)
	defer func() { cancel2(); <-done2 }()
	waitHealthy(t, base2)
	if _, err := models.LockStopped(db); !errors.Is(err, models.ErrServing) {
		t.Fatalf("LockStopped while serving: %v", err)
	}
}

// TestHealthcheck: 200 is healthy (exit 0); any other status, a closed
// port or a server slower than 3 seconds is not (exit 1).
func TestHealthcheck(t *testing.T) {
	hermetic(t)
	status := func(code int) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/healthz" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(code)
		}))
		t.Cleanup(s.Close)
		return s.URL
	}
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	okURL := status(http.StatusOK)
	// The default URL comes from listen, an unspecified host as loopback.
	okConfig := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(okConfig, fmt.Appendf(nil, "listen: \"0.0.0.0:%s\"\n", must(url.Parse(okURL)).Port()), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name         string
		args         []string
		code         int
		stdout, errs string
		maxTime      time.Duration
	}{
		{"200", []string{"--url", okURL + "/healthz"}, exitOK, "answered 200 OK", "", 3 * time.Second},
		{"from listen", []string{"--config", okConfig}, exitOK, "healthy: http://127.0.0.1:", "", 3 * time.Second},
		{"503", []string{"--url", status(http.StatusServiceUnavailable) + "/healthz"}, exitFailure, "", "answered 503 Service Unavailable", 3 * time.Second},
		{"404", []string{"--url", okURL + "/nothing"}, exitFailure, "", "answered 404", 3 * time.Second},
		{"redirect", []string{"--url", status(http.StatusFound) + "/healthz"}, exitFailure, "", "answered 302", 3 * time.Second},
		{"closed port", []string{"--url", closed + "/healthz"}, exitFailure, "", "connection refused", 3 * time.Second},
		{"slow", []string{"--url", slow.URL + "/healthz"}, exitFailure, "", "context deadline exceeded", 5 * time.Second},
		{"not a URL", []string{"--url", "localhost:8080/healthz"}, exitUsage, "", "not an http or https URL", time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			runCLI(t, "", append([]string{"healthcheck"}, tt.args...)...).want(t, tt.code, tt.stdout, tt.errs)
			if d := time.Since(start); d > tt.maxTime {
				t.Errorf("took %v, want at most %v", d, tt.maxTime)
			}
		})
	}
}

// TestHealthURL: the default healthcheck URL of each listen address.
func TestHealthURL(t *testing.T) {
	for listen, want := range map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080/healthz",
		"0.0.0.0:8080":   "http://127.0.0.1:8080/healthz",
		":8080":          "http://127.0.0.1:8080/healthz",
		"[::]:8080":      "http://127.0.0.1:8080/healthz",
		"[::1]:9000":     "http://[::1]:9000/healthz",
		"localhost:80":   "http://localhost:80/healthz",
	} {
		if got, err := healthURL(listen); err != nil || got != want {
			t.Errorf("healthURL(%q) = %q, %v; want %q", listen, got, err, want)
		}
	}
	if _, err := healthURL("8080"); err == nil {
		t.Error("healthURL accepted a listen address without a port")
	}
}
