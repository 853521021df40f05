package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sso"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("serve", "Run the web server until interrupted (the default command).")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	level := new(slog.LevelVar)
	level.Set(app.LogLevel(cfg))
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer func() { signal.Stop(hup); close(hup) }()
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default: // one reload is already waiting: it reads the latest file
			}
		}
	}()
	return serve(ctx, cfg, app.Options{
		Listener: ln, Logger: newLeveledLogger(cfg, stderr, level), LogLevel: level, Stdout: stdout, Command: invocation(os.Args[0], *path),
		Reload: reload, LoadConfig: func() (config.Config, error) { return loadConfig(*path) }, Notify: notifier(),
	})
}

// cmdCheckConfig validates a configuration as serve would, starting
// nothing, for deploy pipelines: exit 0 when serve would start on it, 2
// with serve's message when not.
func cmdCheckConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("check-config", "Check the configuration as serve would, without starting anything: no listener,\nno database connection, no call to a provider. Exit 0 when it is valid, 2 when not.")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if err := app.Check(ctx, cfg); err != nil {
		return errUsage{fmt.Errorf("invalid configuration: %w", err)}
	}
	fmt.Fprintf(stdout, "configuration is valid: %d sign-in providers, database %s, mail %s\n", len(cfg.Providers), models.Redact(cfg.Database), onOff(cfg.Mail != nil))
	return nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// invocation is the command that runs this gatehouse again, for commands
// printed to the operator: "go run ." when arg0 (os.Args[0]) is a go run
// build in the Go build cache or a go-build temporary directory, where the
// binary's path is useless, else arg0 as typed; then --config when serve was
// given one. Words a shell would split or expand are single-quoted.
func invocation(arg0, config string) string {
	cmd := shellQuote(arg0)
	if slices.ContainsFunc(strings.Split(filepath.ToSlash(arg0), "/"), func(dir string) bool { return strings.HasPrefix(dir, "go-build") }) {
		cmd = "go run ."
	}
	if config != "" {
		cmd += " --config " + shellQuote(config)
	}
	return cmd
}

// shellQuote returns s as one POSIX shell word.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-+=:@,%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// serve builds the application and runs it until ctx ends. The listeners
// in o are closed whatever happens.
//
// On SQLite it holds a shared lock on the file beside the database
// (models.LockServing) from before the database is opened until it is
// closed, so "gatehouse restore" can tell that a server runs on it and
// refuse. Only serve takes it, not app.New: tests and commands open apps
// over one file side by side, and a user command beside a running server
// is fine.
func serve(ctx context.Context, cfg config.Config, o app.Options) error {
	o.Version = version
	if o.Command == "" {
		o.Command = invocation(os.Args[0], "")
	}
	closeListeners := func() {
		for _, l := range []net.Listener{o.Listener, o.MetricsListener} {
			if l != nil {
				l.Close()
			}
		}
	}
	if !models.IsPostgres(cfg.Database) {
		unlock, err := models.LockServing(cfg.Database)
		if errors.Is(err, models.ErrRestoring) {
			closeListeners()
			return fmt.Errorf("%s: %w: start gatehouse when the restore is done", cfg.Database, err)
		} else if err != nil {
			closeListeners()
			return err
		}
		defer unlock()
	}
	a, err := app.New(ctx, cfg, o)
	if err != nil {
		closeListeners()
		if errors.Is(err, sso.ErrConfig) {
			return errUsage{err}
		}
		return err
	}
	defer a.Close()
	return a.Run(ctx)
}
