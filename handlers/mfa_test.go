package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/models"
)

var (
	totpSecretRE   = regexp.MustCompile(`id="totp-secret" class="secret">([A-Z2-7 ]+)<`)
	recoveryCodeRE = regexp.MustCompile(`class="recovery-code">([a-z2-9-]+)<`)
)

// enrolTOTP sets up an authenticator app for the account b is signed in
// to, through the account page, and returns its secret and recovery codes.
func (e *env) enrolTOTP(t testing.TB, b *browser) (string, []string) {
	t.Helper()
	r := b.post(t, "/account/mfa/totp", nil).want(t, http.StatusOK, "")
	m := totpSecretRE.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no secret on the page:\n%s", r.body)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	r = b.post(t, "/account/mfa/totp/confirm", url.Values{"code": {e.totp(t, secret)}}).want(t, http.StatusOK, "")
	var codes []string
	for _, m := range recoveryCodeRE.FindAllStringSubmatch(r.body, -1) {
		codes = append(codes, m[1])
	}
	if len(codes) != mfa.RecoveryCodes {
		t.Fatalf("%d recovery codes shown:\n%s", len(codes), r.body)
	}
	return secret, codes
}

// totp is the code the app shows now, by the server's clock.
func (e *env) totp(t testing.TB, secret string) string {
	t.Helper()
	c, err := mfa.Code(secret, mfa.Step(e.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// passwordStep signs in with the password in a new browser and returns it
// at the second step.
func (e *env) passwordStep(t testing.TB, email, pw string) *browser {
	t.Helper()
	b := e.newBrowser()
	r := b.post(t, "/auth/login", loginForm(email, pw)).want(t, http.StatusSeeOther, "/auth/mfa")
	if r.cookie(e.cfg.CookieName()) != nil && r.cookie(e.cfg.CookieName()).MaxAge >= 0 && r.cookie(e.cfg.CookieName()).Value != "" {
		t.Fatalf("a session cookie before the second step: %+v", r.cookie(e.cfg.CookieName()))
	}
	return b
}

// TestTOTPSignIn: an authenticator app set up from the account page makes
// every password sign-in ask for a code; no session exists before it; a
// code works once; a recovery code works once and is told to the owner;
// the step expires.
func TestTOTPSignIn(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{mail: true})
	b := e.signedIn(t, alice, goodPW)
	b.page(t, "/account").want(t, http.StatusOK, "").has(t, "Set up an authenticator app")
	r := b.post(t, "/account/mfa/totp", nil).want(t, http.StatusOK, "").has(t, `id="totp-secret"`, `src="/account/mfa/totp/qr.png"`)
	secret := strings.ReplaceAll(totpSecretRE.FindStringSubmatch(r.body)[1], " ", "")
	qr := b.get(t, "/account/mfa/totp/qr.png").want(t, http.StatusOK, "")
	if qr.header.Get("Content-Type") != "image/png" || qr.header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(qr.body, "\x89PNG") {
		t.Fatalf("QR code: %v", qr.header)
	}
	// Until a code confirms it, nothing changes.
	e.newBrowser().post(t, "/auth/login", loginForm(alice, goodPW)).want(t, http.StatusSeeOther, "/dashboard")
	b.post(t, "/account/mfa/totp/confirm", url.Values{"code": {"000000"}}).want(t, http.StatusBadRequest, "").has(t, "not right", `id="totp-secret"`)
	enrolCode := e.totp(t, secret)
	r = b.post(t, "/account/mfa/totp/confirm", url.Values{"code": {enrolCode}}).want(t, http.StatusOK, "").has(t, "Download as a text file", "data:text/plain")
	codes := recoveryCodeRE.FindAllStringSubmatch(r.body, -1)
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes", len(codes))
	}
	b.page(t, "/account").has(t, "10 of 10 recovery codes left")

	// The password alone gets a step, not a session; its cookie is useless.
	p := e.passwordStep(t, alice, goodPW)
	p.get(t, "/dashboard").want(t, http.StatusSeeOther, "")
	p.get(t, "/auth/mfa").want(t, http.StatusOK, "").has(t, alice, `name="code"`)
	// The code that confirmed the app was used already.
	p.post(t, "/auth/mfa", url.Values{"code": {enrolCode}}).want(t, http.StatusBadRequest, "").has(t, "used already")
	p.post(t, "/auth/mfa", url.Values{"code": {"123456"}}).want(t, http.StatusBadRequest, "").has(t, "not right")
	e.clock.Advance(30 * time.Second)
	p.post(t, "/auth/mfa", url.Values{"code": {e.totp(t, secret)}}).want(t, http.StatusSeeOther, "/dashboard")
	p.get(t, "/dashboard").want(t, http.StatusOK, "")
	p.get(t, "/auth/mfa").want(t, http.StatusSeeOther, "/login?error=mfa_expired") // done: it works once

	// A recovery code, typed any way, works once and is told.
	q := e.passwordStep(t, alice, goodPW)
	rc := codes[3][1]
	before := e.told(t, alice)
	q.post(t, "/auth/mfa", url.Values{"code": {strings.ToUpper(strings.ReplaceAll(rc, "-", " "))}}).want(t, http.StatusSeeOther, "/dashboard")
	if e.told(t, alice) != before+1 {
		t.Fatalf("no notice of the recovery code: %q", e.subjects(t, alice))
	}
	e.passwordStep(t, alice, goodPW).post(t, "/auth/mfa", url.Values{"code": {rc}}).want(t, http.StatusBadRequest, "")
	b.page(t, "/account").has(t, "9 of 10 recovery codes left")

	// The step lasts five minutes.
	s := e.passwordStep(t, alice, goodPW)
	e.clock.Advance(accounts.PendingMFATTL)
	s.post(t, "/auth/mfa", url.Values{"code": {e.totp(t, secret)}}).want(t, http.StatusSeeOther, "/login?error=mfa_expired")

	for event, want := range map[string]float64{"enrolled": 1, "recovery_used": 1, "failure": 3, "accepted": 2} {
		if got := e.metric(t, `gatehouse_mfa_events_total{event="`+event+`"}`); got != want {
			t.Errorf("gatehouse_mfa_events_total{event=%q} = %v, want %v", event, got, want)
		}
	}
	e.wantEvents(t, models.EventMFAEnrolled, 1)
	e.wantEvents(t, models.EventMFARecoveryUsed, 1)
	e.wantEvents(t, models.EventMFAFailure, 3)
	e.noServerErrors(t)
}

// TestTOTPThrottled: wrong codes count like wrong passwords, on the same
// counters, up to 429 with Retry-After; a right code then waits too.
func TestTOTPThrottled(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{mail: true, throttle: true})
	secret, _ := e.enrolTOTP(t, e.signedIn(t, alice, goodPW))
	p := e.passwordStep(t, alice, goodPW)
	var throttled *response
	for range 12 {
		r := p.post(t, "/auth/mfa", url.Values{"code": {"000001"}})
		if r.status == http.StatusTooManyRequests {
			throttled = r
			break
		}
		r.want(t, http.StatusBadRequest, "")
	}
	if throttled == nil || throttled.header.Get("Retry-After") == "" {
		t.Fatal("wrong codes were never throttled")
	}
	// A right code (the next step's, within the skew) waits too.
	next, err := mfa.Code(secret, mfa.Step(e.clock.Now())+1)
	if err != nil {
		t.Fatal(err)
	}
	p.post(t, "/auth/mfa", url.Values{"code": {next}}).want(t, http.StatusTooManyRequests, "")
}

// told counts the messages to addr about two-factor sign-in.
func (e *env) told(t testing.TB, addr string) int {
	t.Helper()
	n := 0
	for _, s := range e.subjects(t, addr) {
		if strings.HasPrefix(s, "Two-factor") {
			n++
		}
	}
	return n
}

// TestMFARemoveAndReset: the owner turns two-factor off from the account
// page (sudo); an administrator resets it (sudo, sessions end, the owner
// is told); the command line does the same.
func TestMFARemoveAndReset(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{mail: true})
	b := e.signedIn(t, alice, goodPW)
	e.enrolTOTP(t, b)
	e.clock.Advance(11 * time.Minute)
	r := b.post(t, "/account/mfa/remove", nil).want(t, http.StatusSeeOther, "")
	if !strings.HasPrefix(r.loc, "/auth/reauth") {
		t.Fatalf("outside sudo mode: %q", r.loc)
	}
	e.passwordStep(t, alice, goodPW) // still on
	fresh := e.signedInMFA(t, alice, goodPW)
	// A recent sign-in is not enough: a current code is asked for.
	fresh.post(t, "/account/mfa/remove", nil).want(t, http.StatusBadRequest, "").has(t, "Enter a current code")
	fresh.post(t, "/account/mfa/remove", url.Values{"code": {"000000"}}).want(t, http.StatusBadRequest, "").has(t, "not right")
	fresh.post(t, "/account/mfa/recovery", url.Values{"code": {"000000"}}).want(t, http.StatusBadRequest, "")
	e.passwordStep(t, alice, goodPW) // still on
	e.clock.Advance(30 * time.Second)
	fresh.post(t, "/account/mfa/remove", url.Values{"code": {e.totp(t, e.totpSecretOf(t, alice))}}).want(t, http.StatusSeeOther, "/account?notice=mfa_removed")
	e.newBrowser().post(t, "/auth/login", loginForm(alice, goodPW)).want(t, http.StatusSeeOther, "/dashboard")

	// An administrator's reset.
	e.enrolTOTP(t, e.signedIn(t, bob, goodPW))
	bobSession := e.signedInMFA(t, bob, goodPW)
	admin := e.signedIn(t, rootAdmin, goodPW)
	page := "/admin/users/" + strconv.FormatInt(e.user(t, bob).ID, 10)
	admin.page(t, page).has(t, "Authenticator app since", "Reset two-factor")
	admin.page(t, "/admin/users?mfa=yes").has(t, bob).lacks(t, alice)
	before := e.told(t, bob)
	admin.post(t, page+"/mfa/reset", nil).want(t, http.StatusSeeOther, page+"?done=mfa_reset")
	bobSession.get(t, "/dashboard").want(t, http.StatusSeeOther, "")
	e.newBrowser().post(t, "/auth/login", loginForm(bob, goodPW)).want(t, http.StatusSeeOther, "/dashboard")
	if e.told(t, bob) != before+1 {
		t.Fatalf("bob was not told: %q", e.subjects(t, bob))
	}
	ev := e.events(t, models.EventMFARemoved)
	if len(ev) != 2 {
		t.Fatalf("%d mfa.removed events", len(ev))
	}
}

// signedInMFA signs in with the password and the app's next code.
func (e *env) signedInMFA(t testing.TB, email, pw string) *browser {
	t.Helper()
	secret := e.totpSecretOf(t, email)
	p := e.passwordStep(t, email, pw)
	e.clock.Advance(30 * time.Second) // a step no code of the test used
	p.post(t, "/auth/mfa", url.Values{"code": {e.totp(t, secret)}}).want(t, http.StatusSeeOther, "/dashboard")
	return p
}

// totpSecretOf opens the stored secret of the account's app, as the
// server does.
func (e *env) totpSecretOf(t testing.TB, email string) string {
	t.Helper()
	u := e.user(t, email)
	f, err := e.db.TOTPFactorOf(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := e.app.Accounts.Secrets.Open(f.Secret, []byte("totp:"+strconv.FormatInt(u.ID, 10)))
	if err != nil {
		t.Fatal(err)
	}
	k, err := mfa.KeyFromURL(string(plain))
	if err != nil {
		t.Fatal(err)
	}
	return k.Secret
}

// TestMFASecretSealed: the database holds the app's secret only sealed.
func TestMFASecretSealed(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{})
	secret, codes := e.enrolTOTP(t, e.signedIn(t, alice, goodPW))
	raw := rawSQL(t, e.dbPath)
	var sealed []byte
	if err := raw.QueryRow(`SELECT secret FROM totp_factors`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), secret) || strings.Contains(strings.ToUpper(string(sealed)), secret[:8]) {
		t.Fatal("the secret is stored in clear")
	}
	var n int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM recovery_codes WHERE code_hash = $1`, codes[0]).Scan(&n); err != nil || n != 0 {
		t.Fatalf("a recovery code is stored in clear (%v)", err)
	}
	if logs := e.logs.String(); strings.Contains(logs, secret) || strings.Contains(logs, codes[0]) {
		t.Fatal("the log holds a secret or a recovery code")
	}
}

// FuzzSecondStep posts any code to a sign-in's second step: it never
// errors on the server, and only the app's code of the moment (or an
// unused recovery code) signs in.
func FuzzSecondStep(f *testing.F) {
	for _, s := range []string{"", "000000", "123 456", "abcde-fghjk", "ABCDE FGHJK", strings.Repeat("9", 65), "12345\x00", "١٢٣٤٥٦", "\xff\xfe", "<script>", "%00"} {
		f.Add(s)
	}
	e := newMailEnv(f, mailEnvOpts{})
	secret, codes := e.enrolTOTP(f, e.signedIn(f, alice, goodPW))
	recovery := map[string]bool{}
	for _, c := range codes {
		recovery[mfa.NormalizeRecoveryCode(c)] = true
	}
	f.Fuzz(func(t *testing.T, code string) {
		p := e.newBrowser()
		if r, err := p.send(req{method: http.MethodPost, path: "/auth/login", form: loginForm(alice, goodPW)}); err != nil || r.loc != "/auth/mfa" {
			t.Fatalf("password step: %v %+v", err, r)
		}
		r, err := p.send(req{method: http.MethodPost, path: "/auth/mfa", form: url.Values{"code": {code}}})
		if err != nil {
			t.Fatal(err)
		}
		if logs := e.logs.Drain(); fuzzLogErrorRE.MatchString(logs) {
			t.Fatalf("server logged an error: %s", fuzzLogErrorRE.FindString(logs))
		}
		if r.status >= 500 {
			t.Fatalf("status %d", r.status)
		}
		if r.status == http.StatusSeeOther && r.loc != "/login?error=mfa_expired" {
			right, _ := mfa.Code(secret, mfa.Step(e.clock.Now()))
			if strings.ReplaceAll(code, " ", "") != right && !recovery[mfa.NormalizeRecoveryCode(code)] {
				t.Fatalf("code %q signed in (%s)", code, r.loc)
			}
		}
	})
}

// TestCodeCounterSurvivesPassword: signing in again with the right
// password does not clear the account's count of wrong codes, so whoever
// has the password cannot guess codes without end.
func TestCodeCounterSurvivesPassword(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{mail: true, throttle: true})
	e.enrolTOTP(t, e.signedIn(t, alice, goodPW))
	for i := range 8 {
		r := e.passwordStep(t, alice, goodPW).post(t, "/auth/mfa", url.Values{"code": {"000001"}})
		if r.status == http.StatusTooManyRequests {
			if !strings.Contains(r.body, "Too many wrong codes") || r.header.Get("Retry-After") == "" {
				t.Fatalf("429 from another limit: %s", r.text())
			}
			if i < 5 {
				t.Fatalf("held back after %d wrong codes", i)
			}
			return
		}
		r.want(t, http.StatusBadRequest, "")
	}
	t.Fatal("wrong codes, each after a right password, were never held back")
}

// TestTOTPSetupExpires: a key left waiting for its first code works for
// TOTPSetupTTL only.
func TestTOTPSetupExpires(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{})
	b := e.signedIn(t, alice, goodPW)
	r := b.post(t, "/account/mfa/totp", nil).want(t, http.StatusOK, "")
	secret := strings.ReplaceAll(totpSecretRE.FindStringSubmatch(r.body)[1], " ", "")
	e.clock.Advance(accounts.TOTPSetupTTL)
	e.signedIn(t, alice, goodPW) // a fresh sign-in elsewhere changes nothing
	b2 := e.signedIn(t, alice, goodPW)
	b2.post(t, "/account/mfa/totp/confirm", url.Values{"code": {e.totp(t, secret)}}).want(t, http.StatusSeeOther, "/account")
	b2.get(t, "/account/mfa/totp").want(t, http.StatusSeeOther, "/account")
	e.newBrowser().post(t, "/auth/login", loginForm(alice, goodPW)).want(t, http.StatusSeeOther, "/dashboard")
}

// TestInviteAccountWithMFA: accepting an invitation to an account with a
// second factor sets the password but does not sign in with it alone.
func TestInviteAccountWithMFA(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newMailEnv(t, mailEnvOpts{})
	e.enrolTOTP(t, e.signedIn(t, alice, goodPW))
	u := e.user(t, alice)
	if err := e.app.Accounts.RemovePassword(ctx, u.ID, "by an administrator"); err != nil {
		t.Fatal(err)
	}
	inv, err := e.app.Accounts.Reinvite(ctx, u.ID, "Root", false)
	if err != nil {
		t.Fatal(err)
	}
	p := e.newBrowser()
	p.post(t, "/auth/invite", acceptForm(tokenOf(t, inv.Link), newPW, newPW)).want(t, http.StatusSeeOther, "/login?notice=password_set")
	p.get(t, "/dashboard").want(t, http.StatusSeeOther, "")
	e.passwordStep(t, alice, newPW)
}
