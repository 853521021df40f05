package handlers_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sso"
)

// TestAdminRekey: the console shows the plan of a mapping and changes
// nothing until it is applied; applying moves the sign-in, audited with
// the administrator; bad input is a 400; users may not.
func TestAdminRekey(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{providers: []config.Provider{staticProvider("acme", "Acme", "")}})
	const iss = "http://127.0.0.1:9/acme"
	u := e.user(t, alice)
	if err := e.db.CreateIdentity(t.Context(), models.NewIdentity(u.ID, "acme", &sso.Identity{Issuer: iss, Subject: "s1", Email: alice})); err != nil {
		t.Fatal(err)
	}
	admin := e.signedIn(t, rootAdmin, goodPW)
	admin.get(t, "/admin/identities/rekey").want(t, http.StatusOK, "").has(t, `id="rekey-form"`)
	form := url.Values{"provider": {"acme"}, "mapping": {"s1,n1\nzz,n2\n"}}
	admin.post(t, "/admin/identities/rekey", form).want(t, http.StatusOK, "").has(t, "Plan: 1 changes, 0 conflicts, 1 unmatched", `id="rekey-apply"`)
	if _, err := e.db.IdentityBySubject(t.Context(), iss, "s1"); err != nil {
		t.Fatalf("the plan changed the sign-in: %v", err)
	}
	form.Set("apply", "1")
	admin.post(t, "/admin/identities/rekey", form).want(t, http.StatusOK, "").has(t, "1 sign-in re-keyed")
	if _, err := e.db.IdentityBySubject(t.Context(), iss, "n1"); err != nil {
		t.Fatalf("not re-keyed: %v", err)
	}
	evs := e.events(t, models.EventIdentityRekeyed)
	if len(evs) != 1 || evs[0].ActorID == nil || evs[0].Method != models.MethodAdmin {
		t.Fatalf("audit: %+v", evs)
	}
	admin.post(t, "/admin/identities/rekey", url.Values{"provider": {"acme"}}).want(t, http.StatusBadRequest, "")
	admin.post(t, "/admin/identities/rekey", url.Values{"provider": {"acme"}, "mapping": {"\"unclosed"}}).want(t, http.StatusBadRequest, "")
	admin.post(t, "/admin/identities/rekey", url.Values{"provider": {"nope"}, "claim": {"oid"}}).want(t, http.StatusBadRequest, "")
	e.signedIn(t, bob, goodPW).get(t, "/admin/identities/rekey").want(t, http.StatusForbidden, "")
}
