package handlers

import (
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse/gatehouse/audit"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	ginsessions "github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
)

const (
	ctxUser      = "gatehouse.user"
	ctxRequestID = "gatehouse.request_id"
)

// requestLog gives each request an ID (log lines and the X-Request-ID
// header) and logs one line per request. It logs the path only: query
// strings carry codes and state, and are never logged.
func (h *Handler) requestLog(c *gin.Context) {
	start := time.Now()
	id := "unavailable" // without randomness the request is still served, and logged
	b := make([]byte, 8)
	if _, err := io.ReadFull(h.rand(), b); err == nil {
		id = hex.EncodeToString(b)
	}
	c.Set(ctxRequestID, id)
	// In the request's context too: the audit record of every event the
	// request writes carries it, wherever the write happens (accounts).
	c.Request = c.Request.WithContext(audit.WithRequestID(c.Request.Context(), id))
	c.Header("X-Request-ID", id)
	c.Next()
	h.Metrics.ObserveRequest(c.Request.Method, c.FullPath(), c.Writer.Status(), time.Since(start))
	h.Logger.LogAttrs(c.Request.Context(), slog.LevelInfo, "request",
		slog.String("request_id", id),
		slog.String("method", c.Request.Method),
		slog.String("path", c.Request.URL.Path),
		slog.Int("status", c.Writer.Status()),
		slog.Duration("duration", time.Since(start)),
		slog.String("ip", c.ClientIP()),
	)
}

// cleanUserAgent makes the User-Agent header storable (models.Text) before any
// handler reads it: sessions store it, and a browser sending NUL or invalid
// UTF-8 there must still be able to sign in.
func (h *Handler) cleanUserAgent(c *gin.Context) {
	if ua := c.Request.Header.Get("User-Agent"); !models.IsText(ua) {
		c.Request.Header.Set("User-Agent", models.Text(ua))
	}
	c.Next()
}

// log returns the request-scoped logger.
func (h *Handler) log(c *gin.Context) *slog.Logger {
	return h.Logger.With("request_id", c.GetString(ctxRequestID))
}

func (h *Handler) recovered(c *gin.Context, err any) {
	h.log(c).ErrorContext(c.Request.Context(), "panic serving request", "panic", err, "path", c.Request.URL.Path)
	h.errorPage(c, http.StatusInternalServerError, "Something went wrong", "gatehouse hit an unexpected error. Please try again.")
}

// securityHeaders sets the headers every page carries. No inline script or
// style is used anywhere, so the policy needs no 'unsafe-inline'.
func (h *Handler) securityHeaders(c *gin.Context) {
	h.setSecurityHeaders(c.Writer.Header())
	c.Next()
}

// setSecurityHeaders is securityHeaders for responses written outside Gin
// (the cross-origin refusal).
func (h *Handler) setSecurityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	if h.Config.Secure() {
		hd.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
	}
}

// limitBody caps every request body so a huge upload cannot tie up memory.
func (h *Handler) limitBody(c *gin.Context) {
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxFormBytes)
	}
	c.Next()
}

// loadUser resolves the session's user for every request; the store loads
// the account with the session, in one query. A session whose user is gone
// or disabled is ended: the visitor is simply signed out.
func (h *Handler) loadUser(c *gin.Context) {
	s := ginsessions.Default(c)
	if err := sessionstore.LoadError(s); err != nil {
		h.Metrics.DBError("load session user")
		h.log(c).ErrorContext(c.Request.Context(), "load session user; treating as signed out", "err", err)
	}
	row := sessionstore.Current(s)
	switch {
	case row == nil || row.UserID == nil:
	case row.User != nil && !row.User.Disabled():
		if row.User.IsAdmin != sessionstore.Privileged(s) {
			if err := h.renewSession(c, row.User); err != nil {
				h.Metrics.DBError("renew session")
				h.log(c).ErrorContext(c.Request.Context(), "renew session after a promotion or demotion; treating as signed out", "err", err)
				break // the old token must not carry the new privilege
			}
		}
		c.Set(ctxUser, row.User)
	default:
		if err := sessionstore.End(s); err != nil {
			h.log(c).WarnContext(c.Request.Context(), "end session of disabled or deleted user", "err", err)
		}
	}
	c.Next()
}

// renewSession gives the session a new token at a privilege change, keeping
// its sign-in facts: u's admin flag changed since the token was issued (a
// promotion or demotion, so every session of the account renews at its
// next request), or u set a password or linked a provider. A token copied
// before the change stops working. (Re-authentication renews through
// sessionstore.MarkReauth.)
func (h *Handler) renewSession(c *gin.Context, u *models.User) error {
	return sessionstore.Renew(ginsessions.Default(c), u.IsAdmin)
}

// currentUser is the signed-in user, or nil.
func currentUser(c *gin.Context) *models.User {
	u, _ := c.Get(ctxUser)
	user, _ := u.(*models.User)
	return user
}

// requireUser sends signed-out visitors to the login page, remembering where
// they were going.
func (h *Handler) requireUser(c *gin.Context) {
	if currentUser(c) != nil {
		c.Next()
		return
	}
	target := "/login"
	if c.Request.Method == http.MethodGet {
		target += "?next=" + url.QueryEscape(c.Request.URL.RequestURI())
	}
	c.Redirect(http.StatusSeeOther, target)
	c.Abort()
}
