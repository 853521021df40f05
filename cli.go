package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/gatehouse/gatehouse/app"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/password"
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

func loadConfig(path string) (config.Config, error) {
	cfg, err := config.Load(config.Source{Path: path})
	if err != nil {
		return cfg, errUsage{fmt.Errorf("invalid configuration: %w", err)}
	}
	return cfg, nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
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

// userUsage is the usage of "gatehouse user", the list of its subcommands.
const userUsage = `Usage: gatehouse user <subcommand> [flags]

Manage accounts from the command line.

Subcommands:
  create          create an account
  list            list accounts
  set-password    set an account's password and end its sessions
  disable         disable an account and end its sessions

Run "gatehouse user <subcommand> --help" for a subcommand's flags.`

func cmdUser(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage{fmt.Errorf("user needs a subcommand: create, list, set-password, disable\n\n%s", userUsage)}
	}
	sub, args := args[0], args[1:]
	if sub == "-h" || sub == "-help" || sub == "--help" {
		fmt.Fprintln(stdout, userUsage)
		return errHelp
	}
	var fs *flag.FlagSet
	var path, email, name *string
	var admin, pwStdin *bool
	switch sub {
	case "create":
		fs, path = flags("user create", "Create an account; without --password-stdin it has no password.")
		email = fs.String("email", "", "account email (required)")
		name = fs.String("name", "", "display name")
		admin = fs.Bool("admin", false, "make the account an administrator")
		pwStdin = fs.Bool("password-stdin", false, "read the password from standard input")
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
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	db, err := app.OpenDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	hasher, err := password.New(cfg.Password.BcryptCost, cfg.Password.MinLength)
	if err != nil {
		return err
	}
	svc := &accounts.Service{DB: db, Hasher: hasher, Logger: newLogger(cfg, stderr)}
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
		if err := svc.SetPassword(ctx, u.ID, pw); err != nil {
			return err
		}
		_ = db.RecordEvent(ctx, &models.Event{Kind: models.EventPasswordSet, UserID: &u.ID, Email: u.Email, Method: models.MethodCLI})
		fmt.Fprintf(stdout, "password set for %s; its sessions were ended\n", u.Email)
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
