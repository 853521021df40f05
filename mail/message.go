package mail

import (
	"bytes"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"
	"unicode/utf8"
)

// Message is one message to one recipient, before rendering.
type Message struct {
	To      mail.Address
	Subject string
	Text    string // the text/plain body
	HTML    string // the text/html body
}

// ErrHeader is the error of a message whose recipient or subject would not
// make a safe header: a control character (CR, LF, ...), invalid UTF-8,
// an address that does not parse, or a value too long.
var ErrHeader = errors.New("unsafe mail header value")

// Limits on header values: well under the 998 characters of a line.
const (
	maxSubject = 200 // runes
	maxName    = 200 // runes of a display name
	maxAddress = 254 // bytes of an address (RFC 5321's path limit, less <>)
)

//go:embed templates
var templateFS embed.FS

// Templates are the embedded message templates. A message named n is
// templates/n.txt, which defines "subject" and "text", and templates/n.html,
// which defines "html"; text/template fills the first and html/template the
// second, so every value put into the HTML part is escaped for HTML.
type Templates struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// LoadTemplates parses the embedded templates.
func LoadTemplates() (*Templates, error) {
	t, err := texttemplate.New("").ParseFS(templateFS, "templates/*.txt")
	if err != nil {
		return nil, fmt.Errorf("mail templates: %w", err)
	}
	h, err := htmltemplate.New("").ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("mail templates: %w", err)
	}
	return &Templates{text: t, html: h}, nil
}

// Message fills the templates of message name with data for to. The
// subject is one line: runs of white space (line breaks included) in it
// become one space.
func (t *Templates) Message(name string, to mail.Address, data any) (Message, error) {
	m := Message{To: to}
	var subject, text, html bytes.Buffer
	if err := t.text.ExecuteTemplate(&subject, name+".subject", data); err != nil {
		return m, fmt.Errorf("mail %s subject: %w", name, err)
	}
	if err := t.text.ExecuteTemplate(&text, name+".text", data); err != nil {
		return m, fmt.Errorf("mail %s text: %w", name, err)
	}
	if err := t.html.ExecuteTemplate(&html, name+".html", data); err != nil {
		return m, fmt.Errorf("mail %s html: %w", name, err)
	}
	m.Subject = strings.Join(strings.Fields(subject.String()), " ")
	m.Text, m.HTML = text.String(), html.String()
	return m, nil
}

// checkAddress refuses an address unfit for a header or an SMTP command.
func checkAddress(a mail.Address) error {
	if err := checkHeaderText("display name", a.Name, maxName); err != nil {
		return err
	}
	if a.Address == "" || len(a.Address) > maxAddress || strings.ContainsFunc(a.Address, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || r == '<' || r == '>' || r == '"' || r == ','
	}) {
		return fmt.Errorf("%w: address %q", ErrHeader, a.Address)
	}
	local, domain, ok := strings.Cut(a.Address, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return fmt.Errorf("%w: address %q", ErrHeader, a.Address)
	}
	if p, err := mail.ParseAddress("<" + a.Address + ">"); err != nil || p.Address != a.Address {
		return fmt.Errorf("%w: address %q", ErrHeader, a.Address)
	}
	return nil
}

// checkHeaderText refuses header text with a control character (CR and LF
// above all), invalid UTF-8, or more than max runes.
func checkHeaderText(what, s string, max int) error {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
	}) {
		return fmt.Errorf("%w: the %s %q has a control character", ErrHeader, what, s)
	}
	if utf8.RuneCountInString(s) > max {
		return fmt.Errorf("%w: the %s is longer than %d characters", ErrHeader, what, max)
	}
	return nil
}

// formatAddress is a's header form: the display name quoted, or encoded
// with mime.QEncoding when it is not ASCII (net/mail does both).
func formatAddress(a mail.Address) string { return a.String() }

// render writes m as an RFC 5322 message from from with the Message-ID
// <id@domain of from>, dated now: a multipart/alternative of the text and
// the HTML, each quoted-printable. Every header value is checked first, so
// no value can add a header or a part; rand gives the MIME boundary.
func render(m Message, from mail.Address, id string, now time.Time, rand io.Reader) ([]byte, error) {
	if err := checkAddress(m.To); err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	if err := checkHeaderText("subject", m.Subject, maxSubject); err != nil {
		return nil, err
	}
	if !utf8.ValidString(m.Text) || !utf8.ValidString(m.HTML) {
		return nil, errors.New("mail body: invalid UTF-8")
	}
	_, domain, _ := strings.Cut(from.Address, "@")
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", formatAddress(from))
	header("To", formatAddress(m.To))
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<"+id+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Auto-Submitted", "auto-generated")

	var boundary [16]byte
	if _, err := io.ReadFull(rand, boundary[:]); err != nil {
		return nil, fmt.Errorf("mail boundary: %w", err)
	}
	mw := multipart.NewWriter(&b)
	if err := mw.SetBoundary("gatehouse-" + hex.EncodeToString(boundary[:])); err != nil {
		return nil, err
	}
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(w) // every line break becomes CRLF
		if _, err := io.WriteString(qp, part.body); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	b.WriteString("\r\n")
	return b.Bytes(), nil
}
