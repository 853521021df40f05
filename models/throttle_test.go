package models

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestThrottleCounters(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	set := fixedClock(db, t0)
	ctx := t.Context()

	if _, err := db.ThrottleCounter(ctx, "ip:a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ThrottleCounter of an unknown key: %v, want ErrNotFound", err)
	}
	var founds, order []string
	count := func(cs []*ThrottleCounter) bool {
		for _, c := range cs {
			order = append(order, c.Key)
			found := !c.WindowStart.IsZero()
			founds = append(founds, fmt.Sprint(found))
			if !found {
				c.WindowStart = db.now()
			}
			c.Failures++
		}
		return true
	}
	for range 2 { // keys in any order, repeated: read once each, sorted
		if err := db.UpdateThrottleCounters(ctx, []string{"ip:b", "ip:a", "ip:b"}, count); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"false", "false", "true", "true"}; !slices.Equal(founds, want) {
		t.Fatalf("update saw found = %v, want %v", founds, want)
	}
	if want := []string{"ip:a", "ip:b", "ip:a", "ip:b"}; !slices.Equal(order, want) {
		t.Fatalf("update saw keys %v, want %v", order, want)
	}
	// An update that declines to store writes nothing.
	err := db.UpdateThrottleCounters(ctx, []string{"ip:a", "ip:new"}, func(cs []*ThrottleCounter) bool {
		cs[0].Failures, cs[1].Failures = 100, 100
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ThrottleCounter(ctx, "ip:new"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("declined update stored a new counter: %v", err)
	}
	c, err := db.ThrottleCounter(ctx, "ip:a")
	if err != nil || c.Key != "ip:a" || c.Failures != 2 || !c.WindowStart.Equal(t0) || c.LockedUntil != nil {
		t.Fatalf("ThrottleCounter = %+v, %v; want ip:a, 2 failures since %v, no lock", c, err, t0)
	}

	// A counter's key is its identity: update cannot move it elsewhere.
	err = db.UpdateThrottleCounters(ctx, []string{"ip:b"}, func(cs []*ThrottleCounter) bool { cs[0].Key = "ip:z"; return true })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ThrottleCounter(ctx, "ip:z"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update renamed a counter: %v", err)
	}

	if err := db.DeleteThrottleCounter(ctx, "ip:b"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteThrottleCounter(ctx, "ip:b"); err != nil {
		t.Fatalf("deleting a missing counter: %v", err)
	}
	if _, err := db.ThrottleCounter(ctx, "ip:b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted counter: %v", err)
	}

	// Ten minutes on: ip:a's window (from t0) is old and unlocked, ip:locked
	// is old but still locked, ip:recent began a minute ago.
	set(t0.Add(9 * time.Minute))
	lock := t0.Add(time.Hour)
	for key, start := range map[string]time.Time{"ip:locked": t0, "ip:recent": t0.Add(9 * time.Minute)} {
		err := db.UpdateThrottleCounters(ctx, []string{key}, func(cs []*ThrottleCounter) bool {
			cs[0].WindowStart, cs[0].Failures = start, 1
			if key == "ip:locked" {
				cs[0].LockedUntil = &lock
			}
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	set(t0.Add(10 * time.Minute))
	n, err := db.DeleteOldThrottleCounters(ctx, 5*time.Minute)
	if err != nil || n != 1 {
		t.Fatalf("DeleteOldThrottleCounters = %d, %v; want 1 (ip:a)", n, err)
	}
	for key, want := range map[string]bool{"ip:a": false, "ip:locked": true, "ip:recent": true} {
		if _, err := db.ThrottleCounter(ctx, key); (err == nil) != want {
			t.Errorf("after cleanup %s: %v, want kept %t", key, err, want)
		}
	}
}

// TestThrottleCountersAtomic: an update that fails stores none of the
// counters it read, and concurrent updates of one key all count.
func TestThrottleCountersAtomic(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	inc := func(cs []*ThrottleCounter) bool {
		for _, c := range cs {
			c.Failures++
		}
		return true
	}
	failOn := map[Dialect][]string{
		SQLite: {`CREATE TRIGGER throttle_test_fail BEFORE INSERT ON throttle
			WHEN NEW.key = 'ip:b' BEGIN SELECT RAISE(ABORT, 'no ip:b today'); END`},
		Postgres: {`CREATE FUNCTION throttle_test_fail() RETURNS trigger LANGUAGE plpgsql AS $f$
			BEGIN IF NEW.key = 'ip:b' THEN RAISE EXCEPTION 'no ip:b today'; END IF; RETURN NEW; END $f$`,
			`CREATE TRIGGER throttle_test_fail BEFORE INSERT ON throttle FOR EACH ROW EXECUTE FUNCTION throttle_test_fail()`},
	}
	for _, q := range failOn[db.Dialect()] {
		if err := db.gorm.WithContext(ctx).Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := db.UpdateThrottleCounters(ctx, []string{"ip:a", "ip:b"}, inc); err == nil {
		t.Fatal("UpdateThrottleCounters with a failing insert succeeded")
	}
	if _, err := db.ThrottleCounter(ctx, "ip:a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ip:a stored by a failed update: %v", err)
	}

	const workers, each = 6, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				errs <- db.UpdateThrottleCounters(ctx, []string{"ip:a"}, inc)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if c, err := db.ThrottleCounter(ctx, "ip:a"); err != nil || c.Failures != workers*each {
		t.Fatalf("after %d concurrent updates: %+v, %v", workers*each, c, err)
	}
}

// TestThrottleCountersConcurrentOverlapping: 8 workers each counting 25
// failures against overlapping keys, given in different orders, lose no
// count and never deadlock, on either database.
func TestThrottleCountersConcurrentOverlapping(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	const workers, each = 8, 25
	keySets := [][]string{{"acct:a", "ip:1"}, {"ip:1", "acct:a", "acctip:a|1"}, {"acctip:a|1", "ip:1"}}
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	want := map[string]int{}
	for w := range workers {
		keys := keySets[w%len(keySets)]
		for _, k := range keys {
			want[k] += each
		}
		wg.Go(func() {
			for range each {
				errs <- db.UpdateThrottleCounters(ctx, keys, func(cs []*ThrottleCounter) bool {
					for _, c := range cs {
						c.Failures++
					}
					return true
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for k, n := range want {
		if c, err := db.ThrottleCounter(ctx, k); err != nil || c.Failures != n {
			t.Errorf("%s after %d concurrent counts: %+v, %v", k, n, c, err)
		}
	}
}

// TestThrottleCountersNoStoreLeavesNoRow: a check that stores nothing
// leaves no counter behind for a key that had none.
func TestThrottleCountersNoStoreLeavesNoRow(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	if err := db.UpdateThrottleCounters(ctx, []string{"ip:x"}, func([]*ThrottleCounter) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ThrottleCounter(ctx, "ip:x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a check that stored nothing left a counter: %v", err)
	}
}
