package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/images"
)

// DefaultBrandName is the name pages carry when branding.name is not set.
const DefaultBrandName = "gatehouse"

// maxBrandName bounds branding.name: it sits in every title and header.
const maxBrandName = 60

// Branding is the operator's look on every page.
type Branding struct {
	// Name replaces "gatehouse" in page titles, the header and the footer.
	Name string `yaml:"name"`
	// Logo is the path of a PNG, SVG or WebP file (at most 64 KB) shown in
	// the header beside the name; empty shows none.
	Logo string `yaml:"logo"`
	// Colour is the main colour (header, buttons, links) as #rrggbb; empty
	// keeps gatehouse's blue. White text must be readable on it.
	Colour string `yaml:"colour"`

	// LogoImage is Logo read at load.
	LogoImage *images.Image `yaml:"-"`
}

// finish validates the branding and reads the logo.
func (b *Branding) finish() error {
	if strings.TrimSpace(b.Name) == "" {
		return fmt.Errorf("branding.name: must not be empty")
	}
	if utf8.RuneCountInString(b.Name) > maxBrandName || strings.ContainsFunc(b.Name, unicode.IsControl) || !utf8.ValidString(b.Name) {
		return fmt.Errorf("branding.name: must be at most %d characters of text on one line", maxBrandName)
	}
	b.Name = strings.TrimSpace(b.Name)
	b.LogoImage = nil
	if b.Logo != "" {
		img, err := images.Load(b.Logo)
		if err != nil {
			return fmt.Errorf("branding.logo: %s", oneLine(err.Error()))
		}
		b.LogoImage = img
	}
	if b.Colour != "" {
		c, err := ParseColour(b.Colour)
		if err != nil {
			return fmt.Errorf("branding.colour: %w", err)
		}
		b.Colour = c.String()
	}
	return nil
}

// Colour is an sRGB colour.
type Colour struct{ R, G, B uint8 }

// minContrast is WCAG 2.1 AA for normal text: white text on the colour.
const minContrast = 4.5

// ParseColour reads "#rrggbb" and checks that white text on it meets WCAG
// AA contrast, as gatehouse's own colours do.
func ParseColour(s string) (Colour, error) {
	if len(s) != 7 || s[0] != '#' {
		return Colour{}, fmt.Errorf("%q must be a hex colour #rrggbb", s)
	}
	v, err := strconv.ParseUint(s[1:], 16, 32)
	if err != nil {
		return Colour{}, fmt.Errorf("%q must be a hex colour #rrggbb", s)
	}
	c := Colour{uint8(v >> 16), uint8(v >> 8), uint8(v)}
	if r := c.contrastWithWhite(); r < minContrast {
		return Colour{}, fmt.Errorf("%q is too light: white text on it has contrast %.1f:1, at least %.1f:1 is needed", s, r, minContrast)
	}
	return c, nil
}

// String is the colour as lower-case #rrggbb.
func (c Colour) String() string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

// Darker is the colour with each channel scaled by f (0..1), for hover.
func (c Colour) Darker(f float64) Colour {
	s := func(v uint8) uint8 { return uint8(math.Round(float64(v) * f)) }
	return Colour{s(c.R), s(c.G), s(c.B)}
}

// contrastWithWhite is the WCAG contrast ratio of white on c.
func (c Colour) contrastWithWhite() float64 {
	lin := func(v uint8) float64 {
		x := float64(v) / 255
		if x <= 0.04045 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	l := 0.2126*lin(c.R) + 0.7152*lin(c.G) + 0.0722*lin(c.B)
	return 1.05 / (l + 0.05)
}
