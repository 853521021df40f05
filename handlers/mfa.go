package handlers

// Two-factor sign-in: the second step of a password sign-in (/auth/mfa),
// and setting up, renewing and removing an authenticator app and its
// recovery codes on the account page (/account/mfa/...). accounts does
// the work; codes and secrets never reach the log.

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	ginsessions "github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
)

func (h *Handler) mfaRoutes(e *gin.Engine) {
	e.GET("/auth/mfa", h.secondStepPage)
	e.POST("/auth/mfa", h.secondStep)
	// Setting up needs a recent sign-in at every step: a key left waiting
	// must not be read or confirmed later through a stolen session.
	e.POST("/account/mfa/totp", h.requireUser, h.requireRecentAuth, h.requireFactorGiven, h.beginTOTP)
	e.GET("/account/mfa/totp", h.requireUser, h.requireRecentAuth, h.requireFactorGiven, h.totpSetupPage)
	e.GET("/account/mfa/totp/qr.png", h.requireUser, h.requireRecentAuth, h.requireFactorGiven, h.totpQR)
	e.POST("/account/mfa/totp/confirm", h.requireUser, h.requireRecentAuth, h.requireFactorGiven, h.confirmTOTP)
	// New codes and turning it off also ask for a current code (the form's
	// code field): a session that never gave one cannot drop the factor.
	e.POST("/account/mfa/recovery", h.requireUser, h.requireRecentAuth, h.newRecoveryCodes)
	e.POST("/account/mfa/remove", h.requireUser, h.requireRecentAuth, h.removeMFA)
	e.GET("/account/mfa/required", h.requireUser, h.mfaRequiredPage)
	e.POST("/account/mfa/required", h.requireUser, h.stepUp)
}

// mfaOpen reports whether a session that owes a second factor may reach
// path: the page that settles it, signing out, re-authentication and what
// every page loads; setting up an app only while the account has none
// (hasFactor false), so the factor it has cannot be swapped or removed by
// whoever has not given it.
func mfaOpen(path string, hasFactor bool) bool {
	for _, p := range []string{"/auth/reauth", "/auth/logout", "/auth/logged-out", "/auth/callback", "/assets/"} {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	if !hasFactor && (strings.HasPrefix(path, "/account/mfa/totp") || path == "/account/passkeys/options" || path == "/account/passkeys") {
		return true
	}
	return strings.HasPrefix(path, "/account/mfa/required") || path == "/healthz" || path == "/readyz"
}

// owesSecondFactor reports whether the signed-in session must still give
// a second factor: the policy requires one of its account (see
// accounts.MFARequired), and its sign-in gave none.
func (h *Handler) owesSecondFactor(c *gin.Context) bool {
	u := currentUser(c)
	if u == nil || !h.Accounts.MFARequired(u) {
		return false
	}
	row := sessionstore.Current(ginsessions.Default(c))
	return row != nil && row.MFA == models.FactorNone
}

// mfaGate keeps a session that owes a second factor to the pages that
// settle it: a page asked for by GET goes to /account/mfa/required, where
// the person enters a code or sets up an app; anything else is refused.
func (h *Handler) mfaGate(c *gin.Context) {
	if !h.owesSecondFactor(c) {
		c.Next()
		return
	}
	has, err := h.Accounts.HasSecondFactor(c.Request.Context(), currentUser(c).ID)
	if err != nil {
		h.serverError(c, "look up second factor", err)
		return
	}
	if mfaOpen(c.Request.URL.Path, has) {
		c.Next()
		return
	}
	if c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead {
		c.Redirect(http.StatusSeeOther, "/account/mfa/required")
		c.Abort()
		return
	}
	h.errorPage(c, http.StatusForbidden, "Two-factor sign-in needed", "Your account must sign in with a second factor. Give one, or set one up, first.")
}

// mfaRequiredPage asks a session that owes a second factor for a code,
// or, when the account has none, to set up an app.
func (h *Handler) mfaRequiredPage(c *gin.Context) {
	h.renderMFARequired(c, http.StatusOK, "")
}

func (h *Handler) renderMFARequired(c *gin.Context, status int, msg string) {
	if !h.owesSecondFactor(c) {
		c.Redirect(http.StatusSeeOther, "/dashboard")
		return
	}
	st, err := h.Accounts.MFAStatusOf(c.Request.Context(), currentUser(c).ID)
	if err != nil {
		h.serverError(c, "second factors", err)
		return
	}
	h.render(c, status, "mfa_required", gin.H{"Enrolled": st.Enrolled, "KeyConfigured": st.KeyConfigured, "Error": msg,
		"Passkeys": h.Accounts.PasskeysOn() && len(st.Passkeys) > 0, "PasskeysOn": h.Accounts.PasskeysOn()})
}

// stepUp takes the second factor a session owes: the app's code or a
// recovery code, throttled like the second step of a sign-in.
func (h *Handler) stepUp(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	u := currentUser(c)
	if !h.owesSecondFactor(c) {
		c.Redirect(http.StatusSeeOther, "/dashboard")
		return
	}
	code := strings.TrimSpace(c.PostForm("code"))
	if code == "" || len(code) > 64 {
		h.renderMFARequired(c, http.StatusBadRequest, "Enter the 6-digit code your app shows, or a recovery code.")
		return
	}
	done, msg, ok := h.codeThrottleBegin(c, u.Email)
	if !ok {
		h.renderMFARequired(c, statusThrottled, msg)
		return
	}
	used, err := h.Accounts.CheckSecondFactor(c.Request.Context(), u, code)
	done(err)
	if !h.stepUpDone(c, u, err, "wrong or used code after sign-in") {
		return
	}
	if used.Recovery {
		h.audit(c, &models.Event{Kind: models.EventMFARecoveryUsed, UserID: &u.ID, ActorID: &u.ID, Email: u.Email, Detail: pluralCodes(used.RecoveryLeft) + " left"})
	}
	h.settleStepUp(c, used.Factor())
}

// stepUpDone answers a second factor a session owed that was refused (the
// page again, audited with detail) or failed, and reports false; true when
// it was accepted.
func (h *Handler) stepUpDone(c *gin.Context, u *models.User, err error, detail string) bool {
	msg, status, refused := refusal(err)
	switch {
	case refused:
		h.audit(c, &models.Event{Kind: models.EventMFAFailure, UserID: &u.ID, Email: u.Email, Detail: detail})
		h.renderMFARequired(c, status, msg)
		return false
	case err != nil:
		h.serverError(c, "check second factor", err)
		return false
	}
	h.Metrics.MFA("accepted")
	return true
}

// settleStepUp records the factor the session owed and goes on.
func (h *Handler) settleStepUp(c *gin.Context, f models.Factor) {
	if err := sessionstore.MarkMFA(ginsessions.Default(c), f); err != nil {
		h.serverError(c, "save session", err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/dashboard")
}

// errFactorNotGiven refuses a change of second factors to a session that
// signed in without one while the account has one.
const errFactorNotGiven = "This session signed in without your second factor: sign out, sign in with your passkey or code, then try again."

// factorGiven reports whether the session may change the account's second
// factors: the account has none yet, or the session gave one. Without it a
// session that never gave the owner's factor (one from before it was set
// up, an SSO sign-in the policy does not cover) could add a factor of its
// own, pass as having given it, and remove the owner's.
func (h *Handler) factorGiven(c *gin.Context) (bool, error) {
	if row := sessionstore.Current(ginsessions.Default(c)); row != nil && row.MFA != models.FactorNone {
		return true, nil
	}
	has, err := h.Accounts.HasSecondFactor(c.Request.Context(), currentUser(c).ID)
	return !has, err
}

// requireFactorGiven guards adding a second factor with factorGiven: a
// ceremony's options are refused as JSON, anything else on the account
// page.
func (h *Handler) requireFactorGiven(c *gin.Context) {
	ok, err := h.factorGiven(c)
	switch {
	case err != nil:
		h.serverError(c, "look up second factor", err)
	case ok:
		c.Next()
		return
	case strings.HasSuffix(c.Request.URL.Path, "/options"):
		c.JSON(http.StatusForbidden, gin.H{"error": errFactorNotGiven})
	case strings.HasPrefix(c.Request.URL.Path, "/account/passkeys"):
		h.renderAccount(c, http.StatusForbidden, accountForm{PasskeyError: errFactorNotGiven})
	default:
		h.renderAccount(c, http.StatusForbidden, accountForm{MFAError: errFactorNotGiven})
	}
	c.Abort()
}

// startSecondStep follows a right password for an account with a second
// factor: no session yet, only a pending step bound to this browser's
// cookie, and the page that asks for the code.
func (h *Handler) startSecondStep(c *gin.Context, u *models.User, next string) {
	token, err := h.Accounts.StartSecondStep(c.Request.Context(), u, next)
	if err != nil {
		h.serverError(c, "start second step", err)
		return
	}
	h.setCookie(c, cookieSecondStep, token, int(accounts.PendingMFATTL.Seconds()))
	c.Redirect(http.StatusSeeOther, "/auth/mfa")
}

// secondStepOf is the sign-in this browser's cookie continues, or false
// after sending it back to the sign-in page.
func (h *Handler) secondStepOf(c *gin.Context) (*accounts.SecondStep, string, bool) {
	token, _ := h.cookie(c, cookieSecondStep)
	step, err := h.Accounts.SecondStepOf(c.Request.Context(), token)
	switch {
	case errors.Is(err, accounts.ErrPendingMFA):
		h.setCookie(c, cookieSecondStep, "", -1)
		c.Redirect(http.StatusSeeOther, "/login?error=mfa_expired")
		return nil, "", false
	case err != nil:
		h.serverError(c, "find second step", err)
		return nil, "", false
	}
	return step, token, true
}

func (h *Handler) renderSecondStep(c *gin.Context, status int, step *accounts.SecondStep, msg string) {
	st, err := h.Accounts.MFAStatusOf(c.Request.Context(), step.User.ID)
	if err != nil {
		h.serverError(c, "second factors", err)
		return
	}
	h.render(c, status, "mfa", gin.H{"Email": step.User.Email, "Error": msg, "App": st.TOTP != nil, "Passkeys": h.Accounts.PasskeysOn() && len(st.Passkeys) > 0})
}

func (h *Handler) secondStepPage(c *gin.Context) {
	if step, _, ok := h.secondStepOf(c); ok {
		h.renderSecondStep(c, http.StatusOK, step, "")
	}
}

// secondStep checks the code and, when it is right, starts the session:
// a new one, as every sign-in does. Wrong codes are throttled like
// passwords, on the same counters.
func (h *Handler) secondStep(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	step, token, ok := h.secondStepOf(c)
	if !ok {
		return
	}
	u := step.User
	code := strings.TrimSpace(c.PostForm("code"))
	if code == "" || len(code) > 64 {
		h.renderSecondStep(c, http.StatusBadRequest, step, "Enter the 6-digit code your app shows, or a recovery code.")
		return
	}
	done, msg, ok := h.codeThrottleBegin(c, u.Email)
	if !ok {
		h.renderSecondStep(c, statusThrottled, step, msg)
		return
	}
	used, err := h.Accounts.FinishSecondStep(c.Request.Context(), step, token, code)
	done(err)
	if !h.secondStepDone(c, step, err, "wrong or used code at sign-in") {
		return
	}
	if used.Recovery {
		h.audit(c, &models.Event{Kind: models.EventMFARecoveryUsed, UserID: &u.ID, ActorID: &u.ID, Email: u.Email, Method: models.MethodPassword,
			Detail: pluralCodes(used.RecoveryLeft) + " left"})
	}
	if !h.signIn(c, u, sessionstore.SignIn{Method: models.MethodPassword, MFA: used.Factor()}) {
		return
	}
	if used.Recovery && used.RecoveryLeft <= accounts.RecoveryLow {
		c.Redirect(http.StatusSeeOther, "/account?notice=recovery_low")
		return
	}
	c.Redirect(http.StatusSeeOther, or(step.Next, "/dashboard"))
}

// secondStepDone answers a second step that failed (err: expired, back to
// sign-in; refused, the page again, audited as failed with detail) and
// reports false; when it succeeded it drops the step's cookie and reports
// true, for the caller to start the session.
func (h *Handler) secondStepDone(c *gin.Context, step *accounts.SecondStep, err error, detail string) bool {
	u := step.User
	msg, status, refused := refusal(err)
	switch {
	case errors.Is(err, accounts.ErrPendingMFA):
		h.setCookie(c, cookieSecondStep, "", -1)
		c.Redirect(http.StatusSeeOther, "/login?error=mfa_expired")
		return false
	case refused:
		h.audit(c, &models.Event{Kind: models.EventMFAFailure, UserID: &u.ID, Email: u.Email, Method: models.MethodPassword, Detail: detail})
		h.renderSecondStep(c, status, step, msg)
		return false
	case err != nil:
		h.serverError(c, "check second factor", err)
		return false
	}
	h.setCookie(c, cookieSecondStep, "", -1)
	h.Metrics.MFA("accepted")
	return true
}

func pluralCodes(n int64) string {
	if n == 1 {
		return "1 recovery code"
	}
	return strconv.FormatInt(n, 10) + " recovery codes"
}

// beginTOTP starts setting up an authenticator app (in sudo mode) and
// shows its QR code and secret.
func (h *Handler) beginTOTP(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	u := currentUser(c)
	k, err := h.Accounts.BeginTOTP(c.Request.Context(), u)
	if msg, status, refused := refusal(err); refused {
		h.renderAccount(c, status, accountForm{MFAError: msg})
		return
	}
	if err != nil {
		h.serverError(c, "begin authenticator app", err)
		return
	}
	h.renderTOTPSetup(c, http.StatusOK, k, "")
}

func (h *Handler) renderTOTPSetup(c *gin.Context, status int, k *mfa.Key, msg string) {
	h.render(c, status, "mfa_setup", gin.H{"Secret": spaced(k.Secret), "Error": msg})
}

// spaced groups a base32 secret in fours, as apps that take it typed show.
func spaced(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// pendingTOTP is the key waiting for confirmation, or false after sending
// the browser to the account page.
func (h *Handler) pendingTOTP(c *gin.Context) (*mfa.Key, bool) {
	k, err := h.Accounts.PendingTOTP(c.Request.Context(), currentUser(c))
	switch {
	case errors.Is(err, accounts.ErrNoTOTP), errors.Is(err, accounts.ErrNoSecretsKey):
		c.Redirect(http.StatusSeeOther, "/account")
		return nil, false
	case err != nil:
		h.serverError(c, "pending authenticator app", err)
		return nil, false
	}
	return k, true
}

func (h *Handler) totpSetupPage(c *gin.Context) {
	if k, ok := h.pendingTOTP(c); ok {
		h.renderTOTPSetup(c, http.StatusOK, k, "")
	}
}

// totpQR serves the QR code of the key waiting for confirmation; never
// stored by a cache.
func (h *Handler) totpQR(c *gin.Context) {
	k, ok := h.pendingTOTP(c)
	if !ok {
		return
	}
	png, err := k.QR(240)
	if err != nil {
		h.serverError(c, "QR code", err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "image/png", png)
}

// confirmTOTP finishes setting up the app with a code it shows, then
// shows the recovery codes, once.
func (h *Handler) confirmTOTP(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	u := currentUser(c)
	code := c.PostForm("code")
	if len(code) > 64 {
		code = ""
	}
	codes, err := h.Accounts.ConfirmTOTP(c.Request.Context(), u, code)
	msg, status, refused := refusal(err)
	switch {
	case errors.Is(err, accounts.ErrNoTOTP):
		c.Redirect(http.StatusSeeOther, "/account")
		return
	case refused:
		if k, ok := h.pendingTOTP(c); ok {
			h.renderTOTPSetup(c, status, k, msg)
		}
		return
	case err != nil:
		h.serverError(c, "confirm authenticator app", err)
		return
	}
	h.audit(c, &models.Event{Kind: models.EventMFAEnrolled, UserID: &u.ID, ActorID: &u.ID, Email: u.Email, Detail: "authenticator app"})
	// The code just given is this session's second factor.
	if err := sessionstore.MarkMFA(ginsessions.Default(c), models.FactorTOTP); err != nil {
		h.serverError(c, "save session", err)
		return
	}
	h.renderRecoveryCodes(c, codes, true)
}

// renderRecoveryCodes shows a new set of recovery codes, with a text file
// of them to download; the page is never stored.
func (h *Handler) renderRecoveryCodes(c *gin.Context, codes []string, enrolled bool) {
	file := h.brand.view.Name + " recovery codes for " + currentUser(c).Email + "\n\n" + strings.Join(codes, "\n") + "\n\nEach code works once.\n"
	h.render(c, http.StatusOK, "mfa_codes", gin.H{
		"Codes": codes, "Enrolled": enrolled,
		// A data: URL is not a navigation html/template trusts by itself;
		// this one is built here from the codes alone.
		"Download": template.URL("data:text/plain;charset=utf-8," + url.PathEscape(file)),
	})
}

// currentCode checks the code field of an account-page form that changes
// the account's second factors: only someone who can give a code may. It
// answers a refusal on the account page itself and reports false.
func (h *Handler) currentCode(c *gin.Context, u *models.User) bool {
	code := strings.TrimSpace(c.PostForm("code"))
	if code == "" || len(code) > 64 {
		h.renderAccount(c, http.StatusBadRequest, accountForm{MFAError: "Enter a current code from your app (or a recovery code) to confirm."})
		return false
	}
	done, msg, ok := h.codeThrottleBegin(c, u.Email)
	if !ok {
		h.renderAccount(c, statusThrottled, accountForm{MFAError: msg})
		return false
	}
	_, err := h.Accounts.CheckSecondFactor(c.Request.Context(), u, code)
	done(err)
	msg, status, refused := refusal(err)
	switch {
	case refused:
		h.audit(c, &models.Event{Kind: models.EventMFAFailure, UserID: &u.ID, Email: u.Email, Detail: "wrong or used code on the account page"})
		h.renderAccount(c, status, accountForm{MFAError: msg})
		return false
	case err != nil:
		h.serverError(c, "check second factor", err)
		return false
	}
	return true
}

func (h *Handler) newRecoveryCodes(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	u := currentUser(c)
	if !h.currentCode(c, u) {
		return
	}
	codes, err := h.Accounts.NewRecoveryCodes(c.Request.Context(), u)
	if msg, status, refused := refusal(err); refused {
		h.renderAccount(c, status, accountForm{MFAError: msg})
		return
	}
	if err != nil {
		h.serverError(c, "new recovery codes", err)
		return
	}
	h.audit(c, &models.Event{Kind: models.EventMFARecoveryCodes, UserID: &u.ID, ActorID: &u.ID, Email: u.Email, Detail: "the previous codes no longer work"})
	h.renderRecoveryCodes(c, codes, false)
}

func (h *Handler) removeMFA(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	u := currentUser(c)
	if !h.currentCode(c, u) {
		return
	}
	err := h.Accounts.RemoveTOTP(c.Request.Context(), u)
	if msg, status, refused := refusal(err); refused {
		h.renderAccount(c, status, accountForm{MFAError: msg})
		return
	}
	if err != nil {
		h.serverError(c, "remove second factor", err)
		return
	}
	h.audit(c, &models.Event{Kind: models.EventMFARemoved, UserID: &u.ID, ActorID: &u.ID, Email: u.Email, Detail: "authenticator app, from the account page"})
	c.Redirect(http.StatusSeeOther, "/account?notice=mfa_removed")
}
