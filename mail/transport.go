package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// Envelope is what a transport needs beside the rendered message.
type Envelope struct {
	// ID is the random part of the Message-ID, lower-case hex.
	ID   string
	From string // the envelope sender (MAIL FROM)
	To   string // the envelope recipient (RCPT TO)
}

// Transport delivers rendered messages. Deliver returns when the message
// was accepted, or with an error; ctx bounds it.
type Transport interface {
	Deliver(ctx context.Context, env Envelope, raw []byte) error
}

// PermanentError marks a refusal that retrying cannot change: an SMTP 5xx
// reply to the sender, the recipient or the message. The worker gives up on
// such a message at once (an administrator can retry it).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// validID is the form of an Envelope's ID, safe as a file name.
var validID = regexp.MustCompile(`^[0-9a-f]{16,64}$`)

// DirTransport writes each message to Dir as <ID>.eml, mode 0600 (Dir is
// made 0700 when missing), for development: no relay needed, and each
// message opens in a mail program. A retry rewrites the same file.
type DirTransport struct{ Dir string }

// Deliver implements Transport.
func (t DirTransport) Deliver(ctx context.Context, env Envelope, raw []byte) error {
	if !validID.MatchString(env.ID) {
		return fmt.Errorf("mail dir: message ID %q is not a file name", env.ID)
	}
	if err := os.MkdirAll(t.Dir, 0o700); err != nil {
		return fmt.Errorf("mail dir: %w", err)
	}
	f, err := os.CreateTemp(t.Dir, ".tmp-*.eml")
	if err != nil {
		return fmt.Errorf("mail dir: %w", err)
	}
	defer os.Remove(f.Name()) // a no-op once renamed
	_, err = f.Write(raw)
	err = errors.Join(err, f.Close()) // CreateTemp makes it 0600
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(t.Dir, env.ID+".eml"))
	}
	if err != nil {
		return fmt.Errorf("mail dir: %w", err)
	}
	return nil
}

// SMTPTransport submits messages to a relay, one connection a message.
type SMTPTransport struct {
	Config SMTPConfig
	// TLS is the base TLS configuration (tests set RootCAs); nil is the
	// system's roots. ServerName is always the configured host.
	TLS *tls.Config
	// DialTimeout bounds connecting; CommandTimeout each command and its
	// reply, the TLS handshake and the message data. Zero: 10s and 30s.
	DialTimeout, CommandTimeout time.Duration
	// MaxReplyBytes bounds everything the server sends on one connection,
	// so a hostile or broken server cannot feed it without end. Zero: 64 KiB.
	MaxReplyBytes int64
	// LocalName is the name given in EHLO; "" is "localhost".
	LocalName string
}

// errReplyTooLong is the error once the server sent more than
// MaxReplyBytes.
var errReplyTooLong = errors.New("smtp: the server sent more than the reply limit")

// Deliver implements Transport: connect, EHLO, STARTTLS (or TLS from the
// start), AUTH PLAIN when a username is set, MAIL, RCPT, DATA, QUIT. Every
// step has a deadline (the earlier of CommandTimeout and ctx's).
func (t *SMTPTransport) Deliver(ctx context.Context, env Envelope, raw []byte) (err error) {
	cfg := t.Config
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	dialTimeout, cmdTimeout, maxReply := t.DialTimeout, t.CommandTimeout, t.MaxReplyBytes
	if dialTimeout <= 0 {
		dialTimeout = 10 * time.Second
	}
	if cmdTimeout <= 0 {
		cmdTimeout = 30 * time.Second
	}
	if maxReply <= 0 {
		maxReply = 64 << 10
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	raw0, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	cancel()
	if err != nil {
		return fmt.Errorf("smtp: connect to %s: %w", addr, err)
	}
	conn := &boundedConn{Conn: raw0, ctx: ctx, timeout: cmdTimeout, left: maxReply}
	conn.extend()
	// Closing the connection when ctx ends unblocks whatever step waits.
	stop := context.AfterFunc(ctx, func() { raw0.Close() })
	defer stop()
	defer func() {
		// The connection's deadline is ctx's when that comes first: say so,
		// even in the instant before ctx itself reports it.
		cerr := ctx.Err()
		if dl, ok := ctx.Deadline(); ok && cerr == nil && !time.Now().Before(dl) {
			cerr = context.DeadlineExceeded
		}
		if err != nil && cerr != nil {
			err = fmt.Errorf("%w (%w)", err, cerr)
		}
	}()

	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.TLS != nil {
		tlsCfg = t.TLS.Clone()
	}
	tlsCfg.ServerName = cfg.Host
	var nc net.Conn = conn
	if cfg.Security == SecurityTLS {
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw0.Close()
			return fmt.Errorf("smtp: TLS with %s: %w", addr, err)
		}
		nc = tc // net/smtp sees a *tls.Conn: the connection counts as TLS
	}
	c, err := smtp.NewClient(nc, cfg.Host)
	if err != nil {
		raw0.Close()
		return fmt.Errorf("smtp: %s: greeting: %w", addr, classify(err))
	}
	defer c.Close()
	local := t.LocalName
	if local == "" {
		local = "localhost"
	}
	if err := c.Hello(local); err != nil {
		return fmt.Errorf("smtp: EHLO: %w", classify(err))
	}
	if cfg.Security == SecurityStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("smtp: the server does not offer STARTTLS (mail.smtp.security: starttls)")
		}
		if err := c.StartTLS(tlsCfg); err != nil {
			return fmt.Errorf("smtp: STARTTLS: %w", classify(err))
		}
	}
	if cfg.Username != "" {
		if err := c.Auth(plainAuth{cfg: cfg}); err != nil {
			return fmt.Errorf("smtp: AUTH: %w", err) // 535 and the like: retried, the relay may be fixed
		}
	}
	if err := c.Mail(env.From); err != nil {
		return fmt.Errorf("smtp: MAIL FROM: %w", classify(err))
	}
	if err := c.Rcpt(env.To); err != nil {
		return fmt.Errorf("smtp: RCPT TO: %w", classify(err))
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: DATA: %w", classify(err))
	}
	if _, err := w.Write(raw); err != nil {
		return fmt.Errorf("smtp: DATA: %w", classify(err))
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: message refused: %w", classify(err))
	}
	_ = c.Quit() // accepted: a failed QUIT changes nothing
	return nil
}

// classify marks an SMTP 5xx reply permanent.
func classify(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 && te.Code < 600 {
		return &PermanentError{Err: err}
	}
	return err
}

// plainAuth is AUTH PLAIN, refused unless the connection is TLS or the
// host loopback: net/smtp's PlainAuth knows loopback only by three names.
type plainAuth struct{ cfg SMTPConfig }

func (a plainAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !IsLoopback(a.cfg.Host) {
		return "", nil, errors.New("refusing to send the password without TLS")
	}
	if server.Name != a.cfg.Host {
		return "", nil, errors.New("wrong host name")
	}
	return "PLAIN", []byte("\x00" + a.cfg.Username + "\x00" + a.cfg.Password), nil
}

func (a plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected server challenge")
	}
	return nil, nil
}

// boundedConn is the TCP connection under SMTP (and TLS): each write moves
// the deadline CommandTimeout ahead (capped at ctx's deadline), so every
// command and the reply to it have that long, and reads stop after left
// bytes in all.
type boundedConn struct {
	net.Conn
	ctx     context.Context
	timeout time.Duration
	left    int64
}

func (c *boundedConn) extend() {
	d := time.Now().Add(c.timeout)
	if dl, ok := c.ctx.Deadline(); ok && dl.Before(d) {
		d = dl
	}
	_ = c.Conn.SetDeadline(d)
}

func (c *boundedConn) Write(p []byte) (int, error) {
	c.extend()
	return c.Conn.Write(p)
}

func (c *boundedConn) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errReplyTooLong
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= int64(n)
	return n, err
}
