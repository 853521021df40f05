package handlers

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/sso"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	ginsessions "github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
)

// loginForm is what the login page is rendered from.
type loginForm struct {
	Email, Next, Error, Notice string
	SSOMode                    bool
	// Local is the password page of login.mode sso_first and sso_only
	// (/login?local=1); under sso_only, the break-glass page.
	Local bool
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
	f.Local = c.Query("local") == "1"
	// sso_first goes at once to the one provider, or to the one this
	// browser last signed in with, unless the page has something to say
	// (an error, "signed out") or a password was asked for.
	if p := h.firstProvider(c); p != nil && h.Config.Login.Mode == config.LoginSSOFirst && !f.Local && f.Error == "" && f.Notice == "" && documentRequest(c.Request) {
		if msg, ok := h.redirectToProvider(c, p, pendingStart{Mode: modeLogin, Next: next}); !ok && msg != "" {
			f.Error = msg
			h.renderLogin(c, http.StatusServiceUnavailable, f)
		}
		return
	}
	h.renderLogin(c, http.StatusOK, f)
}

// rememberProvider records a successful SSO sign-in through p, for 30
// days, for login.mode sso_first with several providers.
func (h *Handler) rememberProvider(c *gin.Context, p *sso.Provider) {
	h.setCookie(c, cookieLastProvider, p.ID(), 30*24*3600)
}

// firstProvider is where sso_first sends a browser: the one provider, or
// the one it last signed in with; nil when there is no telling.
func (h *Handler) firstProvider(c *gin.Context) *sso.Provider {
	ps := h.SSO.All()
	if len(ps) == 1 {
		return ps[0]
	}
	if id, err := h.cookie(c, cookieLastProvider); err == nil {
		if p, ok := h.SSO.ByID(id); ok {
			return p
		}
	}
	return nil
}

// passwordOff reports whether the sign-in page f shows no password form:
// login.mode sso_only, but for its break-glass page.
func (h *Handler) passwordOff(f loginForm) bool {
	return h.Config.Login.Mode == config.LoginSSOOnly && !f.Local
}

// providerButton is one provider as the login page shows it.
type providerButton struct {
	ID, Name string
	Icon     string // URL of the configured icon; empty for none
}

func (h *Handler) renderLogin(c *gin.Context, status int, f loginForm) {
	if h.passwordOff(f) {
		f.SSOMode = true // the one form there is starts SSO
	}
	var buttons []providerButton
	for _, p := range h.SSO.All() {
		buttons = append(buttons, providerButton{ID: p.ID(), Name: p.Name(), Icon: h.brand.icons[p.ID()]})
	}
	// With one provider the SSO button is that provider's; with several,
	// the email's domain picks one, or a provider's own button does.
	submit, toggle := "Continue with SSO", "Sign in with SSO"
	var one *providerButton
	if len(buttons) == 1 {
		one = &buttons[0]
		submit, toggle = "Continue with "+one.Name, "Sign in with "+one.Name
	}
	h.render(c, status, "login", gin.H{
		"Email": f.Email, "Next": f.Next, "Error": f.Error, "Notice": f.Notice, "SSOMode": f.SSOMode,
		"SSOEnabled": len(buttons) > 0, "Providers": buttons, "OneProvider": one,
		"SSOSubmit": submit, "SSOToggle": toggle, "MailEnabled": h.Accounts.Mail != nil, "PasskeysOn": h.Accounts.PasskeysOn(),
		"PasswordOff": h.passwordOff(f), "Local": f.Local, "Mode": h.Config.Login.Mode.String(),
		"BreakGlass": f.Local && h.Config.Login.Mode == config.LoginSSOOnly,
		// After a refused password the email is kept: the password is what
		// to type again.
		"FocusPassword": f.Error != "" && f.Email != "" && !f.SSOMode,
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
		Local: c.PostForm("local") == "1",
	}
	if len(f.Email) > maxEmailLen || !models.IsText(f.Email) {
		f.Email, f.Error = "", "Enter a valid email address."
		h.renderLogin(c, http.StatusBadRequest, f)
		return
	}
	if slices.Contains(c.PostFormArray("is_sso"), "true") || c.PostForm("provider") != "" {
		f.SSOMode = true
		h.startSSO(c, f)
		return
	}
	if h.passwordOff(f) {
		f.SSOMode, f.Error = true, "Password sign-in is off here: sign in with single sign-on."
		h.renderLogin(c, http.StatusBadRequest, f)
		return
	}
	breakGlass := h.Config.Login.Mode == config.LoginSSOOnly
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
	attempt, msg, ok := h.throttleBegin(c, f.Email)
	if !ok {
		f.Error = msg
		h.renderLogin(c, statusThrottled, f)
		return
	}
	ctx := c.Request.Context()
	u, err := h.Accounts.Authenticate(ctx, f.Email, pw)
	if err == nil && breakGlass && !u.IsAdmin {
		err = &accounts.LoginError{Reason: accounts.ReasonNotAdmin, User: u}
	}
	h.throttleDone(c, attempt, err)
	var le *accounts.LoginError
	switch {
	case errors.As(err, &le):
		h.audit(c, &models.Event{Kind: models.EventLoginFailure, UserID: userIDOf(le.User), Email: sso.NormalizeEmail(f.Email), Method: models.MethodPassword, Detail: le.Reason.String()})
		f.Error = "Incorrect email or password."
		if breakGlass {
			f.Error = breakGlassRefusal
		}
		h.renderLogin(c, http.StatusUnauthorized, f)
		return
	case err != nil:
		h.serverError(c, "authenticate", err)
		return
	case breakGlass:
		h.breakGlass(c, u)
	}
	switch second, err := h.Accounts.HasSecondFactor(ctx, u.ID); {
	case err != nil:
		h.serverError(c, "look up second factor", err)
		return
	case second:
		h.startSecondStep(c, u, f.Next)
		return
	}
	if !h.signIn(c, u, sessionstore.SignIn{Method: models.MethodPassword}) {
		return
	}
	c.Redirect(http.StatusSeeOther, or(f.Next, "/dashboard"))
}

// breakGlassRefusal answers every failed break-glass sign-in alike.
const breakGlassRefusal = "Incorrect email or password, or not an administrator's: only administrators sign in with a password here."

// breakGlass records an administrator's right password on the break-glass
// page of login.mode sso_only: a warning in the log, an audit event, and a
// notice to every administrator when mail is on. The second factor, if the
// account has one, is still asked.
func (h *Handler) breakGlass(c *gin.Context, u *models.User) {
	ctx := c.Request.Context()
	h.log(c).WarnContext(ctx, "break-glass password sign-in", "user", u.Email, "ip", c.ClientIP())
	h.audit(c, &models.Event{Kind: models.EventBreakGlass, UserID: &u.ID, ActorID: &u.ID, Email: u.Email, Method: models.MethodPassword})
	if err := h.Accounts.AnnounceBreakGlass(ctx, u, c.ClientIP()); err != nil {
		h.log(c).WarnContext(ctx, "break-glass notice", "err", err)
	}
}

// signIn starts a fresh session for u (a new token, whatever the browser had)
// and records the sign-in. It reports false after rendering an error.
func (h *Handler) signIn(c *gin.Context, u *models.User, in sessionstore.SignIn) bool {
	return h.signInTraced(c, u, in, nil)
}

// signInTraced is signIn for an SSO sign-in, whose login.success event
// carries the decision trace.
func (h *Handler) signInTraced(c *gin.Context, u *models.User, in sessionstore.SignIn, trace *accounts.Trace) bool {
	ctx := c.Request.Context()
	in.UserID, in.Admin = u.ID, u.IsAdmin
	if in.AuthTime.IsZero() {
		in.AuthTime = h.Now().UTC()
	}
	in.IP, in.UserAgent = c.ClientIP(), truncate(c.Request.UserAgent(), 512)
	if err := sessionstore.Start(ginsessions.Default(c), in); err != nil {
		h.serverError(c, "start session", err)
		return false
	}
	if err := h.Accounts.RecordSignIn(ctx, u.ID, in.Method); err != nil {
		h.Metrics.DBError("record last login")
		h.log(c).WarnContext(ctx, "record last login", "err", err)
	}
	if h.rememberDevice(c, u) {
		seen := accounts.SignInSeen{At: in.AuthTime, IP: in.IP, Browser: shortUserAgent(in.UserAgent), Method: in.Method}
		if in.ProviderID != "" {
			seen.Provider = h.SSO.Name(in.ProviderID)
		}
		err := h.Accounts.NotifyNewBrowser(ctx, u, seen)
		if err != nil {
			h.log(c).WarnContext(ctx, "new browser notice", "err", err)
		}
	}
	h.audit(c, &models.Event{Kind: models.EventLoginSuccess, UserID: &u.ID, Email: u.Email, Method: in.Method, ProviderID: in.ProviderID, Trace: trace.String()})
	return true
}
