// Package migrations holds the numbered SQL schema files, embedded so the
// binary migrates its own database with nothing beside it.
//
// Each dialect has its own folder with the same version numbers: version N
// makes the same change in both, so a database of either kind at version N
// has the same tables and columns.
package migrations

import "embed"

// SQLite is the SQLite migration set (goose format).
//
//go:embed sqlite/*.sql
var SQLite embed.FS

// Postgres is the PostgreSQL migration set: the same versions as SQLite's,
// each making the same tables and columns in PostgreSQL's types.
//
//go:embed postgres/*.sql
var Postgres embed.FS
