package handlers

// First-admin setup: while no enabled administrator exists, `gatehouse
// serve` prints a one-time link (<base_url>/setup?token=...) whose page
// creates the first administrator and signs them in.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gin-gonic/gin"
)

// SetupTTL is how long a first-admin setup link stays valid.
const SetupTTL = time.Hour

// Setup issues first-admin setup links. Only the token's hash is kept, in
// the database, so a link printed by one replica works on any.
type Setup struct {
	// Rand is the token randomness; nil means crypto/rand.Reader.
	Rand     io.Reader
	Accounts *accounts.Service
}

// Issue makes a new random 256-bit token valid for ttl or until an
// administrator is created, and returns it (base64url).
func (s *Setup) Issue(ctx context.Context, ttl time.Duration) (string, error) {
	tok, err := sessionstore.NewToken(s.Rand)
	if err != nil {
		return "", err
	}
	if err := s.Accounts.AddSetupToken(ctx, sessionstore.Hash(tok), ttl); err != nil {
		return "", err
	}
	return tok, nil
}

// setupHash is the stored hash of a token as the link carries it, or ""
// for a value that cannot be a token.
func setupHash(token string) string {
	if token == "" || len(token) > 128 {
		return ""
	}
	return sessionstore.Hash(token)
}

// setupForm is what the setup page is rendered from; passwords are never
// sent back.
type setupForm struct {
	Token, Email, Name, Error string
}

func (h *Handler) setupInvalid(c *gin.Context) {
	h.render(c, http.StatusNotFound, "error", gin.H{
		"Title":   "This setup link is not valid",
		"Message": "It has been used already, it has expired, or gatehouse already has an administrator. While no administrator exists, restarting gatehouse prints a new link.",
		"Back":    "/login", "BackLabel": "Go to sign in",
	})
	c.Abort()
}

func (h *Handler) setupPage(c *gin.Context) {
	tok := c.Query("token")
	hash := setupHash(tok)
	if hash == "" {
		h.setupInvalid(c)
		return
	}
	ok, err := h.Accounts.SetupTokenValid(c.Request.Context(), hash)
	switch {
	case err != nil:
		h.serverError(c, "check setup link", err)
		return
	case !ok:
		h.setupInvalid(c)
		return
	}
	h.renderSetup(c, http.StatusOK, setupForm{Token: tok})
}

func (h *Handler) renderSetup(c *gin.Context, status int, f setupForm) {
	h.render(c, status, "setup", gin.H{"Form": f, "MinLength": h.Accounts.Hasher.MinLength()})
}

// setup creates the first administrator; accounts consumes the link in
// the same transaction, so concurrent posts create one account at most.
func (h *Handler) setup(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	f := setupForm{
		Token: c.PostForm("token"),
		Email: strings.TrimSpace(c.PostForm("email")),
		Name:  strings.TrimSpace(c.PostForm("name")),
	}
	hash := setupHash(f.Token)
	if hash == "" {
		h.setupInvalid(c)
		return
	}
	if ok, err := h.Accounts.SetupTokenValid(c.Request.Context(), hash); err != nil || !ok {
		if err != nil {
			h.serverError(c, "check setup link", err)
			return
		}
		h.setupInvalid(c)
		return
	}
	pw, problem := newPassword(c, "Choose a password.")
	switch {
	case !models.IsText(f.Email) || !models.IsText(f.Name):
		f.Email, f.Name, f.Error = "", "", "Names and emails must be text."
	case problem != "":
		f.Error = problem
	}
	if f.Error != "" {
		h.renderSetup(c, http.StatusBadRequest, f)
		return
	}
	u, err := h.Accounts.CreateFirstAdmin(c.Request.Context(), hash, accounts.NewUser{Email: f.Email, Name: f.Name, Password: &pw})
	msg, status, refused := refusal(err)
	switch {
	case errors.Is(err, accounts.ErrSetupInvalid):
		h.setupInvalid(c)
		return
	case refused:
		f.Error = msg
		h.renderSetup(c, status, f)
		return
	case err != nil:
		h.serverError(c, "create first administrator", err)
		return
	}
	h.audit(c, &models.Event{Kind: models.EventUserCreated, UserID: &u.ID, ActorID: &u.ID, Email: u.Email, Method: models.MethodSetup, Detail: "first administrator, from the setup link"})
	if !h.signIn(c, u, sessionstore.SignIn{Method: models.MethodPassword}) {
		return
	}
	c.Redirect(http.StatusSeeOther, "/admin/users")
}
