package handlers

import (
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sso"
	"github.com/gin-gonic/gin"
)

// signedOutTTL is how long after an explicit sign-out the browser's next
// SSO sign-in asks the provider for a fresh one.
const signedOutTTL = 24 * time.Hour

// signedOutCookie marks a browser that signed out: its next SSO start
// sends prompt=login (Google: select_account), so a provider that keeps
// its own session (and has no logout gatehouse can call) does not sign
// the person straight back in.
func (h *Handler) signedOutCookie() string {
	if h.Config.Secure() {
		return "__Host-gatehouse_signed_out"
	}
	return "gatehouse_signed_out"
}

// setSignedOut sets (ttl > 0) or drops the signed-out mark.
func (h *Handler) setSignedOut(c *gin.Context, ttl time.Duration) {
	maxAge := int(ttl.Seconds())
	if ttl <= 0 {
		maxAge = -1
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: h.signedOutCookie(), Value: "1", Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: h.Config.Secure(), SameSite: http.SameSiteLaxMode,
	})
}

// promptAfterSignOut is the prompt a sign-in through p sends from a
// browser that signed out, or "". The caller clears the mark once the
// sign-in has started.
func (h *Handler) promptAfterSignOut(c *gin.Context, p *sso.Provider) string {
	if _, err := c.Cookie(h.signedOutCookie()); err != nil {
		return ""
	}
	if p.Config().Kind == sso.KindGoogle {
		return "select_account"
	}
	return "login"
}

// logoutPage only asks: a GET must never sign anyone out (links and
// prefetchers would), so it shows a button that POSTs.
func (h *Handler) logoutPage(c *gin.Context) {
	h.render(c, http.StatusOK, "logout", nil)
}

// logout deletes the server-side session and expires the cookie, then for
// an SSO session ends the provider's session too.
func (h *Handler) logout(c *gin.Context) {
	u := currentUser(c)
	idp, err := h.endSession(c)
	if err != nil {
		h.serverError(c, "end session", err)
		return
	}
	if u != nil {
		h.audit(c, &models.Event{Kind: models.EventLogout, UserID: &u.ID, ActorID: &u.ID, Email: u.Email})
		h.setSignedOut(c, signedOutTTL)
	}
	if idp != "" {
		c.Redirect(http.StatusSeeOther, idp) // the provider sends the browser back to /auth/logged-out
		return
	}
	c.Redirect(http.StatusSeeOther, "/login?notice=signed_out")
}
