// Package audit is gatehouse's audit stream: every audit event, wherever it
// is written, becomes one structured log record (msg=audit) and, with
// audit.webhook configured, one signed JSON POST to the operator's
// receiver, delivered through an outbox table by a worker on every replica.
//
// The record's fields are a versioned contract with the operator's log
// pipeline: under Schema 1 fields are only ever added; renaming, removing
// or changing the meaning of one bumps Schema. A golden test holds the
// shape.
package audit

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/gatehouse/gatehouse/models"
)

// Schema is the version of the record's field set, its schema field.
const Schema = 1

// Msg is the log message of every audit record, what a log pipeline
// filters on.
const Msg = "audit"

// Record is one audit event as the stream carries it: the log record's
// attributes and the webhook's body. It never carries an SSO sign-in's
// decision trace (large, and for the admin console) or anything secret:
// what the events table stores of an event is already free of passwords,
// tokens and links.
type Record struct {
	Schema int `json:"schema"`
	// Event is the kind, e.g. login.success.
	Event string `json:"event"`
	// EventID is the event's id in the events table (the audit log page).
	EventID int64 `json:"event_id"`
	// Time is when the event was recorded (UTC).
	Time time.Time `json:"time"`
	// Actor is the account that acted, absent when none (an anonymous
	// client, the command line).
	Actor *int64 `json:"actor,omitempty"`
	// Subject is the account the event is about.
	Subject   *Subject `json:"subject,omitempty"`
	Provider  string   `json:"provider,omitempty"`
	Method    string   `json:"method,omitempty"`
	IP        string   `json:"ip,omitempty"`
	RequestID string   `json:"request_id,omitempty"`
	Detail    string   `json:"detail,omitempty"`
}

// Subject is the account an event is about: its id (absent when there is
// no account, as for a sign-in with an unknown email) and the email as it
// was at the time.
type Subject struct {
	ID    *int64 `json:"id,omitempty"`
	Email string `json:"email,omitempty"`
}

// NewRecord is e's record; the request ID comes from ctx (WithRequestID).
func NewRecord(ctx context.Context, e *models.Event) Record {
	r := Record{
		Schema: Schema, Event: e.Kind.String(), EventID: e.ID, Time: e.CreatedAt.UTC(),
		Actor: e.ActorID, Provider: e.ProviderID, Method: e.Method.String(), IP: e.IP,
		RequestID: RequestID(ctx), Detail: e.Detail,
	}
	if e.UserID != nil || e.Email != "" {
		r.Subject = &Subject{ID: e.UserID, Email: e.Email}
	}
	return r
}

// JSON is the webhook's body: the record as one JSON object.
func (r Record) JSON() ([]byte, error) { return json.Marshal(r) }

// attrs are the log record's attributes, in the JSON body's order (time is
// the log record's own time).
func (r Record) attrs() []slog.Attr {
	as := []slog.Attr{slog.Int("schema", r.Schema), slog.String("event", r.Event), slog.Int64("event_id", r.EventID)}
	if r.Actor != nil {
		as = append(as, slog.Int64("actor", *r.Actor))
	}
	if s := r.Subject; s != nil {
		var sub []any
		if s.ID != nil {
			sub = append(sub, slog.Int64("id", *s.ID))
		}
		if s.Email != "" {
			sub = append(sub, slog.String("email", s.Email))
		}
		as = append(as, slog.Group("subject", sub...))
	}
	for _, kv := range [][2]string{{"provider", r.Provider}, {"method", r.Method}, {"ip", r.IP}, {"request_id", r.RequestID}, {"detail", r.Detail}} {
		if kv[1] != "" {
			as = append(as, slog.String(kv[0], kv[1]))
		}
	}
	return as
}

// Log writes r to h as one record at level INFO with message Msg and r's
// time. It goes to the handler directly, past the logger's level: the
// audit stream is not a verbosity setting, and log.level warn must not
// silence it.
func Log(ctx context.Context, h slog.Handler, r Record) error {
	rec := slog.NewRecord(r.Time, slog.LevelInfo, Msg, 0)
	rec.AddAttrs(r.attrs()...)
	return h.Handle(ctx, rec)
}

// requestIDKey is the context key of the request ID.
type requestIDKey struct{}

// WithRequestID is ctx carrying the request's ID (the X-Request-ID its
// response and log lines carry), for the records of the events it writes.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID is the request ID ctx carries, "" when none (the command line,
// background work).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
