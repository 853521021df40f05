// Package secrets seals the secrets gatehouse must be able to read back
// (an authenticator app's TOTP key) with AES-256-GCM under one key from
// the configuration (secrets.key) or, for a single SQLite installation
// without one, a key file generated beside the database. A database
// stolen without the key gives none of them away.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length of a key: AES-256.
const KeySize = 32

// Config is the secrets section of the configuration.
type Config struct {
	// Key is 32 bytes, base64 (standard or URL alphabet, padded or not);
	// `${VAR}` keeps it out of the file. Empty: a generated key file beside
	// an SQLite database, and none for PostgreSQL.
	Key string `yaml:"key"`
}

// Validate checks that a configured key decodes to KeySize bytes. Its
// errors start with the key at fault.
func (c Config) Validate() error {
	if c.Key == "" {
		return nil
	}
	if _, err := decodeKey(c.Key); err != nil {
		return fmt.Errorf("secrets.key: %w", err)
	}
	return nil
}

// decodeKey decodes a base64 key of KeySize bytes.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KeySize {
				return nil, fmt.Errorf("decodes to %d bytes, want %d (make one with: head -c 32 /dev/urandom | base64)", len(k), KeySize)
			}
			return k, nil
		}
	}
	return nil, errors.New("is not base64 (make one with: head -c 32 /dev/urandom | base64)")
}

// ErrNoKey is the error of sealing with no key: PostgreSQL without
// secrets.key (replicas must share one, so none is generated).
var ErrNoKey = errors.New("no secrets.key is configured: set one (32 bytes, base64) to store second factors")

// ErrOpen is the error of a sealed value the key does not open: it was
// sealed under another key (secrets.key changed) or altered.
var ErrOpen = errors.New("a stored secret cannot be decrypted with this secrets.key: it was sealed under another key, or altered")

// Box seals and opens values under one key. The zero Box (or a nil one)
// has no key and refuses with ErrNoKey.
type Box struct {
	aead cipher.AEAD
	mac  []byte // the HMAC key, derived from the key
	rand io.Reader
	// generated is set when Open made a new key file just now.
	generated bool
}

// New is the Box of a KeySize key; rand makes nonces (nil: crypto/rand).
func New(key []byte, r io.Reader) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secrets: key of %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if r == nil {
		r = rand.Reader
	}
	// A key of its own for MACs, derived so that the two uses never share
	// a key.
	h := hmac.New(sha256.New, key)
	h.Write([]byte("gatehouse secrets mac"))
	return &Box{aead: aead, mac: h.Sum(nil), rand: r}, nil
}

// MAC is the hex HMAC-SHA256 of msg under the box's key: how a value
// that is only ever compared (a recovery code) is stored, so that a stolen
// database alone cannot test guesses against it.
func (b *Box) MAC(msg []byte) (string, error) {
	if !b.HasKey() {
		return "", ErrNoKey
	}
	h := hmac.New(sha256.New, b.mac)
	h.Write(msg)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Generated reports whether Open made the box's key file just now: with
// second factors already sealed in the database, that means the file
// that sealed them is missing.
func (b *Box) Generated() bool { return b != nil && b.generated }

// Open returns the Box of cfg: its key, else (for an SQLite database at
// dbPath) the key in keyFile(dbPath), generated on first use with mode
// 0600; for PostgreSQL (dbPath "") without a key, a Box with none.
func Open(cfg Config, dbPath string, r io.Reader) (*Box, error) {
	if cfg.Key != "" {
		k, err := decodeKey(cfg.Key)
		if err != nil {
			return nil, fmt.Errorf("secrets.key: %w", err)
		}
		return New(k, r)
	}
	if dbPath == "" {
		return &Box{}, nil
	}
	k, generated, err := fileKey(KeyFile(dbPath), r)
	if err != nil {
		return nil, err
	}
	b, err := New(k, r)
	if err != nil {
		return nil, err
	}
	b.generated = generated
	return b, nil
}

// KeyFile is where the generated key of the SQLite database at dbPath is
// kept: beside it, so a copy of the folder keeps both, and the database
// file alone opens nothing.
func KeyFile(dbPath string) string {
	return filepath.Join(filepath.Dir(dbPath), "secrets.key")
}

// fileKey reads the key file at path, or creates it (0600, never
// replacing one that appeared meanwhile) with a new random key; generated
// says which.
func fileKey(path string, r io.Reader) (k []byte, generated bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := decodeKey(string(b))
		if err != nil {
			return nil, false, fmt.Errorf("secrets: %s %w", path, err)
		}
		return k, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("secrets: %w", err)
	}
	if r == nil {
		r = rand.Reader
	}
	k = make([]byte, KeySize)
	if _, err := io.ReadFull(r, k); err != nil {
		return nil, false, fmt.Errorf("secrets: new key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another process made it first
		return fileKey(path, r)
	}
	if err != nil {
		return nil, false, fmt.Errorf("secrets: %w", err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n"); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("secrets: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, false, fmt.Errorf("secrets: write %s: %w", path, err)
	}
	return k, true, nil
}

// HasKey reports whether the Box can seal.
func (b *Box) HasKey() bool { return b != nil && b.aead != nil }

// Seal encrypts plain, bound to ad (what the value belongs to, such as
// an account ID: a sealed value copied to another row does not open).
func (b *Box) Seal(plain, ad []byte) ([]byte, error) {
	if !b.HasKey() {
		return nil, ErrNoKey
	}
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plain)+b.aead.Overhead())
	if _, err := io.ReadFull(b.rand, nonce); err != nil {
		return nil, fmt.Errorf("secrets: nonce: %w", err)
	}
	return b.aead.Seal(nonce, nonce, plain, ad), nil
}

// Open decrypts what Seal sealed with the same ad, or fails with ErrOpen.
func (b *Box) Open(sealed, ad []byte) ([]byte, error) {
	if !b.HasKey() {
		return nil, ErrNoKey
	}
	n := b.aead.NonceSize()
	if len(sealed) < n+b.aead.Overhead() {
		return nil, ErrOpen
	}
	plain, err := b.aead.Open(nil, sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}
