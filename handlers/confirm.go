package handlers

// Confirmation pages for the admin console's destructive actions. A POST
// outside sudo mode is sent to re-authenticate and then here, to a page at
// the action's own address that says what will be done and has the button
// to do it: the action is carried through re-authentication without
// re-posting anything on the person's behalf, and the button's POST is
// checked for cross-site origin like every other form.

import (
	"errors"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gin-gonic/gin"
)

// adminAction is one destructive admin action on an account, as its
// confirmation page and the re-authentication page describe it.
type adminAction struct {
	Verb   string // "Disable account", before the account's email
	Button string
	What   string // one sentence on what happens
	Danger bool
	// Password: the page carries the new password fields (the typed
	// password is never put in an address, so it is asked again).
	Password bool
}

// adminActions is keyed by the address after /admin/users/:id.
var adminActions = map[string]adminAction{
	"/disable": {Verb: "Disable account", Button: "Disable account", Danger: true,
		What: "Disabling ends every session of the account at once and blocks password and single sign-on sign-in until it is enabled again."},
	"/enable": {Verb: "Enable account", Button: "Enable account",
		What: "Enabling lets the account sign in again."},
	"/delete": {Verb: "Delete account", Button: "Delete account", Danger: true,
		What: "Deleting removes the account with its sign-in providers and sessions. This cannot be undone."},
	"/password": {Verb: "Set a password for", Button: "Set password", Password: true,
		What: "Setting a password ends all of the account's sessions."},
	"/password/remove": {Verb: "Remove the password of", Button: "Remove password", Danger: true,
		What: "Removing the password ends the account's sessions; it can then sign in with single sign-on only."},
	"/identities/:iid/unlink": {Verb: "Unlink a sign-in provider from", Button: "Unlink", Danger: true,
		What: "Unlinking ends the sessions that provider started."},
	"/mfa/reset": {Verb: "Reset two-factor sign-in of", Button: "Reset two-factor", Danger: true,
		What: "Resetting removes the account's authenticator app and recovery codes and ends its sessions; its owner then signs in with the password alone and can set up a new app. Do it only once you are sure who asks."},
	"/invite/link": {Verb: "Make an invitation link for", Button: "Make invitation link",
		What: "A new link replaces the invitation sent before. It is shown once, for you to pass on: whoever opens it chooses the account's password."},
}

// otherActions describes the other actions that need sudo mode, whose
// form is shown again after re-authentication rather than confirmed.
var otherActions = map[string]string{
	"/account/password":              "Set a password for your account",
	"/account/email":                 "Change your email address",
	"/account/link":                  "Link a sign-in provider to your account",
	"/account/identities/:id/unlink": "Unlink a sign-in provider from your account",
	"/admin/users/new":               "Create an administrator account",
	"/admin/users/:id":               "Change the email or administrator role of",
}

// splitAdminPath splits "/admin/users/12/identities/3/unlink" into the
// account ID, the action's key ("/identities/:iid/unlink") and the second
// ID (3); ok is false for any other address.
func splitAdminPath(p string) (id int64, key string, sub int64, ok bool) {
	rest, found := strings.CutPrefix(path.Clean(p), "/admin/users/")
	if !found {
		return 0, "", 0, false
	}
	idText, tail, _ := strings.Cut(rest, "/")
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id < 1 {
		return 0, "", 0, false
	}
	key = "/" + tail
	if tail == "" {
		key = ""
	}
	if r, ok := strings.CutPrefix(key, "/identities/"); ok {
		n, act, _ := strings.Cut(r, "/")
		if sub, err = strconv.ParseInt(n, 10, 64); err != nil || sub < 1 || act != "unlink" {
			return 0, "", 0, false
		}
		key = "/identities/:iid/unlink"
	}
	return id, key, sub, true
}

// describeAction names, for the re-authentication page, the action at the
// same-site address p: "" when p is no action gatehouse knows. Account
// emails are only looked up for administrators.
func (h *Handler) describeAction(c *gin.Context, p string) string {
	if p == "" {
		return ""
	}
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	switch {
	case p == "/account/password", p == "/account/email", p == "/account/link", p == "/admin/users/new":
		return otherActions[p]
	case strings.HasPrefix(p, "/account/identities/") && strings.HasSuffix(p, "/unlink"):
		return otherActions["/account/identities/:id/unlink"]
	}
	u := currentUser(c)
	if u == nil || !u.IsAdmin {
		return ""
	}
	id, key, _, ok := splitAdminPath(p)
	if !ok {
		return ""
	}
	verb := otherActions["/admin/users/:id"]
	if a, ok := adminActions[key]; ok {
		verb = a.Verb
	} else if key != "" {
		return ""
	}
	target, err := h.DB.UserByID(c.Request.Context(), id)
	if err != nil {
		return ""
	}
	return verb + " " + target.Email
}

// adminConfirmPage shows "Confirm: <action> <email>" with the button that
// posts the action to this same address.
func (h *Handler) adminConfirmPage(c *gin.Context) {
	u, ok := h.adminTarget(c)
	if !ok {
		return
	}
	_, key, sub, ok := splitAdminPath(c.Request.URL.Path)
	a, known := adminActions[key]
	if !ok || !known {
		h.adminNotFound(c)
		return
	}
	data := gin.H{
		"Target": u, "Action": a, "Title": a.Verb + " " + u.Email, "Post": c.Request.URL.Path,
		"Back": "/admin/users/" + strconv.FormatInt(u.ID, 10), "MinLength": h.Accounts.Hasher.MinLength(),
	}
	if sub != 0 {
		ident, err := h.DB.IdentityByID(c.Request.Context(), u.ID, sub)
		switch {
		case errors.Is(err, models.ErrNotFound):
			h.adminDone(c, u.ID, "already_gone")
			return
		case err != nil:
			h.serverError(c, "load identity", err)
			return
		}
		data["Title"] = "Unlink " + h.SSO.Name(ident.ProviderID) + " from " + u.Email
		data["Subject"] = ident.Subject
	}
	h.render(c, http.StatusOK, "admin_confirm", data)
}
