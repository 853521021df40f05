package handlers

// The admin console's mail page (/admin/mail): the messages the outbox gave
// up on, with their last error, and a button to try each again. Bodies are
// never shown: a reset message carries a working link for its recipient
// alone.

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gin-gonic/gin"
)

// adminMailLimit is how many given-up messages the page lists, the latest
// first: they are deleted 30 days after, so more is a relay down for long,
// and the newest say why.
const adminMailLimit = 200

// adminMailNotices is the fixed table ?done=CODE reads on the mail page.
var adminMailNotices = map[string]string{
	"retried":          "The message was put back in the queue and will be sent again shortly.",
	"retried_mail_off": "The message was put back in the queue. Mail is not configured, so it waits there until it is.",
}

// failedMailView is one given-up message ready to print: no body.
type failedMailView struct {
	ID                     int64
	To, Subject, LastError string
	Attempts               int
	FailedAt, FailedISO    string
	Ago                    string
}

func (h *Handler) adminMail(c *gin.Context) {
	ctx := c.Request.Context()
	rows, err := h.DB.FailedMail(ctx, adminMailLimit)
	if err != nil {
		h.serverError(c, "list failed mail", err)
		return
	}
	queued, err := h.DB.CountQueuedMail(ctx)
	if err != nil {
		h.serverError(c, "count queued mail", err)
		return
	}
	now := h.Now()
	views := make([]failedMailView, len(rows))
	for i, r := range rows {
		views[i] = failedMailView{
			ID: r.ID, To: r.Recipient, Subject: r.Subject, LastError: r.LastError, Attempts: r.Attempts,
			FailedAt: formatWhen(r.FailedAt), FailedISO: isoTime(r.FailedAt),
		}
		if r.FailedAt != nil {
			views[i].Ago = relativeTime(now, *r.FailedAt)
		}
	}
	h.render(c, http.StatusOK, "admin_mail", gin.H{
		"MailEnabled": h.Config.Mail != nil, "Rows": views, "Queued": queued, "Limit": adminMailLimit,
		"Notice": adminMailNotices[c.Query("done")],
	})
}

// adminRetryMail puts a given-up message back in the queue, due at once
// with its attempts counted from zero, and has the worker look now.
func (h *Handler) adminRetryMail(c *gin.Context) {
	notFound := func() {
		h.render(c, http.StatusNotFound, "error", gin.H{
			"Title":   "No such failed message",
			"Message": "That message is not waiting for a retry: it was sent or retried already, or deleted 30 days after it failed. Nothing was changed.",
			"Back":    "/admin/mail", "BackLabel": "Back to mail",
		})
		c.Abort()
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 1 {
		notFound()
		return
	}
	m, err := h.DB.RetryMail(c.Request.Context(), id)
	switch {
	case errors.Is(err, models.ErrNotFound):
		notFound()
		return
	case err != nil:
		h.serverError(c, "retry mail", err)
		return
	}
	h.audit(c, &models.Event{Kind: models.EventMailRetried, Email: m.Recipient, Method: models.MethodAdmin,
		Detail: fmt.Sprintf("message #%d: %s", m.ID, m.Subject)})
	done := "retried_mail_off" // no worker: the row waits for a mail block
	if h.KickMail != nil {
		h.KickMail()
		done = "retried"
	}
	c.Redirect(http.StatusSeeOther, "/admin/mail?done="+done)
}
