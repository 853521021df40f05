package handlers

import (
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/images"
	"github.com/gatehouse/gatehouse/views"
)

// brandCSSPath is the generated stylesheet of branding.colour, under
// /assets/.
const brandCSSPath = "brand.css"

// brandImageCSP is the policy a logo or provider icon is served with: if
// one is opened directly (not through <img>, which never runs script), an
// SVG still runs no script and loads nothing.
const brandImageCSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"

// brandFile is one generated or configured file served under /assets/.
type brandFile struct {
	data      []byte
	typ       string
	immutable bool // the URL carries a digest of the bytes
	image     bool
}

// brand is the branding every page shows, built once from the
// configuration: the layout's data and the files it links to.
type brand struct {
	view  views.Brand
	icons map[string]string // provider ID -> icon URL
	files map[string]brandFile
}

// newBrand reads the branding and the provider icons from cfg.
func newBrand(cfg config.Config) *brand {
	b := &brand{view: views.Brand{Name: cfg.Branding.Name}, icons: map[string]string{}, files: map[string]brandFile{}}
	if b.view.Name == "" {
		b.view.Name = config.DefaultBrandName
	}
	if cfg.Branding.Colour != "" {
		c, err := config.ParseColour(cfg.Branding.Colour)
		if err == nil { // validated by config
			b.files[brandCSSPath] = brandFile{data: views.BrandCSS(c.String(), c.Darker(0.78).String()), typ: "text/css; charset=utf-8"}
			b.view.Stylesheet = "/assets/" + brandCSSPath
		}
	}
	if img := cfg.Branding.LogoImage; img != nil {
		b.view.LogoURL = b.addImage("brand/logo-"+img.Sum+img.Ext, img)
	}
	for _, p := range cfg.Providers {
		if img := p.IconImage; img != nil {
			b.icons[p.ID] = b.addImage("brand/icon-"+p.ID+"-"+img.Sum+img.Ext, img)
		}
	}
	return b
}

// addImage serves img at /assets/ + path and returns that URL.
func (b *brand) addImage(path string, img *images.Image) string {
	b.files[path] = brandFile{data: img.Data, typ: img.Type, immutable: true, image: true}
	return "/assets/" + path
}

// serve answers a request for /assets/ + path when it is a branding file.
func (b *brand) serve(w http.ResponseWriter, r *http.Request, path string) bool {
	f, ok := b.files[strings.TrimPrefix(path, "/")]
	if !ok {
		return false
	}
	hd := w.Header()
	hd.Set("Content-Type", f.typ)
	hd.Set("X-Content-Type-Options", "nosniff")
	if f.image {
		hd.Set("Content-Security-Policy", brandImageCSP)
	}
	if f.immutable {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "public, max-age=3600")
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(f.data)
	}
	return true
}
