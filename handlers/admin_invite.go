package handlers

// Invitations from the admin console: create an account and invite its
// owner, resend an invitation, or make a link to pass on when there is no
// mail (shown once, in sudo mode: whoever holds it chooses the password).

import (
	"net/http"
	"strconv"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gin-gonic/gin"
)

// inviter names the administrator in an invitation message.
func inviter(c *gin.Context) string {
	if u := currentUser(c); u != nil {
		return or(u.Name, u.Email)
	}
	return ""
}

// adminInvite creates the account of n without a password and invites its
// owner: by mail when mail is on, else with a link shown to pass on.
func (h *Handler) adminInvite(c *gin.Context, f newUserForm, n accounts.NewUser) {
	inv, err := h.Accounts.Invite(c.Request.Context(), n, inviter(c), true)
	msg, status, refused := refusal(err)
	switch {
	case refused:
		f.Error = msg
		h.renderNewUser(c, status, f)
		return
	case err != nil:
		h.serverError(c, "invite user", err)
		return
	}
	u := inv.User
	detail := "invitation"
	if u.IsAdmin {
		detail += ", administrator"
	}
	h.audit(c, &models.Event{Kind: models.EventUserCreated, UserID: &u.ID, Email: u.Email, Method: models.MethodAdmin, Detail: detail})
	h.auditInvitation(c, inv)
	if inv.Sent {
		h.adminDone(c, u.ID, "invited")
		return
	}
	h.renderInviteLink(c, inv, true)
}

// auditInvitation records an invitation sent, or a link made to pass on.
func (h *Handler) auditInvitation(c *gin.Context, inv *accounts.Invitation) {
	ev := &models.Event{Kind: models.EventInvitationSent, UserID: &inv.User.ID, Email: inv.User.Email, Method: models.MethodAdmin, Detail: "by mail"}
	if !inv.Sent {
		ev.Kind, ev.Detail = models.EventInvitationLinked, "link shown to the administrator to pass on"
	}
	h.audit(c, ev)
}

// renderInviteLink shows an invitation link, once: the page is never
// stored, and the link exists nowhere else.
func (h *Handler) renderInviteLink(c *gin.Context, inv *accounts.Invitation, created bool) {
	h.render(c, http.StatusOK, "admin_invite_link", gin.H{
		"Target": inv.User, "Link": inv.Link, "Expires": formatWhen(&inv.ExpiresAt), "Created": created,
		"MailEnabled": h.Accounts.Mail != nil, "Back": "/admin/users/" + strconv.FormatInt(inv.User.ID, 10),
	})
}

// adminResendInvite mails a new invitation to the account's own address.
func (h *Handler) adminResendInvite(c *gin.Context) {
	u, ok := h.adminTarget(c)
	if !ok || !h.parseForm(c) {
		return
	}
	if h.Accounts.Mail == nil {
		h.renderAdminUser(c, http.StatusConflict, u, nil, "Mail is not set up, so no invitation can be sent. Make an invitation link to pass on instead.")
		return
	}
	inv, err := h.Accounts.Reinvite(c.Request.Context(), u.ID, inviter(c), true)
	if err != nil {
		h.adminFailed(c, u, nil, "resend invitation", err)
		return
	}
	h.auditInvitation(c, inv)
	h.adminDone(c, u.ID, "invite_resent")
}

// adminInviteLink makes a new invitation link and shows it once, for the
// administrator to pass on (no mail, or the message did not arrive).
func (h *Handler) adminInviteLink(c *gin.Context) {
	u, ok := h.adminTarget(c)
	if !ok || !h.parseForm(c) {
		return
	}
	inv, err := h.Accounts.Reinvite(c.Request.Context(), u.ID, inviter(c), false)
	if err != nil {
		h.adminFailed(c, u, nil, "make invitation link", err)
		return
	}
	h.auditInvitation(c, inv)
	h.renderInviteLink(c, inv, false)
}

// adminResetMFA turns off an account's two-factor sign-in (a lost phone
// and lost recovery codes) and ends its sessions; its owner is told.
func (h *Handler) adminResetMFA(c *gin.Context) {
	u, ok := h.adminTarget(c)
	if !ok || !h.parseForm(c) {
		return
	}
	if err := h.Accounts.RemoveMFA(c.Request.Context(), u, "by an administrator", true); err != nil {
		h.adminFailed(c, u, nil, "reset second factor", err)
		return
	}
	h.audit(c, &models.Event{Kind: models.EventMFARemoved, UserID: &u.ID, Email: u.Email, Method: models.MethodAdmin, Detail: "reset by an administrator; sessions ended"})
	h.adminDone(c, u.ID, "mfa_reset")
}
