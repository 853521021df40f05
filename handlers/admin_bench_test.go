package handlers_test

import (
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// admBenchUsers is how many accounts the users-list benchmark searches.
const admBenchUsers = 100_000

// seedBenchUsers inserts n accounts (ids from first) in one transaction with
// multi-row INSERTs: every fourth has a password hash, every fiftieth is
// disabled, every other has signed in, every tenth has an SSO identity.
func seedBenchUsers(tb testing.TB, e *admEnv, first int64, n int) {
	tb.Helper()
	const batch = 500
	base := e.clock.Now().Add(-365 * 24 * time.Hour)
	hash := "$2a$04$abcdefghijklmnopqrstuuJ5gq6Jb6b7y8i5M3v2vX3cW1n0Z9K9e" // never checked
	err := inRawTx(rawSQL(tb, e.cfg.Database), func(tx *sql.Tx) error {
		for start := 0; start < n; start += batch {
			end := min(start+batch, n)
			var users, idents strings.Builder
			var uargs, iargs []any
			users.WriteString("INSERT INTO users (id, email, name, password_hash, is_admin, disabled_at, created_at, updated_at, last_login_at, last_login_method) VALUES ")
			idents.WriteString("INSERT INTO identities (user_id, provider_id, issuer, subject, email, claims, created_at, last_login_at) VALUES ")
			for i := start; i < end; i++ {
				id := first + int64(i)
				email := fmt.Sprintf("user%05d@bench.example", i)
				created := base.Add(time.Duration(i) * time.Minute)
				var pw *string
				if i%4 == 0 {
					pw = &hash
				}
				var disabled, last *time.Time
				method := ""
				if i%50 == 0 {
					disabled = &created
				}
				if i%2 == 0 {
					t := created.Add(time.Duration(i%997) * time.Hour)
					last = &t
					method = map[bool]string{true: "password", false: "sso"}[i%4 == 0]
				}
				if i > start {
					users.WriteString(",")
				}
				users.WriteString("(?,?,?,?,?,?,?,?,?,?)")
				uargs = append(uargs, id, email, fmt.Sprintf("Bench User %05d", i), pw, i%1000 == 0, disabled, created, created, last, method)
				if i%10 == 0 {
					if len(iargs) > 0 {
						idents.WriteString(",")
					}
					idents.WriteString("(?,?,?,?,?,?,?,?)")
					iargs = append(iargs, id, "acme", "https://idp.bench.example", fmt.Sprintf("sub-%d", i), email, "{}", created, last)
				}
			}
			if _, err := tx.Exec(users.String(), uargs...); err != nil {
				return err
			}
			if len(iargs) > 0 {
				if _, err := tx.Exec(idents.String(), iargs...); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("seed users: %v", err)
	}
}

// BenchmarkAdminUsersSearch times the admin users list over 100,000
// accounts through the real handler stack, signed in as an administrator.
// The parent runs once (it has sub-benchmarks), so the seeding is done once
// per run, never per iteration.
func BenchmarkAdminUsersSearch(b *testing.B) {
	e := newAdmEnv(b, admOpts{noOP: true, noUsers: true})
	admin := e.mkUser(b, admRoot, "Root Admin", admPW, true)
	start := time.Now()
	seedBenchUsers(b, e, admin.ID+1, admBenchUsers)
	b.Logf("seeded %d users in %v", admBenchUsers, time.Since(start).Round(time.Millisecond))
	root := e.asRoot(b)

	for _, bc := range []struct{ name, path, want string }{
		{"q=user12345", "/admin/users?q=user12345", "user12345@bench.example"},
		{"sort=-last_login", "/admin/users?sort=-last_login", "100001 accounts"},
		{"sso=yes&sort=name&page=20", "/admin/users?sso=yes&sort=name&page=20", "10000 accounts match"},
	} {
		r := root.get(b, bc.path)
		if r.status != http.StatusOK || !strings.Contains(r.body, bc.want) {
			b.Fatalf("GET %s: %d, body lacks %q", bc.path, r.status, bc.want)
		}
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				r, err := root.try("GET", bc.path, nil, nil)
				if err != nil || r.status != http.StatusOK {
					b.Fatalf("GET %s: %v %v", bc.path, r, err)
				}
			}
		})
	}
}
