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

// promptAfterSignOut is the prompt a sign-in through p sends from a
// browser that signed out, or "". The caller clears the mark once the
// sign-in has started.
func (h *Handler) promptAfterSignOut(c *gin.Context, p *sso.Provider) string {
	if _, err := h.cookie(c, cookieSignedOut); err != nil {
		return ""
	}
	return promptAnew(p)
}

// promptAnew is the prompt that makes p ask who signs in rather than
// answer from its own session: login, or Google's select_account (Google
// knows no prompt=login).
func promptAnew(p *sso.Provider) string {
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
		h.setCookie(c, cookieSignedOut, "1", int(signedOutTTL.Seconds()))
	}
	if idp != "" {
		c.Redirect(http.StatusSeeOther, idp) // the provider sends the browser back to /auth/logged-out
		return
	}
	c.Redirect(http.StatusSeeOther, "/login?notice=signed_out")
}
