package handlers

// "Forgot password?": GET/POST /auth/forgot asks for a reset link by email,
// GET/POST /auth/reset?token=... uses one. accounts does the work (tokens,
// messages, the password change); here the answers are kept the same for
// every address, and requests are throttled.

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/sso"
	ginsessions "github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
)

func (h *Handler) forgotRoutes(e *gin.Engine) {
	e.GET("/auth/forgot", h.forgotPage)
	e.POST("/auth/forgot", h.forgot)
	e.GET("/auth/reset", h.noReferrer, h.resetPage)
	e.POST("/auth/reset", h.noReferrer, h.reset)
}

// forgotForm is what the forgot-password page is rendered from.
type forgotForm struct {
	Email, Error string
	Sent         bool
}

func (h *Handler) renderForgot(c *gin.Context, status int, f forgotForm) {
	h.render(c, status, "forgot", gin.H{
		"MailEnabled": h.Accounts.Mail != nil, "Sent": f.Sent, "Email": f.Email, "Error": f.Error,
		"Minutes": int(accounts.ResetTTL.Minutes()),
	})
}

func (h *Handler) forgotPage(c *gin.Context) { h.renderForgot(c, http.StatusOK, forgotForm{}) }

// forgot answers a reset request with the same page, status and (no
// message is delivered during the request) time whatever the address:
// whether it has an account is never told.
func (h *Handler) forgot(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	if h.Accounts.Mail == nil {
		h.renderForgot(c, http.StatusOK, forgotForm{})
		return
	}
	email := strings.TrimSpace(c.PostForm("email"))
	switch {
	case email == "":
		h.renderForgot(c, http.StatusBadRequest, forgotForm{Error: "Enter your email address."})
		return
	case len(email) > maxEmailLen || !models.IsText(email) || strings.ContainsFunc(email, unicode.IsControl):
		// Line breaks above all: never near a header.
		h.renderForgot(c, http.StatusBadRequest, forgotForm{Error: "Enter a valid email address."})
		return
	}
	ctx := c.Request.Context()
	if h.Throttle != nil {
		wait, err := h.Throttle.BeginForgot(ctx, email, c.ClientIP())
		switch {
		case err != nil: // a database hiccup must not stop resets
			h.log(c).WarnContext(ctx, "throttle forgot", "err", err)
		case wait > 0:
			secs := int(math.Ceil(wait.Seconds()))
			c.Header("Retry-After", strconv.Itoa(secs))
			h.renderForgot(c, statusThrottled, forgotForm{Email: email, Error: "Too many requests. Try again in " + humanSeconds(secs) + "."})
			return
		}
	}
	res, err := h.Accounts.RequestPasswordReset(ctx, email)
	switch {
	case errors.Is(err, mail.ErrHeader):
		// A stored address or name unfit for a header: nothing can be
		// sent, and the answer stays the same.
		h.log(c).WarnContext(ctx, "password reset message", "err", err)
	case err != nil:
		h.serverError(c, "request password reset", err)
		return
	default:
		ev := &models.Event{Kind: models.EventPasswordResetRequested, Email: sso.NormalizeEmail(email), Detail: res.Outcome.String()}
		if res.User != nil {
			ev.UserID, ev.Email = &res.User.ID, res.User.Email
		}
		h.audit(c, ev)
	}
	h.renderForgot(c, http.StatusOK, forgotForm{Sent: true})
}

// noReferrer keeps the reset token of the address out of every Referer
// the page's requests send.
func (h *Handler) noReferrer(c *gin.Context) {
	c.Header("Referrer-Policy", "no-referrer")
	c.Next()
}

// resetForm is what the reset page is rendered from; passwords are never
// sent back.
type resetForm struct {
	Token, Email, Error string
}

func (h *Handler) renderReset(c *gin.Context, status int, f resetForm) {
	h.render(c, status, "reset", gin.H{
		"Token": f.Token, "Email": f.Email, "Error": f.Error, "MinPassword": h.Accounts.Hasher.MinLength(),
	})
}

func (h *Handler) resetInvalid(c *gin.Context) {
	h.render(c, http.StatusNotFound, "error", gin.H{
		"Title":   "This reset link does not work",
		"Message": accounts.ErrResetInvalid.Msg,
		"Back":    "/auth/forgot", "BackLabel": "Ask for a new link",
	})
	c.Abort()
}

// resetUser is the account the token resets, or false after answering.
func (h *Handler) resetUser(c *gin.Context, token string) (*models.User, bool) {
	if h.Accounts.Mail == nil {
		h.resetInvalid(c)
		return nil, false
	}
	u, err := h.Accounts.ResetUser(c.Request.Context(), token)
	switch {
	case errors.Is(err, accounts.ErrResetInvalid):
		h.resetInvalid(c)
		return nil, false
	case err != nil:
		h.serverError(c, "check password reset", err)
		return nil, false
	}
	return u, true
}

func (h *Handler) resetPage(c *gin.Context) {
	tok := c.Query("token")
	u, ok := h.resetUser(c, tok)
	if !ok {
		return
	}
	h.renderReset(c, http.StatusOK, resetForm{Token: tok, Email: u.Email})
}

// reset sets the new password: accounts uses up the link, changes the
// password and ends every session of the account in one transaction.
func (h *Handler) reset(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	tok := c.PostForm("token")
	u, ok := h.resetUser(c, tok)
	if !ok {
		return
	}
	f := resetForm{Token: tok, Email: u.Email}
	var next string
	if next, f.Error = confirmedPassword(c); f.Error != "" {
		h.renderReset(c, http.StatusBadRequest, f)
		return
	}
	u, err := h.Accounts.ResetPassword(c.Request.Context(), tok, next)
	msg, status, refused := refusal(err)
	switch {
	case errors.Is(err, accounts.ErrResetInvalid):
		h.resetInvalid(c)
		return
	case refused:
		f.Error = msg
		h.renderReset(c, status, f)
		return
	case err != nil:
		h.serverError(c, "reset password", err)
		return
	}
	h.audit(c, &models.Event{Kind: models.EventPasswordResetCompleted, UserID: &u.ID, ActorID: &u.ID, Email: u.Email, Method: models.MethodPassword, Detail: "with a reset link; every session ended"})
	if cu := currentUser(c); cu != nil && cu.ID == u.ID {
		// This browser's session was one of them: drop its cookie too.
		if err := sessionstore.End(ginsessions.Default(c)); err != nil {
			h.log(c).WarnContext(c.Request.Context(), "expire cookie after reset", "err", err)
		}
	}
	c.Redirect(http.StatusSeeOther, "/login?notice=password_reset")
}
