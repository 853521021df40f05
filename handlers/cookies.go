package handlers

// gatehouse's own cookies besides the session's (which sessionstore
// sets). Each is HttpOnly, SameSite=Lax, for the whole site and, under
// https, Secure with the __Host- prefix, so no subdomain or plain-http
// page can set it.

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// The cookies' names, without the prefix.
const (
	cookieBrowser      = "gatehouse_sso"        // binds a sign-in in progress (SSO, passkey prompts) to its browser
	cookieSecondStep   = "gatehouse_mfa"        // a password sign-in waiting for its second factor
	cookieNotice       = "gatehouse_notice"     // a one-time notice carried over a redirect
	cookieDevice       = "gatehouse_device"     // a browser an account signed in from before
	cookieSignedOut    = "gatehouse_signed_out" // the browser signed out: its next SSO start asks for a new sign-in
	cookieLastProvider = "gatehouse_provider"   // the provider the browser last signed in with (its ID)
)

// cookieName is name as this site sets it: __Host- under https.
func (h *Handler) cookieName(name string) string {
	if h.Config.Secure() {
		return "__Host-" + name
	}
	return name
}

// cookie is the browser's cookie name, or an error when it has none.
func (h *Handler) cookie(c *gin.Context, name string) (string, error) {
	return c.Cookie(h.cookieName(name))
}

// setCookie sets cookie name for maxAge seconds (0: until the browser
// closes; below 0: drops it).
func (h *Handler) setCookie(c *gin.Context, name, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: h.cookieName(name), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: h.Config.Secure(), SameSite: http.SameSiteLaxMode,
	})
}
