package handlers

// The admin console's re-keying page (/admin/identities/rekey): the same
// plan as "gatehouse identities rekey", from a pasted CSV mapping or a
// stored claim, shown before anything changes; applying it needs sudo and
// makes every change in one transaction, audited per identity.

import (
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gin-gonic/gin"
)

// maxRekeyMapping bounds the pasted mapping (the form's own limit is
// MaxFormBytes); larger ones go through the command line.
const maxRekeyMapping = MaxFormBytes - 1024

// rekeyForm is what the page was given.
type rekeyForm struct {
	Provider, Mapping, Claim string
}

func (h *Handler) adminRekeyPage(c *gin.Context) {
	h.renderRekey(c, http.StatusOK, rekeyForm{}, nil, "", "")
}

func (h *Handler) renderRekey(c *gin.Context, status int, f rekeyForm, plan *accounts.RekeyPlan, msg, done string) {
	var providers []providerButton
	for _, p := range h.SSO.All() {
		providers = append(providers, providerButton{ID: p.ID(), Name: p.Name()})
	}
	h.render(c, status, "admin_rekey", gin.H{"Form": f, "Providers": providers, "Plan": plan, "Error": msg, "Done": done})
}

// adminRekey shows the plan of the form, or with apply=1 carries it out.
func (h *Handler) adminRekey(c *gin.Context) {
	if !h.parseForm(c) {
		return
	}
	f := rekeyForm{Provider: c.PostForm("provider"), Mapping: c.PostForm("mapping"), Claim: strings.TrimSpace(c.PostForm("claim"))}
	if (f.Mapping == "") == (f.Claim == "") || len(f.Mapping) > maxRekeyMapping {
		h.renderRekey(c, http.StatusBadRequest, f, nil, "Paste a mapping (old subject, new subject[, new issuer] per line) or name a claim: one of the two.", "")
		return
	}
	ctx := c.Request.Context()
	var plan *accounts.RekeyPlan
	rows, err := accounts.ParseRekeyCSV(strings.NewReader(f.Mapping))
	if err == nil && f.Mapping != "" {
		plan, err = h.Accounts.PlanRekeyCSV(ctx, f.Provider, rows)
	} else if err == nil {
		plan, err = h.Accounts.PlanRekeyClaim(ctx, f.Provider, f.Claim)
	}
	if msg, status, refused := refusal(err); refused {
		h.renderRekey(c, status, f, nil, msg, "")
		return
	}
	if err != nil {
		h.serverError(c, "plan rekey", err)
		return
	}
	if c.PostForm("apply") != "1" {
		h.renderRekey(c, http.StatusOK, f, plan, "", "")
		return
	}
	err = h.Accounts.ApplyRekey(ctx, plan, currentUser(c))
	if msg, status, refused := refusal(err); refused {
		h.renderRekey(c, status, f, plan, msg, "")
		return
	}
	if err != nil {
		h.serverError(c, "apply rekey", err)
		return
	}
	h.renderRekey(c, http.StatusOK, rekeyForm{}, nil, "", plural(int64(len(plan.Changes)), "sign-in")+" re-keyed.")
}
