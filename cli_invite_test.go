package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/config"
)

var cliInviteRE = regexp.MustCompile(`(?m)^(http://127\.0\.0\.1:8080/auth/invite\?token=[A-Za-z0-9_-]{43})$`)

// TestCLIUserInvite: user invite creates an account without a password
// and prints a link that works on the server; asked again it replaces the
// link; an account with a password is refused; --send queues the message.
func TestCLIUserInvite(t *testing.T) {
	hermetic(t)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "mail:\n  from: gatehouse <no-reply@example.com>\n  dir: "+filepath.Join(dir, "mail")+"\n")
	link := func(r cliResult) string {
		t.Helper()
		m := cliInviteRE.FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("no invitation link in:\n%s", r.stdout)
		}
		return m[1]
	}
	r := runCLI(t, "", "user", "invite", "--email", " Nia@Example.com ", "--name", "Nia", "--admin", "--config", cfgPath)
	r.want(t, exitOK, "invitation for nia@example.com (id 1, admin), valid until ", "")
	first := link(r)
	if strings.Contains(r.stdout, "queued for mail") {
		t.Fatalf("mailed without --send:\n%s", r.stdout)
	}
	r = runCLI(t, "", "user", "invite", "--email", "nia@example.com", "--send", "--config", cfgPath)
	r.want(t, exitOK, "the invitation was also queued for mail", "")
	second := link(r)
	if second == first {
		t.Fatal("the same link twice")
	}
	runCLI(t, "correct horse battery staple\n", "user", "create", "--email", "alice@example.com", "--password-stdin", "--config", cfgPath).want(t, exitOK, "", "")
	runCLI(t, "", "user", "invite", "--email", "alice@example.com", "--config", cfgPath).want(t, exitFailure, "", "has a password already")
	runCLI(t, "", "user", "invite", "--config", cfgPath).want(t, exitUsage, "", "--email is required")

	cfg, err := config.Load(config.Source{Path: cfgPath})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.DB.Close() })
	n, err := a.DB.CountQueuedMail(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("%d messages queued (%v), want 1", n, err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	get := func(link string) int {
		t.Helper()
		resp, err := noRedirect.Get(srv.URL + strings.TrimPrefix(link, "http://127.0.0.1:8080"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(first); got != http.StatusNotFound {
		t.Errorf("replaced link: %d", got)
	}
	if got := get(second); got != http.StatusOK {
		t.Fatalf("new link: %d", got)
	}
	u, _ := url.Parse(second)
	resp, err := noRedirect.PostForm(srv.URL+"/auth/invite", url.Values{
		"token": {u.Query().Get("token")}, "new_password": {"nia's own passphrase"}, "confirm_password": {"nia's own passphrase"},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account?notice=invitation_accepted" {
		t.Fatalf("accept: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if c, status := postLogin(t, srv.URL, "nia@example.com", "nia's own passphrase"); c == nil {
		t.Fatalf("the chosen password does not sign in (%d)", status)
	}
}
