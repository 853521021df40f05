package sessionstore

import (
	"context"
	"time"
)

// cleanupBatch bounds one delete so a backlog never holds the write lock long.
const cleanupBatch = 500

// RunCleanup deletes expired sessions every interval, in small batches, until
// ctx is done.
func (s *Store) RunCleanup(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.cleanup(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Store) cleanup(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := s.db.DeleteExpiredSessions(ctx, cleanupBatch)
		if err != nil {
			s.opts.Logger.WarnContext(ctx, "delete expired sessions", "err", err)
			return
		}
		if n < cleanupBatch {
			return
		}
	}
}
