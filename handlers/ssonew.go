package handlers

// "Add an SSO provider" (/admin/sso/new): an administrator pastes an
// issuer URL; gatehouse runs OpenID Connect discovery against it and shows
// what to register at the provider and the configuration entry to paste.
// Nothing here writes the configuration.

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sso"
	"github.com/gin-gonic/gin"
)

// maxIssuerLen bounds the pasted issuer URL.
const maxIssuerLen = 2048

// ssoNewRoutes registers the page behind requireUser and requireAdmin.
func (h *Handler) ssoNewRoutes(e *gin.Engine) {
	e.GET("/admin/sso/new", h.requireUser, h.requireAdmin, h.ssoNewPage)
	e.POST("/admin/sso/new", h.requireUser, h.requireAdmin, h.ssoNew)
}

func (h *Handler) ssoNewPage(c *gin.Context) {
	h.render(c, http.StatusOK, "sso_new", gin.H{})
}

// ssoNew runs discovery for the posted issuer. A bad URL is a 400 and a
// provider that does not answer with a usable document a 422, each with
// the form again and what went wrong: never an error page.
func (h *Handler) ssoNew(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	issuer := strings.TrimSpace(c.PostForm("issuer"))
	// A pasted discovery URL names its issuer.
	issuer = strings.TrimSuffix(issuer, sso.WellKnownPath)
	data := gin.H{"Issuer": issuer}
	if issuer == "" || len(issuer) > maxIssuerLen || !models.IsText(issuer) {
		data["Error"] = "Enter the provider's issuer URL, such as https://login.example.com."
		h.render(c, http.StatusBadRequest, "sso_new", data)
		return
	}
	m, err := sso.Discover(c.Request.Context(), h.IDPClient, issuer)
	var ce *sso.ConfigError
	switch {
	case errors.As(err, &ce):
		data["Error"] = "That is not an issuer URL gatehouse can use: " + ce.Msg + "."
		h.render(c, http.StatusBadRequest, "sso_new", data)
		return
	case errors.Is(err, sso.ErrIssuerMismatch):
		data["Error"] = "The provider answered, but its discovery document names another issuer. Paste exactly the issuer it names (a trailing / counts): " + err.Error() + "."
		h.render(c, http.StatusUnprocessableEntity, "sso_new", data)
		return
	case err != nil:
		h.log(c).InfoContext(c.Request.Context(), "add SSO provider: discovery failed", "err", err)
		data["Error"] = "Discovery failed: gatehouse could not read a usable OpenID Connect discovery document at " + strings.TrimSuffix(issuer, "/") + sso.WellKnownPath + " (" + err.Error() + ")."
		h.render(c, http.StatusUnprocessableEntity, "sso_new", data)
		return
	}
	id, name := sso.SuggestID(issuer)
	for n, base := 2, id; ; n++ { // an id already configured would be a duplicate
		if _, taken := h.SSO.ByID(id); !taken {
			break
		}
		id = base + "-" + strconv.Itoa(n)
	}
	rp, err := sso.ProviderConfig{ID: id, Issuer: issuer, ClientID: "x", ClientSecret: "x"}.Normalize(h.Config.BaseURL)
	if err != nil { // the issuer passed discovery's checks and the base URL the configuration's
		data["Error"] = "That issuer cannot be configured: " + err.Error() + "."
		h.render(c, http.StatusUnprocessableEntity, "sso_new", data)
		return
	}
	data["Found"] = gin.H{
		"Metadata":           m,
		"RedirectURL":        rp.RedirectURL,
		"PostLogoutURL":      rp.PostLogoutRedirectURL,
		"BackchannelURL":     rp.BackchannelLogoutURL,
		"YAML":               config.ProviderSnippet(id, name, issuer),
		"HasEndSession":      m.EndSessionEndpoint != "",
		"HasRegistration":    m.RegistrationEndpoint != "",
		"ProviderConfigured": h.SSO.Len() > 0,
	}
	h.render(c, http.StatusOK, "sso_new", data)
}
