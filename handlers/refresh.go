package handlers

import (
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/sso"
	ginsessions "github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
)

// keyCheckedAt is the session value holding when the provider session was
// last confirmed (RFC 3339).
const keyCheckedAt = "sso_checked_at"

// refreshSSO re-checks an SSO session with the provider every
// refresh_interval (as Flask-pyoidc's session_refresh_interval_seconds): a
// prompt=none round trip that keeps the session if the provider still has
// the user signed in, and ends it otherwise.
func (h *Handler) refreshSSO(c *gin.Context) {
	s := ginsessions.Default(c)
	u := currentUser(c)
	pid, _ := s.Get(sessionstore.KeyProviderID).(string)
	interval := h.Accounts.Policy(pid).RefreshInterval
	p, ok := h.SSO.ByID(pid)
	if u == nil || !ok || interval <= 0 || c.Request.Method != http.MethodGet {
		c.Next()
		return
	}
	last, _ := s.Get(sessionstore.KeyAuthTime).(time.Time)
	if v, ok := s.Get(keyCheckedAt).(string); ok {
		if t, err := time.Parse(time.RFC3339, v); err == nil && t.After(last) {
			last = t
		}
	}
	if h.DB.Now().Sub(last) < interval {
		c.Next()
		return
	}
	if msg, ok := h.redirectToProvider(c, p, pendingStart{Mode: modeRefresh, Next: SafeNext(c.Request.URL.RequestURI()), Prompt: "none", UserID: &u.ID}); !ok && msg != "" {
		h.renderLogin(c, http.StatusServiceUnavailable, loginForm{SSOMode: true, Error: msg})
	}
	c.Abort()
}

// finishRefresh completes a prompt=none check: the same person at the
// provider keeps the session; login_required or any error ends it.
func (h *Handler) finishRefresh(c *gin.Context, p *sso.Provider, pending *models.PendingLogin, id *sso.Identity) {
	s := ginsessions.Default(c)
	u := currentUser(c)
	subject, _ := s.Get(sessionstore.KeySubject).(string)
	if u == nil || pending.UserID == nil || *pending.UserID != u.ID || id.Issuer != p.Issuer() || id.Subject != subject {
		h.refreshFailed(c, p, errors.New("another person at the provider"))
		return
	}
	s.Set(keyCheckedAt, h.DB.Now().UTC().Format(time.RFC3339))
	if err := s.Save(); err != nil {
		h.serverError(c, "save session", err)
		return
	}
	c.Redirect(http.StatusSeeOther, or(pending.Next, "/dashboard"))
}

// refreshFailed ends a session whose provider check failed: the provider
// no longer signs this person in (login_required), or could not say.
func (h *Handler) refreshFailed(c *gin.Context, p *sso.Provider, err error) {
	h.log(c).InfoContext(c.Request.Context(), "SSO session check failed; signing out", "provider", p.ID(), "err", err)
	if endErr := sessionstore.End(ginsessions.Default(c)); endErr != nil {
		h.serverError(c, "end session", endErr)
		return
	}
	c.Redirect(http.StatusSeeOther, "/login?error=session_expired")
}
