// Package migrations holds the numbered SQL schema files, embedded so the
// binary migrates its own database with nothing beside it.
//
// Each dialect has its own folder with the same version numbers, so a
// PostgreSQL set can follow without renumbering.
package migrations

import "embed"

// SQLite is the SQLite migration set (goose format).
//
//go:embed sqlite/*.sql
var SQLite embed.FS
