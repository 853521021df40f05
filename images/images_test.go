package images

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	png := []byte("\x89PNG\r\n\x1a\nrest")
	svg := []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/>`)
	webp := []byte("RIFF\x04\x00\x00\x00WEBPVP8 ")
	good := []struct{ name, typ string }{
		{"a.png", "image/png"}, {"b.SVG", "image/svg+xml"}, {"c.webp", "image/webp"},
	}
	for i, data := range [][]byte{png, svg, webp} {
		img, err := Load(write(good[i].name, data))
		if err != nil {
			t.Fatalf("%s: %v", good[i].name, err)
		}
		if img.Type != good[i].typ || string(img.Data) != string(data) || len(img.Sum) != 12 {
			t.Errorf("%s: got %+v", good[i].name, img)
		}
	}
	bad := []struct{ path, want string }{
		{write("a.gif", []byte("GIF89a")), "must be a .png, .svg or .webp file"},
		{write("fake.png", svg), "is not a PNG image"},
		{write("fake.webp", png), "is not a WebP image"},
		{write("fake.svg", []byte("<html><script>alert(1)</script></html>")), "is not an SVG image"},
		{write("text.svg", []byte("hello")), "is not an SVG image"},
		{write("big.png", append(png, make([]byte, MaxBytes)...)), "is larger than 64 KB"},
		{filepath.Join(dir, "missing.png"), "no such file"},
	}
	for _, b := range bad {
		_, err := Load(b.path)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: got %v, want %q", filepath.Base(b.path), err, b.want)
		}
	}
}
