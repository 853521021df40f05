package accounts

// A decision trace says why an SSO sign-in did what it did: every rule it
// met, in order, what each decided and which one decided the outcome. It
// answers "why is Alice not an administrator" from the console, so nobody
// turns on debug logging of claims. The trace is handed back with the
// Resolution; the handlers store it with the sign-in's audit event and
// show it on the provider test page. It never goes to the log.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Rule names one rule of the SSO sign-in decision.
type Rule string

// String returns the shown and stored form.
func (r Rule) String() string { return string(r) }

// Rules of an SSO sign-in, in the order they run.
const (
	RuleRouting       Rule = "routing"        // which provider an address is sent to
	RuleClaims        Rule = "claims"         // claim mapping: subject, email, name, groups
	RuleAllowedGroups Rule = "allowed_groups" // who may sign in through the provider
	RuleIdentity      Rule = "identity"       // an identity already linked (issuer, subject)
	RuleMigration     Rule = "migration"      // migrate_from / migrate_until
	RuleEmail         Rule = "email"          // the account with the provider's email
	RuleDisabled      Rule = "account_disabled"
	RuleLink          Rule = "link"        // the link policy, and what holds a link back
	RuleAutoCreate    Rule = "auto_create" // a new account for a new address
	RuleAdminGroups   Rule = "admin_groups"
	RuleMFA           Rule = "mfa" // the provider's amr/acr against the account's policy
)

// Verdict is what a rule decided.
type Verdict string

// String returns the shown and stored form.
func (v Verdict) String() string { return string(v) }

// Verdicts of the rules.
const (
	VerdictPass         Verdict = "pass"          // the rule let the sign-in go on
	VerdictSkip         Verdict = "not applied"   // the rule had nothing to say
	VerdictRefuse       Verdict = "refuse"        // the rule refused the sign-in
	VerdictSignIn       Verdict = "sign in"       // the account signs in
	VerdictLink         Verdict = "link"          // the identity is linked to the account
	VerdictCreate       Verdict = "create"        // an account is created
	VerdictNeedPassword Verdict = "need password" // the account's password must link it
	VerdictUseLinked    Verdict = "use linked"    // the account signs in with another provider
	VerdictGrant        Verdict = "grant"         // administrator rights given
	VerdictRevoke       Verdict = "revoke"        // administrator rights taken
	VerdictKeep         Verdict = "keep"          // administrator rights (or their absence) kept
)

// Step is one rule met by a sign-in.
type Step struct {
	Rule    Rule    `json:"rule"`
	Verdict Verdict `json:"verdict"`
	Detail  string  `json:"detail"`
	// Decisive marks the rule that decided the outcome: exactly one step
	// of a finished resolution.
	Decisive bool `json:"decisive,omitempty"`
}

// Trace is the decision trace of one SSO sign-in.
type Trace struct {
	Steps []Step `json:"steps"`
}

// Trace bounds: a stored trace is at most maxTraceSteps steps of at most
// maxDetail bytes each, whatever the provider sent.
const (
	maxTraceSteps = 24
	maxDetail     = 400
	// maxListed is how many of a claim's values (groups) a step names.
	maxListed = 10
)

// note records a rule that let the sign-in go on, or had nothing to say.
func (t *Trace) note(r Rule, v Verdict, format string, args ...any) {
	if t == nil {
		return
	}
	t.add(Step{Rule: r, Verdict: v, Detail: fmt.Sprintf(format, args...)})
}

// decide records the rule that decided the outcome; a later decide (a
// refusal after the account was resolved: the last administrator) takes
// the mark over.
func (t *Trace) decide(r Rule, v Verdict, format string, args ...any) {
	if t == nil {
		return
	}
	for i := range t.Steps {
		t.Steps[i].Decisive = false
	}
	t.add(Step{Rule: r, Verdict: v, Detail: fmt.Sprintf(format, args...), Decisive: true})
}

// Note records a step the handlers decide (the routing and MFA rules).
func (t *Trace) Note(r Rule, v Verdict, detail string) {
	if t != nil {
		t.add(Step{Rule: r, Verdict: v, Detail: detail})
	}
}

// Decide records the decisive step the handlers decide: an MFA refusal
// after the account was resolved.
func (t *Trace) Decide(r Rule, v Verdict, detail string) {
	if t != nil {
		t.decide(r, v, "%s", detail)
	}
}

func (t *Trace) add(s Step) {
	if len(t.Steps) >= maxTraceSteps {
		return
	}
	s.Detail = clipped(s.Detail, maxDetail)
	t.Steps = append(t.Steps, s)
}

// Decisive is the step that decided the outcome.
func (t *Trace) Decisive() (Step, bool) {
	if t == nil {
		return Step{}, false
	}
	i := slices.IndexFunc(t.Steps, func(s Step) bool { return s.Decisive })
	if i < 0 {
		return Step{}, false
	}
	return t.Steps[i], true
}

// String is the trace's stored form (JSON), "" for none.
func (t *Trace) String() string {
	if t == nil || len(t.Steps) == 0 {
		return ""
	}
	b, err := json.Marshal(t)
	if err != nil {
		return ""
	}
	return string(b)
}

// ParseTrace reads a stored trace; nil for none or a broken one.
func ParseTrace(s string) *Trace {
	if s == "" {
		return nil
	}
	var t Trace
	if json.Unmarshal([]byte(s), &t) != nil || len(t.Steps) == 0 {
		return nil
	}
	return &t
}

// listed names at most maxListed values, and how many more there are.
func listed(vals []string) string {
	if len(vals) == 0 {
		return "none"
	}
	if len(vals) <= maxListed {
		return strings.Join(vals, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(vals[:maxListed], ", "), len(vals)-maxListed)
}
