// Package mail composes gatehouse's messages and delivers them through an
// outbox. A flow renders a Message and enqueues it in the transaction of
// its action (Mailer.Enqueue); a Worker on every replica claims due
// messages from the database and hands them to a Transport (an SMTP relay,
// or a folder of .eml files), retrying with backoff, so a dead relay
// delays mail but loses none and never holds up a request.
//
// The package knows nothing of HTTP; the config package decodes its
// Config.
package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"time"

	"github.com/gatehouse/gatehouse/models"
)

// Options are a Mailer's inputs beyond its configuration. Every field is
// optional.
type Options struct {
	// Now dates messages; nil is time.Now.
	Now func() time.Time
	// Rand gives Message-IDs and MIME boundaries; nil is crypto/rand.
	Rand io.Reader
	// Logger receives delivery failures; nil discards them.
	Logger *slog.Logger
}

// Mailer renders messages from the configured sender and names the
// transport that delivers them.
type Mailer struct {
	From      mail.Address
	Templates *Templates
	Transport Transport
	opts      Options
}

// New is the Mailer of a validated cfg (see Config.Validate): its
// transport is an SMTPTransport or a DirTransport.
func New(cfg Config, o Options) (*Mailer, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	from, err := parseFrom(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mail.from: %w", err)
	}
	tpl, err := LoadTemplates()
	if err != nil {
		return nil, err
	}
	var t Transport = DirTransport{Dir: cfg.Dir}
	if cfg.SMTP != nil {
		t = &SMTPTransport{Config: *cfg.SMTP}
	}
	return &Mailer{From: *from, Templates: tpl, Transport: t, opts: o}, nil
}

// Rendered is a message ready for the outbox.
type Rendered struct {
	ID  string // the random part of the Message-ID
	To  string // the recipient's address
	Raw []byte // the RFC 5322 message
	// Subject is kept beside the message for an administrator's list.
	Subject string
}

// Render renders m from the Mailer's sender with a new random Message-ID,
// dated now. A recipient or subject unfit for a header (a line break, a
// control character; see ErrHeader) is an error, never sent.
func (mr *Mailer) Render(m Message) (Rendered, error) {
	var id [16]byte
	if _, err := io.ReadFull(mr.opts.Rand, id[:]); err != nil {
		return Rendered{}, fmt.Errorf("message ID: %w", err)
	}
	r := Rendered{ID: hex.EncodeToString(id[:]), To: m.To.Address, Subject: m.Subject}
	raw, err := render(m, mr.From, r.ID, mr.opts.Now(), mr.opts.Rand)
	if err != nil {
		return Rendered{}, err
	}
	r.Raw = raw
	return r, nil
}

// Compose fills the embedded template name with data for to and renders
// it (Templates.Message, then Render).
func (mr *Mailer) Compose(name string, to mail.Address, data any) (Rendered, error) {
	m, err := mr.Templates.Message(name, to, data)
	if err != nil {
		return Rendered{}, err
	}
	return mr.Render(m)
}

// Enqueue writes r to the outbox through db. Called with the tx of a
// models.DB.Tx, the message goes out if and only if that transaction
// commits; a worker delivers it shortly after.
func Enqueue(ctx context.Context, db *models.DB, r Rendered) error {
	return db.EnqueueMail(ctx, models.OutboxMail{MessageID: r.ID, Recipient: r.To, Subject: r.Subject, Body: string(r.Raw)})
}
