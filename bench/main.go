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
}

// row is one line of the result table; an empty verdict is information only.
type row struct {
	item, metric, measured, target, verdict string
}

type bench struct {
	opts   options
	dir    string // temporary directory for databases, binary and logs
	rows   []row
	errors []string
	start  time.Time
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
	steps := []struct {
		id, name string
		fn       func(context.Context) error
	}{
		{"serve", "gatehouse serve subprocess: page ratio, sign-in throughput, memory, size, start-up (items 1, 2, 5)", b.subprocess},
		{"sso", "SSO sign-in with the test provider (item 3)", b.sso},
		{"lookup", "session lookup, small vs large sessions table (item 4)", b.lookup},
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
	}
	b.print(os.Stdout, m)
	if len(b.errors) > 0 {
		return 1
	}
	return 0
}

// add appends a result row.
func (b *bench) add(item, metric, measured, target, verdict string) {
	b.rows = append(b.rows, row{item, metric, measured, target, verdict})
}

// check appends a row whose verdict is PASS when ok, else MISS.
func (b *bench) check(item, metric, measured, target string, ok bool) {
	v := "MISS"
	if ok {
		v = "PASS"
	}
	b.add(item, metric, measured, target, v)
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
	fmt.Fprintf(w, "- wall time of this program: %s\n\n", time.Since(b.start).Round(time.Second))
	// By item; rows without one (about the whole run) last.
	slices.SortStableFunc(b.rows, func(x, y row) int {
		key := func(r row) string { return cmp.Or(r.item, "~") }
		return strings.Compare(key(x), key(y))
	})
	head := row{"#", "metric", "measured", "target", "verdict"}
	rows := append([]row{head}, b.rows...)
	width := [5]int{}
	for _, r := range rows {
		for i, c := range r.cells() {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(cells [5]string) {
		fmt.Fprint(w, "|")
		for i, c := range cells {
			fmt.Fprintf(w, " %s%s |", c, strings.Repeat(" ", width[i]-len([]rune(c))))
		}
		fmt.Fprintln(w)
	}
	line(head.cells())
	var sep [5]string
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, r := range b.rows {
		line(r.cells())
	}
	pass, miss := 0, 0
	for _, r := range b.rows {
		switch r.verdict {
		case "PASS":
			pass++
		case "MISS":
			miss++
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

func (r row) cells() [5]string {
	v := r.verdict
	if v == "" {
		v = "info"
	}
	t := r.target
	if t == "" {
		t = "-"
	}
	return [5]string{r.item, r.metric, r.measured, t, v}
}
