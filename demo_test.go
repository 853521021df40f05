package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/testkit"
)

// ssojetVars are the variables the demo's .env block sets.
var ssojetVars = []string{"SSOJET_ISSUER_URL", "SSOJET_CLIENT_ID", "SSOJET_CLIENT_SECRET", "SSOJET_REDIRECT_URI",
	"SSOJET_EMAIL_DOMAINS", "SSOJET_AUTO_CREATE", "SSOJET_LINK"}

// unsetSSOJet removes the SSOJET_* variables for the test: set, even empty,
// they would win over a .env file.
func unsetSSOJet(t *testing.T) {
	t.Helper()
	for _, k := range ssojetVars {
		t.Setenv(k, "") // restores the old value after the test
		os.Unsetenv(k)
	}
}

// startRun runs the CLI with args in the background until the test ends,
// and returns its stdout and exit code.
func startRun(t *testing.T, args ...string) (*testkit.LogBuffer, *testkit.LogBuffer, <-chan int) {
	t.Helper()
	var stdout, stderr testkit.LogBuffer
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() { code <- run(ctx, args, strings.NewReader(""), &stdout, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-code:
		case <-time.After(20 * time.Second):
			t.Errorf("gatehouse %s did not exit after cancel", args[0])
		}
	})
	return &stdout, &stderr, code
}

// waitFor polls until cond holds, failing after 20s or when the run exits.
func waitFor(t *testing.T, what string, code <-chan int, stderr *testkit.LogBuffer, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		select {
		case c := <-code:
			t.Fatalf("exited %d while waiting for %s:\n%s", c, what, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 20s:\n%s", what, stderr.String())
		}
	}
}

// TestDemoProviderOnlyEnv: the .env block `gatehouse demo --provider-only`
// prints is all a gatehouse needs to sign people in with the demo provider:
// SSO works end to end, and the provider's Deny button ends on the app's
// error page.
func TestDemoProviderOnlyEnv(t *testing.T) {
	hermetic(t)
	unsetSSOJet(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	appListen := ln.Addr().String() // free now; the app binds it below
	ln.Close()
	appBase := "http://" + appListen

	opDir, appDir := t.TempDir(), t.TempDir()
	t.Chdir(appDir) // where gatehouse serve reads .env
	stdout, stderr, code := startRun(t, "demo", "--provider-only", "--op-listen", "127.0.0.1:0",
		"--config", writeConfig(t, opDir, fmt.Sprintf("listen: %q\n", appListen)))
	waitFor(t, "printed .env block", code, stderr, func() bool { return strings.Contains(stdout.String(), "# --- end ---") })
	out := stdout.String()
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^(SSOJET_[A-Z_]+)=(.*)$`).FindAllStringSubmatch(out, -1) {
		vars[m[1]] = m[2]
	}
	for _, k := range ssojetVars {
		if vars[k] == "" {
			t.Fatalf("the .env block lacks %s:\n%s", k, out)
		}
	}
	if vars["SSOJET_REDIRECT_URI"] != appBase+"/auth/callback" {
		t.Fatalf("SSOJET_REDIRECT_URI = %q, want %s/auth/callback", vars["SSOJET_REDIRECT_URI"], appBase)
	}
	issuer := vars["SSOJET_ISSUER_URL"]
	block := out[strings.Index(out, "# --- .env"):strings.Index(out, "# --- end ---")]
	if err := os.WriteFile(filepath.Join(appDir, ".env"), []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("root page lists the users", func(t *testing.T) {
		page := getBody(t, http.DefaultClient, issuer+"/")
		for _, want := range []string{issuer, "alice@example.com", "bob@example.com", "admin@example.com", "Deny"} {
			if !strings.Contains(page, want) {
				t.Errorf("provider's root page lacks %q:\n%s", want, page)
			}
		}
	})

	// The app: nothing about SSO in its file, only the .env block.
	_, appErr, appCode := startRun(t, "serve", "--config", writeConfig(t, appDir, fmt.Sprintf("listen: %q\n", appListen)))
	waitFor(t, "healthy app", appCode, appErr, func() bool {
		resp, err := http.Get(appBase + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	// signIn starts SSO from the login form and, on the provider's sign-in
	// page, sends choice (a user or Deny), returning where the browser ends.
	signIn := func(t *testing.T, choice url.Values) (*http.Response, string) {
		jar, _ := cookiejar.New(nil)
		hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
		resp, err := hc.PostForm(appBase+"/auth/login", url.Values{"email": {"bob@example.com"}, "is_sso": {"true"}, "provider": {"sso"}})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		picker := resp.Request.URL
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(picker.String(), issuer+"/authorize") {
			t.Fatalf("starting SSO ended at %s with status %d, want the provider's sign-in page", picker, resp.StatusCode)
		}
		form := picker.Query()
		for k, vs := range choice {
			form[k] = vs
		}
		resp, err = hc.PostForm(issuer+"/authorize", form)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}

	t.Run("sign in as Bob", func(t *testing.T) {
		resp, body := signIn(t, url.Values{"subject": {"demo-bob"}})
		if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/dashboard" || !strings.Contains(body, "bob@example.com") {
			t.Fatalf("signing in as Bob ended at %s with status %d:\n%s\n%s", resp.Request.URL, resp.StatusCode, body, appErr.String())
		}
	})
	t.Run("Deny", func(t *testing.T) {
		resp, body := signIn(t, url.Values{"deny": {"1"}})
		if resp.StatusCode != http.StatusBadRequest || resp.Request.URL.Path != "/auth/callback" ||
			!strings.Contains(body, "did not sign you in") || !strings.Contains(body, "access_denied") {
			t.Fatalf("Deny ended at %s with status %d:\n%s", resp.Request.URL, resp.StatusCode, body)
		}
	})
}

// TestDemoPrintsEnvBlock: the full demo prints the .env block of the
// provider client its own gatehouse uses.
func TestDemoPrintsEnvBlock(t *testing.T) {
	hermetic(t)
	unsetSSOJet(t)
	dir := t.TempDir()
	stdout, stderr, code := startRun(t, "demo", "--op-listen", "127.0.0.1:0",
		"--config", writeConfig(t, dir, "listen: 127.0.0.1:0\nbase_url: http://127.0.0.1:18080\n"))
	waitFor(t, "printed .env block", code, stderr, func() bool { return strings.Contains(stdout.String(), "# --- end ---") })
	for _, want := range []string{"SSOJET_ISSUER_URL=http://127.0.0.1:", "SSOJET_CLIENT_ID=gatehouse-demo", "SSOJET_CLIENT_SECRET=",
		"SSOJET_REDIRECT_URI=http://127.0.0.1:18080/auth/callback"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout.String())
		}
	}
}

// TestDemoCapturesMail: the demo's banner names its mail page, and a
// "Forgot password?" request for Alice ends there, delivered by the
// demo's worker, with a reset link that works.
func TestDemoCapturesMail(t *testing.T) {
	hermetic(t)
	unsetSSOJet(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String() // free now; the demo binds it below
	ln.Close()
	base := "http://" + listen
	dir := t.TempDir()
	stdout, stderr, code := startRun(t, "demo", "--op-listen", "127.0.0.1:0", "--config", writeConfig(t, dir, fmt.Sprintf("listen: %q\n", listen)))
	waitFor(t, "printed banner", code, stderr, func() bool { return strings.Contains(stdout.String(), "# --- end ---") })
	want := "  Mail:           " + base + "/demo/mail  (messages gatehouse sent: password resets, invitations)\n"
	if !strings.Contains(stdout.String(), want) {
		t.Fatalf("the banner lacks %q:\n%s", want, stdout.String())
	}
	waitFor(t, "healthy demo", code, stderr, func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if page := getBody(t, http.DefaultClient, base+"/demo/mail"); !strings.Contains(page, "No messages yet") {
		t.Fatalf("a new demo has mail:\n%s", page)
	}
	resp, err := http.PostForm(base+"/auth/forgot", url.Values{"email": {"alice@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /auth/forgot: %d", resp.StatusCode)
	}
	var page string
	waitFor(t, "the reset message on /demo/mail", code, stderr, func() bool {
		page = getBody(t, http.DefaultClient, base+"/demo/mail")
		return strings.Contains(page, "Reset your gatehouse password")
	})
	m := regexp.MustCompile(`<a href="(` + regexp.QuoteMeta(base) + `/auth/reset\?token=[^"]+)">`).FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, "alice@example.com") {
		t.Fatalf("no reset link for Alice on the page:\n%s", page)
	}
	if reset := getBody(t, http.DefaultClient, m[1]); !strings.Contains(reset, `name="new_password"`) {
		t.Fatalf("the link does not open the reset form:\n%s", reset)
	}

	// Dana is in the demo provider's admin group: an administrator from
	// her first sign-in.
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err = hc.PostForm(base+"/auth/login", url.Values{"email": {"dana@example.com"}, "is_sso": {"true"}, "provider": {"demo"}})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	picker := resp.Request.URL
	form := picker.Query()
	form.Set("subject", "demo-dana")
	resp, err = hc.PostForm(picker.Scheme+"://"+picker.Host+picker.Path, form)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Request.URL.Path != "/dashboard" {
		t.Fatalf("Dana's sign-in ended at %s (%d)", resp.Request.URL, resp.StatusCode)
	}
	if admin := getBody(t, hc, base+"/admin/users"); !strings.Contains(admin, "dana@example.com") {
		t.Fatalf("Dana does not reach the admin console:\n%s", admin)
	}
}

// TestCLISSOJetPolicyInvalid: a bad SSOJET_* policy value is a usage error
// naming the variable.
func TestCLISSOJetPolicyInvalid(t *testing.T) {
	hermetic(t)
	unsetSSOJet(t)
	t.Setenv("SSOJET_ISSUER_URL", "https://tenant.ssojet.example")
	t.Setenv("SSOJET_CLIENT_ID", "cid")
	t.Setenv("SSOJET_CLIENT_SECRET", "secret")
	t.Setenv("SSOJET_LINK", "sometimes")
	t.Chdir(t.TempDir())
	runCLI(t, "", "serve", "--config", writeConfig(t, t.TempDir(), "listen: 127.0.0.1:0\n")).want(t, exitUsage, "", "SSOJET_LINK")
}

func getBody(t *testing.T, hc *http.Client, u string) string {
	t.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", u, resp.StatusCode, b)
	}
	return string(b)
}
