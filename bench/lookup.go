package main

import (
	"context"
	"fmt"
	"github.com/gatehouse/gatehouse/app"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse/gatehouse/config"
)

// lookup is item 4: the same request against a database of 1,000 session
// rows and one of 1,000,000, alternating between the two so a noisy machine
// slows both alike. Each request uses a random session of its database. The
// apps' clock is frozen at the seeding time, so no request writes last_seen:
// this is the read path (cookie -> token hash -> row -> user -> page).
func (b *bench) lookup(ctx context.Context) error {
	const small = 1000
	big := b.opts.bigSessions
	now := time.Now().UTC()
	seen := func(int) time.Time { return now }
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
		path := filepath.Join(b.dir, "lookup-"+s.tag+".db")
		t0 := time.Now()
		if err := seed(ctx, seedSpec{path: path, users: 1000, hash: "unused", sessions: s.n, tag: s.tag, now: now, lastSeen: seen}); err != nil {
			return err
		}
		took := time.Since(t0)
		b.logf("item 4: seeded %s session rows in %v", s.name, took.Round(time.Millisecond))
		if s.n == big {
			st, _ := os.Stat(path)
			b.add("4", fmt.Sprintf("seeding %s session rows (multi-row INSERTs, one transaction)", s.name),
				fmt.Sprintf("%.1f s, database %.0f MiB", took.Seconds(), float64(st.Size())/(1<<20)), "", "")
		}
		cfg := config.Default()
		cfg.Database = path
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
	b.waitQuiet(ctx, 0, "item 4")
	c0 := takeCPU(0)
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
	u := c0.to(takeCPU(0))
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
