package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDockerfile checks the Dockerfile's key lines: a Go build stage with
// cgo (SQLite), a minimal runtime stage, a non-root user, the /data
// volume and a health check that needs no curl.
func TestDockerfile(t *testing.T) {
	b := string(must(os.ReadFile("Dockerfile")))
	// Join continuation lines, drop comments.
	b = strings.ReplaceAll(b, "\\\n", " ")
	var lines []string
	for _, l := range strings.Split(b, "\n") {
		if l = strings.TrimSpace(l); l != "" && l[0] != '#' {
			lines = append(lines, l)
		}
	}
	has := func(re string) bool {
		return slices.ContainsFunc(lines, regexp.MustCompile(re).MatchString)
	}
	for _, re := range []string{
		`^FROM golang:1\.26-bookworm AS build$`,
		`^RUN CGO_ENABLED=1 go build -trimpath .*-o /out/gatehouse \.`,
		`^FROM gcr\.io/distroless/base-debian12:nonroot$`,
		`^COPY --from=build /out/gatehouse /usr/local/bin/gatehouse$`,
		`^USER nonroot(:nonroot)?$`,
		`^VOLUME \["/data"\]$`,
		`GATEHOUSE_DATABASE=/data/gatehouse\.db`,
		`GATEHOUSE_LISTEN=0\.0\.0\.0:8080`,
		`^EXPOSE 8080$`,
		`^HEALTHCHECK .*CMD \["/usr/local/bin/gatehouse", "healthcheck"\]$`,
		`^ENTRYPOINT \["/usr/local/bin/gatehouse"\]$`,
		`^CMD \["serve"\]$`,
	} {
		if !has(re) {
			t.Errorf("Dockerfile has no line matching %s", re)
		}
	}
	if n := len(slices.DeleteFunc(slices.Clone(lines), func(l string) bool { return !strings.HasPrefix(l, "FROM ") })); n != 2 {
		t.Errorf("Dockerfile has %d stages, want 2 (build, runtime)", n)
	}
	if has(`^USER (root|0)(:|$)`) {
		t.Error("Dockerfile switches to root")
	}
	// Nothing secret or bulky goes into the build context.
	ignore := strings.Fields(string(must(os.ReadFile(".dockerignore"))))
	for _, want := range []string{".git", ".env", "*.db", "*.db-wal", "secrets.key", "/data/"} {
		if !slices.Contains(ignore, want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
}
