package handlers

import (
	"net/http"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	ginsessions "github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
)

// logoutPage only asks: a GET must never sign anyone out (links and
// prefetchers would), so it shows a button that POSTs.
func (h *Handler) logoutPage(c *gin.Context) {
	h.render(c, http.StatusOK, "logout", nil)
}

// logout deletes the server-side session and expires the cookie.
func (h *Handler) logout(c *gin.Context) {
	s := ginsessions.Default(c)
	u := currentUser(c)
	if err := sessionstore.End(s); err != nil {
		h.serverError(c, "end session", err)
		return
	}
	if u != nil {
		h.audit(c, &models.Event{Kind: models.EventLogout, UserID: &u.ID, ActorID: &u.ID, Email: u.Email})
	}
	c.Redirect(http.StatusSeeOther, "/login?notice=signed_out")
}
