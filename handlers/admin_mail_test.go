package handlers_test

// The admin console's mail page (/admin/mail) over HTTP: messages the
// outbox gave up on (a transport refusing for good), their retry by an
// administrator, and who may do it.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/config"
	gmail "github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/models"
)

// switchTransport refuses every message for good while refuse is set, and
// records the ones it accepts.
type switchTransport struct {
	mu       sync.Mutex
	refuse   bool
	accepted []gmail.Envelope
	arrived  chan struct{} // gets a value for each accepted message
}

func newSwitchTransport() *switchTransport {
	return &switchTransport{refuse: true, arrived: make(chan struct{}, 100)}
}

func (s *switchTransport) Deliver(_ context.Context, env gmail.Envelope, _ []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse {
		return &gmail.PermanentError{Err: errors.New("smtp: RCPT TO: 550 5.1.1 <" + env.To + ">: mailbox unavailable")}
	}
	s.accepted = append(s.accepted, env)
	s.arrived <- struct{}{}
	return nil
}

func (s *switchTransport) set(refuse bool) { s.mu.Lock(); s.refuse = refuse; s.mu.Unlock() }

// newAdmMailEnv is the admin console with mail on, delivered through tr,
// with root (an administrator) and ann.
func newAdmMailEnv(t *testing.T, tr gmail.Transport) *admEnv {
	t.Helper()
	e := &admEnv{server: newServer(t, serverOpts{
		mailTransport: tr,
		configure: func(c *config.Config) {
			c.Mail = &gmail.Config{From: "gatehouse <no-reply@example.com>", Dir: t.TempDir()}
		},
	})}
	e.root = e.mkUser(t, admRoot, "Root Admin", admPW, true)
	e.ann = e.mkUser(t, admAnn, "Ann Example", admPW, false)
	return e
}

// failReset has ann ask for a reset link and the worker fail to deliver it
// for good; it returns the given-up message (its body holds the token).
func (e *admEnv) failReset(t *testing.T) models.OutboxMail {
	t.Helper()
	e.client().post(t, "/auth/forgot", url.Values{"email": {admAnn}}).want(t, http.StatusOK, "")
	e.app.MailWorker.DeliverDue(context.Background())
	failed, err := e.db.FailedMail(context.Background(), 10)
	if err != nil || len(failed) == 0 {
		t.Fatalf("no failed message: %v", err)
	}
	return failed[0]
}

// noErrorsButGiveUps is noServerErrors for these tests, whose worker logs
// the message it gives up on as an error on purpose.
func (e *admEnv) noErrorsButGiveUps(t *testing.T) {
	t.Helper()
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if (strings.Contains(line, "level=ERROR") && !strings.Contains(line, `msg="mail delivery failed"`)) || strings.Contains(line, "panic") {
			t.Errorf("server log: %s", line)
		}
	}
}

// TestAdminMailListsAndRetries: a message refused for good is listed with
// its recipient, subject, attempts and error, never its body; Retry puts
// it back, kicks the running worker (which delivers it at once rather than
// at its next interval), audits the retry and says so once.
func TestAdminMailListsAndRetries(t *testing.T) {
	t.Parallel()
	tr := newSwitchTransport()
	e := newAdmMailEnv(t, tr)
	m := e.failReset(t)
	// The body as sent is quoted-printable: undo its soft line breaks and '='.
	body := strings.ReplaceAll(strings.ReplaceAll(m.Body, "=\r\n", ""), "=3D", "=")
	tok := regexp.MustCompile(`token=([A-Za-z0-9_-]{20,})`).FindStringSubmatch(body)
	if tok == nil {
		t.Fatalf("no reset token in the given-up message:\n%s", m.Body)
	}

	root := e.asRoot(t)
	r := root.get(t, "/admin/mail").want(t, http.StatusOK, "")
	row := tableRow(t, r.body, "mail-"+strconv.FormatInt(m.ID, 10))
	for _, want := range []string{admAnn, "Reset your gatehouse password", "<td>1</td>", "550 5.1.1", "mailbox unavailable",
		`action="/admin/mail/` + strconv.FormatInt(m.ID, 10) + `/retry"`, "just now"} {
		if !strings.Contains(row, want) {
			t.Errorf("row lacks %q:\n%s", want, row)
		}
	}
	r.lacks(t, tok[1], "/auth/reset", `id="mail-off"`).has(t, `id="mail-queued">0 messages are waiting`)
	if rowCount(r.body, "mail-") != 1 {
		t.Fatalf("%d rows, want 1", rowCount(r.body, "mail-"))
	}

	// The worker runs, as serve runs it: its interval is 10s, so only the
	// kick delivers within the few seconds waited below.
	tr.set(false)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); e.app.MailWorker.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-stopped }) // before the app closes its database
	time.Sleep(100 * time.Millisecond)        // its first pass finds nothing due; then it waits

	r = root.post(t, "/admin/mail/"+strconv.FormatInt(m.ID, 10)+"/retry", nil).want(t, http.StatusSeeOther, "/admin/mail?done=retried")
	select {
	case <-tr.arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the retried message was not delivered: the worker was not kicked")
	}
	tr.mu.Lock()
	got := tr.accepted
	tr.mu.Unlock()
	if len(got) != 1 || got[0].To != admAnn || got[0].ID != m.MessageID {
		t.Fatalf("delivered %+v, want ann's message %s", got, m.MessageID)
	}
	root.page(t, r.loc).want(t, http.StatusOK, "").has(t, "The message was put back in the queue", `id="no-failed-mail"`)
	root.page(t, "/admin/mail").lacks(t, "put back in the queue") // once

	evs := e.events(t, models.EventMailRetried)
	if len(evs) != 1 || evs[0].ActorID == nil || *evs[0].ActorID != e.root.ID || evs[0].Email != admAnn || evs[0].UserID != nil ||
		evs[0].Detail != "message #"+strconv.FormatInt(m.ID, 10)+": Reset your gatehouse password" {
		t.Fatalf("mail.retried events %+v, want one by root for ann's message", evs)
	}
	audit := root.get(t, "/admin/audit").want(t, http.StatusOK, "")
	if !strings.Contains(audit.text(), "An undelivered message to "+admAnn+" was queued again by "+admRoot) {
		t.Fatalf("the audit log does not tell the retry:\n%s", audit.text())
	}
	e.noErrorsButGiveUps(t)
}

// TestAdminMailRetryRefused: a retry of anything but a given-up message is
// a 404 that changes nothing; one by a non-administrator is a 403, one
// from another site is refused before any handler, and neither changes
// anything either.
func TestAdminMailRetryRefused(t *testing.T) {
	t.Parallel()
	e := newAdmMailEnv(t, newSwitchTransport())
	failed := e.failReset(t)
	// A sent message and a queued one, through the outbox's own API.
	ctx := context.Background()
	enqueue := func(subject string) {
		if err := e.db.EnqueueMail(ctx, models.OutboxMail{MessageID: strings.Repeat(subject[:1], 32), Recipient: subject + "@example.com", Subject: subject, Body: "b"}); err != nil {
			t.Fatal(err)
		}
	}
	enqueue("sent")
	sent, ok, err := e.db.ClaimMail(ctx, "claim", time.Minute)
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if err := e.db.MarkMailSent(ctx, sent); err != nil {
		t.Fatal(err)
	}
	enqueue("queued")
	db := rawSQL(t, e.cfg.Database)
	var queuedID int64
	if err := db.QueryRow(`SELECT id FROM mail_outbox WHERE subject = $1`, "queued").Scan(&queuedID); err != nil {
		t.Fatal(err)
	}
	failedID := strconv.FormatInt(failed.ID, 10)
	outbox := func() string {
		var b strings.Builder
		rows, err := db.Query(`SELECT id, attempts, failed_at IS NULL, sent_at IS NULL FROM mail_outbox ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, attempts int64
			var notFailed, notSent bool
			if err := rows.Scan(&id, &attempts, &notFailed, &notSent); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%d attempts=%d failed=%t sent=%t\n", id, attempts, !notFailed, !notSent)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	before := outbox()

	root, ann := e.asRoot(t), e.client()
	ann.login(t, admAnn, admPW)
	tests := []struct {
		name   string
		c      *admClient
		path   string
		header map[string]string
		status int
		page   string
	}{
		{"unknown id", root, "/admin/mail/999999/retry", nil, http.StatusNotFound, "No such failed message"},
		{"not a number", root, "/admin/mail/abc/retry", nil, http.StatusNotFound, "No such failed message"},
		{"zero", root, "/admin/mail/0/retry", nil, http.StatusNotFound, "No such failed message"},
		{"a queued message", root, "/admin/mail/" + strconv.FormatInt(queuedID, 10) + "/retry", nil, http.StatusNotFound, "No such failed message"},
		{"a sent message", root, "/admin/mail/" + strconv.FormatInt(sent.ID, 10) + "/retry", nil, http.StatusNotFound, "No such failed message"},
		{"not an administrator", ann, "/admin/mail/" + failedID + "/retry", nil, http.StatusForbidden, "Administrators only"},
		{"from another site", root, "/admin/mail/" + failedID + "/retry",
			map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.test"}, http.StatusForbidden, "Request refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.c.must(t, req{method: http.MethodPost, path: tt.path, form: url.Values{}, header: tt.header})
			r.want(t, tt.status, "").has(t, tt.page)
			if after := outbox(); after != before {
				t.Fatalf("the outbox changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
	ann.get(t, "/admin/mail").want(t, http.StatusForbidden, "").has(t, "Administrators only")
	if n := len(e.events(t, models.EventMailRetried)); n != 0 {
		t.Fatalf("%d retries audited", n)
	}
	// The page lists the failed message alone and counts the queued one.
	r := root.get(t, "/admin/mail").want(t, http.StatusOK, "").has(t, `id="mail-queued">1 message is waiting`)
	if rowCount(r.body, "mail-") != 1 || !strings.Contains(r.body, `id="mail-`+failedID+`"`) {
		t.Fatalf("want the given-up message alone:\n%s", r.body)
	}
	// Reloading the address of a refused retry comes back to the page.
	root.get(t, "/admin/mail/"+failedID+"/retry").want(t, http.StatusSeeOther, "/admin/mail")
	e.noErrorsButGiveUps(t)
}

// TestAdminMailWithoutMail: with no mail block the page says mail is off,
// and the console links to it; a message given up on while mail was on
// is still listed, and a retry says it waits for mail to be configured.
func TestAdminMailWithoutMail(t *testing.T) {
	t.Parallel()
	e := newAdmEnv(t, admOpts{noOP: true})
	root := e.asRoot(t)
	r := root.get(t, "/admin/mail").want(t, http.StatusOK, "").has(t, `id="mail-off"`, "Mail is not configured", `id="no-failed-mail"`)
	r.lacks(t, `id="mail-queued"`, "in the queue until")
	root.get(t, "/dashboard").want(t, http.StatusOK, "").has(t, `href="/admin/mail"`)
	root.get(t, "/admin/audit").want(t, http.StatusOK, "").has(t, `<a href="/admin/mail">Mail</a>`)

	ctx := context.Background()
	if err := e.db.EnqueueMail(ctx, models.OutboxMail{MessageID: strings.Repeat("c", 32), Recipient: admAnn, Subject: "old", Body: "b"}); err != nil {
		t.Fatal(err)
	}
	m, ok, err := e.db.ClaimMail(ctx, "claim", time.Minute)
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if _, err := e.db.MarkMailFailed(ctx, m, errors.New("451 later"), true, 10); err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(m.ID, 10)
	root.get(t, "/admin/mail").want(t, http.StatusOK, "").has(t, `id="mail-`+id+`"`, "451 later")
	r = root.post(t, "/admin/mail/"+id+"/retry", nil).want(t, http.StatusSeeOther, "/admin/mail?done=retried_mail_off")
	r = root.page(t, r.loc).want(t, http.StatusOK, "")
	r.has(t, "Mail is not configured, so it waits there until it is.", "1 message waits in the queue until it is.", `id="no-failed-mail"`)
	e.noServerErrors(t)
}
