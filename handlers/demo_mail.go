package handlers

// The demo's mail page (GET /demo/mail): the messages gatehouse demo
// captured instead of sending, so a newcomer can try "Forgot password?"
// with no mail server. The route exists only when Deps.DemoMail is set, and
// only the demo sets it; the demo listens on loopback alone, so the page
// needs no sign-in, though it shows working reset links.

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

func (h *Handler) demoRoutes(e *gin.Engine) {
	if h.DemoMail == nil {
		return
	}
	e.GET("/demo/mail", h.demoMail)
}

// demoMailView is one captured message ready to print.
type demoMailView struct {
	To, Subject string
	// Ago is the date relative to now; When the absolute one (UTC), WhenISO
	// for <time datetime>; all empty without a date.
	Ago, When, WhenISO string
	// Body is the text cut at its links, so the page can make each a link.
	Body []textRun
}

// textRun is a piece of a message's text: a link, or plain text.
type textRun struct {
	Text string
	Link bool
}

func (h *Handler) demoMail(c *gin.Context) {
	msgs := h.DemoMail.Messages()
	now := h.Now()
	views := make([]demoMailView, len(msgs))
	for i, m := range msgs {
		v := demoMailView{To: m.To, Subject: m.Subject, Body: linkRuns(m.Text, m.Links)}
		if !m.Date.IsZero() {
			v.Ago, v.When, v.WhenISO = relativeTime(now, m.Date), formatWhen(&m.Date), m.Date.UTC().Format(time.RFC3339)
		}
		views[i] = v
	}
	h.render(c, http.StatusOK, "demo_mail", gin.H{"Messages": views, "Kept": h.DemoMail.Limit()})
}

// linkRuns cuts text at each occurrence of the links (found in it by the
// mail package), earliest first, so each becomes a link on the page and the
// rest stays text, escaped by the template.
func linkRuns(text string, links []string) []textRun {
	var out []textRun
	for text != "" {
		at, link := -1, ""
		for _, l := range links {
			if i := strings.Index(text, l); i >= 0 && (at < 0 || i < at || i == at && len(l) > len(link)) {
				at, link = i, l
			}
		}
		if at < 0 {
			out = append(out, textRun{Text: text})
			break
		}
		if at > 0 {
			out = append(out, textRun{Text: text[:at]})
		}
		out = append(out, textRun{Text: link, Link: true})
		text = text[at+len(link):]
	}
	return out
}
