package models

import "io/fs"

// mustSub narrows an embedded FS to a folder known to exist at build time.
func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic("embedded migrations missing: " + err.Error())
	}
	return sub
}
