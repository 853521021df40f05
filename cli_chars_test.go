package main

import (
	"strings"
	"testing"
)

// TestCLIRefusesInvisibleCharacters: user create refuses an email or a name
// that hides zero-width or bidi characters, and creates nothing.
func TestCLIRefusesInvisibleCharacters(t *testing.T) {
	hermetic(t)
	cfgPath := writeConfig(t, t.TempDir(), "")
	runCLI(t, "", "user", "create", "--email", "ki\u200Bm@example.com", "--config", cfgPath).
		want(t, exitFailure, "", "Enter a valid email address.")
	runCLI(t, "", "user", "create", "--email", "kim@example.com\u202E", "--config", cfgPath).
		want(t, exitFailure, "", "Enter a valid email address.")
	runCLI(t, "", "user", "create", "--email", "kim@example.com", "--name", "Kim \u2066nimda\u2069", "--config", cfgPath).
		want(t, exitFailure, "", "Names cannot contain invisible characters")
	list := runCLI(t, "", "user", "list", "--config", cfgPath)
	list.want(t, exitOK, "EMAIL", "")
	if strings.Contains(list.stdout, "kim") {
		t.Fatalf("a refused account was created:\n%s", list.stdout)
	}
}
