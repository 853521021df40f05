package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/audit"
	"github.com/gatehouse/gatehouse/models"
)

// goldenEvent is an SSO sign-in with every field set, a decision trace
// included (which the record must leave out), recorded at a fixed time.
func goldenEvent() *models.Event {
	actor, user := int64(7), int64(42)
	return &models.Event{
		ID: 1234, CreatedAt: time.Date(2031, 6, 1, 12, 30, 45, 123456000, time.UTC), Kind: models.EventLoginSuccess,
		ActorID: &actor, UserID: &user, Email: "ann@example.org", Method: models.MethodSSO, ProviderID: "corp",
		IP: "192.0.2.10", Detail: "linked by verified email",
		Trace: `{"rules":[{"rule":"allowed_groups","said":"TRACE-MUST-NOT-LEAK"}]}`,
	}
}

// checkGolden compares got with testdata/name; GATEHOUSE_UPDATE_GOLDEN=1
// rewrites the file instead (then review the diff: it is the documented
// shape of the audit record).
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("GATEHOUSE_UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s drifted (a change of the record's shape bumps audit.Schema and the README):\ngot  %s\nwant %s", path, got, want)
	}
}

// TestRecordGolden: the JSON log record and the webhook body of a fixed
// event match their golden files byte for byte, so the documented schema 1
// cannot change silently; neither carries the decision trace.
func TestRecordGolden(t *testing.T) {
	t.Parallel()
	ctx := audit.WithRequestID(context.Background(), "0123456789abcdef")
	r := audit.NewRecord(ctx, goldenEvent())

	var buf bytes.Buffer
	// log.format: json as serve builds it, at level warn: the record is
	// written whatever log.level says.
	h := slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})
	if err := audit.Log(ctx, h, r); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "record.log.json", buf.Bytes())

	body, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "record.webhook.json", append(body, '\n'))

	for _, out := range []string{buf.String(), string(body)} {
		if strings.Contains(out, "TRACE") || strings.Contains(out, "rules") {
			t.Errorf("the decision trace leaked: %s", out)
		}
	}
	// The log record and the body carry the same fields.
	var logged, posted map[string]any
	if err := json.Unmarshal(buf.Bytes(), &logged); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &posted); err != nil {
		t.Fatal(err)
	}
	delete(logged, "level")
	delete(logged, "msg")
	lb, _ := json.Marshal(logged)
	pb, _ := json.Marshal(posted)
	if !bytes.Equal(lb, pb) {
		t.Errorf("log record and webhook body differ:\n%s\n%s", lb, pb)
	}
}

// TestRecordAbsentFields: an event with no actor, no account and no
// request (a failed sign-in for an unknown address from the command line)
// leaves those fields out rather than writing zeros.
func TestRecordAbsentFields(t *testing.T) {
	t.Parallel()
	e := &models.Event{ID: 9, CreatedAt: time.Date(2031, 6, 1, 0, 0, 0, 0, time.UTC), Kind: models.EventLoginFailure, Email: "who@example.org", Method: models.MethodPassword}
	body, err := audit.NewRecord(context.Background(), e).JSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"schema":1,"event":"login.failure","event_id":9,"time":"2031-06-01T00:00:00Z","subject":{"email":"who@example.org"},"method":"password"}`
	if string(body) != want {
		t.Errorf("got  %s\nwant %s", body, want)
	}
	var buf bytes.Buffer
	if err := audit.Log(context.Background(), slog.NewTextHandler(&buf, nil), audit.NewRecord(context.Background(), e)); err != nil {
		t.Fatal(err)
	}
	if want := "time=2031-06-01T00:00:00.000Z level=INFO msg=audit schema=1 event=login.failure event_id=9 subject.email=who@example.org method=password\n"; buf.String() != want {
		t.Errorf("text: got  %q\nwant %q", buf.String(), want)
	}
}
