package handlers_test

// Passkeys end to end, with a software authenticator (testkit.Passkey)
// instead of a browser: registering one on the account page, signing in
// with it alone, giving it as the second step, as the factor a session
// owes and to re-authenticate, removing it; and every response a relying
// party must refuse, each refused with a 4xx page and no session.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/testkit"
)

const (
	passkeyRefusedMsg = "That passkey could not be used."
	passkeyExpiredMsg = "The passkey prompt expired."
	// browserCookieName binds ceremonies to a browser (http base_url).
	browserCookieName = "gatehouse_sso"
)

// newPasskeyEnv is newMailEnv at base_url http://localhost:PORT, where
// passkeys are on (RP ID "localhost").
func newPasskeyEnv(t testing.TB, o mailEnvOpts) *env {
	t.Helper()
	o.localhost = true
	e := newMailEnv(t, o)
	if !e.app.Accounts.PasskeysOn() {
		t.Fatalf("passkeys are off at base_url %s", e.cfg.BaseURL)
	}
	return e
}

// newPasskey is a new software passkey for this gatehouse: RP ID
// localhost, used from pages at base_url.
func (e *env) newPasskey(t testing.TB) *testkit.Passkey {
	t.Helper()
	return testkit.NewPasskey(t, "localhost", e.cfg.BaseURL)
}

// passkeyOptions posts form to a ceremony's options address and returns
// the JSON options, as passkey.js fetches them.
func (b *browser) passkeyOptions(t testing.TB, path string, form url.Values) []byte {
	t.Helper()
	r := b.post(t, path, form).want(t, http.StatusOK, "")
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%s: Content-Type %q, Cache-Control %q", path, ct, r.header.Get("Cache-Control"))
	}
	return []byte(r.body)
}

// postCredential posts the browser's answer as passkey.js does: the form
// field credential (and next, when not empty).
func (b *browser) postCredential(t testing.TB, path string, cred []byte, next string) *response {
	t.Helper()
	form := url.Values{"credential": {string(cred)}}
	if next != "" {
		form.Set("next", next)
	}
	return b.post(t, path, form)
}

// registerPasskey adds pk, named name, to the account b is signed in to
// and returns the answer to the finish.
func registerPasskey(t testing.TB, b *browser, pk *testkit.Passkey, name string, tm testkit.Tamper) *response {
	t.Helper()
	opts := b.passkeyOptions(t, "/account/passkeys/options", url.Values{"name": {name}})
	return b.postCredential(t, "/account/passkeys", pk.Create(t, opts, tm), "")
}

// enrolPasskey adds the account's first second factor, a passkey, and
// returns the recovery codes shown with it.
func enrolPasskey(t testing.TB, b *browser, pk *testkit.Passkey, name string) []string {
	t.Helper()
	r := registerPasskey(t, b, pk, name, testkit.Tamper{}).want(t, http.StatusOK, "")
	var codes []string
	for _, m := range recoveryCodeRE.FindAllStringSubmatch(r.body, -1) {
		codes = append(codes, m[1])
	}
	if len(codes) != mfa.RecoveryCodes {
		t.Fatalf("%d recovery codes shown with the first passkey:\n%s", len(codes), r.body)
	}
	return codes
}

// passkeySignIn signs in with pk alone in a new browser (answering as tm
// says) and returns the browser and the answer to the finish.
func (e *env) passkeySignIn(t testing.TB, pk *testkit.Passkey, tm testkit.Tamper, next string) (*browser, *response) {
	t.Helper()
	b := e.newBrowser()
	opts := b.passkeyOptions(t, "/auth/passkey/options", nil)
	return b, b.postCredential(t, "/auth/passkey", pk.Get(t, opts, tm), next)
}

// sessionOf is the stored session of b's cookie, nil when none.
func (e *env) sessionOf(t *testing.T, b *browser) *models.Session {
	t.Helper()
	v := b.cookie(e.cfg.CookieName())
	if v == "" {
		return nil
	}
	return e.sessionRow(t, v)
}

// wantSignedInAs fails unless b's session is email's, signed in by
// method with the second factor mfa.
func (e *env) wantSignedInAs(t *testing.T, b *browser, email string, method models.Method, factor models.Factor) {
	t.Helper()
	b.get(t, "/dashboard").want(t, http.StatusOK, "").has(t, `id="user-email">`+email+`<`)
	row := e.sessionOf(t, b)
	if row == nil || row.UserID == nil || *row.UserID != e.user(t, email).ID || row.AuthMethod != method || row.MFA != factor {
		t.Fatalf("session %+v, want %s by %s with factor %q", row, email, method, factor)
	}
}

// wantNoSession fails unless r is a 4xx page and b is signed in to no
// account.
func (e *env) wantNoSession(t *testing.T, b *browser, r *response) {
	t.Helper()
	if r.status < 400 || r.status >= 500 {
		t.Fatalf("got %d (Location %q), want a 4xx page:\n%s", r.status, r.loc, r.text())
	}
	if row := e.sessionOf(t, b); row != nil && row.UserID != nil {
		t.Fatalf("a signed-in session after the refusal: %+v", row)
	}
	b.get(t, "/dashboard").want(t, http.StatusSeeOther, "")
}

// setBrowserCookie gives b the ceremony-binding cookie value, as if it
// were the browser that holds it.
func (e *env) setBrowserCookie(b *browser, value string) {
	u, _ := url.Parse(e.base)
	b.jar.SetCookies(u, []*http.Cookie{{Name: browserCookieName, Value: value, Path: "/"}})
}

// passkeysOf is the account's stored passkeys.
func (e *env) passkeysOf(t testing.TB, email string) []models.Passkey {
	t.Helper()
	ps, err := e.db.PasskeysOf(context.Background(), e.user(t, email).ID)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// recoveryLeft counts the account's unused recovery codes.
func (e *env) recoveryLeft(t testing.TB, email string) int64 {
	t.Helper()
	n, err := e.db.RecoveryCodesLeft(context.Background(), e.user(t, email).ID)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPasskeyRegister: the first passkey added on the account page comes
// with ten recovery codes, is audited, told, listed, and makes password
// sign-ins ask for a second step; a second passkey comes without codes;
// a response the rules refuse stores nothing.
func TestPasskeyRegister(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, mailEnvOpts{mail: true})
	b := e.signedIn(t, alice, goodPW)
	b.page(t, "/account").want(t, http.StatusOK, "").has(t, `id="passkeys-none"`, `data-options="/account/passkeys/options"`)

	// Refused registrations store nothing and say why.
	bad := e.newPasskey(t)
	for _, c := range []struct {
		name string
		tm   testkit.Tamper
		msg  string
	}{
		{"wrong origin", testkit.Tamper{Origin: "http://localhost.example.net"}, passkeyRefusedMsg},
		{"another site's RP ID", testkit.Tamper{RPID: "example.com"}, passkeyRefusedMsg},
		{"an assertion's type", testkit.Tamper{Type: "webauthn.get"}, passkeyRefusedMsg},
		{"a challenge never given", testkit.Tamper{Challenge: base64.RawURLEncoding.EncodeToString(make([]byte, 32))}, passkeyExpiredMsg},
	} {
		registerPasskey(t, b, bad, "Bad", c.tm).want(t, http.StatusBadRequest, "").has(t, c.msg)
	}
	// Begun in this browser, finished in another (signed in to the same
	// account).
	other := e.signedIn(t, alice, goodPW)
	opts := b.passkeyOptions(t, "/account/passkeys/options", url.Values{"name": {"Bad"}})
	other.postCredential(t, "/account/passkeys", bad.Create(t, opts, testkit.Tamper{}), "").want(t, http.StatusBadRequest, "").has(t, passkeyExpiredMsg)
	// Begun for alice, finished by bob in the same browser... is another
	// account's prompt: bob signs in in a browser holding alice's cookie.
	opts = b.passkeyOptions(t, "/account/passkeys/options", url.Values{"name": {"Bad"}})
	bobB := e.signedIn(t, bob, goodPW)
	e.setBrowserCookie(bobB, b.cookie(browserCookieName))
	bobB.postCredential(t, "/account/passkeys", bad.Create(t, opts, testkit.Tamper{}), "").want(t, http.StatusBadRequest, "").has(t, passkeyExpiredMsg)
	// A name that is not one line of at most 64 characters.
	for _, name := range []string{strings.Repeat("x", 65), "two\nlines"} {
		r := b.post(t, "/account/passkeys/options", url.Values{"name": {name}}).want(t, http.StatusBadRequest, "")
		if !strings.Contains(r.body, `"error"`) {
			t.Fatalf("refused options are not JSON {error}: %s", r.body)
		}
	}
	if ps := e.passkeysOf(t, alice); len(ps) != 0 || len(e.passkeysOf(t, bob)) != 0 {
		t.Fatalf("refused registrations stored %d passkeys", len(ps))
	}
	e.newBrowser().post(t, "/auth/login", loginForm(alice, goodPW)).want(t, http.StatusSeeOther, "/dashboard")

	// The first one.
	before := e.told(t, alice)
	pk := e.newPasskey(t)
	enrolPasskey(t, b, pk, "Work laptop")
	e.wantEvents(t, models.EventMFAEnrolled, 1)
	if e.told(t, alice) != before+1 {
		t.Fatalf("alice was not told of the passkey: %q", e.subjects(t, alice))
	}
	b.page(t, "/account").has(t, "Work laptop", `id="passkey-list"`, "10 of 10 recovery codes left").lacks(t, `id="passkeys-none"`)
	ps := e.passkeysOf(t, alice)
	if len(ps) != 1 || string(ps[0].CredentialID) != string(pk.ID) || string(ps[0].UserHandle) != string(pk.UserHandle) || ps[0].Name != "Work laptop" {
		t.Fatalf("stored passkeys %+v", ps)
	}
	if len(pk.UserHandle) < 16 {
		t.Fatalf("user handle %x: too short to be random", pk.UserHandle)
	}
	// The session that made it counts it as its second factor.
	e.wantSignedInAs(t, b, alice, models.MethodPassword, models.FactorPasskey)
	// Password sign-ins now take a second step.
	e.passwordStep(t, alice, goodPW).get(t, "/auth/mfa").want(t, http.StatusOK, "").has(t, `id="passkey-second"`)

	// The same credential again is refused; a second one comes without
	// new codes and carries the account's user handle.
	registerPasskey(t, b, pk, "Again", testkit.Tamper{}).want(t, http.StatusConflict, "").has(t, "registered already")
	pk2 := e.newPasskey(t)
	registerPasskey(t, b, pk2, "", testkit.Tamper{}).want(t, http.StatusSeeOther, "/account?notice=passkey_added#passkeys")
	if string(pk2.UserHandle) != string(pk.UserHandle) {
		t.Fatal("the second passkey got another user handle")
	}
	b.page(t, "/account").has(t, "Work laptop", ">Passkey<", "10 of 10 recovery codes left")
	e.wantEvents(t, models.EventMFAEnrolled, 2)
	// Another account's options exclude nothing of alice's, and alice's
	// exclude hers.
	var creation struct {
		PublicKey struct {
			Exclude []struct{ ID string } `json:"excludeCredentials"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(b.passkeyOptions(t, "/account/passkeys/options", nil), &creation); err != nil || len(creation.PublicKey.Exclude) != 2 {
		t.Fatalf("alice's registration options exclude %+v (%v)", creation.PublicKey.Exclude, err)
	}
	e.noServerErrors(t)
}

// TestPasskeySignIn: a registered passkey signs in alone, to next, with a
// session whose method and factor are the passkey; a synced passkey
// (counter always 0) signs in again and again.
func TestPasskeySignIn(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, mailEnvOpts{})
	login := e.newBrowser().get(t, "/login").want(t, http.StatusOK, "")
	login.has(t, `id="passkey-signin"`, `data-options="/auth/passkey/options"`, `autocomplete="username webauthn"`)

	pk := e.newPasskey(t)
	enrolPasskey(t, e.signedIn(t, alice, goodPW), pk, "Laptop")
	b, r := e.passkeySignIn(t, pk, testkit.Tamper{}, "")
	r.want(t, http.StatusSeeOther, "/dashboard")
	e.wantSignedInAs(t, b, alice, models.MethodPasskey, models.FactorPasskey)
	b, r = e.passkeySignIn(t, pk, testkit.Tamper{}, "/account")
	r.want(t, http.StatusSeeOther, "/account")
	b.get(t, "/account").want(t, http.StatusOK, "").has(t, "Laptop")
	// An unsafe next is dropped.
	_, r = e.passkeySignIn(t, pk, testkit.Tamper{}, "https://evil.example/")
	r.want(t, http.StatusSeeOther, "/dashboard")
	ps := e.passkeysOf(t, alice)
	if ps[0].SignCount != int64(pk.SignCount) || ps[0].LastUsedAt == nil {
		t.Fatalf("stored counter %d (last used %v), the authenticator's %d", ps[0].SignCount, ps[0].LastUsedAt, pk.SignCount)
	}

	// Bob's passkey is synced: no counter, backup flags set.
	sy := e.newPasskey(t)
	sy.Synced = true
	enrolPasskey(t, e.signedIn(t, bob, goodPW), sy, "Phone")
	for range 3 {
		b, r := e.passkeySignIn(t, sy, testkit.Tamper{}, "")
		r.want(t, http.StatusSeeOther, "/dashboard")
		e.wantSignedInAs(t, b, bob, models.MethodPasskey, models.FactorPasskey)
	}
	var passkeyLogins int
	for _, ev := range e.events(t, models.EventLoginSuccess) {
		if ev.Method == models.MethodPasskey {
			passkeyLogins++
		}
	}
	if passkeyLogins != 6 {
		t.Errorf("%d login.success events by passkey, want 6", passkeyLogins)
	}
	e.noServerErrors(t)
}

// TestPasskeySignInRefused: every response a passwordless sign-in must
// refuse gets a 4xx page and no session, and refusing it changes nothing
// stored: the passkey signs in afterwards.
func TestPasskeySignInRefused(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, mailEnvOpts{})
	pk := e.newPasskey(t)
	enrolPasskey(t, e.signedIn(t, alice, goodPW), pk, "Laptop")
	pkOther := e.newPasskey(t) // alice's second passkey
	registerPasskey(t, e.signedInPasskeyStep(t, alice, pk), pkOther, "Other", testkit.Tamper{}).want(t, http.StatusSeeOther, "/account?notice=passkey_added#passkeys")
	bobPK := e.newPasskey(t)
	enrolPasskey(t, e.signedIn(t, bob, goodPW), bobPK, "Bob's")
	const dave = "dave@example.com"
	e.createUser(t, dave, goodPW, false)
	davePK := e.newPasskey(t)
	enrolPasskey(t, e.signedIn(t, dave, goodPW), davePK, "Dave's")
	if err := e.db.SetDisabled(context.Background(), e.user(t, dave).ID, true); err != nil {
		t.Fatal(err)
	}
	// Two good sign-ins, so the counter has room to go back.
	for range 2 {
		_, r := e.passkeySignIn(t, pk, testkit.Tamper{}, "")
		r.want(t, http.StatusSeeOther, "/dashboard")
	}
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	stranger := e.newPasskey(t) // never registered
	stranger.UserHandle = pk.UserHandle
	randomHandle := make([]byte, 32)
	rand.Read(randomHandle)
	noHandle := []byte{}

	// stored is the counter stored for pk: the authenticator's own has
	// moved on with every answer, refused or not, as a real one's does.
	stored := func(t *testing.T) uint32 {
		t.Helper()
		for _, p := range e.passkeysOf(t, alice) {
			if string(p.CredentialID) == string(pk.ID) {
				if p.SignCount < 2 {
					t.Fatalf("stored counter %d: no room to go back", p.SignCount)
				}
				return uint32(p.SignCount)
			}
		}
		t.Fatal("alice's passkey is gone")
		return 0
	}
	// answer: a new browser begins a sign-in and finishes it with pk's
	// answer made as tm says.
	answer := func(pk *testkit.Passkey, tm testkit.Tamper) func(t *testing.T) (*browser, *response) {
		return func(t *testing.T) (*browser, *response) { return e.passkeySignIn(t, pk, tm, "") }
	}
	cases := []struct {
		name string
		try  func(t *testing.T) (*browser, *response)
		msg  string // on the page
	}{
		{"wrong origin", answer(pk, testkit.Tamper{Origin: "http://evil.example"}), passkeyRefusedMsg},
		{"origin on another port", answer(pk, testkit.Tamper{Origin: "http://localhost:1"}), passkeyRefusedMsg},
		{"origin at the IP address", answer(pk, testkit.Tamper{Origin: e.base}), passkeyRefusedMsg},
		{"user not verified", answer(pk, testkit.Tamper{NoUV: true}), passkeyRefusedMsg},
		{"a registration's type", answer(pk, testkit.Tamper{Type: "webauthn.create"}), passkeyRefusedMsg},
		{"another site's RP ID", answer(pk, testkit.Tamper{RPID: "example.com"}), passkeyRefusedMsg},
		{"signed by another key", answer(pk, testkit.Tamper{SignWith: otherKey}), passkeyRefusedMsg},
		{"another passkey's credential ID", answer(pk, testkit.Tamper{ID: pkOther.ID}), passkeyRefusedMsg},
		{"unknown credential ID", answer(stranger, testkit.Tamper{}), passkeyRefusedMsg},
		{"another account's user handle", answer(pk, testkit.Tamper{Handle: &bobPK.UserHandle}), passkeyRefusedMsg},
		{"a random user handle", answer(pk, testkit.Tamper{Handle: &randomHandle}), passkeyRefusedMsg},
		{"no user handle", answer(pk, testkit.Tamper{Handle: &noHandle}), passkeyRefusedMsg},
		{"counter same as stored", func(t *testing.T) (*browser, *response) {
			n := stored(t)
			return e.passkeySignIn(t, pk, testkit.Tamper{SignCount: &n}, "")
		}, passkeyRefusedMsg},
		{"counter went back (a clone)", func(t *testing.T) (*browser, *response) {
			n := stored(t) - 1
			return e.passkeySignIn(t, pk, testkit.Tamper{SignCount: &n}, "")
		}, passkeyRefusedMsg},
		{"counter back to 0", func(t *testing.T) (*browser, *response) {
			n := uint32(0)
			return e.passkeySignIn(t, pk, testkit.Tamper{SignCount: &n}, "")
		}, passkeyRefusedMsg},
		{"disabled account", answer(davePK, testkit.Tamper{}), passkeyRefusedMsg},
		{"a challenge never given", answer(pk, testkit.Tamper{Challenge: base64.RawURLEncoding.EncodeToString(randomHandle)}), passkeyExpiredMsg},
		{"replayed, with the browser's cookie", func(t *testing.T) (*browser, *response) {
			a := e.newBrowser()
			cred := pk.Get(t, a.passkeyOptions(t, "/auth/passkey/options", nil), testkit.Tamper{})
			a.postCredential(t, "/auth/passkey", cred, "").want(t, http.StatusSeeOther, "/dashboard")
			c := e.newBrowser()
			e.setBrowserCookie(c, a.cookie(browserCookieName))
			return c, c.postCredential(t, "/auth/passkey", cred, "")
		}, passkeyExpiredMsg},
		{"finished in another browser", func(t *testing.T) (*browser, *response) {
			a := e.newBrowser()
			cred := pk.Get(t, a.passkeyOptions(t, "/auth/passkey/options", nil), testkit.Tamper{})
			c := e.newBrowser()
			return c, c.postCredential(t, "/auth/passkey", cred, "")
		}, passkeyExpiredMsg},
		{"finished in another browser with a prompt of its own", func(t *testing.T) (*browser, *response) {
			a, c := e.newBrowser(), e.newBrowser()
			cred := pk.Get(t, a.passkeyOptions(t, "/auth/passkey/options", nil), testkit.Tamper{})
			c.passkeyOptions(t, "/auth/passkey/options", nil)
			return c, c.postCredential(t, "/auth/passkey", cred, "")
		}, passkeyExpiredMsg},
		{"a second step's challenge", func(t *testing.T) (*browser, *response) {
			p := e.passwordStep(t, alice, goodPW)
			cred := pk.Get(t, p.passkeyOptions(t, "/auth/mfa/passkey/options", nil), testkit.Tamper{})
			return p, p.postCredential(t, "/auth/passkey", cred, "")
		}, passkeyExpiredMsg},
		{"a re-authentication's challenge", func(t *testing.T) (*browser, *response) {
			// Begun by a signed-in browser; finished in one holding its
			// cookie but no session.
			s := e.signedInPasskeyStep(t, alice, pk)
			cred := pk.Get(t, s.passkeyOptions(t, "/auth/reauth/passkey/options", nil), testkit.Tamper{})
			c := e.newBrowser()
			e.setBrowserCookie(c, s.cookie(browserCookieName))
			return c, c.postCredential(t, "/auth/passkey", cred, "")
		}, passkeyExpiredMsg},
		{"prompt expired", func(t *testing.T) (*browser, *response) {
			b := e.newBrowser()
			opts := b.passkeyOptions(t, "/auth/passkey/options", nil)
			e.clock.Advance(accounts.PasskeyCeremonyTTL)
			return b, b.postCredential(t, "/auth/passkey", pk.Get(t, opts, testkit.Tamper{}), "")
		}, passkeyExpiredMsg},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, r := c.try(t)
			r.want(t, http.StatusBadRequest, "").has(t, c.msg)
			e.wantNoSession(t, b, r)
		})
	}
	// None of it moved anything stored: the passkey signs in.
	b, r := e.passkeySignIn(t, pk, testkit.Tamper{}, "")
	r.want(t, http.StatusSeeOther, "/dashboard")
	e.wantSignedInAs(t, b, alice, models.MethodPasskey, models.FactorPasskey)
	e.noServerErrors(t)
}

// TestPasskeyGarbage: whatever is posted as the credential, the answer is
// a 4xx page, never a server error, and no session.
func TestPasskeyGarbage(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, mailEnvOpts{})
	pk := e.newPasskey(t)
	enrolPasskey(t, e.signedIn(t, alice, goodPW), pk, "Laptop")
	valid := func(t *testing.T, b *browser, tm testkit.Tamper) string {
		return string(pk.Get(t, b.passkeyOptions(t, "/auth/passkey/options", nil), tm))
	}
	cases := []struct {
		name string
		cred func(t *testing.T, b *browser) string
	}{
		{"empty", func(*testing.T, *browser) string { return "" }},
		{"not JSON", func(*testing.T, *browser) string { return "garbage" }},
		{"empty object", func(*testing.T, *browser) string { return "{}" }},
		{"null", func(*testing.T, *browser) string { return "null" }},
		{"array", func(*testing.T, *browser) string { return "[1,2,3]" }},
		{"NUL and invalid UTF-8", func(*testing.T, *browser) string { return "{\"id\":\"\x00\xff\"}" }},
		{"type only", func(*testing.T, *browser) string { return `{"type":"public-key","id":"AA","rawId":"AA"}` }},
		{"deep nesting", func(*testing.T, *browser) string { return strings.Repeat("[", 10000) + strings.Repeat("]", 10000) }},
		{"oversized", func(t *testing.T, b *browser) string {
			return valid(t, b, testkit.Tamper{Extra: map[string]any{"pad": strings.Repeat("a", 40<<10)}})
		}},
		{"id not rawId", func(t *testing.T, b *browser) string {
			var m map[string]any
			json.Unmarshal([]byte(valid(t, b, testkit.Tamper{})), &m)
			m["id"] = "AAAA"
			out, _ := json.Marshal(m)
			return string(out)
		}},
		{"bad base64 signature", func(t *testing.T, b *browser) string {
			var m map[string]map[string]any
			json.Unmarshal([]byte(valid(t, b, testkit.Tamper{})), &m)
			m["response"]["signature"] = "!!!"
			out, _ := json.Marshal(m)
			return string(out)
		}},
		{"truncated authenticator data", func(t *testing.T, b *browser) string {
			var m map[string]map[string]any
			json.Unmarshal([]byte(valid(t, b, testkit.Tamper{})), &m)
			m["response"]["authenticatorData"] = "AAAA"
			out, _ := json.Marshal(m)
			return string(out)
		}},
		{"clientDataJSON not JSON", func(t *testing.T, b *browser) string {
			return valid(t, b, testkit.Tamper{Client: func([]byte) []byte { return []byte("{not json") }})
		}},
		{"a registration response", func(t *testing.T, b *browser) string {
			creation := `{"publicKey":{"challenge":"` + base64.RawURLEncoding.EncodeToString(make([]byte, 32)) + `","rp":{"id":"localhost"},"user":{"id":"AAAA"}}}`
			return string(e.newPasskey(t).Create(t, []byte(creation), testkit.Tamper{}))
		}},
	}
	for _, path := range []string{"/auth/passkey", "/auth/mfa/passkey", "/account/mfa/required/passkey", "/auth/reauth/passkey", "/account/passkeys"} {
		for _, c := range cases {
			t.Run(strings.TrimPrefix(path, "/")+"/"+c.name, func(t *testing.T) {
				var b *browser
				switch path {
				case "/auth/passkey":
					b = e.newBrowser()
				case "/auth/mfa/passkey":
					b = e.passwordStep(t, alice, goodPW)
				default:
					b = e.signedIn(t, bob, goodPW)
				}
				cred := c.cred(t, b)
				r := b.post(t, path, url.Values{"credential": {cred}})
				if path == "/account/mfa/required/passkey" {
					// bob owes nothing: the step is not his to take.
					r.want(t, http.StatusSeeOther, "/dashboard")
					return
				}
				if r.status < 400 || r.status >= 500 {
					t.Fatalf("got %d, want a 4xx page:\n%s", r.status, r.text())
				}
				if path == "/auth/passkey" {
					e.wantNoSession(t, b, r)
				}
			})
		}
	}
	if len(e.passkeysOf(t, bob)) != 0 {
		t.Fatal("garbage registered a passkey")
	}
	e.noServerErrors(t)
}

// TestPasskeySecondStep: after the password, a passkey is the second
// step (user verification preferred, not required); the step is consumed
// with it; a passkey of another account, or an answer to another prompt,
// cannot finish it.
func TestPasskeySecondStep(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, mailEnvOpts{})
	pk := e.newPasskey(t)
	enrolPasskey(t, e.signedIn(t, alice, goodPW), pk, "Laptop")
	bobPK := e.newPasskey(t)
	enrolPasskey(t, e.signedIn(t, bob, goodPW), bobPK, "Bob's")

	p := e.passwordStep(t, alice, goodPW)
	p.get(t, "/auth/mfa").want(t, http.StatusOK, "").has(t, `data-options="/auth/mfa/passkey/options"`, "Use your passkey, or a recovery code")
	var assertion struct {
		PublicKey struct {
			Allow []struct {
				ID string `json:"id"`
			} `json:"allowCredentials"`
			UV string `json:"userVerification"`
		} `json:"publicKey"`
	}
	opts := p.passkeyOptions(t, "/auth/mfa/passkey/options", nil)
	if err := json.Unmarshal(opts, &assertion); err != nil || len(assertion.PublicKey.Allow) != 1 ||
		assertion.PublicKey.Allow[0].ID != base64.RawURLEncoding.EncodeToString(pk.ID) || assertion.PublicKey.UV != "preferred" {
		t.Fatalf("second-step options %s (%v)", opts, err)
	}
	// Bob's passkey answering alice's prompt.
	p.postCredential(t, "/auth/mfa/passkey", bobPK.Get(t, opts, testkit.Tamper{}), "").want(t, http.StatusBadRequest, "").has(t, passkeyRefusedMsg, alice)
	// A passwordless sign-in's prompt, answered at the second step.
	login := p.passkeyOptions(t, "/auth/passkey/options", nil)
	p.postCredential(t, "/auth/mfa/passkey", pk.Get(t, login, testkit.Tamper{}), "").want(t, http.StatusBadRequest, "").has(t, passkeyExpiredMsg)
	// Bob's own second-step prompt (in this browser) answered with his
	// passkey: the prompt is not alice's.
	q := e.passwordStep(t, bob, goodPW)
	e.setBrowserCookie(q, p.cookie(browserCookieName))
	bobOpts := q.passkeyOptions(t, "/auth/mfa/passkey/options", nil)
	p.postCredential(t, "/auth/mfa/passkey", bobPK.Get(t, bobOpts, testkit.Tamper{}), "").want(t, http.StatusBadRequest, "")
	// Another browser cannot finish alice's.
	opts = p.passkeyOptions(t, "/auth/mfa/passkey/options", nil)
	o := e.passwordStep(t, alice, goodPW)
	o.postCredential(t, "/auth/mfa/passkey", pk.Get(t, opts, testkit.Tamper{}), "").want(t, http.StatusBadRequest, "").has(t, passkeyExpiredMsg)
	if row := e.sessionOf(t, p); row != nil && row.UserID != nil {
		t.Fatalf("a session before the second step: %+v", row)
	}
	e.wantEvents(t, models.EventMFAFailure, 4)

	// The right passkey, not even user-verified: signed in, with the
	// passkey as the factor.
	opts = p.passkeyOptions(t, "/auth/mfa/passkey/options", nil)
	p.postCredential(t, "/auth/mfa/passkey", pk.Get(t, opts, testkit.Tamper{NoUV: true}), "").want(t, http.StatusSeeOther, "/dashboard")
	e.wantSignedInAs(t, p, alice, models.MethodPassword, models.FactorPasskey)
	// The step is consumed: neither its options nor its finish work again,
	// even with the step's cookie put back.
	p.post(t, "/auth/mfa/passkey/options", nil).want(t, http.StatusNotFound, "").has(t, `"error"`)
	p.postCredential(t, "/auth/mfa/passkey", pk.Get(t, opts, testkit.Tamper{}), "").want(t, http.StatusSeeOther, "/login?error=mfa_expired")

	// Two browsers at alice's second step with the same step cookie: the
	// step goes to one.
	s := e.passwordStep(t, alice, goodPW)
	twin := e.newBrowser()
	u, _ := url.Parse(e.base)
	twin.jar.SetCookies(u, s.jar.Cookies(u))
	o1 := s.passkeyOptions(t, "/auth/mfa/passkey/options", nil)
	o2 := twin.passkeyOptions(t, "/auth/mfa/passkey/options", nil)
	s.postCredential(t, "/auth/mfa/passkey", pk.Get(t, o1, testkit.Tamper{}), "").want(t, http.StatusSeeOther, "/dashboard")
	twin.postCredential(t, "/auth/mfa/passkey", pk.Get(t, o2, testkit.Tamper{}), "").want(t, http.StatusSeeOther, "/login?error=mfa_expired")
	if row := e.sessionOf(t, twin); row != nil && row.UserID != nil && row.TokenHash != e.sessionOf(t, s).TokenHash {
		t.Fatalf("the twin got a session of its own: %+v", row)
	}

	// The step expires with its prompt.
	x := e.passwordStep(t, alice, goodPW)
	opts = x.passkeyOptions(t, "/auth/mfa/passkey/options", nil)
	e.clock.Advance(accounts.PendingMFATTL)
	x.postCredential(t, "/auth/mfa/passkey", pk.Get(t, opts, testkit.Tamper{}), "").want(t, http.StatusSeeOther, "/login?error=mfa_expired")
	e.noServerErrors(t)
}

// TestPasskeyRemove: removing a passkey needs a session that gave a
// second factor; the last factor takes the recovery codes with it; one
// account cannot remove another's.
func TestPasskeyRemove(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, mailEnvOpts{mail: true})
	old := e.signedIn(t, alice, goodPW) // before any factor: gives none
	b := e.signedIn(t, alice, goodPW)
	pk1, pk2 := e.newPasskey(t), e.newPasskey(t)
	enrolPasskey(t, b, pk1, "One")
	registerPasskey(t, b, pk2, "Two", testkit.Tamper{}).want(t, http.StatusSeeOther, "/account?notice=passkey_added#passkeys")
	ps := e.passkeysOf(t, alice)
	if len(ps) != 2 {
		t.Fatalf("%d passkeys", len(ps))
	}
	remove := func(id int64) string { return "/account/passkeys/" + strconv.FormatInt(id, 10) + "/remove" }

	// The session that never gave a factor.
	old.post(t, remove(ps[0].ID), nil).want(t, http.StatusForbidden, "").has(t, "signed in without your second factor")
	// Bob's session, alice's passkey; nonsense IDs.
	bobB := e.signedIn(t, bob, goodPW)
	enrolPasskey(t, bobB, e.newPasskey(t), "Bob's")
	bobB.post(t, remove(ps[0].ID), nil).want(t, http.StatusNotFound, "")
	for _, id := range []string{"0", "-1", "abc", "99999999999999999999"} {
		b.post(t, "/account/passkeys/"+id+"/remove", nil).want(t, http.StatusNotFound, "")
	}
	if len(e.passkeysOf(t, alice)) != 2 {
		t.Fatal("a refused removal removed a passkey")
	}
	// Outside sudo mode, it asks for re-authentication first.
	e.clock.Advance(e.cfg.Admin.SudoWindow)
	r := b.post(t, remove(ps[0].ID), nil).want(t, http.StatusSeeOther, "")
	if !strings.HasPrefix(r.loc, "/auth/reauth") {
		t.Fatalf("outside sudo mode: %q", r.loc)
	}
	b = e.signedInPasskeyStep(t, alice, pk2)

	// One of two: the codes stay.
	before := e.told(t, alice)
	b.post(t, remove(ps[0].ID), nil).want(t, http.StatusSeeOther, "/account?notice=passkey_removed#passkeys")
	if e.recoveryLeft(t, alice) != 10 || e.told(t, alice) != before+1 {
		t.Fatalf("after removing one of two passkeys: %d codes left, told %d times", e.recoveryLeft(t, alice), e.told(t, alice)-before)
	}
	b.page(t, "/account").has(t, "Two").lacks(t, ">One<")
	_, r = e.passkeySignIn(t, pk1, testkit.Tamper{}, "")
	r.want(t, http.StatusBadRequest, "").has(t, passkeyRefusedMsg)
	// The last: the codes go too, and the password alone signs in again.
	b.post(t, remove(ps[1].ID), nil).want(t, http.StatusSeeOther, "/account?notice=passkey_removed#passkeys")
	if n := e.recoveryLeft(t, alice); n != 0 {
		t.Fatalf("%d recovery codes left with no second factor", n)
	}
	b.page(t, "/account").has(t, `id="passkeys-none"`).lacks(t, "recovery codes left")
	e.newBrowser().post(t, "/auth/login", loginForm(alice, goodPW)).want(t, http.StatusSeeOther, "/dashboard")
	b.post(t, remove(ps[1].ID), nil).want(t, http.StatusNotFound, "")
	e.wantEvents(t, models.EventMFARemoved, 2)
	e.noServerErrors(t)
}

// signedInPasskeyStep signs in with the password and pk as the second
// step.
func (e *env) signedInPasskeyStep(t *testing.T, email string, pk *testkit.Passkey) *browser {
	t.Helper()
	p := e.passwordStep(t, email, goodPW)
	opts := p.passkeyOptions(t, "/auth/mfa/passkey/options", nil)
	p.postCredential(t, "/auth/mfa/passkey", pk.Get(t, opts, testkit.Tamper{}), "").want(t, http.StatusSeeOther, "/dashboard")
	return p
}

// TestPasskeyStepUp: under mfa.required_for: all, a session that owes a
// second factor adds a passkey while the account has none, and gives it
// when the account has one; until then it cannot add another.
func TestPasskeyStepUp(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, mailEnvOpts{mfaFor: accounts.MFAForAll})
	s := e.signedIn(t, alice, goodPW) // owes a factor, and will owe it
	b := e.signedIn(t, alice, goodPW)
	b.get(t, "/dashboard").want(t, http.StatusSeeOther, "/account/mfa/required")
	b.get(t, "/account/mfa/required").want(t, http.StatusOK, "").has(t, `id="passkey-add"`)
	// Nothing to give yet.
	b.post(t, "/account/mfa/required/passkey/options", nil).want(t, http.StatusConflict, "")
	pk := e.newPasskey(t)
	enrolPasskey(t, b, pk, "Laptop")
	b.get(t, "/dashboard").want(t, http.StatusOK, "")
	e.wantSignedInAs(t, b, alice, models.MethodPassword, models.FactorPasskey)

	// s still owes one, which the account now has: it may not add another.
	s.get(t, "/dashboard").want(t, http.StatusSeeOther, "/account/mfa/required")
	s.get(t, "/account/mfa/required").want(t, http.StatusOK, "").has(t, `id="passkey-stepup"`)
	s.post(t, "/account/passkeys/options", nil).want(t, http.StatusForbidden, "")
	// Refused answers: it still owes.
	opts := s.passkeyOptions(t, "/account/mfa/required/passkey/options", nil)
	s.postCredential(t, "/account/mfa/required/passkey", pk.Get(t, opts, testkit.Tamper{Origin: "http://evil.example"}), "").want(t, http.StatusBadRequest, "").has(t, passkeyRefusedMsg)
	// An owing session may not begin a passwordless sign-in; a browser
	// holding its cookie may, and that prompt is not the step-up's.
	s.post(t, "/auth/passkey/options", nil).want(t, http.StatusForbidden, "")
	twin := e.newBrowser()
	e.setBrowserCookie(twin, s.cookie(browserCookieName))
	login := twin.passkeyOptions(t, "/auth/passkey/options", nil)
	s.postCredential(t, "/account/mfa/required/passkey", pk.Get(t, login, testkit.Tamper{}), "").want(t, http.StatusBadRequest, "").has(t, passkeyExpiredMsg)
	s.get(t, "/dashboard").want(t, http.StatusSeeOther, "/account/mfa/required")
	// The passkey settles it.
	opts = s.passkeyOptions(t, "/account/mfa/required/passkey/options", nil)
	s.postCredential(t, "/account/mfa/required/passkey", pk.Get(t, opts, testkit.Tamper{}), "").want(t, http.StatusSeeOther, "/dashboard")
	e.wantSignedInAs(t, s, alice, models.MethodPassword, models.FactorPasskey)
	s.post(t, "/account/mfa/required/passkey/options", nil).want(t, http.StatusConflict, "")

	// A password sign-in now takes the second step; a passkey alone owes
	// nothing.
	e.signedInPasskeyStep(t, alice, pk).get(t, "/dashboard").want(t, http.StatusOK, "")
	p, r := e.passkeySignIn(t, pk, testkit.Tamper{}, "")
	r.want(t, http.StatusSeeOther, "/dashboard")
	p.get(t, "/dashboard").want(t, http.StatusOK, "")
	e.noServerErrors(t)
}

// TestPasskeyReauth: a passkey its person verified confirms sudo mode;
// one not verified does not.
func TestPasskeyReauth(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, mailEnvOpts{})
	b := e.signedIn(t, alice, goodPW)
	pk := e.newPasskey(t)
	enrolPasskey(t, b, pk, "Laptop")
	e.clock.Advance(e.cfg.Admin.SudoWindow)
	r := b.post(t, "/account/passkeys/options", nil).want(t, http.StatusSeeOther, "")
	if !strings.HasPrefix(r.loc, "/auth/reauth") {
		t.Fatalf("outside sudo mode: %q", r.loc)
	}
	b.get(t, "/auth/reauth?next=/account").want(t, http.StatusOK, "").has(t, `id="passkey-reauth"`)
	opts := b.passkeyOptions(t, "/auth/reauth/passkey/options", nil)
	b.postCredential(t, "/auth/reauth/passkey", pk.Get(t, opts, testkit.Tamper{NoUV: true}), "/account").want(t, http.StatusBadRequest, "").has(t, passkeyRefusedMsg)
	// A second step's prompt (user verification only preferred), begun in
	// this browser, does not confirm sudo mode.
	p := e.passwordStep(t, alice, goodPW)
	e.setBrowserCookie(p, b.cookie(browserCookieName))
	opts = p.passkeyOptions(t, "/auth/mfa/passkey/options", nil)
	b.postCredential(t, "/auth/reauth/passkey", pk.Get(t, opts, testkit.Tamper{NoUV: true}), "/account").want(t, http.StatusBadRequest, "").has(t, passkeyExpiredMsg)
	b.post(t, "/account/passkeys/options", nil).want(t, http.StatusSeeOther, "")
	opts = b.passkeyOptions(t, "/auth/reauth/passkey/options", nil)
	b.postCredential(t, "/auth/reauth/passkey", pk.Get(t, opts, testkit.Tamper{}), "/account").want(t, http.StatusSeeOther, "/account")
	b.passkeyOptions(t, "/account/passkeys/options", nil)
	e.wantEvents(t, models.EventMFAFailure, 2)
	e.noServerErrors(t)
}

// TestPasskeysOffAtIP: served at an IP address there is no relying party:
// no passkey button, and every ceremony is refused as JSON, not a 500.
func TestPasskeysOffAtIP(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{})
	if e.app.Accounts.PasskeysOn() {
		t.Fatalf("passkeys on at %s", e.cfg.BaseURL)
	}
	e.newBrowser().get(t, "/login").want(t, http.StatusOK, "").lacks(t, `id="passkey-signin"`)
	r := e.newBrowser().post(t, "/auth/passkey/options", nil).want(t, http.StatusConflict, "")
	if !strings.Contains(r.body, `"error"`) || !strings.Contains(r.body, "IP address") {
		t.Fatalf("options at an IP address: %s", r.body)
	}
	b := e.signedIn(t, alice, goodPW)
	b.page(t, "/account").lacks(t, `id="passkeys"`)
	b.post(t, "/account/passkeys/options", nil).want(t, http.StatusConflict, "")
	b.post(t, "/account/passkeys", url.Values{"credential": {"{}"}}).want(t, http.StatusConflict, "")
	e.newBrowser().post(t, "/auth/passkey", url.Values{"credential": {"{}"}}).want(t, http.StatusConflict, "")
	e.noServerErrors(t)
}

// TestPasskeyAccountsLevel drives accounts.Service directly: one
// assertion finished by two requests at once signs in once; a disabled
// account's passkey is refused; a ceremony is one account's.
func TestPasskeyAccountsLevel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newPasskeyEnv(t, mailEnvOpts{})
	svc := e.app.Accounts
	// A browser token as handlers makes them.
	b := e.newBrowser()
	b.passkeyOptions(t, "/auth/passkey/options", nil)
	tok := b.cookie(browserCookieName)
	register := func(t *testing.T, email string) *testkit.Passkey {
		t.Helper()
		u := e.user(t, email)
		pk := e.newPasskey(t)
		creation, err := svc.BeginPasskeyRegistration(ctx, u, tok, "Key")
		if err != nil {
			t.Fatal(err)
		}
		opts, _ := json.Marshal(creation)
		added, err := svc.FinishPasskeyRegistration(ctx, u, tok, pk.Create(t, opts, testkit.Tamper{}))
		if err != nil || added.Passkey == nil || len(added.RecoveryCodes) != mfa.RecoveryCodes {
			t.Fatalf("register %s: %+v, %v", email, added, err)
		}
		return pk
	}
	begin := func(t *testing.T) []byte {
		t.Helper()
		a, err := svc.BeginPasskeyLogin(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		opts, _ := json.Marshal(a)
		return opts
	}

	// carol is disabled; her passkey verifies, and is refused.
	carolPK := register(t, carol)
	if _, err := svc.FinishPasskeyLogin(ctx, tok, carolPK.Get(t, begin(t), testkit.Tamper{})); err != accounts.ErrPasskeyRefused {
		t.Fatalf("disabled account: %v", err)
	}

	// The same assertion, twice at once: one sign-in.
	pk := register(t, alice)
	for range 5 {
		cred := pk.Get(t, begin(t), testkit.Tamper{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var ok, refused int
		for range 4 {
			wg.Go(func() {
				used, err := svc.FinishPasskeyLogin(ctx, tok, cred)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && used.User.Email == alice:
					ok++
				case err == accounts.ErrPasskeyExpired || err == accounts.ErrPasskeyRefused:
					refused++
				default:
					t.Errorf("finish: %v", err)
				}
			})
		}
		wg.Wait()
		if ok != 1 || refused != 3 {
			t.Fatalf("one assertion four times at once: %d sign-ins, %d refusals", ok, refused)
		}
	}

	// A check begun for alice, finished as bob's: the prompt is not his.
	bobPK := register(t, bob)
	a, err := svc.BeginPasskeyCheck(ctx, e.user(t, alice), tok, models.CeremonySecond)
	if err != nil {
		t.Fatal(err)
	}
	opts, _ := json.Marshal(a)
	if _, err := svc.FinishPasskeyCheck(ctx, e.user(t, bob), tok, models.CeremonySecond, bobPK.Get(t, opts, testkit.Tamper{}), nil); err != accounts.ErrPasskeyExpired {
		t.Fatalf("alice's prompt finished as bob: %v", err)
	}
	// A check begun for one purpose does not finish another: the step-up's
	// prompt (user verification preferred) is no re-authentication.
	for _, purpose := range []models.CeremonyPurpose{models.CeremonySecond, models.CeremonyStepUp} {
		a, err := svc.BeginPasskeyCheck(ctx, e.user(t, alice), tok, purpose)
		if err != nil {
			t.Fatal(err)
		}
		opts, _ := json.Marshal(a)
		if _, err := svc.FinishPasskeyCheck(ctx, e.user(t, alice), tok, models.CeremonySudo, pk.Get(t, opts, testkit.Tamper{NoUV: true}), nil); err != accounts.ErrPasskeyExpired {
			t.Fatalf("a %s prompt finished as sudo: %v", purpose, err)
		}
	}
	// A check's also runs with the use, and its failure undoes the use.
	a, _ = svc.BeginPasskeyCheck(ctx, e.user(t, alice), tok, models.CeremonyStepUp)
	opts, _ = json.Marshal(a)
	stored := e.passkeysOf(t, alice)[0].SignCount
	if _, err := svc.FinishPasskeyCheck(ctx, e.user(t, alice), tok, models.CeremonyStepUp, pk.Get(t, opts, testkit.Tamper{}), func(*models.DB) error {
		return accounts.ErrPendingMFA
	}); err != accounts.ErrPendingMFA {
		t.Fatalf("also's error: %v", err)
	}
	if got := e.passkeysOf(t, alice)[0].SignCount; got != stored {
		t.Fatalf("a check whose also failed stored counter %d (was %d)", got, stored)
	}
	// A ceremony from an empty browser token is nobody's.
	if _, err := svc.FinishPasskeyLogin(ctx, "", pk.Get(t, begin(t), testkit.Tamper{})); err != accounts.ErrPasskeyExpired {
		t.Fatalf("no browser: %v", err)
	}
}

// TestPasskeyAddNeedsFactor: a session that gave no second factor (one
// signed in before the account had any) may not add a factor to an
// account that has one: else it could give itself a passkey, count it
// as the factor it gave, and remove the owner's passkeys, or keep a
// passwordless way in past every factor the owner set up.
func TestPasskeyAddNeedsFactor(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, mailEnvOpts{})
	old := e.signedIn(t, alice, goodPW) // before any factor: gives none
	enrolPasskey(t, e.signedIn(t, alice, goodPW), e.newPasskey(t), "Owner's")
	old.post(t, "/account/passkeys/options", url.Values{"name": {"Intruder's"}}).want(t, http.StatusForbidden, "").has(t, "signed in without your second factor")
	old.postCredential(t, "/account/passkeys", []byte("{}"), "").want(t, http.StatusForbidden, "")
	if row := e.sessionOf(t, old); row.MFA != models.FactorNone {
		t.Errorf("the session now counts as having given %q", row.MFA)
	}
	if n := len(e.passkeysOf(t, alice)); n != 1 {
		t.Errorf("%d passkeys, want the owner's alone", n)
	}
	// Nor an authenticator app, which would count the same way.
	old.post(t, "/account/mfa/totp", nil).want(t, http.StatusForbidden, "")
}
