package handlers

// Passkeys: signing in with one alone ("Sign in with a passkey" and the
// browser's autofill), giving one as the second factor (the second step
// of a password sign-in, a factor a session owes, re-authentication), and
// adding and removing them on the account page. Each ceremony is two
// requests: a POST to .../options answers the JSON options the browser's
// WebAuthn call takes, and assets/js/passkey.js posts the browser's answer
// back in a plain form (field credential), so every outcome is a page or a
// redirect like any other form's. accounts does the checking.

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	ginsessions "github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
)

// maxCredentialLen bounds the credential field: a registration with
// attestation "none" is a few kilobytes.
const maxCredentialLen = 32 << 10

func (h *Handler) passkeyRoutes(e *gin.Engine) {
	e.POST("/auth/passkey/options", h.passkeyLoginOptions)
	e.POST("/auth/passkey", h.passkeyLogin)
	e.POST("/auth/mfa/passkey/options", h.secondStepPasskeyOptions)
	e.POST("/auth/mfa/passkey", h.secondStepPasskey)
	e.POST("/account/mfa/required/passkey/options", h.requireUser, h.stepUpPasskeyOptions)
	e.POST("/account/mfa/required/passkey", h.requireUser, h.stepUpPasskey)
	e.POST("/auth/reauth/passkey/options", h.requireUser, h.sudoPasskeyOptions)
	e.POST("/auth/reauth/passkey", h.requireUser, h.sudoPasskey)
	e.POST("/account/passkeys/options", h.requireUser, h.requireRecentAuth, h.requireFactorGiven, h.passkeyRegisterOptions)
	e.POST("/account/passkeys", h.requireUser, h.requireRecentAuth, h.requireFactorGiven, h.addPasskey)
	e.POST("/account/passkeys/:id/remove", h.requireUser, h.requireRecentAuth, h.removePasskey)
}

// passkeyOptions answers the options of a ceremony begin made, or its
// refusal as JSON {"error": ...} for the page to show.
func (h *Handler) passkeyOptions(c *gin.Context, options any, err error) {
	c.Header("Cache-Control", "no-store")
	msg, status, refused := refusal(err)
	switch {
	case errors.Is(err, models.ErrTooManyCeremonies):
		h.Metrics.Limited(metrics.LimitPendingCap)
		c.Header("Retry-After", "60")
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": "Too many sign-ins are in progress right now. Please try again in a few minutes."})
	case refused:
		c.JSON(status, gin.H{"error": msg})
	case err != nil:
		h.log(c).ErrorContext(c.Request.Context(), "begin passkey ceremony", "err", err)
		c.JSON(http.StatusInternalServerError, gin.H{"error": "Something went wrong. Please try again."})
	default:
		c.JSON(http.StatusOK, options)
	}
}

// beginCeremony answers the options begin makes for this browser (its
// binding token, set when it has none), or the refusal.
func (h *Handler) beginCeremony(c *gin.Context, begin func(browser string) (any, error)) {
	browser, err := h.browserID(c)
	var options any
	if err == nil {
		options, err = begin(browser)
	}
	h.passkeyOptions(c, options, err)
}

// credential is the browser's answer posted back, or "" when the field is
// missing or too long (which the checks then refuse).
func credential(c *gin.Context) []byte {
	v := c.PostForm("credential")
	if len(v) > maxCredentialLen {
		return nil
	}
	return []byte(v)
}

// browserToken is this browser's binding cookie ("" when it has none);
// every ceremony is bound to it (see browserID).
func (h *Handler) browserToken(c *gin.Context) string {
	v, err := h.cookie(c, cookieBrowser)
	if err != nil || !sessionstore.ValidToken(v) {
		return ""
	}
	return v
}

// passkeyLoginOptions begins a passwordless sign-in. Anyone may, so
// begins are limited per client address, like SSO starts.
func (h *Handler) passkeyLoginOptions(c *gin.Context) {
	if !h.passkeyLimit.Allow(c.ClientIP()) {
		h.Metrics.Limited(metrics.LimitPasskeyAddress)
		c.Header("Retry-After", "60")
		c.JSON(http.StatusTooManyRequests, gin.H{"error": "Too many sign-ins were started from your network in the last minute. Please wait a minute and try again."})
		return
	}
	h.beginCeremony(c, func(browser string) (any, error) {
		return h.Accounts.BeginPasskeyLogin(c.Request.Context(), browser)
	})
}

// passkeyLogin finishes a passwordless sign-in: a new session whose
// passkey (verified by its user) is both factors.
func (h *Handler) passkeyLogin(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	f := loginForm{Next: SafeNext(c.PostForm("next"))}
	used, err := h.Accounts.FinishPasskeyLogin(c.Request.Context(), h.browserToken(c), credential(c))
	msg, status, refused := refusal(err)
	switch {
	case refused:
		h.Metrics.MFA("passkey_refused")
		f.Error = msg
		h.renderLogin(c, status, f)
		return
	case err != nil:
		h.serverError(c, "passkey sign-in", err)
		return
	}
	if h.Config.Login.Mode == config.LoginSSOOnly {
		// A passkey alone is a way around the provider: under sso_only it
		// is the administrators' break-glass, like a password.
		if !used.User.IsAdmin {
			h.audit(c, &models.Event{Kind: models.EventLoginFailure, UserID: &used.User.ID, Email: used.User.Email, Method: models.MethodPasskey, Detail: accounts.ReasonNotAdmin.String()})
			f.Error = "Passkey sign-in here is for administrators only: sign in with single sign-on."
			h.renderLogin(c, http.StatusForbidden, f)
			return
		}
		h.breakGlass(c, used.User)
	}
	h.Metrics.MFA("passkey_signin")
	if !h.signIn(c, used.User, sessionstore.SignIn{Method: models.MethodPasskey, MFA: models.FactorPasskey}) {
		return
	}
	c.Redirect(http.StatusSeeOther, or(f.Next, "/dashboard"))
}

// secondStepPasskeyOptions begins the passkey of a second step.
func (h *Handler) secondStepPasskeyOptions(c *gin.Context) {
	token, _ := h.cookie(c, cookieSecondStep)
	step, err := h.Accounts.SecondStepOf(c.Request.Context(), token)
	if err != nil {
		h.passkeyOptions(c, nil, err)
		return
	}
	h.beginCeremony(c, func(browser string) (any, error) {
		return h.Accounts.BeginPasskeyCheck(c.Request.Context(), step.User, browser, models.CeremonySecond)
	})
}

// secondStepPasskey finishes a second step with a passkey: the pending
// step is consumed with the passkey's use, and the session starts.
func (h *Handler) secondStepPasskey(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	step, token, ok := h.secondStepOf(c)
	if !ok {
		return
	}
	err := h.Accounts.FinishSecondStepPasskey(c.Request.Context(), step, token, h.browserToken(c), credential(c))
	if !h.secondStepDone(c, step, err, "passkey refused at sign-in") {
		return
	}
	if !h.signIn(c, step.User, sessionstore.SignIn{Method: models.MethodPassword, MFA: models.FactorPasskey}) {
		return
	}
	c.Redirect(http.StatusSeeOther, or(step.Next, "/dashboard"))
}

// stepUpPasskeyOptions begins the passkey a session that owes a second
// factor gives.
func (h *Handler) stepUpPasskeyOptions(c *gin.Context) {
	if !h.owesSecondFactor(c) {
		c.JSON(http.StatusConflict, gin.H{"error": "This session has given its second factor already."})
		return
	}
	h.passkeyCheckOptions(c, models.CeremonyStepUp)
}

// passkeyCheckOptions begins an assertion of the signed-in account's
// passkeys for purpose.
func (h *Handler) passkeyCheckOptions(c *gin.Context, purpose models.CeremonyPurpose) {
	h.beginCeremony(c, func(browser string) (any, error) {
		return h.Accounts.BeginPasskeyCheck(c.Request.Context(), currentUser(c), browser, purpose)
	})
}

// stepUpPasskey takes the passkey a session owes and records it.
func (h *Handler) stepUpPasskey(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	u := currentUser(c)
	if !h.owesSecondFactor(c) {
		c.Redirect(http.StatusSeeOther, "/dashboard")
		return
	}
	_, err := h.Accounts.FinishPasskeyCheck(c.Request.Context(), u, h.browserToken(c), models.CeremonyStepUp, credential(c), nil)
	if h.stepUpDone(c, u, err, "passkey refused after sign-in") {
		h.settleStepUp(c, models.FactorPasskey)
	}
}

func (h *Handler) sudoPasskeyOptions(c *gin.Context) {
	h.passkeyCheckOptions(c, models.CeremonySudo)
}

// sudoPasskey re-authenticates with a passkey its person verified (a PIN,
// a fingerprint): it stands for the password and the second factor both,
// as at a passwordless sign-in.
func (h *Handler) sudoPasskey(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	u := currentUser(c)
	next := SafeNext(c.PostForm("next"))
	_, err := h.Accounts.FinishPasskeyCheck(c.Request.Context(), u, h.browserToken(c), models.CeremonySudo, credential(c), nil)
	msg, status, refused := refusal(err)
	switch {
	case refused:
		h.audit(c, &models.Event{Kind: models.EventMFAFailure, UserID: &u.ID, Email: u.Email, Detail: "passkey refused at re-authentication"})
		h.renderReauth(c, status, next, msg)
		return
	case err != nil:
		h.serverError(c, "check passkey", err)
		return
	}
	h.markReauth(c, h.Now(), models.MethodPasskey, "", next)
}

// passkeyRegisterOptions begins adding a passkey (form field name).
func (h *Handler) passkeyRegisterOptions(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	h.beginCeremony(c, func(browser string) (any, error) {
		return h.Accounts.BeginPasskeyRegistration(c.Request.Context(), currentUser(c), browser, c.PostForm("name"))
	})
}

// addPasskey stores the passkey the browser made. The account's first
// second factor shows its new recovery codes, once; the passkey just made
// is this session's second factor when it is the account's first.
func (h *Handler) addPasskey(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	u := currentUser(c)
	added, err := h.Accounts.FinishPasskeyRegistration(c.Request.Context(), u, h.browserToken(c), credential(c))
	if msg, status, refused := refusal(err); refused {
		h.renderAccount(c, status, accountForm{PasskeyError: msg})
		return
	}
	if err != nil {
		h.serverError(c, "add passkey", err)
		return
	}
	h.Metrics.MFA("passkey_added")
	h.audit(c, &models.Event{Kind: models.EventMFAEnrolled, UserID: &u.ID, ActorID: &u.ID, Email: u.Email, Detail: "passkey " + added.Passkey.Name})
	if added.RecoveryCodes != nil { // the first factor: the one this session just gave
		if err := sessionstore.MarkMFA(ginsessions.Default(c), models.FactorPasskey); err != nil {
			h.serverError(c, "save session", err)
			return
		}
	}
	if added.RecoveryCodes != nil {
		h.renderRecoveryCodes(c, added.RecoveryCodes, true)
		return
	}
	c.Redirect(http.StatusSeeOther, "/account?notice=passkey_added#passkeys")
}

// removePasskey removes one of the account's passkeys. Like turning off
// the app, it needs a session that gave a second factor: one that signed
// in with a password alone must not drop the factor it never gave.
func (h *Handler) removePasskey(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	u := currentUser(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		h.renderAccount(c, http.StatusNotFound, accountForm{PasskeyError: accounts.ErrNoPasskey.Msg})
		return
	}
	if row := sessionstore.Current(ginsessions.Default(c)); row == nil || row.MFA == models.FactorNone {
		h.renderAccount(c, http.StatusForbidden, accountForm{PasskeyError: errFactorNotGiven})
		return
	}
	gone, err := h.Accounts.RemovePasskey(c.Request.Context(), u, id)
	if msg, status, refused := refusal(err); refused {
		h.renderAccount(c, status, accountForm{PasskeyError: msg})
		return
	}
	if err != nil {
		h.serverError(c, "remove passkey", err)
		return
	}
	h.audit(c, &models.Event{Kind: models.EventMFARemoved, UserID: &u.ID, ActorID: &u.ID, Email: u.Email, Detail: "passkey " + gone.Name})
	c.Redirect(http.StatusSeeOther, "/account?notice=passkey_removed#passkeys")
}
