package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/testkit"
)

// acmeProvider is a provider entry with static metadata: no request ever
// reaches its (closed) loopback address.
const acmeProvider = `providers:
  - id: acme
    name: Acme SSO
    client_id: gatehouse
    client_secret: s3cret
    metadata:
      issuer: http://127.0.0.1:9/acme
      authorization_endpoint: http://127.0.0.1:9/acme/authorize
      token_endpoint: http://127.0.0.1:9/acme/token
      jwks_uri: http://127.0.0.1:9/acme/jwks
`

// TestServeReload runs `gatehouse serve` and sends it SIGHUP: a valid
// configuration (a provider added, the log level changed) takes effect at
// the next request, without a failed request while it swaps; one that
// changes a restart-only setting, or does not parse, is refused and the
// server goes on as it was. systemd hears READY, RELOADING and STOPPING.
// Not parallel: the signal goes to the whole test process.
func TestServeReload(t *testing.T) {
	hermetic(t)
	dir := t.TempDir()
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "notify.sock"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	t.Setenv("NOTIFY_SOCKET", filepath.Join(dir, "notify.sock"))
	base := "listen: 127.0.0.1:0\n"
	cfgPath := writeConfig(t, dir, base)
	setLevel := func(level string) {
		t.Helper()
		b := strings.Replace(string(must(os.ReadFile(cfgPath))), "level: warn", "level: "+level, 1)
		b = strings.Replace(b, "level: info", "level: "+level, 1)
		if err := os.WriteFile(cfgPath, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	setLevel("info")
	var stdout, stderr testkit.LogBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"serve", "--config", cfgPath}, strings.NewReader(""), &stdout, &stderr)
	}()
	waitLog := func(re string, n int) {
		t.Helper()
		r := regexp.MustCompile(re)
		for deadline := time.Now().Add(20 * time.Second); len(r.FindAllString(stderr.String(), -1)) < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %d× %q in the log:\n%s", n, re, stderr.String())
			}
		}
	}
	var mu sync.Mutex
	var states []string
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := notify.Read(buf)
			if err != nil {
				return
			}
			mu.Lock()
			states = append(states, string(buf[:n]))
			mu.Unlock()
		}
	}()
	// waitStates waits for the n-th state systemd would hear.
	waitStates := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			got := len(states)
			mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("systemd heard %d states, want %d", got, n)
			}
		}
	}
	waitLog(`msg="gatehouse listening"`, 1)
	waitStates(1)
	addr := regexp.MustCompile(`msg="gatehouse listening" addr=(\S+)`).FindStringSubmatch(stderr.String())[1]
	login := func() string {
		t.Helper()
		resp, err := noRedirect.Get("http://" + addr + "/login")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /login: %d", resp.StatusCode)
		}
		return string(b)
	}
	if strings.Contains(login(), "Continue with Acme SSO") {
		t.Fatal("a provider before any was configured")
	}
	hup := func() {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}

	// A provider added, logging down to warnings: both apply, while
	// requests go on.
	if err := os.WriteFile(cfgPath, append(must(os.ReadFile(cfgPath)), acmeProvider...), 0o600); err != nil {
		t.Fatal(err)
	}
	setLevel("warn")
	var failed, served atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for i := 0; i < 2000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := noRedirect.Get("http://" + addr + "/healthz")
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
				} else {
					served.Add(1)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
		})
	}
	hup()
	waitStates(3) // RELOADING=1, READY=1
	waitLog(`msg="configuration reloaded"`, 1)
	hup()
	waitStates(5)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || served.Load() == 0 {
		t.Errorf("during reloads: %d requests failed, %d served", failed.Load(), served.Load())
	}
	logged := len(stderr.String())
	if !strings.Contains(login(), "Continue with Acme SSO") {
		t.Fatal("the provider added by the reload is not offered")
	}
	if after := stderr.String()[logged:]; strings.Contains(after, "msg=request") {
		t.Errorf("log.level warn did not apply: %s", after)
	}

	// A restart-only change is refused; the server keeps the old one.
	good := must(os.ReadFile(cfgPath))
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(good), "listen: 127.0.0.1:0", "listen: 127.0.0.1:1", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	hup()
	waitLog(`msg="configuration reload refused; still running on the previous configuration" err="listen`, 1)
	// So is a file that does not parse.
	if err := os.WriteFile(cfgPath, []byte("providers: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hup()
	waitLog(`msg="configuration reload refused`, 2)
	if !strings.Contains(login(), "Continue with Acme SSO") {
		t.Fatal("a refused reload changed the running configuration")
	}

	cancel()
	select {
	case c := <-code:
		if c != exitOK {
			t.Fatalf("serve exited %d:\n%s", c, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not exit")
	}
	waitStates(10)
	mu.Lock()
	defer mu.Unlock()
	want := "READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1 STOPPING=1"
	var first []string // each datagram's first assignment
	for _, s := range states {
		first = append(first, strings.SplitN(s, "\n", 2)[0])
	}
	if got := strings.Join(first, " "); got != want {
		t.Errorf("sd_notify states:\n %q\nwant\n %s", states, want)
	}
	if len(states) == 10 && (states[2] != "READY=1\nSTATUS=configuration reloaded" || !strings.HasPrefix(states[6], "READY=1\nSTATUS=configuration reload refused: listen")) {
		t.Errorf("STATUS lines: %q", states)
	}
}

// TestCheckConfig: check-config exits 0 on a configuration serve would
// start on and 2, with serve's message, on one it would refuse, and
// creates nothing: no database, no key file.
func TestCheckConfig(t *testing.T) {
	hermetic(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "data", "g.db")
	write := func(body string) string {
		p := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := "database: " + db + "\npassword:\n  bcrypt_cost: 10\n"
	for _, c := range []struct {
		name, body string
		code       int
		out        string
	}{
		{"defaults", base, exitOK, "configuration is valid: 0 sign-in providers"},
		{"a provider", base + acmeProvider, exitOK, "1 sign-in providers"},
		{"does not parse", base + "providers: [\n", exitUsage, "invalid configuration"},
		{"unknown key", base + "listn: :8080\n", exitUsage, "listn"},
		{"provider without client", base + "providers:\n  - id: acme\n    issuer: https://idp.example.com\n", exitUsage, "providers[0] (acme)"},
		{"offline_check on PostgreSQL without secrets.key", "database: postgres://gatehouse@127.0.0.1:9/gatehouse\n" + strings.Replace(acmeProvider, "    client_id:", "    offline_check: 1h\n    client_id:", 1),
			exitUsage, "offline_check needs secrets.key"},
		{"mail without a sender", base + "mail:\n  smtp:\n    host: 127.0.0.1\n", exitUsage, "mail"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, "", "check-config", "--config", write(c.body))
			if r.code != c.code || !strings.Contains(r.stdout+r.stderr, c.out) {
				t.Fatalf("exit %d, want %d with %q:\n%s%s", r.code, c.code, c.out, r.stdout, r.stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Dir(db)); !os.IsNotExist(err) {
		t.Errorf("check-config created %s: %v", filepath.Dir(db), err)
	}
}
