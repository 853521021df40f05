package accounts

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/testkit"
	"golang.org/x/crypto/bcrypt"
)

const minLength = 10

func newService(t *testing.T, cost int) *Service {
	t.Helper()
	db, err := models.Open(testkit.Database(t, "accounts.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return &Service{DB: db, Hasher: newHasher(t, cost), Logger: slog.New(slog.DiscardHandler)}
}

func newHasher(t *testing.T, cost int) *password.Hasher {
	t.Helper()
	h, err := password.New(cost, minLength)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func ptr(s string) *string { return &s }

func mustCreate(t *testing.T, s *Service, n NewUser) *models.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), n)
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", n.Email, err)
	}
	return u
}

func hashCost(t *testing.T, s *Service, id int64) int {
	t.Helper()
	u, err := s.DB.UserByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if u.PasswordHash == nil {
		t.Fatal("user has no password hash")
	}
	c, err := bcrypt.Cost([]byte(*u.PasswordHash))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	s := newService(t, bcrypt.MinCost)
	ctx := t.Context()
	const pw = "correct horse battery"
	alice := mustCreate(t, s, NewUser{Email: "Alice@Example.com", Name: "Alice", Password: ptr(pw)})
	disabled := mustCreate(t, s, NewUser{Email: "off@example.com", Password: ptr(pw)})
	if err := s.DB.SetDisabled(ctx, disabled.ID, true); err != nil {
		t.Fatal(err)
	}
	ssoOnly := mustCreate(t, s, NewUser{Email: "sso@example.com"})
	if ssoOnly.PasswordHash != nil {
		t.Fatal("SSO-only account got a password hash")
	}
	emptyHash := mustCreate(t, s, NewUser{Email: "empty@example.com"})
	if err := s.DB.SetPasswordHash(ctx, emptyHash.ID, ptr("")); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		email    string
		pw       string
		wantUser int64  // on success
		reason   Reason // on failure
		userSet  bool   // LoginError.User is set
	}{
		{"success", "alice@example.com", pw, alice.ID, "", false},
		{"success with other case and spaces", "  ALICE@example.COM ", pw, alice.ID, "", false},
		{"unknown email", "nobody@example.com", pw, 0, ReasonUnknownEmail, false},
		{"empty email", "", pw, 0, ReasonUnknownEmail, false},
		{"wrong password", "alice@example.com", pw + "x", 0, ReasonWrongPassword, true},
		{"empty password", "alice@example.com", "", 0, ReasonWrongPassword, true},
		{"password case differs", "alice@example.com", strings.ToUpper(pw), 0, ReasonWrongPassword, true},
		{"over-long password", "alice@example.com", pw + strings.Repeat("x", 100), 0, ReasonWrongPassword, true},
		{"disabled account with right password", "off@example.com", pw, 0, ReasonDisabled, true},
		{"disabled account with wrong password", "off@example.com", "nope nope nope", 0, ReasonDisabled, true},
		{"SSO-only account", "sso@example.com", pw, 0, ReasonNoPassword, true},
		{"SSO-only account empty password", "sso@example.com", "", 0, ReasonNoPassword, true},
		{"empty stored hash", "empty@example.com", "", 0, ReasonNoPassword, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := s.Authenticate(ctx, tt.email, tt.pw)
			if tt.reason == "" {
				if err != nil || u == nil || u.ID != tt.wantUser {
					t.Fatalf("Authenticate = %v, %v; want user %d", u, err, tt.wantUser)
				}
				return
			}
			if u != nil {
				t.Fatalf("failed sign-in returned user %d", u.ID)
			}
			if !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("error %v does not match ErrBadCredentials", err)
			}
			var le *LoginError
			if !errors.As(err, &le) {
				t.Fatalf("error %T is not a *LoginError", err)
			}
			if le.Reason != tt.reason {
				t.Fatalf("Reason = %q, want %q", le.Reason, tt.reason)
			}
			if (le.User != nil) != tt.userSet {
				t.Fatalf("LoginError.User = %v, want set=%v", le.User, tt.userSet)
			}
			// The text starts with the generic answer; the reason is for logs.
			if !strings.HasPrefix(err.Error(), ErrBadCredentials.Error()) {
				t.Fatalf("message %q does not start with the generic text", err.Error())
			}
		})
	}
}

func TestAuthenticateRehashesWhenCostRose(t *testing.T) {
	t.Parallel()
	s := newService(t, bcrypt.MinCost)
	ctx := t.Context()
	const pw = "an adequately long pw"
	u := mustCreate(t, s, NewUser{Email: "r@example.com", Password: ptr(pw)})
	if c := hashCost(t, s, u.ID); c != bcrypt.MinCost {
		t.Fatalf("initial cost %d", c)
	}

	// A failed sign-in never rehashes.
	s.Hasher = newHasher(t, bcrypt.MinCost+1)
	if _, err := s.Authenticate(ctx, "r@example.com", "wrong password!"); err == nil {
		t.Fatal("wrong password accepted")
	}
	if c := hashCost(t, s, u.ID); c != bcrypt.MinCost {
		t.Fatalf("failed sign-in changed the cost to %d", c)
	}

	before, _ := s.DB.UserByID(ctx, u.ID)
	if _, err := s.Authenticate(ctx, "r@example.com", pw); err != nil {
		t.Fatal(err)
	}
	after, _ := s.DB.UserByID(ctx, u.ID)
	if c := hashCost(t, s, u.ID); c != bcrypt.MinCost+1 {
		t.Fatalf("after sign-in with a higher configured cost, hash cost = %d, want %d", c, bcrypt.MinCost+1)
	}
	if *after.PasswordHash == *before.PasswordHash {
		t.Fatal("hash unchanged")
	}
	// The new hash still works; sign-in at the same cost leaves it alone.
	if _, err := s.Authenticate(ctx, "r@example.com", pw); err != nil {
		t.Fatalf("sign-in after rehash: %v", err)
	}
	again, _ := s.DB.UserByID(ctx, u.ID)
	if *again.PasswordHash != *after.PasswordHash {
		t.Fatal("hash rewritten although the cost did not change")
	}
	// A lower configured cost rehashes down too: a hash of a higher cost
	// would take longer to check than an unknown email's dummy.
	s.Hasher = newHasher(t, bcrypt.MinCost)
	if _, err := s.Authenticate(ctx, "r@example.com", pw); err != nil {
		t.Fatal(err)
	}
	if c := hashCost(t, s, u.ID); c != bcrypt.MinCost {
		t.Fatalf("after sign-in with a lower configured cost, hash cost = %d, want %d", c, bcrypt.MinCost)
	}
}

// TestAuthenticateCostAfterCostChange: after bcrypt_cost rose, a failed
// sign-in against an account still hashed at the old cost spends the same
// bcrypt work as an unknown email, a wrong password at the current cost
// and a success, so its timing does not single out accounts that exist.
// Work is counted (Hasher.Rounds), not timed.
func TestAuthenticateCostAfterCostChange(t *testing.T) {
	t.Parallel()
	s := newService(t, bcrypt.MinCost)
	ctx := t.Context()
	const pw = "an adequately long pw"
	mustCreate(t, s, NewUser{Email: "old@example.com", Password: ptr(pw)})
	mustCreate(t, s, NewUser{Email: "old2@example.com", Password: ptr(pw)})
	const cost = bcrypt.MinCost + 3
	s.Hasher = newHasher(t, cost)
	mustCreate(t, s, NewUser{Email: "new@example.com", Password: ptr(pw)})
	for _, tt := range []struct {
		name, email, pw string
		ok              bool
	}{
		{"unknown email", "nobody@example.com", "not the password", false},
		{"wrong password, current cost", "new@example.com", "not the password", false},
		{"wrong password, old cost", "old@example.com", "not the password", false},
		{"right password, current cost", "new@example.com", pw, true},
		{"right password, old cost (rehashed after)", "old2@example.com", pw, true},
	} {
		before := s.Hasher.Rounds()
		_, err := s.Authenticate(ctx, tt.email, tt.pw)
		if (err == nil) != tt.ok {
			t.Fatalf("%s: Authenticate = %v", tt.name, err)
		}
		if got := s.Hasher.Rounds() - before; got != 1<<cost {
			t.Errorf("%s: %d bcrypt rounds compared, want %d (one comparison at the configured cost)", tt.name, got, 1<<cost)
		}
	}
}

func TestCreateUserValidation(t *testing.T) {
	t.Parallel()
	s := newService(t, bcrypt.MinCost)
	mustCreate(t, s, NewUser{Email: "taken@example.com", Password: ptr("long enough pw")})
	tests := []struct {
		name string
		n    NewUser
		msg  string
	}{
		{"bad email", NewUser{Email: "not-an-email", Password: ptr("long enough pw")}, "Enter a valid email address."},
		{"empty email", NewUser{Email: "  "}, "Enter a valid email address."},
		{"email with space", NewUser{Email: "a b@example.com"}, "Enter a valid email address."},
		{"too-short password", NewUser{Email: "short@example.com", Password: ptr("short")}, fmt.Sprintf("Use a password of at least %d characters.", minLength)},
		{"too-long password", NewUser{Email: "long@example.com", Password: ptr(strings.Repeat("x", 73))}, "Use a password of at most 72 bytes."},
		{"invalid UTF-8 password", NewUser{Email: "utf@example.com", Password: ptr("abcdefghijk\xff")}, "Passwords must be text."},
		{"duplicate email", NewUser{Email: "taken@example.com"}, "An account with this email already exists."},
		{"duplicate email differing only in case", NewUser{Email: "TAKEN@Example.COM", Password: ptr("long enough pw")}, "An account with this email already exists."},
		{"name too long", NewUser{Email: "name@example.com", Name: strings.Repeat("n", 201)}, "Names are at most 200 characters of text."},
		{"name invalid UTF-8", NewUser{Email: "name@example.com", Name: "bad\xff"}, "Names are at most 200 characters of text."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := s.CreateUser(t.Context(), tt.n)
			if u != nil {
				t.Fatalf("CreateUser returned a user: %+v", u)
			}
			var ve *Error
			if !errors.As(err, &ve) {
				t.Fatalf("CreateUser = %v (%T), want *Error", err, err)
			}
			if ve.Error() != tt.msg {
				t.Fatalf("message %q, want %q", ve.Error(), tt.msg)
			}
		})
	}
	if n, _ := s.DB.CountUsers(t.Context(), false); n != 1 {
		t.Fatalf("%d users after failed creates, want 1", n)
	}
}

func TestCreateUserStoresAccount(t *testing.T) {
	t.Parallel()
	s := newService(t, bcrypt.MinCost)
	ctx := t.Context()
	name := strings.Repeat("é", 200) // 200 characters, 400 bytes: allowed
	u := mustCreate(t, s, NewUser{Email: " Admin@Example.COM ", Name: "  " + name + " ", Admin: true, Password: ptr("long enough pw")})
	got, err := s.DB.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Email != "admin@example.com" || got.Name != name || !got.IsAdmin || !got.HasPassword() || *got.PasswordHash == "long enough pw" {
		t.Fatalf("stored %+v", got)
	}
	if _, err := s.Authenticate(ctx, "admin@example.com", "long enough pw"); err != nil {
		t.Fatalf("new account cannot sign in: %v", err)
	}
}

func TestSetPasswordEndsSessions(t *testing.T) {
	t.Parallel()
	s := newService(t, bcrypt.MinCost)
	ctx := t.Context()
	u := mustCreate(t, s, NewUser{Email: "p@example.com", Password: ptr("old password here")})
	other := mustCreate(t, s, NewUser{Email: "q@example.com", Password: ptr("old password here")})
	now := time.Now().UTC()
	for i, uid := range []int64{u.ID, u.ID, u.ID, other.ID} {
		id := uid
		row := &models.Session{TokenHash: fmt.Sprintf("h%d", i), UserID: &id, CreatedAt: now, LastSeenAt: now, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour)}
		if err := s.DB.CreateSession(ctx, row); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name string
		pw   string
		msg  string // non-empty: a validation error with this message
	}{
		{"too short", "short", fmt.Sprintf("Use a password of at least %d characters.", minLength)},
		{"too long", strings.Repeat("y", 80), "Use a password of at most 72 bytes."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.SetPassword(ctx, u.ID, tt.pw, "by a test")
			var ve *Error
			if !errors.As(err, &ve) || ve.Msg != tt.msg {
				t.Fatalf("SetPassword = %v, want validation error %q", err, tt.msg)
			}
			if n := len(mustSessions(t, s, u.ID)); n != 3 {
				t.Fatalf("a refused password change ended sessions: %d left", n)
			}
		})
	}

	if err := s.SetPassword(ctx, u.ID, "brand new password", "by a test"); err != nil {
		t.Fatal(err)
	}
	if n := len(mustSessions(t, s, u.ID)); n != 0 {
		t.Fatalf("%d sessions survive the password change", n)
	}
	if n := len(mustSessions(t, s, other.ID)); n != 1 {
		t.Fatalf("another user's sessions were ended: %d left", n)
	}
	if _, err := s.Authenticate(ctx, "p@example.com", "old password here"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("old password still works: %v", err)
	}
	if _, err := s.Authenticate(ctx, "p@example.com", "brand new password"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if err := s.SetPassword(ctx, 424242, "brand new password", "by a test"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("SetPassword(unknown user) = %v, want ErrNotFound", err)
	}
}

func mustSessions(t *testing.T, s *Service, userID int64) []models.Session {
	t.Helper()
	ss, err := s.DB.UserSessions(t.Context(), userID)
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

// TestAuthenticateSpendsOneComparison checks every failure spends exactly
// one bcrypt comparison, as a wrong password does, so an unknown email or an
// SSO-only account does not answer faster. Counting comparisons instead of
// timing them keeps the test deterministic on a noisy machine.
func TestAuthenticateSpendsOneComparison(t *testing.T) {
	t.Parallel()
	s := newService(t, bcrypt.MinCost)
	ctx := t.Context()
	mustCreate(t, s, NewUser{Email: "known@example.com", Password: ptr("the real password")})
	mustCreate(t, s, NewUser{Email: "sso@example.com"})
	disabled := mustCreate(t, s, NewUser{Email: "off@example.com", Password: ptr("the real password")})
	if err := s.DB.SetDisabled(ctx, disabled.ID, true); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, email, pw string }{
		{"wrong password", "known@example.com", "not the password"},
		{"unknown email", "unknown@example.com", "not the password"},
		{"SSO-only account", "sso@example.com", "not the password"},
		{"disabled account, right password", "off@example.com", "the real password"},
		{"unknown email, over-long password", "unknown@example.com", strings.Repeat("z", 300)},
		{"known email, over-long password", "known@example.com", strings.Repeat("z", 300)},
	} {
		before := s.Hasher.Comparisons()
		if _, err := s.Authenticate(ctx, tt.email, tt.pw); err == nil {
			t.Fatalf("%s: sign-in succeeded", tt.name)
		}
		if n := s.Hasher.Comparisons() - before; n != 1 {
			t.Errorf("%s: %d bcrypt comparisons, want exactly 1", tt.name, n)
		}
	}
}

// TestPasswordChangesForgetDevices: setting, changing or removing a
// password forgets the browsers known to have signed in to the account, so
// one that signed in with the old password keeps no known browser's budget.
func TestPasswordChangesForgetDevices(t *testing.T) {
	t.Parallel()
	s := newService(t, bcrypt.MinCost)
	ctx := t.Context()
	pw := "old password here"
	u, err := s.CreateUser(ctx, NewUser{Email: "d@example.com", Password: &pw})
	if err != nil {
		t.Fatal(err)
	}
	for _, change := range []struct {
		name string
		do   func() error
	}{
		{"set", func() error { return s.SetPassword(ctx, u.ID, "a new long password", "by a test") }},
		{"change", func() error {
			return s.ChangePassword(ctx, u, "a new long password", "another long password", "")
		}},
		{"remove", func() error { return s.RemovePassword(ctx, u.ID, "by a test") }},
	} {
		if err := s.DB.RememberDevice(ctx, u.ID, "device-hash", 10); err != nil {
			t.Fatal(err)
		}
		if known, err := s.DB.KnownDevice(ctx, u.Email, "device-hash", time.Hour); err != nil || !known {
			t.Fatalf("%s: device not remembered: %v %v", change.name, known, err)
		}
		if err := change.do(); err != nil {
			t.Fatalf("%s: %v", change.name, err)
		}
		if u, err = s.DB.UserByID(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if known, err := s.DB.KnownDevice(ctx, u.Email, "device-hash", time.Hour); err != nil || known {
			t.Fatalf("%s: device still known after the password %s: %v %v", change.name, change.name, known, err)
		}
	}
}
