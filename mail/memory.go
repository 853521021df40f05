package mail

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// DefaultMemoryMessages is how many messages a MemoryTransport keeps when
// NewMemoryTransport is given no size: far more than anyone trying the demo
// sends, and a few hundred kilobytes at most.
const DefaultMemoryMessages = 100

// maxCapturedText bounds the text kept of one captured message, in bytes,
// so the transport's memory stays bounded whatever is delivered to it.
const maxCapturedText = 64 << 10

// MemoryTransport keeps the messages delivered to it in memory instead of
// sending them, the newest Max of them, for gatehouse demo: a newcomer can
// follow a password reset link without a mail server. It is safe for
// concurrent use. Nothing is ever sent, so it is no transport for serve.
type MemoryTransport struct {
	mu   sync.Mutex
	ring []CapturedMessage // len is the bound; slots [0, n) used
	next int               // the slot the next message goes to
	n    int               // messages kept, up to len(ring)
}

// CapturedMessage is a delivered message, read back enough to show a
// person: who it is for, what it says and the links in it.
type CapturedMessage struct {
	// ID is the Envelope's ID (the random part of the Message-ID).
	ID string
	// To is the envelope recipient.
	To string
	// Subject is the decoded Subject header.
	Subject string
	// Date is the Date header; zero when it is missing or does not parse.
	Date time.Time
	// Text is the decoded text/plain body with LF line breaks (the raw
	// message when it has no text part), cut to 64 KiB.
	Text string
	// Links are the http and https URLs in Text, in order, each once.
	Links []string
}

// NewMemoryTransport keeps the last max messages; max < 1 is
// DefaultMemoryMessages.
func NewMemoryTransport(max int) *MemoryTransport {
	if max < 1 {
		max = DefaultMemoryMessages
	}
	return &MemoryTransport{ring: make([]CapturedMessage, max)}
}

// Deliver implements Transport: it reads the message and keeps it, the
// oldest kept one making room once the bound is reached. A message that
// does not parse is kept too, as its raw text: a relay accepts it as well.
func (t *MemoryTransport) Deliver(ctx context.Context, env Envelope, raw []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m := capture(env, raw)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ring[t.next] = m
	t.next = (t.next + 1) % len(t.ring)
	t.n = min(t.n+1, len(t.ring))
	return nil
}

// Limit is how many messages t keeps.
func (t *MemoryTransport) Limit() int { return len(t.ring) }

// Messages lists the kept messages, the newest first. The result is the
// caller's; its Links slices are shared but never written.
func (t *MemoryTransport) Messages() []CapturedMessage {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]CapturedMessage, 0, t.n)
	for i := 1; i <= t.n; i++ {
		out = append(out, t.ring[(t.next-i+len(t.ring))%len(t.ring)])
	}
	return out
}

// linkRE finds URLs in a text body; trailing sentence punctuation is
// trimmed after.
var linkRE = regexp.MustCompile(`https?://[^\s<>"]+`)

// capture reads raw as far as it can: the headers, then the first
// text/plain part (a message from render is a multipart/alternative of
// text and HTML, each quoted-printable).
func capture(env Envelope, raw []byte) CapturedMessage {
	m := CapturedMessage{ID: env.ID, To: env.To}
	text := string(raw)
	if msg, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		dec := new(mime.WordDecoder)
		if s, err := dec.DecodeHeader(msg.Header.Get("Subject")); err == nil {
			m.Subject = s
		} else {
			m.Subject = msg.Header.Get("Subject")
		}
		if d, err := msg.Header.Date(); err == nil {
			m.Date = d
		}
		if body, ok := textPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body); ok {
			text = body
		}
	}
	text = strings.ReplaceAll(text, "\r\n", "\n")
	if len(text) > maxCapturedText {
		text = text[:maxCapturedText]
		for !utf8.ValidString(text) {
			text = text[:len(text)-1]
		}
	}
	m.Text = strings.ToValidUTF8(text, "\uFFFD")
	seen := map[string]bool{}
	for _, l := range linkRE.FindAllString(m.Text, -1) {
		l = strings.TrimRight(l, ".,;:!?)'")
		if !seen[l] {
			seen[l] = true
			m.Links = append(m.Links, l)
		}
	}
	return m
}

// textPart is the decoded text of the first text/plain part of a body of
// the media type ctype (recursing into multipart ones), and false when it
// has none. Missing type is text/plain (RFC 2045).
func textPart(ctype, encoding string, body io.Reader) (string, bool) {
	if ctype == "" {
		ctype = "text/plain"
	}
	typ, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return "", false
	}
	if strings.HasPrefix(typ, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart() // decoded below, by its own header
			if err != nil {
				return "", false
			}
			if s, ok := textPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); ok {
				return s, true
			}
		}
	}
	if typ != "text/plain" {
		return "", false
	}
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body) // skips line breaks
	}
	b, err := io.ReadAll(io.LimitReader(body, maxCapturedText+utf8.UTFMax))
	if err != nil && len(b) == 0 {
		return "", false
	}
	return string(b), true
}
