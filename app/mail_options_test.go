package app_test

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/config"
	gmail "github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/testkit"
)

// TestMailTransportOptions: a transport given in Options replaces the
// configured one; one given with mail off, or both MailTransport and
// DemoMail, is an error rather than a silent choice.
func TestMailTransportOptions(t *testing.T) {
	t.Parallel()
	capture := gmail.NewMemoryTransport(0)
	tests := []struct {
		name    string
		mail    bool
		o       app.Options
		wantErr string
	}{
		{"the configured transport", true, app.Options{}, ""},
		{"MailTransport", true, app.Options{MailTransport: capture}, ""},
		{"DemoMail", true, app.Options{DemoMail: capture}, ""},
		{"both", true, app.Options{MailTransport: capture, DemoMail: capture}, "not both"},
		{"MailTransport with mail off", false, app.Options{MailTransport: capture}, "mail is off"},
		{"DemoMail with mail off", false, app.Options{DemoMail: capture}, "mail is off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := config.Default()
			cfg.Database = testkit.Database(t, "g.db")
			dir := t.TempDir()
			if tt.mail {
				cfg.Mail = &gmail.Config{From: "gatehouse <no-reply@example.com>", Dir: dir}
			}
			if err := cfg.Finish(); err != nil {
				t.Fatal(err)
			}
			a, err := app.New(t.Context(), cfg, tt.o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					if a != nil {
						a.Close()
					}
					t.Fatalf("app.New: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			want := gmail.Transport(gmail.DirTransport{Dir: dir})
			if tt.o.MailTransport != nil || tt.o.DemoMail != nil {
				want = capture
			}
			if a.Mailer.Transport != want || a.MailWorker.Transport != want {
				t.Fatalf("transports %#v / %#v, want %#v", a.Mailer.Transport, a.MailWorker.Transport, want)
			}
		})
	}
}
