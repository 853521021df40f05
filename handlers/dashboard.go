package handlers

import (
	"net/http"

	"github.com/gatehouse/gatehouse/sessionstore"
	ginsessions "github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
)

func (h *Handler) dashboard(c *gin.Context) {
	s := ginsessions.Default(c)
	method := "Password"
	if m, _ := s.Get(sessionstore.KeyAuthMethod).(string); m == "sso" {
		method = "Single sign-on"
		if p, _ := s.Get(sessionstore.KeyProviderID).(string); p != "" {
			method += " (" + h.SSO.Name(p) + ")"
		}
	}
	h.render(c, http.StatusOK, "dashboard", gin.H{"Method": method, "AuthTime": s.Get(sessionstore.KeyAuthTime)})
}

// providerName is a provider's display name, or its ID when unknown.
