package throttle_test

import (
	"github.com/gatehouse/gatehouse/testkit"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/throttle"
)

// allowed counts how many of n calls to Allow succeed.
func allowed(b *throttle.Bucket, n int) int {
	ok := 0
	for range n {
		if b.Allow() {
			ok++
		}
	}
	return ok
}

func TestBucketBurstThenRefill(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	b := throttle.NewBucket(20, time.Second, clock.Now)
	if got := allowed(b, 25); got != 20 {
		t.Fatalf("a full bucket allowed %d of 25, want a burst of 20", got)
	}
	if b.Allow() {
		t.Fatal("an empty bucket allowed a request with no time passed")
	}
	clock.Advance(250 * time.Millisecond) // a quarter of the period: 5 tokens
	if got := allowed(b, 10); got != 5 {
		t.Fatalf("after 250ms allowed %d, want 5", got)
	}
	clock.Advance(49 * time.Millisecond) // 0.98 of a token: not yet one
	if b.Allow() {
		t.Fatal("allowed on less than a whole token")
	}
	clock.Advance(2 * time.Millisecond) // 1.02 tokens
	if !b.Allow() {
		t.Fatal("refused once a whole token had refilled")
	}
	clock.Advance(time.Hour) // refills to the cap, not beyond
	if got := allowed(b, 100); got != 20 {
		t.Fatalf("after an hour allowed %d, want the cap of 20", got)
	}
}

func TestBucketClockStepsBack(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	b := throttle.NewBucket(4, time.Second, clock.Now)
	if got := allowed(b, 2); got != 2 {
		t.Fatalf("allowed %d of 2", got)
	}
	clock.Advance(-time.Hour)
	if got := allowed(b, 10); got != 2 {
		t.Fatalf("after the clock stepped back allowed %d, want the 2 tokens left", got)
	}
	clock.Advance(500 * time.Millisecond) // counted from the stepped-back time: 2 tokens
	if got := allowed(b, 10); got != 2 {
		t.Fatalf("500ms after the step back allowed %d, want 2", got)
	}
}

// TestBucketConcurrent: many goroutines drain the bucket at one instant and
// exactly its burst gets through (run with -race).
func TestBucketConcurrent(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	b := throttle.NewBucket(50, time.Minute, clock.Now)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 20 {
				if b.Allow() {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if ok.Load() != 50 {
		t.Fatalf("%d of 320 concurrent requests allowed, want 50", ok.Load())
	}
}
