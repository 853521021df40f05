package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/config"
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
	return serve(ctx, cfg, app.Options{Listener: ln, Logger: newLogger(cfg, stderr), Stdout: stdout})
}

// serve builds the application and runs it until ctx ends. The listeners
// in o are closed whatever happens.
func serve(ctx context.Context, cfg config.Config, o app.Options) error {
	o.Version = version
	a, err := app.New(ctx, cfg, o)
	if err != nil {
		for _, l := range []net.Listener{o.Listener, o.MetricsListener} {
			if l != nil {
				l.Close()
			}
		}
		if errors.Is(err, sso.ErrConfig) {
			return errUsage{err}
		}
		return err
	}
	defer a.Close()
	return a.Run(ctx)
}
