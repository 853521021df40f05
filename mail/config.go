package mail

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strings"
)

// Config is the mail block of the configuration (the config package
// decodes it; this package owns what it means). A nil *Config is mail off:
// flows that would send a message offer a link to copy instead.
type Config struct {
	// From is the sender, "Name <address>" or a bare address; Message-IDs
	// are made at its domain.
	From string `yaml:"from"`
	// SMTP delivers through a relay. Exactly one of SMTP and Dir is set.
	SMTP *SMTPConfig `yaml:"smtp"`
	// Dir writes each message as an .eml file in this folder instead
	// (development).
	Dir string `yaml:"dir"`
	// Notices switches the security notices, each on by default.
	Notices Notices `yaml:"notices"`
}

// SMTPConfig is the relay messages are submitted to.
type SMTPConfig struct {
	Host string `yaml:"host"`
	// Port is 587 when left out.
	Port     int    `yaml:"port"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Security is starttls (the default), tls (implicit TLS, usually port
	// 465) or none (plain text, only to a loopback host).
	Security string `yaml:"security"`
}

// The values of smtp.security.
const (
	SecurityStartTLS = "starttls"
	SecurityTLS      = "tls"
	SecurityNone     = "none"
)

// DefaultPort is smtp.port when left out: submission with STARTTLS.
const DefaultPort = 587

// Validate fills the defaults (port, security) and checks c. Its errors are
// one line starting with the key at fault under mail.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.From) == "" {
		return errors.New("mail.from: must be set, e.g. \"gatehouse <no-reply@example.com>\"")
	}
	if _, err := parseFrom(c.From); err != nil {
		return fmt.Errorf("mail.from: %w", err)
	}
	if (c.SMTP == nil) == (c.Dir == "") {
		return errors.New("mail: set exactly one of mail.smtp (a relay) and mail.dir (a folder for .eml files)")
	}
	if c.SMTP == nil {
		return nil
	}
	s := c.SMTP
	if s.Port == 0 {
		s.Port = DefaultPort
	}
	if s.Security == "" {
		s.Security = SecurityStartTLS
	}
	switch {
	case s.Host == "" || strings.ContainsFunc(s.Host, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '/' }):
		return errors.New("mail.smtp.host: must be a host name or IP address")
	case s.Port < 1 || s.Port > 65535:
		return errors.New("mail.smtp.port: must be between 1 and 65535")
	case s.Security != SecurityStartTLS && s.Security != SecurityTLS && s.Security != SecurityNone:
		return errors.New("mail.smtp.security: must be starttls, tls or none")
	case s.Security == SecurityNone && !IsLoopback(s.Host):
		return fmt.Errorf("mail.smtp.security: none sends mail (and the password) in clear text, so it is refused unless mail.smtp.host is loopback (localhost, 127.0.0.1, ::1), not %q", s.Host)
	case (s.Username == "") != (s.Password == ""):
		return errors.New("mail.smtp.username and mail.smtp.password: set both (AUTH PLAIN) or neither")
	case strings.ContainsAny(s.Username+s.Password, "\x00\r\n"):
		return errors.New("mail.smtp.username and mail.smtp.password: must not contain NUL or line breaks")
	}
	return nil
}

// IsLoopback reports whether host (a name or an IP address) is this
// machine: localhost or a loopback address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// parseFrom parses the sender and checks it is fit for a header.
func parseFrom(s string) (*mail.Address, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not an address such as \"gatehouse <no-reply@example.com>\": %v", s, err)
	}
	if err := checkAddress(*a); err != nil {
		return nil, err
	}
	return a, nil
}
