package handlers

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/sso"
	"github.com/gatehouse/gatehouse/throttle"
	ginsessions "github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
)

// accountNotices is the fixed table /account?notice=CODE reads from: raw
// query text never reaches the page.
var accountNotices = map[string]string{
	"profile_saved":       "Your profile was saved.",
	"password_changed":    "Your password was changed. Your other sessions were signed out.",
	"password_set":        "Your password was set. You can now also sign in with your email and password.",
	"identity_linked":     "The sign-in was linked to your account.",
	"identity_unlinked":   "The sign-in was unlinked. Sessions started with it were signed out.",
	"session_revoked":     "That session was signed out.",
	"sessions_revoked":    "All your other sessions were signed out.",
	"invitation_accepted": "Welcome! Your password is set and you are signed in.",
	"email_verified":      "Your email address is confirmed.",
	"email_changed":       "Your email address was changed. Sign in with it from now on.",
	"mfa_removed":         "The authenticator app was removed.",
	"passkey_added":       "Passkey added: use it to sign in, or as your second factor.",
	"passkey_removed":     "Passkey removed.",
	"recovery_low":        "You signed in with a recovery code and have few left. Make new ones below.",
	"verification_sent":   "We sent a confirmation link to your address. It works for 24 hours.",
	"email_change_sent":   "We sent a link to the new address. Your address changes when you open it (within 24 hours); until then it stays as it is.",
}

// accountRoutes registers the signed-in user's own account pages.
func (h *Handler) accountRoutes(e *gin.Engine) {
	e.GET("/account", h.requireUser, h.oneTimeNotice("notice"), h.refreshSSO, h.accountPage)
	e.POST("/account/profile", h.requireUser, h.updateProfile)
	e.POST("/account/password", h.requireUser, h.requireRecentAuthWithoutPassword, h.changePassword)
	e.POST("/account/email", h.requireUser, h.requireRecentAuth, h.changeEmail)
	e.POST("/account/email/verify", h.requireUser, h.sendVerification)
	e.POST("/account/link", h.requireUser, h.requireRecentAuth, h.linkProvider)
	e.POST("/account/identities/:id/unlink", h.requireUser, h.requireRecentAuth, h.unlinkIdentity)
	e.POST("/account/sessions/:id/revoke", h.requireUser, h.revokeSession)
	e.POST("/account/sessions/revoke-others", h.requireUser, h.revokeOtherSessions)
}

// accountForm is what one render of the account page carries beside the
// stored data: a notice, the section that failed and what was typed.
type accountForm struct {
	Name                                                     string // as typed (profile errors)
	Email                                                    string // as typed (email errors)
	Notice                                                   string
	ProfileError, PasswordError, IdentityError, SessionError string
	EmailError, MFAError, PasskeyError                       string
}

// accountIdentity is one linked sign-in as the page lists it.
type accountIdentity struct {
	ID         int64
	Provider   string
	Email      string
	LinkedAt   time.Time
	LastUsed   *time.Time
	ThisDevice bool // the current session came from it
}

// accountSession is one live session as the page lists it.
type accountSession struct {
	ID                 int64
	Created, LastSeen  time.Time
	IP, Agent, AgentUA string
	Method             string
	Current            bool
}

func (h *Handler) accountPage(c *gin.Context) {
	f := accountForm{Notice: accountNotices[c.Query("notice")]}
	h.renderAccount(c, http.StatusOK, f)
}

// renderAccount shows the account page; f.Name is kept when a profile error
// is shown, so what was typed is not lost. Passwords are never echoed.
func (h *Handler) renderAccount(c *gin.Context, status int, f accountForm) {
	ctx := c.Request.Context()
	u := currentUser(c)
	ids, err := h.DB.UserIdentities(ctx, u.ID)
	if err != nil {
		h.serverError(c, "list identities", err)
		return
	}
	rows, err := h.DB.UserSessions(ctx, u.ID)
	if err != nil {
		h.serverError(c, "list sessions", err)
		return
	}
	cur := sessionstore.Current(ginsessions.Default(c))

	linked := map[string]bool{}
	var idents []accountIdentity
	for _, id := range ids {
		linked[id.ProviderID] = true
		idents = append(idents, accountIdentity{
			ID: id.ID, Provider: h.SSO.Name(id.ProviderID), Email: id.Email,
			LinkedAt: id.CreatedAt, LastUsed: id.LastLoginAt,
			ThisDevice: cur != nil && cur.Issuer == id.Issuer && cur.Subject == id.Subject && cur.Subject != "",
		})
	}
	var linkable []gin.H
	for _, p := range h.SSO.All() {
		if !linked[p.ID()] {
			linkable = append(linkable, gin.H{"ID": p.ID(), "Name": p.Name()})
		}
	}
	var sessions []accountSession
	others := 0
	for _, r := range rows {
		s := accountSession{
			ID: r.ID, Created: r.CreatedAt, LastSeen: r.LastSeenAt, IP: r.IP,
			Agent: shortUserAgent(r.UserAgent), AgentUA: r.UserAgent,
			Method:  h.sessionMethod(r.AuthMethod, r.ProviderID),
			Current: cur != nil && cur.ID == r.ID,
		}
		if !s.Current {
			others++
			sessions = append(sessions, s)
			continue
		}
		sessions = append([]accountSession{s}, sessions...) // this device first
	}
	name := u.Name
	if f.ProfileError != "" {
		name = f.Name
	}
	pending, err := h.Accounts.PendingEmail(ctx, u)
	if err != nil {
		h.serverError(c, "pending email", err)
		return
	}
	mfaStatus, err := h.Accounts.MFAStatusOf(ctx, u.ID)
	if err != nil {
		h.serverError(c, "second factors", err)
		return
	}
	ssoOnlyLocked := !u.HasPassword() && !h.recentAuth(c)
	h.render(c, status, "account", gin.H{
		"MailEnabled": h.Accounts.Mail != nil, "EmailVerified": u.EmailVerified(), "PendingEmail": pending,
		"TypedEmail": f.Email, "MFA": mfaStatus, "PasskeysOn": h.Accounts.PasskeysOn(),
		"Form": f, "Name": name, "HasPassword": u.HasPassword(),
		"MinPassword": h.Accounts.Hasher.MinLength(), "MaxName": accounts.MaxNameLen,
		"Identities": idents, "Linkable": linkable, "CanUnlink": u.HasPassword() || len(ids) > 1,
		"Sessions": sessions, "OtherSessions": others,
		"NeedReauth": ssoOnlyLocked, "SudoMinutes": int(h.Config.Admin.SudoWindow.Minutes()),
	})
}

// sessionMethod says how a session signed in, for people.
func (h *Handler) sessionMethod(method models.Method, provider string) string {
	switch method {
	case models.MethodPassword:
		return "Password"
	case models.MethodPasskey:
		return "Passkey"
	case models.MethodSSO:
		if provider != "" {
			return "SSO (" + h.SSO.Name(provider) + ")"
		}
		return "SSO"
	}
	return "Unknown"
}

// updateProfile saves the display name.
func (h *Handler) updateProfile(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	u := currentUser(c)
	typed := c.PostForm("name")
	name, err := accounts.CheckName(typed)
	if msg, status, refused := refusal(err); refused {
		h.renderAccount(c, status, accountForm{Name: strings.ToValidUTF8(typed, ""), ProfileError: msg})
		return
	}
	if name != u.Name {
		if _, err := h.Accounts.UpdateName(c.Request.Context(), u.ID, name); err != nil {
			h.serverError(c, "update name", err)
			return
		}
		h.audit(c, &models.Event{Kind: models.EventProfileUpdated, UserID: &u.ID, Email: u.Email, Detail: "name changed from account page"})
	}
	c.Redirect(http.StatusSeeOther, "/account?notice=profile_saved")
}

// changeEmail asks to move the account to a new address: a link goes to
// it, and the address changes when that link is used (accounts.ConfirmEmail).
// It needs a recent sign-in, like every change of how the account is
// reached. The answer is the same whether or not the new address has an
// account.
func (h *Handler) changeEmail(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	u := currentUser(c)
	typed := strings.TrimSpace(c.PostForm("email"))
	fail := func(status int, msg string) {
		h.renderAccount(c, status, accountForm{Email: strings.ToValidUTF8(typed, ""), EmailError: msg})
	}
	if typed == "" || len(typed) > maxEmailLen || !models.IsText(typed) {
		fail(http.StatusBadRequest, "Enter a valid email address.")
		return
	}
	ctx := c.Request.Context()
	if h.Throttle != nil {
		// Each request mails the typed address: the limits of "Forgot
		// password?", per client address and per typed address, keep any
		// account from flooding someone's mailbox.
		wait, err := h.Throttle.BeginForgot(ctx, typed, c.ClientIP())
		switch {
		case err != nil:
			h.log(c).WarnContext(ctx, "throttle email change", "err", err)
		case wait > 0:
			secs := int(math.Ceil(wait.Seconds()))
			c.Header("Retry-After", strconv.Itoa(secs))
			fail(statusThrottled, "Too many requests. Try again in "+humanSeconds(secs)+".")
			return
		}
	}
	outcome, err := h.Accounts.RequestEmailChange(ctx, u, typed)
	msg, status, refused := refusal(err)
	switch {
	case errors.Is(err, accounts.ErrMailOff):
		fail(http.StatusConflict, "gatehouse cannot send mail here, so it cannot confirm a new address. Ask an administrator to change it.")
		return
	case errors.Is(err, mail.ErrHeader):
		fail(http.StatusBadRequest, "Enter a valid email address.")
		return
	case refused:
		fail(status, msg)
		return
	case err != nil:
		h.serverError(c, "request email change", err)
		return
	}
	h.audit(c, &models.Event{Kind: models.EventEmailChangeRequest, UserID: &u.ID, ActorID: &u.ID, Email: u.Email, Detail: outcome.String()})
	c.Redirect(http.StatusSeeOther, "/account?notice=email_change_sent")
}

// sendVerification mails a link that confirms the account's address.
func (h *Handler) sendVerification(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	u := currentUser(c)
	err := h.Accounts.RequestVerification(c.Request.Context(), u)
	msg, status, refused := refusal(err)
	switch {
	case errors.Is(err, accounts.ErrMailOff):
		h.renderAccount(c, http.StatusConflict, accountForm{EmailError: "gatehouse cannot send mail here, so it cannot confirm your address."})
		return
	case refused:
		h.renderAccount(c, status, accountForm{EmailError: msg})
		return
	case err != nil:
		h.serverError(c, "request verification", err)
		return
	}
	h.audit(c, &models.Event{Kind: models.EventEmailVerifyRequest, UserID: &u.ID, ActorID: &u.ID, Email: u.Email, Detail: "asked for from the account page"})
	c.Redirect(http.StatusSeeOther, "/account?notice=verification_sent")
}

// requireRecentAuthWithoutPassword puts setting a first password behind
// sudo mode: with no current password to ask for, a recent sign-in is the
// proof. Changing an existing password asks for it instead.
func (h *Handler) requireRecentAuthWithoutPassword(c *gin.Context) {
	if u := currentUser(c); u != nil && u.HasPassword() {
		c.Next()
		return
	}
	h.requireRecentAuth(c)
}

// changePassword changes (or, for an SSO-only account, sets) the password
// and signs out every other session of the account.
func (h *Handler) changePassword(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	u := currentUser(c)
	current, next, confirm := c.PostForm("current_password"), c.PostForm("new_password"), c.PostForm("confirm_password")
	fail := func(status int, msg string) {
		h.renderAccount(c, status, accountForm{PasswordError: msg})
	}
	switch {
	case u.HasPassword() && current == "":
		fail(http.StatusBadRequest, "Enter your current password.")
		return
	case next == "":
		fail(http.StatusBadRequest, "Enter a new password.")
		return
	case next != confirm:
		fail(http.StatusBadRequest, "The new password and its confirmation do not match.")
		return
	}
	keep := ""
	if row := sessionstore.Current(ginsessions.Default(c)); row != nil {
		keep = row.TokenHash
	}
	var attempt *throttle.Attempt // none for a first password: nothing to guess
	if u.HasPassword() {
		a, msg, ok := h.throttleBegin(c, u.Email)
		if !ok {
			fail(statusThrottled, msg)
			return
		}
		attempt = a
	}
	err := h.Accounts.ChangePassword(c.Request.Context(), u, current, next, keep)
	h.throttleDone(c, attempt, err)
	var le *accounts.LoginError
	msg, status, refused := refusal(err)
	switch {
	case errors.As(err, &le):
		h.audit(c, &models.Event{Kind: models.EventPasswordChangeFailure, UserID: &u.ID, Email: u.Email, Method: models.MethodPassword, Detail: le.Reason.String()})
		fail(http.StatusUnauthorized, "Your current password is not right, so the password was not changed.")
		return
	case refused:
		fail(status, msg)
		return
	case err != nil:
		h.serverError(c, "change password", err)
		return
	}
	notice, detail := "password_changed", "changed from account page; other sessions ended"
	if !u.HasPassword() {
		notice, detail = "password_set", "first password set from account page; other sessions ended"
	}
	h.audit(c, &models.Event{Kind: models.EventPasswordSet, UserID: &u.ID, Email: u.Email, Method: models.MethodPassword, Detail: detail})
	if err := h.renewSession(c, u); err != nil {
		h.serverError(c, "renew session", err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/account?notice="+notice)
}

// linkProvider starts an SSO sign-in whose identity the callback attaches
// to this account (finishLink), never to another.
func (h *Handler) linkProvider(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	u := currentUser(c)
	p, ok := h.SSO.ByID(c.PostForm("provider"))
	if !ok {
		h.renderAccount(c, http.StatusBadRequest, accountForm{IdentityError: "Choose one of the sign-in providers listed."})
		return
	}
	if msg, ok := h.redirectToProvider(c, p, pendingStart{Mode: modeLink, UserID: &u.ID, Next: "/account?notice=identity_linked"}); !ok && msg != "" {
		h.renderAccount(c, http.StatusServiceUnavailable, accountForm{IdentityError: msg})
	}
}

// finishLink attaches an identity to the signed-in account (the account
// page's "link another provider"): never to another account.
func (h *Handler) finishLink(c *gin.Context, p *sso.Provider, pending *models.PendingLogin, id *sso.Identity) {
	u := currentUser(c)
	if u == nil || pending.UserID == nil || *pending.UserID != u.ID {
		h.errorPage(c, http.StatusForbidden, "Signed out", "You were signed out before the link finished. Sign in and try again.")
		return
	}
	err := h.Accounts.AttachIdentity(c.Request.Context(), u, p.ID(), id)
	if _, status, refused := refusal(err); refused {
		msg := "That " + p.Name() + " sign-in is already linked to another account, so it was not linked to yours."
		if errors.Is(err, accounts.ErrIdentityLinkedHere) {
			msg = "That " + p.Name() + " sign-in is already linked to your account."
		}
		h.audit(c, &models.Event{Kind: models.EventLinkFailure, UserID: &u.ID, Email: u.Email, Method: models.MethodSSO, ProviderID: p.ID(), Detail: "identity linked elsewhere"})
		h.render(c, status, "error", gin.H{"Title": "Not linked", "Message": msg, "Back": "/account", "BackLabel": "Back to your account"})
		return
	}
	if err != nil {
		h.serverError(c, "link identity", err)
		return
	}
	h.audit(c, &models.Event{Kind: models.EventIdentityLinked, UserID: &u.ID, ActorID: &u.ID, Email: u.Email, Method: models.MethodSSO, ProviderID: p.ID(), Detail: "from account page"})
	if err := h.renewSession(c, u); err != nil {
		h.serverError(c, "renew session", err)
		return
	}
	c.Redirect(http.StatusSeeOther, or(pending.Next, "/account"))
}

// unlinkIdentity removes one linked sign-in, unless it is the account's
// last way to sign in. Sessions started through it end.
func (h *Handler) unlinkIdentity(c *gin.Context) {
	u := currentUser(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		h.errorPage(c, http.StatusNotFound, "Not found", "That linked sign-in was not found.")
		return
	}
	s := ginsessions.Default(c)
	cur := sessionstore.Current(s)
	ident, err := h.Accounts.Unlink(c.Request.Context(), u.ID, id, true)
	switch {
	case errors.Is(err, accounts.ErrLastLogin):
		h.renderAccount(c, http.StatusConflict, accountForm{IdentityError: "This is your only way to sign in, so it cannot be unlinked. Set a password or link another provider first."})
		return
	case errors.Is(err, models.ErrNotFound):
		h.errorPage(c, http.StatusNotFound, "Not found", "That linked sign-in was not found. It may have been unlinked already.")
		return
	case err != nil:
		h.serverError(c, "unlink identity", err)
		return
	}
	h.audit(c, &models.Event{Kind: models.EventIdentityUnlinked, UserID: &u.ID, Email: u.Email, Method: models.MethodSSO, ProviderID: ident.ProviderID, Detail: "from account page"})
	if cur != nil && cur.Issuer == ident.Issuer && cur.Subject == ident.Subject {
		// This very session came from the identity and was ended with it.
		if err := sessionstore.End(s); err != nil {
			h.log(c).WarnContext(c.Request.Context(), "expire cookie after unlink", "err", err)
		}
		c.Redirect(http.StatusSeeOther, "/login?notice=signed_out")
		return
	}
	c.Redirect(http.StatusSeeOther, "/account?notice=identity_unlinked")
}

// revokeSession signs out one other session of this user. An ID that is
// not one of the user's sessions changes nothing and answers 404.
func (h *Handler) revokeSession(c *gin.Context) {
	u := currentUser(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		h.sessionNotFound(c)
		return
	}
	if cur := sessionstore.Current(ginsessions.Default(c)); cur != nil && cur.ID == id {
		h.renderAccount(c, http.StatusBadRequest, accountForm{SessionError: "That is the session you are using. Use Sign out to end it."})
		return
	}
	ok, err := h.DB.DeleteSessionByID(c.Request.Context(), u.ID, id)
	if err != nil {
		h.serverError(c, "revoke session", err)
		return
	}
	if !ok {
		h.sessionNotFound(c)
		return
	}
	h.audit(c, &models.Event{Kind: models.EventSessionRevoked, UserID: &u.ID, Email: u.Email, Detail: fmt.Sprintf("session %d from account page", id)})
	c.Redirect(http.StatusSeeOther, "/account?notice=session_revoked")
}

func (h *Handler) sessionNotFound(c *gin.Context) {
	h.render(c, http.StatusNotFound, "error", gin.H{"Title": "Session not found",
		"Message": "That session was not found. It may have ended already.",
		"Back":    "/account", "BackLabel": "Back to your account"})
	c.Abort()
}

// revokeOtherSessions signs out everywhere but this browser.
func (h *Handler) revokeOtherSessions(c *gin.Context) {
	u := currentUser(c)
	cur := sessionstore.Current(ginsessions.Default(c))
	if cur == nil || cur.TokenHash == "" { // keep "" would end this session too
		h.serverError(c, "revoke other sessions", errors.New("no current session row"))
		return
	}
	n, err := h.DB.DeleteUserSessions(c.Request.Context(), u.ID, cur.TokenHash)
	if err != nil {
		h.serverError(c, "revoke other sessions", err)
		return
	}
	h.audit(c, &models.Event{Kind: models.EventSessionRevoked, UserID: &u.ID, Email: u.Email, Detail: fmt.Sprintf("all other sessions (%d) from account page", n)})
	c.Redirect(http.StatusSeeOther, "/account?notice=sessions_revoked")
}

// shortUserAgent turns a User-Agent header into "Firefox on Linux", falling
// back to its first characters.
func shortUserAgent(ua string) string {
	if ua == "" {
		return "Unknown browser"
	}
	var browser string
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"HeadlessChrome/", "Headless Chrome"},
		{"Chromium/", "Chromium"}, {"Chrome/", "Chrome"}, {"CriOS/", "Chrome"}, {"FxiOS/", "Firefox"},
		{"Safari/", "Safari"}, {"curl/", "curl"}, {"Go-http-client/", "Go HTTP client"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	var os string
	for _, o := range []struct{ token, name string }{
		{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"}, {"CrOS", "ChromeOS"},
		{"Windows", "Windows"}, {"Macintosh", "macOS"}, {"Mac OS X", "macOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			os = o.name
			break
		}
	}
	switch {
	case browser != "" && os != "":
		return browser + " on " + os
	case browser != "":
		return browser
	}
	if utf8.RuneCountInString(ua) > 40 {
		return string([]rune(ua)[:40]) + "…"
	}
	return ua
}
