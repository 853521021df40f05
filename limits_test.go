package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/testkit"

	"github.com/gatehouse/gatehouse/config"
)

// TestServeLimits: oversized headers are refused with a 4xx by the server
// itself (MaxHeaderBytes), oversized bodies with the friendly 413 page, and
// the callback tells the browser to send no Referer (its URL carries code and
// state).
func TestServeLimits(t *testing.T) {
	cfg := config.Default()
	cfg.Database = testkit.Database(t, "g.db")
	var stdout, logs testkit.LogBuffer
	base, cancel, _ := startServe(t, cfg, &stdout, &logs)
	defer cancel()

	req, _ := http.NewRequest(http.MethodGet, base+"/login", nil)
	req.Header.Set("X-Padding", strings.Repeat("a", 64<<10))
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB header: status %d, want 431", resp.StatusCode)
	}

	resp, err = noRedirect.Post(base+"/auth/login", "application/x-www-form-urlencoded",
		strings.NewReader("email=a%40example.com&password="+strings.Repeat("x", 100<<10)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("100 KiB form: status %d, want 413", resp.StatusCode)
	}

	resp, err = noRedirect.Get(base + "/auth/callback?code=secret-code&state=secret-state")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("callback: status %d, Referrer-Policy %q; want 4xx and no-referrer", resp.StatusCode, resp.Header.Get("Referrer-Policy"))
	}
}
