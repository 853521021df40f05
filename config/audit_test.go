package config

import (
	"testing"
	"time"
)

// TestAuditWebhook: audit.webhook decodes with ${VAR} expanded in its
// secret and the default timeout, and each invalid value is refused with
// its key: an http URL to another host, a URL without a host, a missing or
// short secret, a timeout out of bounds, an unknown key.
func TestAuditWebhook(t *testing.T) {
	t.Parallel()
	cfg, err := loadYAML(t, "audit:\n  webhook:\n    url: https://siem.example.com/in\n    secret: ${HOOK_SECRET}\n",
		map[string]string{"HOOK_SECRET": "0123456789abcdef0123"})
	if err != nil {
		t.Fatal(err)
	}
	wh := cfg.Audit.Webhook
	if wh == nil || wh.URL != "https://siem.example.com/in" || wh.Secret != "0123456789abcdef0123" || wh.Timeout != 5*time.Second {
		t.Fatalf("webhook %+v", wh)
	}
	if cfg, err := loadYAML(t, "listen: 127.0.0.1:1\n", nil); err != nil || cfg.Audit.Webhook != nil {
		t.Fatalf("webhook on by default: %+v %v", cfg.Audit.Webhook, err)
	}
	for _, ok := range []string{
		"url: http://127.0.0.1:9000/in\n    secret: 0123456789abcdef\n    timeout: 100ms",
		"url: http://localhost:9000/in\n    secret: 0123456789abcdef\n    timeout: 1m",
		"url: http://[::1]:9000/in\n    secret: 0123456789abcdef",
	} {
		if _, err := loadYAML(t, "audit:\n  webhook:\n    "+ok+"\n", nil); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, c := range []struct{ yaml, want string }{
		{"url: http://siem.example.com/in\n    secret: 0123456789abcdef", "audit.webhook.url: http sends the events in clear text"},
		{"url: http://127.0.0.2.example.com/in\n    secret: 0123456789abcdef", "audit.webhook.url: http sends"},
		{"url: ftp://127.0.0.1/in\n    secret: 0123456789abcdef", "audit.webhook.url: scheme \"ftp\""},
		{"url: /in\n    secret: 0123456789abcdef", "audit.webhook.url: \"/in\" must be an absolute https URL"},
		{"url: https://user:pw@siem.example.com/in\n    secret: 0123456789abcdef", "audit.webhook.url: must not carry credentials"},
		{"secret: 0123456789abcdef", "audit.webhook.url: must be set"},
		{"url: https://siem.example.com/in", "audit.webhook.secret: must be set"},
		{"url: https://siem.example.com/in\n    secret: ${EMPTY}", "audit.webhook.secret: must be set"},
		{"url: https://siem.example.com/in\n    secret: short", "audit.webhook.secret: must be at least 16"},
		{"url: https://siem.example.com/in\n    secret: 0123456789abcdef\n    timeout: 50ms", "audit.webhook.timeout: must be between 100ms and 1m0s"},
		{"url: https://siem.example.com/in\n    secret: 0123456789abcdef\n    timeout: 2m", "audit.webhook.timeout: must be between"},
		{"url: https://siem.example.com/in\n    secret: 0123456789abcdef\n    timeout: -1s", "audit.webhook.timeout: must be between"},
		{"url: https://siem.example.com/in\n    secret: 0123456789abcdef\n    retries: 3", "audit.webhook.retries"},
		{"url: https://siem.example.com/in\n    secret: ${UNSET_SECRET}", "UNSET_SECRET is not set"},
	} {
		_, err := loadYAML(t, "audit:\n  webhook:\n    "+c.yaml+"\n", map[string]string{"EMPTY": ""})
		wantErr(t, err, c.want)
	}
}
