package app

import (
	"context"
	"time"
)

// keepFailedAudit is how long a webhook delivery given up on stays in
// audit_outbox, for an operator to look at.
const keepFailedAudit = 30 * 24 * time.Hour

// runAuditWorker starts the audit webhook's worker, if any, and returns
// what stops it and waits: like the mail worker, it has a context of its
// own, ended after the requests drained (a request may still write an
// event), and a delivery under way is let finish and recorded.
func (a *App) runAuditWorker() (stop func()) {
	if a.AuditWorker == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.AuditWorker.Run(ctx) }()
	return func() { cancel(); <-done }
}
