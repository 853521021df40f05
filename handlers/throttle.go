package handlers

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
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
	client := throttle.Client{Account: account, Addr: c.ClientIP()}
	if v, err := h.cookie(c, cookieDevice); err == nil && sessionstore.ValidToken(v) {
		client.Device = v
	}
	a, wait, err := h.Throttle.Begin(c.Request.Context(), client)
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

// codeThrottleBegin counts a second-factor code check for account on the
// password counters (per client address, network and account) and on the
// account's own code counter, which a right password does not clear. It
// returns the function that settles both with the check's outcome, or ok
// false with the message to show (statusThrottled, Retry-After set).
func (h *Handler) codeThrottleBegin(c *gin.Context, account string) (done func(error), msg string, ok bool) {
	a, msg, ok := h.throttleBegin(c, account)
	if !ok {
		return nil, msg, false
	}
	done = func(err error) { h.throttleDone(c, a, err) }
	if h.Throttle == nil {
		return done, "", true
	}
	code, wait, err := h.Throttle.BeginCode(c.Request.Context(), account)
	switch {
	case err != nil:
		h.log(c).WarnContext(c.Request.Context(), "throttle begin", "err", err)
		return done, "", true
	case wait > 0:
		done(errors.New("not checked")) // the password counters' attempt is given back
		secs := int(math.Ceil(wait.Seconds()))
		c.Header("Retry-After", strconv.Itoa(secs))
		return nil, fmt.Sprintf("Too many wrong codes. Try again in %s.", humanSeconds(secs)), false
	}
	return func(err error) { h.throttleDone(c, a, err); h.throttleDone(c, code, err) }, "", true
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
	case errors.Is(err, accounts.ErrBadCredentials), errors.Is(err, accounts.ErrWrongCode), errors.Is(err, accounts.ErrCodeUsed):
		return // a wrong password or second factor stays counted
	default:
		serr = a.Abandoned(ctx)
	}
	if serr != nil {
		h.log(c).WarnContext(ctx, "throttle settle", "err", serr)
	}
}

// rememberDevice makes this browser a known device of u after a successful
// sign-in: it keeps the browser's device cookie, or sets a new one, for
// throttle.DeviceLifetime more, and records its hash for u. Password checks
// for u from this browser then answer to the device rule alone, so an
// attacker's guesses from elsewhere cannot lock it out. A failure is
// logged, not shown: the sign-in stands, the browser is just not known.
// It reports whether the browser was new to u: not known before, and its
// device now recorded.
func (h *Handler) rememberDevice(c *gin.Context, u *models.User) (isNew bool) {
	if h.Throttle == nil {
		return false
	}
	ctx := c.Request.Context()
	token, err := h.cookie(c, cookieDevice)
	known := false
	if err == nil && sessionstore.ValidToken(token) {
		if known, err = h.DB.KnownDevice(ctx, u.Email, sessionstore.Hash(token), throttle.DeviceLifetime); err != nil {
			h.log(c).WarnContext(ctx, "look up device", "err", err)
			known = true // unknown is not new: no notice on a hiccup
		}
	} else if token, err = sessionstore.NewToken(h.Rand); err != nil {
		h.log(c).WarnContext(ctx, "device cookie", "err", err)
		return false
	}
	if err := h.Throttle.RememberDevice(ctx, u.ID, token); err != nil {
		h.log(c).WarnContext(ctx, "remember device", "err", err)
		return false
	}
	h.setCookie(c, cookieDevice, token, int(throttle.DeviceLifetime.Seconds()))
	return !known
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
