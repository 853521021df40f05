package handlers

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gin-gonic/gin"
)

// throttleWait reports how long the client must wait before another
// password check for account (0: go ahead). It sets Retry-After and the 429
// status the caller's page should use. A throttle store error lets the check
// through: a database hiccup must not lock everyone out.
func (h *Handler) throttleWait(c *gin.Context, account string) (time.Duration, string) {
	if h.Throttle == nil {
		return 0, ""
	}
	wait, err := h.Throttle.Check(c.Request.Context(), account, c.ClientIP())
	if err != nil {
		h.log(c).WarnContext(c.Request.Context(), "throttle check", "err", err)
		return 0, ""
	}
	if wait <= 0 {
		return 0, ""
	}
	secs := int(math.Ceil(wait.Seconds()))
	c.Header("Retry-After", strconv.Itoa(secs))
	return wait, fmt.Sprintf("Too many attempts. Try again in %s.", humanSeconds(secs))
}

// throttleRecord counts the outcome of a password check: failures grow the
// delay, a success clears this address's count for the account.
func (h *Handler) throttleRecord(c *gin.Context, account string, err error) {
	if h.Throttle == nil {
		return
	}
	ctx := c.Request.Context()
	var rerr error
	switch {
	case err == nil:
		rerr = h.Throttle.Succeed(ctx, account, c.ClientIP())
	case errors.Is(err, accounts.ErrBadCredentials):
		rerr = h.Throttle.Fail(ctx, account, c.ClientIP())
	}
	if rerr != nil {
		h.log(c).WarnContext(ctx, "throttle record", "err", rerr)
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
