package accounts

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/secrets"
	"github.com/gatehouse/gatehouse/sessionstore"
)

// PendingMFATTL is how long a sign-in waits for its second factor.
const PendingMFATTL = 5 * time.Minute

// TOTPSetupTTL is how long a new app key waits for the code that
// confirms it: a key left on a screen is not good for long.
const TOTPSetupTTL = 15 * time.Minute

// RecoveryLow is how few unused recovery codes make the account page warn.
const RecoveryLow = 3

// Second-factor refusals, shown as they are.
var (
	ErrNoSecretsKey = conflict("Two-factor sign-in is not available here: the server has no secrets.key. Ask an administrator.")
	ErrWrongCode    = invalid("That code is not right. Enter the 6-digit code your app shows now, or a recovery code.")
	ErrCodeUsed     = invalid("That code was used already. Wait for the next one your app shows.")
	ErrNoTOTP       = conflict("No authenticator app is set up for this account.")
	ErrTOTPExists   = conflict("An authenticator app is set up already. Remove it first to set up another.")
	// ErrLinkNeedsMFA refuses to link a provider to an account with a
	// second factor on the strength of its password alone.
	ErrLinkNeedsMFA = &Error{Code: CodeForbidden, Msg: "This account uses two-factor sign-in. Sign in with your password and code first, then link the provider from your account page."}
	// ErrPendingMFA refuses a second step that is not waiting (expired,
	// done, or never begun).
	ErrPendingMFA = &Error{Code: CodeNotFound, Msg: "This sign-in has expired. Sign in again."}
)

// sealAD binds a sealed secret to its account: a sealed value copied to
// another account's row does not open.
func sealAD(userID int64) []byte { return []byte("totp:" + strconv.FormatInt(userID, 10)) }

// BeginTOTP starts setting up an authenticator app for u: a new key,
// stored sealed and unconfirmed (replacing one that waited), returned for
// the QR code and the secret shown. Nothing changes how u signs in until
// ConfirmTOTP.
func (s *Service) BeginTOTP(ctx context.Context, u *models.User) (*mfa.Key, error) {
	if !s.Secrets.HasKey() {
		return nil, ErrNoSecretsKey
	}
	k, err := mfa.NewKey(s.Issuer, u.Email, s.Rand)
	if err != nil {
		return nil, err
	}
	sealed, err := s.Secrets.Seal([]byte(k.URL), sealAD(u.ID))
	if err != nil {
		return nil, err
	}
	if err := s.DB.PutTOTPFactor(ctx, u.ID, sealed); errors.Is(err, models.ErrFactorExists) {
		return nil, ErrTOTPExists
	} else if err != nil {
		return nil, err
	}
	return k, nil
}

// PendingTOTP is u's authenticator app key waiting for confirmation (the
// page shows it again after a wrong code), or ErrNoTOTP.
func (s *Service) PendingTOTP(ctx context.Context, u *models.User) (*mfa.Key, error) {
	f, err := s.DB.TOTPFactorOf(ctx, u.ID)
	switch {
	case errors.Is(err, models.ErrNotFound) || err == nil && !s.waiting(f):
		return nil, ErrNoTOTP
	case err != nil:
		return nil, err
	}
	return s.openKey(u.ID, f)
}

// waiting reports whether f is a key still waiting for its first code.
func (s *Service) waiting(f *models.TOTPFactor) bool {
	return !f.Confirmed() && s.DB.Time().Sub(f.CreatedAt) < TOTPSetupTTL
}

// openKey opens a stored factor's key.
func (s *Service) openKey(userID int64, f *models.TOTPFactor) (*mfa.Key, error) {
	url, err := s.Secrets.Open(f.Secret, sealAD(userID))
	if err != nil {
		if errors.Is(err, secrets.ErrNoKey) {
			return nil, ErrNoSecretsKey
		}
		return nil, err // secrets.ErrOpen: the operator's key changed; say so in the log
	}
	return mfa.KeyFromURL(string(url))
}

// ConfirmTOTP finishes setting up u's authenticator app with a code it
// shows, and returns a new set of recovery codes, shown once: from then on
// u's password sign-ins ask for a code.
func (s *Service) ConfirmTOTP(ctx context.Context, u *models.User, code string) ([]string, error) {
	codes, err := mfa.NewRecoveryCodes(s.Rand)
	if err != nil {
		return nil, err
	}
	notice, err := s.mfaNotice(u, "An authenticator app was added")
	if err != nil {
		return nil, err
	}
	err = s.send(ctx, func(tx *models.DB) error {
		f, err := tx.LockTOTPFactor(ctx, u.ID)
		switch {
		case errors.Is(err, models.ErrNotFound):
			return ErrNoTOTP
		case err != nil:
			return err
		case f.Confirmed():
			return ErrTOTPExists
		case !s.waiting(f):
			return ErrNoTOTP // expired: set up again
		}
		if err := s.useCode(ctx, tx, u.ID, f, code); err != nil {
			return err
		}
		hashes, err := s.hashCodes(u.ID, codes)
		if err != nil {
			return err
		}
		if err := tx.ReplaceRecoveryCodes(ctx, u.ID, hashes); err != nil {
			return err
		}
		return enqueue(ctx, tx, notice)
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// useCode checks an app code against the factor f of the account userID
// (locked in tx) and records its step, so it works once.
func (s *Service) useCode(ctx context.Context, tx *models.DB, userID int64, f *models.TOTPFactor, code string) error {
	k, err := s.openKey(userID, f)
	if err != nil {
		return err
	}
	step, err := mfa.Check(k.Secret, code, tx.Now(), f.LastStep)
	switch {
	case errors.Is(err, mfa.ErrReplay):
		return ErrCodeUsed
	case errors.Is(err, mfa.ErrWrongCode):
		return ErrWrongCode
	case err != nil:
		return err
	}
	ok, err := tx.UseTOTPStep(ctx, userID, step)
	if err != nil {
		return err
	}
	if !ok {
		return ErrCodeUsed
	}
	return nil
}

// recoveryMAC is the stored form of a recovery code of the account
// userID: a MAC under secrets.key bound to the account, so a stolen
// database cannot test guesses, nor a code match another account's row.
func (s *Service) recoveryMAC(userID int64, code string) (string, error) {
	return s.Secrets.MAC([]byte("recovery|" + strconv.FormatInt(userID, 10) + "|" + mfa.NormalizeRecoveryCode(code)))
}

// hashCodes is recoveryMAC of each code.
func (s *Service) hashCodes(userID int64, codes []string) ([]string, error) {
	out := make([]string, len(codes))
	for i, c := range codes {
		h, err := s.recoveryMAC(userID, c)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// MFAStatus is what the account page and the admin console show of an
// account's second factors.
type MFAStatus struct {
	// TOTP is the confirmed authenticator app, nil when there is none.
	TOTP          *models.TOTPFactor
	Passkeys      []models.Passkey
	RecoveryLeft  int64
	RecoveryLow   bool // RecoveryLeft <= RecoveryLow
	Enrolled      bool // a second factor is in use
	KeyConfigured bool // second factors can be set up here
}

// MFAStatusOf is the second-factor state of the account userID.
func (s *Service) MFAStatusOf(ctx context.Context, userID int64) (MFAStatus, error) {
	st := MFAStatus{KeyConfigured: s.Secrets.HasKey()}
	f, err := s.DB.TOTPFactorOf(ctx, userID)
	switch {
	case err == nil && f.Confirmed():
		st.TOTP = f
	case err != nil && !errors.Is(err, models.ErrNotFound):
		return st, err
	}
	if st.Passkeys, err = s.DB.PasskeysOf(ctx, userID); err != nil {
		return st, err
	}
	st.Enrolled = st.TOTP != nil || len(st.Passkeys) > 0
	if !st.Enrolled {
		return st, nil
	}
	if st.RecoveryLeft, err = s.DB.RecoveryCodesLeft(ctx, userID); err != nil {
		return st, err
	}
	st.RecoveryLow = st.RecoveryLeft <= RecoveryLow
	return st, nil
}

// HasSecondFactor reports whether u's password sign-ins need a second
// step (an app or a passkey): one query, as every password sign-in asks
// it.
func (s *Service) HasSecondFactor(ctx context.Context, userID int64) (bool, error) {
	return s.DB.HasSecondFactor(ctx, userID)
}

// NewRecoveryCodes replaces u's recovery codes with a new set, shown once.
func (s *Service) NewRecoveryCodes(ctx context.Context, u *models.User) ([]string, error) {
	codes, err := mfa.NewRecoveryCodes(s.Rand)
	if err != nil {
		return nil, err
	}
	err = s.DB.Tx(ctx, func(tx *models.DB) error {
		has, err := tx.HasSecondFactor(ctx, u.ID)
		if err != nil {
			return err
		}
		if !has {
			return ErrNoTOTP
		}
		hashes, err := s.hashCodes(u.ID, codes)
		if err != nil {
			return err
		}
		return tx.ReplaceRecoveryCodes(ctx, u.ID, hashes)
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// RemoveMFA removes every second factor of u and its recovery codes; how
// says who did it, for the notice ("from the account page", "by an
// administrator"). With endSessions (an administrator's reset) every
// session of the account ends too.
func (s *Service) RemoveMFA(ctx context.Context, u *models.User, how string, endSessions bool) error {
	notice, err := s.mfaNotice(u, "Two-factor sign-in was turned off "+how)
	if err != nil {
		return err
	}
	err = s.send(ctx, func(tx *models.DB) error {
		if err := tx.DeleteMFA(ctx, u.ID); err != nil {
			return err
		}
		if endSessions {
			if _, err := tx.DeleteUserSessions(ctx, u.ID, ""); err != nil {
				return err
			}
		}
		return enqueue(ctx, tx, notice)
	})
	if err != nil {
		return err
	}
	return nil
}

// RemoveTOTP removes u's authenticator app (from the account page); the
// recovery codes go with it when it was the account's last second factor
// (its passkeys keep them otherwise).
func (s *Service) RemoveTOTP(ctx context.Context, u *models.User) error {
	notice, err := s.mfaNotice(u, "The authenticator app was removed from the account page")
	if err != nil {
		return err
	}
	return s.send(ctx, func(tx *models.DB) error {
		f, err := tx.LockTOTPFactor(ctx, u.ID)
		if errors.Is(err, models.ErrNotFound) || err == nil && !f.Confirmed() {
			return ErrNoTOTP
		}
		if err != nil {
			return err
		}
		if err := tx.DeleteTOTPFactor(ctx, u.ID); err != nil {
			return err
		}
		if _, err := tx.DropOrphanRecovery(ctx, u.ID); err != nil {
			return err
		}
		return enqueue(ctx, tx, notice)
	})
}

// mfaNotice renders the second-factor notice saying what happened, when
// that notice is on.
func (s *Service) mfaNotice(u *models.User, what string) (*mail.Rendered, error) {
	return s.notice(mail.NoticeSecondFactor, "mfa_changed", u, map[string]any{"What": what})
}

// SecondStep is a password sign-in waiting for its second factor.
type SecondStep struct {
	User *models.User
	Next string // where the sign-in goes when done
}

// StartSecondStep records that u typed the right password and must now
// give a second factor; the token (for a cookie of the browser that typed
// it) is the only way to finish, within PendingMFATTL. No session exists
// until FinishSecondStep.
func (s *Service) StartSecondStep(ctx context.Context, u *models.User, next string) (string, error) {
	token, err := s.newToken()
	if err != nil {
		return "", err
	}
	if !models.IsText(next) {
		next = "" // never stored: PostgreSQL refuses invalid UTF-8
	}
	if err := s.DB.AddPendingMFA(ctx, models.PendingMFA{TokenHash: sessionstore.Hash(token), UserID: u.ID, Next: next}, PendingMFATTL); err != nil {
		return "", err
	}
	return token, nil
}

// SecondStepOf is the sign-in a second-step token continues, or
// ErrPendingMFA.
func (s *Service) SecondStepOf(ctx context.Context, token string) (*SecondStep, error) {
	if !sessionstore.ValidToken(token) {
		return nil, ErrPendingMFA
	}
	p, err := s.DB.PendingMFAByHash(ctx, sessionstore.Hash(token))
	if errors.Is(err, models.ErrNotFound) {
		return nil, ErrPendingMFA
	}
	if err != nil {
		return nil, err
	}
	u, err := s.DB.UserByID(ctx, p.UserID)
	if errors.Is(err, models.ErrNotFound) || err == nil && (u.Disabled() || !u.HasPassword()) {
		return nil, ErrPendingMFA
	}
	if err != nil {
		return nil, err
	}
	return &SecondStep{User: u, Next: p.Next}, nil
}

// SecondFactorUsed is what FinishSecondStep accepted.
type SecondFactorUsed struct {
	Recovery     bool  // a recovery code (else the app's code)
	RecoveryLeft int64 // after this one, when Recovery
}

// FinishSecondStep checks the code given at the second step (an app code
// or a recovery code) of step, the sign-in of token (SecondStepOf), and,
// when it is right, ends the step: consuming it in the same transaction is
// what makes it work once. A wrong code leaves the step waiting: the
// caller throttles attempts. A recovery code used sends a notice.
func (s *Service) FinishSecondStep(ctx context.Context, step *SecondStep, token, code string) (SecondFactorUsed, error) {
	var used SecondFactorUsed
	err := s.checkSecondFactor(ctx, step.User, code, &used, func(tx *models.DB) error {
		ok, err := tx.ConsumePendingMFA(ctx, sessionstore.Hash(token))
		if err != nil {
			return err
		}
		if !ok {
			return ErrPendingMFA
		}
		return nil
	})
	return used, err
}

// FinishSecondStepPasskey is FinishSecondStep with a passkey: body is the
// browser's answer to the assertion begun in browser for the second step
// (BeginPasskeyCheck, CeremonySecond); the step is consumed with the
// passkey's use.
func (s *Service) FinishSecondStepPasskey(ctx context.Context, step *SecondStep, token, browser string, body []byte) error {
	_, err := s.FinishPasskeyCheck(ctx, step.User, browser, models.CeremonySecond, body, func(tx *models.DB) error {
		ok, err := tx.ConsumePendingMFA(ctx, sessionstore.Hash(token))
		if err == nil && !ok {
			err = ErrPendingMFA
		}
		return err
	})
	return err
}

// CheckSecondFactor checks a code (an app code or a recovery code) of u
// for a session that signed in without one and must now give it (a policy
// that requires it, an SSO sign-in whose provider did not report one):
// each code works once, and a recovery code used is told.
func (s *Service) CheckSecondFactor(ctx context.Context, u *models.User, code string) (SecondFactorUsed, error) {
	var used SecondFactorUsed
	err := s.checkSecondFactor(ctx, u, code, &used, nil)
	return used, err
}

// checkSecondFactor checks code against u's app or recovery codes in one
// transaction holding the app's row, runs also (if not nil) in it, and
// queues the notice of a recovery code used.
func (s *Service) checkSecondFactor(ctx context.Context, u *models.User, code string, used *SecondFactorUsed, also func(*models.DB) error) error {
	var notice *mail.Rendered
	var err error
	if mfa.LooksLikeRecoveryCode(code) {
		used.Recovery = true
		if notice, err = s.mfaNotice(u, "A recovery code was used to sign in"); err != nil {
			return err
		}
	}
	err = s.send(ctx, func(tx *models.DB) error {
		if used.Recovery {
			mac, err := s.recoveryMAC(u.ID, code)
			if err != nil {
				return err
			}
			ok, err := tx.UseRecoveryCode(ctx, u.ID, mac)
			if err != nil {
				return err
			}
			if !ok {
				return ErrWrongCode
			}
			if used.RecoveryLeft, err = tx.RecoveryCodesLeft(ctx, u.ID); err != nil {
				return err
			}
		} else {
			f, err := tx.LockTOTPFactor(ctx, u.ID)
			switch {
			case errors.Is(err, models.ErrNotFound) || err == nil && !f.Confirmed():
				return ErrWrongCode // no app: no app code is right
			case err != nil:
				return err
			}
			if err := s.useCode(ctx, tx, u.ID, f, code); err != nil {
				return err
			}
		}
		if also != nil {
			if err := also(tx); err != nil {
				return err
			}
		}
		return enqueue(ctx, tx, notice)
	})
	if err != nil {
		return err
	}
	return nil
}

// Factor is the session's record of a second factor used.
func (u SecondFactorUsed) Factor() models.Factor {
	if u.Recovery {
		return models.FactorRecovery
	}
	return models.FactorTOTP
}
