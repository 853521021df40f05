// Command gatehouse signs people in: email + password against a SQLite user
// table, and "Sign in with SSO" over OpenID Connect, with sessions kept in the
// database. One binary, one config.yaml, one SQLite file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
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
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, args, stdout, stderr)
	case "demo":
		err = cmdDemo(ctx, args, stdout, stderr)
	case "migrate":
		err = cmdMigrate(ctx, args, stdout, stderr)
	case "user":
		err = cmdUser(ctx, args, stdin, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "gatehouse", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		err = errUsage{fmt.Errorf("unknown command %q\n\n%s", cmd, usage)}
	}
	var ue errUsage
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "gatehouse:", err)
		return exitUsage
	default:
		fmt.Fprintln(stderr, "gatehouse:", err)
		return exitFailure
	}
}

const usage = `Usage: gatehouse [command] [flags]

Commands:
  serve                 run the web server (the default)
  migrate               apply database migrations and exit
  user create           create an account (--email E [--name N] [--admin] --password-stdin)
  user list             list accounts
  user set-password     set an account's password (--email E --password-stdin)
  user disable          disable an account and end its sessions (--email E); a break-glass path:
                        unlike the admin console it may disable the last administrator
  demo                  run gatehouse with a demo OpenID Provider on loopback (development only)
  version               print the version

Every command takes --config FILE (default: $GATEHOUSE_CONFIG, else ./config.yaml if present, else built-in defaults).
`
