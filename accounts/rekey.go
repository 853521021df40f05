package accounts

// Re-keying identities: when a provider's identifiers change (a new
// tenant, a new app registration, a provider replaced), each identity's
// (issuer, subject) is moved to the new one, so every account keeps its
// sign-in. Never by email: the operator names the mapping (a CSV of old
// and new subjects) or a stable claim the stored claims carry (oid, an
// employee number). A plan is computed first and shown; applying it moves
// every identity of the plan in one transaction, or none, and refuses a
// plan with conflicts (a key taken meanwhile fails on the unique key).

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sso"
)

// maxRekey bounds the identities one plan reads.
const maxRekey = 100_000

// RekeyRow is one line of a mapping: an identity's old subject, its new
// subject and, when it changes too, its new issuer.
type RekeyRow struct {
	OldSubject, NewSubject, NewIssuer string
}

// RekeyChange is one identity a plan moves.
type RekeyChange struct {
	IdentityID, UserID    int64
	Email                 string
	OldIssuer, OldSubject string
	NewIssuer, NewSubject string
}

// RekeyPlan is what re-keying would do: the changes, the conflicts that
// stop it, and the rows or identities it could not match.
type RekeyPlan struct {
	Changes   []RekeyChange
	Conflicts []string
	Unmatched []string
}

// ErrRekeyConflicts refuses to apply a plan with conflicts.
var ErrRekeyConflicts = conflict("The plan has conflicts: resolve them (or leave their rows out) and try again.")

// PlanRekeyCSV plans re-keying providerID's identities by rows.
func (s *Service) PlanRekeyCSV(ctx context.Context, providerID string, rows []RekeyRow) (*RekeyPlan, error) {
	return s.planRekey(ctx, s.DB, providerID, func(ids []models.Identity) ([]RekeyChange, []string, error) {
		bySubject := map[string]*models.Identity{}
		ambiguous := map[string]bool{}
		for i := range ids {
			if bySubject[ids[i].Subject] != nil {
				ambiguous[ids[i].Subject] = true
			}
			bySubject[ids[i].Subject] = &ids[i]
		}
		var out []RekeyChange
		var unmatched []string
		seen := map[string]bool{}
		for _, r := range rows {
			if seen[r.OldSubject] {
				return nil, nil, fmt.Errorf("old subject %q appears twice", r.OldSubject)
			}
			seen[r.OldSubject] = true
			id, ok := bySubject[r.OldSubject]
			if ambiguous[r.OldSubject] {
				unmatched = append(unmatched, "subject "+r.OldSubject+" names identities of "+providerID+" under several issuers: re-key them with --by-claim, or one issuer at a time")
				continue
			}
			if !ok {
				unmatched = append(unmatched, "no identity of "+providerID+" has subject "+r.OldSubject)
				continue
			}
			out = append(out, change(id, or(r.NewIssuer, id.Issuer), r.NewSubject))
		}
		return out, unmatched, nil
	})
}

// PlanRekeyClaim plans re-keying providerID's identities onto the value
// of claim in each one's stored claims (the claims of its last sign-in):
// for a provider moved to subject_claim, say.
func (s *Service) PlanRekeyClaim(ctx context.Context, providerID, claim string) (*RekeyPlan, error) {
	return s.planRekey(ctx, s.DB, providerID, func(ids []models.Identity) ([]RekeyChange, []string, error) {
		var out []RekeyChange
		var unmatched []string
		for i := range ids {
			v := claimString(ids[i].Claims, claim)
			if v == "" {
				unmatched = append(unmatched, fmt.Sprintf("%s (subject %s) has no %s claim", ids[i].Email, ids[i].Subject, claim))
				continue
			}
			if v == ids[i].Subject {
				continue
			}
			out = append(out, change(&ids[i], ids[i].Issuer, v))
		}
		return out, unmatched, nil
	})
}

// issuerFor reports whether a new issuer may key providerID's identities:
// an https URL (http on loopback), of bounded length, that no other
// configured provider uses (its sign-ins would land on this provider's
// identities).
func (s *Service) issuerFor(providerID, issuer string) bool {
	if len(issuer) > 2048 || !models.IsText(issuer) || sso.HasInvisible(issuer) {
		return false
	}
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopbackHost(u.Hostname()))) {
		return false
	}
	for id, p := range s.Providers {
		if id != providerID && p.Issuer == issuer {
			return false
		}
	}
	return true
}

// loopbackHost reports whether host is localhost or a loopback address.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func change(id *models.Identity, issuer, subject string) RekeyChange {
	return RekeyChange{
		IdentityID: id.ID, UserID: id.UserID, Email: id.Email,
		OldIssuer: id.Issuer, OldSubject: id.Subject, NewIssuer: issuer, NewSubject: subject,
	}
}

// claimString is a claim of a stored claims snapshot when it is a string.
func claimString(claims, name string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(claims), &m) != nil {
		return ""
	}
	var v string
	if json.Unmarshal(m[name], &v) != nil {
		return ""
	}
	return v
}

// planRekey reads the provider's identities (in db) and checks the
// changes match proposes: a new key must be a valid subject, taken by no
// other identity (unless that one moves away in the same plan), and by no
// two changes.
func (s *Service) planRekey(ctx context.Context, db *models.DB, providerID string, match func([]models.Identity) ([]RekeyChange, []string, error)) (*RekeyPlan, error) {
	if _, ok := s.Providers[providerID]; !ok {
		return nil, invalid("No provider " + providerID + " is configured.")
	}
	ids, err := db.ProviderIdentities(ctx, providerID, maxRekey)
	if err != nil {
		return nil, err
	}
	changes, unmatched, err := match(ids)
	if err != nil {
		return nil, invalid(err.Error())
	}
	plan := &RekeyPlan{Unmatched: unmatched}
	moving := map[int64]bool{}
	for _, c := range changes {
		moving[c.IdentityID] = true
	}
	target := map[string]int64{}
	for _, c := range changes {
		key := c.NewIssuer + " " + c.NewSubject
		switch {
		case c.NewSubject == "" || len(c.NewSubject) > 255 || !models.IsText(c.NewSubject) || sso.HasInvisible(c.NewSubject):
			plan.Conflicts = append(plan.Conflicts, fmt.Sprintf("%s: new subject %q is not a valid subject", c.Email, c.NewSubject))
			continue
		case c.NewIssuer != c.OldIssuer && !s.issuerFor(providerID, c.NewIssuer):
			plan.Conflicts = append(plan.Conflicts, fmt.Sprintf("%s: new issuer %q is not an issuer URL of %s (another provider's, or not https)", c.Email, c.NewIssuer, providerID))
			continue
		case target[key] != 0:
			plan.Conflicts = append(plan.Conflicts, fmt.Sprintf("%s: two identities would both become %s", c.Email, c.NewSubject))
			continue
		}
		target[key] = c.IdentityID
		other, err := db.IdentityBySubject(ctx, c.NewIssuer, c.NewSubject)
		switch {
		case errors.Is(err, models.ErrNotFound):
		case err != nil:
			return nil, err
		case other.ID != c.IdentityID && !moving[other.ID]:
			plan.Conflicts = append(plan.Conflicts, fmt.Sprintf("%s: subject %s is linked to another account's identity already", c.Email, c.NewSubject))
			continue
		}
		plan.Changes = append(plan.Changes, c)
	}
	return plan, nil
}

// ApplyRekey carries out plan in one transaction: every change or none.
// A plan with conflicts is refused (ErrRekeyConflicts). The identities
// move in two passes (first to a placeholder) so that a plan whose new
// keys swap old ones never trips the unique key halfway.
func (s *Service) ApplyRekey(ctx context.Context, plan *RekeyPlan, actor *models.User) error {
	method, actorID := models.MethodCLI, (*int64)(nil)
	if actor != nil {
		method, actorID = models.MethodAdmin, &actor.ID
	}
	if len(plan.Conflicts) > 0 {
		return ErrRekeyConflicts
	}
	return s.DB.Tx(ctx, func(tx *models.DB) error {
		for _, c := range plan.Changes {
			if err := tx.RekeyIdentity(ctx, c.IdentityID, c.OldIssuer, c.OldSubject, c.OldIssuer, placeholder(c.IdentityID)); err != nil {
				return changedMeanwhile(c, err)
			}
		}
		for _, c := range plan.Changes {
			if err := tx.RekeyIdentity(ctx, c.IdentityID, c.OldIssuer, placeholder(c.IdentityID), c.NewIssuer, c.NewSubject); err != nil {
				return changedMeanwhile(c, err)
			}
			err := tx.RecordEvent(ctx, &models.Event{Kind: models.EventIdentityRekeyed, UserID: &c.UserID, ActorID: actorID, Email: c.Email, Method: method,
				Detail: fmt.Sprintf("%s %s -> %s %s", c.OldIssuer, c.OldSubject, c.NewIssuer, c.NewSubject)})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// placeholder is where an identity waits between the two passes: a
// control character no real subject has (models.IsText refuses them).
func placeholder(id int64) string { return fmt.Sprintf("\x01rekey:%d", id) }

// changedMeanwhile turns a failed move into a conflict to plan again: an
// identity moved, unlinked or a subject linked since the plan was made.
func changedMeanwhile(c RekeyChange, err error) error {
	if errors.Is(err, models.ErrIdentityTaken) || errors.Is(err, models.ErrNotFound) {
		return conflict(fmt.Sprintf("%s: the sign-in or subject %s changed since the plan was made; plan again", c.Email, c.NewSubject))
	}
	return err
}

// maxRekeyRows bounds the rows of one mapping.
const maxRekeyRows = 100_000

// ParseRekeyCSV reads a mapping: old subject, new subject and an optional
// new issuer per record; a header line "old_subject,..." is skipped.
func ParseRekeyCSV(r io.Reader) ([]RekeyRow, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	var rows []RekeyRow
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, invalid("The mapping is not CSV: " + err.Error())
		}
		if line == 1 && strings.EqualFold(strings.TrimSpace(rec[0]), "old_subject") {
			continue
		}
		if len(rec) < 2 || len(rec) > 3 {
			return nil, invalid(fmt.Sprintf("Line %d: want old subject, new subject and optionally new issuer.", line))
		}
		if len(rows) == maxRekeyRows {
			return nil, invalid(fmt.Sprintf("More than %d rows: split the mapping.", maxRekeyRows))
		}
		row := RekeyRow{OldSubject: strings.TrimSpace(rec[0]), NewSubject: strings.TrimSpace(rec[1])}
		if len(rec) == 3 {
			row.NewIssuer = strings.TrimSpace(rec[2])
		}
		rows = append(rows, row)
	}
}
