package sessionstore

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/gatehouse/gatehouse/testkit"
)

// lockedReader is an io.Reader safe for the server goroutines.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

func TestOptionsRand(t *testing.T) {
	seven, nine := bytes.Repeat([]byte{7}, tokenBytes), bytes.Repeat([]byte{9}, tokenBytes)
	opts := defaultOpts()
	opts.Rand = &lockedReader{r: bytes.NewReader(append(append([]byte(nil), seven...), nine...))}
	e := newEnv(t, opts)
	if got, want := e.start(e.user, ""), base64.RawURLEncoding.EncodeToString(seven); got != want {
		t.Fatalf("first token %q, want %q from Options.Rand", got, want)
	}
	if got, want := e.start(e.user, ""), base64.RawURLEncoding.EncodeToString(nine); got != want {
		t.Fatalf("second token %q, want %q from Options.Rand", got, want)
	}

	// Without randomness there is no session, and the handler hears why.
	noEntropy := errors.New("no entropy")
	opts.Rand = iotest.ErrReader(noEntropy)
	e.serve(opts)
	rows := e.rowCount()
	resp, body := e.do("POST", fmt.Sprintf("/start?user=%d", e.user), "")
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, noEntropy.Error()) {
		t.Fatalf("start without randomness = %d %q", resp.StatusCode, body)
	}
	if c := sessionCookie(resp); c != nil || e.rowCount() != rows {
		t.Fatalf("start without randomness set cookie %+v, rows %d -> %d", c, rows, e.rowCount())
	}
}

func TestOptionsNow(t *testing.T) {
	storeNow := t0.Add(24 * time.Hour) // the database's clock stays at t0
	c := testkit.NewClock(storeNow)
	opts := defaultOpts()
	opts.Now = c.Now
	e := newEnv(t, opts)
	token := e.start(e.user, "")
	row := e.row(token)
	if !row.CreatedAt.Equal(storeNow) || !row.ExpiresAt.Equal(storeNow.Add(2*time.Hour)) || !row.IdleExpiresAt.Equal(storeNow.Add(30*time.Minute)) {
		t.Fatalf("row times created=%v idle=%v expires=%v, want from Options.Now %v", row.CreatedAt, row.IdleExpiresAt, row.ExpiresAt, storeNow)
	}
	c.Set(storeNow.Add(30 * time.Minute))
	if got := e.whoami(token); got != "signed out" {
		t.Fatalf("after the idle timeout on Options.Now: %q", got)
	}
}
