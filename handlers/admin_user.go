package handlers

// The admin user page and its actions.

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/sso"
	ginsessions "github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
)

// adminTarget loads the account named by :id, answering 404 itself.
func (h *Handler) adminTarget(c *gin.Context) (*models.User, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 1 {
		h.adminNotFound(c)
		return nil, false
	}
	u, err := h.DB.UserByID(c.Request.Context(), id)
	switch {
	case errors.Is(err, models.ErrNotFound):
		h.adminNotFound(c)
		return nil, false
	case err != nil:
		h.serverError(c, "load user", err)
		return nil, false
	}
	return u, true
}

func (h *Handler) adminNotFound(c *gin.Context) {
	h.render(c, http.StatusNotFound, "error", gin.H{
		"Title": "No such account", "Message": "There is no account here; it may have been deleted.",
		"Back": "/admin/users", "BackLabel": "Back to users",
	})
	c.Abort()
}

// editForm is the user page's edit form as typed.
type editForm struct {
	Name, Email string
	Admin       bool
}

// identityView is one linked sign-in on the user page.
type identityView struct {
	ID                       int64
	Provider, Subject, Email string
	Linked, LastUsed         string
	LinkedISO, LastUsedISO   string
	Confirmed, ConfirmedISO  string
	Revoked                  string
}

// sessionView is one live session on the user page.
type sessionView struct {
	ID                           int64
	Created, LastSeen, IP, Agent string
	CreatedISO, LastSeenISO      string
	Method                       string
	Current                      bool
}

// renderAdminUser shows the user page; form is what the edit form shows
// (nil: the account as stored) and msg an error to show.
func (h *Handler) renderAdminUser(c *gin.Context, status int, u *models.User, form *editForm, msg string) {
	ctx := c.Request.Context()
	ids, err := h.DB.UserIdentities(ctx, u.ID)
	if err != nil {
		h.serverError(c, "list identities", err)
		return
	}
	sess, err := h.DB.UserSessions(ctx, u.ID)
	if err != nil {
		h.serverError(c, "list sessions", err)
		return
	}
	events, _, err := h.DB.SearchEvents(ctx, models.EventFilter{UserID: &u.ID, Page: 1, PerPage: 10})
	if err != nil {
		h.serverError(c, "list events", err)
		return
	}
	if form == nil {
		form = &editForm{Name: u.Name, Email: u.Email, Admin: u.IsAdmin}
	}
	iv := make([]identityView, len(ids))
	for i, id := range ids {
		iv[i] = identityView{
			ID: id.ID, Provider: h.SSO.Name(id.ProviderID), Subject: id.Subject, Email: id.Email,
			Linked: formatWhen(&id.CreatedAt), LinkedISO: isoTime(&id.CreatedAt),
			LastUsed: formatWhen(id.LastLoginAt), LastUsedISO: isoTime(id.LastLoginAt),
			Confirmed: formatWhen(id.ConfirmedAt), ConfirmedISO: isoTime(id.ConfirmedAt),
		}
		if id.RevokedAt != nil {
			iv[i].Revoked = formatWhen(id.RevokedAt)
		}
	}
	var currentID int64
	if row := sessionstore.Current(ginsessions.Default(c)); row != nil {
		currentID = row.ID
	}
	sv := make([]sessionView, len(sess))
	for i, s := range sess {
		method := methodLabel(s.AuthMethod)
		if s.ProviderID != "" {
			method += " (" + h.SSO.Name(s.ProviderID) + ")"
		}
		if s.MFA != models.FactorNone && s.AuthMethod != models.MethodPasskey { // a passkey alone is both
			method += " + " + s.MFA.Label()
		}
		sv[i] = sessionView{
			ID: s.ID, Created: formatWhen(&s.CreatedAt), CreatedISO: isoTime(&s.CreatedAt),
			LastSeen: formatWhen(&s.LastSeenAt), LastSeenISO: isoTime(&s.LastSeenAt),
			IP: s.IP, Agent: s.UserAgent, Method: method, Current: s.ID == currentID,
		}
	}
	// Only an account nobody can sign in to yet is invited (accounts
	// refuses the others).
	invitable := !u.HasPassword() && !u.Disabled() && len(ids) == 0
	var invitation gin.H
	if invitable {
		l, err := h.DB.EmailLinkOf(ctx, u.ID, models.LinkInvite)
		switch {
		case err == nil:
			invitation = gin.H{"Sent": formatWhen(&l.CreatedAt), "Expires": formatWhen(&l.ExpiresAt)}
		case !errors.Is(err, models.ErrNotFound):
			h.serverError(c, "open invitation", err)
			return
		}
	}
	mfaStatus, err := h.Accounts.MFAStatusOf(ctx, u.ID)
	if err != nil {
		h.serverError(c, "second factors", err)
		return
	}
	trusted := ""
	if id := h.Accounts.TrustedProvider(u.Email); id != "" {
		trusted = h.SSO.Name(id)
	}
	self := currentUser(c)
	h.render(c, status, "admin_user", gin.H{
		"MFA": mfaStatus, "Invitable": invitable, "Invitation": invitation, "TrustedProvider": trusted, "MailEnabled": h.Accounts.Mail != nil,
		"Target": u, "Form": form, "Error": msg, "Notice": adminNotices[c.Query("done")],
		"Self": self != nil && self.ID == u.ID, "HasPassword": u.HasPassword(), "Disabled": u.Disabled(),
		"DisabledAt": formatWhen(u.DisabledAt), "Created": formatWhen(&u.CreatedAt),
		"LastLogin": formatWhen(u.LastLoginAt), "How": methodLabel(u.LastLoginMethod),
		"Identities": iv, "Sessions": sv, "Events": h.describeRows(auditRows(events, h.auditEmails(c, events)), h.Now()),
		"MinLength": h.Accounts.Hasher.MinLength(),
		"AuditURL":  "/admin/audit?user=" + strconv.FormatInt(u.ID, 10),
	})
}

func (h *Handler) adminUserPage(c *gin.Context) {
	u, ok := h.adminTarget(c)
	if !ok {
		return
	}
	h.renderAdminUser(c, http.StatusOK, u, nil, "")
}

// adminRefused shows a refusal on the user page: 409 for guard rails and
// clashes, 400 for input problems.
func (h *Handler) adminRefused(c *gin.Context, u *models.User, form *editForm, err error) bool {
	msg, status, ok := refusal(err)
	if ok {
		h.renderAdminUser(c, status, u, form, msg)
	}
	return ok
}

// adminFailed handles an action's error: a refusal shown on the page, a
// vanished row, or a server error.
func (h *Handler) adminFailed(c *gin.Context, u *models.User, form *editForm, what string, err error) {
	switch {
	case h.adminRefused(c, u, form, err):
	case errors.Is(err, models.ErrNotFound):
		h.adminNotFound(c)
	default:
		h.serverError(c, what, err)
	}
}

func (h *Handler) adminUpdateUser(c *gin.Context) {
	u, ok := h.adminTarget(c)
	if !ok || !h.parseForm(c) {
		return
	}
	f := &editForm{
		Name:  strings.TrimSpace(c.PostForm("name")),
		Email: strings.TrimSpace(c.PostForm("email")),
		Admin: c.PostForm("admin") == "1",
	}
	if !models.IsText(f.Email) || !models.IsText(f.Name) {
		h.renderAdminUser(c, http.StatusBadRequest, u, &editForm{Admin: f.Admin}, "Names and emails must be text.")
		return
	}
	// Promote and demote are destructive; a new email decides which SSO
	// sign-ins may link to the account, so it is as sensitive.
	if (f.Admin != u.IsAdmin || sso.NormalizeEmail(f.Email) != u.Email) && !h.requireSudo(c) {
		return
	}
	if f.Admin != u.IsAdmin {
		if !f.Admin && currentUser(c).ID == u.ID { // another administrator may; the last one may not
			msg := accounts.ErrSelf.Msg
			if n, err := h.DB.CountUsers(c.Request.Context(), true); err == nil && n <= 1 {
				msg = accounts.ErrLastAdmin.Msg
			}
			h.renderAdminUser(c, http.StatusConflict, u, f, msg)
			return
		}
	}
	updated, err := h.Accounts.UpdateUser(c.Request.Context(), u.ID, f.Name, f.Email, f.Admin)
	if err != nil {
		h.adminFailed(c, u, f, "update user", err)
		return
	}
	var changed []string
	if updated.Name != u.Name {
		changed = append(changed, "name")
	}
	if updated.Email != u.Email {
		changed = append(changed, fmt.Sprintf("email %s → %s", u.Email, updated.Email))
	}
	if updated.IsAdmin != u.IsAdmin {
		changed = append(changed, fmt.Sprintf("admin %t → %t", u.IsAdmin, updated.IsAdmin))
	}
	if len(changed) == 0 {
		h.adminDone(c, u.ID, "unchanged")
		return
	}
	h.audit(c, &models.Event{Kind: models.EventUserUpdated, UserID: &u.ID, Email: updated.Email, Method: models.MethodAdmin, Detail: strings.Join(changed, "; ")})
	h.adminDone(c, u.ID, "updated")
}

func (h *Handler) adminDisable(c *gin.Context) { h.adminSetDisabled(c, true) }
func (h *Handler) adminEnable(c *gin.Context)  { h.adminSetDisabled(c, false) }

func (h *Handler) adminSetDisabled(c *gin.Context, disabled bool) {
	u, ok := h.adminTarget(c)
	if !ok {
		return
	}
	if u.Disabled() == disabled {
		h.adminDone(c, u.ID, "unchanged")
		return
	}
	if err := h.Accounts.SetDisabled(c.Request.Context(), currentUser(c), u.ID, disabled); err != nil {
		h.adminFailed(c, u, nil, "disable user", err)
		return
	}
	kind, code := models.EventUserEnabled, "enabled"
	if disabled {
		kind, code = models.EventUserDisabled, "disabled"
	}
	h.audit(c, &models.Event{Kind: kind, UserID: &u.ID, Email: u.Email, Method: models.MethodAdmin})
	h.adminDone(c, u.ID, code)
}

func (h *Handler) adminDeletePage(c *gin.Context) {
	u, ok := h.adminTarget(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	ids, err := h.DB.UserIdentities(ctx, u.ID)
	if err != nil {
		h.serverError(c, "list identities", err)
		return
	}
	sess, err := h.DB.UserSessions(ctx, u.ID)
	if err != nil {
		h.serverError(c, "list sessions", err)
		return
	}
	self := currentUser(c)
	h.render(c, http.StatusOK, "admin_user_delete", gin.H{
		"Target": u, "Identities": len(ids), "Sessions": len(sess), "Self": self.ID == u.ID,
	})
}

func (h *Handler) adminDelete(c *gin.Context) {
	u, ok := h.adminTarget(c)
	if !ok {
		return
	}
	deleted, err := h.Accounts.DeleteUser(c.Request.Context(), currentUser(c), u.ID)
	if err != nil {
		h.adminFailed(c, u, nil, "delete user", err)
		return
	}
	h.audit(c, &models.Event{Kind: models.EventUserDeleted, UserID: &deleted.ID, Email: deleted.Email, Method: models.MethodAdmin,
		Detail: "name: " + deleted.Name})
	c.Redirect(http.StatusSeeOther, "/admin/users?done=deleted")
}

func (h *Handler) adminSetPassword(c *gin.Context) {
	u, ok := h.adminTarget(c)
	if !ok || !h.parseForm(c) {
		return
	}
	pw, msg := newPassword(c, "Enter the new password.")
	if msg != "" {
		h.renderAdminUser(c, http.StatusBadRequest, u, nil, msg)
		return
	}
	if err := h.Accounts.SetPassword(c.Request.Context(), u.ID, pw, "by an administrator"); err != nil {
		h.adminFailed(c, u, nil, "set password", err)
		return
	}
	h.audit(c, &models.Event{Kind: models.EventPasswordSet, UserID: &u.ID, Email: u.Email, Method: models.MethodAdmin, Detail: "sessions ended"})
	h.adminDone(c, u.ID, "password_set")
}

func (h *Handler) adminRemovePassword(c *gin.Context) {
	u, ok := h.adminTarget(c)
	if !ok {
		return
	}
	if currentUser(c).ID == u.ID { // the account page does this, keeping a way in
		h.renderAdminUser(c, http.StatusConflict, u, nil, accounts.ErrSelf.Msg)
		return
	}
	if !u.HasPassword() {
		h.adminDone(c, u.ID, "unchanged")
		return
	}
	if err := h.Accounts.RemovePassword(c.Request.Context(), u.ID, "by an administrator"); err != nil {
		h.adminFailed(c, u, nil, "remove password", err)
		return
	}
	h.audit(c, &models.Event{Kind: models.EventPasswordRemoved, UserID: &u.ID, Email: u.Email, Method: models.MethodAdmin, Detail: "sessions ended"})
	h.adminDone(c, u.ID, "password_removed")
}

func (h *Handler) adminUnlink(c *gin.Context) {
	u, ok := h.adminTarget(c)
	if !ok {
		return
	}
	iid, err := strconv.ParseInt(c.Param("iid"), 10, 64)
	if err != nil || iid < 1 {
		h.adminDone(c, u.ID, "already_gone")
		return
	}
	// On their own account an administrator keeps a way to sign in.
	keepLogin := currentUser(c).ID == u.ID
	ident, err := h.Accounts.Unlink(c.Request.Context(), u.ID, iid, keepLogin)
	if errors.Is(err, models.ErrNotFound) {
		h.adminDone(c, u.ID, "already_gone")
		return
	}
	if err != nil {
		h.adminFailed(c, u, nil, "unlink identity", err)
		return
	}
	h.audit(c, &models.Event{Kind: models.EventIdentityUnlinked, UserID: &u.ID, Email: u.Email, Method: models.MethodAdmin,
		ProviderID: ident.ProviderID, Detail: "subject " + ident.Subject})
	h.adminDone(c, u.ID, "unlinked")
}

func (h *Handler) adminRevokeSession(c *gin.Context) {
	u, ok := h.adminTarget(c)
	if !ok {
		return
	}
	sid, err := strconv.ParseInt(c.Param("sid"), 10, 64)
	if err != nil || sid < 1 {
		h.adminDone(c, u.ID, "already_gone")
		return
	}
	gone, err := h.DB.DeleteSessionByID(c.Request.Context(), u.ID, sid)
	if err != nil {
		h.serverError(c, "revoke session", err)
		return
	}
	if !gone {
		h.adminDone(c, u.ID, "already_gone")
		return
	}
	h.audit(c, &models.Event{Kind: models.EventSessionRevoked, UserID: &u.ID, Email: u.Email, Method: models.MethodAdmin,
		Detail: "session " + strconv.FormatInt(sid, 10)})
	h.adminDone(c, u.ID, "session_revoked")
}

func (h *Handler) adminRevokeAll(c *gin.Context) {
	u, ok := h.adminTarget(c)
	if !ok {
		return
	}
	n, err := h.DB.DeleteUserSessions(c.Request.Context(), u.ID, "")
	if err != nil {
		h.serverError(c, "revoke sessions", err)
		return
	}
	h.audit(c, &models.Event{Kind: models.EventSessionRevoked, UserID: &u.ID, Email: u.Email, Method: models.MethodAdmin,
		Detail: fmt.Sprintf("all sessions (%d)", n)})
	h.adminDone(c, u.ID, "sessions_revoked")
}
