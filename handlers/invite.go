package handlers

// Invitations and address confirmations: GET/POST /auth/invite?token=...
// accepts an invitation (choose a first password, or continue with the
// provider trusted for the address), GET/POST /auth/verify?token=...
// confirms an address. A GET only shows what the link would do: mail
// scanners open links, so only the person's POST uses one. accounts does
// the work.

import (
	"errors"
	"net/http"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gin-gonic/gin"
)

func (h *Handler) emailLinkRoutes(e *gin.Engine) {
	e.GET("/auth/invite", h.noReferrer, h.invitePage)
	e.POST("/auth/invite", h.noReferrer, h.acceptInvite)
	e.GET("/auth/verify", h.noReferrer, h.verifyPage)
	e.POST("/auth/verify", h.noReferrer, h.verifyEmail)
}

// linkInvalid answers a link that does not work with refusal's message and
// a way on.
func (h *Handler) linkInvalid(c *gin.Context, title string, err *accounts.Error, back, backLabel string) {
	h.render(c, http.StatusNotFound, "error", gin.H{"Title": title, "Message": err.Msg, "Back": back, "BackLabel": backLabel})
	c.Abort()
}

// inviteForm is what the invitation page is rendered from; passwords are
// never sent back.
type inviteForm struct {
	Token, Error string
	User         *models.User
}

func (h *Handler) renderInvite(c *gin.Context, status int, f inviteForm) {
	data := gin.H{
		"Token": f.Token, "Invited": f.User, "Error": f.Error, "MinPassword": h.Accounts.Hasher.MinLength(),
	}
	if id := h.Accounts.TrustedProvider(f.User.Email); id != "" {
		data["Provider"] = providerButton{ID: id, Name: h.SSO.Name(id), Icon: h.brand.icons[id]}
	}
	h.render(c, status, "invite", data)
}

// invitedUser is the account an invitation token is for, or false after
// answering.
func (h *Handler) invitedUser(c *gin.Context, token string) (*models.User, bool) {
	u, err := h.Accounts.InvitedUser(c.Request.Context(), token)
	switch {
	case errors.Is(err, accounts.ErrInviteInvalid):
		h.linkInvalid(c, "This invitation link does not work", accounts.ErrInviteInvalid, "/login", "Go to sign-in")
		return nil, false
	case err != nil:
		h.serverError(c, "check invitation", err)
		return nil, false
	}
	return u, true
}

func (h *Handler) invitePage(c *gin.Context) {
	tok := c.Query("token")
	u, ok := h.invitedUser(c, tok)
	if !ok {
		return
	}
	h.renderInvite(c, http.StatusOK, inviteForm{Token: tok, User: u})
}

// acceptInvite sets the invited account's first password and signs the
// person in: the link proved the address, the password is theirs.
func (h *Handler) acceptInvite(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	tok := c.PostForm("token")
	u, ok := h.invitedUser(c, tok)
	if !ok {
		return
	}
	f := inviteForm{Token: tok, User: u}
	next, problem := confirmedPassword(c)
	if problem != "" {
		f.Error = problem
		h.renderInvite(c, http.StatusBadRequest, f)
		return
	}
	u, err := h.Accounts.AcceptInvitation(c.Request.Context(), tok, next)
	msg, status, refused := refusal(err)
	switch {
	case errors.Is(err, accounts.ErrInviteInvalid):
		h.linkInvalid(c, "This invitation link does not work", accounts.ErrInviteInvalid, "/login", "Go to sign-in")
		return
	case refused:
		f.Error = msg
		h.renderInvite(c, status, f)
		return
	case err != nil:
		h.serverError(c, "accept invitation", err)
		return
	}
	h.audit(c, &models.Event{Kind: models.EventInvitationAccepted, UserID: &u.ID, ActorID: &u.ID, Email: u.Email, Method: models.MethodPassword, Detail: "first password set; address verified"})
	if h.Config.Login.Mode == config.LoginSSOOnly {
		// login.mode sso_only: nobody signs in with a password (but for
		// the administrators' break-glass page).
		c.Redirect(http.StatusSeeOther, "/login?notice=password_set")
		return
	}
	if second, err := h.Accounts.HasSecondFactor(c.Request.Context(), u.ID); err != nil || second {
		// The password alone does not sign in to an account with a second
		// factor: the sign-in page asks for both.
		c.Redirect(http.StatusSeeOther, "/login?notice=password_set")
		return
	}
	if !h.signIn(c, u, sessionstore.SignIn{Method: models.MethodPassword}) {
		return
	}
	c.Redirect(http.StatusSeeOther, "/account?notice=invitation_accepted")
}

// confirmedPassword reads a new password and its confirmation (fields
// new_password and confirm_password) and says what is wrong with them, if
// anything; the password policy itself is applied by accounts.
func confirmedPassword(c *gin.Context) (pw, problem string) {
	pw, confirm := c.PostForm("new_password"), c.PostForm("confirm_password")
	switch {
	case pw == "":
		return pw, "Enter a new password."
	case len(pw) > maxPasswordLen:
		return pw, "Use a password of at most 72 bytes."
	case pw != confirm:
		return pw, "The new password and its confirmation do not match."
	}
	return pw, ""
}

// confirmation is what a confirmation token confirms, or false after
// answering.
func (h *Handler) confirmation(c *gin.Context, token string) (*accounts.Confirmation, bool) {
	conf, err := h.Accounts.ConfirmationOf(c.Request.Context(), token)
	switch {
	case errors.Is(err, accounts.ErrVerifyInvalid):
		h.linkInvalid(c, "This confirmation link does not work", accounts.ErrVerifyInvalid, "/account", "Go to your account")
		return nil, false
	case err != nil:
		h.serverError(c, "check confirmation link", err)
		return nil, false
	}
	return conf, true
}

func (h *Handler) verifyPage(c *gin.Context) {
	tok := c.Query("token")
	conf, ok := h.confirmation(c, tok)
	if !ok {
		return
	}
	h.render(c, http.StatusOK, "verify", gin.H{"Token": tok, "Conf": conf})
}

// verifyEmail uses a confirmation link: the address is verified, or the
// account moves to the new address it confirms.
func (h *Handler) verifyEmail(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	tok := c.PostForm("token")
	if _, ok := h.confirmation(c, tok); !ok {
		return
	}
	conf, err := h.Accounts.ConfirmEmail(c.Request.Context(), tok)
	msg, status, refused := refusal(err)
	switch {
	case errors.Is(err, accounts.ErrVerifyInvalid):
		h.linkInvalid(c, "This confirmation link does not work", accounts.ErrVerifyInvalid, "/account", "Go to your account")
		return
	case refused:
		h.errorPage(c, status, "The address was not changed", msg)
		return
	case err != nil:
		h.serverError(c, "confirm email", err)
		return
	}
	u := conf.User
	ev := &models.Event{Kind: models.EventEmailVerified, UserID: &u.ID, ActorID: &u.ID, Email: u.Email, Detail: "with a link sent to it"}
	notice := "email_verified"
	if conf.Change() {
		ev.Kind, ev.Detail, notice = models.EventEmailChanged, conf.OldEmail+" → "+conf.Email+"; confirmed from the new address", "email_changed"
	}
	h.audit(c, ev)
	if currentUser(c) != nil {
		c.Redirect(http.StatusSeeOther, "/account?notice="+notice)
		return
	}
	c.Redirect(http.StatusSeeOther, "/login?notice="+notice)
}
