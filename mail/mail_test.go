package mail

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC)

func testMailer(t *testing.T, cfg Config) *Mailer {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	mr, err := New(cfg, Options{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return mr
}

// hostile is template data every part must carry safely.
type hostile struct{ Name, Site, Link string }

var evil = hostile{
	Name: `<script>alert("x")</script> & Zoë`,
	Site: "gatehouse\r\nBcc: victim@example.net",
	Link: `https://login.example.com/reset?t=a&u=b"><img src=x>`,
}

// TestRenderedMessageParses: a composed message parses with net/mail and
// mime/multipart; its headers are right (Message-ID at the sender's domain,
// Date, MIME-Version, an encoded non-ASCII name and subject) and both parts
// carry the values, the HTML one escaped.
func TestRenderedMessageParses(t *testing.T) {
	t.Parallel()
	mr := testMailer(t, Config{From: "Gâtehouse <no-reply@example.com>", Dir: t.TempDir()})
	r, err := mr.Compose("test", mail.Address{Name: "Zoë O'Brien", Address: "zoe@example.org"}, evil)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(r.Raw))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	if got := h.Get("Message-ID"); !regexp.MustCompile(`^<[0-9a-f]{32}@example\.com>$`).MatchString(got) || !strings.Contains(got, r.ID) {
		t.Errorf("Message-ID %q (id %q)", got, r.ID)
	}
	if d, err := h.Date(); err != nil || !d.Equal(testNow) {
		t.Errorf("Date %q: %v %v", h.Get("Date"), d, err)
	}
	if h.Get("MIME-Version") != "1.0" {
		t.Errorf("MIME-Version %q", h.Get("MIME-Version"))
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != "Zoë O'Brien" || to[0].Address != "zoe@example.org" {
		t.Errorf("To %q: %v %v", h.Get("To"), to, err)
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Gâtehouse" {
		t.Errorf("From %q: %v %v", h.Get("From"), from, err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil || subject != "Test message from gatehouse Bcc: victim@example.net" {
		t.Errorf("Subject %q = %q, %v", h.Get("Subject"), subject, err)
	}
	head, _, _ := bytes.Cut(r.Raw, []byte("\r\n\r\n"))
	if len(h["Bcc"]) != 0 || bytes.Contains(head, []byte("\nBcc:")) {
		t.Errorf("a value added a header:\n%s", r.Raw)
	}
	for _, line := range bytes.Split(r.Raw, []byte("\r\n")) {
		if bytes.ContainsAny(line, "\r\n") || len(line) > 998 {
			t.Fatalf("bare CR/LF or overlong line %q", line)
		}
		for _, c := range line {
			if c >= 0x80 {
				t.Fatalf("non-ASCII byte in %q", line)
			}
		}
	}
	typ, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || typ != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", h.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	mp := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mp.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p) // quoted-printable, decoded by the reader
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = string(b)
	}
	text, html := parts["text/plain"], parts["text/html"]
	if len(parts) != 2 || text == "" || html == "" {
		t.Fatalf("parts %v", parts)
	}
	if !strings.Contains(text, evil.Name) || !strings.Contains(text, evil.Link) || !strings.Contains(text, "\r\n") {
		t.Errorf("text part lacks the values:\n%s", text)
	}
	for _, raw := range []string{"<script>", `"><img`, "Zoë O"} {
		if strings.Contains(html, raw) {
			t.Errorf("HTML part carries %q unescaped:\n%s", raw, html)
		}
	}
	for _, esc := range []string{"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Zoë", "t=a&amp;u=b%22%3e%3cimg"} {
		if !strings.Contains(html, esc) {
			t.Errorf("HTML part lacks %q:\n%s", esc, html)
		}
	}
}

// TestHeaderInjectionRefused: a recipient or subject with CR, LF or
// another control character is refused, never rendered.
func TestHeaderInjectionRefused(t *testing.T) {
	t.Parallel()
	mr := testMailer(t, Config{From: "gatehouse <no-reply@example.com>", Dir: t.TempDir()})
	good := mail.Address{Name: "Ann", Address: "ann@example.org"}
	for name, m := range map[string]Message{
		"subject CRLF":      {To: good, Subject: "hi\r\nBcc: x@example.net"},
		"subject LF":        {To: good, Subject: "hi\nBcc: x@example.net"},
		"subject NUL":       {To: good, Subject: "hi\x00"},
		"subject DEL":       {To: good, Subject: "hi\x7f"},
		"subject NEL":       {To: good, Subject: "hi\u0085Bcc: x"},
		"subject too long":  {To: good, Subject: strings.Repeat("a", 201)},
		"subject bad UTF-8": {To: good, Subject: "hi\xff"},
		"name CRLF":         {To: mail.Address{Name: "Ann\r\nBcc: x@example.net", Address: "ann@example.org"}, Subject: "hi"},
		"name tab":          {To: mail.Address{Name: "Ann\tB", Address: "ann@example.org"}, Subject: "hi"},
		"address CRLF":      {To: mail.Address{Address: "ann@example.org\r\nBcc: x@example.net"}, Subject: "hi"},
		"address angle":     {To: mail.Address{Address: "ann@example.org>, x@example.net"}, Subject: "hi"},
		"address space":     {To: mail.Address{Address: "ann @example.org"}, Subject: "hi"},
		"address no domain": {To: mail.Address{Address: "ann"}, Subject: "hi"},
		"address two @":     {To: mail.Address{Address: "ann@x@example.org"}, Subject: "hi"},
		"address non-ASCII": {To: mail.Address{Address: "zoë@example.org"}, Subject: "hi"},
		"address empty":     {To: mail.Address{}, Subject: "hi"},
		"address too long":  {To: mail.Address{Address: strings.Repeat("a", 250) + "@example.org"}, Subject: "hi"},
		"body bad UTF-8":    {To: good, Subject: "hi", Text: "\xff"},
	} {
		if _, err := mr.Render(m); err == nil {
			t.Errorf("%s: rendered", name)
		} else if !strings.HasPrefix(name, "body") && !errors.Is(err, ErrHeader) {
			t.Errorf("%s: %v, want ErrHeader", name, err)
		}
	}
	if _, err := mr.Render(Message{To: good, Subject: "Ünïcode is fine", Text: "a\nb", HTML: "<p>a</p>"}); err != nil {
		t.Errorf("a fine message: %v", err)
	}
}

// TestConfigValidate: every rule names its key; defaults are filled.
func TestConfigValidate(t *testing.T) {
	t.Parallel()
	smtp := func(mod func(*SMTPConfig)) *SMTPConfig {
		s := &SMTPConfig{Host: "smtp.example.com", Username: "u", Password: "p"}
		if mod != nil {
			mod(s)
		}
		return s
	}
	const from = "gatehouse <no-reply@example.com>"
	for _, tt := range []struct {
		cfg  Config
		want string // "" is valid
	}{
		{Config{From: from, SMTP: smtp(nil)}, ""},
		{Config{From: "no-reply@example.com", Dir: "mail"}, ""},
		{Config{From: from, SMTP: smtp(func(s *SMTPConfig) { s.Host, s.Security = "localhost", "none" })}, ""},
		{Config{From: from, SMTP: smtp(func(s *SMTPConfig) { s.Host, s.Security = "::1", "none" })}, ""},
		{Config{From: from, SMTP: smtp(func(s *SMTPConfig) { s.Security, s.Port = "tls", 465 })}, ""},
		{Config{From: from, SMTP: smtp(func(s *SMTPConfig) { s.Username, s.Password = "", "" })}, ""},
		{Config{SMTP: smtp(nil)}, "mail.from: must be set"},
		{Config{From: "not an address", SMTP: smtp(nil)}, "mail.from: "},
		{Config{From: "gatehouse <no-reply@example.com>\r\nBcc: x@example.net", SMTP: smtp(nil)}, "mail.from: "},
		{Config{From: "a, b <b@example.com>", SMTP: smtp(nil)}, "mail.from: "},
		{Config{From: from}, "mail: set exactly one of mail.smtp"},
		{Config{From: from, SMTP: smtp(nil), Dir: "x"}, "mail: set exactly one of mail.smtp"},
		{Config{From: from, SMTP: smtp(func(s *SMTPConfig) { s.Host = "" })}, "mail.smtp.host:"},
		{Config{From: from, SMTP: smtp(func(s *SMTPConfig) { s.Host = "a b" })}, "mail.smtp.host:"},
		{Config{From: from, SMTP: smtp(func(s *SMTPConfig) { s.Port = 65536 })}, "mail.smtp.port: must be between 1 and 65535"},
		{Config{From: from, SMTP: smtp(func(s *SMTPConfig) { s.Port = -1 })}, "mail.smtp.port:"},
		{Config{From: from, SMTP: smtp(func(s *SMTPConfig) { s.Security = "ssl" })}, "mail.smtp.security: must be starttls, tls or none"},
		{Config{From: from, SMTP: smtp(func(s *SMTPConfig) { s.Security = "none" })}, "mail.smtp.security: none sends mail"},
		{Config{From: from, SMTP: smtp(func(s *SMTPConfig) { s.Host, s.Security = "10.0.0.1", "none" })}, "mail.smtp.security: none"},
		{Config{From: from, SMTP: smtp(func(s *SMTPConfig) { s.Password = "" })}, "mail.smtp.username and mail.smtp.password: set both"},
		{Config{From: from, SMTP: smtp(func(s *SMTPConfig) { s.Password = "a\r\nb" })}, "mail.smtp.username and mail.smtp.password: must not"},
	} {
		err := tt.cfg.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%+v: %v", tt.cfg, err)
		case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
			t.Errorf("%+v: %v, want %q...", tt.cfg, err, tt.want)
		}
	}
	c := Config{From: from, SMTP: &SMTPConfig{Host: "smtp.example.com"}}
	if err := c.Validate(); err != nil || c.SMTP.Port != 587 || c.SMTP.Security != "starttls" {
		t.Errorf("defaults: %+v %v", c.SMTP, err)
	}
}

// TestSMTPTransport: a message goes through each kind of security, with
// AUTH PLAIN, and arrives whole.
func TestSMTPTransport(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		security           string
		starttls, implicit bool
		wantTLS            bool
	}{
		{"starttls", true, false, true},
		{"tls", false, true, true},
		{"none", false, false, false},
	} {
		t.Run(tt.security, func(t *testing.T) {
			t.Parallel()
			rl := newRelay(t, tt.starttls, tt.implicit)
			mr := testMailer(t, Config{From: "gatehouse <no-reply@example.com>", Dir: "unused"})
			r, err := mr.Compose("test", mail.Address{Address: "ann@example.org"}, hostile{Name: "Ann", Site: "gatehouse", Link: "https://x/"})
			if err != nil {
				t.Fatal(err)
			}
			tr := rl.transport(tt.security)
			if err := tr.Deliver(t.Context(), Envelope{ID: r.ID, From: "no-reply@example.com", To: r.To}, r.Raw); err != nil {
				t.Fatal(err)
			}
			got := rl.messages()
			if len(got) != 1 || got[0].from != "no-reply@example.com" || got[0].to != "ann@example.org" || got[0].tls != tt.wantTLS || got[0].user != "gatehouse" {
				t.Fatalf("received %+v", got)
			}
			if !bytes.Equal(bytes.TrimRight(got[0].data, "\r\n"), bytes.TrimRight(r.Raw, "\r\n")) {
				t.Errorf("message changed in transit:\n%s\n---\n%s", got[0].data, r.Raw)
			}
		})
	}
}

// TestSMTPTransportFailures: STARTTLS required but not offered, a wrong
// certificate, a refused password, a stalled relay (the client times out)
// and a dropped connection are errors; 5xx is permanent, 4xx not.
func TestSMTPTransportFailures(t *testing.T) {
	t.Parallel()
	env := Envelope{ID: "00112233445566778899aabbccddeeff", From: "no-reply@example.com", To: "ann@example.org"}
	raw := []byte("Subject: x\r\n\r\nx\r\n")

	t.Run("no STARTTLS offered", func(t *testing.T) {
		t.Parallel()
		rl := newRelay(t, false, false)
		err := rl.transport("starttls").Deliver(t.Context(), env, raw)
		if err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") || len(rl.messages()) != 0 {
			t.Fatalf("err %v, received %d", err, len(rl.messages()))
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		t.Parallel()
		rl := newRelay(t, true, false)
		tr := rl.transport("starttls")
		tr.TLS = nil // the system's roots do not know the relay
		if err := tr.Deliver(t.Context(), env, raw); err == nil || len(rl.messages()) != 0 {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		rl := newRelay(t, true, false)
		tr := rl.transport("starttls")
		tr.Config.Password = "wrong"
		var perm *PermanentError
		if err := tr.Deliver(t.Context(), env, raw); err == nil || errors.As(err, &perm) {
			t.Fatalf("err %v: want a retried error", err)
		}
	})
	t.Run("stall", func(t *testing.T) {
		t.Parallel()
		rl := newRelay(t, true, false)
		rl.setMode(stall)
		tr := rl.transport("starttls")
		tr.CommandTimeout = 300 * time.Millisecond
		start := time.Now()
		err := tr.Deliver(t.Context(), env, raw)
		var ne net.Error
		if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("err %v: want a timeout", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("took %v", d)
		}
	})
	t.Run("context deadline", func(t *testing.T) {
		t.Parallel()
		rl := newRelay(t, true, false)
		rl.setMode(stall)
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := rl.transport("starttls").Deliver(ctx, env, raw)
		if err == nil || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
			t.Fatalf("err %v after %v", err, time.Since(start))
		}
	})
	t.Run("drop", func(t *testing.T) {
		t.Parallel()
		rl := newRelay(t, true, false)
		rl.setMode(drop)
		var perm *PermanentError
		if err := rl.transport("starttls").Deliver(t.Context(), env, raw); err == nil || errors.As(err, &perm) {
			t.Fatalf("err %v", err)
		}
	})
	for _, c := range []struct {
		mode      int
		permanent bool
	}{{tempFail, false}, {permFail, true}} {
		t.Run("reply "+map[bool]string{false: "4xx", true: "5xx"}[c.permanent], func(t *testing.T) {
			t.Parallel()
			rl := newRelay(t, true, false)
			rl.setMode(c.mode)
			var perm *PermanentError
			err := rl.transport("starttls").Deliver(t.Context(), env, raw)
			if err == nil || errors.As(err, &perm) != c.permanent {
				t.Fatalf("err %v, permanent %v", err, errors.As(err, &perm))
			}
		})
	}
	t.Run("endless reply", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			line := []byte("220-" + strings.Repeat("x", 1000) + "\r\n")
			for i := 0; i < 10_000; i++ { // 10 MB at most
				if _, err := c.Write(line); err != nil {
					return
				}
			}
		}()
		port := ln.Addr().(*net.TCPAddr).Port
		tr := &SMTPTransport{Config: SMTPConfig{Host: "127.0.0.1", Port: port, Security: "none"}, CommandTimeout: 2 * time.Second}
		if err := tr.Deliver(t.Context(), env, raw); !errors.Is(err, errReplyTooLong) {
			t.Fatalf("err %v, want the reply limit", err)
		}
	})
}

// TestDirTransport: each message is <id>.eml, 0600, rewritten on a retry;
// an ID that is not hex is refused.
func TestDirTransport(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out")
	tr := DirTransport{Dir: dir}
	env := Envelope{ID: "00112233445566778899aabbccddeeff"}
	for range 2 {
		if err := tr.Deliver(t.Context(), env, []byte("msg")); err != nil {
			t.Fatal(err)
		}
	}
	es, _ := os.ReadDir(dir)
	if len(es) != 1 || es[0].Name() != env.ID+".eml" {
		t.Fatalf("files %v", es)
	}
	fi, _ := os.Stat(filepath.Join(dir, env.ID+".eml"))
	di, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Errorf("modes %v %v", fi.Mode(), di.Mode())
	}
	if err := tr.Deliver(t.Context(), Envelope{ID: "../../etc/passwd"}, []byte("x")); err == nil {
		t.Error("a path as ID was written")
	}
}
