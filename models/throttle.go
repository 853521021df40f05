package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
// in one immediate transaction (see Tx): a check of the counters and the
// count it leads to cannot interleave with another request's, so no
// concurrent attempt slips past a check or is lost. Keys are read in
// sorted order, whatever order they come in, so two calls over
// overlapping keys take their rows in the same order (a port to a server
// database takes them with SELECT ... FOR UPDATE in that order, then
// upserts, in one transaction, and cannot deadlock). A key with no counter
// yet comes as a zero counter with only Key set. update may change every
// field but Key; returning false writes nothing.
func (db *DB) UpdateThrottleCounters(ctx context.Context, keys []string, update func(cs []*ThrottleCounter) (store bool)) error {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	return db.Tx(ctx, func(tx *DB) error {
		cs := make([]*ThrottleCounter, len(keys))
		for i, key := range keys {
			c, err := tx.ThrottleCounter(ctx, key)
			switch {
			case errors.Is(err, ErrNotFound):
				c = &ThrottleCounter{Key: key}
			case err != nil:
				return err
			}
			cs[i] = c
		}
		if !update(cs) {
			return nil
		}
		for i, c := range cs {
			c.Key = keys[i]
			if err := tx.gorm.WithContext(ctx).Save(c).Error; err != nil {
				return fmt.Errorf("save throttle counter: %w", err)
			}
		}
		return nil
	})
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
	res := db.gorm.WithContext(ctx).Where("window_start < ? AND (locked_until IS NULL OR locked_until < ?)", now.Add(-window), now).
		Delete(&ThrottleCounter{})
	if res.Error != nil {
		return 0, fmt.Errorf("delete old throttle counters: %w", res.Error)
	}
	return res.RowsAffected, nil
}
