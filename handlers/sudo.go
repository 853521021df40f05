package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/sso"
	ginsessions "github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
)

// lastAuth is when the session's person last proved who they are: the
// sign-in or a later re-authentication, whichever is later ("sudo mode").
func lastAuth(row *models.Session) time.Time {
	var t time.Time
	if row == nil {
		return t
	}
	if row.AuthTime != nil {
		t = *row.AuthTime
	}
	if row.ReauthAt != nil && row.ReauthAt.After(t) {
		t = *row.ReauthAt
	}
	return t
}

// recentAuth reports whether the session is in sudo mode.
func (h *Handler) recentAuth(c *gin.Context) bool {
	return h.Now().Sub(lastAuth(sessionstore.Current(ginsessions.Default(c)))) < h.Config.Admin.SudoWindow
}

// requireRecentAuth guards destructive actions: an older sign-in is sent to
// re-authenticate first. A page comes back to itself; an action with a
// confirmation page at its own address comes back to that page, which says
// what it will do and has the button to do it; any other action comes back
// to the page its form was on, and the re-authentication page names it.
// Nothing posted is replayed, and every address goes through SafeNext.
func (h *Handler) requireRecentAuth(c *gin.Context) {
	if h.recentAuth(c) {
		c.Next()
		return
	}
	back, action := c.Request.URL.RequestURI(), ""
	switch {
	case c.Request.Method == http.MethodGet:
	case h.confirmable[c.FullPath()]:
		back = c.Request.URL.Path
	default:
		back, action = "/account", c.Request.URL.Path
		if ref, err := url.Parse(c.Request.Referer()); err == nil && ref.Host == c.Request.Host {
			back = ref.RequestURI()
		}
	}
	to := "/auth/reauth?next=" + url.QueryEscape(SafeNext(back))
	if action = SafeNext(action); action != "" {
		to += "&action=" + url.QueryEscape(action)
	}
	c.Redirect(http.StatusSeeOther, to)
	c.Abort()
}

func (h *Handler) reauthPage(c *gin.Context) {
	h.renderReauth(c, http.StatusOK, SafeNext(c.Query("next")), "")
}

func (h *Handler) renderReauth(c *gin.Context, status int, next, msg string) {
	u := currentUser(c)
	ids, err := h.DB.UserIdentities(c.Request.Context(), u.ID)
	if err != nil {
		h.serverError(c, "list identities", err)
		return
	}
	var providers []gin.H
	for _, id := range ids {
		if p, ok := h.SSO.ByID(id.ProviderID); ok {
			providers = append(providers, gin.H{"ID": p.ID(), "Name": p.Name()})
		}
	}
	// What is confirmed: the action posted (carried as "action" through a
	// failed attempt) or the page to come back to.
	action := SafeNext(c.Query("action"))
	if c.Request.Method == http.MethodPost {
		action = SafeNext(c.PostForm("action"))
	}
	needsCode, err := h.reauthNeedsCode(c, u)
	if err != nil {
		h.serverError(c, "second factors", err)
		return
	}
	passkeys, err := h.DB.CountPasskeys(c.Request.Context(), u.ID)
	if err != nil {
		h.serverError(c, "passkeys", err)
		return
	}
	h.render(c, status, "reauth", gin.H{
		"Next": next, "Action": action, "Confirms": h.describeAction(c, or(action, next)),
		"Error": msg, "HasPassword": u.HasPassword(), "Providers": providers, "NeedsCode": needsCode,
		"Passkeys": h.Accounts.PasskeysOn() && passkeys > 0,
	})
}

// reauthNeedsCode reports whether a password re-authentication of u asks
// for the second factor too: an administrator's sudo mode opens the
// console's destructive actions, which a stolen password alone must not.
func (h *Handler) reauthNeedsCode(c *gin.Context, u *models.User) (bool, error) {
	if !u.IsAdmin {
		return false, nil
	}
	return h.Accounts.HasSecondFactor(c.Request.Context(), u.ID)
}

// reauth confirms the password (or starts an SSO re-authentication) and
// puts the session in sudo mode.
func (h *Handler) reauth(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	u := currentUser(c)
	next := SafeNext(c.PostForm("next"))
	if pid := c.PostForm("provider"); pid != "" {
		p, ok := h.SSO.ByID(pid)
		if !ok {
			h.renderReauth(c, http.StatusBadRequest, next, "Choose one of your sign-in providers.")
			return
		}
		m, ok := h.reauthCodeFirst(c, u, next)
		if !ok {
			return
		}
		if msg, ok := h.redirectToProvider(c, p, pendingStart{Mode: m, Next: next, UserID: &u.ID, LoginHint: u.Email}); !ok && msg != "" {
			h.renderReauth(c, http.StatusServiceUnavailable, next, msg)
		}
		return
	}
	pw := c.PostForm("password")
	if len(pw) > maxPasswordLen {
		pw = ""
	}
	attempt, msg, ok := h.throttleBegin(c, u.Email)
	if !ok {
		h.renderReauth(c, statusThrottled, next, msg)
		return
	}
	ctx := c.Request.Context()
	_, err := h.Accounts.Authenticate(ctx, u.Email, pw)
	if err == nil {
		_, err = h.reauthSecondFactor(c, u)
	}
	h.throttleDone(c, attempt, err)
	var le *accounts.LoginError
	msg, status, refused := refusal(err)
	switch {
	case errors.As(err, &le):
		h.audit(c, &models.Event{Kind: models.EventReauthFailure, UserID: &u.ID, Email: u.Email, Method: models.MethodPassword, Detail: le.Reason.String()})
		h.renderReauth(c, http.StatusUnauthorized, next, "That password is not right.")
		return
	case refused:
		h.audit(c, &models.Event{Kind: models.EventReauthFailure, UserID: &u.ID, Email: u.Email, Method: models.MethodPassword, Detail: "wrong or used second factor"})
		h.renderReauth(c, status, next, msg)
		return
	case err != nil:
		h.serverError(c, "re-authenticate", err)
		return
	}
	h.markReauth(c, h.Now(), models.MethodPassword, "", next)
}

// reauthSecondFactor checks the code of a re-authentication that needs
// one (reauthNeedsCode), after the password was right, on the account's
// code counter too; checked reports that a code was needed and was right.
func (h *Handler) reauthSecondFactor(c *gin.Context, u *models.User) (checked bool, err error) {
	needs, err := h.reauthNeedsCode(c, u)
	if err != nil || !needs {
		return false, err
	}
	code := strings.TrimSpace(c.PostForm("code"))
	if code == "" || len(code) > 64 {
		return false, accounts.ErrWrongCode
	}
	if h.Throttle != nil {
		a, wait, terr := h.Throttle.BeginCode(c.Request.Context(), u.Email)
		if terr == nil && wait > 0 {
			return false, errCodesThrottled
		}
		defer func() { h.throttleDone(c, a, err) }()
	}
	used, err := h.Accounts.CheckSecondFactor(c.Request.Context(), u, code)
	if err == nil && h.owesSecondFactor(c) {
		// The code given here settles what the session owed.
		err = sessionstore.MarkMFA(ginsessions.Default(c), used.Factor())
	}
	return err == nil, err
}

// reauthCodeFirst checks the code an administrator with a second factor
// may give with "Confirm with <provider>", before the round trip: the
// provider's sign-in then counts as sudo mode even when it does not report
// a second factor of its own. It returns the round trip's mode, or false
// after answering a wrong code.
func (h *Handler) reauthCodeFirst(c *gin.Context, u *models.User, next string) (mode, bool) {
	if strings.TrimSpace(c.PostForm("code")) == "" {
		return modeReauth, true
	}
	checked, err := h.reauthSecondFactor(c, u)
	msg, status, refused := refusal(err)
	switch {
	case refused:
		h.audit(c, &models.Event{Kind: models.EventReauthFailure, UserID: &u.ID, Email: u.Email, Method: models.MethodSSO, Detail: "wrong or used second factor"})
		h.renderReauth(c, status, next, msg)
		return "", false
	case err != nil:
		h.serverError(c, "re-authenticate", err)
		return "", false
	}
	if !checked { // the account asks no code: the one typed was not checked
		return modeReauth, true
	}
	return modeReauthCode, true
}

// errCodesThrottled refuses a code check the account's code counter
// holds back.
var errCodesThrottled = &accounts.Error{Code: accounts.CodeConflict, Msg: "Too many wrong codes. Try again later."}

// markReauth records a successful re-authentication at at and returns to
// next.
func (h *Handler) markReauth(c *gin.Context, at time.Time, method models.Method, provider, next string) {
	u := currentUser(c)
	if err := sessionstore.MarkReauth(ginsessions.Default(c), at); err != nil {
		h.serverError(c, "save session", err)
		return
	}
	h.audit(c, &models.Event{Kind: models.EventReauth, UserID: &u.ID, Email: u.Email, Method: method, ProviderID: provider})
	c.Redirect(http.StatusSeeOther, or(next, "/account"))
}

// finishReauth completes an SSO re-authentication: the identity must be one
// linked to the signed-in account. The sso package has checked that its
// auth_time is no earlier than the request; sudo mode counts from that
// auth_time, when the person signed in at the provider, never from later
// than now.
func (h *Handler) finishReauth(c *gin.Context, p *sso.Provider, pending *models.PendingLogin, id *sso.Identity) {
	u := currentUser(c)
	if u == nil || pending.UserID == nil || *pending.UserID != u.ID {
		h.notYourAccount(c, p)
		return
	}
	owns, err := h.Accounts.OwnsIdentity(c.Request.Context(), u.ID, id)
	switch {
	case err != nil:
		h.serverError(c, "find identity", err)
	case !owns:
		h.notYourAccount(c, p)
	case pending.Mode == modeReauth.String() && !p.MultiFactor(id):
		// An administrator with a second factor gives it for sudo mode:
		// with the provider's button when the provider does not say its
		// sign-in used one.
		needs, err := h.reauthNeedsCode(c, u)
		if err != nil {
			h.serverError(c, "second factors", err)
			return
		}
		if needs {
			h.audit(c, &models.Event{Kind: models.EventReauthFailure, UserID: &u.ID, Email: u.Email, Method: models.MethodSSO, ProviderID: p.ID(), Detail: "no second factor"})
			h.renderReauth(c, http.StatusForbidden, pending.Next, p.Name()+" did not say this sign-in used a second factor. Enter your code with \"Confirm with "+p.Name()+"\", or confirm with your password and code or a passkey.")
			return
		}
		fallthrough
	default:
		change, err := h.Accounts.SyncGroups(c.Request.Context(), p.ID(), id, u)
		if msg, status, refused := refusal(err); refused {
			h.audit(c, &models.Event{Kind: models.EventReauthFailure, UserID: &u.ID, Email: u.Email, Method: models.MethodSSO, ProviderID: p.ID(), Detail: "groups"})
			h.renderReauth(c, status, pending.Next, msg)
			return
		}
		if err != nil {
			h.serverError(c, "sync groups", err)
			return
		}
		h.auditAdminChange(c, u, p.ID(), change)
		at := h.Now()
		if !id.AuthTime.IsZero() && id.AuthTime.Before(at) {
			at = id.AuthTime
		}
		h.markReauth(c, at, models.MethodSSO, p.ID(), pending.Next)
	}
}

func (h *Handler) notYourAccount(c *gin.Context, p *sso.Provider) {
	h.errorPage(c, http.StatusForbidden, "Not your account", "That "+p.Name()+" sign-in is not linked to the account you are signed in with.")
}
