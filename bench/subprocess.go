package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/config"
	"golang.org/x/crypto/bcrypt"
)

// Item 1 and 2 shapes, fixed by the issue.
const (
	pageClients  = 32
	loginClients = 64
)

// server is a `gatehouse serve` subprocess.
type server struct {
	bin, dir, cfgPath, addr, logPath string
	database                         string
	k                                int      // index of its backend
	be                               *backend // its database
	cmd                              *exec.Cmd
	done                             chan struct{}
	waitErr                          error
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// subprocess runs items 1, 2 and 5 against the real binary: one server per
// backend, each on a database of its own seeded alike, all running at once
// so the item 1 rounds interleave between them.
func (b *bench) subprocess(ctx context.Context) error {
	bin := filepath.Join(b.dir, "gatehouse")
	if b.opts.bin != "" {
		bin = b.opts.bin
	} else {
		root, err := moduleRoot(ctx)
		if err != nil {
			return err
		}
		b.logf("building %s (go build -trimpath -ldflags '-s -w')", bin)
		build := exec.CommandContext(ctx, goCmd(), "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
		build.Dir = root
		build.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("build: %v\n%s", err, out)
		}
	}
	st, err := os.Stat(bin)
	if err != nil {
		return err
	}
	size := fmt.Sprintf("%.1f MiB", float64(st.Size())/(1<<20))
	if b.opts.bin != "" {
		size += " (" + bin + ", given with -bin)"
	}
	b.addShared("5", "binary size (go build -trimpath -ldflags '-s -w')", size)

	cost := config.Default().Password.BcryptCost
	hash, err := bcrypt.GenerateFromPassword([]byte(benchPassword), cost)
	if err != nil {
		return err
	}
	var servers []*server
	defer func() { // on an early return; a no-op after the checked stops below
		for _, s := range servers {
			_ = s.stop()
		}
	}()
	for k, be := range b.backends {
		database, err := b.database(ctx, be, "served")
		if err != nil {
			return err
		}
		t0 := time.Now()
		err = seed(ctx, seedSpec{
			database: database, users: 1000, hash: string(hash), sessions: b.opts.liveSess, tag: "live", now: time.Now(),
			// Spread over the past minute, as live traffic leaves them: each
			// session's last_seen write (at most once a minute) falls due
			// during the run, as in steady state.
			spread: 60,
		})
		if err != nil {
			return fmt.Errorf("%s: %w", be.name, err)
		}
		b.logf("%s: seeded 1,000 accounts and %s sessions in %v", be.name, commas(b.opts.liveSess), time.Since(t0).Round(time.Millisecond))

		addr, err := freeAddr()
		if err != nil {
			return err
		}
		s := &server{bin: bin, dir: b.dir, addr: addr, k: k, be: be, database: database,
			cfgPath: filepath.Join(b.dir, "bench-"+be.tag+".yaml"), logPath: filepath.Join(b.dir, "server-"+be.tag+".log")}
		// Everything else is the built-in default: bcrypt cost 12, info
		// logs, 10 PostgreSQL connections. Clients name their own address
		// in X-Forwarded-For, believed from loopback: 64 people signing in
		// at once are 64 addresses, as they are in production, not one
		// address the throttle would slow.
		cfg := fmt.Sprintf("listen: %s\ndatabase: %q\ntrusted_proxies: [127.0.0.1]\n", addr, database)
		if err := os.WriteFile(s.cfgPath, []byte(cfg), 0o600); err != nil {
			return err
		}
		servers = append(servers, s)
	}

	// Start-up: exec to the first 200 from /healthz, median of n, the
	// backends taking turns; the last start of each stays up for the load.
	starts := make([][]time.Duration, len(servers))
	for i := range b.opts.starts {
		for _, s := range servers {
			d, err := s.start(ctx)
			if err != nil {
				return fmt.Errorf("%s: start %d: %w", s.be.name, i+1, err)
			}
			starts[s.k] = append(starts[s.k], d)
			if i < b.opts.starts-1 {
				if err := s.stop(); err != nil {
					return fmt.Errorf("%s: %w", s.be.name, err)
				}
			}
		}
	}
	for _, s := range servers {
		ds := starts[s.k]
		b.addTo(s.k, "5", fmt.Sprintf("start-up: exec to first 200 from /healthz (median of %d)", len(ds)),
			fmt.Sprintf("%s (min %s, max %s)", ms(percentile(ds, 50)), ms(percentile(ds, 0)), ms(percentile(ds, 100))), "", "")
		b.logf("%s: server pid %d", s.be.name, s.pid())
	}

	if err := b.pageLoad(ctx, servers); err != nil {
		return err
	}
	for _, s := range servers {
		rss, err := procKB(s.pid(), "VmRSS")
		if err != nil {
			return err
		}
		hwm, _ := procKB(s.pid(), "VmHWM")
		b.checkTo(s.k, "5", fmt.Sprintf("RSS (VmRSS) of gatehouse after the item 1 load, %s live sessions", commas(b.opts.liveSess)),
			fmt.Sprintf("%.1f MiB (peak VmHWM %.1f MiB)", float64(rss)/1024, float64(hwm)/1024), "< 64 MiB", rss < 64*1024)
	}

	if err := b.loginLoad(ctx, servers, string(hash), cost); err != nil {
		return err
	}
	for _, s := range servers {
		if err := s.stop(); err != nil {
			return fmt.Errorf("%s: %w", s.be.name, err)
		}
		warns, errs, first, err := scanLog(s.logPath)
		if err != nil {
			return err
		}
		for _, l := range first {
			b.logf("%s server log: %s", s.be.name, l)
		}
		b.addTo(s.k, "", "server log over the whole run", fmt.Sprintf("%d warnings, %d errors", warns, errs), "", "")
		if errs > 0 {
			b.fail("the %s server logged %d errors (see %s; run with -keep)", s.be.name, errs, s.logPath)
		}
	}
	return nil
}

// cpuLoad is a load result with the CPU it cost.
type cpuLoad struct {
	loadResult
	selfSec, serverSec, dbSec, othersSec, wallSec float64
}

func (c *cpuLoad) addRun(r loadResult, u cpuUse) {
	c.add(r)
	w := u.wall.Seconds()
	c.selfSec += u.self * w
	c.serverSec += u.server * w
	c.dbSec += u.db * w
	c.othersSec += u.others * w
	c.wallSec += w
}

// perReq is CPU seconds per successful request, as a duration.
func (c cpuLoad) perReq(sec float64) time.Duration {
	return time.Duration(sec / float64(c.ok) * float64(time.Second))
}

// pageLoad is item 1: GET /healthz and GET /dashboard (a valid session,
// round-robin over every live session) at 32 keep-alive clients, on each
// server. After a warm-up of each, the measured time is split into two
// interleaved rounds (healthz, dashboard on each server in turn, twice) so
// drift on a noisy machine hits all alike. The CPU per request (server, its
// PostgreSQL, load generator) is reported too: on a shared machine it is
// the steadier number.
func (b *bench) pageLoad(ctx context.Context, servers []*server) error {
	type target struct {
		s                 *server
		client            *http.Client
		health, dashboard func() (*http.Request, error)
		h, d              cpuLoad
	}
	cookie := config.Default().CookieName()
	var ts []*target
	var pids []int
	for _, s := range servers {
		t := &target{s: s, client: newClient(pageClients)}
		defer t.client.CloseIdleConnections()
		base := "http://" + s.addr
		t.health = func() (*http.Request, error) { return http.NewRequest(http.MethodGet, base+"/healthz", nil) }
		var next atomic.Uint64
		t.dashboard = func() (*http.Request, error) {
			i := (next.Add(1) - 1) % uint64(b.opts.liveSess)
			req, err := http.NewRequest(http.MethodGet, base+"/dashboard", nil)
			if err == nil {
				req.Header.Set("Cookie", cookie+"="+tokenFor("live", int(i)))
			}
			return req, err
		}
		// A signed-in page, checked once for its content.
		if err := expectBody(ctx, t.client, t.dashboard, userEmail(1)); err != nil {
			return fmt.Errorf("%s: dashboard: %w", s.be.name, err)
		}
		ts = append(ts, t)
		pids = append(pids, s.pid())
	}
	b.waitQuiet(ctx, "item 1", pids...)
	// Steady state from here: last_seen spread over the past minute again,
	// however long the start-ups and the wait took (see respread).
	for _, t := range ts {
		t0 := time.Now()
		if err := respread(ctx, t.s.database, 60, time.Now()); err != nil {
			return fmt.Errorf("%s: %w", t.s.be.name, err)
		}
		b.logf("item 1: %s sessions' last_seen spread over the past minute again (%v)", t.s.be.name, time.Since(t0).Round(time.Millisecond))
	}
	b.logf("item 1: warm-up, then %v per endpoint and database in 2 interleaved rounds, %d clients", b.opts.duration, pageClients)
	for _, t := range ts {
		for _, mk := range []func() (*http.Request, error){t.health, t.dashboard} {
			if r := runLoad(ctx, t.client, pageClients, time.Second, http.StatusOK, mk); r.errs > 0 {
				return fmt.Errorf("%s: warm-up: %d errors, first: %v", t.s.be.name, r.errs, r.firstErr)
			}
		}
	}
	run := func(t *target, into *cpuLoad, mk func() (*http.Request, error)) {
		c0 := takeCPU(t.s.pid())
		r := runLoad(ctx, t.client, pageClients, b.opts.duration/2, http.StatusOK, mk)
		into.addRun(r, c0.to(takeCPU(t.s.pid())))
	}
	for range 2 {
		for _, t := range ts {
			run(t, &t.h, t.health)
			run(t, &t.d, t.dashboard)
		}
	}
	for _, t := range ts {
		for name, r := range map[string]cpuLoad{"healthz": t.h, "dashboard": t.d} {
			if r.errs > 0 {
				b.fail("item 1 %s on %s: %d of %d requests failed, first: %v", name, t.s.be.name, r.errs, r.ok+r.errs, r.firstErr)
			}
		}
		if t.h.ok == 0 || t.d.ok == 0 {
			return fmt.Errorf("item 1 on %s: no successful requests", t.s.be.name)
		}
	}
	// serverCPU is what serving cost: gatehouse, and its PostgreSQL server
	// (whose CPU while SQLite is measured is idle noise, left with others).
	serverCPU := func(t *target, c cpuLoad) float64 {
		if t.s.be.pg != nil {
			return c.serverSec + c.dbSec
		}
		return c.serverSec
	}
	cpuNote := func(t *target, c cpuLoad) string {
		srv := us(c.perReq(serverCPU(t, c)))
		if t.s.be.pg != nil && dbCPU != nil {
			srv += fmt.Sprintf(" (gatehouse %s + PostgreSQL %s)", us(c.perReq(c.serverSec)), us(c.perReq(c.dbSec)))
		}
		return fmt.Sprintf("CPU/req: server %s, load generator %s", srv, us(c.perReq(c.selfSec)))
	}
	for _, t := range ts {
		k, h, d := t.s.k, t.h, t.d
		b.addTo(k, "1", fmt.Sprintf("GET /healthz, %d keep-alive clients, %v", pageClients, b.opts.duration),
			fmt.Sprintf("%.0f req/s (p50 %s; %s)", h.rate(), ms(percentile(h.lat, 50)), cpuNote(t, h)), "", "")
		b.addTo(k, "1", fmt.Sprintf("GET /dashboard (DB session), %d clients, %v", pageClients, b.opts.duration),
			fmt.Sprintf("%.0f req/s (p50 %s, p99 %s; %s)", d.rate(), ms(percentile(d.lat, 50)), ms(percentile(d.lat, 99)), cpuNote(t, d)), "", "")
		ratio := d.rate() / h.rate()
		b.checkTo(k, "1", "dashboard / healthz requests per second", fmt.Sprintf("%.0f%%", 100*ratio), ">= 50%", ratio >= 0.5)
		cpuRatio := float64(h.perReq(h.selfSec+serverCPU(t, h))) / float64(d.perReq(d.selfSec+serverCPU(t, d)))
		b.addTo(k, "1", "  same ratio from CPU per request (server + load generator)", fmt.Sprintf("%.0f%%", 100*cpuRatio), "", "")
		b.addTo(k, "1", "  CPU used by other processes meanwhile", fmt.Sprintf("%.2f of %d cores", (h.othersSec+d.othersSec)/(h.wallSec+d.wallSec), runtime.NumCPU()), "", "")
	}
	if len(ts) > 1 {
		// The cross-database ratio, in the PostgreSQL column.
		sq, pg := ts[0], ts[1]
		ratio := pg.d.rate() / sq.d.rate()
		b.checkTo(pg.s.k, "1", "dashboard requests per second, PostgreSQL / SQLite", fmt.Sprintf("%.0f%%", 100*ratio), ">= 60%", ratio >= 0.6)
		cpuRatio := float64(sq.d.perReq(sq.d.selfSec+serverCPU(sq, sq.d))) / float64(pg.d.perReq(pg.d.selfSec+serverCPU(pg, pg.d)))
		b.addTo(pg.s.k, "1", "  same ratio from CPU per dashboard request (server, its database, load generator)", fmt.Sprintf("%.0f%%", 100*cpuRatio), "", "")
	}
	return nil
}

// loginLoad is item 2: the bcrypt ceiling, measured here while the servers
// idle, against POST /auth/login at 64 concurrent clients on each server in
// turn. Every client signs in k times as its own account (k chosen for a
// run of about 6-10 s, the same on every server); throughput is sign-ins
// over the wall time of the whole batch.
func (b *bench) loginLoad(ctx context.Context, servers []*server, hash string, cost int) error {
	const samples = 9
	var pids []int
	for _, s := range servers {
		pids = append(pids, s.pid())
	}
	b.waitQuiet(ctx, "item 2", pids...)
	var compares, compareCPU []time.Duration
	runtime.LockOSThread()
	for range samples {
		t0, c0 := time.Now(), threadCPU()
		if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(benchPassword)); err != nil {
			runtime.UnlockOSThread()
			return err
		}
		compares, compareCPU = append(compares, time.Since(t0)), append(compareCPU, threadCPU()-c0)
	}
	runtime.UnlockOSThread()
	compare := percentile(compares, 50)
	cores := runtime.NumCPU()
	ceiling := float64(cores) / compare.Seconds()
	b.addShared("2", fmt.Sprintf("one bcrypt compare, cost %d (median of %d)", cost, samples),
		fmt.Sprintf("%s (CPU time %s)", ms(compare), ms(percentile(compareCPU, 50))))
	b.addShared("2", fmt.Sprintf("bcrypt ceiling: %d cores / compare time", cores), fmt.Sprintf("%.2f sign-ins/s", ceiling))
	batch := time.Duration(float64(compare) * loginClients / float64(cores))
	k := max(1, int(math.Round(float64(6*time.Second)/float64(batch))))
	for _, s := range servers {
		if err := b.signIns(ctx, s, k, ceiling, percentile(compareCPU, 50), batch); err != nil {
			return fmt.Errorf("%s: %w", s.be.name, err)
		}
	}
	return nil
}

// signIns is item 2's batch on one server: 64 clients, k sign-ins each.
func (b *bench) signIns(ctx context.Context, s *server, k int, ceiling float64, compareCPU, batch time.Duration) error {
	client := newClient(loginClients)
	defer client.CloseIdleConnections()
	base := "http://" + s.addr
	login := func(id int) (*http.Request, error) {
		form := url.Values{"email": {userEmail(id)}, "password": {benchPassword}}
		req, err := http.NewRequest(http.MethodPost, base+"/auth/login", strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.18.%d.%d", id>>8&0xff, id&0xff))
		}
		return req, err
	}
	check := func(id int) error {
		req, err := login(id)
		if err != nil {
			return err
		}
		resp, err := client.Do(req.WithContext(ctx))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dashboard" ||
			!strings.Contains(resp.Header.Get("Set-Cookie"), config.Default().CookieName()+"=") {
			return fmt.Errorf("sign-in as %s: HTTP %d to %q, want 303 to /dashboard with a session cookie", userEmail(id), resp.StatusCode, resp.Header.Get("Location"))
		}
		return nil
	}
	for id := 2; id <= 3; id++ { // warm-up
		if err := check(id); err != nil {
			return err
		}
	}
	pid := s.pid()
	b.waitQuiet(ctx, "item 2", pid)
	b.logf("item 2 on %s: %d clients x %d sign-ins (expect about %v)", s.be.name, loginClients, k, (time.Duration(k) * batch).Round(time.Millisecond))
	var wg sync.WaitGroup
	errs := make([]error, loginClients)
	c0 := takeCPU(pid)
	for c := range loginClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range k {
				if err := check(2 + c); err != nil && errs[c] == nil {
					errs[c] = err
				}
			}
		}()
	}
	wg.Wait()
	u := c0.to(takeCPU(pid))
	if failed := slices.DeleteFunc(errs, func(e error) bool { return e == nil }); len(failed) > 0 {
		return fmt.Errorf("item 2: %d of %d clients' sign-ins failed after %v (a server under a long queue of bcrypt compares closes a connection after its 30 s write timeout), first: %w",
			len(failed), loginClients, u.wall.Round(10*time.Millisecond), failed[0])
	}
	n := loginClients * k
	rate := float64(n) / u.wall.Seconds()
	b.addTo(s.k, "2", fmt.Sprintf("POST /auth/login, %d clients, %d sign-ins, 0 errors", loginClients, n),
		fmt.Sprintf("%.2f sign-ins/s (%v)", rate, u.wall.Round(10*time.Millisecond)), "", "")
	b.checkTo(s.k, "2", "sign-in throughput / bcrypt ceiling", fmt.Sprintf("%.0f%%", 100*rate/ceiling), ">= 85%", rate/ceiling >= 0.85)
	srv := u.server
	if s.be.pg != nil {
		srv += u.db
	}
	perSignIn := time.Duration(srv * u.wall.Seconds() / float64(n) * float64(time.Second))
	b.addTo(s.k, "2", "  server CPU per sign-in, with its database (share that is the bcrypt compare)",
		fmt.Sprintf("%s (%.0f%%)", ms(perSignIn), 100*float64(compareCPU)/float64(perSignIn)), "", "")
	b.addTo(s.k, "2", "  CPU used by other processes meanwhile", othersNote(u), "", "")
	return nil
}

// expectBody sends one request and checks for a 200 containing want.
func expectBody(ctx context.Context, client *http.Client, mk func() (*http.Request, error), want string) error {
	req, err := mk()
	if err != nil {
		return err
	}
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(want)) {
		return fmt.Errorf("%s %s: HTTP %d, body lacks %q", req.Method, req.URL.Path, resp.StatusCode, want)
	}
	return nil
}

// start execs the server and returns the time to its first 200 from
// /healthz (polled every millisecond on fresh connections).
func (s *server) start(ctx context.Context) (time.Duration, error) {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer logf.Close() // the child keeps its own descriptor
	cmd := exec.Command(s.bin, "serve", "--config", s.cfgPath)
	cmd.Dir = s.dir // no stray .env or config.yaml
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.dir}
	cmd.Stdout, cmd.Stderr = logf, logf
	poll := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 2 * time.Second}
	url := "http://" + s.addr + "/healthz"
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { s.waitErr = cmd.Wait(); close(s.done) }()
	for {
		if resp, err := poll.Get(url); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(t0), nil
			}
		}
		select {
		case <-s.done:
			return 0, fmt.Errorf("gatehouse exited before serving: %v\n%s", s.waitErr, tail(s.logPath))
		case <-ctx.Done():
			return 0, errors.Join(ctx.Err(), s.stop())
		case <-time.After(time.Millisecond):
		}
		if time.Since(t0) > 30*time.Second {
			return 0, errors.Join(errors.New("no 200 from /healthz within 30s"), s.stop())
		}
	}
}

// stop sends SIGTERM and waits (killing after 20 s); a non-zero exit is an
// error. It does nothing when the server is not running.
func (s *server) stop() error {
	if s.cmd == nil {
		return nil
	}
	cmd := s.cmd
	s.cmd = nil
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-s.done
		return errors.New("gatehouse did not stop within 20s of SIGTERM")
	}
	if s.waitErr != nil {
		return fmt.Errorf("gatehouse exited with %v\n%s", s.waitErr, tail(s.logPath))
	}
	return nil
}

// scanLog counts warning and error lines in the server's log and returns
// the first few.
func scanLog(path string) (warns, errs int, first []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, "level=WARN"):
			warns++
		case strings.Contains(line, "level=ERROR"):
			errs++
		default:
			continue
		}
		if len(first) < 5 {
			first = append(first, line)
		}
	}
	return warns, errs, first, sc.Err()
}

// tail is the end of a log file, for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// goCmd is the go command: $GO (as the Makefile sets it) or go.
func goCmd() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

// moduleRoot is the directory of gatehouse's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, goCmd(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run bench inside the gatehouse module (go run ./bench)")
	}
	return filepath.Dir(mod), nil
}
