package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/testkit"
)

// TestCLIAuditRecord: an event the command line writes (user create) is
// one JSON audit record on standard error with log.format json, even at
// log.level warn; it has no request_id (there is no request) and no actor.
func TestCLIAuditRecord(t *testing.T) {
	hermetic(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	body := fmt.Sprintf("database: %q\nlog:\n  level: warn\n  format: json\npassword:\n  bcrypt_cost: 10\n", testkit.DatabaseIn(t, dir, "g.db"))
	if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "", "user", "create", "--email", "ann@example.com", "--config", cfgPath)
	r.want(t, exitOK, "created ann@example.com", "")
	var recs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "audit" {
			recs = append(recs, m)
		}
	}
	if len(recs) != 1 {
		t.Fatalf("%d audit records on stderr:\n%s", len(recs), r.stderr)
	}
	rec := recs[0]
	sub, _ := rec["subject"].(map[string]any)
	if rec["event"] != "user.created" || rec["schema"] != 1.0 || rec["method"] != "cli" || sub["email"] != "ann@example.com" || sub["id"] == nil {
		t.Errorf("record %v", rec)
	}
	for _, absent := range []string{"request_id", "actor", "trace"} {
		if _, ok := rec[absent]; ok {
			t.Errorf("record has %s: %v", absent, rec)
		}
	}
}
