package main

import (
	"context"
	"fmt"
	"github.com/gatehouse/gatehouse/app"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/gatehouse/gatehouse/config"
)

// lookup is item 4: the same request against a database of 1,000 session
// rows and one of 1,000,000, alternating between the two so a noisy machine
// slows both alike. Each request uses a random session of its database. The
// apps' clock is frozen at the seeding time, so no request writes last_seen:
// this is the read path (cookie -> token hash -> row -> user -> page).
// It runs on each backend in turn; the ratio is within one backend.
func (b *bench) lookups(ctx context.Context) error {
	for k, be := range b.backends {
		b.cur = k
		b.logf("item 4 on %s", be.name)
		if err := b.lookup(ctx, be); err != nil {
			return fmt.Errorf("%s: %w", be.name, err)
		}
	}
	return nil
}

func (b *bench) lookup(ctx context.Context, be *backend) error {
	const small = 1000
	big := b.opts.bigSessions
	now := time.Now().UTC()
	type side struct {
		name  string
		n     int
		tag   string
		app   *app.App
		dash  []time.Duration
		store []time.Duration
	}
	sides := []*side{{name: commas(small), n: small, tag: "small"}, {name: commas(big), n: big, tag: "big"}}
	for _, s := range sides {
		database, err := b.database(ctx, be, "lookup_"+s.tag)
		if err != nil {
			return err
		}
		t0 := time.Now()
		if err := seed(ctx, seedSpec{database: database, users: 1000, hash: "unused", sessions: s.n, tag: s.tag, now: now}); err != nil {
			return err
		}
		took := time.Since(t0)
		b.logf("item 4: seeded %s session rows on %s in %v", s.name, be.name, took.Round(time.Millisecond))
		if s.n == big {
			var size int64
			how := "multi-row INSERTs, one transaction"
			if be.pg != nil {
				size, err = be.pg.size(ctx, database)
				how = "one INSERT ... SELECT FROM generate_series, then VACUUM ANALYZE"
			} else {
				var st os.FileInfo
				st, err = os.Stat(database)
				if err == nil {
					size = st.Size()
				}
			}
			if err != nil {
				return err
			}
			b.add("4", fmt.Sprintf("seeding %s session rows", s.name),
				fmt.Sprintf("%.1f s, database %.0f MiB (%s)", took.Seconds(), float64(size)/(1<<20), how), "", "")
		}
		cfg := config.Default()
		cfg.Database = database
		if err := cfg.Finish(); err != nil {
			return err
		}
		a, err := newApp(ctx, cfg, func() time.Time { return now }, nil)
		if err != nil {
			return err
		}
		defer a.Close()
		s.app = a
		// The store finds what seeding wrote, first and last row alike.
		for _, i := range []int{0, s.n - 1} {
			if _, err := a.DB.SessionByHash(ctx, sessionHash(s.tag, i)); err != nil {
				return fmt.Errorf("%s rows: session %d: %w", s.name, i, err)
			}
		}
	}
	cookie := config.Default().CookieName()
	request := func(s *side) *http.Request {
		req := httptest.NewRequest(http.MethodGet, "/dashboard", nil)
		req.Header.Set("Cookie", cookie+"="+tokenFor(s.tag, rand.IntN(s.n)))
		return req
	}
	dashboard := func(s *side) (time.Duration, error) {
		req, rec := request(s), httptest.NewRecorder()
		t0 := time.Now()
		s.app.Handler().ServeHTTP(rec, req)
		d := time.Since(t0)
		if rec.Code != http.StatusOK {
			return 0, fmt.Errorf("GET /dashboard with %s rows: HTTP %d", s.name, rec.Code)
		}
		return d, nil
	}
	storeGet := func(s *side) (time.Duration, error) {
		req := request(s)
		t0 := time.Now()
		sess, err := s.app.Sessions.Get(req, cookie)
		d := time.Since(t0)
		if err != nil || sess.IsNew {
			return 0, fmt.Errorf("store lookup with %s rows: session not found (%v)", s.name, err)
		}
		return d, nil
	}
	const warm, dashN, storeN = 300, 3000, 5000
	b.waitQuiet(ctx, "item 4")
	c0 := takeCPU()
	b.logf("item 4: %d GET /dashboard and %d store lookups per database, alternating", dashN, storeN)
	for i := range warm + dashN {
		for j := range sides {
			s := sides[(i+j)%2] // alternate which goes first
			d, err := dashboard(s)
			if err != nil {
				return err
			}
			if i >= warm {
				s.dash = append(s.dash, d)
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	for i := range warm + storeN {
		for j := range sides {
			s := sides[(i+j)%2]
			d, err := storeGet(s)
			if err != nil {
				return err
			}
			if i >= warm {
				s.store = append(s.store, d)
			}
		}
	}
	u := c0.to(takeCPU())
	a, z := sides[0], sides[1]
	for _, m := range []struct {
		what string
		a, z []time.Duration
	}{
		{"GET /dashboard p50 (full handler stack, in process)", a.dash, z.dash},
		{"session lookup p50 (sessionstore Get through the real store)", a.store, z.store},
	} {
		pa, pz := percentile(m.a, 50), percentile(m.z, 50)
		b.add("4", m.what+" at "+a.name+" / "+z.name+" rows", us(pa)+" / "+us(pz), "", "")
		b.check("4", "  ratio "+z.name+" / "+a.name+" rows", fmt.Sprintf("%.2fx", float64(pz)/float64(pa)), "<= 1.5x", float64(pz) <= 1.5*float64(pa))
	}
	b.add("4", "  CPU used by other processes meanwhile", othersNote(u), "", "")
	return nil
}
