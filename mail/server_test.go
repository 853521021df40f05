package mail

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Modes of the test relay: what it does with a message's DATA.
const (
	accept   = iota
	drop     // close the connection
	stall    // never answer (until the test ends)
	tempFail // 451
	permFail // 550
)

// received is one message the relay accepted.
type received struct {
	from, to string
	data     []byte
	tls      bool
	user     string
}

// relay is an SMTP server on loopback, recording what it accepts.
type relay struct {
	t        *testing.T
	host     string
	port     int
	pool     *x509.CertPool // trusts its certificate
	mu       sync.Mutex
	mode     int
	msgs     []received
	attempts int // DATA commands seen
	delay    time.Duration
	released chan struct{}
}

// newRelay starts a relay. starttls offers STARTTLS; implicitTLS speaks
// TLS from the start instead.
func newRelay(t *testing.T, starttls, implicitTLS bool) *relay {
	t.Helper()
	r := &relay{t: t, host: "127.0.0.1", released: make(chan struct{})}
	cert, pool := testCert(t)
	r.pool = pool
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{r: r, c: c}, nil }))
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.MaxMessageBytes = 1 << 20
	s.AllowInsecureAuth = true // loopback: the security=none case
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	if starttls {
		s.TLSConfig = tlsCfg
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicitTLS {
		ln = tls.NewListener(ln, tlsCfg)
	}
	r.port = ln.Addr().(*net.TCPAddr).Port
	go s.Serve(ln)
	t.Cleanup(func() {
		close(r.released)
		s.Close()
	})
	return r
}

func (r *relay) setMode(m int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mode = m
}

func (r *relay) messages() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.msgs...)
}

// config is an SMTPConfig for the relay.
func (r *relay) config(security string) SMTPConfig {
	return SMTPConfig{Host: r.host, Port: r.port, Security: security, Username: "gatehouse", Password: "s3cret"}
}

// transport is an SMTPTransport for the relay with short timeouts.
func (r *relay) transport(security string) *SMTPTransport {
	return &SMTPTransport{Config: r.config(security), TLS: &tls.Config{RootCAs: r.pool}, DialTimeout: 2 * time.Second, CommandTimeout: 2 * time.Second}
}

type session struct {
	r        *relay
	c        *smtp.Conn
	from, to string
	user     string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != "gatehouse" || password != "s3cret" {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.user = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error   { s.to = to; return nil }
func (s *session) Reset()                                      {}
func (s *session) Logout() error                               { return nil }

func (s *session) Data(rd io.Reader) error {
	data, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	r := s.r
	r.mu.Lock()
	mode, delay := r.mode, r.delay
	r.attempts++
	r.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	switch mode {
	case drop:
		s.c.Conn().Close()
		return errors.New("dropped")
	case stall:
		select {
		case <-r.released:
		case <-time.After(30 * time.Second):
		}
		return errors.New("stalled")
	case tempFail:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	case permFail:
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	_, isTLS := s.c.TLSConnectionState()
	r.mu.Lock()
	r.msgs = append(r.msgs, received{from: s.from, to: s.to, data: bytes.Clone(data), tls: isTLS, user: s.user})
	r.mu.Unlock()
	return nil
}

// testCert is a self-signed certificate for 127.0.0.1 and localhost, and a
// pool trusting it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test relay"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
