package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/throttle"
	"golang.org/x/crypto/bcrypt"
)

// TestLoginThrottle: past the allowance a password sign-in answers 429 with
// Retry-After, even for the right password; the lock is short and capped;
// the same account from another address is unaffected; a success clears
// the address's count.
func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{throttle: true, proxies: []string{"127.0.0.1"}})
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
	attacker, victim := from("203.0.113.7"), from("198.51.100.20")

	for i := range 6 { // 5 allowed, the 6th starts a 1s delay
		r := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, "wrong password!"), header: attacker})
		if r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i+1, r.status)
		}
	}
	r := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, goodPW), header: attacker})
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("throttled right password: status %d, want 429", r.status)
	}
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("Retry-After = %q, want whole seconds >= 1", r.header.Get("Retry-After"))
	}
	if !strings.Contains(r.body, "Too many attempts") || r.cookie(e.cfg.CookieName()) != nil {
		t.Fatalf("429 page must explain and start no session:\n%s", r.body)
	}

	// The real person, elsewhere, still signs in.
	r = e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, goodPW), header: victim})
	if r.status != http.StatusSeeOther {
		t.Fatalf("victim from another address: status %d, want 303", r.status)
	}

	// The delay doubles but is capped; after it passes the right password works
	// and clears the count.
	e.clock.Advance(2 * time.Second)
	r = e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, goodPW), header: attacker})
	if r.status != http.StatusSeeOther {
		t.Fatalf("after the delay: status %d, want 303", r.status)
	}
	r = e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, "wrong password!"), header: attacker})
	if r.status != http.StatusUnauthorized {
		t.Fatalf("after a success the allowance resets: status %d, want 401", r.status)
	}
}

// TestForwardedForNeedsTrustedProxy: without trusted proxies an attacker
// cannot dodge the per-address limit by inventing X-Forwarded-For values.
func TestForwardedForNeedsTrustedProxy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{throttle: true})
	for i := range 6 {
		e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(bob, "wrong password!"),
			header: map[string]string{"X-Forwarded-For": "10.9.8." + strconv.Itoa(i)}})
	}
	r := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(bob, goodPW),
		header: map[string]string{"X-Forwarded-For": "10.9.9.9"}})
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("spoofed X-Forwarded-For escaped the throttle: status %d, want 429", r.status)
	}
}

// burst sends n requests at once, each from its own goroutine released by
// one signal, and returns their statuses.
func burst(t *testing.T, n int, send func() (int, error)) []int {
	t.Helper()
	statuses := make([]int, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			statuses[i], errs[i] = send()
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return statuses
}

// slowHash stores email's password hashed at bcrypt cost 8 (compares run
// at the hash's cost, about 15ms here), so a burst's requests are all in
// flight while the first comparisons run, as they are at production cost.
func slowHash(t *testing.T, db *models.DB, email, pw string) {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), 8)
	if err != nil {
		t.Fatal(err)
	}
	u, err := db.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	hash := string(h)
	if err := db.SetPasswordHash(context.Background(), u.ID, &hash); err != nil {
		t.Fatal(err)
	}
}

// TestThrottleConcurrentBurst: wrong passwords for one account from one
// address sent all at once reach bcrypt no more often than the same
// requests sent one after the other (5 allowed, the 6th starts the delay),
// on every form that checks a password; the others are answered 429.
func TestThrottleConcurrentBurst(t *testing.T) {
	t.Parallel()
	const n = 16
	const evaluated = 6 // the per-(account, address) allowance, and the one starting the delay
	check := func(t *testing.T, compares uint64, statuses []int) {
		t.Helper()
		refused := 0
		for _, s := range statuses {
			switch s {
			case http.StatusTooManyRequests:
				refused++
			case http.StatusUnauthorized:
			default:
				t.Errorf("status %d, want 401 or 429", s)
			}
		}
		if compares != uint64(evaluated) || refused != n-evaluated {
			t.Fatalf("%d concurrent wrong passwords: %d bcrypt comparisons and %d refused, want %d and %d", n, compares, refused, evaluated, n-evaluated)
		}
	}
	send := func(e *env, r req) func() (int, error) {
		return func() (int, error) {
			resp, err := e.try(r)
			if err != nil {
				return 0, err
			}
			return resp.status, nil
		}
	}
	t.Run("sign-in", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{throttle: true})
		slowHash(t, e.db, alice, goodPW)
		before := e.app.Accounts.Hasher.Comparisons()
		statuses := burst(t, n, send(e, req{method: "POST", path: "/auth/login", form: loginForm(alice, "wrong password!")}))
		check(t, e.app.Accounts.Hasher.Comparisons()-before, statuses)
		e.noServerErrors(t)
	})
	t.Run("sign-in from a known browser", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{throttle: true})
		r := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, goodPW)})
		device := r.cookie("gatehouse_device")
		if device == nil {
			t.Fatalf("sign-in set no device cookie: %v", r.header["Set-Cookie"])
		}
		slowHash(t, e.db, alice, goodPW)
		before := e.app.Accounts.Hasher.Comparisons()
		statuses := burst(t, n, send(e, req{method: "POST", path: "/auth/login", form: loginForm(alice, "wrong password!"), cookies: []*http.Cookie{device}}))
		want := throttle.DefaultRules().Device.Failures + 1
		if got := e.app.Accounts.Hasher.Comparisons() - before; got != uint64(want) {
			t.Fatalf("%d concurrent wrong passwords from a known browser: %d bcrypt comparisons, want %d", n, got, want)
		}
		if slices.Index(statuses, http.StatusTooManyRequests) < 0 {
			t.Fatalf("none of %d concurrent wrong passwords refused: %v", n, statuses)
		}
		e.noServerErrors(t)
	})
	t.Run("re-authentication", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{throttle: true})
		c := e.login(t, alice, goodPW)
		slowHash(t, e.db, alice, goodPW)
		before := e.app.Accounts.Hasher.Comparisons()
		statuses := burst(t, n, send(e, req{method: "POST", path: "/auth/reauth", cookies: []*http.Cookie{c},
			form: url.Values{"password": {"wrong password!"}, "next": {"/account"}}}))
		check(t, e.app.Accounts.Hasher.Comparisons()-before, statuses)
		e.noServerErrors(t)
	})
	t.Run("password change", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{throttle: true})
		c := e.login(t, alice, goodPW)
		slowHash(t, e.db, alice, goodPW)
		before := e.app.Accounts.Hasher.Comparisons()
		statuses := burst(t, n, send(e, req{method: "POST", path: "/account/password", cookies: []*http.Cookie{c},
			form: url.Values{"current_password": {"wrong password!"}, "new_password": {"a brand new passphrase"}, "confirm_password": {"a brand new passphrase"}}}))
		check(t, e.app.Accounts.Hasher.Comparisons()-before, statuses)
		e.noServerErrors(t)
	})
	t.Run("link by password", func(t *testing.T) {
		t.Parallel()
		e := newSSOEnv(t, ssoEnvOpts{throttle: true})
		e.createUser("alice@example.com", false)
		slowHash(t, e.db, "alice@example.com", ssoPassword)
		e.op.SetLoginUser(&ssoAlice)
		b := e.browser()
		r := b.get(t, b.toCallback(t, "alice@example.com"))
		token, ok := strings.CutPrefix(r.header.Get("Location"), "/auth/link?t=")
		if r.status != http.StatusSeeOther || !ok {
			t.Fatalf("callback: got %d Location %q, want 303 /auth/link?t=...", r.status, r.header.Get("Location"))
		}
		before := e.app.Accounts.Hasher.Comparisons()
		statuses := burst(t, n, func() (int, error) {
			r, err := b.do(http.MethodPost, "/auth/link", url.Values{"t": {token}, "password": {"wrong password here"}}, nil)
			if err != nil {
				return 0, err
			}
			return r.status, nil
		})
		check(t, e.app.Accounts.Hasher.Comparisons()-before, statuses)
	})
}

// TestKnownBrowserSignsInDuringAttack: an attacker guessing the victim's
// password from a new address every 3 seconds keeps the account-wide rule
// armed for 150 seconds, yet the victim, from a browser that signed in
// before, signs in every time; a new browser meanwhile is told, with 429
// and Retry-After, how long to wait, and gets no session.
func TestKnownBrowserSignsInDuringAttack(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{throttle: true, proxies: []string{"127.0.0.1"}})
	xff := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
	victimIP := xff("198.51.100.20")

	r := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, goodPW), header: victimIP})
	device := r.cookie("gatehouse_device")
	if r.status != http.StatusSeeOther || device == nil {
		t.Fatalf("first sign-in: %d, device cookie %v", r.status, device)
	}

	var attacks, attacksRefused, signIns, signInsRefused int
	newBrowserTried := false
	for s := 0; s < 150; s += 3 { // bounded: 50 steps of the test clock
		attacks++
		r := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, "wrong password!"),
			header: xff("203.0.113." + strconv.Itoa(attacks))})
		switch r.status {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			attacksRefused++
			if !newBrowserTried { // the account is locked right now: a new browser must be told so
				newBrowserTried = true
				r := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, goodPW), header: xff("192.0.2.55")})
				ra, err := strconv.Atoi(r.header.Get("Retry-After"))
				if r.status != http.StatusTooManyRequests || err != nil || ra < 1 {
					t.Fatalf("new browser during the attack: %d, Retry-After %q; want 429 and whole seconds", r.status, r.header.Get("Retry-After"))
				}
				wait := strconv.Itoa(ra) + " seconds"
				if ra == 1 {
					wait = "a second"
				}
				if text := pageText(r.body); !strings.Contains(text, "Too many attempts. Try again in "+wait+".") {
					t.Errorf("new browser's page does not say how long to wait (%s):\n%s", wait, text)
				}
				if r.cookie(e.cfg.CookieName()) != nil {
					t.Error("a refused sign-in started a session")
				}
			}
		default:
			t.Fatalf("attack %d: status %d", attacks, r.status)
		}
		if s%7 < 3 { // the victim, about every 7 seconds
			signIns++
			r := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, goodPW), header: victimIP, cookies: []*http.Cookie{device}})
			if r.status != http.StatusSeeOther {
				signInsRefused++
			}
		}
		e.clock.Advance(3 * time.Second)
	}
	if signInsRefused != 0 {
		t.Errorf("%d of %d sign-ins from the victim's known browser refused during %d attacker requests", signInsRefused, signIns, attacks)
	}
	if attacksRefused == 0 || !newBrowserTried {
		t.Fatalf("the attack (%d requests) never met the account-wide rule", attacks)
	}
	t.Logf("%d attacker requests, %d refused; victim signed in %d of %d times", attacks, attacksRefused, signIns-signInsRefused, signIns)
	e.noServerErrors(t)
}

// TestDeviceCookie: a successful sign-in sets a long-lived device cookie
// with the session cookie's attributes (__Host- and Secure under https);
// the database keeps only its hash, the log never sees it, and a browser
// keeps one cookie however often and to whichever account it signs in.
func TestDeviceCookie(t *testing.T) {
	t.Parallel()
	for _, https := range []bool{false, true} {
		t.Run("https="+strconv.FormatBool(https), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpts{https: https})
			name, header := "gatehouse_device", map[string]string{}
			if https {
				name, header = "__Host-gatehouse_device", map[string]string{"Origin": e.cfg.BaseURL, "Sec-Fetch-Site": "same-origin"}
			}
			r := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, "wrong password!"), header: header})
			if r.status != http.StatusUnauthorized || r.cookie(name) != nil {
				t.Fatalf("failed sign-in: %d, Set-Cookie %v; want 401 and no device cookie", r.status, r.header["Set-Cookie"])
			}
			r = e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, goodPW), header: header})
			c := r.cookie(name)
			if r.status != http.StatusSeeOther || c == nil {
				t.Fatalf("sign-in: %d, no %s cookie in %v", r.status, name, r.header["Set-Cookie"])
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" || c.Secure != https {
				t.Errorf("device cookie %q: want HttpOnly; SameSite=Lax; Path=/; no Domain; Secure only under https", r.header.Get("Set-Cookie"))
			}
			if c.MaxAge != int(throttle.DeviceLifetime/time.Second) {
				t.Errorf("device cookie Max-Age = %d, want %d", c.MaxAge, int(throttle.DeviceLifetime/time.Second))
			}
			if n := countRows(t, e.dbPath, "devices", "token_hash = ?", sessionstore.Hash(c.Value)); n != 1 {
				t.Fatalf("%d device rows with the cookie's hash, want 1", n)
			}
			if n := countRows(t, e.dbPath, "devices", "token_hash = ?", c.Value); n != 0 {
				t.Fatal("the device token is stored as it is")
			}
			if strings.Contains(e.logs.String(), c.Value) {
				t.Error("the device token appears in the server log")
			}
			// The same browser signing in again, and to another account,
			// keeps its cookie: one row per account it signed in to.
			for _, who := range []string{alice, bob} {
				r = e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(who, goodPW), header: header, cookies: []*http.Cookie{c}})
				if again := r.cookie(name); r.status != http.StatusSeeOther || again == nil || again.Value != c.Value {
					t.Fatalf("sign-in of %s with the device cookie: %d, cookie %v; want the same token", who, r.status, again)
				}
			}
			if n := countRows(t, e.dbPath, "devices", ""); n != 2 {
				t.Fatalf("%d device rows, want 2 (one per account)", n)
			}
		})
	}
}

// TestThrottleIPv6Network: guesses from 25 addresses of one IPv6 /64 are
// one client's: after the per-address allowance they are refused, while
// the next /64 still gets its answers.
func TestThrottleIPv6Network(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{throttle: true, proxies: []string{"127.0.0.1"}})
	before := e.app.Accounts.Hasher.Comparisons()
	refused := 0
	for i := range 25 {
		r := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, "wrong password!"),
			header: map[string]string{"X-Forwarded-For": "2001:db8:77:1:" + strconv.FormatInt(int64(i)*2477+1, 16) + "::" + strconv.Itoa(i+1)}})
		if r.status == http.StatusTooManyRequests {
			refused++
		}
	}
	if n := e.app.Accounts.Hasher.Comparisons() - before; n != 6 || refused != 19 {
		t.Fatalf("25 guesses from one /64: %d checked and %d refused, want 6 and 19", n, refused)
	}
	r := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, "wrong password!"),
		header: map[string]string{"X-Forwarded-For": "2001:db8:77:2::1"}})
	if r.status != http.StatusUnauthorized {
		t.Fatalf("a guess from the next /64: %d, want 401", r.status)
	}
}
