package app

// Reloading the configuration while gatehouse serves (SIGHUP): the new
// configuration is validated and the application wired again from it over
// the same database, then swapped in at once for the next request; a
// request under way finishes on the one it started with. A configuration
// that fails validation, or changes a setting only a restart can apply,
// is refused and gatehouse keeps running on the old one. Nothing is lost:
// sessions, throttle counters, pending sign-ins and the mail outbox live
// in the database.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
)

// restartOnly lists the settings of old that next changes and that a
// running server cannot take: its listeners, its database, the secrets
// key, the public URL (cookie names and the passkeys' relying party
// follow it), the session cookie's name, the HTTP server's timeouts and
// the log format.
func restartOnly(old, next config.Config) []string {
	var keys []string
	for _, k := range []struct {
		key      string
		old, new any
	}{
		{"listen", old.Listen, next.Listen},
		{"metrics.listen", old.Metrics.Listen, next.Metrics.Listen},
		{"database", old.Database, next.Database},
		{"database_max_conns", old.DatabaseMaxConns, next.DatabaseMaxConns},
		{"base_url", old.BaseURL, next.BaseURL},
		{"secrets", old.Secrets, next.Secrets},
		{"server", old.Server, next.Server},
		{"log.format", old.Log.Format, next.Log.Format},
		{"session.cookie_name", old.Session.CookieName, next.Session.CookieName}, // would sign everyone out
	} {
		if !reflect.DeepEqual(k.old, k.new) {
			keys = append(keys, k.key)
		}
	}
	return keys
}

// Reload wires the application again from cfg over a's database, for Run
// to swap in; a is left as it is. It refuses a configuration that changes
// a restartOnly setting, and any that New would refuse, with the same
// message.
func (a *App) Reload(cfg config.Config) (*App, error) {
	if keys := restartOnly(a.Config, cfg); len(keys) > 0 {
		return nil, fmt.Errorf("%s cannot change while gatehouse runs: restart it to apply", strings.Join(keys, ", "))
	}
	return wire(cfg, a.DB, a.opts)
}

// LogLevel is cfg's log level (info when unset or unknown: config.Load
// has refused unknown ones).
func LogLevel(cfg config.Config) slog.Level {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	return level
}

// Check validates cfg as New would, without starting anything: no
// listener, no connection to the configured database, no file beside it,
// no call to a provider. It wires the application over a scratch SQLite
// database in a temporary directory, so every check New makes (providers,
// mail, passkeys, secrets) runs with New's messages. A PostgreSQL
// configuration is checked as such for the secrets key: without
// secrets.key, nothing can be sealed.
func Check(ctx context.Context, cfg config.Config) error {
	dir, err := os.MkdirTemp("", "gatehouse-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	scratch := cfg
	scratch.Database = filepath.Join(dir, "check.db")
	db, err := models.Open(scratch.Database)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	postgres := models.IsPostgres(cfg.Database)
	_, err = wire(scratch, db, Options{Logger: slog.New(slog.DiscardHandler), noKeyFile: postgres})
	return err
}
