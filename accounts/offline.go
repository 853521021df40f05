package accounts

// Offboarding that reaches gatehouse. A provider with offline_check keeps
// each identity's refresh token (sealed with secrets.key) and is asked, in
// the background and without a browser, whether each identity with live
// sessions may still sign in. The provider's definite no (invalid_grant,
// UserInfo 401) ends the identity's sessions at once and marks it revoked;
// an outage, a timeout or garbage never signs anyone out. With
// disable_after, an SSO-only account nobody has confirmed for that long is
// disabled, as an administrator would, and can be enabled again.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sso"
)

// ChecksPerRound bounds the offline checks of one provider in one round
// (CheckProvider, once a minute): the provider is asked at most this many
// times a minute, however many identities fell due at once (after an
// outage, or a restart).
const ChecksPerRound = 300

// unavailableStreak ends a provider's round early: that many outages in a
// row mean it is down, and asking the rest would only wait out timeouts.
const unavailableStreak = 3

// RefreshCheck asks the provider whether the person it signed in as
// subject may still sign in, and returns the refresh token to keep
// (sso.Provider.CheckRefresh): sso.ErrRevoked is a definite no.
type RefreshCheck func(ctx context.Context, subject, refreshToken string) (string, error)

// CheckReport is what one round of a provider's offline check did.
type CheckReport struct {
	Checked, Confirmed, Revoked, Unavailable, Idle int
	SessionsEnded                                  int64
	Disabled                                       int
}

// refreshAD binds a sealed refresh token to its identity: the provider,
// the account and the (issuer, subject) key. A sealed value copied to
// another row does not open (nor does one whose identity was re-keyed:
// its checks wait for the next sign-in).
func refreshAD(providerID string, userID int64, issuer, subject string) []byte {
	return []byte("refresh\x00" + providerID + "\x00" + strconv.FormatInt(userID, 10) + "\x00" + issuer + "\x00" + subject)
}

// keepRefresh stores the refresh token a sign-in through the identity
// row brought, sealed, and schedules its next check one interval from
// now (keepSealed).
func (s *Service) keepRefresh(ctx context.Context, p SSOPolicy, row *models.Identity, token string) error {
	sealed, err := s.sealRefresh(p, token, refreshAD(row.ProviderID, row.UserID, row.Issuer, row.Subject))
	if err != nil {
		return err
	}
	return s.keepSealed(ctx, p, row, sealed)
}

// keepSealed stores sealed as the identity row's refresh token and
// schedules its next check one interval from now. With sealed nil (a
// sign-in without a token: Google gives one at the first consent only) the
// stored token stays and its check is scheduled all the same. It does
// nothing for a provider without offline_check, without a secrets key, or
// without a token to check with.
func (s *Service) keepSealed(ctx context.Context, p SSOPolicy, row *models.Identity, sealed []byte) error {
	if p.OfflineCheck <= 0 || !s.Secrets.HasKey() {
		return nil
	}
	if sealed == nil {
		sealed = row.RefreshToken
	}
	if len(sealed) == 0 {
		return nil
	}
	return s.DB.KeepRefresh(ctx, row.ID, sealed, s.DB.Time().Add(p.OfflineCheck))
}

// sealRefresh is token sealed under ad, or nil when offline checks keep
// none: a provider without offline_check, no secrets key, no token.
func (s *Service) sealRefresh(p SSOPolicy, token string, ad []byte) ([]byte, error) {
	if p.OfflineCheck <= 0 || token == "" || !s.Secrets.HasKey() {
		return nil, nil
	}
	sealed, err := s.Secrets.Seal([]byte(token), ad)
	if err != nil {
		return nil, fmt.Errorf("seal refresh token: %w", err)
	}
	return sealed, nil
}

// SealLinkRefresh seals the refresh token of a sign-in parked until the
// person proves the password of account userID (a pending link), for
// LinkWithPassword to keep; nil when there is none to keep.
func (s *Service) SealLinkRefresh(providerID string, userID int64, id *sso.Identity) ([]byte, error) {
	return s.sealRefresh(s.Policy(providerID), id.RefreshToken, refreshAD(providerID, userID, id.Issuer, id.Subject))
}

// CheckProvider runs one round of providerID's offline check: every
// identity whose check is due, up to ChecksPerRound, is claimed (so no two
// replicas check it), then checked if it still has sessions; identities
// without sessions are no longer checked until their next sign-in. Then
// disable_after is applied. Each revocation and each disabled account is
// audited; the report counts the rest.
func (s *Service) CheckProvider(ctx context.Context, providerID string, check RefreshCheck) (CheckReport, error) {
	var rep CheckReport
	p := s.Policy(providerID)
	if p.OfflineCheck > 0 && s.Secrets.HasKey() {
		now := s.DB.Time()
		due, err := s.DB.DueChecks(ctx, providerID, now, ChecksPerRound)
		if err != nil {
			return rep, err
		}
		streak := 0
		for i := range due {
			if streak >= unavailableStreak || ctx.Err() != nil {
				break
			}
			outage, err := s.checkIdentity(ctx, p, &due[i], now, check, &rep)
			if err != nil {
				return rep, err
			}
			if outage {
				streak++
			} else {
				streak = 0
			}
		}
	}
	if p.DisableAfter > 0 {
		n, err := s.disableStale(ctx, providerID, p.DisableAfter)
		rep.Disabled = n
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// checkIdentity checks one due identity; outage reports that the provider
// could not answer.
//
// Every write after the claim is conditional on the claim still holding
// (check_at as this round set it): a sign-in through the identity while
// the provider was asked has scheduled its own check, stored its own
// token and started a session, none of which the round may undo. The
// writes outlive a round cut short (context.WithoutCancel): a rotated
// token the provider has already spent must never be lost.
func (s *Service) checkIdentity(ctx context.Context, p SSOPolicy, id *models.Identity, now time.Time, check RefreshCheck, rep *CheckReport) (outage bool, err error) {
	claim := now.Add(p.OfflineCheck)
	mine, err := s.DB.ClaimCheck(ctx, id.ID, *id.CheckAt, claim)
	if err != nil || !mine {
		return false, err
	}
	live, err := s.DB.IdentitySessions(ctx, id.Issuer, id.Subject)
	if err != nil {
		return false, err
	}
	if live == 0 {
		rep.Idle++
		return false, s.DB.StopChecks(ctx, id.ID, claim)
	}
	ad := refreshAD(id.ProviderID, id.UserID, id.Issuer, id.Subject)
	token, err := s.Secrets.Open(id.RefreshToken, ad)
	if err != nil {
		// Not ours to open (another key, a copied row): nothing to ask with.
		s.Logger.WarnContext(ctx, "offline check: refresh token does not open; checks stop until the next sign-in", "provider", id.ProviderID, "identity", id.ID)
		return false, s.DB.StopChecks(ctx, id.ID, claim)
	}
	rep.Checked++
	next, err := check(ctx, id.Subject, string(token))
	keep := context.WithoutCancel(ctx)
	if errors.Is(err, sso.ErrRevoked) {
		return false, s.revoke(keep, id, claim, now, err, rep)
	}
	if next != "" && next != string(token) {
		// The provider rotated the token: the old one is spent, whatever
		// happened next (UserInfo down, say).
		sealed, sealErr := s.Secrets.Seal([]byte(next), ad)
		if sealErr != nil {
			return false, fmt.Errorf("seal refresh token: %w", sealErr)
		}
		if _, storeErr := s.DB.StoreRefresh(keep, id.ID, claim, sealed); storeErr != nil {
			return false, storeErr
		}
	}
	if err != nil {
		rep.Unavailable++
		s.Logger.WarnContext(ctx, "offline check: no answer; sessions kept", "provider", id.ProviderID, "identity", id.ID, "err", err)
		return true, nil
	}
	rep.Confirmed++
	return false, s.DB.ConfirmIdentity(keep, id.ID, claim)
}

// revoke ends the identity's sessions started before the round (at
// roundStart) and marks it revoked, audited with the provider's answer;
// nothing when a sign-in through it since the claim has taken over.
func (s *Service) revoke(ctx context.Context, id *models.Identity, claim, roundStart time.Time, why error, rep *CheckReport) error {
	ended, done, err := s.DB.RevokeIdentity(ctx, id, claim, roundStart)
	if err != nil || !done {
		return err
	}
	rep.Revoked++
	rep.SessionsEnded += ended
	u, err := s.DB.UserByID(ctx, id.UserID)
	email := ""
	if err == nil {
		email = u.Email
	}
	s.Logger.InfoContext(ctx, "offline check: revoked at the provider; sessions ended", "provider", id.ProviderID, "identity", id.ID, "sessions", ended)
	return s.DB.RecordEvent(ctx, &models.Event{
		Kind: models.EventIdentityRevoked, UserID: &id.UserID, Email: email, Method: models.MethodSSO, ProviderID: id.ProviderID,
		Detail: fmt.Sprintf("revoked at the provider (%s); %d sessions ended", clipped(why.Error(), maxQuoted), ended),
	})
}

// disableStale disables, audited, the accounts providerID's disable_after
// catches.
func (s *Service) disableStale(ctx context.Context, providerID string, after time.Duration) (int, error) {
	before := s.DB.Now().Add(-after)
	stale, err := s.DB.StaleSSOAccounts(ctx, providerID, before, ChecksPerRound)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, u := range stale {
		var done bool
		err := s.DB.Tx(ctx, func(tx *models.DB) error {
			var err error
			if done, err = tx.DisableStale(ctx, u.ID, providerID, before); err != nil || !done {
				return err
			}
			if err := tx.DeleteAccountLinks(ctx, u.ID); err != nil {
				return err
			}
			if err := tx.DeletePendingMFA(ctx, u.ID); err != nil {
				return err
			}
			return tx.RecordEvent(ctx, &models.Event{
				Kind: models.EventUserDisabled, UserID: &u.ID, Email: u.Email, Method: models.MethodSSO, ProviderID: providerID,
				Detail: fmt.Sprintf("disable_after: not signed in or confirmed by a provider for %s", days(after)),
			})
		})
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	return n, nil
}

// days writes a period in whole days when it is one.
func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// maxQuoted bounds a provider's answer quoted in an audit detail, in bytes.
const maxQuoted = 300

// clipped is s within n bytes (models.Clip), marked "…" when it was cut.
func clipped(s string, n int) string {
	s = models.Text(s)
	if c := models.Clip(s, n); len(c) < len(s) {
		return c + "…"
	}
	return s
}
