package handlers_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
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
