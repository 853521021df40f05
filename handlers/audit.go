package handlers

import (
	"strings"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gin-gonic/gin"
)

// audit appends an event; a failed audit write is logged, not shown. It is
// also where sign-ins are counted: every sign-in success and failure is
// audited, and only here.
func (h *Handler) audit(c *gin.Context, e *models.Event) {
	switch e.Kind {
	case models.EventLoginSuccess, models.EventLoginFailure:
		h.Metrics.SignIn(e.Method.String(), e.ProviderID, e.Kind == models.EventLoginSuccess)
	case models.EventMFAEnrolled, models.EventMFARemoved, models.EventMFARecoveryCodes, models.EventMFARecoveryUsed, models.EventMFAFailure:
		h.Metrics.MFA(strings.TrimPrefix(string(e.Kind), "mfa."))
	}
	e.IP = c.ClientIP()
	if e.ActorID == nil {
		if u := currentUser(c); u != nil {
			e.ActorID = &u.ID
		}
	}
	if err := h.DB.RecordEvent(c.Request.Context(), e); err != nil {
		h.Metrics.DBError("write audit event")
		h.log(c).ErrorContext(c.Request.Context(), "write audit event", "kind", e.Kind, "err", err)
	}
}

func userIDOf(u *models.User) *int64 {
	if u == nil {
		return nil
	}
	return &u.ID
}
