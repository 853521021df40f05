package handlers

import (
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/sso"
	ginsessions "github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
)

// refreshSSO re-checks an SSO session with the provider every
// refresh_interval (as Flask-pyoidc's session_refresh_interval_seconds): a
// prompt=none round trip that keeps the session if the provider still has
// the user signed in, and ends it otherwise.
func (h *Handler) refreshSSO(c *gin.Context) {
	u := currentUser(c)
	row := sessionstore.Current(ginsessions.Default(c))
	if u == nil || row == nil {
		c.Next()
		return
	}
	interval := h.provider(row.ProviderID).RefreshInterval
	p, ok := h.SSO.ByID(row.ProviderID)
	if !ok || interval <= 0 || c.Request.Method != http.MethodGet {
		c.Next()
		return
	}
	var last time.Time // the later of sign-in and last confirmation
	if row.AuthTime != nil {
		last = *row.AuthTime
	}
	if row.SSOCheckedAt != nil && row.SSOCheckedAt.After(last) {
		last = *row.SSOCheckedAt
	}
	if h.DB.Now().Sub(last) < interval {
		c.Next()
		return
	}
	h.redirectToProvider(c, p, pendingStart{Mode: modeRefresh, Next: SafeNext(c.Request.URL.RequestURI()), Prompt: "none", UserID: &u.ID}, loginForm{})
	c.Abort()
}

// finishRefresh completes a prompt=none check: the same person at the
// provider keeps the session; login_required or any error ends it.
func (h *Handler) finishRefresh(c *gin.Context, p *sso.Provider, pending *models.PendingLogin, id *sso.Identity, err error) {
	s := ginsessions.Default(c)
	u := currentUser(c)
	row := sessionstore.Current(s)
	same := err == nil && u != nil && row != nil && pending.UserID != nil && *pending.UserID == u.ID &&
		id.Issuer == p.Issuer() && id.Subject == row.Subject
	if !same {
		h.log(c).InfoContext(c.Request.Context(), "SSO session check failed; signing out", "provider", p.ID(), "err", err)
		if endErr := sessionstore.End(s); endErr != nil {
			h.serverError(c, "end session", endErr)
			return
		}
		c.Redirect(http.StatusSeeOther, "/login?error=session_expired")
		return
	}
	if err := sessionstore.MarkChecked(s, h.DB.Now()); err != nil {
		h.serverError(c, "save session", err)
		return
	}
	c.Redirect(http.StatusSeeOther, or(pending.Next, "/dashboard"))
}
