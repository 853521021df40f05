package throttle

import (
	"container/list"
	"sync"
	"time"
)

// Buckets is one token bucket per key (a client address), so one noisy
// client spends only its own allowance, never another's. Each key's bucket
// is a Bucket: rate tokens at most, refilled at rate per per. The number
// of keys tracked is capped at maxKeys, so the state itself stays bounded
// however many addresses send requests: past the cap, the key seen least
// recently is forgotten (its next request starts from a full bucket). It
// is safe for concurrent use.
type Buckets struct {
	now     func() time.Time
	rate    int
	per     time.Duration
	maxKeys int

	mu   sync.Mutex
	keys map[string]*list.Element // of *keyed
	lru  *list.List               // most recently seen first
}

// keyed is one key's bucket in the LRU list.
type keyed struct {
	key    string
	bucket *Bucket
}

// NewBuckets returns per-key buckets of rate tokens refilled at rate per
// per, tracking at most maxKeys keys (all positive), reading time from now:
// time.Now, or a test's clock.
func NewBuckets(rate int, per time.Duration, maxKeys int, now func() time.Time) *Buckets {
	return &Buckets{now: now, rate: rate, per: per, maxKeys: maxKeys, keys: map[string]*list.Element{}, lru: list.New()}
}

// Allow takes a token from key's bucket and reports true, or reports false
// when that bucket is empty.
func (b *Buckets) Allow(key string) bool {
	b.mu.Lock()
	el, ok := b.keys[key]
	if ok {
		b.lru.MoveToFront(el)
	} else {
		if b.lru.Len() >= b.maxKeys {
			oldest := b.lru.Back()
			b.lru.Remove(oldest)
			delete(b.keys, oldest.Value.(*keyed).key)
		}
		el = b.lru.PushFront(&keyed{key: key, bucket: NewBucket(b.rate, b.per, b.now)})
		b.keys[key] = el
	}
	bucket := el.Value.(*keyed).bucket
	b.mu.Unlock()
	return bucket.Allow()
}

// Len is the number of keys tracked, at most maxKeys.
func (b *Buckets) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lru.Len()
}
