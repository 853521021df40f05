package handlers

// The admin console (/admin/...): the users list, account creation, the
// user page with its actions, and the audit log. Every route is for
// administrators only; the destructive ones also need sudo mode.

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gin-gonic/gin"
)

// adminPerPage is the page size of the users list and the audit log.
const adminPerPage = 50

// adminMaxPage keeps OFFSET arithmetic far from overflow whatever is typed.
const adminMaxPage = 1_000_000

// adminRoute is one admin console route. Sudo routes are destructive: they
// run behind requireRecentAuth.
type adminRoute struct {
	method, path string
	sudo         bool
	handle       gin.HandlerFunc
}

// adminRouteTable lists every admin console route; adminRoutes registers
// exactly these behind requireUser and requireAdmin.
func (h *Handler) adminRouteTable() []adminRoute {
	const get, post = http.MethodGet, http.MethodPost
	return []adminRoute{
		{get, "/admin", false, h.adminHome},
		{get, "/admin/users", false, h.adminUsers},
		{get, "/admin/users/new", false, h.adminNewUserPage},
		{post, "/admin/users/new", false, h.adminCreateUser}, // creating an administrator asks for sudo inside
		{get, "/admin/users/:id", false, h.adminUserPage},
		{post, "/admin/users/:id", false, h.adminUpdateUser}, // a new email, promote and demote ask for sudo inside
		{get, "/admin/users/:id/disable", true, h.adminConfirmPage},
		{post, "/admin/users/:id/disable", true, h.adminDisable},
		{get, "/admin/users/:id/enable", true, h.adminConfirmPage},
		{post, "/admin/users/:id/enable", true, h.adminEnable}, // lets a stopped account sign in again
		{get, "/admin/users/:id/delete", true, h.adminDeletePage},
		{post, "/admin/users/:id/delete", true, h.adminDelete},
		{get, "/admin/users/:id/password", true, h.adminConfirmPage},
		{post, "/admin/users/:id/password", true, h.adminSetPassword},
		{get, "/admin/users/:id/password/remove", true, h.adminConfirmPage},
		{post, "/admin/users/:id/password/remove", true, h.adminRemovePassword},
		{get, "/admin/users/:id/identities/:iid", false, h.adminIdentityPage},
		{get, "/admin/users/:id/identities/:iid/unlink", true, h.adminConfirmPage},
		{post, "/admin/users/:id/identities/:iid/unlink", true, h.adminUnlink},
		{post, "/admin/users/:id/sessions/:sid/revoke", false, h.adminRevokeSession},
		{post, "/admin/users/:id/sessions/revoke-all", false, h.adminRevokeAll},
		{post, "/admin/users/:id/invite", false, h.adminResendInvite}, // mails the account's own address
		{get, "/admin/users/:id/invite/link", true, h.adminConfirmPage},
		{post, "/admin/users/:id/invite/link", true, h.adminInviteLink}, // shows a working link
		{get, "/admin/users/:id/mfa/reset", true, h.adminConfirmPage},
		{post, "/admin/users/:id/mfa/reset", true, h.adminResetMFA},
		{get, "/admin/audit", false, h.adminAudit},
		{get, "/admin/audit.csv", false, h.adminAuditCSV},
		{get, "/admin/mail", false, h.adminMail},
		{post, "/admin/mail/:id/retry", false, h.adminRetryMail},
		{get, "/admin/providers", false, h.adminProviders},
		{post, "/admin/providers/:id/test", true, h.adminTestProvider}, // a real code flow that changes nothing
		{get, "/admin/identities/rekey", true, h.adminRekeyPage},
		{post, "/admin/identities/rekey", true, h.adminRekey},
	}
}

// adminRoutes registers the admin console and the first-admin setup page.
// A sudo POST with a GET page at the same address (its confirmation page)
// is marked confirmable: outside sudo mode it comes back to that page.
func (h *Handler) adminRoutes(e *gin.Engine) {
	table := h.adminRouteTable()
	pages := map[string]bool{}
	for _, r := range table {
		if r.method == http.MethodGet && r.sudo {
			pages[r.path] = true
		}
	}
	if h.confirmable == nil {
		h.confirmable = map[string]bool{}
	}
	for _, r := range table {
		if r.method == http.MethodPost && r.sudo && pages[r.path] {
			h.confirmable[r.path] = true
		}
	}
	for _, r := range table {
		chain := []gin.HandlerFunc{h.requireUser, h.requireAdmin}
		if r.sudo {
			chain = append(chain, h.requireRecentAuth)
		}
		if r.method == http.MethodGet && (r.path == "/admin/users" || r.path == "/admin/users/:id" || r.path == "/admin/mail") {
			chain = append(chain, h.oneTimeNotice("done")) // the pages actions end on
		}
		e.Handle(r.method, r.path, append(chain, r.handle)...)
	}
	e.GET("/setup", h.setupPage)
	e.POST("/setup", h.setup)
}

// requireAdmin refuses signed-in people who are not administrators. It runs
// after requireUser; the flag is read fresh from the database each request,
// so a demoted administrator loses access at once.
func (h *Handler) requireAdmin(c *gin.Context) {
	if u := currentUser(c); u == nil || !u.IsAdmin {
		h.errorPage(c, http.StatusForbidden, "Administrators only", "This page is for gatehouse administrators.")
		return
	}
	c.Next()
}

// requireSudo is requireRecentAuth for a handler that decides by itself
// whether its request is destructive. It reports whether to go on.
func (h *Handler) requireSudo(c *gin.Context) bool {
	if h.recentAuth(c) {
		return true
	}
	h.requireRecentAuth(c)
	return false
}

func (h *Handler) adminHome(c *gin.Context) {
	c.Redirect(http.StatusSeeOther, "/admin/users")
}

// adminNotices is the fixed table ?done=CODE reads after an action: raw query
// text never reaches the page.
var adminNotices = map[string]string{
	"created":          "The account was created.",
	"updated":          "The account was saved.",
	"unchanged":        "Nothing was changed.",
	"disabled":         "The account was disabled and all its sessions were ended.",
	"enabled":          "The account was enabled.",
	"deleted":          "The account was deleted with its sign-in providers and sessions.",
	"password_set":     "The password was set and the account's sessions were ended.",
	"password_removed": "The password was removed and the account's sessions were ended.",
	"unlinked":         "The sign-in provider was unlinked and the sessions it started were ended.",
	"session_revoked":  "The session was ended.",
	"sessions_revoked": "All the account's sessions were ended.",
	"already_gone":     "That was already gone.",
	"invited":          "The account was created and an invitation was sent. The link in it works for 7 days.",
	"invite_resent":    "A new invitation was sent; the link sent before no longer works.",
	"mfa_reset":        "Two-factor sign-in was turned off for the account and its sessions were ended. Its owner signs in with the password alone and can set up a new app.",
}

// --- users list ------------------------------------------------------------

// userListQuery is the users list's query string, read leniently: anything
// unknown or malformed is ignored.
type userListQuery struct {
	Q, Admin, Disabled, Password, SSO, Verified, MFA, Sort string
	Page                                                   int
}

var userSortKeys = map[string]bool{
	"email": true, "-email": true, "name": true, "-name": true,
	"created": true, "-created": true, "last_login": true, "-last_login": true,
}

func readUserListQuery(c *gin.Context) userListQuery {
	q := userListQuery{Q: strings.TrimSpace(c.Query("q")), Page: 1}
	if len(q.Q) > maxEmailLen || !models.IsText(q.Q) {
		q.Q = ""
	}
	for dst, key := range map[*string]string{&q.Admin: "admin", &q.Disabled: "disabled", &q.Password: "password", &q.SSO: "sso", &q.Verified: "verified", &q.MFA: "mfa"} {
		if v := c.Query(key); v == "yes" || v == "no" {
			*dst = v
		}
	}
	if s := c.Query("sort"); userSortKeys[s] {
		q.Sort = s
	}
	q.Page = pageParam(c.Query("page"))
	return q
}

// pageParam is a page number from 1, or 1 when malformed.
func pageParam(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 1
	}
	return min(n, adminMaxPage)
}

func yesNo(v string) *bool {
	switch v {
	case "yes":
		b := true
		return &b
	case "no":
		b := false
		return &b
	}
	return nil
}

// url is the list's address with q's values and the given changes.
func (q userListQuery) url(sort string, page int) string {
	v := url.Values{}
	for key, val := range map[string]string{"q": q.Q, "admin": q.Admin, "disabled": q.Disabled, "password": q.Password, "sso": q.SSO, "verified": q.Verified, "mfa": q.MFA, "sort": sort} {
		if val != "" {
			v.Set(key, val)
		}
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return "/admin/users"
	}
	return "/admin/users?" + v.Encode()
}

// sortColumn is one sortable column header.
type sortColumn struct {
	Label, URL, Dir string // Dir: "ascending", "descending" or "" (aria-sort)
}

func (q userListQuery) columns() map[string]sortColumn {
	cur := q.Sort
	if cur == "" {
		cur = "email"
	}
	out := map[string]sortColumn{}
	for key, label := range map[string]string{"email": "Email", "name": "Name", "created": "Created", "last_login": "Last sign-in"} {
		col := sortColumn{Label: label}
		next := key
		if key == "last_login" || key == "created" {
			next = "-" + key // newest first is the useful first click
		}
		switch cur {
		case key:
			col.Dir, next = "ascending", "-"+key
		case "-" + key:
			col.Dir, next = "descending", key
		}
		col.URL = q.url(next, 1)
		out[key] = col
	}
	return out
}

// userRowView is one row of the users list, ready to print.
type userRowView struct {
	ID                           int64
	Email, Name, LastLogin, How  string
	Created                      string
	Admin, Disabled, HasPassword bool
	Verified                     bool
	Identities                   int64
	LastLoginISO, CreatedISO     string
}

func (h *Handler) adminUsers(c *gin.Context) {
	q := readUserListQuery(c)
	rows, total, err := h.DB.SearchUsers(c.Request.Context(), models.UserFilter{
		Query: q.Q, Admin: yesNo(q.Admin), Disabled: yesNo(q.Disabled),
		HasPassword: yesNo(q.Password), HasSSO: yesNo(q.SSO), Verified: yesNo(q.Verified), HasMFA: yesNo(q.MFA),
		Sort: q.Sort, Page: q.Page, PerPage: adminPerPage,
	})
	if err != nil {
		h.serverError(c, "search users", err)
		return
	}
	views := make([]userRowView, len(rows))
	for i, r := range rows {
		views[i] = userRowView{
			ID: r.ID, Email: r.Email, Name: r.Name,
			LastLogin: formatWhen(r.LastLoginAt), How: methodLabel(r.LastLoginMethod),
			Created: formatWhen(&r.CreatedAt), CreatedISO: isoTime(&r.CreatedAt), LastLoginISO: isoTime(r.LastLoginAt),
			Admin: r.IsAdmin, Disabled: r.Disabled(), HasPassword: r.HasPassword(), Verified: r.EmailVerified(), Identities: r.Identities,
		}
	}
	pages := max(int((total+adminPerPage-1)/adminPerPage), 1)
	data := gin.H{
		"Q": q, "Rows": views, "Total": total, "Page": q.Page, "Pages": pages,
		"Columns": q.columns(), "Notice": adminNotices[c.Query("done")],
		"Filtered": q.Q != "" || q.Admin != "" || q.Disabled != "" || q.Password != "" || q.SSO != "" || q.Verified != "" || q.MFA != "",
	}
	if q.Page > 1 {
		data["PrevURL"] = q.url(q.Sort, min(q.Page-1, pages))
	}
	if q.Page < pages {
		data["NextURL"] = q.url(q.Sort, q.Page+1)
	}
	h.render(c, http.StatusOK, "admin_users", data)
}

// --- create ----------------------------------------------------------------

// newUserForm is what the create page is rendered from; passwords are never
// sent back.
type newUserForm struct {
	Email, Name string
	Admin       bool
	Mode        string // modePassword, modeInvite or modeNone
	Error       string
}

// The new user page's password_mode values.
const (
	modePassword = "password" // an initial password, typed by the administrator
	modeInvite   = "invite"   // no password: an invitation link to choose one
	modeNone     = "none"     // no password: single sign-on only
)

func (h *Handler) adminNewUserPage(c *gin.Context) {
	h.renderNewUser(c, http.StatusOK, newUserForm{})
}

func (h *Handler) renderNewUser(c *gin.Context, status int, f newUserForm) {
	if f.Mode == "" {
		f.Mode = modePassword
	}
	h.render(c, status, "admin_user_new", gin.H{
		"Form": f, "MinLength": h.Accounts.Hasher.MinLength(), "MailEnabled": h.Accounts.Mail != nil,
		"InviteDays": int(accounts.InviteTTL.Hours() / 24),
	})
}

func (h *Handler) adminCreateUser(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	f := newUserForm{
		Email: strings.TrimSpace(c.PostForm("email")),
		Name:  strings.TrimSpace(c.PostForm("name")),
		Admin: c.PostForm("admin") == "1",
		Mode:  c.PostForm("password_mode"),
	}
	switch f.Mode {
	case modeInvite, modeNone:
	default:
		f.Mode = modePassword
	}
	if !models.IsText(f.Email) || !models.IsText(f.Name) {
		f.Email, f.Name, f.Error = "", "", "Names and emails must be text."
		h.renderNewUser(c, http.StatusBadRequest, f)
		return
	}
	// Making an administrator is a promotion, and an invitation link shown
	// on the page (no mail to send it) lets its holder in.
	if (f.Admin || f.Mode == modeInvite && h.Accounts.Mail == nil) && !h.requireSudo(c) {
		return
	}
	n := accounts.NewUser{Email: f.Email, Name: f.Name, Admin: f.Admin}
	if f.Mode == modeInvite {
		h.adminInvite(c, f, n)
		return
	}
	if f.Mode == modePassword {
		var pw string
		pw, f.Error = newPassword(c, "Enter an initial password, or choose single sign-on only.")
		if f.Error != "" {
			h.renderNewUser(c, http.StatusBadRequest, f)
			return
		}
		n.Password = &pw
	}
	ctx := c.Request.Context()
	u, err := h.Accounts.CreateUser(ctx, n)
	msg, status, refused := refusal(err)
	switch {
	case refused:
		f.Error = msg
		h.renderNewUser(c, status, f)
		return
	case err != nil:
		h.serverError(c, "create user", err)
		return
	}
	detail := "password"
	if f.Mode == modeNone {
		detail = "single sign-on only"
	}
	if u.IsAdmin {
		detail += ", administrator"
	}
	h.audit(c, &models.Event{Kind: models.EventUserCreated, UserID: &u.ID, Email: u.Email, Method: models.MethodAdmin, Detail: detail})
	h.adminDone(c, u.ID, "created")
}

// adminDone ends an action: back to the user page with a notice.
func (h *Handler) adminDone(c *gin.Context, id int64, code string) {
	c.Redirect(http.StatusSeeOther, "/admin/users/"+strconv.FormatInt(id, 10)+"?done="+code)
}

// --- formatting ------------------------------------------------------------

// formatWhen prints a time for the console, in UTC; nil or zero is "never".
func formatWhen(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// isoTime is the machine-readable form for <time datetime>.
func isoTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func methodLabel(m models.Method) string { return m.Label() }
