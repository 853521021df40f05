package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// ThrottleCounter is one row of the throttle table: the failed password
// checks counted for one key since WindowStart, and the lock they earned.
// What a key names and when it locks is the throttle package's policy.
type ThrottleCounter struct {
	Key         string `gorm:"primaryKey"`
	Failures    int
	WindowStart time.Time
	LockedUntil *time.Time
}

// TableName is the table the counters live in.
func (ThrottleCounter) TableName() string { return "throttle" }

// ThrottleCounter returns the counter of key, or ErrNotFound when no
// failure is counted for it.
func (db *DB) ThrottleCounter(ctx context.Context, key string) (*ThrottleCounter, error) {
	var c ThrottleCounter
	err := db.gorm.WithContext(ctx).Where("key = ?", key).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read throttle counter: %w", err)
	}
	return &c, nil
}

// UpdateThrottleCounters reads the counters of keys, lets update look at
// them all and change them, and stores them when update returns true, all
// in one transaction that holds the counters' rows locked: a check of the
// counters and the count it leads to cannot interleave with another
// request's, on any replica, so no concurrent attempt slips past a check
// or is lost. A key with no counter yet comes as a zero counter with only
// Key set. update may change every field but Key; returning false writes
// nothing.
//
// The rows are taken in sorted key order, whatever order keys come in, so
// two calls over overlapping keys cannot deadlock: first one statement
// inserts a row for each key that has none (ON CONFLICT DO NOTHING; a
// concurrent inserter of the same key waits for this one), then one SELECT
// ... FOR UPDATE locks them all. Row locks exist only for rows, hence the
// insert first; when update stores nothing the transaction rolls back and
// the inserted rows go with it.
func (db *DB) UpdateThrottleCounters(ctx context.Context, keys []string, update func(cs []*ThrottleCounter) (store bool)) error {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	if len(keys) == 0 {
		return nil
	}
	err := db.Tx(ctx, func(tx *DB) error {
		cs, err := tx.lockThrottleCounters(ctx, keys)
		if err != nil {
			return err
		}
		if !update(cs) {
			return errNothingToStore
		}
		for i, c := range cs {
			c.Key = keys[i]
			err := tx.gorm.WithContext(ctx).Model(&ThrottleCounter{}).Where("key = ?", c.Key).
				Updates(map[string]any{"failures": c.Failures, "window_start": c.WindowStart, "locked_until": c.LockedUntil}).Error
			if err != nil {
				return fmt.Errorf("save throttle counter: %w", err)
			}
		}
		return nil
	})
	if errors.Is(err, errNothingToStore) {
		return nil
	}
	return err
}

// errNothingToStore rolls back an UpdateThrottleCounters whose update
// stored nothing.
var errNothingToStore = errors.New("nothing to store")

// lockThrottleCounters makes sure a row exists for each of the sorted keys
// and locks them, returning their counters (a zero counter for a row it
// inserted). See UpdateThrottleCounters.
//
// The cleanup sweep may delete a row between the insert (which found it and
// inserted nothing) and the lock, so a key whose row went missing is
// inserted and locked again, a few times at most.
func (db *DB) lockThrottleCounters(ctx context.Context, keys []string) ([]*ThrottleCounter, error) {
	var inserted []string
	for range 3 {
		cs, missing, err := db.tryLockThrottleCounters(ctx, keys, &inserted)
		if err != nil || missing == "" {
			return cs, err
		}
	}
	return nil, fmt.Errorf("lock throttle counters: the row of a key keeps disappearing")
}

// tryLockThrottleCounters is one round of lockThrottleCounters; missing is
// a key left without a row. inserted gathers the keys whose rows this
// transaction created, across rounds.
func (db *DB) tryLockThrottleCounters(ctx context.Context, keys []string, inserted *[]string) (cs []*ThrottleCounter, missing string, err error) {
	var values strings.Builder
	args := make([]any, 0, 2*len(keys))
	for i, key := range keys {
		if i > 0 {
			values.WriteString(", ")
		}
		values.WriteString("(?, 0, ?)")
		args = append(args, key, db.now())
	}
	var added []string
	err = db.gorm.WithContext(ctx).Raw("INSERT INTO throttle (key, failures, window_start) VALUES "+values.String()+
		" ON CONFLICT (key) DO NOTHING RETURNING key", args...).Scan(&added).Error
	if err != nil {
		return nil, "", fmt.Errorf("create throttle counters: %w", err)
	}
	*inserted = append(*inserted, added...)
	var rows []ThrottleCounter
	err = db.forUpdate().gorm.WithContext(ctx).Where("key IN ?", keys).Order(db.byteOrder("key")).Find(&rows).Error
	if err != nil {
		return nil, "", fmt.Errorf("lock throttle counters: %w", err)
	}
	byKey := make(map[string]*ThrottleCounter, len(rows))
	for i := range rows {
		byKey[rows[i].Key] = &rows[i]
	}
	cs = make([]*ThrottleCounter, len(keys))
	for i, key := range keys {
		c, ok := byKey[key]
		if !ok {
			return nil, key, nil
		}
		if slices.Contains(*inserted, key) {
			*c = ThrottleCounter{Key: key}
		}
		cs[i] = c
	}
	return cs, "", nil
}

// DeleteThrottleCounter forgets the failures counted for key, if any.
func (db *DB) DeleteThrottleCounter(ctx context.Context, key string) error {
	if err := db.gorm.WithContext(ctx).Where("key = ?", key).Delete(&ThrottleCounter{}).Error; err != nil {
		return fmt.Errorf("delete throttle counter: %w", err)
	}
	return nil
}

// DeleteOldThrottleCounters deletes the counters whose window began more
// than window ago and whose lock, if any, is over by the DB's clock: they
// count nothing any more. It returns how many went.
func (db *DB) DeleteOldThrottleCounters(ctx context.Context, window time.Duration) (int64, error) {
	now := db.now()
	// On PostgreSQL the rows a check holds locked are skipped (SKIP LOCKED),
	// so the sweep never waits on a check or deadlocks with one.
	res := db.gorm.WithContext(ctx).Exec(`DELETE FROM throttle WHERE key IN (SELECT key FROM throttle
		WHERE window_start < ? AND (locked_until IS NULL OR locked_until < ?)`+db.skipLocked()+`)`, now.Add(-window), now)
	if res.Error != nil {
		return 0, fmt.Errorf("delete old throttle counters: %w", res.Error)
	}
	return res.RowsAffected, nil
}
