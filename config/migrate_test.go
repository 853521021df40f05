package config

import (
	"strings"
	"testing"
	"time"
)

// TestMigrationWindowKeys: migrate_from and migrate_until go together,
// name another configured provider and a date; the window ends after the
// day named.
func TestMigrationWindowKeys(t *testing.T) {
	provider := func(id, extra string) string {
		return "  - id: " + id + "\n    issuer: https://" + id + ".example\n    client_id: c\n    client_secret: s\n" + extra
	}
	for extra, want := range map[string]string{
		"    migrate_from: old\n":                                 "go together",
		"    migrate_until: 2030-01-31\n":                         "go together",
		"    migrate_from: nope\n    migrate_until: 2030-01-31\n": "another configured provider",
		"    migrate_from: new\n    migrate_until: 2030-01-31\n":  "another configured provider",
		"    migrate_from: old\n    migrate_until: 31/01/2030\n":  "must be a date",
	} {
		_, err := loadYAML(t, "providers:\n"+provider("old", "")+provider("new", extra), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", extra, err, want)
		}
	}
	cfg, err := loadYAML(t, "providers:\n"+provider("old", "")+provider("new", "    migrate_from: old\n    migrate_until: 2030-01-31\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Providers[1].MigrateEnd; !got.Equal(time.Date(2030, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("window ends %v, want the end of 2030-01-31 UTC", got)
	}
}
