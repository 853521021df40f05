package handlers

import (
	"net/http"

	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gin-gonic/gin"
)

// maxLogoutTokenLen bounds the logout token read from the form.
const maxLogoutTokenLen = 16 << 10

// backchannelLogout implements Back-Channel Logout 1.0 §2.5–2.8: a provider
// posts a signed logout token and the sessions it names end. Every answer
// is no-store; any failure is a bare 400 (§2.8).
//
// The cheap checks (the form, the token's size and shape, an issuer that
// is configured) come first and spend nothing; only a token worth
// verifying (a signature check, perhaps a key fetch) takes one from its
// source address's allowance, so junk from one address can neither crowd
// out a provider's logout tokens nor fill the log.
func (h *Handler) backchannelLogout(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	if err := c.Request.ParseForm(); err != nil {
		c.String(http.StatusBadRequest, "invalid request\n")
		return
	}
	raw := c.Request.PostForm.Get("logout_token")
	if raw == "" || len(raw) > maxLogoutTokenLen {
		c.String(http.StatusBadRequest, "invalid request\n")
		return
	}
	ctx := c.Request.Context()
	iss := unverifiedIssuer(raw) // only to choose whose keys verify it
	for _, p := range h.SSO.All() {
		if iss == "" || p.Issuer() != iss {
			continue
		}
		if !h.bcLimit.Allow(c.ClientIP()) {
			h.Metrics.Limited(metrics.LimitBackchannelAddress)
			c.Header("Retry-After", "1")
			c.String(http.StatusTooManyRequests, "slow down\n")
			return
		}
		claims, err := p.VerifyLogoutToken(ctx, raw)
		if err != nil {
			h.log(c).WarnContext(ctx, "back-channel logout refused", "provider", p.ID(), "err", err)
			c.String(http.StatusBadRequest, "invalid logout token\n")
			return
		}
		subject := claims.Subject
		if sc := p.Config().SubjectClaim; sc != "" && sc != "sub" {
			// Sessions hold the mapped subject, not the token's sub: only
			// the sid can name them.
			if claims.SID == "" {
				h.log(c).WarnContext(ctx, "back-channel logout without sid for a provider with subject_claim: no session ended", "provider", p.ID())
			}
			subject = ""
			if claims.SID == "" {
				c.Status(http.StatusOK)
				return
			}
		}
		n, err := h.DB.DeleteSessionsBySID(ctx, claims.Issuer, subject, claims.SID)
		if err != nil {
			h.Metrics.DBError("back-channel logout")
			h.log(c).ErrorContext(ctx, "back-channel logout", "err", err)
			c.String(http.StatusBadRequest, "logout failed\n") // §2.8: the OP may retry
			return
		}
		h.audit(c, &models.Event{Kind: models.EventBackchannel, Method: models.MethodSSO, ProviderID: p.ID(), Detail: plural(n, "session") + " ended"})
		c.Status(http.StatusOK)
		return
	}
	h.log(c).DebugContext(ctx, "back-channel logout from an unknown issuer")
	c.String(http.StatusBadRequest, "unknown issuer\n")
}

func plural(n int64, word string) string {
	s := word
	if n != 1 {
		s += "s"
	}
	return itoa(n) + " " + s
}
