package handlers

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
)

// noticeTTL is how long a notice waits for the page it is for, in seconds:
// the redirect that follows at once.
const noticeTTL = 60

// oneTimeNotice shows a notice carried in the address (?notice=, ?error=,
// ?done=) once. A GET that carries one is answered with a redirect to the
// same address without it, the code kept in a short-lived cookie; the page
// at the clean address reads the cookie, which is cleared at once, and
// renders as if the parameter were there. So the history entry is the clean
// address, and going Back to it later (say after signing out and in again)
// shows no stale "Your password was changed". Codes are looked up in each
// page's fixed table as before: the cookie carries nothing shown verbatim,
// and a value that is no code at all becomes "unknown".
func (h *Handler) oneTimeNotice(params ...string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead {
			c.Next()
			return
		}
		q := c.Request.URL.Query()
		carried, found := url.Values{}, false
		for _, p := range params {
			if _, ok := q[p]; !ok {
				continue
			}
			found = true
			switch v := q.Get(p); {
			case noticeCode(v):
				carried.Set(p, v)
			case v != "": // shown as an unknown code is: a generic error, no notice
				carried.Set(p, "unknown")
			}
			q.Del(p)
		}
		path := c.Request.URL.Path
		if found {
			if len(carried) > 0 {
				carried.Set("path", path)
				h.setCookie(c, cookieNotice, carried.Encode(), noticeTTL)
			}
			to := path
			if len(q) > 0 {
				to += "?" + q.Encode()
			}
			c.Redirect(http.StatusSeeOther, to)
			c.Abort()
			return
		}
		raw, err := h.cookie(c, cookieNotice)
		if err != nil {
			c.Next()
			return
		}
		h.setCookie(c, cookieNotice, "", -1)
		if v, err := url.ParseQuery(raw); err == nil && v.Get("path") == path {
			for _, p := range params {
				if code := v.Get(p); noticeCode(code) {
					q.Set(p, code)
				}
			}
			c.Request.URL.RawQuery = q.Encode()
		}
		c.Next()
	}
}

// noticeCode is the shape of a notice code: a short lower-case word with
// underscores. Anything else is dropped, never carried.
func noticeCode(s string) bool {
	return s != "" && len(s) <= 64 && strings.Trim(s, "abcdefghijklmnopqrstuvwxyz_") == ""
}
