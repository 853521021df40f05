package handlers

import (
	"net/url"
	"path"
	"strings"
)

// maxNextLen bounds the redirect target carried through sign-in.
const maxNextLen = 1024

// SafeNext returns raw when it is a same-site relative path to send a
// signed-in user to, and "" otherwise. It refuses anything a browser could
// read as another origin: schemes, "//host" and "/\host" (browsers treat \ as
// /), the same behind percent-encoding, and control characters.
func SafeNext(raw string) string {
	if raw == "" || len(raw) > maxNextLen || !strings.HasPrefix(raw, "/") {
		return ""
	}
	decoded := raw
	for range 3 { // catch double and triple encoding too
		d, err := url.PathUnescape(decoded)
		if err != nil {
			return ""
		}
		if d == decoded {
			break
		}
		decoded = d
	}
	for _, s := range []string{raw, decoded} {
		if strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\") || strings.ContainsFunc(s, isControl) {
			return ""
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	// Never bounce back into sign-in or sign-out, however the path is
	// dressed up: dot segments and repeated slashes are resolved (by
	// http.Redirect and by browsers) before the request is routed.
	if p := path.Clean(u.Path); p == "/auth" || strings.HasPrefix(p, "/auth/") {
		return ""
	}
	// http.Redirect (Gin's c.Redirect) cleans the path before sending it,
	// so "/./%2F/evil.com" goes out as "/%2F/evil.com": what is sent must
	// pass too. Cleaning twice changes nothing, so this recurses once.
	if sent := redirectCleaned(raw); sent != raw && SafeNext(sent) == "" {
		return ""
	}
	return raw
}

// redirectCleaned is what http.Redirect makes of a path-absolute target:
// the part before "?" path.Clean-ed, keeping a trailing slash.
func redirectCleaned(s string) string {
	p, q := s, ""
	if i := strings.IndexByte(s, '?'); i >= 0 {
		p, q = s[:i], s[i:]
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && !strings.HasSuffix(c, "/") {
		c += "/"
	}
	return c + q
}

func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029'
}
