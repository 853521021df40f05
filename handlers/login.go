package handlers

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	ginsessions "github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
)

// Field limits: longer input is refused before any work is done.
const (
	maxEmailLen    = 254
	maxPasswordLen = 1024 // far above bcrypt's 72 bytes, so the policy message can say why
)

// loginForm is what the login page is rendered from.
type loginForm struct {
	Email, Next, Error, Notice string
	SSOMode                    bool
}

func (h *Handler) loginPage(c *gin.Context) {
	next := SafeNext(c.Query("next"))
	if currentUser(c) != nil {
		c.Redirect(http.StatusSeeOther, or(next, "/dashboard"))
		return
	}
	f := loginForm{Next: next}
	if code := c.Query("error"); code != "" {
		f.Error = loginMessages[code]
		if f.Error == "" {
			f.Error = "Something went wrong. Please sign in again."
		}
	}
	if code := c.Query("notice"); code != "" {
		f.Notice = loginMessages[code]
	}
	h.renderLogin(c, http.StatusOK, f)
}

func (h *Handler) renderLogin(c *gin.Context, status int, f loginForm) {
	h.render(c, status, "login", gin.H{
		"Email": f.Email, "Next": f.Next, "Error": f.Error, "Notice": f.Notice, "SSOMode": f.SSOMode,
		"SSOEnabled": h.SSO.Len() > 0, "Providers": h.SSO.All(),
	})
}

// login handles POST /auth/login: the password branch here, SSO when
// is_sso=true (or a provider button) was sent.
func (h *Handler) login(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	f := loginForm{
		Email: strings.TrimSpace(c.PostForm("email")),
		Next:  SafeNext(c.PostForm("next")),
	}
	if len(f.Email) > maxEmailLen || !utf8.ValidString(f.Email) {
		f.Email, f.Error = "", "Enter a valid email address."
		h.renderLogin(c, http.StatusBadRequest, f)
		return
	}
	if slices.Contains(c.PostFormArray("is_sso"), "true") || c.PostForm("provider") != "" {
		f.SSOMode = true
		h.startSSO(c, f)
		return
	}
	pw := c.PostForm("password")
	if f.Email == "" || pw == "" {
		f.Error = "Enter your email and password."
		h.renderLogin(c, http.StatusBadRequest, f)
		return
	}
	if len(pw) > maxPasswordLen || !utf8.ValidString(pw) {
		f.Error = "Incorrect email or password."
		h.renderLogin(c, http.StatusBadRequest, f)
		return
	}
	if wait, msg := h.throttleWait(c, f.Email); wait > 0 {
		f.Error = msg
		h.renderLogin(c, statusThrottled, f)
		return
	}
	ctx := c.Request.Context()
	u, err := h.Accounts.Authenticate(ctx, f.Email, pw)
	h.throttleRecord(c, f.Email, err)
	var le *accounts.LoginError
	switch {
	case errors.As(err, &le):
		h.audit(c, &models.Event{Kind: models.EventLoginFailure, UserID: userIDOf(le.User), Email: models.NormalizeEmail(f.Email), Method: models.MethodPassword, Detail: le.Reason.String()})
		f.Error = "Incorrect email or password."
		h.renderLogin(c, http.StatusUnauthorized, f)
		return
	case err != nil:
		h.serverError(c, "authenticate", err)
		return
	}
	if !h.signIn(c, u, sessionstore.SignIn{Method: models.MethodPassword}) {
		return
	}
	c.Redirect(http.StatusSeeOther, or(f.Next, "/dashboard"))
}

// signIn starts a fresh session for u (a new token, whatever the browser had)
// and records the sign-in. It reports false after rendering an error.
func (h *Handler) signIn(c *gin.Context, u *models.User, in sessionstore.SignIn) bool {
	ctx := c.Request.Context()
	in.UserID = u.ID
	if in.AuthTime.IsZero() { // SSO passes the provider's auth_time
		in.AuthTime = h.DB.Now().UTC()
	}
	in.IP, in.UserAgent = c.ClientIP(), truncate(c.Request.UserAgent(), 512)
	if err := sessionstore.Start(ginsessions.Default(c), in); err != nil {
		h.serverError(c, "start session", err)
		return false
	}
	if err := h.DB.RecordLogin(ctx, u.ID, in.Method); err != nil {
		h.Metrics.DBError("record last login")
		h.log(c).WarnContext(ctx, "record last login", "err", err)
	}
	h.audit(c, &models.Event{Kind: models.EventLoginSuccess, UserID: &u.ID, Email: u.Email, Method: in.Method, ProviderID: in.ProviderID})
	return true
}

// parseForm reads the form body, answering 413 or 400 itself on failure.
func (h *Handler) parseForm(c *gin.Context) bool {
	err := c.Request.ParseForm()
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		h.errorPage(c, http.StatusRequestEntityTooLarge, "Request too large", "That form was larger than gatehouse accepts.")
		return false
	}
	h.errorPage(c, http.StatusBadRequest, "Bad request", "That form could not be read. Go back and try again.")
	return false
}

// serverError logs the cause and shows a page that asks to try again.
// what is a constant naming the failed operation; it is also the op label
// of gatehouse_db_errors_total.
func (h *Handler) serverError(c *gin.Context, what string, err error) {
	h.Metrics.DBError(what)
	h.log(c).ErrorContext(c.Request.Context(), what, "err", err)
	h.errorPage(c, http.StatusServiceUnavailable, "Please try again", "gatehouse could not complete that just now. Please try again in a moment.")
}

// audit appends an event; a failed audit write is logged, not shown. It is
// also where sign-ins are counted: every sign-in success and failure is
// audited, and only here.
func (h *Handler) audit(c *gin.Context, e *models.Event) {
	switch e.Kind {
	case models.EventLoginSuccess, models.EventLoginFailure:
		h.Metrics.SignIn(e.Method.String(), e.ProviderID, e.Kind == models.EventLoginSuccess)
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

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) && len(s) > 0 {
		s = s[:len(s)-1]
	}
	return s
}
