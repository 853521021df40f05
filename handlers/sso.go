package handlers

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
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
	// Callback parameter caps: anything longer is not a real response.
	maxStateLen = 512
	maxCodeLen  = 4096
	maxIssLen   = 2048
)

// Sign-in modes stored with a pending login.
const (
	modeLogin   = "login"
	modeRefresh = "refresh" // prompt=none check of the provider session
	modeReauth  = "reauth"  // sudo mode through the provider
	modeLink    = "link"    // attach another provider from the account page
)

// startSSO begins "Sign in with SSO": pick the provider, remember the
// request server side, and send the browser to the provider.
func (h *Handler) startSSO(c *gin.Context, f loginForm) {
	if h.SSO.Len() == 0 {
		f.Error = loginMessages["sso_not_configured"]
		h.renderLogin(c, http.StatusBadRequest, f)
		return
	}
	email := models.NormalizeEmail(f.Email)
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
		if d := models.EmailDomain(email); d != "" {
			f.Error, status = fmt.Sprintf("SSO is not set up for %s. Choose a provider below or sign in with your password.", d), http.StatusBadRequest
		}
		h.renderLogin(c, status, f)
		return
	}
	h.redirectToProvider(c, p, pendingStart{Mode: modeLogin, Next: f.Next, LoginHint: email}, f)
}

// pendingStart is what a redirect to a provider should come back to.
type pendingStart struct {
	Mode, Next, LoginHint, Prompt string
	UserID                        *int64
}

func (h *Handler) redirectToProvider(c *gin.Context, p *sso.Provider, ps pendingStart, f loginForm) {
	ctx := c.Request.Context()
	req, err := p.AuthCodeURL(ctx, sso.AuthOptions{LoginHint: ps.LoginHint, Prompt: ps.Prompt})
	if err != nil {
		h.log(c).WarnContext(ctx, "start SSO", "provider", p.ID(), "err", err)
		f.SSOMode = true
		f.Error = fmt.Sprintf("%s is not answering right now. Please try again in a moment.", p.Name())
		if !errors.Is(err, sso.ErrUnavailable) {
			f.Error = fmt.Sprintf("Sign-in with %s is not working right now. Please tell your administrator.", p.Name())
		}
		h.renderLogin(c, http.StatusServiceUnavailable, f)
		return
	}
	browser, err := h.browserID(c)
	if err != nil {
		h.serverError(c, "random token", err)
		return
	}
	pending := &models.PendingLogin{
		StateHash: sso.HashState(req.State), BrowserHash: sessionstore.Hash(browser),
		ProviderID: p.ID(), Nonce: req.Nonce, CodeVerifier: req.CodeVerifier,
		Next: ps.Next, Mode: ps.Mode, UserID: ps.UserID,
	}
	if err := h.DB.CreatePendingLogin(ctx, pending, pendingTTL, maxPendingPerBrowser); err != nil {
		h.serverError(c, "store pending login", err)
		return
	}
	c.Redirect(http.StatusSeeOther, req.URL)
}

// browserID returns this browser's binding cookie, setting one when absent.
// Pending logins are bound to it, so a callback URL (and its state) carried
// to another browser is refused: no login CSRF.
func (h *Handler) browserID(c *gin.Context) (string, error) {
	if v, err := c.Cookie(h.browserCookie()); err == nil && sessionstore.ValidToken(v) {
		return v, nil
	}
	v, err := sessionstore.NewToken(h.Rand)
	if err != nil {
		return "", err
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: h.browserCookie(), Value: v, Path: "/", HttpOnly: true,
		Secure: h.Config.Secure(), SameSite: http.SameSiteLaxMode,
	})
	return v, nil
}

func (h *Handler) browserCookie() string {
	if h.Config.Secure() {
		return "__Host-gatehouse_sso"
	}
	return "gatehouse_sso"
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
	browser, err := c.Cookie(h.browserCookie())
	if err != nil || state == "" {
		h.ssoFailure(c, nil, "no_pending", errors.New("callback without state or browser cookie"))
		return
	}
	ctx := c.Request.Context()
	pending, err := h.DB.ConsumePendingLogin(ctx, sso.HashState(state), sessionstore.Hash(browser))
	if errors.Is(err, models.ErrNotFound) {
		h.ssoFailure(c, nil, "no_pending", errors.New("state unknown, used, expired or from another browser"))
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
	id, err := p.Exchange(ctx, sso.CallbackParams{
		Code: code, Iss: iss, Error: truncate(q.Get("error"), 256), ErrorDescription: truncate(q.Get("error_description"), 1024),
	}, sso.Pending{Nonce: pending.Nonce, CodeVerifier: pending.CodeVerifier})
	switch pending.Mode {
	case modeRefresh:
		h.finishRefresh(c, p, pending, id, err)
		return
	case modeReauth:
		h.finishReauth(c, p, pending, id, err)
		return
	case modeLink:
		h.finishLink(c, p, pending, id, err)
		return
	}
	if err != nil {
		h.ssoFailure(c, p, "exchange", err)
		return
	}
	h.finishSSO(c, p, pending.Next, id)
}

// finishSSO decides who the verified identity is and signs them in, sends
// them to prove their password, or explains the refusal.
func (h *Handler) finishSSO(c *gin.Context, p *sso.Provider, next string, id *sso.Identity) {
	ctx := c.Request.Context()
	pc := h.provider(p.ID())
	res, err := h.Accounts.ResolveSSO(ctx, accounts.SSOPolicy{
		ProviderID: p.ID(), Link: pc.Link, EmailDomains: pc.EmailDomains, AutoCreate: pc.AutoCreate,
	}, accounts.SSOIdentity{
		Issuer: id.Issuer, Subject: id.Subject, Email: id.Email, EmailVerified: id.EmailVerified,
		Name: id.Name, Claims: string(id.Claims),
	})
	if err != nil {
		h.serverError(c, "resolve SSO identity", err)
		return
	}
	ev := &models.Event{Email: id.Email, Method: models.MethodSSO, ProviderID: p.ID()}
	if res.User != nil {
		ev.UserID = &res.User.ID
	}
	switch res.Outcome {
	case accounts.OutcomeSignIn:
		if res.Created {
			h.audit(c, &models.Event{Kind: models.EventUserCreated, UserID: &res.User.ID, Email: res.User.Email, Method: models.MethodSSO, ProviderID: p.ID(), Detail: "just-in-time"})
		}
		if res.Linked {
			h.audit(c, &models.Event{Kind: models.EventIdentityLinked, UserID: &res.User.ID, Email: res.User.Email, Method: models.MethodSSO, ProviderID: p.ID(), Detail: h.linkDetail(pc, res)})
		}
		if h.signIn(c, res.User, ssoSignIn(p, id)) {
			c.Redirect(http.StatusSeeOther, or(next, "/dashboard"))
		}
	case accounts.OutcomeNeedPassword:
		h.startLink(c, p, res.User, id, next)
	case accounts.OutcomeUseLinked:
		ev.Kind, ev.Detail = models.EventLoginFailure, "use_linked_provider"
		h.audit(c, ev)
		names := ""
		for i, pid := range res.Providers {
			if i > 0 {
				names += ", "
			}
			names += h.providerName(pid)
		}
		h.renderLogin(c, http.StatusConflict, loginForm{Email: res.User.Email, SSOMode: true,
			Error: fmt.Sprintf("An account for %s already exists and signs in with %s. Use that to sign in.", res.User.Email, names)})
	default:
		ev.Kind, ev.Detail = models.EventLoginFailure, res.Reason
		h.audit(c, ev)
		h.log(c).InfoContext(ctx, "SSO sign-in refused", "provider", p.ID(), "reason", res.Reason)
		h.errorPage(c, http.StatusForbidden, "Sign-in refused", refusalMessage(res.Reason, id.Email, p.Name()))
	}
}

func (h *Handler) linkDetail(pc config.Provider, res *accounts.Resolution) string {
	if res.Created {
		return "just-in-time account"
	}
	return "automatic (" + pc.Link.String() + ")"
}

func ssoSignIn(p *sso.Provider, id *sso.Identity) sessionstore.SignIn {
	return sessionstore.SignIn{
		Method: models.MethodSSO, ProviderID: p.ID(), Issuer: id.Issuer, Subject: id.Subject,
		SID: id.SID, IDToken: id.IDToken, AuthTime: id.AuthTime,
	}
}

// refusalMessage explains a refused SSO sign-in to the person.
func refusalMessage(reason, email, provider string) string {
	switch reason {
	case accounts.ReasonNoAccount:
		return fmt.Sprintf("There is no account for %s. Ask your administrator to create one.", email)
	case accounts.ReasonDisabled:
		return "This account is disabled. Ask your administrator."
	case accounts.ReasonLinkNever:
		return fmt.Sprintf("An account for %s already exists, and %s may not sign in to it. Sign in with your password instead.", email, provider)
	case accounts.ReasonNoEmail:
		return fmt.Sprintf("%s did not share an email address, so gatehouse cannot find your account.", provider)
	default:
		return fmt.Sprintf("An account for %s already exists, but it cannot be linked to %s automatically. Ask your administrator.", email, provider)
	}
}

// ssoFailure logs why an SSO sign-in failed and shows a friendly page. The
// provider's error and description are shown (escaped), as the provider
// meant them for the user; validation details stay in the log.
func (h *Handler) ssoFailure(c *gin.Context, p *sso.Provider, stage string, err error) {
	ctx := c.Request.Context()
	name, pid := "the sign-in provider", ""
	if p != nil {
		name, pid = p.Name(), p.ID()
	}
	h.log(c).WarnContext(ctx, "SSO sign-in failed", "provider", pid, "stage", stage, "err", err)
	h.audit(c, &models.Event{Kind: models.EventLoginFailure, Method: models.MethodSSO, ProviderID: pid, Detail: truncate(stage+": "+err.Error(), 500)})
	data := gin.H{"Back": "/login", "BackLabel": "Back to sign in"}
	var authErr *sso.AuthorizationError
	switch {
	case errors.As(err, &authErr):
		data["Title"] = "Sign-in with " + name + " failed"
		data["Message"] = name + " did not sign you in."
		data["Detail"] = authErr.Code
		if authErr.Description != "" {
			data["Detail"] = authErr.Code + ": " + authErr.Description
		}
		h.render(c, http.StatusBadRequest, "error", data)
	case errors.Is(err, sso.ErrUnavailable):
		data["Title"], data["Message"] = "Provider unavailable", name+" is not answering right now. Please try again in a moment."
		h.render(c, http.StatusServiceUnavailable, "error", data)
	case stage == "no_pending":
		data["Title"], data["Message"] = "Sign-in expired", "This sign-in has expired, was already used, or was started in another browser. Please start again."
		h.render(c, http.StatusBadRequest, "error", data)
	default:
		data["Title"], data["Message"] = "Sign-in failed", "The answer from "+name+" could not be verified, so you were not signed in. Please try again."
		h.render(c, http.StatusBadRequest, "error", data)
	}
	c.Abort()
}

// provider returns the configuration of a provider by ID.
func (h *Handler) provider(id string) config.Provider {
	for _, p := range h.Config.Providers {
		if p.ID == id {
			return p
		}
	}
	return config.Provider{ID: id, Name: id, Link: accounts.LinkPassword}
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
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	u, has, err := p.EndSessionURL(c.Request.Context(), idToken, base64.RawURLEncoding.EncodeToString(b))
	if err != nil || !has {
		if err != nil {
			h.log(c).WarnContext(c.Request.Context(), "build end-session URL; ending the local session only", "provider", pid, "err", err)
		}
		return "", nil
	}
	return u, nil
}
