package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/sso"
	ginsessions "github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
)

const (
	// pendingTTL is how long a sign-in may sit at the provider.
	pendingTTL = 10 * time.Minute
	// maxPendingPerBrowser bounds parallel sign-ins (tabs) of one browser.
	maxPendingPerBrowser = 10
	// maxLivePending bounds the sign-ins in progress in all: a browser
	// without a cookie is a new browser, so the per-browser bound alone
	// does not stop one client from filling the table.
	maxLivePending = 10_000
	// Callback parameter caps: anything longer is not a real response.
	maxStateLen = 512
	maxCodeLen  = 4096
	maxIssLen   = 2048
)

// mode is what a round trip to a provider is for; it is stored with the
// pending sign-in and decides how the callback finishes.
type mode string

// Sign-in modes.
const (
	modeLogin   mode = "login"
	modeRefresh mode = "refresh" // prompt=none check of the provider session
	modeReauth  mode = "reauth"  // sudo mode through the provider
	// modeReauthCode is modeReauth whose second factor was given (and
	// checked) before the round trip: an administrator's, for a provider
	// that does not report its own.
	modeReauthCode mode = "reauth_code"
	modeLink       mode = "link" // attach another provider from the account page
	// modeTest is an administrator's provider test: the callback shows
	// the decision trace and changes nothing.
	modeTest mode = "test"
)

// String returns the stored form.
func (m mode) String() string { return string(m) }

// reauth reports whether the round trip is a re-authentication.
func (m mode) reauth() bool { return m == modeReauth || m == modeReauthCode }

// startSSO begins "Sign in with SSO": pick the provider, remember the
// request server side, and send the browser to the provider.
func (h *Handler) startSSO(c *gin.Context, f loginForm) {
	if h.SSO.Len() == 0 {
		f.Error = loginMessages["sso_not_configured"]
		h.renderLogin(c, http.StatusBadRequest, f)
		return
	}
	email := sso.NormalizeEmail(f.Email)
	p, choice := h.SSO.ForEmail(email)
	if choice != sso.ChoiceDomain {
		if posted := c.PostForm("provider"); posted != "" {
			var ok bool
			if p, ok = h.SSO.ByID(posted); !ok {
				f.Error = "Choose one of the sign-in providers below."
				h.renderLogin(c, http.StatusBadRequest, f)
				return
			}
		}
	}
	if p == nil {
		f.Error = "Choose how to sign in."
		status := http.StatusOK
		if d := sso.EmailDomain(email); d != "" {
			f.Error, status = fmt.Sprintf("SSO is not set up for %s. Choose a provider below or sign in with your password.", d), http.StatusBadRequest
		}
		h.renderLogin(c, status, f)
		return
	}
	if msg, ok := h.redirectToProvider(c, p, pendingStart{Mode: modeLogin, Next: f.Next, LoginHint: email}); !ok && msg != "" {
		f.SSOMode, f.Error = true, msg
		h.renderLogin(c, http.StatusServiceUnavailable, f)
	}
}

// pendingStart is what a redirect to a provider should come back to.
type pendingStart struct {
	Mode                    mode
	Next, LoginHint, Prompt string
	UserID                  *int64
}

// redirectToProvider remembers ps server side and sends the browser to p.
// When p cannot be reached it returns false and the message the page the
// person is on should show (a 503 for the caller to render); a failure it
// has answered itself returns false and "".
//
// Anyone can start a sign-in, and each start stores a row, so starts are
// bounded twice: per client address (ssoStartsPerMinute; 429) and in all
// (maxLivePending; 503). Refusals are counted, and logged at debug level
// only, so a flood writes nothing that grows.
func (h *Handler) redirectToProvider(c *gin.Context, p *sso.Provider, ps pendingStart) (string, bool) {
	ctx := c.Request.Context()
	if !h.ssoLimit.Allow(c.ClientIP()) {
		h.Metrics.Limited(metrics.LimitSSOStartAddress)
		h.log(c).DebugContext(ctx, "SSO start refused: too many from this address", "provider", p.ID(), "mode", ps.Mode)
		c.Header("Retry-After", "60")
		h.errorPage(c, http.StatusTooManyRequests, "Too many sign-ins",
			"Too many sign-ins were started from your network in the last minute. Please wait a minute and try again.")
		return "", false
	}
	afterSignOut := false
	if ps.Mode == modeLogin && ps.Prompt == "" {
		ps.Prompt = h.promptAfterSignOut(c, p)
		afterSignOut = ps.Prompt != ""
	}
	req, err := p.AuthCodeURL(ctx, sso.AuthOptions{LoginHint: ps.LoginHint, Prompt: ps.Prompt, Reauthenticate: ps.Mode.reauth(),
		Offline: ps.Mode == modeLogin || ps.Mode == modeLink})
	if err != nil {
		h.log(c).WarnContext(ctx, "start SSO", "provider", p.ID(), "mode", ps.Mode, "err", err)
		if errors.Is(err, sso.ErrUnavailable) {
			return fmt.Sprintf("%s is not answering right now. Please try again in a moment.", p.Name()), false
		}
		return fmt.Sprintf("Sign-in with %s is not working right now. Please tell your administrator.", p.Name()), false
	}
	browser, err := h.browserID(c)
	if err != nil {
		h.serverError(c, "random token", err)
		return "", false
	}
	if !models.IsText(ps.Next) { // stored with the pending sign-in: none rather than a failed insert
		ps.Next = ""
	}
	pending := &models.PendingLogin{
		StateHash: sso.HashState(req.State), BrowserHash: sessionstore.Hash(browser),
		ProviderID: p.ID(), Nonce: req.Nonce, CodeVerifier: req.CodeVerifier,
		Next: ps.Next, Mode: ps.Mode.String(), UserID: ps.UserID,
	}
	err = h.DB.CreatePendingLogin(ctx, pending, pendingTTL, maxPendingPerBrowser, maxLivePending)
	if errors.Is(err, models.ErrTooManyPending) {
		h.Metrics.Limited(metrics.LimitPendingCap)
		h.log(c).DebugContext(ctx, "SSO start refused: too many sign-ins in progress", "provider", p.ID(), "mode", ps.Mode)
		c.Header("Retry-After", "60")
		h.errorPage(c, http.StatusServiceUnavailable, "Too many sign-ins",
			"Too many sign-ins are in progress right now. Please try again in a few minutes.")
		return "", false
	}
	if err != nil {
		h.serverError(c, "store pending login", err)
		return "", false
	}
	if afterSignOut {
		h.setCookie(c, cookieSignedOut, "", -1) // asked once, now that the sign-in has started
	}
	c.Redirect(http.StatusSeeOther, req.URL)
	return "", true
}

// initiate is third-party-initiated login (OIDC Core §4): a provider's
// app launcher sends the browser here with its issuer (iss), perhaps a
// login_hint and the page to open (target_link_uri). It starts a normal
// sign-in (PKCE, state, nonce) with the provider whose issuer is exactly
// iss; target_link_uri is followed only to a page of this site (the same
// rule as next), otherwise to the dashboard.
func (h *Handler) initiate(c *gin.Context) {
	if !documentRequest(c.Request) {
		h.errorPage(c, http.StatusBadRequest, "Open this link in the browser", "A sign-in starts only from a page the browser opens, not from an image or a script.")
		return
	}
	iss := c.Query("iss")
	var p *sso.Provider
	for _, cand := range h.SSO.All() {
		if cand.IssuedBy(c.Request.Context(), iss) {
			p = cand
			break
		}
	}
	if p == nil {
		h.errorPage(c, http.StatusBadRequest, "Unknown provider", "This sign-in link names a provider gatehouse does not know. Start from the sign-in page.")
		return
	}
	next := h.sameSiteTarget(c.Query("target_link_uri"))
	if currentUser(c) != nil {
		c.Redirect(http.StatusSeeOther, or(next, "/dashboard"))
		return
	}
	hint := strings.TrimSpace(c.Query("login_hint"))
	if len(hint) > maxEmailLen || !models.IsText(hint) {
		hint = ""
	}
	if msg, ok := h.redirectToProvider(c, p, pendingStart{Mode: modeLogin, Next: next, LoginHint: hint}); !ok && msg != "" {
		h.errorPage(c, http.StatusServiceUnavailable, "Provider unavailable", msg)
	}
}

// documentRequest reports whether r is the browser opening a page
// (Sec-Fetch-Dest: document, or a client that does not say): a GET that
// starts a sign-in stores a row, and an <img> or a script on another site
// must not make every visitor store one.
func documentRequest(r *http.Request) bool {
	d := r.Header.Get("Sec-Fetch-Dest")
	return d == "" || d == "document"
}

// sameSiteTarget is the page of this site a target URL names (path and
// query, through SafeNext), or "" for any other site.
func (h *Handler) sameSiteTarget(target string) string {
	if strings.HasPrefix(target, "/") {
		return SafeNext(target)
	}
	u, err := url.Parse(target)
	base, _ := url.Parse(h.Config.BaseURL)
	if err != nil || base == nil || u.Scheme != base.Scheme || !strings.EqualFold(u.Host, base.Host) {
		return ""
	}
	return SafeNext(u.RequestURI())
}

// browserID returns this browser's binding cookie, setting one when absent.
// Pending logins are bound to it, so a callback URL (and its state) carried
// to another browser is refused: no login CSRF.
func (h *Handler) browserID(c *gin.Context) (string, error) {
	if v := h.browserToken(c); v != "" {
		return v, nil
	}
	v, err := sessionstore.NewToken(h.Rand)
	if err != nil {
		return "", err
	}
	h.setCookie(c, cookieBrowser, v, 0)
	return v, nil
}

// callback handles the provider's redirect back (OIDC Core §3.1.2.5).
func (h *Handler) callback(c *gin.Context) {
	// The URL carries code and state: no page reached from here may see it.
	c.Header("Referrer-Policy", "no-referrer")
	q := c.Request.URL.Query()
	state, code, iss := q.Get("state"), q.Get("code"), q.Get("iss")
	if len(state) > maxStateLen || len(code) > maxCodeLen || len(iss) > maxIssLen {
		h.errorPage(c, http.StatusBadRequest, "Sign-in failed", "The sign-in response was malformed. Please start again.")
		return
	}
	browser, err := h.cookie(c, cookieBrowser)
	if err != nil || state == "" {
		h.noPending(c, "callback without state or browser cookie")
		return
	}
	ctx := c.Request.Context()
	pending, err := h.DB.ConsumePendingLogin(ctx, sso.HashState(state), sessionstore.Hash(browser))
	if errors.Is(err, models.ErrNotFound) {
		h.noPending(c, "state unknown, used, expired or from another browser")
		return
	}
	if err != nil {
		h.serverError(c, "consume pending login", err)
		return
	}
	p, ok := h.SSO.ByID(pending.ProviderID)
	if !ok {
		h.ssoFailure(c, nil, "provider_removed", fmt.Errorf("provider %q no longer configured", pending.ProviderID))
		return
	}
	m := mode(pending.Mode)
	sp := sso.Pending{Nonce: pending.Nonce, CodeVerifier: pending.CodeVerifier}
	if m.reauth() {
		// The provider must show a sign-in since the request was stored.
		sp.AuthTimeNotBefore = pending.CreatedAt
	}
	if m == modeTest {
		sp.Evidence = &sso.Evidence{}
	}
	id, err := p.Exchange(ctx, sso.CallbackParams{
		Code: code, Iss: iss, Error: truncate(q.Get("error"), 256), ErrorDescription: truncate(q.Get("error_description"), 1024),
	}, sp)
	if m == modeTest {
		h.finishTest(c, p, pending, id, sp.Evidence, err)
		return
	}
	if err != nil {
		h.exchangeFailed(c, p, m, pending, err)
		return
	}
	switch m {
	case modeRefresh:
		h.finishRefresh(c, p, pending, id)
	case modeReauth, modeReauthCode:
		h.finishReauth(c, p, pending, id)
	case modeLink:
		h.finishLink(c, p, pending, id)
	default:
		h.finishLogin(c, p, pending.Next, id)
	}
}

// exchangeFailed answers a callback whose code exchange or token
// validation failed, on the page the round trip started from: a failed
// session check signs out, a failed re-authentication or account-page link
// shows that page's error, a failed sign-in the login error page.
func (h *Handler) exchangeFailed(c *gin.Context, p *sso.Provider, m mode, pending *models.PendingLogin, err error) {
	signedIn := currentUser(c) != nil && pending.UserID != nil && *pending.UserID == currentUser(c).ID
	switch {
	case m == modeRefresh:
		h.refreshFailed(c, p, err)
	case m.reauth() && signedIn:
		h.logSSOFailure(c, p, m.String(), err)
		status, _, msg := ssoProblem(p, err)
		h.renderReauth(c, status, pending.Next, msg)
	case m == modeLink && signedIn:
		h.logSSOFailure(c, p, m.String(), err)
		status, _, msg := ssoProblem(p, err)
		h.renderAccount(c, status, accountForm{IdentityError: msg})
	default:
		h.ssoFailure(c, p, "exchange", err)
	}
}

// ssoSecondFactor is the second factor an SSO sign-in gave: the
// provider's word (its configured mfa_amr and mfa_acr), else none. When
// the policy requires one of the account and the provider gave none, the
// session asks for the account's own (mfaGate); an account with none of
// its own is refused here, naming the provider. ok is false after the
// refusal.
func (h *Handler) ssoSecondFactor(c *gin.Context, p *sso.Provider, res *accounts.Resolution) (models.Factor, bool) {
	factor, ok, err := h.ssoMFAVerdict(c, p, res)
	if err != nil {
		h.serverError(c, "look up second factor", err)
		return "", false
	}
	if ok {
		return factor, true
	}
	h.audit(c, &models.Event{Kind: models.EventLoginFailure, UserID: &res.User.ID, Email: res.User.Email, Method: models.MethodSSO, ProviderID: p.ID(),
		Detail: "second factor required; the provider reported none", Trace: res.Trace.String()})
	h.errorPage(c, http.StatusForbidden, "Sign-in refused", fmt.Sprintf(
		"Your account must sign in with a second factor, and %s did not say this sign-in used one. Sign in with your password and authenticator app instead, or ask your administrator.", p.Name()))
	return "", false
}

// ssoMFAVerdict decides, and records in res.Trace, what the sign-in's
// second factor is: the provider's (FactorSSO), or none needed or the
// account's own asked next (FactorNone); ok is false when the policy
// requires one and neither the provider nor the account has one (refused).
func (h *Handler) ssoMFAVerdict(c *gin.Context, p *sso.Provider, res *accounts.Resolution) (f models.Factor, ok bool, err error) {
	said := fmt.Sprintf("the provider reported amr %v and acr %q", res.Identity.AMR, res.Identity.ACR)
	if p.MultiFactor(res.Identity) {
		res.Trace.Note(accounts.RuleMFA, accounts.VerdictPass, said+", which counts as a second factor (mfa_amr, mfa_acr)")
		return models.FactorSSO, true, nil
	}
	if !h.Accounts.MFARequired(res.User) {
		res.Trace.Note(accounts.RuleMFA, accounts.VerdictSkip, said+"; mfa.required_for does not cover this account")
		return models.FactorNone, true, nil
	}
	has, err := h.Accounts.HasSecondFactor(c.Request.Context(), res.User.ID)
	if err != nil {
		return "", false, err
	}
	if has {
		res.Trace.Note(accounts.RuleMFA, accounts.VerdictPass, said+", not a second factor: the account's own is asked next")
		return models.FactorNone, true, nil
	}
	res.Trace.Decide(accounts.RuleMFA, accounts.VerdictRefuse, said+", not a second factor, and the account, which must give one, has none")
	return "", false, nil
}

// finishLogin decides who the verified identity is and signs them in, sends
// them to prove their password, or explains the refusal.
func (h *Handler) finishLogin(c *gin.Context, p *sso.Provider, next string, id *sso.Identity) {
	ctx := c.Request.Context()
	res, err := h.Accounts.ResolveSSO(ctx, p.ID(), id)
	if err != nil {
		h.serverError(c, "resolve SSO identity", err)
		return
	}
	ev := &models.Event{Email: id.Email, Method: models.MethodSSO, ProviderID: p.ID(), Trace: res.Trace.String()}
	if res.User != nil {
		ev.UserID = &res.User.ID
	}
	switch res.Outcome {
	case accounts.OutcomeSignIn:
		if res.Created {
			h.audit(c, &models.Event{Kind: models.EventUserCreated, UserID: &res.User.ID, Email: res.User.Email, Method: models.MethodSSO, ProviderID: p.ID(), Detail: "just-in-time"})
		}
		if res.Linked {
			h.audit(c, &models.Event{Kind: models.EventIdentityLinked, UserID: &res.User.ID, Email: res.User.Email, Method: models.MethodSSO, ProviderID: p.ID(), Detail: linkDetail(res)})
		}
		h.auditAdminChange(c, res.User, p.ID(), res.Admin)
		factor, ok := h.ssoSecondFactor(c, p, res)
		if !ok {
			return
		}
		if h.signInTraced(c, res.User, sessionstore.SignIn{Method: models.MethodSSO, ProviderID: res.ProviderID, Identity: res.Identity, MFA: factor}, res.Trace) {
			h.rememberProvider(c, p)
			c.Redirect(http.StatusSeeOther, or(next, "/dashboard"))
		}
	case accounts.OutcomeNeedPassword:
		h.startLink(c, res, next)
	case accounts.OutcomeUseLinked:
		ev.Kind, ev.Detail = models.EventLoginFailure, "use_linked_provider"
		h.audit(c, ev)
		names := make([]string, len(res.Providers))
		for i, pid := range res.Providers {
			names[i] = h.SSO.Name(pid)
		}
		h.renderLogin(c, http.StatusConflict, loginForm{Email: res.User.Email, SSOMode: true,
			Error: fmt.Sprintf("An account for %s already exists and signs in with %s. Use that to sign in.", res.User.Email, strings.Join(names, ", "))})
	default:
		ev.Kind, ev.Detail = models.EventLoginFailure, res.Reason.String()
		h.audit(c, ev)
		h.log(c).InfoContext(ctx, "SSO sign-in refused", "provider", p.ID(), "reason", res.Reason)
		h.errorPage(c, http.StatusForbidden, "Sign-in refused", refusalMessage(res.Reason, id.Email, p.Name()))
	}
}

// auditAdminChange records what a sign-in's group sync did to u's admin
// flag, naming the provider and group.
func (h *Handler) auditAdminChange(c *gin.Context, u *models.User, providerID string, ch accounts.AdminChange) {
	switch {
	case ch.Granted:
		h.audit(c, &models.Event{Kind: models.EventAdminGranted, UserID: &u.ID, Email: u.Email, Method: models.MethodSSO, ProviderID: providerID, Detail: ch.Via})
	case ch.Revoked:
		h.audit(c, &models.Event{Kind: models.EventAdminRevoked, UserID: &u.ID, Email: u.Email, Method: models.MethodSSO, ProviderID: providerID, Detail: providerID + ": in none of admin_groups"})
	}
}

// linkDetail is the audit detail of an identity linked without a password.
func linkDetail(res *accounts.Resolution) string {
	if res.MigratedFrom != "" {
		return "migration from " + res.MigratedFrom
	}
	if res.Created {
		return "just-in-time account"
	}
	return "automatic (" + res.Policy.Link.String() + ")"
}

// refusalMessage explains a refused SSO sign-in to the person.
func refusalMessage(reason accounts.Reason, email, provider string) string {
	switch reason {
	case accounts.ReasonNoAccount:
		return fmt.Sprintf("There is no account for %s. Ask your administrator to create one.", email)
	case accounts.ReasonDisabled:
		return "This account is disabled. Ask your administrator."
	case accounts.ReasonNotInGroup:
		return fmt.Sprintf("You are not in a group that may sign in through %s. Ask your administrator.", provider)
	case accounts.ReasonLastAdminGroup:
		return fmt.Sprintf("%s no longer lists you in an administrators' group, but you are the last administrator, so you were not signed in. Make another administrator first.", provider)
	case accounts.ReasonLinkNever:
		return fmt.Sprintf("An account for %s already exists, and %s may not sign in to it. Sign in with your password instead.", email, provider)
	case accounts.ReasonNoEmail:
		return fmt.Sprintf("%s did not share a usable email address, so gatehouse cannot find your account.", provider)
	case accounts.ReasonEmailChanged:
		return fmt.Sprintf("The email address of the account for %s was changed recently, so %s cannot be linked to it automatically yet. Ask your administrator.", email, provider)
	case accounts.ReasonEmailLookalike:
		return fmt.Sprintf("The email address %s sent has characters that only look like those of %s, so gatehouse will not sign you in with it automatically. Ask your administrator.", provider, email)
	default:
		return fmt.Sprintf("An account for %s already exists, but it cannot be linked to %s automatically. Ask your administrator.", email, provider)
	}
}

// noPending answers a callback that matches no pending sign-in: expired,
// already used, started in another browser, or never started. Anyone can
// send one without a cookie, so it is counted and logged at debug level
// only, never audited: a flood of them writes nothing that grows. No
// sign-in was attempted, so it is no sign-in failure either.
func (h *Handler) noPending(c *gin.Context, why string) {
	h.Metrics.CallbackWithoutPending()
	h.log(c).DebugContext(c.Request.Context(), "SSO callback without a pending sign-in", "why", why)
	// Someone signed in who reloads or goes back to a used callback has
	// lost nothing; "Back to sign in" would send them to a form they do not
	// need.
	if currentUser(c) != nil {
		h.render(c, http.StatusBadRequest, "error", gin.H{
			"Title": "You are already signed in", "Back": "/dashboard", "BackLabel": "Go to your dashboard",
			"Message": "This sign-in link has expired, was already used, or was started in another browser, but you are signed in already: there is nothing more to do.",
		})
		c.Abort()
		return
	}
	h.render(c, http.StatusBadRequest, "error", gin.H{
		"Title": "Sign-in expired", "Back": "/login", "BackLabel": "Back to sign in",
		"Message": "This sign-in has expired, was already used, or was started in another browser. Please start again.",
	})
	c.Abort()
}

// ssoFailure logs why an SSO sign-in failed and shows a friendly page. The
// provider's error and description are shown (escaped), as the provider
// meant them for the user; validation details stay in the log.
func (h *Handler) ssoFailure(c *gin.Context, p *sso.Provider, stage string, err error) {
	h.logSSOFailure(c, p, stage, err)
	data := gin.H{"Back": "/login", "BackLabel": "Back to sign in"}
	status, title, msg := ssoProblem(p, err)
	data["Title"], data["Message"] = title, msg
	var authErr *sso.AuthorizationError
	if errors.As(err, &authErr) {
		data["Detail"] = authErr.Code
		if authErr.Description != "" {
			data["Detail"] = authErr.Code + ": " + authErr.Description
		}
	}
	h.render(c, status, "error", data)
	c.Abort()
}

// logSSOFailure logs and audits why a round trip to a provider failed;
// validation details stay in the log.
func (h *Handler) logSSOFailure(c *gin.Context, p *sso.Provider, stage string, err error) {
	pid := ""
	if p != nil {
		pid = p.ID()
	}
	h.log(c).WarnContext(c.Request.Context(), "SSO sign-in failed", "provider", pid, "stage", stage, "err", err)
	h.audit(c, &models.Event{Kind: models.EventLoginFailure, Method: models.MethodSSO, ProviderID: pid, Detail: truncate(stage+": "+err.Error(), 500)})
}

// ssoProblem is how a failed round trip to p is explained: the status, a
// title and a message for the person.
func ssoProblem(p *sso.Provider, err error) (status int, title, msg string) {
	name := "the sign-in provider"
	if p != nil {
		name = p.Name()
	}
	var authErr *sso.AuthorizationError
	switch {
	case errors.As(err, &authErr):
		return http.StatusBadRequest, "Sign-in with " + name + " failed", name + " did not sign you in."
	case errors.Is(err, sso.ErrUnavailable):
		return http.StatusServiceUnavailable, "Provider unavailable", name + " is not answering right now. Please try again in a moment."
	case errors.Is(err, sso.ErrNotReauthenticated):
		return http.StatusForbidden, "Not confirmed", name + " did not ask you to sign in again, so it could not confirm it's you. Please try again."
	case errors.Is(err, sso.ErrGroupsOverage):
		return http.StatusForbidden, "Too many groups", name + " left your groups out of its answer because you are in too many, so gatehouse cannot tell whether you may sign in. " +
			"An administrator of " + name + " must limit the groups it sends (Entra ID: the app registration's Token configuration, groups claim, \"Groups assigned to the application\")."
	case errors.Is(err, sso.ErrGroupsMissing):
		return http.StatusForbidden, "Groups missing", name + " did not send your groups (the \"" + p.GroupsClaim() + "\" claim), which decide who may sign in and who is an administrator, so you were not signed in. Ask your administrator to have " + name + " send it."
	}
	return http.StatusBadRequest, "Sign-in failed", "The answer from " + name + " could not be verified, so you were not signed in. Please try again."
}

// loggedOut is where providers send the browser back after RP-initiated
// logout. Whatever state comes back, the local session is already gone.
func (h *Handler) loggedOut(c *gin.Context) {
	c.Redirect(http.StatusSeeOther, "/login?notice=signed_out")
}

// endSession deletes the local session first and then, for a session from a
// provider with an end_session_endpoint, returns the URL that ends the
// provider's session too (RP-Initiated Logout 1.0 §2).
func (h *Handler) endSession(c *gin.Context) (string, error) {
	s := ginsessions.Default(c)
	var pid, idToken string
	if row := sessionstore.Current(s); row != nil {
		pid, idToken = row.ProviderID, row.IDToken
	}
	if err := sessionstore.End(s); err != nil {
		return "", err
	}
	p, ok := h.SSO.ByID(pid)
	if !ok || idToken == "" {
		return "", nil
	}
	state, err := sessionstore.NewToken(h.Rand)
	if err != nil {
		h.log(c).WarnContext(c.Request.Context(), "logout state; ending the local session only", "provider", pid, "err", err)
		return "", nil
	}
	u, has, err := p.EndSessionURL(c.Request.Context(), idToken, state)
	if err != nil || !has {
		if err != nil {
			h.log(c).WarnContext(c.Request.Context(), "build end-session URL; ending the local session only", "provider", pid, "err", err)
		}
		return "", nil
	}
	return u, nil
}
