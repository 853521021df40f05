package secrets

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBox: a sealed value opens with its key and ad only; altered, or
// under another key, it is ErrOpen; no key is ErrNoKey.
func TestBox(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, KeySize)
	b, err := New(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := b.Seal([]byte("JBSWY3DPEHPK3PXP"), []byte("user:1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("JBSWY3DPEHPK3PXP")) {
		t.Fatal("the plain text shows")
	}
	if got, err := b.Open(sealed, []byte("user:1")); err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("open: %q %v", got, err)
	}
	again, _ := b.Seal([]byte("JBSWY3DPEHPK3PXP"), []byte("user:1"))
	if bytes.Equal(again, sealed) {
		t.Fatal("two seals alike: the nonce repeats")
	}
	other, _ := New(bytes.Repeat([]byte{8}, KeySize), nil)
	altered := bytes.Clone(sealed)
	altered[len(altered)-1] ^= 1
	for name, f := range map[string]func() ([]byte, error){
		"another ad":  func() ([]byte, error) { return b.Open(sealed, []byte("user:2")) },
		"another key": func() ([]byte, error) { return other.Open(sealed, []byte("user:1")) },
		"altered":     func() ([]byte, error) { return b.Open(altered, []byte("user:1")) },
		"short":       func() ([]byte, error) { return b.Open(sealed[:10], []byte("user:1")) },
	} {
		if _, err := f(); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: %v, want ErrOpen", name, err)
		}
	}
	var none *Box
	if _, err := none.Seal([]byte("x"), nil); !errors.Is(err, ErrNoKey) {
		t.Errorf("no key: %v", err)
	}
	if _, err := (&Box{}).Open(sealed, nil); !errors.Is(err, ErrNoKey) {
		t.Errorf("no key: %v", err)
	}
}

// TestOpenKeys: a configured key is used as configured; without one an
// SQLite installation gets a key file beside its database (0600), the
// same one on the next start; PostgreSQL gets none; bad keys are errors
// naming secrets.key.
func TestOpenKeys(t *testing.T) {
	t.Parallel()
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, KeySize))
	configured, err := Open(Config{Key: key}, "", nil)
	if err != nil || !configured.HasKey() {
		t.Fatalf("configured: %v", err)
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "gatehouse.db")
	first, err := Open(Config{}, db, nil)
	if err != nil || !first.HasKey() {
		t.Fatalf("generated: %v", err)
	}
	fi, err := os.Stat(KeyFile(db))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	sealed, _ := first.Seal([]byte("s"), nil)
	second, err := Open(Config{}, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := second.Open(sealed, nil); err != nil || string(got) != "s" {
		t.Fatalf("the key changed between starts: %v", err)
	}
	if pg, err := Open(Config{}, "", nil); err != nil || pg.HasKey() {
		t.Fatalf("PostgreSQL without a key: %v", err)
	}
	for _, bad := range []string{"not base64!", base64.StdEncoding.EncodeToString([]byte("short"))} {
		if err := (Config{Key: bad}).Validate(); err == nil || !strings.HasPrefix(err.Error(), "secrets.key: ") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if err := os.WriteFile(KeyFile(db), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{}, db, nil); err == nil {
		t.Fatal("a broken key file was accepted")
	}
}

// TestMAC: the same message under the same key gives the same MAC, under
// another key another; no key is ErrNoKey; Open says when it made the key.
func TestMAC(t *testing.T) {
	t.Parallel()
	a, _ := New(bytes.Repeat([]byte{1}, KeySize), nil)
	b, _ := New(bytes.Repeat([]byte{2}, KeySize), nil)
	m1, err := a.MAC([]byte("recovery|1|abcdefghjk"))
	m2, _ := a.MAC([]byte("recovery|1|abcdefghjk"))
	m3, _ := b.MAC([]byte("recovery|1|abcdefghjk"))
	m4, _ := a.MAC([]byte("recovery|2|abcdefghjk"))
	if err != nil || m1 != m2 || m1 == m3 || m1 == m4 || len(m1) != 64 {
		t.Fatalf("MACs %q %q %q %q %v", m1, m2, m3, m4, err)
	}
	if _, err := (&Box{}).MAC(nil); !errors.Is(err, ErrNoKey) {
		t.Fatalf("no key: %v", err)
	}
	db := filepath.Join(t.TempDir(), "g.db")
	first, _ := Open(Config{}, db, nil)
	second, _ := Open(Config{}, db, nil)
	if !first.Generated() || second.Generated() {
		t.Fatalf("generated: first %v, second %v", first.Generated(), second.Generated())
	}
}
