package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/mail"
)

// TestMail: no mail block is mail off; the block decodes with ${VAR}
// expansion and defaults; its errors name the key.
func TestMail(t *testing.T) {
	cfg, err := loadYAML(t, "listen: 127.0.0.1:8080\n", nil)
	if err != nil || cfg.Mail != nil {
		t.Fatalf("no block: %+v %v", cfg.Mail, err)
	}
	cfg, err = loadYAML(t, `
mail:
  from: "gatehouse <no-reply@example.com>"
  smtp:
    host: smtp.example.com
    username: gatehouse
    password: ${SMTP_PASSWORD}
`, map[string]string{"SMTP_PASSWORD": "pa$s"})
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Mail.SMTP; s == nil || s.Port != 587 || s.Security != "starttls" || s.Password != "pa$s" || cfg.Mail.From != "gatehouse <no-reply@example.com>" {
		t.Fatalf("decoded %+v %+v", cfg.Mail, cfg.Mail.SMTP)
	}
	for yaml, want := range map[string]string{
		"mail:\n  from: x@example.com\n  dir: out\n  smtp: {host: h}\n":                    "mail: set exactly one",
		"mail:\n  from: x@example.com\n":                                                   "mail: set exactly one",
		"mail:\n  dir: out\n":                                                              "mail.from: must be set",
		"mail:\n  from: x@example.com\n  smtp: {host: h, port: 0x10000}\n":                 "mail.smtp.port:",
		"mail:\n  from: x@example.com\n  smtp: {host: h, security: ssl}\n":                 "mail.smtp.security: must be",
		"mail:\n  from: x@example.com\n  smtp: {host: smtp.example.com, security: none}\n": "mail.smtp.security: none",
		"mail:\n  from: x@example.com\n  smtp: {host: h, prot: 25}\n":                      "mail.smtp.prot (line 3): unknown key",
		"mail:\n  from: x@example.com\n  smtp: {host: h, port: many}\n":                    "mail.smtp.port (line 3):",
	} {
		_, err := loadYAML(t, yaml, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", yaml, err, want)
		}
	}
	cfg, err = loadYAML(t, "mail:\n  from: x@example.com\n  dir: out\n", nil)
	if err != nil || cfg.Mail.Dir != "out" || cfg.Mail.SMTP != nil {
		t.Fatalf("dir: %+v %v", cfg.Mail, err)
	}
}

// TestShippedMailExample: the commented-out mail block of config.yaml,
// uncommented, loads (with dir emptied, as it says: one of the two).
func TestShippedMailExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "config.yaml"))
	if err != nil {
		t.Skip(err)
	}
	s := string(b)
	i, j := strings.Index(s, "# mail:\n"), strings.Index(s, "# OpenID Providers")
	if i < 0 || j < i {
		t.Fatal("no mail example in config.yaml")
	}
	var block strings.Builder
	for _, line := range strings.Split(s[i:j], "\n") {
		line = strings.TrimPrefix(strings.TrimPrefix(line, "#"), " ")
		if strings.HasPrefix(line, "  dir:") {
			continue
		}
		block.WriteString(line + "\n")
	}
	cfg, err := loadYAML(t, block.String(), map[string]string{"SMTP_PASSWORD": "p"})
	if err != nil {
		t.Fatalf("%v\n%s", err, block.String())
	}
	if s := cfg.Mail.SMTP; s.Host != "smtp.example.com" || s.Port != 587 || s.Security != "starttls" || s.Username != "gatehouse" || s.Password != "p" {
		t.Fatalf("%+v", s)
	}
}

// TestMailNotices: every security notice is on unless its key says false;
// an unknown notice is an error naming it.
func TestMailNotices(t *testing.T) {
	all := []mail.Notice{mail.NoticePasswordChanged, mail.NoticeEmailChanged, mail.NoticeNewBrowser}
	cfg, err := loadYAML(t, "mail:\n  from: x@example.com\n  dir: out\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range all {
		if !cfg.Mail.Notices.On(n) {
			t.Errorf("%s is off by default", n)
		}
	}
	cfg, err = loadYAML(t, "mail:\n  from: x@example.com\n  dir: out\n  notices:\n    new_browser: false\n    email_changed: true\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range all {
		if got, want := cfg.Mail.Notices.On(n), n != mail.NoticeNewBrowser; got != want {
			t.Errorf("%s: on %v, want %v", n, got, want)
		}
	}
	_, err = loadYAML(t, "mail:\n  from: x@example.com\n  dir: out\n  notices:\n    new_device: false\n", nil)
	if err == nil || !strings.Contains(err.Error(), "mail.notices.new_device (line 5): unknown key") {
		t.Errorf("unknown notice: %v", err)
	}
}
