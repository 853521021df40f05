package handlers

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/throttle"
	"github.com/gin-gonic/gin"
)

// throttleBegin counts a password check for account from this client
// before the check runs, so concurrent guesses cannot all pass a check
// made before any of them is counted. When the client must wait it sets
// Retry-After and returns ok false with the message the caller's page
// shows, with statusThrottled. A throttle store error lets the check
// through uncounted (a nil attempt): a database hiccup must not lock
// everyone out.
func (h *Handler) throttleBegin(c *gin.Context, account string) (a *throttle.Attempt, msg string, ok bool) {
	if h.Throttle == nil {
		return nil, "", true
	}
	a, wait, err := h.Throttle.Begin(c.Request.Context(), throttle.Client{Account: account, Addr: c.ClientIP()})
	if err != nil {
		h.log(c).WarnContext(c.Request.Context(), "throttle begin", "err", err)
		return nil, "", true
	}
	if wait <= 0 {
		return a, "", true
	}
	secs := int(math.Ceil(wait.Seconds()))
	c.Header("Retry-After", strconv.Itoa(secs))
	return nil, fmt.Sprintf("Too many attempts. Try again in %s.", humanSeconds(secs)), false
}

// throttleDone settles an attempt with the outcome of its password check:
// a wrong password stays counted, a right one is given back and clears
// this client's count for the account, and any other outcome (no verdict)
// is given back.
func (h *Handler) throttleDone(c *gin.Context, a *throttle.Attempt, err error) {
	if a == nil {
		return
	}
	ctx := c.Request.Context()
	var serr error
	switch {
	case err == nil:
		serr = a.Succeeded(ctx)
	case errors.Is(err, accounts.ErrBadCredentials):
		return
	default:
		serr = a.Abandoned(ctx)
	}
	if serr != nil {
		h.log(c).WarnContext(ctx, "throttle settle", "err", serr)
	}
}

func humanSeconds(s int) string {
	switch {
	case s <= 1:
		return "a second"
	case s < 90:
		return strconv.Itoa(s) + " seconds"
	default:
		return strconv.Itoa((s+59)/60) + " minutes"
	}
}

// statusThrottled is the status of a throttled password form.
const statusThrottled = http.StatusTooManyRequests
