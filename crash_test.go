package main

// Fault-tolerance tests:
//
//   - TestCrashKillMidLoad: the real binary is SIGKILLed while serving
//     sign-ins and while `gatehouse user create` processes write beside it;
//     after a restart on the same file the database is intact and every
//     acknowledged write (account created, session started) is still there.
//   - TestDiskFullOrReadOnly: writes fail the way SQLite reports a full disk
//     (SQLITE_FULL) or a read-only database (SQLITE_READONLY); sign-in gets
//     the friendly 503 page and a log line, reads keep working, and sign-in
//     works again as soon as the database is writable, without a restart.
//   - TestDiskFullTmpfs: the same with a really full file system (a small
//     tmpfs the test mounts), where mounting is permitted (root).

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/testkit"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sessionstore"
	"golang.org/x/crypto/bcrypt"
)

const crashPassword = "correct horse battery staple"

// buildGatehouse builds the real binary (without -race: it is the system
// under test, not the test) into a temporary directory.
func buildGatehouse(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go") // go test puts GOROOT/bin on PATH
	if err != nil {
		t.Fatalf("no go tool on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "gatehouse")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built %s in %v", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

// crashServer is one `gatehouse serve` process.
type crashServer struct {
	cmd    *exec.Cmd
	base   string
	stderr *testkit.LogBuffer
	exited chan struct{} // closed when Wait returned
	state  *os.ProcessState
}

var listeningRE = regexp.MustCompile(`msg="gatehouse listening" addr=(\S+)`)

// startCrashServer runs `gatehouse serve --config cfgPath` and waits until it
// logs its address and answers /healthz.
func startCrashServer(t *testing.T, bin, cfgPath string) *crashServer {
	t.Helper()
	s := &crashServer{cmd: exec.Command(bin, "serve", "--config", cfgPath), stderr: &testkit.LogBuffer{}, exited: make(chan struct{})}
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, s.stderr
	s.cmd.Env = append(os.Environ(), "GATEHOUSE_CONFIG=", "GATEHOUSE_DATABASE=", "GATEHOUSE_LISTEN=", "GATEHOUSE_BASE_URL=", "SSOJET_ISSUER_URL=")
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = s.cmd.Wait()
		s.state = s.cmd.ProcessState
		close(s.exited)
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.exited
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m := listeningRE.FindStringSubmatch(s.stderr.String()); m != nil {
			s.base = "http://" + m[1]
			break
		}
		select {
		case <-s.exited:
			t.Fatalf("gatehouse serve exited early (%v):\n%s", s.state, s.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatehouse serve never logged its address:\n%s", s.stderr.String())
		}
	}
	resp, err := noRedirect.Get(s.base + "/healthz")
	if err != nil {
		t.Fatalf("gatehouse serve: %v\n%s", err, s.stderr.String())
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("gatehouse serve /healthz: %d", resp.StatusCode)
	}
	return s
}

// userCreate runs `gatehouse user create` for email; it reports whether the
// command succeeded, and its output.
func userCreate(ctx context.Context, bin, cfgPath, email string) (bool, string) {
	cmd := exec.CommandContext(ctx, bin, "user", "create", "--email", email, "--password-stdin", "--config", cfgPath)
	cmd.Stdin = strings.NewReader(crashPassword + "\n")
	cmd.Env = append(os.Environ(), "GATEHOUSE_CONFIG=", "GATEHOUSE_DATABASE=")
	out, err := cmd.CombinedOutput()
	return err == nil && strings.Contains(string(out), "created "+email), fmt.Sprintf("%v: %s", err, out)
}

// crashLedger is what the server and the CLI acknowledged: what must survive.
type crashLedger struct {
	mu       sync.Mutex
	sessions map[string]string // session token -> account it signed in
	accounts []string          // emails whose `user create` exited 0
	problems []string
}

func (l *crashLedger) addSession(token, email string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sessions[token] = email
}

func (l *crashLedger) addAccount(email string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.accounts = append(l.accounts, email)
}

func (l *crashLedger) problem(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

func (l *crashLedger) counts() (sessions, accounts int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sessions), len(l.accounts)
}

// pick returns the i-th acknowledged account (mod their number).
func (l *crashLedger) pick(i int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.accounts[i%len(l.accounts)]
}

// anySession returns some acknowledged session token, or "".
func (l *crashLedger) anySession() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for tok := range l.sessions {
		return tok
	}
	return ""
}

// crashLoad drives srv with sign-ins, dashboard views and account creation
// from several goroutines, and SIGKILLs it (and the `user create` processes
// still running) once enough was acknowledged, while requests are in flight.
func crashLoad(t *testing.T, round int, bin, cfgPath string, srv *crashServer, ledger *crashLedger) {
	t.Helper()
	const loginWorkers, createWorkers = 6, 2
	transport := &http.Transport{MaxIdleConnsPerHost: loginWorkers}
	defer transport.CloseIdleConnections()
	client := &http.Client{
		Transport: transport, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	killCtx, kill := context.WithCancel(context.Background())
	defer kill()
	var killed atomic.Bool
	var logins, views, creates, inFlightErrors atomic.Int64

	var wg sync.WaitGroup
	for w := range loginWorkers {
		wg.Go(func() {
			for n := 0; !killed.Load(); n++ {
				i := w + n*loginWorkers
				if n%3 == 2 { // a page view with an acknowledged session
					if tok := ledger.anySession(); tok != "" {
						req, _ := http.NewRequest(http.MethodGet, srv.base+"/dashboard", nil)
						req.AddCookie(&http.Cookie{Name: sessionCookie, Value: tok})
						resp, err := client.Do(req)
						if err != nil {
							if !killed.Load() {
								ledger.problem("round %d: dashboard: %v", round, err)
							}
							inFlightErrors.Add(1)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							ledger.problem("round %d: dashboard with an acknowledged session: %d", round, resp.StatusCode)
						}
						views.Add(1)
						continue
					}
				}
				email := ledger.pick(i)
				resp, err := client.PostForm(srv.base+"/auth/login", url.Values{"email": {email}, "password": {crashPassword}})
				if err != nil {
					if !killed.Load() {
						ledger.problem("round %d: sign-in: %v", round, err)
					}
					inFlightErrors.Add(1)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				var tok string
				for _, c := range resp.Cookies() {
					if c.Name == sessionCookie && c.Value != "" && c.MaxAge >= 0 {
						tok = c.Value
					}
				}
				if resp.StatusCode != http.StatusSeeOther || tok == "" {
					ledger.problem("round %d: sign-in as %s: %d, cookie %q", round, email, resp.StatusCode, tok)
					continue
				}
				ledger.addSession(tok, email) // answered 303 with a cookie: committed
				logins.Add(1)
			}
		})
	}
	var seq atomic.Int64
	for range createWorkers {
		wg.Go(func() {
			for !killed.Load() {
				email := fmt.Sprintf("round%d-%03d@example.com", round, seq.Add(1))
				ok, out := userCreate(killCtx, bin, cfgPath, email)
				switch {
				case ok:
					ledger.addAccount(email)
					creates.Add(1)
				case !killed.Load():
					ledger.problem("round %d: user create %s failed while the server ran: %s", round, email, out)
				}
			}
		})
	}

	// Kill once enough was acknowledged this round (bounded), mid-stream.
	start := time.Now()
	for deadline := start.Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if logins.Load() >= 15 && creates.Load() >= 4 && views.Load() >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("round %d: load too slow: %d sign-ins, %d accounts, %d views in 60s", round, logins.Load(), creates.Load(), views.Load())
			break
		}
	}
	killed.Store(true)
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	kill() // and the `user create` processes in flight
	<-srv.exited
	wg.Wait()
	if ws, ok := srv.state.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("round %d: server did not die by SIGKILL: %v", round, srv.state)
	}
	t.Logf("round %d: killed after %v: %d sign-ins, %d page views, %d accounts created acknowledged; %d requests cut off",
		round, time.Since(start).Round(time.Millisecond), logins.Load(), views.Load(), creates.Load(), inFlightErrors.Load())
	if logs := srv.stderr.String(); strings.Contains(logs, "level=ERROR") || containsAny(logs, dbTroubleWords) {
		t.Errorf("round %d: server logged errors before the kill:\n%s", round, grepLines(logs, "level=ERROR", 20))
	}
}

func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// checkIntegrity opens the database as the next process would (recovering
// the WAL a crash left) and runs SQLite's own consistency checks.
func checkIntegrity(t *testing.T, path string) {
	t.Helper()
	if st, err := os.Stat(path + "-wal"); err == nil {
		t.Logf("the crash left a %d-byte WAL to recover", st.Size())
	}
	db, err := models.OpenSQL(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if res := pragmaRows(t, db, "integrity_check"); len(res) != 1 || res[0] != "ok" {
		t.Fatalf("integrity_check: %q", res)
	}
	if fk := pragmaRows(t, db, "foreign_key_check"); len(fk) > 0 {
		t.Fatalf("foreign_key_check: %v", fk)
	}
}

// pragmaRows runs PRAGMA name and prints each row it returns, its columns
// separated by spaces.
func pragmaRows(t *testing.T, db *sql.DB, name string) []string {
	t.Helper()
	rows, err := db.Query("PRAGMA " + name)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for i, v := range vals {
			if i > 0 {
				b.WriteByte(' ')
			}
			if s, ok := v.([]byte); ok {
				v = string(s)
			}
			fmt.Fprint(&b, v)
		}
		out = append(out, b.String())
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkSurvivors asserts every acknowledged account exists and every
// acknowledged session still signs its browser in, on the restarted server.
func checkSurvivors(t *testing.T, round int, dbPath string, srv *crashServer, ledger *crashLedger) {
	t.Helper()
	ledger.mu.Lock()
	defer ledger.mu.Unlock()
	db, err := models.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for _, email := range ledger.accounts {
		if _, err := db.UserByEmail(ctx, email); err != nil {
			t.Errorf("after round %d: account %s (created, exit 0) lost: %v", round, email, err)
		}
	}
	lost := 0
	for tok, email := range ledger.sessions {
		if got := dashboardStatus(t, srv.base, &http.Cookie{Name: sessionCookie, Value: tok}); got != http.StatusOK {
			lost++
			_, err := db.SessionByHash(ctx, sessionstore.Hash(tok))
			t.Errorf("after round %d: acknowledged session of %s: dashboard %d (row: %v)", round, email, got, err)
		}
	}
	// Control: a well-formed token the server never issued does not sign in.
	if got := dashboardStatus(t, srv.base, &http.Cookie{Name: sessionCookie, Value: strings.Repeat("A", 43)}); got != http.StatusSeeOther {
		t.Errorf("after round %d: dashboard with an unknown token: %d, want 303", round, got)
	}
	// An account made by a killed round's CLI signs in: its hash was whole.
	if c, status := postLogin(t, srv.base, ledger.accounts[len(ledger.accounts)-1], crashPassword); c == nil {
		t.Errorf("after round %d: newest acknowledged account cannot sign in: %d", round, status)
	}
	t.Logf("after round %d: %d accounts and %d sessions verified (%d lost)", round, len(ledger.accounts), len(ledger.sessions), lost)
}

func TestCrashKillMidLoad(t *testing.T) {
	testkit.SkipOnPostgres(t, "SQLite's file after kill -9")
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	hermetic(t)
	bin := buildGatehouse(t)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "listen: 127.0.0.1:0\n")
	// The address is logged at info; writeConfig chose warn.
	if err := os.WriteFile(cfgPath, bytes.Replace(must(os.ReadFile(cfgPath)), []byte("level: warn"), []byte("level: info"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "g.db")
	ledger := &crashLedger{sessions: map[string]string{}}
	for i := range 3 {
		email := fmt.Sprintf("seed-%d@example.com", i)
		if ok, out := userCreate(context.Background(), bin, cfgPath, email); !ok {
			t.Fatalf("seed %s: %s", email, out)
		}
		ledger.addAccount(email)
	}

	start := time.Now()
	srv := startCrashServer(t, bin, cfgPath)
	const rounds = 2
	for round := 1; round <= rounds; round++ {
		crashLoad(t, round, bin, cfgPath, srv, ledger)
		for _, p := range ledger.problems {
			t.Errorf("%s", p)
		}
		if t.Failed() {
			t.FailNow()
		}
		checkIntegrity(t, dbPath)
		srv = startCrashServer(t, bin, cfgPath)
		checkSurvivors(t, round, dbPath, srv, ledger)
	}

	// The last restart still shuts down cleanly.
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop on SIGTERM")
	}
	if !srv.state.Success() {
		t.Errorf("server exited %v after SIGTERM", srv.state)
	}
	if logs := srv.stderr.String(); strings.Contains(logs, "level=ERROR") || containsAny(logs, dbTroubleWords) {
		t.Errorf("restarted server logged errors:\n%s", grepLines(logs, "level=ERROR", 20))
	}
	checkIntegrity(t, dbPath)
	sessions, accounts := ledger.counts()
	t.Logf("%d kill/restart rounds in %v: %d acknowledged sessions and %d accounts all survived", rounds, time.Since(start).Round(time.Millisecond), sessions, accounts)
}

// diskApp is the app wired by newApp (as serve wires it) over a database
// file, served on a loopback port, with one password account.
type diskApp struct {
	a    *app.App
	path string // the database file
	base string
	logs *testkit.LogBuffer
}

const diskEmail = "disk@example.com"

func startDiskApp(t *testing.T, dbPath string) *diskApp {
	t.Helper()
	cfg := config.Default()
	cfg.Database = dbPath
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	cfg.Password.BcryptCost = bcrypt.MinCost // as the other HTTP tests: the database is under test, not bcrypt
	logs := &testkit.LogBuffer{}
	a, err := app.New(context.Background(), cfg, app.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		srv.Close()
		a.DB.Close()
	})
	hasher, err := password.New(bcrypt.MinCost, cfg.Password.MinLength)
	if err != nil {
		t.Fatal(err)
	}
	pw := crashPassword
	svc := &accounts.Service{DB: a.DB, Hasher: hasher, Logger: slog.New(slog.DiscardHandler)}
	if _, err := svc.CreateUser(context.Background(), accounts.NewUser{Email: diskEmail, Password: &pw}); err != nil {
		t.Fatal(err)
	}
	return &diskApp{a: a, path: dbPath, base: srv.URL, logs: logs}
}

// pragmaOnEveryConn sets a pragma on every connection of the app's pool
// (every pooled one, plus new ones up to the limit) and checks it took.
// Pragmas such as query_only and max_page_count belong to a connection, not
// the file.
func pragmaOnEveryConn(t *testing.T, db *models.DB, name string, value int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.SetConnPragma(ctx, name, value); err != nil {
		t.Fatal(err)
	}
}

// pragmaOnConn sets a pragma on one connection and checks it took.
func pragmaOnConn(t *testing.T, c *sql.Conn, name string, value int64) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA %s = %d", name, value)); err != nil {
		t.Fatal(err)
	}
	var got int64
	if err := c.QueryRowContext(ctx, "PRAGMA "+name).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != value {
		t.Fatalf("PRAGMA %s is %d after setting %d", name, got, value)
	}
}

// diskLogin posts the login form and returns status, body and session cookie.
func diskLogin(t *testing.T, base string) (int, string, *http.Cookie) {
	t.Helper()
	resp, err := noRedirect.PostForm(base+"/auth/login", url.Values{"email": {diskEmail}, "password": {crashPassword}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie && c.Value != "" && c.MaxAge >= 0 {
			return resp.StatusCode, string(body), c
		}
	}
	return resp.StatusCode, string(body), nil
}

// wantTryAgain checks a response is the friendly "Please try again" page
// with 503, and that the log says why (cause, e.g. "disk is full").
func wantTryAgain(t *testing.T, what string, status int, body string, d *diskApp, cause string) {
	t.Helper()
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `<h1 id="error-title">Please try again</h1>`) {
		t.Errorf("%s: %d, want 503 with the \"Please try again\" page:\n%.500s", what, status, body)
	}
	if logs := d.logs.String(); !regexp.MustCompile(`level=ERROR .*` + regexp.QuoteMeta(cause)).MatchString(logs) {
		t.Errorf("%s: no ERROR log line mentioning %q:\n%s", what, cause, logs)
	}
}

// wantNoCrash checks the log for panics and 500s.
func wantNoCrash(t *testing.T, d *diskApp) {
	t.Helper()
	logs := d.logs.String()
	for _, w := range []string{"panic", "status=500"} {
		if strings.Contains(logs, w) {
			t.Errorf("log contains %q:\n%s", w, grepLines(logs, w, 20))
		}
	}
}

// diskScenario is the part of the full-disk and read-only scenarios that is the
// same: sign-in fails with the friendly page, reads still work, and once
// writable again sign-in works without a restart.
func diskScenario(t *testing.T, d *diskApp, cause string, breakDB, repair func()) {
	t.Helper()
	status, _, before := diskLogin(t, d.base)
	if status != http.StatusSeeOther || before == nil {
		t.Fatalf("sign-in before the fault: %d", status)
	}

	breakDB()
	// A disk can be full and yet have room in pages already allocated, so a
	// sign-in may still fit; a bounded number of tries must hit the fault.
	var failed bool
	for i := 0; i < 30 && !failed; i++ {
		status, body, c := diskLogin(t, d.base)
		switch {
		case status == http.StatusSeeOther && c != nil:
			t.Logf("sign-in %d still fit in allocated space", i+1)
		default:
			wantTryAgain(t, "sign-in while "+cause, status, body, d, cause)
			failed = true
		}
	}
	if !failed {
		t.Fatalf("30 sign-ins succeeded while %s", cause)
	}
	// A wrong password is still refused normally (its failure count cannot
	// be stored: the throttle lets checks through on store errors, by design).
	resp, err := noRedirect.PostForm(d.base+"/auth/login", url.Values{"email": {diskEmail}, "password": {"not the password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password while %s: %d, want 401", cause, resp.StatusCode)
	}
	// Reads keep working: the signed-in page and the health check.
	if got := dashboardStatus(t, d.base, before); got != http.StatusOK {
		t.Errorf("dashboard with an existing session while %s: %d, want 200", cause, got)
	}
	if resp, err := noRedirect.Get(d.base + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("healthz while %s: %v %v", cause, resp, err)
	} else {
		resp.Body.Close()
	}

	repair()
	status, _, after := diskLogin(t, d.base)
	if status != http.StatusSeeOther || after == nil {
		t.Fatalf("sign-in after the fault was repaired: %d (no restart should be needed)", status)
	}
	for _, c := range []*http.Cookie{before, after} {
		if got := dashboardStatus(t, d.base, c); got != http.StatusOK {
			t.Errorf("dashboard after repair: %d", got)
		}
	}
	var res string
	if err := rawSQL(t, d.path).QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Errorf("integrity_check after the fault: %q %v", res, err)
	}
	wantNoCrash(t, d)
}

func TestDiskFullOrReadOnly(t *testing.T) {
	testkit.SkipOnPostgres(t, "SQLite's answers to a full disk and a read-only file")
	// Full: SQLite refuses to grow the file past max_page_count with
	// SQLITE_FULL, exactly its answer to a full disk. The limit is set to
	// the current size on every connection, and the free space inside the
	// file is used up with throwaway session rows first.
	t.Run("full", func(t *testing.T) {
		d := startDiskApp(t, testkit.Database(t, "g.db"))
		// The filler rows go in on a connection of the test's own, held
		// so the limit set on it stays in force for every row.
		g, err := rawSQL(t, d.path).Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		var pages, orig int64
		diskScenario(t, d, "database or disk is full", func() {
			if err := g.QueryRowContext(context.Background(), "PRAGMA page_count").Scan(&pages); err != nil {
				t.Fatal(err)
			}
			if err := g.QueryRowContext(context.Background(), "PRAGMA max_page_count").Scan(&orig); err != nil {
				t.Fatal(err)
			}
			pragmaOnEveryConn(t, d.a.DB, "max_page_count", pages)
			pragmaOnConn(t, g, "max_page_count", pages)
			fillSessions(t, g)
		}, func() {
			pragmaOnEveryConn(t, d.a.DB, "max_page_count", orig)
			pragmaOnConn(t, g, "max_page_count", orig)
			if _, err := g.ExecContext(context.Background(), "DELETE FROM sessions WHERE ip = 'disk-filler'"); err != nil {
				t.Fatal(err)
			}
		})
	})

	// Read-only: with query_only on every connection, every write fails with
	// SQLITE_READONLY ("attempt to write a readonly database"), as on a
	// database file or file system that became read-only. (A real read-only
	// remount cannot be made while the database is open for writing: the
	// kernel refuses it with EBUSY.)
	t.Run("read-only", func(t *testing.T) {
		d := startDiskApp(t, testkit.Database(t, "g.db"))
		var held *http.Cookie
		diskScenario(t, d, "readonly database", func() {
			var status int
			if status, _, held = diskLogin(t, d.base); held == nil {
				t.Fatalf("sign-in: %d", status)
			}
			pragmaOnEveryConn(t, d.a.DB, "query_only", 1)
		}, func() {
			// Sign-out cannot delete the session either: same page, and
			// the session is still there to sign out of afterwards.
			req, _ := http.NewRequest(http.MethodPost, d.base+"/auth/logout", nil)
			req.AddCookie(held)
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			wantTryAgain(t, "sign-out while read-only", resp.StatusCode, string(body), d, "readonly database")
			pragmaOnEveryConn(t, d.a.DB, "query_only", 0)
			if got := dashboardStatus(t, d.base, held); got != http.StatusOK {
				t.Errorf("session after a failed sign-out: dashboard %d", got)
			}
		})
	})
}

// fillSessions inserts throwaway session rows (ip 'disk-filler', already
// expired) of shrinking size until even the smallest no longer fits: the
// free pages and the room left in the sessions table's pages are used up.
func fillSessions(t *testing.T, g *sql.Conn) {
	t.Helper()
	past := time.Now().UTC().Add(-time.Hour)
	rows, fails := 0, 0
	for size := 64 << 10; size >= 1; size /= 2 {
		for fails = 0; fails < 20; {
			tok := make([]byte, 32)
			_, _ = rand.Read(tok)
			_, err := g.ExecContext(context.Background(), `INSERT INTO sessions (token_hash, created_at, last_seen_at, idle_expires_at, expires_at, ip, data)
				VALUES ($1, $2, $3, $4, $5, 'disk-filler', $6)`, fmt.Sprintf("%x", tok), past, past, past, past, strings.Repeat("x", size))
			switch {
			case err == nil:
				rows++
			case strings.Contains(err.Error(), "database or disk is full"):
				fails++
			default:
				t.Fatalf("filler row: %v", err)
			}
		}
	}
	t.Logf("database full after %d filler rows", rows)
}

// TestDiskFullTmpfs fills a real (tiny) file system under the live
// database: SQLite's next WAL append gets ENOSPC. It needs to mount a tmpfs,
// so it runs as root only (as `make test` in CI does) and skips elsewhere;
// TestDiskFullOrReadOnly covers the same path at the SQLite level always.
func TestDiskFullTmpfs(t *testing.T) {
	testkit.SkipOnPostgres(t, "SQLite on a full filesystem")
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skipf("skipping: mounting a tmpfs needs root on Linux (running as uid %d on %s); TestDiskFullOrReadOnly/full covers SQLITE_FULL without it", os.Geteuid(), runtime.GOOS)
	}
	mnt := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=4m,mode=0700"); err != nil {
		t.Skipf("skipping: cannot mount a tmpfs at %s (%v): this needs CAP_SYS_ADMIN; TestDiskFullOrReadOnly/full covers SQLITE_FULL without it", mnt, err)
	}
	// Registered after t.TempDir, so it runs before the directory's removal
	// (and after the app, started below, has closed the database).
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	d := startDiskApp(t, filepath.Join(mnt, "g.db"))
	filler := filepath.Join(mnt, "filler")
	diskScenario(t, d, "database or disk is full", func() {
		f, err := os.Create(filler)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		written := 0
		for chunk := 64 << 10; chunk >= 1; chunk /= 2 {
			buf := make([]byte, chunk)
			for {
				n, err := f.Write(buf)
				written += n
				if errors.Is(err, syscall.ENOSPC) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		var st syscall.Statfs_t
		if err := syscall.Statfs(mnt, &st); err != nil {
			t.Fatal(err)
		}
		t.Logf("file system full: %d filler bytes, %d blocks free", written, st.Bfree)
	}, func() {
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
	})
}
