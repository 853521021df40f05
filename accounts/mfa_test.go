package accounts_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/secrets"
	"github.com/gatehouse/gatehouse/sso"
)

// withSecrets gives the env's service a key to seal second factors with.
func (e *ssoEnv) withSecrets(t *testing.T, fill byte) {
	t.Helper()
	box, err := secrets.New(bytes.Repeat([]byte{fill}, secrets.KeySize), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Secrets, e.svc.Issuer = box, "gatehouse"
}

// enrol sets up an authenticator app for u and returns its secret and
// recovery codes.
func (e *ssoEnv) enrol(t *testing.T, u *models.User) (string, []string) {
	t.Helper()
	k, err := e.svc.BeginTOTP(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := mfa.Code(k.Secret, mfa.Step(e.now))
	codes, err := e.svc.ConfirmTOTP(t.Context(), u, code)
	if err != nil {
		t.Fatal(err)
	}
	return k.Secret, codes
}

// finish gives code at the second step of the sign-in of token, as the
// handler does: the step looked up, then finished.
func (e *ssoEnv) finish(t *testing.T, token, code string) (accounts.SecondFactorUsed, error) {
	step, err := e.svc.SecondStepOf(t.Context(), token)
	if err != nil {
		return accounts.SecondFactorUsed{}, err
	}
	return e.svc.FinishSecondStep(t.Context(), step, token, code)
}

// TestSecondStepOnce: of concurrent second steps with the same right code
// (or the same recovery code, or one sign-in's token) exactly one signs in.
func TestSecondStepOnce(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t)
	e.withSecrets(t, 1)
	ctx := t.Context()
	u := e.user(t, ssoEmail, ssoWithPassword)
	secret, codes := e.enrol(t, u)
	e.now = e.now.Add(30 * time.Second)
	code, _ := mfa.Code(secret, mfa.Step(e.now))
	tokens := make([]string, 4)
	start := func() {
		for i := range tokens {
			e.now = e.now.Add(time.Millisecond) // newest kept: an account has at most 5 waiting
			var err error
			if tokens[i], err = e.svc.StartSecondStep(ctx, u, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	start()
	if ok := race(t, len(tokens), accounts.ErrCodeUsed, func(i int) error {
		_, err := e.finish(t, tokens[i], code)
		return err
	}); ok != 1 {
		t.Fatalf("%d sign-ins with one code, want 1", ok)
	}
	start()
	if ok := race(t, len(tokens), accounts.ErrWrongCode, func(i int) error {
		used, err := e.finish(t, tokens[i], codes[0])
		if err == nil && (!used.Recovery || used.RecoveryLeft != 9) {
			t.Errorf("used %+v", used)
		}
		return err
	}); ok != 1 {
		t.Fatalf("%d sign-ins with one recovery code, want 1", ok)
	}
	one, _ := e.svc.StartSecondStep(ctx, u, "/next")
	if ok := race(t, 4, accounts.ErrPendingMFA, func(i int) error {
		_, err := e.finish(t, one, codes[1+i])
		return err
	}); ok != 1 {
		t.Fatalf("%d sign-ins with one token, want 1", ok)
	}
}

// TestMFAKeys: without a key nothing can be set up; a key that does not
// open the stored secret is an error, never a pass.
func TestMFAKeys(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t)
	ctx := t.Context()
	u := e.user(t, ssoEmail, ssoWithPassword)
	if _, err := e.svc.BeginTOTP(ctx, u); !errors.Is(err, accounts.ErrNoSecretsKey) {
		t.Fatalf("no key: %v", err)
	}
	e.withSecrets(t, 1)
	secret, _ := e.enrol(t, u)
	e.withSecrets(t, 2) // secrets.key changed
	tok, err := e.svc.StartSecondStep(ctx, u, "")
	if err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(time.Minute)
	code, _ := mfa.Code(secret, mfa.Step(e.now))
	if _, err := e.finish(t, tok, code); !errors.Is(err, secrets.ErrOpen) {
		t.Fatalf("another key: %v", err)
	}
}

// TestLinkNeedsMFA: the password alone does not link a provider to (and
// so sign in to) an account with a second factor.
func TestLinkNeedsMFA(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t)
	e.withSecrets(t, 1)
	ctx := t.Context()
	u := e.user(t, ssoEmail, ssoWithPassword)
	e.enrol(t, u)
	l := models.NewPendingLink(u.ID, ssoProvider, &sso.Identity{Issuer: ssoIssuer, Subject: ssoSubject, Email: ssoEmail})
	if _, err := e.svc.LinkWithPassword(ctx, l, ssoPassword); !errors.Is(err, accounts.ErrLinkNeedsMFA) {
		t.Fatalf("link by password: %v", err)
	}
	if n := len(e.userIdentities(t, u.ID)); n != 0 {
		t.Fatalf("%d identities linked", n)
	}
}
