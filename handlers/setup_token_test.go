package handlers_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"
	"testing/iotest"
	"time"

	"github.com/gatehouse/gatehouse/handlers"
)

func TestSetupTokenRand(t *testing.T) {
	now := time.Date(2030, 3, 4, 10, 0, 0, 0, time.UTC)
	seed := bytes.Repeat([]byte{5}, 32)
	s := &handlers.Setup{Rand: bytes.NewReader(seed)}
	tok, err := s.Issue(now, handlers.SetupTTL)
	if err != nil || tok != base64.RawURLEncoding.EncodeToString(seed) {
		t.Fatalf("Issue = %q, %v; want the token of Setup.Rand's bytes", tok, err)
	}
	noEntropy := errors.New("no entropy")
	s = &handlers.Setup{Rand: iotest.ErrReader(noEntropy)}
	if tok, err := s.Issue(now, handlers.SetupTTL); !errors.Is(err, noEntropy) || tok != "" {
		t.Fatalf("Issue without randomness = %q, %v; want the reader's error", tok, err)
	}
}
