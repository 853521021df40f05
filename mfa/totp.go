// Package mfa is the arithmetic of second factors, apart from any storage
// or HTTP: authenticator-app codes (TOTP, RFC 6238) with their replay
// guard, the QR code an app scans, and recovery codes. accounts stores
// what it returns; this package decides only whether a code is right.
package mfa

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"image/png"
	"io"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters: what every authenticator app understands.
const (
	Period = 30 * time.Second
	Digits = 6
	// Skew is how many steps before or after the current one a code may be
	// from: a phone's clock a little off still works.
	Skew = 1
	// secretBytes is the key size RFC 4226 recommends (160 bits).
	secretBytes = 20
)

// Key is a new authenticator-app key: its base32 secret (what a person
// types when they cannot scan) and the otpauth:// URL the QR code holds.
type Key struct {
	Secret string
	URL    string
	key    *otp.Key
}

// NewKey makes a random key for account (the email the app shows) at
// issuer (the service's name); rand nil is crypto/rand.
func NewKey(issuer, account string, r io.Reader) (*Key, error) {
	if r == nil {
		r = rand.Reader
	}
	k, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: account, Period: uint(Period / time.Second),
		SecretSize: secretBytes, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Rand: r,
	})
	if err != nil {
		return nil, fmt.Errorf("mfa: new key: %w", err)
	}
	return &Key{Secret: k.Secret(), URL: k.URL(), key: k}, nil
}

// KeyFromURL is the Key of an otpauth:// URL made by NewKey.
func KeyFromURL(u string) (*Key, error) {
	k, err := otp.NewKeyFromURL(u)
	if err != nil {
		return nil, fmt.Errorf("mfa: key: %w", err)
	}
	return &Key{Secret: k.Secret(), URL: k.URL(), key: k}, nil
}

// QR is the key's otpauth:// URL as a PNG QR code of size x size pixels.
func (k *Key) QR(size int) ([]byte, error) {
	img, err := k.key.Image(size, size)
	if err != nil {
		return nil, fmt.Errorf("mfa: QR code: %w", err)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("mfa: QR code: %w", err)
	}
	return b.Bytes(), nil
}

// Step is the TOTP time step t falls in.
func Step(t time.Time) int64 { return t.Unix() / int64(Period/time.Second) }

// Code is the code of secret for step: what an app shows then.
func Code(secret string, step int64) (string, error) {
	return totp.GenerateCodeCustom(secret, time.Unix(step*int64(Period/time.Second), 0), totp.ValidateOpts{
		Period: uint(Period / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
}

// ErrReplay is the error of a right code whose step was used already: a
// code works once, so one seen over a shoulder or phished is useless
// after its owner typed it.
var ErrReplay = errors.New("mfa: that code was used already")

// ErrWrongCode is the error of a code that is not right now.
var ErrWrongCode = errors.New("mfa: wrong code")

// Check checks code (digits, spaces allowed) against secret at now, within
// Skew steps, and returns the step it matched. A code of a step at or
// before lastUsed (the step of the last code accepted) is ErrReplay.
func Check(secret, code string, now time.Time, lastUsed int64) (int64, error) {
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, code)
	if len(code) != Digits || strings.Trim(code, "0123456789") != "" {
		return 0, ErrWrongCode
	}
	cur := Step(now)
	for _, step := range []int64{cur, cur - 1, cur + 1} { // the current step first
		want, err := Code(secret, step)
		if err != nil {
			return 0, fmt.Errorf("mfa: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			if step <= lastUsed {
				return 0, ErrReplay
			}
			return step, nil
		}
	}
	return 0, ErrWrongCode
}
