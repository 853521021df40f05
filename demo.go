package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse/gatehouse/app"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sso"
	"github.com/gatehouse/gatehouse/testop"
)

// cmdDemo runs gatehouse beside the in-repo demo OpenID Provider, both on
// loopback, with a throwaway database: for trying password sign-in, SSO,
// linking and logout in a minute, and the mail flows, whose messages it
// captures and lists at /demo/mail. Development only. With --provider-only it
// runs the provider alone, for an app started separately from the printed
// .env block.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("demo", "Run gatehouse beside a demo OpenID Provider on loopback, with a throwaway database (development only).")
	opAddr := fs.String("op-listen", "127.0.0.1:9090", "listen address of the demo OpenID Provider")
	providerOnly := fs.Bool("provider-only", false, "run only the demo OpenID Provider, for an app configured from the printed .env block")
	redirectURI := fs.String("redirect-uri", "", "with --provider-only: the app's redirect URI (default: base_url's /auth/callback)")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if *redirectURI != "" && !*providerOnly {
		return errUsage{errors.New("demo: --redirect-uri needs --provider-only: the demo's own gatehouse uses base_url's")}
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	checks := []struct{ what, addr string }{{"--op-listen", *opAddr}}
	if !*providerOnly {
		checks = append(checks, struct{ what, addr string }{"listen", cfg.Listen})
	}
	for _, l := range checks {
		if !loopback(l.addr) {
			return errUsage{fmt.Errorf("demo: %s %q is not a loopback address: the demo prints an administrator's password "+
				"and its provider signs anyone in, so it only listens on 127.0.0.1, ::1 or localhost", l.what, l.addr)}
		}
	}
	appBase := cfg.BaseURL
	if *redirectURI != "" {
		u, err := url.Parse(*redirectURI)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
			return errUsage{fmt.Errorf("demo: --redirect-uri %q must be an absolute http or https URL without a fragment", *redirectURI)}
		}
		appBase = u.Scheme + "://" + u.Host
	} else {
		*redirectURI = cfg.BaseURL + "/auth/callback"
	}
	if *providerOnly {
		op, secret, err := startDemoProvider(*opAddr, appBase, *redirectURI)
		if err != nil {
			return err
		}
		defer op.Close()
		fmt.Fprintf(stdout, `
gatehouse demo --provider-only: FOR DEVELOPMENT ONLY

  Demo provider:  %s  (open it for the users you can sign in as)

Put this in the .env of the app that signs in with it (for gatehouse: its
working directory, then start it with "gatehouse serve"):

%s
Ctrl-C stops the provider.
`, op.Issuer(), envBlock(op.Issuer(), secret, *redirectURI))
		<-ctx.Done()
		return nil
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
	op, secret, err := startDemoProvider(*opAddr, appBase, *redirectURI)
	if err != nil {
		ln.Close()
		return err
	}
	defer op.Close()
	cfg.Providers = []config.Provider{{
		ProviderConfig: sso.ProviderConfig{
			ID: "demo", Name: "Demo SSO", Issuer: op.Issuer(), ClientID: demoClientID, ClientSecret: secret,
			EmailDomains: []string{demoDomain},
			// Dana is an administrator through her group at the provider.
			AdminGroups: []string{demoAdminGroup},
		},
		Link: accounts.LinkPassword, AutoCreate: true,
	}}
	// Mail is captured, never sent, whatever the file says: the demo's
	// accounts are example.com addresses. The block is a valid one (a
	// folder in the throwaway directory) for the sender and the flows; the
	// capture delivers instead, so nothing is written there.
	cfg.Mail = &mail.Config{From: demoMailFrom, Dir: filepath.Join(dir, "mail")}
	if err := cfg.Finish(); err != nil {
		ln.Close()
		return err
	}
	captured := mail.NewMemoryTransport(0)
	a, err := app.New(ctx, cfg, app.Options{Listener: ln, Logger: newLogger(cfg, stderr), Stdout: stdout, Version: version, DemoMail: captured})
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
  Mail:           %s/demo/mail  (messages gatehouse sent: password resets, invitations)
  Administrator:  admin@example.com  password: %s
  Local account:  alice@example.com  password: %s
                  (sign in with SSO as Alice to see the "Link your account" page)

The same provider client as a .env block (what this gatehouse uses; for
an app of your own, run "gatehouse demo --provider-only" instead):

%s
`, cfg.Database, cfg.BaseURL, op.Issuer(), cfg.BaseURL, adminPW, alicePW, envBlock(op.Issuer(), secret, *redirectURI))
	return a.Run(ctx)
}

// The demo provider's one client and the email domain of its users, and
// the sender of the demo's (captured) mail.
const (
	demoClientID = "gatehouse-demo"
	demoDomain   = "example.com"
	demoMailFrom = "gatehouse demo <demo@gatehouse.localhost>"
)

// startDemoProvider starts the demo OpenID Provider on addr with its users
// and one client, with a fresh secret, for the app at appBase whose
// redirect URI is redirectURI.
func startDemoProvider(addr, appBase, redirectURI string) (*testop.Provider, string, error) {
	secret := randomWords()
	op, err := testop.Start(testop.Options{
		Addr: addr,
		Clients: []testop.Client{{
			ID: demoClientID, Secret: secret, Name: "gatehouse demo",
			RedirectURIs:           []string{redirectURI},
			PostLogoutRedirectURIs: []string{appBase + "/auth/logged-out"},
			BackchannelLogoutURI:   appBase + "/auth/backchannel-logout",
		}},
		Users: []testop.User{
			{Subject: "demo-alice", Email: "alice@example.com", Name: "Alice (has a local account: links by password)", EmailVerified: true, Extra: groups("staff")},
			{Subject: "demo-bob", Email: "bob@example.com", Name: "Bob (new: account created on first sign-in)", EmailVerified: true, Extra: groups("staff")},
			{Subject: "demo-dana", Email: "dana@example.com", Name: "Dana (in " + demoAdminGroup + ": an administrator from her first sign-in)", EmailVerified: true,
				Extra: groups("staff", demoAdminGroup)},
			{Subject: "demo-mallory", Email: "admin@example.com", Name: "Mallory (claims the admin's email, unverified)", EmailVerified: false, Extra: groups()},
		},
	})
	if err != nil {
		return nil, "", fmt.Errorf("start demo provider: %w", err)
	}
	return op, secret, nil
}

// demoAdminGroup is the demo provider's admin_groups.
const demoAdminGroup = "gatehouse-admins"

// groups is the groups claim of a demo user.
func groups(names ...string) map[string]any {
	return map[string]any{"groups": append([]string{}, names...)}
}

// envBlock is the .env text that points an app at the demo provider with
// the policy the demo itself uses, so an app configured from it alone
// behaves as the demo does.
func envBlock(issuer, secret, redirectURI string) string {
	return fmt.Sprintf(`# --- .env for the gatehouse demo provider ---
SSOJET_ISSUER_URL=%s
SSOJET_CLIENT_ID=%s
SSOJET_CLIENT_SECRET=%s
SSOJET_REDIRECT_URI=%s
SSOJET_EMAIL_DOMAINS=%s
SSOJET_AUTO_CREATE=true
SSOJET_LINK=%s
# --- end ---
`, issuer, demoClientID, secret, redirectURI, demoDomain, accounts.LinkPassword)
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
