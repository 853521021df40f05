package handlers

import (
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gin-gonic/gin"
)

// linkTTL is how long the "Link your account" page stays usable.
const linkTTL = 10 * time.Minute

// startLink parks a verified identity whose email matches an account with a
// password, and sends the person to prove that password.
func (h *Handler) startLink(c *gin.Context, res *accounts.Resolution, next string) {
	token, err := sessionstore.NewToken(h.Rand)
	if err != nil {
		h.serverError(c, "random token", err)
		return
	}
	browser, err := h.browserID(c)
	if err != nil {
		h.serverError(c, "random token", err)
		return
	}
	l := models.NewPendingLink(res.User.ID, res.ProviderID, res.Identity)
	l.TokenHash, l.BrowserHash, l.Next, l.Trace = sessionstore.Hash(token), sessionstore.Hash(browser), next, res.Trace.String()
	if l.RefreshToken, err = h.Accounts.SealLinkRefresh(res.ProviderID, res.User.ID, res.Identity); err != nil {
		h.serverError(c, "seal refresh token", err)
		return
	}
	if err := h.DB.CreatePendingLink(c.Request.Context(), l, linkTTL); err != nil {
		h.serverError(c, "store pending link", err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/auth/link?t="+token)
}

// pendingLink loads the pending link named by the request for this browser.
func (h *Handler) pendingLink(c *gin.Context, token string) (*models.PendingLink, *models.User, bool) {
	browser, err := h.cookie(c, cookieBrowser)
	if err != nil || !sessionstore.ValidToken(token) {
		h.linkExpired(c)
		return nil, nil, false
	}
	ctx := c.Request.Context()
	l, err := h.DB.PendingLink(ctx, sessionstore.Hash(token), sessionstore.Hash(browser))
	if errors.Is(err, models.ErrNotFound) {
		h.linkExpired(c)
		return nil, nil, false
	}
	if err != nil {
		h.serverError(c, "load pending link", err)
		return nil, nil, false
	}
	u, err := h.DB.UserByID(ctx, l.UserID)
	if err != nil {
		h.linkExpired(c)
		return nil, nil, false
	}
	return l, u, true
}

func (h *Handler) linkExpired(c *gin.Context) {
	h.render(c, http.StatusBadRequest, "error", gin.H{"Title": "Link expired",
		"Message": "This link request has expired or was started in another browser. Please sign in again.",
		"Back":    "/login", "BackLabel": "Back to sign in"})
	c.Abort()
}

func (h *Handler) renderLink(c *gin.Context, status int, token string, l *models.PendingLink, u *models.User, msg string) {
	h.render(c, status, "link", gin.H{"Token": token, "Email": u.Email, "Provider": h.SSO.Name(l.ProviderID), "Error": msg})
}

// linkPage asks for the local password before linking an SSO identity.
func (h *Handler) linkPage(c *gin.Context) {
	token := c.Query("t")
	if l, u, ok := h.pendingLink(c, token); ok {
		h.renderLink(c, http.StatusOK, token, l, u, "")
	}
}

// link checks the password, links the identity and signs in through it.
func (h *Handler) link(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	token := c.PostForm("t")
	l, u, ok := h.pendingLink(c, token)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	if c.PostForm("cancel") != "" {
		_ = h.DB.DeletePendingLink(ctx, l.ID)
		// A provider sign-in reached an existing account and went no
		// further; an administrator reading the account's history should
		// see that attempt, not only the ones with a wrong password.
		h.audit(c, &models.Event{Kind: models.EventLinkCancelled, UserID: &u.ID, Email: u.Email, Method: models.MethodSSO, ProviderID: l.ProviderID})
		c.Redirect(http.StatusSeeOther, "/login?notice=link_cancelled")
		return
	}
	pw := c.PostForm("password")
	if pw == "" || len(pw) > maxPasswordLen {
		h.renderLink(c, http.StatusBadRequest, token, l, u, "Enter the password of your gatehouse account.")
		return
	}
	attempt, msg, ok := h.throttleBegin(c, u.Email)
	if !ok {
		h.renderLink(c, statusThrottled, token, l, u, msg)
		return
	}
	linked, err := h.Accounts.LinkWithPassword(ctx, l, pw)
	h.throttleDone(c, attempt, err)
	var le *accounts.LoginError
	switch {
	case errors.As(err, &le):
		h.audit(c, &models.Event{Kind: models.EventLinkFailure, UserID: &u.ID, Email: u.Email, Method: models.MethodSSO, ProviderID: l.ProviderID, Detail: le.Reason.String()})
		h.renderLink(c, http.StatusUnauthorized, token, l, u, "That password is not right.")
		return
	case errors.Is(err, models.ErrIdentityTaken):
		_ = h.DB.DeletePendingLink(ctx, l.ID)
		h.errorPage(c, http.StatusConflict, "Already linked", "This sign-in is already linked to an account.")
		return
	case errors.Is(err, accounts.ErrLinkNeedsMFA):
		_ = h.DB.DeletePendingLink(ctx, l.ID)
		h.audit(c, &models.Event{Kind: models.EventLinkFailure, UserID: &u.ID, Email: u.Email, Method: models.MethodSSO, ProviderID: l.ProviderID, Detail: "account has a second factor"})
		h.errorPage(c, http.StatusForbidden, "Sign in first", accounts.ErrLinkNeedsMFA.Msg)
		return
	case err != nil:
		h.serverError(c, "link identity", err)
		return
	}
	_ = h.DB.DeletePendingLink(ctx, l.ID)
	h.audit(c, &models.Event{Kind: models.EventIdentityLinked, UserID: &linked.ID, Email: linked.Email, Method: models.MethodSSO, ProviderID: l.ProviderID, Detail: "password proof"})
	id := l.Identity()
	change, err := h.Accounts.SyncGroups(ctx, l.ProviderID, id, linked)
	if msg, status, refused := refusal(err); refused {
		h.errorPage(c, status, "Sign-in refused", msg)
		return
	}
	if err != nil {
		h.serverError(c, "sync groups", err)
		return
	}
	h.auditAdminChange(c, linked, l.ProviderID, change)
	trace := accounts.ParseTrace(l.Trace)
	trace.Decide(accounts.RuleLink, accounts.VerdictLink, "the account's password proved the same person: linked")
	if h.signInTraced(c, linked, sessionstore.SignIn{Method: models.MethodSSO, ProviderID: l.ProviderID, Identity: id}, trace) {
		c.Redirect(http.StatusSeeOther, or(l.Next, "/dashboard"))
	}
}
