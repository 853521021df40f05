package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/gatehouse/gatehouse/app"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
)

// errHelp is returned by a command asked for its usage with -h or --help,
// which it has printed to stdout: asking for help is not a mistake, so the
// exit code is 0.
var errHelp = errors.New("help requested")

// flags returns a FlagSet for one command with the shared --config flag.
// Its usage names the command and says in one line what it does, so that
// --help on any command is enough to use it.
func flags(name, summary string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("gatehouse "+name, flag.ContinueOnError)
	// The flag package's own messages are discarded: parse reports them once,
	// with the usage, on the right stream.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: %s [flags]\n\n%s\n\nFlags:\n", fs.Name(), summary)
		fs.PrintDefaults()
	}
	path := fs.String("config", "", "configuration `file` (default: $GATEHOUSE_CONFIG, else ./config.yaml if present, else built-in defaults)")
	return fs, path
}

// parse parses args. -h or --help prints the usage to stdout and returns
// errHelp; a bad flag or a stray argument is a usage error that carries the
// usage, for stderr.
func parse(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	err := fs.Parse(args)
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return errHelp
	}
	var b strings.Builder
	fs.SetOutput(&b)
	fs.Usage()
	return errUsage{fmt.Errorf("%w\n\n%s", err, strings.TrimSuffix(b.String(), "\n"))}
}

// openApp builds the application of the configuration at path, as serve
// wires it, for a command that works on its accounts: messages it queues
// (a password change's notice, an invitation) go out through the outbox,
// delivered by a running gatehouse.
func openApp(ctx context.Context, path string, stderr io.Writer) (*app.App, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	return app.New(ctx, cfg, app.Options{Logger: newLogger(cfg, stderr)})
}

func loadConfig(path string) (config.Config, error) {
	cfg, err := config.Load(config.Source{Path: path})
	if err != nil {
		return cfg, errUsage{fmt.Errorf("invalid configuration: %w", err)}
	}
	return cfg, nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	return newLeveledLogger(cfg, w, app.LogLevel(cfg))
}

// newLeveledLogger is the configured log format on w at level, which a
// *slog.LevelVar makes changeable (serve's reload sets it).
func newLeveledLogger(cfg config.Config, w io.Writer, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("migrate", "Apply the database migrations that have not been applied yet, and exit.")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	db, err := models.Open(cfg.Database)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migration(s) to %s\n", n, models.Redact(cfg.Database))
	return nil
}

// copySummary is the one-paragraph description of copy-from-sqlite in its
// usage.
const copySummary = `Copy an SQLite installation into the configured database, which must be
PostgreSQL (a postgres:// URL in database or GATEHOUSE_DATABASE).

Both are migrated first (the SQLite file must not be newer than this
gatehouse). The copy refuses unless every table of the destination is empty,
and copies every row of every table in one transaction, ids as they are;
it commits only if each table's row count matches the source's. Stop
gatehouse before copying: writes to the SQLite file after the copy are not
carried over.`

func cmdCopyFromSQLite(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("copy-from-sqlite", copySummary)
	from := fs.String("from", "", "the SQLite database `file` to copy from (required)")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if *from == "" {
		return errUsage{errors.New("--from is required: the SQLite database file to copy from")}
	}
	if models.IsPostgres(*from) {
		return errUsage{fmt.Errorf("--from is the SQLite file to copy from, not a PostgreSQL URL (%s)", models.Redact(*from))}
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if !models.IsPostgres(cfg.Database) {
		return errUsage{fmt.Errorf("copy-from-sqlite copies into PostgreSQL, but the configured database is the SQLite file %s: set database (or GATEHOUSE_DATABASE) to a postgres:// URL", cfg.Database)}
	}
	// Opening an SQLite path creates the file: look first, so a mistyped
	// path is reported instead of copied from as an empty database.
	switch fi, err := os.Stat(*from); {
	case errors.Is(err, iofs.ErrNotExist):
		return fmt.Errorf("no SQLite database at %s", *from)
	case err != nil:
		return fmt.Errorf("source database: %w", err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("source database %s is not a file", *from)
	}
	src, err := models.Open(*from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := models.Open(cfg.Database)
	if err != nil {
		return err
	}
	defer dst.Close()
	to := models.Redact(cfg.Database)

	// Check both versions before anything is written.
	current, latest, err := src.SchemaVersion(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("source database %s: %w", *from, err)
	case current == 0:
		return fmt.Errorf("%s is not a gatehouse database: no migration was ever applied to it", *from)
	case current > latest:
		return fmt.Errorf("%s is at migration version %d, newer than this gatehouse's %d: copy with the gatehouse version that last ran on it", *from, current, latest)
	}
	switch current, latest, err := dst.SchemaVersion(ctx); {
	case err != nil:
		return fmt.Errorf("%s: %w", to, err)
	case current > latest:
		return fmt.Errorf("%s is at migration version %d, newer than this gatehouse's %d", to, current, latest)
	}

	if n, err := dst.Migrate(ctx); err != nil {
		return fmt.Errorf("%s: %w", to, err)
	} else if n > 0 {
		fmt.Fprintf(stdout, "applied %d migration(s) to %s\n", n, to)
	}
	// Refuse a destination in use before migrating the source; CopyFrom
	// checks again under its locks.
	full, err := dst.NonEmptyTables(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", to, err)
	}
	if len(full) > 0 {
		return fmt.Errorf("copy into %s: %w: %s already hold rows; copy into a new database (no rows were written)", to, models.ErrNotEmpty, strings.Join(full, ", "))
	}
	if n, err := src.Migrate(ctx); err != nil {
		return fmt.Errorf("%s: %w", *from, err)
	} else if n > 0 {
		fmt.Fprintf(stdout, "applied %d migration(s) to %s\n", n, *from)
	}

	counts, err := models.CopyFrom(ctx, dst, src)
	if err != nil {
		return fmt.Errorf("%w (from %s into %s: no rows were written)", err, *from, to)
	}
	var total int64
	for _, c := range counts {
		fmt.Fprintf(stdout, "%s: %d rows\n", c.Table, c.Rows)
		total += c.Rows
	}
	fmt.Fprintf(stdout, "copied %d rows in %d tables from %s to %s\n", total, len(counts), *from, to)
	return nil
}

// userUsage is the usage of "gatehouse user", the list of its subcommands.
const userUsage = `Usage: gatehouse user <subcommand> [flags]

Manage accounts from the command line.

Subcommands:
  create          create an account
  invite          create an account without a password and print an invitation link
  list            list accounts
  set-password    set an account's password and end its sessions
  disable         disable an account and end its sessions
  reset-mfa       turn off an account's two-factor sign-in and end its sessions

Run "gatehouse user <subcommand> --help" for a subcommand's flags.`

func cmdUser(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage{fmt.Errorf("user needs a subcommand: create, invite, list, set-password, disable, reset-mfa\n\n%s", userUsage)}
	}
	sub, args := args[0], args[1:]
	if sub == "-h" || sub == "-help" || sub == "--help" {
		fmt.Fprintln(stdout, userUsage)
		return errHelp
	}
	var fs *flag.FlagSet
	var path, email, name *string
	var admin, pwStdin, send *bool
	switch sub {
	case "create":
		fs, path = flags("user create", "Create an account; without --password-stdin it has no password.")
		email = fs.String("email", "", "account email (required)")
		name = fs.String("name", "", "display name")
		admin = fs.Bool("admin", false, "make the account an administrator")
		pwStdin = fs.Bool("password-stdin", false, "read the password from standard input")
	case "invite":
		fs, path = flags("user invite", "Invite someone: create their account without a password (or, for an account without one, replace its invitation) and print a link, valid 7 days, to choose a password or sign in with single sign-on.")
		email = fs.String("email", "", "account email (required)")
		name = fs.String("name", "", "display name")
		admin = fs.Bool("admin", false, "make the account an administrator")
		send = fs.Bool("send", false, "also mail the invitation (when mail is configured)")
	case "list":
		fs, path = flags("user list", "List accounts: email, name, administrator, password, status and last sign-in.")
		email = new(string)
	case "set-password":
		fs, path = flags("user set-password", "Set an account's password, read from standard input, and end its sessions.")
		email = fs.String("email", "", "account email (required)")
		pwStdin = fs.Bool("password-stdin", false, "read the password from standard input (required)")
	case "disable":
		fs, path = flags("user disable", "Disable an account and end its sessions; unlike the admin console it may disable the last administrator.")
		email = fs.String("email", "", "account email (required)")
	case "reset-mfa":
		fs, path = flags("user reset-mfa", "Turn off an account's two-factor sign-in (its authenticator app, passkeys and recovery codes) and end its sessions: for an owner who lost them. They then sign in with the password alone.")
		email = fs.String("email", "", "account email (required)")
	default:
		return errUsage{fmt.Errorf("unknown user subcommand %q\n\n%s", sub, userUsage)}
	}
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if sub != "list" && *email == "" {
		return errUsage{errors.New("--email is required")}
	}
	if pwStdin != nil && !*pwStdin && sub == "set-password" {
		return errUsage{errors.New("--password-stdin is required (passwords are never taken as arguments)")}
	}
	a, err := openApp(ctx, *path, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	db, svc := a.DB, a.Accounts
	switch sub {
	case "create":
		n := accounts.NewUser{Email: *email, Name: *name, Admin: *admin}
		if *pwStdin {
			pw, err := readPassword(stdin)
			if err != nil {
				return err
			}
			n.Password = &pw
		}
		u, err := svc.CreateUser(ctx, n)
		if err != nil {
			return err
		}
		_ = db.RecordEvent(ctx, &models.Event{Kind: models.EventUserCreated, UserID: &u.ID, Email: u.Email, Method: models.MethodCLI})
		fmt.Fprintf(stdout, "created %s (id %d%s)\n", u.Email, u.ID, map[bool]string{true: ", admin"}[u.IsAdmin])
	case "invite":
		return inviteUser(ctx, svc, accounts.NewUser{Email: *email, Name: *name, Admin: *admin}, *send, stdout)
	case "list":
		return listUsers(ctx, db, stdout)
	case "set-password":
		pw, err := readPassword(stdin)
		if err != nil {
			return err
		}
		u, err := db.UserByEmail(ctx, *email)
		if err != nil {
			return fmt.Errorf("%s: %w", *email, err)
		}
		if err := svc.SetPassword(ctx, u.ID, pw, "from the server's command line"); err != nil {
			return err
		}
		_ = db.RecordEvent(ctx, &models.Event{Kind: models.EventPasswordSet, UserID: &u.ID, Email: u.Email, Method: models.MethodCLI})
		fmt.Fprintf(stdout, "password set for %s; its sessions were ended\n", u.Email)
	case "reset-mfa":
		u, err := db.UserByEmail(ctx, *email)
		if err != nil {
			return fmt.Errorf("%s: %w", *email, err)
		}
		if err := svc.RemoveMFA(ctx, u, "from the server's command line", true); err != nil {
			return err
		}
		_ = db.RecordEvent(ctx, &models.Event{Kind: models.EventMFARemoved, UserID: &u.ID, Email: u.Email, Method: models.MethodCLI, Detail: "reset from the command line; sessions ended"})
		fmt.Fprintf(stdout, "two-factor sign-in of %s turned off; its sessions were ended\n", u.Email)
	case "disable":
		u, err := db.UserByEmail(ctx, *email)
		if err != nil {
			return fmt.Errorf("%s: %w", *email, err)
		}
		if err := svc.DisableBreakGlass(ctx, u.ID); err != nil {
			return err
		}
		_ = db.RecordEvent(ctx, &models.Event{Kind: models.EventUserDisabled, UserID: &u.ID, Email: u.Email, Method: models.MethodCLI})
		fmt.Fprintf(stdout, "disabled %s; its sessions were ended\n", u.Email)
	}
	return nil
}

// inviteUser creates the account of n without a password, or takes the
// existing one if it has no password, and prints a new invitation link.
func inviteUser(ctx context.Context, svc *accounts.Service, n accounts.NewUser, send bool, stdout io.Writer) error {
	const inviter = "" // the message says "you are invited"
	inv, err := svc.Invite(ctx, n, inviter, send)
	if err == nil {
		u := inv.User
		_ = svc.DB.RecordEvent(ctx, &models.Event{Kind: models.EventUserCreated, UserID: &u.ID, Email: u.Email, Method: models.MethodCLI, Detail: "invitation"})
	}
	if accounts.ErrorCode(err) == accounts.CodeConflict { // the account exists
		u, lookup := svc.DB.UserByEmail(ctx, n.Email)
		if lookup != nil {
			return err
		}
		if n.Admin && !u.IsAdmin {
			return fmt.Errorf("%s exists and is not an administrator: invite it without --admin, and promote it in the admin console", u.Email)
		}
		if inv, err = svc.Reinvite(ctx, u.ID, inviter, send); err != nil {
			return fmt.Errorf("%s: %w", u.Email, err)
		}
	} else if err != nil {
		return err
	}
	u := inv.User
	kind := models.EventInvitationLinked
	if inv.Sent {
		kind = models.EventInvitationSent
	}
	_ = svc.DB.RecordEvent(ctx, &models.Event{Kind: kind, UserID: &u.ID, Email: u.Email, Method: models.MethodCLI, Detail: "from the command line"})
	fmt.Fprintf(stdout, "invitation for %s (id %d%s), valid until %s:\n%s\n", u.Email, u.ID,
		map[bool]string{true: ", admin"}[u.IsAdmin], inv.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"), inv.Link)
	if inv.Sent {
		fmt.Fprintln(stdout, "the invitation was also queued for mail; a running gatehouse delivers it")
	}
	return nil
}

// readPassword reads one line from stdin (no echo concerns: it is a pipe).
func readPassword(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errUsage{errors.New("no password on standard input")}
	}
	return pw, nil
}

func listUsers(ctx context.Context, db *models.DB, stdout io.Writer) error {
	users, err := db.ListUsers(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tADMIN\tPASSWORD\tSTATUS\tLAST SIGN-IN")
	for _, u := range users {
		status, last := "enabled", "never"
		if u.Disabled() {
			status = "disabled"
		}
		if u.LastLoginAt != nil {
			last = u.LastLoginAt.UTC().Format("2006-01-02 15:04") + " " + u.LastLoginMethod.String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%t\t%t\t%s\t%s\n", u.ID, u.Email, u.Name, u.IsAdmin, u.HasPassword(), status, last)
	}
	return tw.Flush()
}
