package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/config"
)

// newApp is gatehouse as serve builds it, with the request log formatted
// and discarded (its cost is part of every request), the given clock (nil:
// time.Now) and provider HTTP client (nil: the default).
func newApp(ctx context.Context, cfg config.Config, now func() time.Time, idp *http.Client) (*app.App, error) {
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return app.New(ctx, cfg, app.Options{Logger: log, Now: now, IDPClient: idp})
}
