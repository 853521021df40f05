package handlers

// The admin console's providers page (/admin/providers) and its "Test
// sign-in": a real authorization code flow (PKCE, state, nonce) whose
// callback shows the decision trace, what the sign-in would do and why,
// and changes nothing: no session, no account, no identity, no audit row.
// The validated claims are shown to the administrator on the page and go
// nowhere else, never to the log.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sso"
	"github.com/gin-gonic/gin"
)

// providerView is one provider on the providers page.
type providerView struct {
	ID, Name, Issuer, Kind     string
	Link                       string
	AutoCreate                 bool
	AdminGroups, AllowedGroups string
	EmailDomains               string
	OfflineCheck               string
}

func (h *Handler) adminProviders(c *gin.Context) {
	var views []providerView
	for _, p := range h.SSO.All() {
		cfg := p.Config()
		pol := h.Accounts.Policy(p.ID())
		v := providerView{
			ID: p.ID(), Name: p.Name(), Issuer: p.Issuer(), Kind: string(cfg.Kind), Link: pol.Link.String(), AutoCreate: pol.AutoCreate,
			AdminGroups: strings.Join(cfg.AdminGroups, ", "), AllowedGroups: strings.Join(cfg.AllowedGroups, ", "),
			EmailDomains: strings.Join(cfg.EmailDomains, ", "),
		}
		if pol.OfflineCheck > 0 {
			v.OfflineCheck = pol.OfflineCheck.String()
		}
		views = append(views, v)
	}
	h.render(c, http.StatusOK, "admin_providers", gin.H{"Providers": views, "Error": c.Query("error")})
}

// adminTestProvider starts the test sign-in: the administrator signs in at
// the provider as whoever they test (prompt=login, so the provider asks).
func (h *Handler) adminTestProvider(c *gin.Context) {
	p, ok := h.SSO.ByID(c.Param("id"))
	if !ok {
		h.errorPage(c, http.StatusNotFound, "No such provider", "There is no sign-in provider with that id.")
		return
	}
	u := currentUser(c)
	if msg, ok := h.redirectToProvider(c, p, pendingStart{Mode: modeTest, Next: "/admin/providers", Prompt: promptAnew(p), UserID: &u.ID}); !ok && msg != "" {
		h.errorPage(c, http.StatusServiceUnavailable, "Provider unavailable", msg)
	}
}

// claimRow is one claim, as the ID token and UserInfo gave it.
type claimRow struct {
	Name, IDToken, Userinfo string
}

// finishTest shows what the test sign-in would do. Only the administrator
// who started it, still an administrator in sudo mode, sees the page.
func (h *Handler) finishTest(c *gin.Context, p *sso.Provider, pending *models.PendingLogin, id *sso.Identity, ev *sso.Evidence, exchangeErr error) {
	u := currentUser(c)
	if u == nil || !u.IsAdmin || pending.UserID == nil || *pending.UserID != u.ID || !h.recentAuth(c) {
		h.errorPage(c, http.StatusForbidden, "Test sign-in refused", "Only the administrator who started a provider test, still confirmed as themselves, sees its result. Start the test again from the providers page.")
		return
	}
	ctx := c.Request.Context()
	data := gin.H{"Provider": p.Name(), "ProviderID": p.ID(), "Evidence": ev, "Claims": claimRows(ev)}
	if meta, err := p.Metadata(ctx); err == nil {
		data["Metadata"] = meta
		data["Static"] = p.Config().Metadata != nil
	}
	if exchangeErr != nil {
		_, title, msg := ssoProblem(p, exchangeErr)
		data["Failure"] = gin.H{"Title": title, "Message": msg, "Detail": exchangeErr.Error()}
		h.render(c, http.StatusOK, "admin_provider_test", data)
		return
	}
	res, err := h.Accounts.TraceSSO(ctx, p.ID(), id)
	if err != nil {
		h.serverError(c, "trace SSO sign-in", err)
		return
	}
	res.Trace.Steps = append([]accounts.Step{h.routingStep(p, id)}, res.Trace.Steps...)
	if res.Outcome == accounts.OutcomeSignIn {
		if _, _, err := h.ssoMFAVerdict(c, p, res); err != nil {
			h.serverError(c, "look up second factor", err)
			return
		}
	}
	decisive, _ := res.Trace.Decisive()
	data["Outcome"] = testOutcome(res)
	data["Decisive"] = decisive
	data["Trace"] = res.Trace
	data["Subject"], data["Issuer"] = id.Subject, id.Issuer
	h.render(c, http.StatusOK, "admin_provider_test", data)
}

// routingStep says which provider an address at the person's domain is
// sent to by "Sign in with SSO" (email_domains), beside the button this
// test (or the person) chose.
func (h *Handler) routingStep(p *sso.Provider, id *sso.Identity) accounts.Step {
	s := accounts.Step{Rule: accounts.RuleRouting, Verdict: accounts.VerdictPass}
	routed, choice := h.SSO.ForEmail(id.Email)
	domain := sso.EmailDomain(id.Email)
	switch {
	case domain == "":
		s.Detail = "no address: the person picks the provider's button"
	case choice == sso.ChoiceDomain && routed.ID() == p.ID():
		s.Detail = fmt.Sprintf("addresses at %s are sent to %s (its email_domains)", domain, p.Name())
	case choice == sso.ChoiceDomain:
		s.Verdict = accounts.VerdictSkip
		s.Detail = fmt.Sprintf("addresses at %s are sent to %s, not to %s: the person reaches %s only by its button", domain, routed.Name(), p.Name(), p.Name())
	case choice == sso.ChoiceOnly:
		s.Detail = fmt.Sprintf("no provider claims %s; %s is the only provider", domain, p.Name())
	default:
		s.Detail = fmt.Sprintf("no provider claims %s (email_domains): the person picks %s's button", domain, p.Name())
	}
	return s
}

// testOutcome says in a sentence what the sign-in would have done.
func testOutcome(res *accounts.Resolution) string {
	who := ""
	if res.User != nil {
		who = fmt.Sprintf(" (account %d, %s)", res.User.ID, res.User.Email)
	}
	if d, ok := res.Trace.Decisive(); ok && d.Rule == accounts.RuleMFA && d.Verdict == accounts.VerdictRefuse {
		return "Refused" + who + ": a second factor is required and neither the provider nor the account gives one."
	}
	switch res.Outcome {
	case accounts.OutcomeSignIn:
		verb := "Signs in to"
		switch {
		case res.Created:
			verb = "Creates and signs in to a new account"
		case res.Linked:
			verb = "Links this sign-in to and signs in to"
		}
		admin := ""
		switch {
		case res.Admin.Granted:
			admin = ", made an administrator (" + res.Admin.Via + ")"
		case res.Admin.Revoked:
			admin = ", no longer an administrator"
		case res.User.IsAdmin:
			admin = ", an administrator"
		}
		return verb + who + admin + "."
	case accounts.OutcomeNeedPassword:
		return "Asks for the account's password to link" + who + "."
	case accounts.OutcomeUseLinked:
		return "Refused" + who + ": the account signs in with " + strings.Join(res.Providers, ", ") + "."
	}
	return "Refused" + who + ": " + res.Reason.String() + "."
}

// maxClaimShown bounds one claim's shown value.
const maxClaimShown = 300

// claimRows lays the ID token's and UserInfo's claims side by side, by
// name; nil without evidence.
func claimRows(ev *sso.Evidence) []claimRow {
	if ev == nil {
		return nil
	}
	var idt, info map[string]json.RawMessage
	_ = json.Unmarshal(ev.IDToken, &idt)
	_ = json.Unmarshal(ev.Userinfo, &info)
	names := make([]string, 0, len(idt)+len(info))
	for k := range idt {
		names = append(names, k)
	}
	for k := range info {
		if _, ok := idt[k]; !ok {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	rows := make([]claimRow, len(names))
	for i, k := range names {
		rows[i] = claimRow{Name: k, IDToken: shownClaim(k, idt[k]), Userinfo: shownClaim(k, info[k])}
	}
	return rows
}

// shownClaim is a claim's value as the page shows it: its JSON, times
// also as dates, cut to maxClaimShown.
func shownClaim(name string, raw json.RawMessage) string {
	if raw == nil {
		return ""
	}
	s := string(raw)
	switch name {
	case "exp", "iat", "nbf", "auth_time", "updated_at":
		var n float64
		if json.Unmarshal(raw, &n) == nil {
			s += " (" + time.Unix(int64(n), 0).UTC().Format(time.DateTime) + " UTC)"
		}
	}
	if c := models.Clip(s, maxClaimShown); len(c) < len(s) {
		s = c + "…"
	}
	return s
}

// identityEvent is one sign-in event on the identity page, with its trace.
type identityEvent struct {
	When, WhenISO, Kind, Detail string
	Trace                       *accounts.Trace
}

// adminIdentityPage shows one SSO identity: what the provider last said
// of it (confirmed, revoked), its offline check, and the decision trace
// of each recent sign-in through it, so "why is Alice not an
// administrator" is answered here.
func (h *Handler) adminIdentityPage(c *gin.Context) {
	u, ok := h.adminTarget(c)
	if !ok {
		return
	}
	iid, err := strconv.ParseInt(c.Param("iid"), 10, 64)
	if err != nil || iid < 1 {
		h.adminNotFound(c)
		return
	}
	ctx := c.Request.Context()
	ident, err := h.DB.IdentityByID(ctx, u.ID, iid)
	if errors.Is(err, models.ErrNotFound) {
		h.adminNotFound(c)
		return
	}
	if err != nil {
		h.serverError(c, "find identity", err)
		return
	}
	events, err := h.DB.IdentityEvents(ctx, u.ID, ident.ProviderID, 10)
	if err != nil {
		h.serverError(c, "list identity events", err)
		return
	}
	evs := make([]identityEvent, len(events))
	for i, e := range events {
		evs[i] = identityEvent{When: formatWhen(&e.CreatedAt), WhenISO: isoTime(&e.CreatedAt), Kind: e.Kind.String(), Detail: e.Detail, Trace: accounts.ParseTrace(e.Trace)}
	}
	pol := h.Accounts.Policy(ident.ProviderID)
	h.render(c, http.StatusOK, "admin_identity", gin.H{
		"Target": u, "Identity": ident, "Provider": h.SSO.Name(ident.ProviderID), "Events": evs,
		"Linked": formatWhen(&ident.CreatedAt), "LastUsed": formatWhen(ident.LastLoginAt),
		"Confirmed": formatWhen(ident.ConfirmedAt), "ConfirmedISO": isoTime(ident.ConfirmedAt),
		"Revoked": formatWhen(ident.RevokedAt), "RevokedISO": isoTime(ident.RevokedAt),
		"NextCheck": formatWhen(ident.CheckAt), "OfflineCheck": pol.OfflineCheck, "HasRefresh": len(ident.RefreshToken) > 0,
	})
}
