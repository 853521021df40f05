package metrics

import (
	"context"
	"errors"
	"github.com/gatehouse/gatehouse/testkit"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// scrape serves reg through Handler and returns every sample as
// `name{label="value",...}` (labels sorted) -> value.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler(reg, slog.New(slog.DiscardHandler)).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	return testkit.ParseMetrics(t, rec.Body.String())
}

func TestNilMetricsIsANoOp(t *testing.T) {
	var m *Metrics
	m.SignIn("password", "", true)
	m.DBError("x")
	m.ObserveRequest("GET", "/", 200, time.Second)
	m.CountSessionsWith(func(context.Context) (int64, error) { return 1, nil })
	c := &http.Client{}
	if got := m.InstrumentClient("p", c); got != c {
		t.Error("nil Metrics changed the client")
	}
}

func TestRegistryHasRuntimeCollectors(t *testing.T) {
	reg := NewRegistry()
	New(reg)
	s := scrape(t, reg)
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := s[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	// Two apps in one process: each its own registry, no conflict.
	New(NewRegistry())
}

func TestCounters(t *testing.T) {
	reg := NewRegistry()
	m := New(reg)
	m.SignIn("password", "", true)
	m.SignIn("password", "", false)
	m.SignIn("password", "", false)
	m.SignIn("sso", "acme", true)
	m.SignIn("setup", "", true)
	m.DBError("authenticate")
	m.ObserveRequest("POST", "/auth/login", 303, 50*time.Millisecond)
	m.ObserveRequest("BREW", "", 404, time.Millisecond)
	s := scrape(t, reg)
	for k, want := range map[string]float64{
		`gatehouse_signins_total{method="password",provider="",result="success"}`:     1,
		`gatehouse_signins_total{method="password",provider="",result="failure"}`:     2,
		`gatehouse_signins_total{method="sso",provider="acme",result="success"}`:      1,
		`gatehouse_signins_total{method="other",provider="",result="success"}`:        1,
		`gatehouse_db_errors_total{op="authenticate"}`:                                1,
		`gatehouse_http_requests_total{code="303",method="POST",route="/auth/login"}`: 1,
		`gatehouse_http_requests_total{code="404",method="other",route="unmatched"}`:  1,
		`gatehouse_http_request_duration_seconds_count{route="/auth/login"}`:          1,
		`gatehouse_http_request_duration_seconds_sum{route="/auth/login"}`:            0.05,
	} {
		if got, ok := s[k]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, want)
		}
	}
}

func TestActiveSessionsCached(t *testing.T) {
	reg := NewRegistry()
	m := New(reg)
	const name = "gatehouse_active_sessions"
	if _, ok := scrape(t, reg)[name]; ok {
		t.Fatal("gauge reported before a counter was set")
	}
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	m.sessions.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	calls, n := 0, int64(3)
	var fail error
	m.CountSessionsWith(func(context.Context) (int64, error) { calls++; return n, fail })

	if got := scrape(t, reg)[name]; got != 3 || calls != 1 {
		t.Fatalf("first scrape: %v after %d counts, want 3 after 1", got, calls)
	}
	n = 5
	advance(SessionsCacheTTL - time.Second)
	if got := scrape(t, reg)[name]; got != 3 || calls != 1 {
		t.Fatalf("within the TTL: %v after %d counts, want the cached 3", got, calls)
	}
	advance(time.Second)
	if got := scrape(t, reg)[name]; got != 5 || calls != 2 {
		t.Fatalf("after the TTL: %v after %d counts, want 5 after 2", got, calls)
	}
	fail = errors.New("database is locked")
	advance(SessionsCacheTTL)
	s := scrape(t, reg)
	if _, ok := s[name]; ok {
		t.Error("gauge reported despite a failed count")
	}
	// The error counter is collected alongside the gauge, so the failure
	// shows from the next scrape on.
	if s = scrape(t, reg); s[`gatehouse_db_errors_total{op="count active sessions"}`] < 1 {
		t.Error("failed count not counted as a DB error")
	}
	fail = nil
	if got := scrape(t, reg)[name]; got != 5 {
		t.Errorf("after recovery: %v, want 5", got)
	}
}

func TestEndpoint(t *testing.T) {
	for path, want := range map[string]string{
		"/.well-known/openid-configuration":             "discovery",
		"/realms/acme/.well-known/openid-configuration": "discovery",
		"/token": "token",
		"/realms/acme/protocol/openid-connect/token":    "token",
		"/oauth2/v2.0/token":                            "token",
		"/v1/userinfo":                                  "userinfo",
		"/realms/acme/protocol/openid-connect/userinfo": "userinfo",
		"/jwks":                  "jwks",
		"/.well-known/jwks.json": "jwks",
		"/discovery/v2.0/keys":   "jwks",
		"/realms/acme/protocol/openid-connect/certs": "jwks",
		"/register": "registration",
		"/realms/acme/clients-registrations/openid-connect": "registration",
		"/oauth2/v1/clients":           "registration",
		"/something/else":              "other",
		"/" + strings.Repeat("x", 100): "other",
		"":                             "other",
	} {
		if got := Endpoint(path); got != want {
			t.Errorf("Endpoint(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestInstrumentClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			w.WriteHeader(http.StatusBadGateway)
		default:
			io.WriteString(w, "{}")
		}
	}))
	defer srv.Close()
	reg := NewRegistry()
	m := New(reg)
	base := &http.Client{Timeout: 5 * time.Second}
	c := m.InstrumentClient("acme", base)
	if base.Transport != nil {
		t.Fatal("the base client was modified")
	}
	for _, p := range []string{"/.well-known/openid-configuration", "/jwks", "/token"} {
		resp, err := c.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if _, err := c.Get("http://127.0.0.1:1/userinfo"); err == nil {
		t.Fatal("a request to a closed port succeeded")
	}
	s := scrape(t, reg)
	for k, want := range map[string]float64{
		`gatehouse_idp_request_duration_seconds_count{endpoint="discovery",provider="acme"}`: 1,
		`gatehouse_idp_request_duration_seconds_count{endpoint="jwks",provider="acme"}`:      1,
		`gatehouse_idp_request_duration_seconds_count{endpoint="token",provider="acme"}`:     1,
		`gatehouse_idp_request_duration_seconds_count{endpoint="userinfo",provider="acme"}`:  1,
		`gatehouse_idp_request_errors_total{endpoint="token",provider="acme"}`:               1,
		`gatehouse_idp_request_errors_total{endpoint="userinfo",provider="acme"}`:            1,
	} {
		if got := s[k]; got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	for _, k := range []string{
		`gatehouse_idp_request_errors_total{endpoint="discovery",provider="acme"}`,
		`gatehouse_idp_request_errors_total{endpoint="jwks",provider="acme"}`,
	} {
		if _, ok := s[k]; ok {
			t.Errorf("%s present: a 200 counted as an error", k)
		}
	}
}
