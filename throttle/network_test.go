package throttle

import (
	"strings"
	"testing"
)

func TestNetwork(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"203.0.113.7":                    "203.0.113.7",
		"::ffff:203.0.113.7":             "203.0.113.7",
		"2001:db8:1:2:3:4:5:6":           "2001:db8:1:2::/64",
		"2001:DB8:1:2::1":                "2001:db8:1:2::/64",
		"fe80::1%eth0":                   "fe80::/64",
		"::1":                            "::/64",
		"":                               "",
		"not-an-ip":                      "not-an-ip",
		strings.Repeat("x", 200):         strings.Repeat("x", 45),
		"2001:db8:1:2:ffff:ffff:ffff:ff": "2001:db8:1:2::/64",
	} {
		if got := network(addr); got != want {
			t.Errorf("network(%q) = %q, want %q", addr, got, want)
		}
	}
}
