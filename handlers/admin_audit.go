package handlers

// The audit log page and its CSV export.

import (
	"encoding/csv"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/sso"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gin-gonic/gin"
)

// auditKinds feeds the kind filter's suggestions.
var auditKinds = []models.EventKind{
	"login.", models.EventLoginSuccess, models.EventLoginFailure, models.EventBreakGlass, models.EventLogout, models.EventBackchannel,
	"reauth.", models.EventReauth, models.EventReauthFailure,
	"user.", models.EventUserCreated, models.EventUserUpdated, models.EventUserDisabled, models.EventUserEnabled,
	models.EventUserDeleted, models.EventPasswordSet, models.EventPasswordRemoved,
	"identity.", models.EventIdentityLinked, models.EventIdentityUnlinked, models.EventIdentityRekeyed, models.EventLinkFailure, models.EventLinkCancelled,
	models.EventSessionRevoked,
	"password_reset.", models.EventPasswordResetRequested, models.EventPasswordResetCompleted,
	"invitation.", models.EventInvitationSent, models.EventInvitationLinked, models.EventInvitationAccepted,
	"email.", models.EventEmailVerifyRequest, models.EventEmailVerified, models.EventEmailChangeRequest, models.EventEmailChanged,
	"mfa.", models.EventMFAEnrolled, models.EventMFARemoved, models.EventMFARecoveryUsed, models.EventMFARecoveryCodes, models.EventMFAFailure,
	"admin.", models.EventAdminGranted, models.EventAdminRevoked,
	"mail.", models.EventMailRetried,
}

// auditQuery is the audit log's filters as typed; Filter is what they mean.
type auditQuery struct {
	User, Kind, From, To string
	Page                 int
	Filter               models.EventFilter
	NoSuchUser           bool // an email that names no account: nothing matches
}

const dateLayout = "2006-01-02"

// readAuditQuery reads the filters leniently: malformed values are ignored.
func (h *Handler) readAuditQuery(c *gin.Context) (auditQuery, error) {
	q := auditQuery{Page: pageParam(c.Query("page"))}
	q.Filter.Page, q.Filter.PerPage = q.Page, adminPerPage
	if u := strings.TrimSpace(c.Query("user")); u != "" && len(u) <= maxEmailLen && models.IsText(u) {
		if id, err := strconv.ParseInt(u, 10, 64); err == nil && id > 0 {
			q.User, q.Filter.UserID = u, &id
		} else if email := sso.NormalizeEmail(u); models.ValidEmail(email) {
			q.User = email
			found, err := h.DB.UserByEmail(c.Request.Context(), email)
			switch {
			case err == nil:
				q.Filter.UserID = &found.ID
			case errors.Is(err, models.ErrNotFound):
				q.NoSuchUser = true
			default:
				return q, err
			}
		}
	}
	if k := strings.TrimSpace(c.Query("kind")); validKind(k) {
		q.Kind, q.Filter.Kind = k, k
	}
	if t, err := time.Parse(dateLayout, c.Query("from")); err == nil {
		q.From, q.Filter.From = t.Format(dateLayout), t
	}
	if t, err := time.Parse(dateLayout, c.Query("to")); err == nil {
		q.To, q.Filter.To = t.Format(dateLayout), t.AddDate(0, 0, 1) // the whole day, UTC
	}
	return q, nil
}

// validKind accepts the shape event kinds have: lower-case words and dots.
func validKind(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	return strings.Trim(k, "abcdefghijklmnopqrstuvwxyz0123456789._-") == ""
}

// values is the query string for q's filters (page excluded).
func (q auditQuery) values() url.Values {
	v := url.Values{}
	for key, val := range map[string]string{"user": q.User, "kind": q.Kind, "from": q.From, "to": q.To} {
		if val != "" {
			v.Set(key, val)
		}
	}
	return v
}

func (q auditQuery) url(path string, page int) string {
	v := q.values()
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// auditRow is one audit event ready to print.
type auditRow struct {
	ID                      int64
	Time, TimeISO, Kind     string
	ActorID, UserID         int64 // 0: none
	ActorEmail, UserEmail   string
	Email, Method, Provider string
	IP, Detail              string
	// Trace is an SSO sign-in's decision trace; nil for other events.
	Trace *accounts.Trace
	// For the pages (describeRows): the event as a sentence, its time
	// relative to the handler's clock, and the provider's display name.
	// Facts joins the method, provider and detail that are set.
	Sentence, Ago, ProviderName, Facts string

	at     time.Time
	method models.Method
}

// auditEmails maps the accounts events mention (actor and target) to their
// current emails, in one query.
func (h *Handler) auditEmails(c *gin.Context, events []models.Event) map[int64]string {
	seen := map[int64]bool{}
	var ids []int64
	for _, e := range events {
		for _, p := range []*int64{e.ActorID, e.UserID} {
			if p != nil && !seen[*p] {
				seen[*p] = true
				ids = append(ids, *p)
			}
		}
	}
	out, err := h.DB.UserEmails(c.Request.Context(), ids)
	if err != nil {
		h.log(c).WarnContext(c.Request.Context(), "look up audit emails", "err", err)
		return map[int64]string{}
	}
	return out
}

func auditRows(events []models.Event, emails map[int64]string) []auditRow {
	out := make([]auditRow, len(events))
	for i, e := range events {
		r := auditRow{
			ID: e.ID, Time: formatWhen(&e.CreatedAt), TimeISO: isoTime(&e.CreatedAt),
			Kind: e.Kind.String(), Email: e.Email, Method: e.Method.String(), Provider: e.ProviderID, IP: e.IP, Detail: e.Detail,
			at: e.CreatedAt, method: e.Method, Trace: accounts.ParseTrace(e.Trace),
		}
		if e.ActorID != nil {
			r.ActorID, r.ActorEmail = *e.ActorID, emails[*e.ActorID]
		}
		if e.UserID != nil {
			r.UserID, r.UserEmail = *e.UserID, emails[*e.UserID]
		}
		out[i] = r
	}
	return out
}

func (h *Handler) adminAudit(c *gin.Context) {
	q, err := h.readAuditQuery(c)
	if err != nil {
		h.serverError(c, "audit filter", err)
		return
	}
	var events []models.Event
	var total int64
	if !q.NoSuchUser {
		events, total, err = h.DB.SearchEvents(c.Request.Context(), q.Filter)
		if err != nil {
			h.serverError(c, "search events", err)
			return
		}
	}
	pages := max(int((total+adminPerPage-1)/adminPerPage), 1)
	data := gin.H{
		"Q": q, "Rows": h.describeRows(auditRows(events, h.auditEmails(c, events)), h.Now()), "Total": total, "Page": q.Page, "Pages": pages,
		"Kinds": auditKinds, "CSVURL": q.url("/admin/audit.csv", 1),
	}
	if q.Page > 1 {
		data["PrevURL"] = q.url("/admin/audit", min(q.Page-1, pages))
	}
	if q.Page < pages {
		data["NextURL"] = q.url("/admin/audit", q.Page+1)
	}
	h.render(c, http.StatusOK, "admin_audit", data)
}

// exportPage is how many events the CSV export reads, and writes, at a
// time: memory holds one page however long the log is.
const exportPage = 500

// adminAuditCSV exports every event matching the filters (no paging),
// newest first, streamed: each page of events is written and flushed to
// the client as it is read (models.EachEventPage), so an export of any size
// costs one page of memory. A database error before the first byte is the
// usual error page; after it, the export ends there and the error is
// logged (the status is already sent).
func (h *Handler) adminAuditCSV(c *gin.Context) {
	q, err := h.readAuditQuery(c)
	if err != nil {
		h.serverError(c, "audit filter", err)
		return
	}
	var w *csv.Writer
	begin := func() {
		name := "gatehouse-audit-" + h.Now().UTC().Format("20060102-150405") + ".csv"
		c.Header("Content-Type", "text/csv; charset=utf-8")
		c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
		c.Header("Cache-Control", "no-store")
		c.Status(http.StatusOK)
		w = csv.NewWriter(c.Writer)
		_ = w.Write([]string{"id", "time", "kind", "actor_id", "actor_email", "user_id", "email", "method", "provider", "ip", "detail"})
	}
	if !q.NoSuchUser {
		err = h.DB.EachEventPage(c.Request.Context(), q.Filter, exportPage, func(events []models.Event) error {
			if w == nil {
				begin()
			}
			for _, r := range auditRows(events, h.auditEmails(c, events)) {
				rec := []string{
					strconv.FormatInt(r.ID, 10), r.TimeISO, r.Kind, idText(r.ActorID), r.ActorEmail, idText(r.UserID),
					r.Email, r.Method, r.Provider, r.IP, r.Detail,
				}
				for i := range rec {
					rec[i] = csvSafe(rec[i])
				}
				if err := w.Write(rec); err != nil {
					return err
				}
			}
			w.Flush()
			c.Writer.Flush()
			return w.Error()
		})
	}
	switch {
	case err != nil && w == nil:
		h.serverError(c, "export events", err)
		return
	case err != nil:
		h.log(c).WarnContext(c.Request.Context(), "write audit CSV; the export is cut short", "err", err)
		return
	case w == nil: // no event matched: the header row alone
		begin()
	}
	w.Flush()
	if err := w.Error(); err != nil {
		h.log(c).WarnContext(c.Request.Context(), "write audit CSV", "err", err)
	}
}

func idText(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

// csvSafe neutralises spreadsheet formulas (CSV injection): a cell a
// spreadsheet would evaluate gets a leading single quote, so names, emails
// and claims an attacker chose stay text.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
