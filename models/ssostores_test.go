package models

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/sso"
	"github.com/gatehouse/gatehouse/testkit"
)

// ssoClock is a settable clock for the SSO store tests. Set it only while no
// goroutine of the test reads it.
type ssoClock struct{ t time.Time }

func (c *ssoClock) now() time.Time          { return c.t }
func (c *ssoClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// ssoTestDB opens a fresh, migrated database in the test's temporary
// directory whose clock the returned ssoClock drives.
func ssoTestDB(t *testing.T) (*DB, *ssoClock) {
	t.Helper()
	db, err := Open(testkit.Database(t, "g.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	clk := &ssoClock{t: time.Date(2030, 3, 4, 5, 6, 7, 0, time.UTC)}
	db.Now = clk.now
	return db, clk
}

// ssoCount counts rows with a raw query.
func ssoCount(t *testing.T, db *DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.sql.QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestSSORegistrationStore(t *testing.T) {
	t.Parallel()
	type save struct {
		provider, issuer, clientID string
		wantClientID               string // the winner SaveRegistration returns
	}
	tests := []struct {
		name  string
		saves []save
		// after the saves, Registration(provider, issuer) must give clientID ("" = nil)
		lookups [][3]string
	}{
		{
			name:    "absent is nil without error",
			lookups: [][3]string{{"corp", "https://idp.example", ""}},
		},
		{
			name:    "single save round trips",
			saves:   []save{{"corp", "https://idp.example", "c1", "c1"}},
			lookups: [][3]string{{"corp", "https://idp.example", "c1"}, {"corp", "https://other.example", ""}, {"other", "https://idp.example", ""}},
		},
		{
			name: "second save for the same provider and issuer keeps the first",
			saves: []save{
				{"corp", "https://idp.example", "first", "first"},
				{"corp", "https://idp.example", "second", "first"},
				{"corp", "https://idp.example", "third", "first"},
			},
			lookups: [][3]string{{"corp", "https://idp.example", "first"}},
		},
		{
			name: "other issuer or provider is a separate registration",
			saves: []save{
				{"corp", "https://idp.example", "a", "a"},
				{"corp", "https://idp2.example", "b", "b"},
				{"lab", "https://idp.example", "c", "c"},
				{"corp", "https://idp2.example", "d", "b"},
			},
			lookups: [][3]string{{"corp", "https://idp.example", "a"}, {"corp", "https://idp2.example", "b"}, {"lab", "https://idp.example", "c"}, {"lab", "https://idp2.example", ""}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, clk := ssoTestDB(t)
			ctx := t.Context()
			firstAt := map[[2]string]time.Time{}
			for i, s := range tc.saves {
				key := [2]string{s.provider, s.issuer}
				if _, ok := firstAt[key]; !ok {
					firstAt[key] = clk.t
				}
				in := &sso.ClientRegistration{
					ProviderID: s.provider, Issuer: s.issuer, ClientID: s.clientID, ClientSecret: "secret-" + s.clientID,
					RegistrationAccessToken: "rat-" + s.clientID, RegistrationClientURI: "https://idp.example/reg/" + s.clientID,
					Raw: []byte(`{"client_id":"` + s.clientID + `"}`),
				}
				got, err := db.SaveRegistration(ctx, in)
				if err != nil {
					t.Fatalf("save %d: %v", i, err)
				}
				if got == nil {
					t.Fatalf("save %d: nil registration", i)
				}
				w := s.wantClientID
				if got.ClientID != w || got.ClientSecret != "secret-"+w || got.RegistrationAccessToken != "rat-"+w ||
					got.RegistrationClientURI != "https://idp.example/reg/"+w || string(got.Raw) != `{"client_id":"`+w+`"}` ||
					got.ProviderID != s.provider || got.Issuer != s.issuer {
					t.Errorf("save %d (%s): got %+v, want the registration of %q", i, s.clientID, got, w)
				}
				if !got.CreatedAt.Equal(firstAt[key]) {
					t.Errorf("save %d: CreatedAt = %v, want the first save's %v", i, got.CreatedAt, firstAt[key])
				}
				clk.advance(time.Minute)
			}
			for _, l := range tc.lookups {
				got, err := db.Registration(ctx, l[0], l[1])
				if err != nil {
					t.Fatalf("Registration(%s, %s): %v", l[0], l[1], err)
				}
				switch {
				case l[2] == "" && got != nil:
					t.Errorf("Registration(%s, %s) = %+v, want nil", l[0], l[1], got)
				case l[2] != "" && (got == nil || got.ClientID != l[2]):
					t.Errorf("Registration(%s, %s) = %+v, want client %q", l[0], l[1], got, l[2])
				}
			}
		})
	}
}

// Replicas registering at once must all end up using the one stored.
func TestSSOSaveRegistrationConcurrent(t *testing.T) {
	t.Parallel()
	db, _ := ssoTestDB(t)
	const n = 8
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := db.SaveRegistration(t.Context(), &sso.ClientRegistration{
				ProviderID: "corp", Issuer: "https://idp.example", ClientID: fmt.Sprintf("client-%d", i),
			})
			errs[i] = err
			if r != nil {
				got[i] = r.ClientID
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if got[i] != got[0] || got[i] == "" {
			t.Errorf("goroutine %d uses %q, goroutine 0 uses %q", i, got[i], got[0])
		}
	}
	if c := ssoCount(t, db, "SELECT count(*) FROM client_registrations"); c != 1 {
		t.Errorf("%d registrations stored, want 1", c)
	}
	stored, err := db.Registration(t.Context(), "corp", "https://idp.example")
	if err != nil || stored == nil || stored.ClientID != got[0] {
		t.Errorf("stored = %+v, %v; want client %q", stored, err, got[0])
	}
}

func TestSSORememberReplay(t *testing.T) {
	t.Parallel()
	type call struct {
		issuer, jti string
		want        bool
	}
	tests := []struct {
		name  string
		calls []call
	}{
		{"first is new, repeat is a replay", []call{
			{"https://a.example", "j1", true},
			{"https://a.example", "j1", false},
			{"https://a.example", "j1", false},
		}},
		{"same jti from another issuer is new", []call{
			{"https://a.example", "j1", true},
			{"https://b.example", "j1", true},
			{"https://b.example", "j1", false},
			{"https://a.example", "j1", false},
		}},
		{"another jti from the same issuer is new", []call{
			{"https://a.example", "j1", true},
			{"https://a.example", "j2", true},
			{"https://a.example", "j2", false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, clk := ssoTestDB(t)
			for i, c := range tc.calls {
				got, err := db.Remember(t.Context(), c.issuer, c.jti, clk.t.Add(time.Hour))
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if got != c.want {
					t.Errorf("call %d Remember(%s, %s) = %v, want %v", i, c.issuer, c.jti, got, c.want)
				}
			}
		})
	}
}

// A jti is remembered until it expires and the cleanup removes it; the
// expiry is stored in UTC whatever zone the caller used.
func TestSSORememberExpiry(t *testing.T) {
	t.Parallel()
	db, clk := ssoTestDB(t)
	ctx := t.Context()
	east := time.FixedZone("east", 10*3600)
	if ok, err := db.Remember(ctx, "https://a.example", "j1", clk.t.Add(time.Hour).In(east)); err != nil || !ok {
		t.Fatalf("Remember = %v, %v", ok, err)
	}
	clk.advance(59 * time.Minute)
	if _, err := db.DeleteExpiredPending(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if ok, err := db.Remember(ctx, "https://a.example", "j1", clk.t.Add(time.Hour)); err != nil || ok {
		t.Fatalf("before expiry: Remember = %v, %v; want false (still remembered)", ok, err)
	}
	clk.advance(2 * time.Minute)
	if _, err := db.DeleteExpiredPending(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if c := ssoCount(t, db, "SELECT count(*) FROM logout_jtis"); c != 0 {
		t.Fatalf("%d jtis left after expiry, want 0", c)
	}
}

// Concurrent deliveries of one logout token: exactly one is accepted.
func TestSSORememberConcurrent(t *testing.T) {
	t.Parallel()
	db, clk := ssoTestDB(t)
	const n = 16
	var mu sync.Mutex
	accepted := 0
	var wg sync.WaitGroup
	exp := clk.t.Add(time.Hour)
	for range n {
		wg.Go(func() {
			ok, err := db.Remember(t.Context(), "https://a.example", "jti-1", exp)
			if err != nil {
				t.Errorf("Remember: %v", err)
			}
			if ok {
				mu.Lock()
				accepted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if accepted != 1 {
		t.Errorf("%d of %d deliveries accepted, want exactly 1", accepted, n)
	}
}

func TestSSODeleteSessionsBySID(t *testing.T) {
	t.Parallel()
	// Sessions by token hash: issuer, subject, sid.
	seed := []struct{ hash, issuer, subject, sid string }{
		{"s1", "https://a.example", "u1", "x"},
		{"s2", "https://a.example", "u1", "y"},
		{"s3", "https://a.example", "u2", "z"},
		{"s4", "https://b.example", "u1", "x"},
		{"s5", "", "", ""}, // password session
		{"s6", "https://a.example", "u3", ""},
	}
	tests := []struct {
		name                 string
		issuer, subject, sid string
		wantErr              bool
		wantGone             []string
	}{
		{"by sid", "https://a.example", "", "x", false, []string{"s1"}},
		{"by sub", "https://a.example", "u1", "", false, []string{"s1", "s2"}},
		{"by sub without sid", "https://a.example", "u3", "", false, []string{"s6"}},
		{"by sid and sub", "https://a.example", "u1", "y", false, []string{"s2"}},
		{"sid and sub that do not match together", "https://a.example", "u2", "x", false, nil},
		{"other issuer", "https://b.example", "u1", "", false, []string{"s4"}},
		{"sid of another issuer", "https://b.example", "", "y", false, nil},
		{"unknown issuer", "https://c.example", "u1", "x", false, nil},
		{"neither sid nor sub", "https://a.example", "", "", true, nil},
		{"nothing at all", "", "", "", true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, clk := ssoTestDB(t)
			ctx := t.Context()
			for _, s := range seed {
				err := db.CreateSession(ctx, &Session{
					TokenHash: s.hash, CreatedAt: clk.t, LastSeenAt: clk.t, IdleExpiresAt: clk.t.Add(time.Hour), ExpiresAt: clk.t.Add(time.Hour),
					Issuer: s.issuer, Subject: s.subject, SID: s.sid,
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			n, err := db.DeleteSessionsBySID(ctx, tc.issuer, tc.subject, tc.sid)
			if (err != nil) != tc.wantErr {
				t.Fatalf("DeleteSessionsBySID err = %v, want error %v", err, tc.wantErr)
			}
			if n != int64(len(tc.wantGone)) {
				t.Errorf("ended %d sessions, want %d", n, len(tc.wantGone))
			}
			gone := map[string]bool{}
			for _, h := range tc.wantGone {
				gone[h] = true
			}
			for _, s := range seed {
				_, err := db.SessionByHash(ctx, s.hash)
				switch {
				case gone[s.hash] && !errors.Is(err, ErrNotFound):
					t.Errorf("session %s still there (err %v), want ended", s.hash, err)
				case !gone[s.hash] && err != nil:
					t.Errorf("session %s: %v, want kept", s.hash, err)
				}
			}
		})
	}
}

// TestSSORegistrationLock: WithRegistrationLock lets one caller at a time
// through for one provider and issuer, each seeing what the one before it
// saved, so concurrent first uses register once. Two pools stand for two
// replicas.
func TestSSORegistrationLock(t *testing.T) {
	t.Parallel()
	if !testkit.OnPostgres() {
		t.Skip("the lock is PostgreSQL's; SQLite runs fn as it is")
	}
	database := testkit.Database(t, "g.db")
	var dbs []*DB
	for range 2 {
		db, err := Open(database)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	var mu sync.Mutex
	inside, registered := 0, 0
	var wg sync.WaitGroup
	for i := range 8 {
		db := dbs[i%2]
		wg.Go(func() {
			err := db.WithRegistrationLock(t.Context(), "p", "https://op.example", func(ctx context.Context, store sso.RegistrationStore) error {
				mu.Lock()
				inside++
				if inside > 1 {
					t.Error("two callers inside the lock at once")
				}
				mu.Unlock()
				defer func() { mu.Lock(); inside--; mu.Unlock() }()
				reg, err := store.Registration(ctx, "p", "https://op.example")
				if err != nil || reg != nil {
					return err
				}
				time.Sleep(20 * time.Millisecond) // the registration request
				mu.Lock()
				registered++
				mu.Unlock()
				_, err = store.SaveRegistration(ctx, &sso.ClientRegistration{ProviderID: "p", Issuer: "https://op.example", ClientID: fmt.Sprintf("client-%d", i)})
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if registered != 1 {
		t.Errorf("%d callers registered, want 1", registered)
	}
	if n := ssoCount(t, dbs[0], "SELECT count(*) FROM client_registrations"); n != 1 {
		t.Errorf("%d stored registrations, want 1", n)
	}
}
