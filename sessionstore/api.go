package sessionstore

import (
	"time"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sso"
	ginsessions "github.com/gin-contrib/sessions"
)

// SignIn describes a fresh authentication to start a session for.
type SignIn struct {
	UserID int64
	Method models.Method
	// AuthTime is when the person authenticated; zero is now. An SSO
	// sign-in takes the provider's auth_time from Identity when it has one.
	AuthTime time.Time
	// ProviderID and Identity are the provider and the verified identity of
	// an SSO sign-in (nil for a password): the session keeps its issuer,
	// subject and sid for back-channel logout, and the ID token as
	// id_token_hint for RP-initiated logout.
	ProviderID string
	Identity   *sso.Identity
	IP         string
	UserAgent  string
}

// Start replaces whatever session the browser had with a new one for in,
// under a new token: a token planted before sign-in is worthless after it.
func Start(s ginsessions.Session, in SignIn) error {
	s.Clear()
	s.Set(renewKey{}, true)
	s.Set(KeyUserID, in.UserID)
	s.Set(KeyAuthMethod, string(in.Method))
	s.Set(KeyIP, in.IP)
	s.Set(KeyUserAgent, in.UserAgent)
	values := map[string]string{KeyProviderID: in.ProviderID}
	if id := in.Identity; id != nil {
		values[KeyIssuer], values[KeySubject], values[KeySID], values[KeyIDToken] = id.Issuer, id.Subject, id.SID, id.IDToken
		if !id.AuthTime.IsZero() {
			in.AuthTime = id.AuthTime
		}
	}
	s.Set(KeyAuthTime, in.AuthTime)
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

// UserID returns the signed-in user's ID, if any.
func UserID(s ginsessions.Session) (int64, bool) {
	id, ok := s.Get(KeyUserID).(int64)
	return id, ok
}

// Current returns the row loaded for this request (nil when signed out).
func Current(s ginsessions.Session) *models.Session {
	row, _ := s.Get(rowKey{}).(*models.Session)
	return row
}
