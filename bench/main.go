// Command bench is gatehouse's load generator and measurement program
// (GitHub issue 5, "Benchmarks"). `make bench` runs it after the Go
// benchmarks; docs/benchmarks.md records a run.
//
// It measures, in one run on this machine:
//
//  1. GET /dashboard (a database session) against GET /healthz on the same
//     server: requests/s at 32 keep-alive clients, interleaved rounds.
//  2. POST /auth/login throughput at 64 clients against the bcrypt ceiling
//     (cores / the time of one compare at the configured cost).
//  3. SSO sign-in through the in-repo test provider: provider requests per
//     login and gatehouse's own time per callback, provider calls excluded.
//  4. Session lookup with 1,000 against 1,000,000 session rows.
//  5. Resident memory with 10,000 live sessions under the load of item 1,
//     binary size and start-up time.
//
// Items 1, 2 and 5 run the real binary as a subprocess (`gatehouse serve`
// with a temporary configuration and database), so its memory is its own and
// whatever serve.go wires (logging, metrics) is included. Items 3 and 4 wire
// the handlers in this process, because they need to wrap the provider HTTP
// client and to call the handler without a network in between.
//
// With -postgres (by default $GATEHOUSE_TEST_DATABASE, which
// .ci/postgres.sh exports) items 1, 2, 4 and 5 also run on PostgreSQL, in
// the same run: the table then has a column per database, the ratio of the
// authenticated page's rate on PostgreSQL to SQLite's, and the session
// lookup ratio on each. Item 3 runs on SQLite only.
//
// It prints a table (metric | measured | target | verdict). A missed target
// is a verdict, not a failure: the exit status is 1 only when something went
// wrong (a failed request, a wrong status, a setup error).
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/models"
)

type options struct {
	duration    time.Duration // measured time per endpoint in item 1
	bigSessions int           // session rows in item 4's large database
	ssoLogins   int           // measured SSO logins in item 3
	starts      int           // start-ups timed in item 5
	liveSess    int           // live sessions in the subprocess (items 1 and 5)
	keep        bool          // keep the temporary directory
	quietWait   time.Duration // longest total wait for a quiet machine
	only        string        // comma-separated step names; empty runs all
	bin         string        // a prebuilt gatehouse binary instead of building one
	postgres    string        // admin URL of a PostgreSQL server to measure on too; empty: SQLite only
}

// row is one line of the result table: a measured value and verdict per
// backend (an empty verdict is information only), or one value for the
// whole run (shared: the machine, the binary, bcrypt).
type row struct {
	item, metric, target string
	measured, verdict    []string // per backend
	shared               bool
}

type bench struct {
	opts     options
	dir      string // temporary directory for databases, binary and logs
	backends []*backend
	cur      int // index in backends of the one being measured (add's column)
	rows     []row
	errors   []string
	start    time.Time
	// quietBudget is what is left of opts.quietWait (see waitQuiet).
	quietBudget time.Duration
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "measured time per endpoint for the dashboard/healthz ratio (item 1)")
	flag.IntVar(&o.bigSessions, "big", 1_000_000, "session rows in the large database of the lookup comparison (item 4)")
	flag.IntVar(&o.ssoLogins, "sso", 200, "measured SSO sign-ins (item 3)")
	flag.IntVar(&o.starts, "starts", 5, "start-ups to time (item 5)")
	flag.IntVar(&o.liveSess, "sessions", 10_000, "live sessions in the served database (items 1 and 5)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (databases, binary, server log)")
	flag.DurationVar(&o.quietWait, "quiet-wait", 2*time.Minute, "longest total wait for other processes to leave the CPUs alone before timed phases")
	flag.StringVar(&o.only, "only", "", "run only these steps, comma-separated: serve (items 1, 2, 5), sso (item 3), lookup (item 4)")
	flag.StringVar(&o.bin, "bin", "", "serve this gatehouse binary instead of building one (e.g. an unstripped build to profile)")
	flag.StringVar(&o.postgres, "postgres", os.Getenv("GATEHOUSE_TEST_DATABASE"),
		"admin database URL (postgres://...) of a PostgreSQL server to run items 1, 2, 4 and 5 on as well, in the same run (creates and drops databases on it; default $GATEHOUSE_TEST_DATABASE, as .ci/postgres.sh exports it); empty: SQLite only")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{opts: o, start: time.Now(), quietBudget: o.quietWait}
	code := b.main(ctx)
	stop()
	os.Exit(code)
}

func (b *bench) main(ctx context.Context) int {
	dir, err := os.MkdirTemp("", "gatehouse-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	b.dir = dir
	if b.opts.keep {
		b.logf("keeping %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	m := machine()
	b.backends = []*backend{{name: "SQLite", tag: "sqlite"}}
	if b.opts.postgres != "" {
		pg, err := openPG(ctx, b.opts.postgres)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		defer func() {
			if err := pg.close(context.WithoutCancel(ctx), b.opts.keep); err != nil {
				fmt.Fprintln(os.Stderr, "bench: PostgreSQL clean-up:", err)
			}
		}()
		if pg.postmaster > 0 {
			dbCPU = pg.cpu
		}
		b.backends = append(b.backends, &backend{name: "PostgreSQL", tag: "pg", pg: pg})
		b.logf("PostgreSQL %s at %s (databases from %s; server CPU %s)", pg.version, models.Redact(b.opts.postgres), pg.template,
			map[bool]string{true: "counted from /proc", false: "not counted: not on this machine"}[pg.postmaster > 0])
	}
	steps := []struct {
		id, name string
		fn       func(context.Context) error
	}{
		{"serve", "gatehouse serve subprocess: page ratio, sign-in throughput, memory, size, start-up (items 1, 2, 5)", b.subprocess},
		{"sso", "SSO sign-in with the test provider, on SQLite (item 3)", b.sso},
		{"lookup", "session lookup, small vs large sessions table (item 4)", b.lookups},
	}
	for _, s := range steps {
		if b.opts.only != "" && !slices.Contains(strings.Split(b.opts.only, ","), s.id) {
			continue
		}
		if ctx.Err() != nil {
			b.fail("interrupted")
			break
		}
		b.logf("== %s", s.name)
		if err := s.fn(ctx); err != nil {
			b.fail("%s: %v", s.name, err)
		}
		b.cur = 0
	}
	b.print(os.Stdout, m)
	if len(b.errors) > 0 {
		return 1
	}
	return 0
}

// add records a result of the backend being measured (b.cur).
func (b *bench) add(item, metric, measured, target, verdict string) {
	b.addTo(b.cur, item, metric, measured, target, verdict)
}

// addTo records a result of backend k: in the first row of the same item
// and metric that has no value for k yet (another backend started it),
// else in a new row.
func (b *bench) addTo(k int, item, metric, measured, target, verdict string) {
	i := slices.IndexFunc(b.rows, func(r row) bool {
		return !r.shared && r.item == item && r.metric == metric && r.measured[k] == ""
	})
	if i < 0 {
		n := len(b.backends)
		b.rows = append(b.rows, row{item: item, metric: metric, measured: make([]string, n), verdict: make([]string, n)})
		i = len(b.rows) - 1
	}
	r := &b.rows[i]
	r.measured[k], r.verdict[k] = measured, verdict
	if target != "" {
		r.target = target
	}
}

// addShared records a result that holds for every backend (the machine,
// the binary): one value in the first column.
func (b *bench) addShared(item, metric, measured string) {
	b.rows = append(b.rows, row{item: item, metric: metric, measured: []string{measured}, verdict: []string{""}, shared: true})
}

// check records a result of the current backend whose verdict is PASS when
// ok, else MISS.
func (b *bench) check(item, metric, measured, target string, ok bool) {
	b.checkTo(b.cur, item, metric, measured, target, ok)
}

func (b *bench) checkTo(k int, item, metric, measured, target string, ok bool) {
	v := "MISS"
	if ok {
		v = "PASS"
	}
	b.addTo(k, item, metric, measured, target, v)
}

// fail records an error: the run exits 1.
func (b *bench) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.errors = append(b.errors, msg)
	b.logf("ERROR: %s", msg)
}

// logf prints progress to stderr, with the time since the start.
func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %6.1fs  %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, args...))
}

// print writes the machine and the table as Markdown (readable as is, and
// pasteable into docs/benchmarks.md).
func (b *bench) print(w io.Writer, m machineInfo) {
	fmt.Fprintf(w, "\n## gatehouse benchmarks, %s\n\n", b.start.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "- machine: %d cores (nproc), %s, %s memory\n", m.cores, m.cpu, m.memory)
	fmt.Fprintf(w, "- Go: %s %s/%s\n", m.goVersion, m.goos, m.goarch)
	fmt.Fprintf(w, "- command: %s\n", strings.TrimSpace("go run ./bench "+strings.Join(os.Args[1:], " ")))
	if pg := b.pg(); pg != nil {
		fmt.Fprintf(w, "- PostgreSQL: %s at %s, server CPU %s\n", pg.version, models.Redact(b.opts.postgres),
			map[bool]string{true: "counted from /proc (postmaster and its children)", false: "not counted (not on this machine)"}[pg.postmaster > 0])
	}
	fmt.Fprintf(w, "- wall time of this program: %s\n\n", time.Since(b.start).Round(time.Second))
	// By item; rows without one (about the whole run) last.
	slices.SortStableFunc(b.rows, func(x, y row) int {
		key := func(r row) string { return cmp.Or(r.item, "~") }
		return strings.Compare(key(x), key(y))
	})
	names := make([]string, len(b.backends))
	for i, be := range b.backends {
		names[i] = be.name
	}
	head := []string{"#", "metric", "measured", "target", "verdict"}
	if len(names) > 1 {
		head = slices.Concat([]string{"#", "metric"}, names, []string{"target", "verdict (" + strings.Join(names, " / ") + ")"})
	}
	rows := [][]string{head}
	for _, r := range b.rows {
		rows = append(rows, b.cells(r))
	}
	width := make([]int, len(head))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(cells []string) {
		fmt.Fprint(w, "|")
		for i, c := range cells {
			fmt.Fprintf(w, " %s%s |", c, strings.Repeat(" ", width[i]-len([]rune(c))))
		}
		fmt.Fprintln(w)
	}
	line(head)
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, r := range rows[1:] {
		line(r)
	}
	pass, miss := 0, 0
	for _, r := range b.rows {
		for _, v := range r.verdict {
			switch v {
			case "PASS":
				pass++
			case "MISS":
				miss++
			}
		}
	}
	fmt.Fprintf(w, "\ntargets: %d met, %d missed (a miss does not fail the run)\n", pass, miss)
	if len(b.errors) > 0 {
		fmt.Fprintf(w, "\nERRORS (exit status 1):\n")
		for _, e := range b.errors {
			fmt.Fprintf(w, "- %s\n", e)
		}
	}
}

// pg is the PostgreSQL server of the run, or nil.
func (b *bench) pg() *pgServer {
	for _, be := range b.backends {
		if be.pg != nil {
			return be.pg
		}
	}
	return nil
}

// cells is a row of the table: #, metric, a measured value per backend
// ("-" for none; "same" after a shared value), target, verdict (with more
// than one backend, one per backend that has one, "/"-separated; "info"
// when none has).
func (b *bench) cells(r row) []string {
	out := []string{r.item, r.metric}
	var vs []string
	for k := range b.backends {
		switch {
		case r.shared && k > 0:
			out = append(out, "same")
		case r.measured[k] == "":
			out = append(out, "-")
		default:
			out = append(out, r.measured[k])
		}
		if !r.shared && r.verdict[k] != "" {
			vs = append(vs, r.verdict[k])
		}
	}
	if len(b.backends) > 1 && len(vs) == 1 {
		for k, v := range r.verdict {
			if v != "" {
				vs[0] = v + " (" + b.backends[k].name + ")"
			}
		}
	}
	out = append(out, cmp.Or(r.target, "-"), cmp.Or(strings.Join(vs, " / "), "info"))
	return out
}
