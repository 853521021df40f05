package views

import "fmt"

// Brand is the operator's branding as every page's layout reads it (the
// Brand key of a page's data).
type Brand struct {
	// Name replaces "gatehouse" in titles, the header and the footer.
	Name string
	// LogoURL is where the header's logo is served; empty shows none.
	LogoURL string
	// Stylesheet is the URL of the stylesheet carrying the brand colour;
	// empty keeps the built-in colours.
	Stylesheet string
}

// BrandCSS is the stylesheet that sets the brand colour (#rrggbb, already
// validated) and its darker hover shade over app.css's custom properties.
// A stylesheet is served rather than a style attribute, which the pages'
// Content-Security-Policy (style-src 'self') would refuse.
func BrandCSS(colour, dark string) []byte {
	return fmt.Appendf(nil, "/* gatehouse: branding.colour from the configuration */\n:root {\n  --primary: %s;\n  --primary-dark: %s;\n}\n", colour, dark)
}
