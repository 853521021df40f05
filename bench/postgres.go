package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/models"
)

// backend is a database gatehouse runs on in this run: SQLite always, and
// PostgreSQL when -postgres names a server. Each measurement of items 1, 2,
// 4 and 5 runs on every backend, so the table compares them from one run.
type backend struct {
	name string // column heading: SQLite, PostgreSQL
	tag  string // in file and database names
	pg   *pgServer
}

// database returns a new, empty database on be for one measurement: a file
// in the run's directory, or a database created on the PostgreSQL server.
// seed migrates it.
func (b *bench) database(ctx context.Context, be *backend, name string) (string, error) {
	if be.pg == nil {
		return filepath.Join(b.dir, name+".db"), nil
	}
	return be.pg.create(ctx, name)
}

// pgServer is the PostgreSQL server given with -postgres: its admin
// database URL (GATEHOUSE_TEST_DATABASE as .ci/postgres.sh exports it), on
// which the run creates a database per measurement and drops them at the
// end.
type pgServer struct {
	admin      *url.URL
	db         *sql.DB // on the admin database
	version    string
	template   string // gatehouse_template when it exists (already migrated), else template0
	prefix     string // of the databases this run creates
	created    []string
	postmaster int // PID of the server's postmaster when it runs on this machine, else 0
}

func openPG(ctx context.Context, adminURL string) (*pgServer, error) {
	if !models.IsPostgres(adminURL) {
		return nil, fmt.Errorf("-postgres %q: want a postgres:// URL", models.Redact(adminURL))
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return nil, fmt.Errorf("-postgres: %w", err)
	}
	db, err := models.OpenSQL(adminURL)
	if err != nil {
		return nil, err
	}
	p := &pgServer{admin: u, db: db, template: "template0", prefix: fmt.Sprintf("gatehouse_bench_%d_", os.Getpid())}
	if err := db.QueryRowContext(ctx, "SHOW server_version").Scan(&p.version); err != nil {
		db.Close()
		return nil, fmt.Errorf("PostgreSQL at %s: %w", models.Redact(adminURL), err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pg_database WHERE datname = 'gatehouse_template'").Scan(&n); err == nil && n == 1 {
		p.template = "gatehouse_template"
	}
	p.postmaster = findPostmaster(ctx, db)
	return p, nil
}

// findPostmaster is the PID of the server's postmaster, when the server
// runs on this machine: the parent of this connection's backend process,
// both named postgres. Every other server process is a child of it, so
// their CPU can be counted (see cpu). 0 when it is elsewhere.
func findPostmaster(ctx context.Context, db *sql.DB) int {
	var backendPID int
	if err := db.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&backendPID); err != nil {
		return 0
	}
	st, ok := procStat(backendPID)
	if !ok || procComm(backendPID) != "postgres" || procComm(st.ppid) != "postgres" {
		return 0
	}
	return st.ppid
}

func procComm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// cpu is the CPU seconds used so far by the postmaster, its live children
// (a backend per connection, the checkpointer, autovacuum...) and those of
// its children that have exited (which the postmaster has waited for).
func (p *pgServer) cpu() float64 {
	st, ok := procStat(p.postmaster)
	if !ok {
		return 0
	}
	total := st.cpu + st.children
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if c, ok := procStat(pid); ok && c.ppid == p.postmaster {
			total += c.cpu
		}
	}
	return total
}

// url is the URL of database name on the server.
func (p *pgServer) url(name string) string {
	u := *p.admin
	u.Path, u.RawPath = "/"+name, ""
	return u.String()
}

// create makes a new database for one measurement, from gatehouse_template
// when the server has it.
func (p *pgServer) create(ctx context.Context, name string) (string, error) {
	db := p.prefix + name
	if _, err := p.db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
		return "", err
	}
	if _, err := p.db.ExecContext(ctx, "CREATE DATABASE "+db+" TEMPLATE "+p.template); err != nil {
		return "", fmt.Errorf("create database %s: %w", db, err)
	}
	p.created = append(p.created, db)
	return p.url(db), nil
}

// size is a database's size on disk.
func (p *pgServer) size(ctx context.Context, database string) (int64, error) {
	u, err := url.Parse(database)
	if err != nil {
		return 0, err
	}
	var n int64
	err = p.db.QueryRowContext(ctx, "SELECT pg_database_size($1)", strings.TrimPrefix(u.Path, "/")).Scan(&n)
	return n, err
}

// close drops the databases the run created (unless keep) and closes the
// admin pool. Every app and server using them is closed by then.
func (p *pgServer) close(ctx context.Context, keep bool) error {
	var errs []error
	for _, db := range p.created {
		if keep {
			continue
		}
		if _, err := p.db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
			errs = append(errs, fmt.Errorf("drop database %s: %w", db, err))
		}
	}
	errs = append(errs, p.db.Close())
	return errors.Join(errs...)
}
