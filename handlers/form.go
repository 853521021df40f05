package handlers

import (
	"errors"
	"net/http"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// Field limits: longer input is refused before any work is done.
const (
	maxEmailLen    = 254
	maxPasswordLen = 1024 // far above bcrypt's 72 bytes, so the policy message can say why
)

// parseForm reads the form body, answering 413 or 400 itself on failure.
func (h *Handler) parseForm(c *gin.Context) bool {
	err := c.Request.ParseForm()
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		h.errorPage(c, http.StatusRequestEntityTooLarge, "Request too large", "That form was larger than gatehouse accepts.")
		return false
	}
	h.errorPage(c, http.StatusBadRequest, "Bad request", "That form could not be read. Go back and try again.")
	return false
}

// newPassword reads a new password and its confirmation (fields password
// and password_again) and says what is wrong with them, if anything; blank
// is the message for an empty password. The password policy itself is
// applied by accounts.
func newPassword(c *gin.Context, blank string) (pw, problem string) {
	pw, again := c.PostForm("password"), c.PostForm("password_again")
	switch {
	case pw == "":
		return pw, blank
	case len(pw) > maxPasswordLen:
		return pw, "Use a password of at most 72 bytes."
	case pw != again:
		return pw, "The two passwords do not match."
	}
	return pw, ""
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) && len(s) > 0 {
		s = s[:len(s)-1]
	}
	return s
}
