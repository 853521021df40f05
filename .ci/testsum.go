//go:build ignore

// testsum runs `go test -json` with the given arguments and prints what a
// person needs: the output of every failed test, the tests that were
// skipped and why, and one closing line "N passed, M failed, K skipped".
// It exits non-zero when go test does or when any test failed.
//
//	go run .ci/testsum.go -race -count=1 ./...
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

type key struct{ pkg, test string }

func main() {
	start := time.Now()
	cmd := exec.Command("go", append([]string{"test", "-json"}, os.Args[1:]...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fatal(err)
	}
	if err := cmd.Start(); err != nil {
		fatal(err)
	}
	var (
		passed, failed, skipped int
		outputs                 = map[key][]string{} // kept until the test ends
		failures, skips         []string
		pkgFailed               []string
	)
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			fmt.Println(sc.Text()) // build output and the like
			continue
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "output":
			outputs[k] = append(outputs[k], e.Output)
		case "pass", "fail", "skip":
			lines := outputs[k]
			delete(outputs, k)
			if e.Test == "" { // the package itself
				if e.Action == "fail" {
					pkgFailed = append(pkgFailed, e.Package)
					fmt.Print(strings.Join(lines, ""))
				} else {
					fmt.Printf("%-4s %s (%.1fs)\n", e.Action, e.Package, e.Elapsed)
				}
				continue
			}
			switch e.Action {
			case "pass":
				passed++
			case "fail":
				failed++
				failures = append(failures, e.Package+" "+e.Test)
				fmt.Printf("--- FAIL %s %s\n%s", e.Package, e.Test, strings.Join(lines, ""))
			case "skip":
				skipped++
				skips = append(skips, fmt.Sprintf("%s %s: %s", e.Package, e.Test, skipReason(lines)))
			}
		}
	}
	waitErr := cmd.Wait()
	sort.Strings(skips)
	if len(skips) > 0 {
		fmt.Println("\nskipped:")
		for _, s := range skips {
			fmt.Println("  " + s)
		}
	}
	if len(failures) > 0 {
		fmt.Println("\nfailed:")
		for _, f := range failures {
			fmt.Println("  " + f)
		}
	}
	for _, p := range pkgFailed {
		fmt.Println("package failed: " + p)
	}
	if os.Getenv("GATEHOUSE_TEST_DATABASE") != "" {
		fmt.Println("\ndatabase: PostgreSQL (GATEHOUSE_TEST_DATABASE); the tests about SQLite itself were skipped")
	} else {
		fmt.Println("\ndatabase: SQLite; the PostgreSQL-only tests were skipped (make test-postgres runs every test on PostgreSQL)")
	}
	fmt.Printf("tests took %s\n", time.Since(start).Round(time.Second))
	fmt.Printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if waitErr != nil || failed > 0 || len(pkgFailed) > 0 {
		os.Exit(1)
	}
}

// skipReason is the message a skipped test gave (its last output line
// that is not the "--- SKIP" line itself).
func skipReason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "--- SKIP") || strings.HasPrefix(l, "=== ") {
			continue
		}
		return l
	}
	return "(no reason given)"
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "testsum:", err)
	os.Exit(2)
}
