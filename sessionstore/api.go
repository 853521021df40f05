package sessionstore

import (
	"errors"
	"time"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sso"
	ginsessions "github.com/gin-contrib/sessions"
)

// SignIn describes a fresh authentication to start a session for.
type SignIn struct {
	UserID int64
	Method models.Method
	// AuthTime is when the person authenticated, on gatehouse's clock. An
	// SSO sign-in takes the provider's auth_time from Identity instead when
	// that is earlier.
	AuthTime time.Time
	// ProviderID and Identity are the provider and the verified identity of
	// an SSO sign-in (nil for a password): the session keeps its issuer,
	// subject and sid for back-channel logout, and the ID token as
	// id_token_hint for RP-initiated logout.
	ProviderID string
	Identity   *sso.Identity
	IP         string
	UserAgent  string
	// Admin records that the account is an administrator as the session
	// starts: a later promotion or demotion is a privilege change, which
	// Privileged tells the caller so it can Renew the session.
	Admin bool
	// MFA is the second factor the sign-in gave ("" none).
	MFA models.Factor
}

// Start replaces whatever session the browser had with a new one for in,
// under a new token: a token planted before sign-in is worthless after it.
func Start(s ginsessions.Session, in SignIn) error {
	s.Clear()
	s.Set(renewKey{}, renewFresh)
	s.Set(keyUserID, in.UserID)
	if in.Admin {
		s.Set(keyAdmin, true)
	}
	s.Set(keyAuthMethod, string(in.Method))
	s.Set(keyIP, in.IP)
	s.Set(keyUserAgent, in.UserAgent)
	values := map[string]string{keyProviderID: in.ProviderID, keyMFA: string(in.MFA)}
	if id := in.Identity; id != nil {
		values[keyIssuer], values[keySubject], values[keySID], values[keyIDToken] = id.Issuer, id.Subject, id.SID, id.IDToken
		// The provider's auth_time, never later than the sign-in itself: a
		// clock ahead at the provider must not lengthen sudo mode.
		if !id.AuthTime.IsZero() && (in.AuthTime.IsZero() || id.AuthTime.Before(in.AuthTime)) {
			in.AuthTime = id.AuthTime
		}
	}
	s.Set(keyAuthTime, in.AuthTime)
	for k, v := range values {
		if v != "" {
			s.Set(k, v)
		}
	}
	return s.Save()
}

// End deletes the session row and expires the cookie.
func End(s ginsessions.Session) error {
	s.Clear()
	s.Options(ginsessions.Options{MaxAge: -1})
	return s.Save()
}

// ErrNotSignedIn is returned by MarkReauth and MarkChecked for a request
// without a signed-in session: a mark must never start a session.
var ErrNotSignedIn = errors.New("sessionstore: no signed-in session")

// MarkReauth records that the session's person proved who they are again
// at at: with the sign-in time it decides sudo mode. It is a privilege
// change, so the session gets a new token as it saves (see Renew).
func MarkReauth(s ginsessions.Session, at time.Time) error {
	if row := Current(s); row == nil || row.UserID == nil {
		return ErrNotSignedIn
	}
	s.Set(keyReauthAt, at.UTC())
	s.Set(renewKey{}, renewKeep)
	return s.Save()
}

// MarkMFA records that the session's person gave the second factor
// factor (setting one up counts): a privilege change, so the session gets
// a new token as it saves.
func MarkMFA(s ginsessions.Session, factor models.Factor) error {
	if row := Current(s); row == nil || row.UserID == nil {
		return ErrNotSignedIn
	}
	s.Set(keyMFA, string(factor))
	s.Set(renewKey{}, renewKeep)
	return s.Save()
}

// Renew gives a signed-in session a new token at a privilege change (a
// promotion or demotion, a new password, a newly linked provider), so a
// token copied before the change does not carry what comes after it: the
// old token stops working, and the session keeps its sign-in facts (who,
// how and when it signed in, its provider session, its absolute expiry).
// admin is whether the account is an administrator now (see Privileged).
func Renew(s ginsessions.Session, admin bool) error {
	if row := Current(s); row == nil || row.UserID == nil {
		return ErrNotSignedIn
	}
	if admin {
		s.Set(keyAdmin, true)
	} else {
		s.Delete(keyAdmin)
	}
	s.Set(renewKey{}, renewKeep)
	return s.Save()
}

// Privileged reports whether the session's token was issued (by Start or
// Renew) to an administrator. A signed-in request whose account's admin
// flag differs is the first since a promotion or demotion, and Renew
// gives it a new token.
func Privileged(s ginsessions.Session) bool {
	admin, _ := s.Get(keyAdmin).(bool)
	return admin
}

// MarkChecked records that the provider confirmed the SSO session at at,
// which restarts the refresh interval.
func MarkChecked(s ginsessions.Session, at time.Time) error {
	return mark(s, keyCheckedAt, at)
}

// mark sets a time value of a signed-in session and saves it in place.
func mark(s ginsessions.Session, key string, at time.Time) error {
	if row := Current(s); row == nil || row.UserID == nil {
		return ErrNotSignedIn
	}
	s.Set(key, at.UTC())
	return s.Save()
}

// Current returns the row loaded for this request (nil when signed out),
// as of its last save. Its User is the account loaded with it at the start
// of the request (nil for an anonymous session, for an account that is
// gone, and after Start).
func Current(s ginsessions.Session) *models.Session {
	row, _ := s.Get(rowKey{}).(*models.Session)
	return row
}

// LoadError returns the database error that left this request signed out,
// if any: the store logs it, and the caller counts it.
func LoadError(s ginsessions.Session) error {
	err, _ := s.Get(loadErrKey{}).(error)
	return err
}
