package handlers_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/testkit"
	"golang.org/x/crypto/bcrypt"
)

// BenchmarkDashboard times one signed-in GET /dashboard through the
// handler stack app.New builds, called in process (no network), with
// info-level request logs formatted as in production and then discarded,
// and a response writer that drops the page once written. The clock stands
// still, so no request writes last_seen: this is the read path every page
// view takes. cpu-ns/op is the process's CPU time per request. GET /healthz
// is the empty request the load benchmark compares it with.
func BenchmarkDashboard(b *testing.B) {
	cfg := config.Default()
	cfg.Database = testkit.Database(b, "gatehouse.db")
	if err := cfg.Finish(); err != nil {
		b.Fatal(err)
	}
	cfg.Password.BcryptCost = bcrypt.MinCost
	now := time.Date(2030, 1, 2, 9, 0, 0, 0, time.UTC)
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := app.New(context.Background(), cfg, app.Options{Logger: logger, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	pw := goodPW
	if _, err := a.Accounts.CreateUser(context.Background(), accounts.NewUser{Email: alice, Password: &pw}); err != nil {
		b.Fatal(err)
	}
	h := a.Handler()

	login := httptest.NewRequest(http.MethodPost, "/auth/login", strings.NewReader(loginForm(alice, goodPW).Encode()))
	login.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, login)
	var cookie *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == cfg.CookieName() {
			cookie = c
		}
	}
	if rec.Code != http.StatusSeeOther || cookie == nil {
		b.Fatalf("login: %d, cookies %v", rec.Code, rec.Result().Cookies())
	}

	for _, bc := range []struct{ name, path, want string }{
		{"dashboard", "/dashboard", `id="user-email">` + alice + `<`},
		{"healthz", "/healthz", "ok"},
	} {
		request := func() *http.Request {
			req, err := http.NewRequest(http.MethodGet, "http://"+login.Host+bc.path, nil)
			if err != nil {
				b.Fatal(err)
			}
			if bc.name == "dashboard" {
				req.AddCookie(cookie)
			}
			return req
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, request())
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), bc.want) {
			b.Fatalf("GET %s: %d, body lacks %q", bc.path, rec.Code, bc.want)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			w := &discardResponse{header: http.Header{}}
			cpu0 := processCPU(b)
			for b.Loop() {
				clear(w.header)
				w.status = 0
				h.ServeHTTP(w, request())
				if w.status != http.StatusOK {
					b.Fatalf("GET %s: %d", bc.path, w.status)
				}
			}
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the CPU time the process has used, user and system, in
// nanoseconds. Per request it is steadier than wall time on a shared
// machine, and it counts the garbage collector's background work too.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// discardResponse is a reused http.ResponseWriter that keeps the status and
// drops the body, as a server's buffered connection costs a handler no new
// memory per response; a recorder's growing body would be counted instead.
type discardResponse struct {
	header http.Header
	status int
}

func (d *discardResponse) Header() http.Header { return d.header }

func (d *discardResponse) WriteHeader(status int) {
	if d.status == 0 {
		d.status = status
	}
}

func (d *discardResponse) Write(p []byte) (int, error) {
	d.WriteHeader(http.StatusOK)
	return len(p), nil
}
