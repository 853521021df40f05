package models

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func ssoPendingLogin(state, browser string) *PendingLogin {
	return &PendingLogin{
		StateHash: state, BrowserHash: browser, ProviderID: "corp", Nonce: "nonce-" + state,
		CodeVerifier: "verifier-" + state, Next: "/after/" + state, Mode: "login",
	}
}

func TestPendingLoginConsume(t *testing.T) {
	t.Parallel()
	const ttl = 10 * time.Minute
	type step struct {
		advance        time.Duration // before the call
		state, browser string
		wantOK         bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"consumed once", []step{
			{0, "st", "br", true},
		}},
		{"single use", []step{
			{0, "st", "br", true},
			{0, "st", "br", false},
		}},
		{"another browser is refused and does not burn it", []step{
			{0, "st", "other", false},
			{0, "st", "br", true},
		}},
		{"unknown state", []step{
			{0, "nope", "br", false},
			{0, "st", "br", true},
		}},
		{"just before expiry", []step{
			{ttl - time.Second, "st", "br", true},
		}},
		{"at expiry", []step{
			{ttl, "st", "br", false},
		}},
		{"expired", []step{
			{ttl + time.Hour, "st", "br", false},
			{-ttl - time.Hour, "st", "br", false}, // an expired attempt used it up
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, clk := ssoTestDB(t)
			ctx := t.Context()
			u := &User{Email: "alice@example.com"}
			if err := db.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			p := ssoPendingLogin("st", "br")
			p.Mode, p.UserID = "link", &u.ID
			if err := db.CreatePendingLogin(ctx, p, ttl, 5, 1000); err != nil {
				t.Fatal(err)
			}
			created := clk.t
			for i, s := range tc.steps {
				clk.advance(s.advance)
				got, err := db.ConsumePendingLogin(ctx, s.state, s.browser)
				if !s.wantOK {
					if !errors.Is(err, ErrNotFound) || got != nil {
						t.Errorf("step %d: got %+v, %v; want ErrNotFound", i, got, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if got.StateHash != "st" || got.BrowserHash != "br" || got.ProviderID != "corp" || got.Nonce != "nonce-st" ||
					got.CodeVerifier != "verifier-st" || got.Next != "/after/st" || got.Mode != "link" ||
					got.UserID == nil || *got.UserID != u.ID || !got.ExpiresAt.Equal(created.Add(ttl)) || !got.CreatedAt.Equal(created) {
					t.Errorf("step %d: got %+v", i, got)
				}
			}
		})
	}
}

// Replays of one callback race: exactly one consumer gets the pending login.
func TestPendingLoginConsumeConcurrent(t *testing.T) {
	t.Parallel()
	db, _ := ssoTestDB(t)
	if err := db.CreatePendingLogin(t.Context(), ssoPendingLogin("st", "br"), time.Minute, 5, 1000); err != nil {
		t.Fatal(err)
	}
	const n = 16
	var (
		mu   sync.Mutex
		wins int
		wg   sync.WaitGroup
	)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			got, err := db.ConsumePendingLogin(t.Context(), "st", "br")
			switch {
			case err == nil && got != nil && got.Nonce == "nonce-st":
				mu.Lock()
				wins++
				mu.Unlock()
			case errors.Is(err, ErrNotFound):
			default:
				t.Errorf("ConsumePendingLogin = %+v, %v", got, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d of %d consumers won, want exactly 1", wins, n)
	}
	if c := ssoCount(t, db, "SELECT count(*) FROM pending_logins"); c != 0 {
		t.Errorf("%d pending logins left, want 0", c)
	}
}

func TestPendingLoginKeepPerBrowser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		keep     int
		creates  []string // browser of each pending login, in order; state i is "s<i>"
		wantKept []string // states left
	}{
		{"under the limit", 3, []string{"a", "a"}, []string{"s0", "s1"}},
		{"at the limit", 3, []string{"a", "a", "a"}, []string{"s0", "s1", "s2"}},
		{"oldest go", 3, []string{"a", "a", "a", "a", "a"}, []string{"s2", "s3", "s4"}},
		{"keep one", 1, []string{"a", "a", "a"}, []string{"s2"}},
		{"per browser", 2, []string{"a", "b", "a", "a", "b", "c"}, []string{"s1", "s2", "s3", "s4", "s5"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, clk := ssoTestDB(t)
			ctx := t.Context()
			for i, b := range tc.creates {
				if err := db.CreatePendingLogin(ctx, ssoPendingLogin(fmt.Sprintf("s%d", i), b), time.Hour, tc.keep, 1000); err != nil {
					t.Fatalf("create %d: %v", i, err)
				}
				clk.advance(time.Second)
			}
			if c := ssoCount(t, db, "SELECT count(*) FROM pending_logins"); c != len(tc.wantKept) {
				t.Errorf("%d pending logins, want %d", c, len(tc.wantKept))
			}
			kept := map[string]bool{}
			for _, s := range tc.wantKept {
				kept[s] = true
			}
			for i, b := range tc.creates {
				state := fmt.Sprintf("s%d", i)
				_, err := db.ConsumePendingLogin(ctx, state, b)
				switch {
				case kept[state] && err != nil:
					t.Errorf("%s (browser %s): %v, want kept", state, b, err)
				case !kept[state] && !errors.Is(err, ErrNotFound):
					t.Errorf("%s (browser %s): err %v, want removed", state, b, err)
				}
			}
		})
	}
}

func TestPendingLink(t *testing.T) {
	t.Parallel()
	const ttl = 15 * time.Minute
	tests := []struct {
		name           string
		advance        time.Duration
		token, browser string
		deleteFirst    bool
		wantOK         bool
	}{
		{"found", 0, "tok", "br", false, true},
		{"just before expiry", ttl - time.Second, "tok", "br", false, true},
		{"another browser", 0, "tok", "other", false, false},
		{"unknown token", 0, "nope", "br", false, false},
		{"at expiry", ttl, "tok", "br", false, false},
		{"expired", ttl + time.Hour, "tok", "br", false, false},
		{"deleted", 0, "tok", "br", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, clk := ssoTestDB(t)
			ctx := t.Context()
			u := &User{Email: "alice@example.com"}
			if err := db.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			authTime := clk.t.Add(-time.Minute)
			l := &PendingLink{
				TokenHash: "tok", BrowserHash: "br", UserID: u.ID, ProviderID: "corp", Issuer: "https://idp.example",
				Subject: "sub-1", Email: "alice@example.com", Claims: `{"sub":"sub-1"}`, SID: "sid-1", IDToken: "id.token.jwt",
				AuthTime: &authTime, Next: "/next",
			}
			if err := db.CreatePendingLink(ctx, l, ttl); err != nil {
				t.Fatal(err)
			}
			// A second link for another browser must not be found by this one.
			other := *l
			other.ID, other.TokenHash, other.BrowserHash = 0, "tok2", "other"
			if err := db.CreatePendingLink(ctx, &other, ttl); err != nil {
				t.Fatal(err)
			}
			if tc.deleteFirst {
				if err := db.DeletePendingLink(ctx, l.ID); err != nil {
					t.Fatal(err)
				}
			}
			clk.advance(tc.advance)
			got, err := db.PendingLink(ctx, tc.token, tc.browser)
			if !tc.wantOK {
				if !errors.Is(err, ErrNotFound) || got != nil {
					t.Fatalf("got %+v, %v; want ErrNotFound", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != l.ID || got.UserID != u.ID || got.ProviderID != "corp" || got.Issuer != "https://idp.example" ||
				got.Subject != "sub-1" || got.Email != "alice@example.com" || got.Claims != `{"sub":"sub-1"}` ||
				got.SID != "sid-1" || got.IDToken != "id.token.jwt" || got.AuthTime == nil || !got.AuthTime.Equal(authTime) ||
				got.Next != "/next" || !got.ExpiresAt.Equal(l.ExpiresAt) {
				t.Errorf("got %+v, want %+v", got, l)
			}
			// Looking it up does not use it up.
			if _, err := db.PendingLink(ctx, tc.token, tc.browser); err != nil {
				t.Errorf("second lookup: %v", err)
			}
		})
	}
}

func TestPendingDeleteExpired(t *testing.T) {
	t.Parallel()
	db, clk := ssoTestDB(t)
	ctx := t.Context()
	u := &User{Email: "alice@example.com"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	// Short-lived rows (expire after 5 minutes) and long-lived ones (1 hour),
	// three of each short kind so batching shows.
	for i := range 3 {
		if err := db.CreatePendingLogin(ctx, ssoPendingLogin(fmt.Sprintf("short%d", i), "br"), 5*time.Minute, 100, 1000); err != nil {
			t.Fatal(err)
		}
		if err := db.CreatePendingLink(ctx, &PendingLink{TokenHash: fmt.Sprintf("short%d", i), BrowserHash: "br", UserID: u.ID, ProviderID: "corp", Issuer: "i", Subject: "s"}, 5*time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Remember(ctx, "https://a.example", fmt.Sprintf("short%d", i), clk.t.Add(5*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreatePendingLogin(ctx, ssoPendingLogin("long", "br"), time.Hour, 100, 1000); err != nil {
		t.Fatal(err)
	}
	if err := db.CreatePendingLink(ctx, &PendingLink{TokenHash: "long", BrowserHash: "br", UserID: u.ID, ProviderID: "corp", Issuer: "i", Subject: "s"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Remember(ctx, "https://a.example", "long", clk.t.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	counts := func() [3]int {
		return [3]int{
			ssoCount(t, db, "SELECT count(*) FROM pending_logins"),
			ssoCount(t, db, "SELECT count(*) FROM pending_links"),
			ssoCount(t, db, "SELECT count(*) FROM logout_jtis"),
		}
	}
	steps := []struct {
		name      string
		advance   time.Duration
		batch     int
		wantN     int64
		wantCount [3]int // logins, links, jtis left
	}{
		{"nothing expired yet", 4 * time.Minute, 10, 0, [3]int{4, 4, 4}},
		{"at expiry: batch of two per pending table, every expired jti", time.Minute, 2, 2 + 2 + 3, [3]int{2, 2, 1}},
		{"the rest of the expired", 0, 2, 1 + 1, [3]int{1, 1, 1}},
		{"nothing more", 0, 2, 0, [3]int{1, 1, 1}},
		{"the long-lived ones expire too", time.Hour, 10, 3, [3]int{0, 0, 0}},
	}
	for _, s := range steps {
		clk.advance(s.advance)
		n, err := db.DeleteExpiredPending(ctx, s.batch)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if n != s.wantN {
			t.Errorf("%s: removed %d, want %d", s.name, n, s.wantN)
		}
		if c := counts(); c != s.wantCount {
			t.Errorf("%s: rows left (logins, links, jtis) = %v, want %v", s.name, c, s.wantCount)
		}
	}
}

// TestPendingLoginLiveCap: pending logins are capped as a whole, whatever
// browser they come from (a new browser is one without a cookie): at the
// cap a start is refused with ErrTooManyPending and stores nothing;
// expired rows the sweeper has not reached yet do not count; concurrent
// starts do not overshoot.
func TestPendingLoginLiveCap(t *testing.T) {
	t.Parallel()
	db, clk := ssoTestDB(t)
	ctx := t.Context()
	const maxLive = 5
	for i := range maxLive {
		if err := db.CreatePendingLogin(ctx, ssoPendingLogin(fmt.Sprintf("s%d", i), fmt.Sprintf("b%d", i)), time.Minute, 10, maxLive); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		err := db.CreatePendingLogin(ctx, ssoPendingLogin(fmt.Sprintf("over%d", i), fmt.Sprintf("new%d", i)), time.Minute, 10, maxLive)
		if !errors.Is(err, ErrTooManyPending) {
			t.Fatalf("start %d past the cap: %v, want ErrTooManyPending", i, err)
		}
	}
	if n := ssoCount(t, db, "SELECT count(*) FROM pending_logins"); n != maxLive {
		t.Fatalf("%d pending logins stored, want the cap of %d", n, maxLive)
	}
	clk.advance(time.Minute) // all expired, none swept
	if err := db.CreatePendingLogin(ctx, ssoPendingLogin("after", "b-after"), time.Minute, 10, maxLive); err != nil {
		t.Fatalf("start after the others expired: %v", err)
	}

	db2, _ := ssoTestDB(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored, refused := 0, 0
	for i := range 4 * maxLive {
		wg.Go(func() {
			err := db2.CreatePendingLogin(ctx, ssoPendingLogin(fmt.Sprintf("c%d", i), fmt.Sprintf("cb%d", i)), time.Minute, 10, maxLive)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				stored++
			case errors.Is(err, ErrTooManyPending):
				refused++
			default:
				t.Errorf("concurrent start: %v", err)
			}
		})
	}
	wg.Wait()
	if stored != maxLive || refused != 3*maxLive || ssoCount(t, db2, "SELECT count(*) FROM pending_logins") != maxLive {
		t.Fatalf("concurrent starts: %d stored, %d refused, want %d and %d", stored, refused, maxLive, 3*maxLive)
	}
}
