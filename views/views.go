// Package views holds gatehouse's HTML templates, embedded in the binary, and
// renders them through Gin with one shared layout.
//
// Templates carry no inline script or style, so a strict
// Content-Security-Policy (script-src 'self') holds on every page.
package views

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"strings"
	"time"

	"github.com/gin-gonic/gin/render"
)

//go:embed *.html
var files embed.FS

// Renderer implements Gin's render.HTMLRender with one template set per page
// (layout + page), so every page can define the same blocks.
type Renderer struct {
	pages map[string]*template.Template
}

// New parses every page with the layout. The FS is the embedded one unless
// an operator-supplied folder is given to restyle pages.
func New(fsys fs.FS) (*Renderer, error) {
	if fsys == nil {
		fsys = files
	}
	names, err := fs.Glob(fsys, "*.html")
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	r := &Renderer{pages: map[string]*template.Template{}}
	for _, name := range names {
		if name == "layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(fsys, "layout.html", name)
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", name, err)
		}
		r.pages[strings.TrimSuffix(name, ".html")] = t
	}
	return r, nil
}

// Instance is called by Gin's c.HTML(status, page, data).
func (r *Renderer) Instance(name string, data any) render.Render {
	t, ok := r.pages[name]
	if !ok {
		t = r.pages["error"]
	}
	return render.HTML{Template: t, Name: "layout.html", Data: data}
}

// Has reports whether the page exists (tests check every handler's page does).
func (r *Renderer) Has(name string) bool { _, ok := r.pages[name]; return ok }

var funcs = template.FuncMap{
	// when formats a time for people, in UTC so it reads the same for everyone.
	"when": func(t any) string {
		var tm time.Time
		switch v := t.(type) {
		case time.Time:
			tm = v
		case *time.Time:
			if v == nil {
				return "never"
			}
			tm = *v
		default:
			return ""
		}
		if tm.IsZero() {
			return "never"
		}
		return tm.UTC().Format("2006-01-02 15:04 UTC") // the admin console's format too (handlers.formatWhen)
	},
}
