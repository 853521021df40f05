package handlers

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sso"
)

// NewSSOSet builds the configured OpenID Providers. It makes no network
// call: providers are discovered and registered on first use, so gatehouse
// starts (and serves password sign-in) while an IdP is down.
func NewSSOSet(cfg config.Config, db *models.DB, log *slog.Logger, client *http.Client) (*sso.Set, error) {
	return NewSSOSetWithMetrics(cfg, db, log, client, nil)
}

// NewSSOSetWithMetrics is NewSSOSet whose providers each get their own copy
// of client, instrumented for m (duration and errors of calls to the IdP,
// labelled with the provider ID). A nil m is NewSSOSet.
func NewSSOSetWithMetrics(cfg config.Config, db *models.DB, log *slog.Logger, client *http.Client, m *metrics.Metrics) (*sso.Set, error) {
	var ps []*sso.Provider
	for i, pc := range cfg.Providers {
		p, err := sso.NewProvider(pc.ProviderConfig, sso.Options{
			HTTPClient: m.InstrumentClient(pc.ID, client), Now: db.Now, Logger: log,
			Registrations: db, Replays: db,
		})
		if err != nil {
			return nil, fmt.Errorf("providers[%d] (%s): %w", i, pc.ID, err)
		}
		ps = append(ps, p)
	}
	return sso.NewSet(ps...)
}
