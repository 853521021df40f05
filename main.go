// Command gatehouse signs people in: email + password against a SQLite user
// table, and "Sign in with SSO" over OpenID Connect, with sessions kept in the
// database. One binary, one config.yaml, one SQLite file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2 // bad flags or configuration: nothing was started
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks errors that should exit with exitUsage.
type errUsage struct{ error }

// run is the whole program behind main, with its inputs passed in so tests
// can drive every subcommand.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && (args[0][0] != '-' || args[0] == "-h" || args[0] == "--help") {
		cmd, args = args[0], args[1:]
	}
	err := command(ctx, cmd, args, stdin, stdout, stderr)
	var ue errUsage
	switch {
	case err == nil, errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "gatehouse:", err)
		return exitUsage
	default:
		fmt.Fprintln(stderr, "gatehouse:", err)
		return exitFailure
	}
}

// command runs one command with its arguments.
func command(ctx context.Context, cmd string, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, args, stdout, stderr)
	case "demo":
		err = cmdDemo(ctx, args, stdout, stderr)
	case "migrate":
		err = cmdMigrate(ctx, args, stdout, stderr)
	case "copy-from-sqlite":
		err = cmdCopyFromSQLite(ctx, args, stdout, stderr)
	case "user":
		err = cmdUser(ctx, args, stdin, stdout, stderr)
	case "identities":
		err = cmdIdentities(ctx, args, stdout, stderr)
	case "check-config":
		err = cmdCheckConfig(ctx, args, stdout, stderr)
	case "backup":
		err = cmdBackup(ctx, args, stdout, stderr)
	case "restore":
		err = cmdRestore(ctx, args, stdout, stderr)
	case "healthcheck":
		err = cmdHealthcheck(ctx, args, stdout, stderr)
	case "version":
		fs := flag.NewFlagSet("gatehouse version", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.Usage = func() { fmt.Fprintf(fs.Output(), "Usage: gatehouse version\n\nPrint the version and exit.\n") }
		if err = parse(fs, args, stdout); err == nil {
			fmt.Fprintln(stdout, "gatehouse", version)
		}
	case "help", "-h", "--help":
		err = cmdHelp(ctx, args, stdout, stderr)
	default:
		err = errUsage{fmt.Errorf("unknown command %q\n\n%s", cmd, usage)}
	}
	return err
}

const usage = `Usage: gatehouse [command] [flags]

Commands:
  serve                 run the web server (the default)
  migrate               apply database migrations and exit
  copy-from-sqlite      copy an SQLite installation into the configured PostgreSQL database
                        (--from FILE); the destination must be empty
  user create           create an account (--email E [--name N] [--admin] --password-stdin)
  user list             list accounts
  user set-password     set an account's password (--email E --password-stdin)
  user disable          disable an account and end its sessions (--email E); a break-glass path:
                        unlike the admin console it may disable the last administrator
  check-config          validate the configuration as serve would, starting nothing (exit 0 or 2)
  identities rekey      move a provider's identities to new subjects (--provider P, --from-csv FILE
                        or --by-claim CLAIM); a dry run unless --apply
  backup                write a checked copy of the SQLite database, while it serves (--to FILE [--force])
  restore               put a backup in place of the SQLite database, gatehouse stopped (--from FILE [--force])
  healthcheck           exit 0 if /healthz answers 200 within 3s, else 1 ([--url URL]; for containers)
  demo                  run gatehouse with a demo OpenID Provider on loopback (development only)
  version               print the version

Every command but version takes --config FILE (default: $GATEHOUSE_CONFIG, else ./config.yaml if present, else built-in defaults).
Run "gatehouse help COMMAND" or "gatehouse COMMAND --help" for a command's flags.
`

// cmdHelp prints the usage of the command named in args, the same text as
// that command's --help, or the overview when args is empty.
func cmdHelp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return nil
	}
	switch args[0] {
	case "serve", "migrate", "copy-from-sqlite", "demo", "user", "identities", "check-config", "version", "backup", "restore", "healthcheck":
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return errUsage{fmt.Errorf("unknown command %q\n\n%s", args[0], usage)}
	}
	// "help user create" asks "user create" for its help; help never runs a
	// command, because the --help comes before anything it could do.
	rest := []string{"--help"}
	if args[0] == "user" && len(args) > 1 {
		rest = []string{args[1], "--help"}
	}
	return command(ctx, args[0], rest, strings.NewReader(""), stdout, stderr)
}
