package sessionstore

import (
	"time"

	"github.com/gatehouse/gatehouse/models"
	ginsessions "github.com/gin-contrib/sessions"
)

// SignIn describes a fresh authentication to start a session for.
type SignIn struct {
	UserID     int64
	Method     models.Method
	AuthTime   time.Time
	ProviderID string
	Issuer     string
	Subject    string
	SID        string
	IDToken    string
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
	s.Set(KeyAuthTime, in.AuthTime)
	s.Set(KeyIP, in.IP)
	s.Set(KeyUserAgent, in.UserAgent)
	for k, v := range map[string]string{KeyProviderID: in.ProviderID, KeyIssuer: in.Issuer, KeySubject: in.Subject, KeySID: in.SID, KeyIDToken: in.IDToken} {
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
