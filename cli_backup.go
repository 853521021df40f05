package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/secrets"
)

// backupSummary is the description of "gatehouse backup" in its usage.
const backupSummary = `Write a consistent copy of the SQLite database to FILE, safely while
gatehouse runs and serves (SQLite's VACUUM INTO reads one snapshot without
blocking writers), then check the copy: SQLite's integrity check, and its
migration version must be this gatehouse's latest. An existing FILE is only
replaced with --force, and then only once the new copy is complete and
checked. Back up secrets.key (beside the database) too, once, separately.
With PostgreSQL, use pg_dump instead.`

// restoreSummary is the description of "gatehouse restore" in its usage.
const restoreSummary = `Replace the SQLite database with the backup FILE, in a stopped installation.
FILE must pass SQLite's integrity check and not be newer than this gatehouse;
an older one is migrated to the current schema. An existing database is only
replaced with --force, and is kept beside it as <database>.before-restore-<time>.
It refuses while a gatehouse server runs on the database: stop it first.
With PostgreSQL, use pg_restore instead.`

// pgDumpHint and pgRestoreHint are what backup and restore say when the
// database is PostgreSQL, whose own tools take consistent dumps of a live
// server and know its roles and sequences.
const (
	pgDumpHint    = `with PostgreSQL use pg_dump: pg_dump --format=custom --file=gatehouse-$(date +%Y%m%d).dump "postgres://USER@HOST/gatehouse"`
	pgRestoreHint = `with PostgreSQL use pg_restore, gatehouse stopped: pg_restore --clean --if-exists --no-owner --dbname="postgres://USER@HOST/gatehouse" gatehouse-YYYYMMDD.dump`
)

// cmdBackup runs "gatehouse backup --to FILE [--force]".
func cmdBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("backup", backupSummary)
	to := fs.String("to", "", "the backup `file` to write (required)")
	force := fs.Bool("force", false, "replace the file if it exists")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if *to == "" {
		return errUsage{errors.New("--to is required: the file to write the backup to")}
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if models.IsPostgres(cfg.Database) {
		return errUsage{fmt.Errorf("backup copies an SQLite database, but the configured one is PostgreSQL (%s): %s", models.Redact(cfg.Database), pgDumpHint)}
	}
	if samePath(*to, cfg.Database) {
		return errUsage{fmt.Errorf("--to %s is the database itself: write the backup to another file", *to)}
	}
	if !*force {
		if _, err := os.Lstat(*to); err == nil {
			return fmt.Errorf("%s exists: add --force to replace it (the new backup is written and checked first, so a failed one leaves it as it is)", *to)
		}
	}
	// VACUUM INTO writes into a new file beside the destination, renamed
	// onto it only when complete and checked: a backup that fails half way
	// (a full disk, a kill) never leaves a truncated file under the name of
	// a good one, nor destroys the previous backup.
	tmp, err := emptyTemp(filepath.Dir(*to), filepath.Base(*to))
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp) // after the rename, a no-op
	if err := models.VacuumInto(ctx, cfg.Database, tmp); err != nil {
		return fmt.Errorf("backup: %w (%s was not written)", err, *to)
	}
	c, err := checkSQLiteFile(ctx, tmp)
	if err != nil {
		return fmt.Errorf("backup: the copy of %s failed its check, so %s was not written: %w", cfg.Database, *to, err)
	}
	if c.version != c.latest {
		return fmt.Errorf("backup: %s is at migration version %d but this gatehouse's latest is %d: back it up with the gatehouse version that serves it (%s was not written)",
			cfg.Database, c.version, c.latest, *to)
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := publish(tmp, *to, *force); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s: %s, migration version %d, %d users\n", *to, size(c.bytes), c.version, c.users)
	fmt.Fprintln(stdout, secretsReminder(cfg, false))
	return nil
}

// secretsReminder is the reminder backup (restore false) and restore print
// about the key sealed second factors and refresh tokens need: the database
// alone cannot open them, and a key kept in the same backups as the
// database would protect nothing.
func secretsReminder(cfg config.Config, restore bool) string {
	const why = ": without it the sealed second factors and refresh tokens cannot be opened"
	switch {
	case cfg.Secrets.Key != "" && restore:
		return "secrets.key in the configuration must be the key in use when the backup was made" + why
	case cfg.Secrets.Key != "":
		return "secrets.key is set in the configuration: keep its value too, once, apart from these backups" + why
	case restore:
		return secrets.KeyFile(cfg.Database) + " must be the key file in use when the backup was made" + why
	}
	return "also back up " + secrets.KeyFile(cfg.Database) + ", once, apart from these backups" + why
}

// cmdRestore runs "gatehouse restore --from FILE [--force]".
func cmdRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("restore", restoreSummary)
	from := fs.String("from", "", "the backup `file` to restore (required)")
	force := fs.Bool("force", false, "replace an existing database (kept as <database>.before-restore-<time>)")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if *from == "" {
		return errUsage{errors.New("--from is required: the backup file to restore")}
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if models.IsPostgres(cfg.Database) {
		return errUsage{fmt.Errorf("restore replaces an SQLite database, but the configured one is PostgreSQL (%s): %s", models.Redact(cfg.Database), pgRestoreHint)}
	}
	db := cfg.Database
	if samePath(*from, db) {
		return errUsage{fmt.Errorf("--from %s is the configured database itself", *from)}
	}
	switch fi, err := os.Stat(*from); {
	case errors.Is(err, iofs.ErrNotExist):
		return fmt.Errorf("no backup at %s", *from)
	case err != nil:
		return fmt.Errorf("backup: %w", err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a file", *from)
	}
	// A -wal beside FILE holds transactions the file alone lacks: FILE is a
	// live database or one copied without its WAL, not a backup.
	if fi, err := os.Stat(*from + "-wal"); err == nil && fi.Size() > 0 {
		return fmt.Errorf("%s-wal exists: %s is in use, or its last transactions are in that WAL; restore a file written by gatehouse backup", *from, *from)
	}

	unlock, err := models.LockStopped(db)
	if errors.Is(err, models.ErrServing) {
		return fmt.Errorf("%w: stop gatehouse first (systemctl stop gatehouse), then restore", err)
	} else if err != nil {
		return err
	}
	defer unlock()
	exists := false
	if fi, err := os.Stat(db); err == nil && fi.Size() > 0 {
		exists = true
	} else if err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return err
	}
	if exists && !*force {
		return fmt.Errorf("%s exists: add --force to replace it (it is kept as %s.before-restore-<time>)", db, db)
	}

	// The backup is copied beside the database and checked there, so the
	// rename that puts it in place is atomic and what is checked is what is
	// served.
	tmp, err := emptyTemp(filepath.Dir(db), filepath.Base(db))
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer os.Remove(tmp)
	if err := copyFile(*from, tmp); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	c, err := checkSQLiteFile(ctx, tmp)
	switch {
	case err != nil:
		return fmt.Errorf("restore: %s failed its check: %w (nothing was changed)", *from, err)
	case c.version == 0:
		return fmt.Errorf("restore: %s is not a gatehouse database: no migration was ever applied to it (nothing was changed)", *from)
	case c.version > c.latest:
		return fmt.Errorf("restore: %s is at migration version %d, made by a newer gatehouse (this one's latest is %d): restore it with that version or a later one (nothing was changed)",
			*from, c.version, c.latest)
	}

	keep := ""
	if exists {
		keep = db + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(db, keep); err != nil {
			return fmt.Errorf("restore: keep the current database: %w (nothing was changed)", err)
		}
		// The WAL of a server that did not stop cleanly holds committed
		// transactions: it goes with the kept file, under the name SQLite
		// looks for beside it, so opening the kept copy recovers them.
		if err := os.Rename(db+"-wal", keep+"-wal"); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			_ = os.Rename(keep, db)
			return fmt.Errorf("restore: keep the current database's WAL: %w (nothing was changed)", err)
		}
	}
	// A stale -wal or -shm beside the restored file would be taken for its
	// own: SQLite would replay another database's pages into it.
	for _, stale := range []string{db + "-wal", db + "-shm"} {
		if err := os.Remove(stale); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return fmt.Errorf("restore: remove %s: %w", stale, err)
		}
	}
	if err := os.Rename(tmp, db); err != nil {
		if keep != "" {
			_ = os.Rename(keep, db)
			_ = os.Rename(keep+"-wal", db+"-wal")
		}
		return fmt.Errorf("restore: %w", err)
	}
	if err := syncDir(filepath.Dir(db)); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stdout, "restored %s to %s: migration version %d, %d users\n", *from, db, c.version, c.users)
	if keep != "" {
		fmt.Fprintf(stdout, "the previous database is kept as %s\n", keep)
	}

	// An older backup is brought to this gatehouse's schema now, under the
	// lock, rather than by whichever server starts first.
	d, err := models.Open(db)
	if err != nil {
		return fmt.Errorf("restored, but: %w", err)
	}
	defer d.Close()
	n, err := d.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("restored, but: %w (the next gatehouse start migrates it again)", err)
	}
	if n > 0 {
		fmt.Fprintf(stdout, "applied %d migration(s): now at version %d\n", n, c.latest)
	}
	fmt.Fprintln(stdout, secretsReminder(cfg, true))
	return nil
}

// fileCheck is what checkSQLiteFile found in a database file.
type fileCheck struct {
	version, latest, users, bytes int64
}

// checkSQLiteFile opens the SQLite file at path read-only and checks it
// as a copy must be before it is trusted: SQLite's integrity check reads
// every page; then its migration version, this binary's latest, its
// accounts and its size.
func checkSQLiteFile(ctx context.Context, path string) (fileCheck, error) {
	var c fileCheck
	db, err := models.OpenSnapshot(path)
	if err != nil {
		return c, err
	}
	defer db.Close()
	if err := db.IntegrityCheck(ctx); err != nil {
		return c, err
	}
	if c.version, c.latest, err = db.SchemaVersion(ctx); err != nil {
		return c, err
	}
	if c.version > 0 {
		if c.users, err = db.CountUsers(ctx, false); err != nil {
			return c, err
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return c, err
	}
	c.bytes = fi.Size()
	return c, nil
}

// emptyTemp creates a new empty file (0600) in dir, hidden and named
// after base, and returns its path.
func emptyTemp(dir, base string) (string, error) {
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return "", err
	}
	name := f.Name()
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// copyFile copies the file src into the existing file dst and syncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

// syncFile flushes the file at path to disk, so the rename that publishes
// it cannot reach the disk before its contents.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir flushes a folder's entries (a rename in it) to disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) { // some file systems cannot sync a folder
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// publish gives the complete file tmp the name to. With replace it renames
// over whatever is there; without, a hard link makes the name only if it
// is still free, so a file created meanwhile is never replaced.
func publish(tmp, to string, replace bool) error {
	if replace {
		if err := os.Rename(tmp, to); err != nil {
			return err
		}
		return syncDir(filepath.Dir(to))
	}
	switch err := os.Link(tmp, to); {
	case errors.Is(err, iofs.ErrExist):
		return fmt.Errorf("%s appeared meanwhile: add --force to replace it", to)
	case err != nil:
		// A file system without hard links: check, then rename.
		if _, err := os.Lstat(to); err == nil {
			return fmt.Errorf("%s appeared meanwhile: add --force to replace it", to)
		}
		if err := os.Rename(tmp, to); err != nil {
			return err
		}
	}
	return syncDir(filepath.Dir(to))
}

// samePath reports whether a and b name one file: the same file when both
// exist, else the same absolute path.
func samePath(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(fa, fb)
	}
	absA, errA := filepath.Abs(a)
	absB, errB := filepath.Abs(b)
	return errA == nil && errB == nil && absA == absB
}

// size is n bytes for a person: "12.3 MiB (12897485 bytes)".
func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB (%d bytes)", float64(n)/(1<<30), n)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB (%d bytes)", float64(n)/(1<<20), n)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB (%d bytes)", float64(n)/(1<<10), n)
	}
	return fmt.Sprintf("%d bytes", n)
}

// healthTimeout bounds a healthcheck: a server that does not answer in
// this long is as unhealthy as one that answers 503.
const healthTimeout = 3 * time.Second

// cmdHealthcheck runs "gatehouse healthcheck [--url URL]": the container
// HEALTHCHECK, for images with no curl or wget.
func cmdHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("healthcheck", "GET /healthz of the gatehouse listening on the configured listen address (or --url), within 3 seconds:\n"+
		"exit 0 on 200, 1 otherwise. For container health checks.")
	target := fs.String("url", "", "the `URL` to GET (default: http://LISTEN/healthz, an unspecified listen host as 127.0.0.1)")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	u := *target
	if u == "" {
		cfg, err := loadConfig(*path)
		if err != nil {
			return err
		}
		if u, err = healthURL(cfg.Listen); err != nil {
			return errUsage{err}
		}
	}
	if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return errUsage{fmt.Errorf("--url %q is not an http or https URL", u)}
	}
	return healthcheck(ctx, u, stdout)
}

// healthURL is the /healthz URL of a server listening on listen, reached
// over loopback when it listens on every address.
func healthURL(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("listen %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}

// healthcheck GETs u once within healthTimeout; anything but 200 is an
// error (exit 1). Redirects are not followed: /healthz never redirects.
func healthcheck(ctx context.Context, u string, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return errUsage{err}
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("unhealthy: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("unhealthy: %s answered %s", u, resp.Status)
	}
	fmt.Fprintf(stdout, "healthy: %s answered %s\n", u, resp.Status)
	return nil
}
