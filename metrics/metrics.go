// Package metrics defines gatehouse's Prometheus metrics. There is no
// package-level state: each app makes its own registry (NewRegistry) and its
// own Metrics (New). Every method is safe on a nil *Metrics and then does
// nothing, so handlers and tests that do not care pass nil.
//
// Label values are bounded: routes are Gin route templates (never raw
// paths), providers are configured IDs, operations and endpoints come from
// fixed sets in the code.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// SessionsCacheTTL is how long gatehouse_active_sessions reuses a count, so
// frequent scrapes do not each query the database.
const SessionsCacheTTL = 10 * time.Second

// Metrics is the set of gatehouse metrics registered on one registry.
type Metrics struct {
	signins      *prometheus.CounterVec
	idpDuration  *prometheus.HistogramVec
	idpErrors    *prometheus.CounterVec
	dbErrors     *prometheus.CounterVec
	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	sessions     *countGauge
	mailQueue    *countGauge
	mailSent     prometheus.Counter
	mailFailed   *prometheus.CounterVec
	auditQueue   *countGauge
	auditSent    prometheus.Counter
	auditFailed  *prometheus.CounterVec
	auditSkipped prometheus.Counter
	limited      *prometheus.CounterVec
	noPending    prometheus.Counter
	mfa          *prometheus.CounterVec
}

// Limit names a bound on unauthenticated work, the limit label of
// gatehouse_limited_requests_total.
type Limit string

// The bounds on unauthenticated work.
const (
	// LimitSSOStartAddress: SSO sign-ins started from one client address.
	LimitSSOStartAddress Limit = "sso_start_address"
	// LimitPendingCap: sign-ins in progress (pending at a provider), in all.
	LimitPendingCap Limit = "pending_cap"
	// LimitPasskeyAddress: passwordless passkey sign-ins begun from one
	// client address.
	LimitPasskeyAddress Limit = "passkey_address"
	// LimitBackchannelAddress: back-channel logout posts from one address.
	LimitBackchannelAddress Limit = "backchannel_address"
)

// NewRegistry returns an empty registry with the Go runtime and process
// collectors, the one an app serves at /metrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// New creates the gatehouse metrics and registers them on reg. It panics if
// they are already registered there (a programming error).
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		signins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_signins_total",
			Help: "Sign-in attempts by method (password or sso), provider ID (empty for password) and result (success or failure).",
		}, []string{"method", "provider", "result"}),
		idpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_idp_request_duration_seconds",
			Help:    "Duration of outbound calls to OpenID Providers until the response headers arrived, by provider ID and endpoint.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"provider", "endpoint"}),
		idpErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_idp_request_errors_total",
			Help: "Outbound calls to OpenID Providers that failed (transport error, timeout or HTTP 5xx), by provider ID and endpoint.",
		}, []string{"provider", "endpoint"}),
		dbErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_db_errors_total",
			Help: "Failed database operations, by operation.",
		}, []string{"op"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total",
			Help: "HTTP requests served, by method, route template (\"unmatched\" when no route matched) and status code.",
		}, []string{"method", "route", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_http_request_duration_seconds",
			Help:    "Duration of HTTP requests, by route template.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
	}
	m.limited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_limited_requests_total",
		Help: "Requests refused by a bound on unauthenticated work: sso_start_address (429), pending_cap (503), backchannel_address (429).",
	}, []string{"limit"})
	m.noPending = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatehouse_sso_callbacks_without_pending_total",
		Help: "SSO callbacks that matched no pending sign-in (expired, used, from another browser, or never started); not audited.",
	})
	m.sessions = &countGauge{
		desc: prometheus.NewDesc("gatehouse_active_sessions",
			"Signed-in sessions that have not expired (counted at most every 10s).", nil, nil),
		ttl: SessionsCacheTTL, now: time.Now, dbErrors: m.dbErrors, op: "count active sessions",
	}
	m.mailQueue = &countGauge{
		desc: prometheus.NewDesc("gatehouse_mail_queue",
			"Messages in the mail outbox neither sent nor given up on, on every replica (counted at most every 10s).", nil, nil),
		ttl: SessionsCacheTTL, now: time.Now, dbErrors: m.dbErrors, op: "count queued mail",
	}
	m.mailSent = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatehouse_mail_sent_total",
		Help: "Messages this process delivered to the mail transport (the SMTP relay accepted them, or the .eml file was written).",
	})
	m.mailFailed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_mail_failed_total",
		Help: "Failed mail delivery attempts of this process, by outcome: retry (tried again after a backoff) or gave_up (the last attempt, or a permanent refusal).",
	}, []string{"outcome"})
	m.auditQueue = &countGauge{
		desc: prometheus.NewDesc("gatehouse_audit_outbox_queue",
			"Audit webhook deliveries waiting in the outbox (not given up on), on every replica (counted at most every 10s).", nil, nil),
		ttl: SessionsCacheTTL, now: time.Now, dbErrors: m.dbErrors, op: "count queued audit deliveries",
	}
	m.auditSent = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatehouse_audit_webhook_delivered_total",
		Help: "Audit events this process delivered to audit.webhook (a 2xx answer).",
	})
	m.auditFailed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_audit_webhook_failed_total",
		Help: "Failed audit webhook delivery attempts of this process, by outcome: retry (tried again after a backoff) or gave_up (the last attempt).",
	}, []string{"outcome"})
	m.auditSkipped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatehouse_audit_outbox_skipped_total",
		Help: "Audit events this process stored but did not queue for audit.webhook because the outbox was full.",
	})
	m.mfa = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_mfa_events_total",
		Help: "Second-factor events of this process: enrolled, removed, recovery_codes (a new set), recovery_used, failure (a wrong or used code), and accepted (a right code).",
	}, []string{"event"})
	for _, ev := range []string{"enrolled", "removed", "recovery_codes", "recovery_used", "failure", "accepted"} {
		m.mfa.WithLabelValues(ev) // present at zero: an alert on a rate needs the series
	}
	reg.MustRegister(m.signins, m.idpDuration, m.idpErrors, m.dbErrors, m.httpRequests, m.httpDuration, m.sessions, m.limited, m.noPending,
		m.mailQueue, m.mailSent, m.mailFailed, m.auditQueue, m.auditSent, m.auditFailed, m.auditSkipped, m.mfa)
	return m
}

// Handler serves the registry in the Prometheus exposition format. A
// collector that fails is logged and left out; the rest is still served.
func Handler(reg *prometheus.Registry, log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            reg, // promhttp_metric_handler_errors_total
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// SignIn counts a sign-in attempt. method is "password" or "sso" (anything
// else is counted as "other"); provider is a configured provider ID or "".
func (m *Metrics) SignIn(method, provider string, success bool) {
	if m == nil {
		return
	}
	if method != "password" && method != "sso" {
		method = "other"
	}
	result := "failure"
	if success {
		result = "success"
	}
	m.signins.WithLabelValues(method, provider, result).Inc()
}

// DBError counts a failed database operation. op must come from a fixed
// set (a string constant at the call site), never from input.
func (m *Metrics) DBError(op string) {
	if m == nil {
		return
	}
	m.dbErrors.WithLabelValues(op).Inc()
}

// Limited counts a request refused by the bound l.
func (m *Metrics) Limited(l Limit) {
	if m == nil {
		return
	}
	m.limited.WithLabelValues(string(l)).Inc()
}

// CallbackWithoutPending counts an SSO callback that matched no pending
// sign-in: it is counted rather than audited, as anyone can send one.
func (m *Metrics) CallbackWithoutPending() {
	if m == nil {
		return
	}
	m.noPending.Inc()
}

// ObserveRequest records one served HTTP request. route is the matched
// route template; empty means no route matched.
func (m *Metrics) ObserveRequest(method, route string, code int, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	m.httpRequests.WithLabelValues(httpMethod(method), route, strconv.Itoa(code)).Inc()
	m.httpDuration.WithLabelValues(route).Observe(d.Seconds())
}

// httpMethod bounds the method label: clients can send any token.
func httpMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// CountSessionsWith sets how gatehouse_active_sessions is counted; until it
// is called the gauge reports nothing. A failed count is a DBError
// "count active sessions", and the scrape then lacks the gauge.
func (m *Metrics) CountSessionsWith(count func(context.Context) (int64, error)) {
	if m == nil {
		return
	}
	m.sessions.mu.Lock()
	defer m.sessions.mu.Unlock()
	m.sessions.count, m.sessions.at = count, time.Time{}
}

// MFA counts a second-factor event (see gatehouse_mfa_events_total).
func (m *Metrics) MFA(event string) {
	if m == nil {
		return
	}
	m.mfa.WithLabelValues(event).Inc()
}

// MailSent counts a message delivered to the mail transport.
func (m *Metrics) MailSent() {
	if m == nil {
		return
	}
	m.mailSent.Inc()
}

// MailFailed counts a failed delivery attempt; gaveUp says it was the last.
func (m *Metrics) MailFailed(gaveUp bool) {
	if m == nil {
		return
	}
	outcome := "retry"
	if gaveUp {
		outcome = "gave_up"
	}
	m.mailFailed.WithLabelValues(outcome).Inc()
}

// CountMailQueueWith sets how gatehouse_mail_queue is counted; until it is
// called (mail off) the gauge reports nothing. A failed count is a DBError
// "count queued mail".
func (m *Metrics) CountMailQueueWith(count func(context.Context) (int64, error)) {
	if m == nil {
		return
	}
	m.mailQueue.mu.Lock()
	defer m.mailQueue.mu.Unlock()
	m.mailQueue.count, m.mailQueue.at = count, time.Time{}
}

// AuditDelivered counts an audit event delivered to the webhook.
func (m *Metrics) AuditDelivered() {
	if m == nil {
		return
	}
	m.auditSent.Inc()
}

// AuditFailed counts a failed webhook delivery attempt; gaveUp says it was
// the last.
func (m *Metrics) AuditFailed(gaveUp bool) {
	if m == nil {
		return
	}
	outcome := "retry"
	if gaveUp {
		outcome = "gave_up"
	}
	m.auditFailed.WithLabelValues(outcome).Inc()
}

// AuditSkipped counts an audit event not queued for the webhook because
// the outbox was full.
func (m *Metrics) AuditSkipped() {
	if m == nil {
		return
	}
	m.auditSkipped.Inc()
}

// CountAuditQueueWith sets how gatehouse_audit_outbox_queue is counted;
// until it is called (no webhook) the gauge reports nothing.
func (m *Metrics) CountAuditQueueWith(count func(context.Context) (int64, error)) {
	if m == nil {
		return
	}
	m.auditQueue.mu.Lock()
	defer m.auditQueue.mu.Unlock()
	m.auditQueue.count, m.auditQueue.at = count, time.Time{}
}

// countGauge is a gauge counted in the database on scrape and cached for
// ttl (gatehouse_active_sessions, gatehouse_mail_queue). Concurrent scrapes
// share one count; a failed count is the DBError op.
type countGauge struct {
	desc     *prometheus.Desc
	ttl      time.Duration
	now      func() time.Time
	dbErrors *prometheus.CounterVec
	op       string

	mu    sync.Mutex
	count func(context.Context) (int64, error)
	value int64
	at    time.Time // when value was counted; zero: never
}

// Describe implements prometheus.Collector.
func (g *countGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

// Collect implements prometheus.Collector.
func (g *countGauge) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.count == nil {
		return
	}
	now := g.now()
	if g.at.IsZero() || now.Sub(g.at) >= g.ttl || now.Before(g.at) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		n, err := g.count(ctx)
		cancel()
		if err != nil {
			g.dbErrors.WithLabelValues(g.op).Inc()
			return
		}
		g.value, g.at = n, now
	}
	ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(g.value))
}

// InstrumentClient returns a copy of base (nil: a default client) whose
// transport records gatehouse_idp_request_duration_seconds and
// gatehouse_idp_request_errors_total for provider. base is not modified.
// On a nil *Metrics it returns base unchanged.
func (m *Metrics) InstrumentClient(provider string, base *http.Client) *http.Client {
	if m == nil {
		return base
	}
	c := &http.Client{}
	if base != nil {
		*c = *base
	}
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c.Transport = &idpTransport{next: next, provider: provider, m: m}
	return c
}

// idpTransport observes each outbound call to a provider.
type idpTransport struct {
	next     http.RoundTripper
	provider string
	m        *Metrics
}

// RoundTrip implements http.RoundTripper.
func (t *idpTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	endpoint := Endpoint(req.URL.Path)
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	t.m.idpDuration.WithLabelValues(t.provider, endpoint).Observe(time.Since(start).Seconds())
	if err != nil || resp.StatusCode >= 500 {
		t.m.idpErrors.WithLabelValues(t.provider, endpoint).Inc()
	}
	return resp, err
}

// Endpoint names an OpenID Provider endpoint from its URL path, for the
// endpoint label: discovery, token, userinfo, jwks, registration or other.
// It knows the paths of common providers (Keycloak, Entra ID, Google, Okta,
// Auth0, Dex) by their last segment.
func Endpoint(path string) string {
	path = strings.TrimSuffix(strings.ToLower(path), "/")
	if strings.HasSuffix(path, "/.well-known/openid-configuration") {
		return "discovery"
	}
	last := path[strings.LastIndexByte(path, '/')+1:]
	switch {
	case last == "token" || strings.HasPrefix(last, "token."):
		return "token"
	case strings.Contains(last, "userinfo"):
		return "userinfo"
	case last == "jwks" || last == "keys" || last == "certs" || strings.HasPrefix(last, "jwks."):
		return "jwks"
	case last == "register" || last == "registration" || last == "clients" || strings.Contains(path, "/clients-registrations/"):
		return "registration"
	}
	return "other"
}
