package handlers

import (
	"bytes"
	"errors"
	"net/http"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gin-gonic/gin"
)

// render shows a page with the data every layout needs.
func (h *Handler) render(c *gin.Context, status int, page string, data gin.H) {
	if data == nil {
		data = gin.H{}
	}
	data["Brand"] = h.brand.view
	if _, ok := data["User"]; !ok {
		if u := currentUser(c); u != nil {
			data["User"] = u
		}
	}
	c.Header("Cache-Control", "no-store")
	c.HTML(status, page, data)
}

// errorPage renders the friendly error page and stops the handler chain.
func (h *Handler) errorPage(c *gin.Context, status int, title, message string) {
	h.render(c, status, "error", gin.H{"Title": title, "Message": message})
	c.Abort()
}

// serverError logs the cause and shows a page that asks to try again.
// what is a constant naming the failed operation; it is also the op label
// of gatehouse_db_errors_total.
func (h *Handler) serverError(c *gin.Context, what string, err error) {
	h.Metrics.DBError(what)
	h.log(c).ErrorContext(c.Request.Context(), what, "err", err)
	h.errorPage(c, http.StatusServiceUnavailable, "Please try again", "gatehouse could not complete that just now. Please try again in a moment.")
}

// refusal returns the refusal from accounts in err's chain: a message for
// the person and the status it is answered with (errorStatuses).
func refusal(err error) (msg string, status int, ok bool) {
	var e *accounts.Error
	if !errors.As(err, &e) {
		return "", 0, false
	}
	return e.Msg, errorStatus(e.Code), true
}

// errorStatuses is how the HTTP layer answers each kind of refusal.
var errorStatuses = map[accounts.Code]int{
	accounts.CodeInvalid:   http.StatusBadRequest,
	accounts.CodeConflict:  http.StatusConflict,
	accounts.CodeNotFound:  http.StatusNotFound,
	accounts.CodeForbidden: http.StatusForbidden,
}

// errorStatus is the status of a refusal code.
func errorStatus(code accounts.Code) int {
	if s, ok := errorStatuses[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// renderStandalone renders the error page outside Gin (the CSRF deny
// handler runs before Gin sees the request).
func (h *Handler) renderStandalone(w http.ResponseWriter, status int, title, message string) {
	var buf bytes.Buffer
	r := h.Views.Instance("error", gin.H{"Title": title, "Message": message, "Brand": h.brand.view})
	rec := &bufferWriter{header: http.Header{}, buf: &buf}
	if err := r.Render(rec); err != nil {
		http.Error(w, title, status)
		return
	}
	h.setSecurityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// bufferWriter lets a Gin render write into memory first, so a template
// error can still become a clean response.
type bufferWriter struct {
	header http.Header
	buf    *bytes.Buffer
}

func (b *bufferWriter) Header() http.Header         { return b.header }
func (b *bufferWriter) Write(p []byte) (int, error) { return b.buf.Write(p) }
func (b *bufferWriter) WriteHeader(int)             {}

// loginMessages is the fixed table ?error=CODE and ?notice=CODE read from;
// raw query text is never shown, so links cannot put words on the page.
var loginMessages = map[string]string{
	"session_expired":      "Your session has ended. Please sign in again.",
	"signed_out":           "You have been signed out.",
	"account_disabled":     "This account is disabled. Ask your administrator.",
	"sso_failed":           "Single sign-on did not complete. Please try again.",
	"sso_unavailable":      "The sign-in provider is not answering right now. Please try again in a moment.",
	"sso_not_configured":   "Single sign-on is not set up.",
	"login_expired":        "The sign-in took too long. Please start again.",
	"link_cancelled":       "Linking was cancelled. Sign in to continue.",
	"signed_out_elsewhere": "You were signed out by your identity provider.",
	"password_reset":       "Your password was changed, and every session of your account was signed out. Sign in with your new password.",
	"email_verified":       "Your email address is confirmed.",
	"email_changed":        "Your email address was changed. Sign in with the new one.",
	"mfa_expired":          "The sign-in took too long, or was finished elsewhere. Sign in again.",
	"password_set":         "Your password is set. Sign in with it.",
}
