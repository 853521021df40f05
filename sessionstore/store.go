// Package sessionstore keeps browser sessions in gatehouse's database behind
// the gin-contrib/sessions API handlers use.
//
// It is written for gatehouse rather than taken off the shelf because a
// sign-in system needs what generic stores lack: a fresh token at every
// sign-in (no session fixation), rows findable by user (to list and revoke
// them), only a hash of the token at rest, and idle plus absolute expiry.
package sessionstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/models"
	ginsessions "github.com/gin-contrib/sessions"
	"github.com/gorilla/sessions"
)

// Session value keys stored in their own columns (the rest go to the JSON
// data column). Handlers use the typed API (Start, Mark*, Current), not
// these keys.
const (
	keyUserID     = "user_id"        // int64
	keyAuthMethod = "auth_method"    // "password" or "sso"
	keyAuthTime   = "auth_time"      // time.Time of the authentication
	keyReauthAt   = "reauth_at"      // time.Time of the last re-authentication
	keyCheckedAt  = "sso_checked_at" // time.Time the provider session was last confirmed
	keyProviderID = "provider_id"
	keyIssuer     = "issuer"
	keySubject    = "subject"
	keySID        = "sid"
	keyIDToken    = "id_token"   // kept server side only, for id_token_hint
	keyIP         = "ip"         // written at creation only
	keyUserAgent  = "user_agent" // written at creation only
	keyAdmin      = "admin"      // true: the token was issued to an administrator (data column)
	keyMFA        = "mfa"        // the second factor the sign-in gave (models.Session.MFA)
)

// MaxDataBytes caps the JSON data column: sessions hold references, not documents.
const MaxDataBytes = 4096

// touchEvery is how stale last_seen may get before a request writes it, so a
// busy user costs one write a minute, not one per request.
const touchEvery = time.Minute

// Request-scoped values, never stored.
type (
	renewKey   struct{} // a renewal: issue a new token at the next Save
	rowKey     struct{} // the *models.Session loaded for this request
	loadErrKey struct{} // the database error that left this request signed out
)

// renewal is how the next Save issues a new token (the renewKey value).
type renewal int

const (
	// renewFresh starts a new session (Start): created now, with the full
	// lifetime ahead.
	renewFresh renewal = iota + 1
	// renewKeep rotates the token of the same session (Renew, MarkReauth):
	// its creation time and absolute expiry stay.
	renewKeep
)

// Options configures cookies and lifetimes.
type Options struct {
	Secure      bool          // https: Secure cookies (the name carries __Host- already)
	IdleTimeout time.Duration // ends unused sessions
	Lifetime    time.Duration // ends sessions this long after sign-in
	Permanent   bool          // persistent cookie with Max-Age = Lifetime; else browser-session cookie
	Logger      *slog.Logger
	Rand        io.Reader        // token randomness; nil: crypto/rand.Reader
	Now         func() time.Time // clock for expiry and activity; nil: the database's clock
}

// Store implements ginsessions.Store over models.DB.
type Store struct {
	db   *models.DB
	opts Options
}

// New returns a Store.
func New(db *models.DB, opts Options) *Store {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Store{db: db, opts: opts}
}

var _ ginsessions.Store = (*Store)(nil)

// now is the store's clock in UTC, the zone session rows are stored in.
func (s *Store) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now().UTC()
	}
	return s.db.Now().UTC()
}

// Options is part of ginsessions.Store; cookie attributes come from
// gatehouse's configuration only, so handlers cannot weaken them.
func (s *Store) Options(ginsessions.Options) {}

// Get loads the request's session (a fresh empty one when it has none).
func (s *Store) Get(r *http.Request, name string) (*sessions.Session, error) { return s.New(r, name) }

// New loads the session named by the request's cookie, with its account in
// one query (see Current). Any failure (no cookie, a malformed or unknown
// token, an expired row, a database error) yields an empty session: the
// visitor is signed out, never shown a 500. A database error is also kept
// for LoadError, so the caller can count it.
func (s *Store) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	sess.IsNew = true
	c, err := r.Cookie(name)
	if err != nil || !ValidToken(c.Value) {
		return sess, nil
	}
	ctx := r.Context()
	row, err := s.db.SessionWithUser(ctx, Hash(c.Value))
	if err != nil {
		if !errors.Is(err, models.ErrNotFound) {
			s.opts.Logger.ErrorContext(ctx, "load session; treating as signed out", "err", err)
			sess.Values[loadErrKey{}] = err
		}
		return sess, nil
	}
	now := s.now()
	if row.Expired(now) {
		if err := s.db.DeleteSession(ctx, row.TokenHash); err != nil {
			s.opts.Logger.WarnContext(ctx, "delete expired session", "err", err)
		}
		return sess, nil
	}
	if now.Sub(row.LastSeenAt) >= touchEvery {
		idle := earliest(now.Add(s.opts.IdleTimeout), row.ExpiresAt)
		if err := s.db.TouchSession(ctx, row.ID, now, idle); err != nil {
			s.opts.Logger.WarnContext(ctx, "touch session", "err", err)
		} else {
			row.LastSeenAt, row.IdleExpiresAt = now, idle
		}
	}
	if err := fromRow(row, sess.Values); err != nil {
		s.opts.Logger.ErrorContext(ctx, "decode session data; treating as signed out", "err", err)
		return sessions.NewSession(s, name), nil
	}
	sess.ID, sess.IsNew = c.Value, false
	sess.Values[rowKey{}] = row
	return sess, nil
}

// Save persists the session. Options.MaxAge < 0 deletes it; a renew mark (see
// Start) replaces the token; otherwise the row's values are updated in place.
func (s *Store) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	ctx := r.Context()
	delete(sess.Values, loadErrKey{})
	old, _ := sess.Values[rowKey{}].(*models.Session)
	if old == nil && sess.ID != "" { // the handler cleared the values, row reference included
		row, err := s.db.SessionByHash(ctx, Hash(sess.ID))
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			return err
		}
		old = row
	}
	if sess.Options != nil && sess.Options.MaxAge < 0 {
		if old != nil {
			if err := s.db.DeleteSession(ctx, old.TokenHash); err != nil {
				return err
			}
		}
		clear(sess.Values)
		sess.ID = ""
		s.setCookie(w, sess.Name(), "", -1)
		return nil
	}
	renew, _ := sess.Values[renewKey{}].(renewal)
	delete(sess.Values, renewKey{})
	if old != nil && renew == 0 {
		row := *old
		if err := toRow(sess.Values, &row); err != nil {
			return err
		}
		if err := s.db.SaveSessionData(ctx, &row); err != nil {
			return err
		}
		sess.Values[rowKey{}] = &row
		return nil
	}
	return s.create(r, w, sess, old, renew == renewKeep)
}

// create issues a new token and row, deleting the previous row (rotation).
// With keep the new row goes on the old one's life: its creation time and
// absolute expiry, and the account loaded with it.
func (s *Store) create(r *http.Request, w http.ResponseWriter, sess *sessions.Session, old *models.Session, keep bool) error {
	ctx := r.Context()
	delete(sess.Values, rowKey{})
	if len(sess.Values) == 0 { // nothing worth a row
		if old != nil {
			return s.db.DeleteSession(ctx, old.TokenHash)
		}
		return nil
	}
	token, err := NewToken(s.opts.Rand)
	if err != nil {
		return fmt.Errorf("session token: %w", err)
	}
	now := s.now()
	row := &models.Session{
		TokenHash:     Hash(token),
		CreatedAt:     now,
		LastSeenAt:    now,
		ExpiresAt:     now.Add(s.opts.Lifetime),
		IdleExpiresAt: earliest(now.Add(s.opts.IdleTimeout), now.Add(s.opts.Lifetime)),
	}
	if keep && old != nil {
		row.CreatedAt, row.ExpiresAt = old.CreatedAt, old.ExpiresAt
		row.IdleExpiresAt = earliest(now.Add(s.opts.IdleTimeout), old.ExpiresAt)
	}
	row.IP, _ = sess.Values[keyIP].(string)
	row.UserAgent, _ = sess.Values[keyUserAgent].(string)
	if err := toRow(sess.Values, row); err != nil {
		return err
	}
	// One transaction: a failed insert must not leave the browser with its
	// old session deleted and no new one.
	err = s.db.Tx(ctx, func(tx *models.DB) error {
		if old != nil {
			if err := tx.DeleteSession(ctx, old.TokenHash); err != nil {
				return err
			}
		}
		return tx.CreateSession(ctx, row)
	})
	if err != nil {
		return err
	}
	if keep && old != nil {
		row.User = old.User
	}
	sess.ID, sess.IsNew = token, false
	sess.Values[rowKey{}] = row
	maxAge := 0
	if s.opts.Permanent {
		maxAge = max(int(row.ExpiresAt.Sub(now)/time.Second), 1)
	}
	s.setCookie(w, sess.Name(), token, maxAge)
	return nil
}

// setCookie writes the session cookie with fixed attributes: HttpOnly,
// SameSite=Lax, Path=/ and, under https, Secure (as the __Host- prefix needs).
func (s *Store) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   s.opts.Secure,
		SameSite: http.SameSiteLaxMode,
	})
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// stringKeys are the string-valued keys stored in their own columns.
func stringKeys() [7]string {
	return [...]string{keyAuthMethod, keyProviderID, keyIssuer, keySubject, keySID, keyIDToken, keyMFA}
}

// stringColumn is the column of a string-valued key, or nil for other keys.
// A switch rather than a map built per call: fromRow runs on every
// signed-in request.
func stringColumn(row *models.Session, key string) *string {
	switch key {
	case keyAuthMethod:
		return (*string)(&row.AuthMethod)
	case keyProviderID:
		return &row.ProviderID
	case keyIssuer:
		return &row.Issuer
	case keySubject:
		return &row.Subject
	case keySID:
		return &row.SID
	case keyIDToken:
		return &row.IDToken
	case keyMFA:
		return (*string)(&row.MFA)
	}
	return nil
}

// timeColumn is the column of a time-valued key, or nil for other keys.
func timeColumn(row *models.Session, key string) **time.Time {
	switch key {
	case keyAuthTime:
		return &row.AuthTime
	case keyReauthAt:
		return &row.ReauthAt
	case keyCheckedAt:
		return &row.SSOCheckedAt
	}
	return nil
}

// toRow copies session values into the row: known keys to their columns,
// other string keys to the JSON data column.
func toRow(values map[any]any, row *models.Session) error {
	row.UserID, row.AuthTime, row.ReauthAt, row.SSOCheckedAt = nil, nil, nil, nil
	for _, k := range stringKeys() {
		*stringColumn(row, k) = ""
	}
	data := map[string]any{}
	for k, v := range values {
		key, ok := k.(string)
		if !ok {
			continue
		}
		switch key {
		case keyIP, keyUserAgent:
			continue
		case keyUserID:
			id, ok := v.(int64)
			if !ok {
				return fmt.Errorf("session value %s: want int64, got %T", key, v)
			}
			row.UserID = &id
			continue
		}
		if p := timeColumn(row, key); p != nil {
			t, ok := v.(time.Time)
			if !ok {
				return fmt.Errorf("session value %s: want time.Time, got %T", key, v)
			}
			t = t.UTC()
			*p = &t
			continue
		}
		if p := stringColumn(row, key); p != nil {
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("session value %s: want string, got %T", key, v)
			}
			*p = s
			continue
		}
		data[key] = v
	}
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode session data: %w", err)
	}
	if len(b) > MaxDataBytes {
		return fmt.Errorf("session data is %d bytes, over the %d byte cap", len(b), MaxDataBytes)
	}
	row.Data = string(b)
	return nil
}

// fromRow is toRow's inverse. It runs on every signed-in request, so the
// data column is decoded only when it holds something: toRow writes "{}"
// for a session whose values all have columns, the usual case.
func fromRow(row *models.Session, values map[any]any) error {
	if row.Data != "" && row.Data != "{}" {
		var data map[string]any
		if err := json.Unmarshal([]byte(row.Data), &data); err != nil {
			return fmt.Errorf("session %d data: %w", row.ID, err)
		}
		for k, v := range data {
			values[k] = v
		}
	}
	for _, k := range stringKeys() {
		if v := *stringColumn(row, k); v != "" {
			values[k] = v
		}
	}
	if row.UserID != nil {
		values[keyUserID] = *row.UserID
	}
	for _, k := range [...]string{keyAuthTime, keyReauthAt, keyCheckedAt} {
		if t := *timeColumn(row, k); t != nil {
			values[k] = *t
		}
	}
	values[keyIP], values[keyUserAgent] = row.IP, row.UserAgent
	return nil
}
