package handlers

import (
	"net/http"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gin-gonic/gin"
)

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
	}
	if idp != "" {
		c.Redirect(http.StatusSeeOther, idp) // the provider sends the browser back to /auth/logged-out
		return
	}
	c.Redirect(http.StatusSeeOther, "/login?notice=signed_out")
}
