package handlers

import (
	"errors"
	"net/http"

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
	interval := h.Accounts.Policy(row.ProviderID).RefreshInterval
	p, ok := h.SSO.ByID(row.ProviderID)
	if !ok || interval <= 0 || c.Request.Method != http.MethodGet {
		c.Next()
		return
	}
	// The later of sign-in and last confirmation, both on our clock: the
	// session row is created at sign-in. The provider's auth_time is not
	// used, since it says when the person signed in at the provider (maybe
	// long ago, maybe, with a skewed clock, ahead of ours), not when this
	// session last heard from it.
	last := row.CreatedAt
	if row.SSOCheckedAt != nil && row.SSOCheckedAt.After(last) {
		last = *row.SSOCheckedAt
	}
	if h.Now().Sub(last) < interval {
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
	row := sessionstore.Current(s)
	if u == nil || row == nil || pending.UserID == nil || *pending.UserID != u.ID || id.Issuer != row.Issuer || id.Subject != row.Subject {
		h.refreshFailed(c, p, errors.New("another person at the provider"))
		return
	}
	// The provider's groups hold at every check, not only at sign-in: a
	// person who left allowed_groups is signed out, one who left (or
	// joined) admin_groups loses (or gains) the role now.
	change, err := h.Accounts.SyncGroups(c.Request.Context(), p.ID(), id, u)
	if _, _, refused := refusal(err); refused {
		h.refreshFailed(c, p, err)
		return
	}
	if err != nil {
		h.serverError(c, "sync groups", err)
		return
	}
	h.auditAdminChange(c, u, p.ID(), change)
	if err := sessionstore.MarkChecked(s, h.Now()); err != nil {
		h.serverError(c, "save session", err)
		return
	}
	if err := h.DB.ConfirmSession(c.Request.Context(), id.Issuer, id.Subject); err != nil {
		h.serverError(c, "confirm identity", err)
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
