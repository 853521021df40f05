// Package images loads the pictures an operator gives gatehouse (the
// branding logo, provider icons): small PNG, WebP or SVG files, read once at
// start, checked, and kept in memory to be served from a gatehouse URL.
//
// They are only ever shown through <img>, which runs no script even in an
// SVG, and served with a Content-Security-Policy of their own in case one is
// opened directly.
package images

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// MaxBytes is the largest file accepted: a logo or an icon, not a photo.
const MaxBytes = 64 << 10

// Image types accepted, by file extension.
var types = map[string]string{
	".png":  "image/png",
	".svg":  "image/svg+xml",
	".webp": "image/webp",
}

// Extensions is how an accepted file's name ends, for messages.
const Extensions = ".png, .svg or .webp"

// Image is one loaded picture.
type Image struct {
	// Data is the file's bytes.
	Data []byte
	// Type is the Content-Type it is served with.
	Type string
	// Ext is the file extension, with its dot (".png").
	Ext string
	// Sum is a short hex digest of Data: URLs carry it so the picture may
	// be cached for a long time and still change when the file does.
	Sum string
}

// TypeOf returns the Content-Type of a file named path, or "" when its
// extension is not one of Extensions.
func TypeOf(path string) string {
	return types[strings.ToLower(filepath.Ext(path))]
}

// Load reads path and checks that it is a picture of the type its name
// says, no larger than MaxBytes. Errors are one line without the path.
func Load(path string) (*Image, error) {
	ext := strings.ToLower(filepath.Ext(path))
	typ := types[ext]
	if typ == "" {
		return nil, fmt.Errorf("%q must be a %s file", path, Extensions)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("%q is larger than %d KB", path, MaxBytes>>10)
	}
	if err := check(ext, data); err != nil {
		return nil, fmt.Errorf("%q %w", path, err)
	}
	sum := sha256.Sum256(data)
	return &Image{Data: data, Type: typ, Ext: ext, Sum: hex.EncodeToString(sum[:6])}, nil
}

// check reports whether data looks like an image of type ext.
func check(ext string, data []byte) error {
	switch ext {
	case ".png":
		if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
			return errors.New("is not a PNG image")
		}
	case ".webp":
		if len(data) < 12 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WEBP" {
			return errors.New("is not a WebP image")
		}
	case ".svg":
		if !isSVG(data) {
			return errors.New("is not an SVG image (an XML document whose root element is svg)")
		}
	}
	return nil
}

// isSVG reports whether data is XML whose root element is an SVG svg.
func isSVG(data []byte) bool {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se.Name.Local == "svg" && (se.Name.Space == "" || se.Name.Space == "http://www.w3.org/2000/svg")
		}
	}
}
