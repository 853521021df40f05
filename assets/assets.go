// Package assets holds the static files (CSS, JavaScript, icons) embedded in
// the binary and served under /assets/. No CDN: every byte comes from here.
package assets

import "embed"

// FS is the embedded static files.
//
//go:embed css js favicon.svg
var FS embed.FS
