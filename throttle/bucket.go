package throttle

import (
	"sync"
	"time"
)

// Bucket is a token bucket for endpoints that must not be flooded (the
// back-channel logout a provider posts to): it holds at most rate tokens,
// starts full, refills continuously at rate tokens per per, and each
// allowed request takes one. Unlike the Limiter it keeps its state in
// memory, per process. It is safe for concurrent use.
type Bucket struct {
	now  func() time.Time
	rate float64
	per  time.Duration

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// NewBucket returns a full bucket of rate tokens refilled at rate per per
// (both positive), reading time from now: time.Now, or a test's clock.
func NewBucket(rate int, per time.Duration, now func() time.Time) *Bucket {
	return &Bucket{now: now, rate: float64(rate), per: per, tokens: float64(rate), last: now()}
}

// Allow takes a token and reports true, or reports false when none is left.
// A clock that steps back refills nothing rather than draining the bucket.
func (b *Bucket) Allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(b.rate, b.tokens+elapsed.Seconds()/b.per.Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
