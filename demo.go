package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"github.com/gatehouse/gatehouse/app"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sso"
	"github.com/gatehouse/gatehouse/testop"
)

// cmdDemo runs gatehouse beside the in-repo demo OpenID Provider, both on
// loopback, with a throwaway database: for trying password sign-in, SSO,
// linking and logout in a minute. Development only.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("demo", "Run gatehouse beside a demo OpenID Provider on loopback, with a throwaway database (development only).")
	opAddr := fs.String("op-listen", "127.0.0.1:9090", "listen address of the demo OpenID Provider")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	for _, l := range []struct{ what, addr string }{{"listen", cfg.Listen}, {"--op-listen", *opAddr}} {
		if !loopback(l.addr) {
			return errUsage{fmt.Errorf("demo: %s %q is not a loopback address: the demo prints an administrator's password "+
				"and its provider signs anyone in, so it only listens on 127.0.0.1, ::1 or localhost", l.what, l.addr)}
		}
	}
	dir, err := os.MkdirTemp("", "gatehouse-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir) // throwaway: the database (and its password hashes) goes when the demo stops
	cfg.Database = filepath.Join(dir, "demo.db")
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	secret := randomWords()
	verified := true
	op, err := testop.Start(testop.Options{
		Addr: *opAddr,
		Clients: []testop.Client{{
			ID: "gatehouse-demo", Secret: secret, Name: "gatehouse demo",
			RedirectURIs:           []string{cfg.BaseURL + "/auth/callback"},
			PostLogoutRedirectURIs: []string{cfg.BaseURL + "/auth/logged-out"},
			BackchannelLogoutURI:   cfg.BaseURL + "/auth/backchannel-logout",
		}},
		Users: []testop.User{
			{Subject: "demo-alice", Email: "alice@example.com", Name: "Alice (has a local account: links by password)", EmailVerified: verified},
			{Subject: "demo-bob", Email: "bob@example.com", Name: "Bob (new: account created on first sign-in)", EmailVerified: verified},
			{Subject: "demo-mallory", Email: "admin@example.com", Name: "Mallory (claims the admin's email, unverified)", EmailVerified: false},
		},
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("start demo provider: %w", err)
	}
	defer op.Close()
	cfg.Providers = []config.Provider{{
		ProviderConfig: sso.ProviderConfig{
			ID: "demo", Name: "Demo SSO", Issuer: op.Issuer(), ClientID: "gatehouse-demo", ClientSecret: secret,
			EmailDomains: []string{"example.com"},
		},
		Link: accounts.LinkPassword, AutoCreate: true,
	}}
	if err := cfg.Finish(); err != nil {
		ln.Close()
		return err
	}
	a, err := app.New(ctx, cfg, app.Options{Listener: ln, Logger: newLogger(cfg, stderr), Stdout: stdout, Version: version})
	if err != nil {
		ln.Close()
		return err
	}
	defer a.Close()
	adminPW, alicePW, err := seedDemo(ctx, a)
	if err != nil {
		ln.Close()
		return err
	}
	fmt.Fprintf(stdout, `
gatehouse demo: FOR DEVELOPMENT ONLY (throwaway database %s)

  Sign in:        %s/login
  Demo provider:  %s
  Administrator:  admin@example.com  password: %s
  Local account:  alice@example.com  password: %s
                  (sign in with SSO as Alice to see the "Link your account" page)

`, cfg.Database, cfg.BaseURL, op.Issuer(), adminPW, alicePW)
	return a.Run(ctx)
}

// loopback reports whether the listen address addr (host:port) binds a
// loopback interface only: "localhost" or a loopback IP. An empty host
// (":8080") listens on every interface and is not loopback.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// seedDemo creates the demo accounts with fresh random passwords.
func seedDemo(ctx context.Context, a *app.App) (adminPW, alicePW string, err error) {
	adminPW, alicePW = randomWords(), randomWords()
	for _, n := range []accounts.NewUser{
		{Email: "admin@example.com", Name: "Demo Admin", Admin: true, Password: &adminPW},
		{Email: "alice@example.com", Name: "Alice Local", Password: &alicePW},
	} {
		u, err := a.Accounts.CreateUser(ctx, n)
		if err != nil {
			return "", "", fmt.Errorf("seed %s: %w", n.Email, err)
		}
		_ = a.DB.RecordEvent(ctx, &models.Event{Kind: models.EventUserCreated, UserID: &u.ID, Email: u.Email, Method: models.MethodDemo})
	}
	return adminPW, alicePW, nil
}

// randomWords is a random secret of 26 characters (130 bits).
func randomWords() string { return rand.Text() }
