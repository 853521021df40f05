package accounts

// Passkeys (WebAuthn Level 2, through go-webauthn): registering them on
// the account page, signing in with one alone, and giving one as the
// second factor. Every ceremony is stored server side (models.
// PasskeyCeremony) bound to the browser it was begun in and to what it is
// for, and is consumed by the finish that matches it: a response carried
// to another browser, another purpose or a second time finds nothing.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// PasskeyCeremonyTTL is how long a passkey prompt may stay open.
const PasskeyCeremonyTTL = 5 * time.Minute

const (
	// maxCeremoniesPerBrowser bounds one browser's prompts in progress
	// (tabs; a sign-in page asks for one as it loads).
	maxCeremoniesPerBrowser = 5
	// maxLiveCeremonies bounds them in all: a passwordless sign-in needs
	// no account, and a browser without a cookie is a new browser.
	maxLiveCeremonies = 10_000
	// maxPasskeyName bounds a passkey's name, in characters.
	maxPasskeyName = 64
)

// Passkey refusals, shown as they are.
var (
	// ErrPasskeyRefused answers every passkey that does not verify: an
	// unknown credential, a wrong signature, a counter that went back, a
	// disabled account alike, so the answer says nothing of accounts.
	ErrPasskeyRefused = invalid("That passkey could not be used. Try again, or sign in another way.")
	// ErrPasskeyExpired answers a response whose prompt is unknown here:
	// expired, used, begun in another browser or for something else.
	ErrPasskeyExpired  = invalid("The passkey prompt expired. Try again.")
	ErrTooManyPasskeys = conflict("This account has as many passkeys as it may have. Remove one first.")
	ErrPasskeyExists   = conflict("That passkey is registered already.")
	ErrNoPasskey       = &Error{Code: CodeNotFound, Msg: "That passkey is not registered to your account (any more)."}
	ErrNoPasskeys      = conflict("This account has no passkey.")
	ErrPasskeysOff     = conflict("Passkeys are not available here: this server is reached at an IP address, and passkeys need a domain name. Ask an administrator.")
)

// PasskeysOn reports whether passkeys work here (see RelyingParty).
func (s *Service) PasskeysOn() bool { return s.WebAuthn != nil }

// RelyingParty builds the WebAuthn relying party of a gatehouse served at
// baseURL: its ID is the host (no port: a passkey belongs to a domain),
// the one origin accepted is the base URL's. A browser offers passkeys
// only in a secure context (https, or http://localhost) and only to a
// domain name: served at an IP address there is none (nil, no error).
func RelyingParty(baseURL, name string) (*webauthn.WebAuthn, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, err
	}
	if net.ParseIP(u.Hostname()) != nil {
		return nil, nil
	}
	return webauthn.New(&webauthn.Config{
		RPID: u.Hostname(), RPDisplayName: name, RPOrigins: []string{u.Scheme + "://" + u.Host},
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			// Discoverable, so the same passkey signs in without an email.
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationPreferred,
		},
		AttestationPreference: protocol.PreferNoAttestation,
		// The browser's timeout; the server's is the ceremony row's expiry
		// (on the app's clock, which the library's time.Now is not).
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: PasskeyCeremonyTTL, TimeoutUVD: PasskeyCeremonyTTL},
			Registration: webauthn.TimeoutConfig{Timeout: PasskeyCeremonyTTL, TimeoutUVD: PasskeyCeremonyTTL},
		},
	})
}

// passkeyUser is an account as go-webauthn sees it: its user handle and
// its credentials, decoded from the stored rows (rows[i] is creds[i]).
type passkeyUser struct {
	u      *models.User
	handle []byte
	rows   []models.Passkey
	creds  []webauthn.Credential
}

func (p *passkeyUser) WebAuthnID() []byte                         { return p.handle }
func (p *passkeyUser) WebAuthnName() string                       { return p.u.Email }
func (p *passkeyUser) WebAuthnDisplayName() string                { return or(p.u.Name, p.u.Email) }
func (p *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return p.creds }

// row is the stored passkey of credential id.
func (p *passkeyUser) row(id []byte) *models.Passkey {
	for i := range p.rows {
		if bytes.Equal(p.rows[i].CredentialID, id) {
			return &p.rows[i]
		}
	}
	return nil
}

// passkeyUserOf loads u's passkeys. Every passkey of an account carries
// the same handle; an account without one gets a new random handle.
func (s *Service) passkeyUserOf(ctx context.Context, u *models.User) (*passkeyUser, error) {
	rows, err := s.DB.PasskeysOf(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	pu := &passkeyUser{u: u, rows: rows}
	for _, r := range rows {
		var c webauthn.Credential
		if err := json.Unmarshal(r.Credential, &c); err != nil {
			return nil, err
		}
		pu.creds = append(pu.creds, c)
	}
	if len(rows) > 0 {
		pu.handle = rows[0].UserHandle
		return pu, nil
	}
	pu.handle = make([]byte, 32)
	if _, err := io.ReadFull(cmp.Or[io.Reader](s.Rand, rand.Reader), pu.handle); err != nil {
		return nil, err
	}
	return pu, nil
}

// ceremonyData is what a ceremony row keeps: the library's session data,
// and for a registration the name and handle the passkey will get.
type ceremonyData struct {
	Session webauthn.SessionData `json:"session"`
	Name    string               `json:"name,omitempty"`
	Handle  []byte               `json:"handle,omitempty"`
}

// saveCeremony stores a ceremony begun in browser (its cookie's token).
func (s *Service) saveCeremony(ctx context.Context, browser string, purpose models.CeremonyPurpose, userID *int64, d ceremonyData) error {
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return s.DB.CreatePasskeyCeremony(ctx, &models.PasskeyCeremony{
		ChallengeHash: sessionstore.Hash(d.Session.Challenge), BrowserHash: sessionstore.Hash(browser),
		Purpose: purpose, UserID: userID, Data: data,
	}, PasskeyCeremonyTTL, maxCeremoniesPerBrowser, maxLiveCeremonies)
}

// takeCeremony consumes the ceremony the response to challenge answers,
// begun in browser for purpose (and for the account userID, when not
// nil), or ErrPasskeyExpired.
func (s *Service) takeCeremony(ctx context.Context, browser, challenge string, purpose models.CeremonyPurpose, userID *int64) (*ceremonyData, error) {
	if challenge == "" || browser == "" {
		return nil, ErrPasskeyExpired
	}
	c, err := s.DB.ConsumePasskeyCeremony(ctx, sessionstore.Hash(challenge), sessionstore.Hash(browser), purpose)
	if errors.Is(err, models.ErrNotFound) {
		return nil, ErrPasskeyExpired
	}
	if err != nil {
		return nil, err
	}
	if (userID == nil) != (c.UserID == nil) || userID != nil && *userID != *c.UserID {
		return nil, ErrPasskeyExpired
	}
	var d ceremonyData
	if err := json.Unmarshal(c.Data, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// refused logs why the library refused a passkey response (at debug:
// anyone can send one) and answers ErrPasskeyRefused.
func (s *Service) refused(ctx context.Context, what string, err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		s.logger().DebugContext(ctx, what, "type", pe.Type, "details", pe.Details, "info", pe.DevInfo)
	} else {
		s.logger().DebugContext(ctx, what, "err", err)
	}
	return ErrPasskeyRefused
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// passkeyName is the name typed for a new passkey, or a refusal.
func passkeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "Passkey", nil
	case !models.IsText(name) || strings.ContainsAny(name, "\r\n\t") || utf8.RuneCountInString(name) > maxPasskeyName:
		return "", invalid("Give the passkey a name of at most 64 characters, on one line (\"Work laptop\", \"Phone\").")
	}
	return name, nil
}

// BeginPasskeyRegistration starts adding a passkey named name to u from
// browser: the options the browser's navigator.credentials.create takes.
// A passkey is a second factor, and the first one comes with recovery
// codes, so the server needs its secrets key, as for an app.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, u *models.User, browser, name string) (*protocol.CredentialCreation, error) {
	if !s.PasskeysOn() {
		return nil, ErrPasskeysOff
	}
	if !s.Secrets.HasKey() {
		return nil, ErrNoSecretsKey
	}
	name, err := passkeyName(name)
	if err != nil {
		return nil, err
	}
	pu, err := s.passkeyUserOf(ctx, u)
	if err != nil {
		return nil, err
	}
	if len(pu.rows) >= models.MaxPasskeys {
		return nil, ErrTooManyPasskeys
	}
	creation, sd, err := s.WebAuthn.BeginRegistration(pu, webauthn.WithExclusions(webauthn.Credentials(pu.creds).CredentialDescriptors()))
	if err != nil {
		return nil, err
	}
	if err := s.saveCeremony(ctx, browser, models.CeremonyRegister, &u.ID, ceremonyData{Session: *sd, Name: name, Handle: pu.handle}); err != nil {
		return nil, err
	}
	return creation, nil
}

// PasskeyAdded is what FinishPasskeyRegistration stored.
type PasskeyAdded struct {
	Passkey *models.Passkey
	// RecoveryCodes are new, shown once, when this passkey is the
	// account's first second factor; nil otherwise.
	RecoveryCodes []string
}

// FinishPasskeyRegistration verifies the browser's response (body, the
// PublicKeyCredential as JSON) to the registration u began in browser and
// stores the passkey. The account's first second factor comes with a new
// set of recovery codes; a notice tells the account's address.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, u *models.User, browser string, body []byte) (PasskeyAdded, error) {
	var added PasskeyAdded
	if !s.PasskeysOn() {
		return added, ErrPasskeysOff
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return added, s.refused(ctx, "passkey registration unreadable", err)
	}
	d, err := s.takeCeremony(ctx, browser, parsed.Response.CollectedClientData.Challenge, models.CeremonyRegister, &u.ID)
	if err != nil {
		return added, err
	}
	pu, err := s.passkeyUserOf(ctx, u)
	if err != nil {
		return added, err
	}
	pu.handle = d.Handle
	cred, err := s.WebAuthn.CreateCredential(pu, d.Session, parsed)
	if err != nil {
		return added, s.refused(ctx, "passkey registration refused", err)
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return added, err
	}
	codes, err := mfa.NewRecoveryCodes(s.Rand)
	if err != nil {
		return added, err
	}
	notice, err := s.mfaNotice(u, "A passkey ("+d.Name+") was added")
	if err != nil {
		return added, err
	}
	p := &models.Passkey{
		UserID: u.ID, CredentialID: cred.ID, UserHandle: d.Handle, Name: d.Name,
		Credential: record, SignCount: int64(cred.Authenticator.SignCount),
	}
	err = s.send(ctx, func(tx *models.DB) error {
		return tx.AddPasskey(ctx, p, func(tx *models.DB) error {
			first, err := firstFactor(ctx, tx, u.ID)
			if err != nil {
				return err
			}
			if first {
				hashes, err := s.hashCodes(u.ID, codes)
				if err != nil {
					return err
				}
				if err := tx.ReplaceRecoveryCodes(ctx, u.ID, hashes); err != nil {
					return err
				}
				added.RecoveryCodes = codes
			}
			return enqueue(ctx, tx, notice)
		})
	})
	switch {
	case errors.Is(err, models.ErrTooManyPasskeys):
		return PasskeyAdded{}, ErrTooManyPasskeys
	case errors.Is(err, models.ErrPasskeyExists):
		return PasskeyAdded{}, ErrPasskeyExists
	case err != nil:
		return PasskeyAdded{}, err
	}
	added.Passkey = p
	return added, nil
}

// firstFactor reports whether the passkey just stored (in tx) is the
// account's only second factor.
func firstFactor(ctx context.Context, tx *models.DB, userID int64) (bool, error) {
	n, err := tx.CountPasskeys(ctx, userID)
	if err != nil || n != 1 {
		return false, err
	}
	f, err := tx.TOTPFactorOf(ctx, userID)
	if errors.Is(err, models.ErrNotFound) {
		return true, nil
	}
	return err == nil && !f.Confirmed(), err
}

// BeginPasskeyLogin starts a passwordless sign-in in browser: options
// with no account named (the authenticator offers its discoverable
// passkeys for this site) and user verification required, because the
// passkey is then both factors.
func (s *Service) BeginPasskeyLogin(ctx context.Context, browser string) (*protocol.CredentialAssertion, error) {
	if !s.PasskeysOn() {
		return nil, ErrPasskeysOff
	}
	assertion, sd, err := s.WebAuthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, err
	}
	if err := s.saveCeremony(ctx, browser, models.CeremonyLogin, nil, ceremonyData{Session: *sd}); err != nil {
		return nil, err
	}
	return assertion, nil
}

// PasskeyUsed is an assertion that verified.
type PasskeyUsed struct {
	User    *models.User
	Passkey *models.Passkey
}

// FinishPasskeyLogin verifies the browser's response to the passwordless
// sign-in it began and returns the account it signs in. The passkey is
// found by its credential ID and must carry its account's user handle;
// the account must be enabled; the counter must go up.
func (s *Service) FinishPasskeyLogin(ctx context.Context, browser string, body []byte) (PasskeyUsed, error) {
	var used PasskeyUsed
	if !s.PasskeysOn() {
		return used, ErrPasskeysOff
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return used, s.refused(ctx, "passkey sign-in unreadable", err)
	}
	d, err := s.takeCeremony(ctx, browser, parsed.Response.CollectedClientData.Challenge, models.CeremonyLogin, nil)
	if err != nil {
		return used, err
	}
	var pu *passkeyUser
	find := func(rawID, handle []byte) (webauthn.User, error) {
		p, err := s.DB.PasskeyByCredentialID(ctx, rawID)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(p.UserHandle, handle) {
			return nil, errors.New("user handle is not the passkey's")
		}
		u, err := s.DB.UserByID(ctx, p.UserID)
		if err != nil {
			return nil, err
		}
		if pu, err = s.passkeyUserOf(ctx, u); err != nil {
			return nil, err
		}
		return pu, nil
	}
	_, cred, err := s.WebAuthn.ValidatePasskeyLogin(find, d.Session, parsed)
	if err != nil {
		return used, s.refused(ctx, "passkey sign-in refused", err)
	}
	if pu.u.Disabled() {
		return used, s.refused(ctx, "passkey sign-in refused", errors.New("account disabled"))
	}
	p, err := s.recordUse(ctx, s.DB, pu, cred)
	if err != nil {
		return used, err
	}
	return PasskeyUsed{User: pu.u, Passkey: p}, nil
}

// recordUse stores the verified assertion's counter and flags (in tx),
// refusing a counter that did not go up: a cloned authenticator, or the
// same assertion twice.
func (s *Service) recordUse(ctx context.Context, tx *models.DB, pu *passkeyUser, cred *webauthn.Credential) (*models.Passkey, error) {
	p := pu.row(cred.ID)
	if p == nil || cred.Authenticator.CloneWarning {
		return nil, s.refused(ctx, "passkey counter did not go up", errors.New("clone warning"))
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return nil, err
	}
	ok, err := tx.UsePasskey(ctx, p.ID, int64(cred.Authenticator.SignCount), record)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, s.refused(ctx, "passkey counter did not go up", errors.New("stored counter moved"))
	}
	return p, nil
}

// BeginPasskeyCheck starts an assertion of one of u's passkeys in browser,
// for purpose: the second step of a password sign-in, a second factor a
// session owes, or re-authentication (which asks for user verification,
// as the passkey then stands for the password too).
func (s *Service) BeginPasskeyCheck(ctx context.Context, u *models.User, browser string, purpose models.CeremonyPurpose) (*protocol.CredentialAssertion, error) {
	if !s.PasskeysOn() {
		return nil, ErrPasskeysOff
	}
	pu, err := s.passkeyUserOf(ctx, u)
	if err != nil {
		return nil, err
	}
	if len(pu.rows) == 0 {
		return nil, ErrNoPasskeys
	}
	uv := protocol.VerificationPreferred
	if purpose == models.CeremonySudo {
		uv = protocol.VerificationRequired
	}
	assertion, sd, err := s.WebAuthn.BeginLogin(pu, webauthn.WithUserVerification(uv))
	if err != nil {
		return nil, err
	}
	if err := s.saveCeremony(ctx, browser, purpose, &u.ID, ceremonyData{Session: *sd}); err != nil {
		return nil, err
	}
	return assertion, nil
}

// FinishPasskeyCheck verifies the browser's response to the assertion u
// began in browser for purpose, and records its use and runs also (if not
// nil) in one transaction: the second step's consumption goes with it.
func (s *Service) FinishPasskeyCheck(ctx context.Context, u *models.User, browser string, purpose models.CeremonyPurpose, body []byte, also func(*models.DB) error) (*models.Passkey, error) {
	if !s.PasskeysOn() {
		return nil, ErrPasskeysOff
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return nil, s.refused(ctx, "passkey check unreadable", err)
	}
	d, err := s.takeCeremony(ctx, browser, parsed.Response.CollectedClientData.Challenge, purpose, &u.ID)
	if err != nil {
		return nil, err
	}
	pu, err := s.passkeyUserOf(ctx, u)
	if err != nil {
		return nil, err
	}
	cred, err := s.WebAuthn.ValidateLogin(pu, d.Session, parsed)
	if err != nil {
		return nil, s.refused(ctx, "passkey check refused", err)
	}
	var p *models.Passkey
	err = s.DB.Tx(ctx, func(tx *models.DB) error {
		if p, err = s.recordUse(ctx, tx, pu, cred); err != nil {
			return err
		}
		if also != nil {
			return also(tx)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// RemovePasskey removes u's passkey id. The account's last second factor
// takes its recovery codes with it. A notice tells the account's address.
func (s *Service) RemovePasskey(ctx context.Context, u *models.User, id int64) (*models.Passkey, error) {
	var gone *models.Passkey
	ps, err := s.DB.PasskeysOf(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		if ps[i].ID == id {
			gone = &ps[i]
		}
	}
	if gone == nil {
		return nil, ErrNoPasskey
	}
	notice, err := s.mfaNotice(u, "A passkey ("+gone.Name+") was removed")
	if err != nil {
		return nil, err
	}
	err = s.send(ctx, func(tx *models.DB) error {
		ok, err := tx.DeletePasskey(ctx, u.ID, id)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNoPasskey
		}
		if _, err := tx.DropOrphanRecovery(ctx, u.ID); err != nil {
			return err
		}
		return enqueue(ctx, tx, notice)
	})
	if err != nil {
		return nil, err
	}
	return gone, nil
}
