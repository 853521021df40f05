package audit

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// WebhookConfig is audit.webhook (the config package decodes it; this
// package owns what it means). A nil *WebhookConfig is the webhook off.
type WebhookConfig struct {
	// URL receives each event as a POST: https, or http to a loopback
	// host only (the body names people and addresses).
	URL string `yaml:"url"`
	// Secret is the HMAC-SHA256 key of X-Gatehouse-Signature; ${ENV}
	// expansion keeps it out of the file.
	Secret string `yaml:"secret"`
	// Timeout bounds one delivery, connection to response; 0 is
	// DefaultTimeout.
	Timeout time.Duration `yaml:"timeout"`
}

// Webhook bounds and defaults.
const (
	DefaultTimeout = 5 * time.Second
	MinTimeout     = 100 * time.Millisecond
	MaxTimeout     = time.Minute
	// MinSecretLen is the shortest secret taken: an HMAC key an attacker
	// could guess signs forgeries.
	MinSecretLen = 16
)

// Validate fills the default timeout and checks c. Its errors are one line
// starting with the key at fault under audit.webhook.
func (c *WebhookConfig) Validate() error {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return errors.New("audit.webhook.url: must be set (or leave audit.webhook out)")
	case err != nil || u.Host == "" || u.Opaque != "":
		return fmt.Errorf("audit.webhook.url: %q must be an absolute https URL", c.URL)
	case u.User != nil:
		return errors.New("audit.webhook.url: must not carry credentials (the body is signed with audit.webhook.secret instead)")
	case u.Fragment != "":
		return errors.New("audit.webhook.url: must have no #fragment")
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return fmt.Errorf("audit.webhook.url: http sends the events in clear text, so it is refused unless the host is loopback (localhost, 127.0.0.1, ::1), not %q: use https", u.Hostname())
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("audit.webhook.url: scheme %q: must be https (or http to loopback)", u.Scheme)
	case c.Secret == "":
		return errors.New("audit.webhook.secret: must be set with audit.webhook.url, e.g. ${AUDIT_WEBHOOK_SECRET}; the receiver checks X-Gatehouse-Signature with it")
	case len(c.Secret) < MinSecretLen:
		return fmt.Errorf("audit.webhook.secret: must be at least %d characters (e.g. openssl rand -hex 32)", MinSecretLen)
	case c.Timeout < MinTimeout || c.Timeout > MaxTimeout:
		return fmt.Errorf("audit.webhook.timeout: must be between %v and %v", MinTimeout, MaxTimeout)
	}
	return nil
}

// isLoopback reports whether host (a name or an IP address) is this
// machine: localhost or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
