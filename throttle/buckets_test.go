package throttle_test

import (
	"fmt"
	"github.com/gatehouse/gatehouse/testkit"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/throttle"
)

// keyAllowed counts how many of n calls to Allow(key) succeed.
func keyAllowed(b *throttle.Buckets, key string, n int) int {
	ok := 0
	for range n {
		if b.Allow(key) {
			ok++
		}
	}
	return ok
}

// TestBucketsPerKey: one key draining its bucket leaves every other key's
// allowance whole, and each refills on its own.
func TestBucketsPerKey(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	b := throttle.NewBuckets(5, time.Second, 100, clock.Now)
	if got := keyAllowed(b, "198.51.100.7", 60); got != 5 {
		t.Fatalf("the noisy key got %d of 60, want its burst of 5", got)
	}
	if got := keyAllowed(b, "203.0.113.1", 10); got != 5 {
		t.Fatalf("another key got %d of 10 after the noisy one, want its own 5", got)
	}
	clock.Advance(200 * time.Millisecond) // one token each
	if !b.Allow("198.51.100.7") || b.Allow("198.51.100.7") {
		t.Fatal("the noisy key did not refill one token in 200ms")
	}
	if b.Len() != 2 {
		t.Fatalf("Len = %d, want 2", b.Len())
	}
}

// TestBucketsBounded: however many keys arrive, at most maxKeys are
// tracked; the least recently seen is forgotten first, so a key in steady
// use keeps its state while a flood of new keys passes through.
func TestBucketsBounded(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	b := throttle.NewBuckets(3, time.Hour, 50, clock.Now)
	if got := keyAllowed(b, "steady", 3); got != 3 {
		t.Fatalf("steady key: %d of 3", got)
	}
	for i := range 10_000 {
		b.Allow(fmt.Sprintf("flood-%d", i))
		if i%10 == 0 {
			b.Allow("steady") // seen often: never the least recent
		}
		if b.Len() > 50 {
			t.Fatalf("%d keys tracked after %d new ones, over the cap of 50", b.Len(), i+1)
		}
	}
	if b.Allow("steady") {
		t.Fatal("the steady key was forgotten (its empty bucket refilled) though it was seen recently")
	}
	// A key forgotten long ago starts again from a full bucket.
	if got := keyAllowed(b, "flood-0", 5); got != 3 {
		t.Fatalf("a forgotten key got %d of 5, want a full bucket of 3", got)
	}
}

// TestBucketsConcurrent: many goroutines on a few keys get exactly each
// key's burst (run with -race).
func TestBucketsConcurrent(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	b := throttle.NewBuckets(10, time.Minute, 3, clock.Now)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Go(func() {
			for range 20 {
				if b.Allow(fmt.Sprint(g % 3)) {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if ok.Load() != 30 {
		t.Fatalf("%d of 240 allowed over 3 keys, want 3 × 10", ok.Load())
	}
}
