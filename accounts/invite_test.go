package accounts_test

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	gomail "net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/models"
)

// withMail gives the env's service mail (written to a folder) and the
// pages its links open.
func (e *ssoEnv) withMail(t *testing.T) {
	t.Helper()
	m, err := mail.New(mail.Config{From: "gatehouse <no-reply@example.com>", Dir: t.TempDir()}, mail.Options{Now: e.db.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Mail = &accounts.Mail{Mailer: m, Site: "gatehouse"}
	e.svc.URLs = accounts.URLs{Reset: "https://gh.example/auth/reset", Invite: "https://gh.example/auth/invite", Verify: "https://gh.example/auth/verify"}
}

func linkToken(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

// race runs f n times at once and returns how many returned nil; every
// other error must match want.
func race(t *testing.T, n int, want error, f func(i int) error) int {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = f(i) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, want):
			t.Errorf("got %v, want nil or %v", err, want)
		}
	}
	return ok
}

// TestAcceptInvitationOnce: of concurrent uses of one invitation link
// exactly one sets the password; the others change nothing.
func TestAcceptInvitationOnce(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t)
	e.withMail(t)
	ctx := t.Context()
	inv, err := e.svc.Invite(ctx, accounts.NewUser{Email: "nia@example.com"}, "Root", true)
	if err != nil {
		t.Fatal(err)
	}
	if !inv.Sent {
		t.Fatal("not sent with mail on")
	}
	tok := linkToken(t, inv.Link)
	pws := []string{"first passphrase 1", "second passphrase 2", "third passphrase 3", "fourth passphrase 4"}
	if ok := race(t, len(pws), accounts.ErrInviteInvalid, func(i int) error {
		_, err := e.svc.AcceptInvitation(ctx, tok, pws[i])
		return err
	}); ok != 1 {
		t.Fatalf("%d uses succeeded, want 1", ok)
	}
	u, err := e.db.UserByEmail(ctx, "nia@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !u.HasPassword() || !u.EmailVerified() {
		t.Fatalf("after accepting: %+v", u)
	}
	matched := 0
	for _, pw := range pws {
		if _, err := e.svc.Authenticate(ctx, u.Email, pw); err == nil {
			matched++
		}
	}
	if matched != 1 {
		t.Fatalf("%d of the passwords work, want 1", matched)
	}
}

// TestConfirmEmailOnce: of concurrent uses of one confirmation link
// exactly one moves the account, and the old address is told once.
func TestConfirmEmailOnce(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t)
	e.withMail(t)
	ctx := t.Context()
	u := e.user(t, ssoEmail, ssoWithPassword)
	if _, err := e.svc.RequestEmailChange(ctx, u, "alice.new@example.com"); err != nil {
		t.Fatal(err)
	}
	link := lastLink(t, e, "alice.new@example.com")
	if ok := race(t, 4, accounts.ErrVerifyInvalid, func(int) error {
		_, err := e.svc.ConfirmEmail(ctx, linkToken(t, link))
		return err
	}); ok != 1 {
		t.Fatalf("%d uses succeeded, want 1", ok)
	}
	after, err := e.db.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Email != "alice.new@example.com" || !after.EmailVerified() {
		t.Fatalf("after confirming: %+v", after)
	}
	if n := countOutbox(t, e, ssoEmail); n != 1 {
		t.Fatalf("%d notices to the old address, want 1", n)
	}
}

// lastLink is the link in the newest outbox message to addr.
func lastLink(t *testing.T, e *ssoEnv, addr string) string {
	t.Helper()
	var body string
	if err := e.raw.QueryRowContext(t.Context(), `SELECT body FROM mail_outbox WHERE recipient = $1 ORDER BY id DESC LIMIT 1`, addr).Scan(&body); err != nil {
		t.Fatalf("no message to %s: %v", addr, err)
	}
	msg, err := gomail.ReadMessage(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	part, err := multipart.NewReader(msg.Body, params["boundary"]).NextPart() // the text, decoded
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(part)
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`https://gh\.example/\S+`).FindString(string(text))
	if link == "" {
		t.Fatalf("no link in:\n%s", text)
	}
	return link
}

func countOutbox(t *testing.T, e *ssoEnv, addr string) int {
	t.Helper()
	var n int
	if err := e.raw.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM mail_outbox WHERE recipient = $1`, addr).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSSOSignInEndsInvitation: an invited person who signs in through the
// provider trusted for their address is linked, their address counts as
// verified, and the invitation link stops working; an account created
// just in time is verified only when the provider vouches for the address.
func TestSSOSignInEndsInvitation(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t)
	ctx := t.Context()
	e.withMail(t)
	inv, err := e.svc.Invite(ctx, accounts.NewUser{Email: ssoEmail}, "Root", false)
	if err != nil {
		t.Fatal(err)
	}
	p := accounts.SSOPolicy{Link: accounts.LinkVerifiedEmail, Authoritative: ssoAuthoritative(t, []string{"example.com"}), AutoCreate: true}
	res, err := e.resolve(ctx, p, ssoNewIdentity(ssoIdPEmail, true))
	if err != nil || res.Outcome != accounts.OutcomeSignIn || !res.Linked {
		t.Fatalf("resolve: %+v, %v", res, err)
	}
	if _, err := e.db.EmailLinkOf(ctx, inv.User.ID, models.LinkInvite); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("the invitation is still open: %v", err)
	}
	if _, err := e.svc.InvitedUser(ctx, linkToken(t, inv.Link)); !errors.Is(err, accounts.ErrInviteInvalid) {
		t.Fatalf("the invitation link still works: %v", err)
	}
	u, err := e.db.UserByID(ctx, inv.User.ID)
	if err != nil || !u.EmailVerified() {
		t.Fatalf("after linking: %+v, %v", u, err)
	}

	for _, tc := range []struct {
		email    string
		verified bool
	}{{"jit.trusted@example.com", true}, {"jit.unverified@example.com", false}} {
		id := ssoNewIdentity(tc.email, tc.verified)
		id.Subject = "subject-" + tc.email
		res, err := e.resolve(ctx, p, id)
		if err != nil || !res.Created {
			t.Fatalf("%s: %+v, %v", tc.email, res, err)
		}
		if res.User.ID == 0 {
			t.Fatal("no account")
		}
		u, err := e.db.UserByID(ctx, res.User.ID)
		if err != nil || u.EmailVerified() != tc.verified {
			t.Errorf("%s: verified %v, want %v (%v)", tc.email, u.EmailVerified(), tc.verified, err)
		}
	}
}
