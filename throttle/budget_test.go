package throttle_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/throttle"
)

// guessesIn counts the wrong passwords an attacker gets checked in d with
// the default rules, sending each one the moment the last answer's wait is
// over; next names the client of the i-th guess.
func guessesIn(t *testing.T, d time.Duration, setup func(*throttle.Limiter, *models.DB), next func(i int) throttle.Client) (first5m, total int) {
	t.Helper()
	l, db, clock := newLimiter(t)
	if setup != nil {
		setup(l, db)
	}
	start := clock.Now()
	for i := 0; clock.Now().Sub(start) < d; i++ {
		if i > 100_000 {
			t.Fatal("the simulation does not end")
		}
		a, wait, err := l.Begin(context.Background(), next(i))
		if err != nil {
			t.Fatal(err)
		}
		if a == nil {
			clock.Add(wait)
			continue
		}
		total++
		if clock.Now().Sub(start) < 5*time.Minute {
			first5m++
		}
	}
	return first5m, total
}

// TestAttackerBudget pins the numbers README.md ("Security properties")
// gives for what an attacker pacing guesses perfectly gets checked with
// the default rules, in the first 5 minutes and in an hour.
func TestAttackerBudget(t *testing.T) {
	t.Parallel()
	const victim = "victim@example.com"
	addr := func(i int) string {
		return "10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
	}
	token := "stolen-device-cookie-token"
	tests := []struct {
		name             string
		setup            func(*throttle.Limiter, *models.DB)
		next             func(i int) throttle.Client
		first5m, perHour int
	}{
		{"one account from one address", nil,
			func(int) throttle.Client { return from(victim, "203.0.113.9") }, 14, 108},
		{"one account from a new address each time", nil,
			func(i int) throttle.Client { return from(victim, addr(i)) }, 30, 360},
		{"one address, a new account each time", nil,
			func(i int) throttle.Client { return from("u"+strconv.Itoa(i)+"@example.com", "203.0.113.9") }, 130, 1506},
		{"one account from a stolen device cookie, any address",
			func(l *throttle.Limiter, db *models.DB) {
				u := &models.User{Email: victim}
				if err := db.CreateUser(context.Background(), u); err != nil {
					t.Fatal(err)
				}
				if err := l.RememberDevice(context.Background(), u.ID, token); err != nil {
					t.Fatal(err)
				}
			},
			func(i int) throttle.Client { return throttle.Client{Account: victim, Addr: addr(i), Device: token} }, 19, 148},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			first5m, perHour := guessesIn(t, time.Hour, tt.setup, tt.next)
			t.Logf("%s: %d in the first 5 minutes, %d in an hour", tt.name, first5m, perHour)
			if first5m != tt.first5m || perHour != tt.perHour {
				t.Errorf("%d guesses in the first 5 minutes and %d in an hour, README says %d and %d", first5m, perHour, tt.first5m, tt.perHour)
			}
		})
	}
}
