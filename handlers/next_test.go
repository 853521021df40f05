package handlers

import (
	"strings"
	"testing"
)

func TestSafeNextRefusesHostile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"scheme-relative", "//evil.com"},
		{"scheme-relative with path", "//evil.com/dashboard"},
		{"triple slash", "///evil.com"},
		{"slash backslash", `/\evil.com`},
		{"double backslash", `\\evil.com`},
		{"backslash slash", `\/evil.com`},
		{"backslash later in path", `/dashboard\..\..\evil`},
		{"absolute https", "https://evil.com"},
		{"absolute http", "http://evil.com/dashboard"},
		{"http with one slash", "http:/evil.com"},
		{"scheme without slashes", "http:evil.com"},
		{"javascript", "javascript:alert(1)"},
		{"javascript upper case", "JavaScript:alert(1)"},
		{"data URL", "data:text/html,<script>alert(1)</script>"},
		{"relative path", "dashboard"},
		{"dot relative", "./dashboard"},
		{"encoded double slash", "/%2F%2Fevil.com"},
		{"encoded double slash lower case", "/%2f%2fevil.com"},
		{"encoded slash after slash", "/%2Fevil.com"},
		{"encoded backslash", "/%5Cevil.com"},
		{"encoded backslash lower case", "/%5cevil.com"},
		{"encoded without leading slash", "%2F%2Fevil.com"},
		{"double-encoded slashes", "/%252F%252Fevil.com"},
		{"triple-encoded slashes", "/%25252F%25252Fevil.com"},
		{"double-encoded backslash", "/%255Cevil.com"},
		{"tab between slashes", "/\t/evil.com"},
		{"literal backslash-t", `/\t/evil.com`},
		{"newline between slashes", "/\n/evil.com"},
		{"carriage return", "/\r/evil.com"},
		{"encoded tab", "/%09/evil.com"},
		{"encoded newline", "/%0A/evil.com"},
		{"NUL", "/dashboard\x00"},
		{"encoded NUL", "/dashboard%00"},
		{"DEL", "/dash\x7fboard"},
		{"C1 control NEL", "/dash\u0085board"},
		{"line separator", "/dash\u2028board"},
		{"paragraph separator", "/dash\u2029board"},
		{"leading space", " /dashboard"},
		{"bad escape", "/dashboard%"},
		{"bad escape digits", "/dashboard%zz"},
		{"sign-out", "/auth/logout"},
		{"sign-in", "/auth/login"},
		{"callback with query", "/auth/callback?code=x"},
		{"encoded auth path", "/%61uth/logout"},
		{"dot segment into auth", "/./auth/logout"},
		{"dot-dot into auth", "/dashboard/../auth/logout"},
		{"encoded dot-dot into auth", "/dashboard/%2e%2e/auth/logout"},
		{"double slash into auth after dot", "/.//auth/logout"},
		{"overly long", "/" + strings.Repeat("a", 1024)},
		{"overly long query", "/dashboard?x=" + strings.Repeat("b", 2000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SafeNext(tt.in); got != "" {
				t.Fatalf("SafeNext(%q) = %q, want \"\"", tt.in, got)
			}
		})
	}
}

func TestSafeNextKeepsLocalPaths(t *testing.T) {
	t.Parallel()
	tests := []string{
		"/",
		"/dashboard",
		"/dashboard?tab=1#x",
		"/account/sessions",
		"/account/sessions?page=2&sort=desc",
		"/login?notice=signed_out",
		"/search?q=a%20b",
		"/café",
		"/authors",        // only /auth/ itself is refused
		"/dashboard/auth", // so is nothing below another path
		"/" + strings.Repeat("a", 1023),
		// A space inside a path is harmless: browsers percent-encode it
		// and never read it as a host (unlike tabs and newlines, which
		// they strip).
		"/ /evil.com",
		"/dashboard?next=//evil.com", // a query is not a host
		"/http://evil.com",           // a path segment, not a scheme
	}
	for _, in := range tests {
		if got := SafeNext(in); got != in {
			t.Errorf("SafeNext(%q) = %q, want it kept", in, got)
		}
	}
}
