package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/throttle"
	"github.com/gatehouse/gatehouse/views"
)

// app is gatehouse wired in this process the way serve.go's newApp wires it
// (package main cannot be imported), with the request log formatted and
// discarded. sso is the provider HTTP client (nil: the default).
type app struct {
	db      *models.DB
	store   *sessionstore.Store
	handler http.Handler
	cfg     config.Config
}

func newApp(ctx context.Context, cfg config.Config, sso *http.Client) (*app, error) {
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	db, err := models.Open(cfg.Database)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	hasher, err := password.New(cfg.Password.BcryptCost, cfg.Password.MinLength)
	if err != nil {
		db.Close()
		return nil, err
	}
	renderer, err := views.New(nil)
	if err != nil {
		db.Close()
		return nil, err
	}
	store := sessionstore.New(db, sessionstore.Options{
		Secure: cfg.Secure(), IdleTimeout: cfg.Session.IdleTimeout, Lifetime: cfg.Session.Lifetime,
		Permanent: cfg.Session.Permanent, Logger: log,
	})
	limiter := throttle.New(db, cfg.Throttle)
	set, err := handlers.NewSSOSet(cfg, db, log, sso)
	if err != nil {
		db.Close()
		return nil, err
	}
	h, err := handlers.New(handlers.Deps{
		Config: cfg, DB: db, Sessions: store, Views: renderer, Logger: log, SSO: set,
		Throttle: limiter, Setup: &handlers.Setup{},
		Accounts: &accounts.Service{DB: db, Hasher: hasher, Logger: log},
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &app{db: db, store: store, handler: h, cfg: cfg}, nil
}
