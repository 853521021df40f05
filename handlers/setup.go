package handlers

// First-admin setup: while no enabled administrator exists, `gatehouse
// serve` prints a one-time link (<base_url>/setup?token=...) whose page
// creates the first administrator and signs them in.

import (
	"crypto/subtle"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gin-gonic/gin"
)

// SetupTTL is how long a first-admin setup link stays valid.
const SetupTTL = time.Hour

// Setup holds the one-time first-admin token: only its SHA-256 and expiry
// are kept, in memory. The zero value has no token (every link is refused).
type Setup struct {
	// Rand is the token randomness; nil means crypto/rand.Reader.
	Rand    io.Reader
	mu      sync.Mutex // also serialises setup attempts: the token is used at most once
	hash    string     // sessionstore.Hash of the token
	expires time.Time
	live    bool
}

// Issue makes a new random 256-bit token valid until now+ttl or its first
// use, replacing any earlier one, and returns it (base64url).
func (s *Setup) Issue(now time.Time, ttl time.Duration) (string, error) {
	tok, err := sessionstore.NewToken(s.Rand)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hash, s.expires, s.live = sessionstore.Hash(tok), now.Add(ttl), true
	return tok, nil
}

// validLocked reports whether token is the live, unexpired token; the caller
// holds s.mu. The comparison is of hashes, in constant time.
func (s *Setup) validLocked(token string, now time.Time) bool {
	if s == nil || !s.live || token == "" || len(token) > 128 || !now.Before(s.expires) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(sessionstore.Hash(token)), []byte(s.hash)) == 1
}

func (s *Setup) valid(token string, now time.Time) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.validLocked(token, now)
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

// adminExists reports whether an enabled administrator exists.
func (h *Handler) adminExists(c *gin.Context) (bool, error) {
	n, err := h.DB.CountUsers(c.Request.Context(), true)
	return n > 0, err
}

func (h *Handler) setupPage(c *gin.Context) {
	tok := c.Query("token")
	if !h.Setup.valid(tok, h.Now()) {
		h.setupInvalid(c)
		return
	}
	exists, err := h.adminExists(c)
	switch {
	case err != nil:
		h.serverError(c, "count administrators", err)
		return
	case exists:
		h.setupInvalid(c)
		return
	}
	h.renderSetup(c, http.StatusOK, setupForm{Token: tok})
}

func (h *Handler) renderSetup(c *gin.Context, status int, f setupForm) {
	h.render(c, status, "setup", gin.H{"Form": f, "MinLength": h.Accounts.Hasher.MinLength()})
}

// setup creates the first administrator. The token's lock is held from the
// check to the use, so concurrent posts create one account at most.
func (h *Handler) setup(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	s := h.Setup
	if s == nil {
		h.setupInvalid(c)
		return
	}
	f := setupForm{
		Token: c.PostForm("token"),
		Email: strings.TrimSpace(c.PostForm("email")),
		Name:  strings.TrimSpace(c.PostForm("name")),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.validLocked(f.Token, h.Now()) {
		h.setupInvalid(c)
		return
	}
	exists, err := h.adminExists(c)
	switch {
	case err != nil:
		h.serverError(c, "count administrators", err)
		return
	case exists:
		s.live = false // an administrator appeared some other way (the CLI)
		h.setupInvalid(c)
		return
	}
	pw, problem := newPassword(c, "Choose a password.")
	switch {
	case !isText(f.Email) || !isText(f.Name):
		f.Email, f.Name, f.Error = "", "", "Names and emails must be text."
	case problem != "":
		f.Error = problem
	}
	if f.Error != "" {
		h.renderSetup(c, http.StatusBadRequest, f)
		return
	}
	u, err := h.Accounts.CreateUser(c.Request.Context(), accounts.NewUser{Email: f.Email, Name: f.Name, Admin: true, Password: &pw})
	msg, status, refused := refusal(err)
	switch {
	case refused:
		f.Error = msg
		h.renderSetup(c, status, f)
		return
	case err != nil:
		h.serverError(c, "create first administrator", err)
		return
	}
	s.live = false
	h.audit(c, &models.Event{Kind: models.EventUserCreated, UserID: &u.ID, ActorID: &u.ID, Email: u.Email, Method: models.MethodSetup, Detail: "first administrator, from the setup link"})
	if !h.signIn(c, u, sessionstore.SignIn{Method: models.MethodPassword}) {
		return
	}
	c.Redirect(http.StatusSeeOther, "/admin/users")
}
