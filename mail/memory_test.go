package mail

import (
	"context"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMemoryTransportReadsRenderedMessage: a message as Render makes it (a
// multipart/alternative, each part quoted-printable, a long link broken by
// soft line breaks) is read back with its recipient, subject, date, text
// and the link whole.
func TestMemoryTransportReadsRenderedMessage(t *testing.T) {
	t.Parallel()
	mr := testMailer(t, Config{From: "gatehouse demo <demo@gatehouse.localhost>", Dir: "unused"})
	link := "https://login.example.com/auth/reset?token=" + strings.Repeat("Ab0_-", 12) + "&next=%2Fdashboard"
	r, err := mr.Compose("test", mail.Address{Name: "Zoë", Address: "zoe@example.org"}, hostile{Name: "Zoë", Site: "Gâtehouse", Link: link})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(r.Raw), "=\r\n") || !strings.Contains(string(r.Raw), "=3D") {
		t.Fatalf("the test wants a soft line break and an encoded '=' in the raw message:\n%s", r.Raw)
	}
	mt := NewMemoryTransport(0)
	if err := mt.Deliver(t.Context(), Envelope{ID: r.ID, From: "demo@gatehouse.localhost", To: r.To}, r.Raw); err != nil {
		t.Fatal(err)
	}
	got := mt.Messages()
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
	m := got[0]
	if m.ID != r.ID || m.To != "zoe@example.org" || m.Subject != "Test message from Gâtehouse" || !m.Date.Equal(testNow) {
		t.Errorf("got ID %q To %q Subject %q Date %v", m.ID, m.To, m.Subject, m.Date)
	}
	if !strings.Contains(m.Text, "Hello Zoë,\n\nthis is a test message from Gâtehouse") || strings.Contains(m.Text, "\r") || strings.Contains(m.Text, "=3D") {
		t.Errorf("text not decoded:\n%q", m.Text)
	}
	if !slices.Equal(m.Links, []string{link}) {
		t.Errorf("links %q, want [%q]", m.Links, link)
	}
}

// TestMemoryTransportParsing: what is read from messages of other shapes;
// whatever arrives is kept.
func TestMemoryTransportParsing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw     string
		subject, text string
		links         []string
		date          time.Time
	}{
		{
			name:    "single part, quoted-printable",
			raw:     "Subject: =?utf-8?q?Caf=C3=A9?=\r\nDate: Sat, 01 Feb 2031 10:00:00 +0100\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nSee https://x.example/a?b=3Dc=\r\n&d=3De.\r\n",
			subject: "Café", text: "See https://x.example/a?b=c&d=e.\n", links: []string{"https://x.example/a?b=c&d=e"},
			date: time.Date(2031, 2, 1, 9, 0, 0, 0, time.UTC),
		},
		{
			name:    "base64",
			raw:     "Subject: b64\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naHR0cDovL2xv\r\nY2FsaG9zdC94\r\n",
			subject: "b64", text: "http://localhost/x", links: []string{"http://localhost/x"},
		},
		{
			name:    "no content type: text",
			raw:     "Subject: plain\r\n\r\nhttp://a.example/ and http://a.example/ again, (http://b.example/).\r\n",
			subject: "plain", text: "http://a.example/ and http://a.example/ again, (http://b.example/).\n",
			links: []string{"http://a.example/", "http://b.example/"},
		},
		{
			name:    "html only: the raw message is shown",
			raw:     "Subject: h\r\nContent-Type: text/html\r\n\r\n<a href=\"https://h.example/\">x</a>\r\n",
			subject: "h", text: "Subject: h\nContent-Type: text/html\n\n<a href=\"https://h.example/\">x</a>\n", links: []string{"https://h.example/"},
		},
		{
			name: "not a message: kept as it is",
			raw:  "no headers at all \xff", text: "no headers at all \uFFFD",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mt := NewMemoryTransport(1)
			if err := mt.Deliver(t.Context(), Envelope{ID: "00112233445566778899aabbccddeeff", To: "a@example.org"}, []byte(tt.raw)); err != nil {
				t.Fatal(err)
			}
			m := mt.Messages()[0]
			if m.Subject != tt.subject || m.Text != tt.text || !slices.Equal(m.Links, tt.links) || !m.Date.Equal(tt.date) || m.To != "a@example.org" {
				t.Errorf("got subject %q text %q links %q date %v", m.Subject, m.Text, m.Links, m.Date)
			}
		})
	}
}

// TestMemoryTransportBounded: past its size the oldest message goes; the
// list is newest first; a delivery whose context ended keeps nothing.
func TestMemoryTransportBounded(t *testing.T) {
	t.Parallel()
	mt := NewMemoryTransport(3)
	if len(mt.Messages()) != 0 {
		t.Fatal("a new transport has messages")
	}
	for i := range 5 {
		raw := fmt.Sprintf("Subject: m%d\r\n\r\nbody\r\n", i)
		if err := mt.Deliver(t.Context(), Envelope{ID: fmt.Sprint(i), To: "a@example.org"}, []byte(raw)); err != nil {
			t.Fatal(err)
		}
	}
	var subjects []string
	for _, m := range mt.Messages() {
		subjects = append(subjects, m.Subject)
	}
	if !slices.Equal(subjects, []string{"m4", "m3", "m2"}) {
		t.Fatalf("kept %q, want the newest three, newest first", subjects)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := mt.Deliver(ctx, Envelope{ID: "x"}, []byte("Subject: late\r\n\r\n")); err == nil {
		t.Fatal("a delivery with an ended context succeeded")
	}
	if got := mt.Messages()[0].Subject; got != "m4" {
		t.Fatalf("newest is %q after a refused delivery", got)
	}
	big := "Subject: big\r\n\r\nx" + strings.Repeat("é", maxCapturedText) // cut inside an é
	if err := mt.Deliver(t.Context(), Envelope{ID: "big"}, []byte(big)); err != nil {
		t.Fatal(err)
	}
	if m := mt.Messages()[0]; len(m.Text) > maxCapturedText || !strings.HasPrefix(m.Text, "xéé") || strings.ContainsRune(m.Text, '\uFFFD') {
		t.Fatalf("a big body kept as %d bytes (cut inside a character: %v)", len(m.Text), strings.ContainsRune(m.Text, '\uFFFD'))
	}
}

// TestMemoryTransportConcurrent: deliveries and listings from many
// goroutines at once (run with -race) lose nothing and keep the bound.
func TestMemoryTransportConcurrent(t *testing.T) {
	t.Parallel()
	const writers, each, size = 8, 40, 50
	mt := NewMemoryTransport(size)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				raw := fmt.Sprintf("Subject: w%d-%d\r\n\r\nhttp://x.example/%d/%d\r\n", w, i, w, i)
				if err := mt.Deliver(context.Background(), Envelope{ID: fmt.Sprint(w, i)}, []byte(raw)); err != nil {
					t.Error(err)
				}
			}
		})
		wg.Go(func() {
			for range each {
				if n := len(mt.Messages()); n > size {
					t.Errorf("%d messages kept, bound %d", n, size)
				}
			}
		})
	}
	wg.Wait()
	got := mt.Messages()
	if len(got) != size {
		t.Fatalf("%d messages kept after %d deliveries, want %d", len(got), writers*each, size)
	}
	seen := map[string]bool{}
	for _, m := range got {
		if seen[m.Subject] || len(m.Links) != 1 {
			t.Fatalf("message %q twice or torn: %+v", m.Subject, m)
		}
		seen[m.Subject] = true
	}
	// Each writer's own messages stay in order, newest first.
	last := map[string]int{}
	for _, m := range got {
		var w, i int
		fmt.Sscanf(m.Subject, "w%d-%d", &w, &i)
		key := fmt.Sprint(w)
		if prev, ok := last[key]; ok && i >= prev {
			t.Fatalf("writer %d: message %d listed after %d", w, i, prev)
		}
		last[key] = i
	}
}
