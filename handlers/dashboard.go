package handlers

import (
	"net/http"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	ginsessions "github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
)

func (h *Handler) dashboard(c *gin.Context) {
	row := sessionstore.Current(ginsessions.Default(c)) // not nil: requireUser let the request through
	method := "Password"
	switch row.AuthMethod {
	case models.MethodPasskey:
		method = "Passkey"
	case models.MethodSSO:
		method = "Single sign-on"
		if row.ProviderID != "" {
			method += " (" + h.SSO.Name(row.ProviderID) + ")"
		}
	}
	var authTime any // none when unset, as the page shows it
	if row.AuthTime != nil {
		authTime = *row.AuthTime
	}
	h.render(c, http.StatusOK, "dashboard", gin.H{
		"Method": method, "AuthTime": authTime, "NoProviders": h.SSO.Len() == 0, "Factor": row.MFA.Label(),
	})
}
