package main

// Tests of the systemd units in deploy/systemd: systemd's own verifier
// when it is installed, and the hardening keys, always.

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// units are the systemd units in deploy/systemd.
var units = []string{"gatehouse.service", "gatehouse-backup.service", "gatehouse-backup.timer"}

// unitFile is a parsed systemd unit: section, then key, then every value
// the key was given, in order (keys such as SystemCallFilter repeat).
type unitFile map[string]map[string][]string

// parseUnit reads the unit at path: [Section] lines, Key=Value lines,
// comments (# or ;) and blank lines. Anything else fails the test.
func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, `\`) {
				t.Fatalf("%s:%d: not a key=value line in a section (continuations are not used here): %q", path, n, line)
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestSystemdUnitHardening: the units keep their sandbox. Each key is
// checked for its exact value, so a unit cannot lose one (or have it
// loosened) without this test saying which.
func TestSystemdUnitHardening(t *testing.T) {
	sandbox := map[string]string{
		"DynamicUser": "yes", "User": "gatehouse", "StateDirectory": "", "WorkingDirectory": "/var/lib/gatehouse",
		"UMask": "0077", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ReadWritePaths": "/var/lib/gatehouse",
		"ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
		"ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
		"CapabilityBoundingSet": "", "AmbientCapabilities": "", "RestrictNamespaces": "yes", "RestrictRealtime": "yes",
		"RestrictSUIDSGID": "yes", "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes",
		"SystemCallFilter": "@system-service", "SystemCallArchitectures": "native",
	}
	tests := []struct {
		unit string
		want map[string]string // "" for StateDirectory: checked below
	}{
		{"gatehouse.service", map[string]string{
			"Type": "notify", "ExecStart": "/usr/local/bin/gatehouse serve --config /etc/gatehouse/config.yaml",
			"ExecReload": "/bin/kill -HUP $MAINPID", "Restart": "on-failure", "TimeoutStopSec": "90s",
			"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
		}},
		{"gatehouse-backup.service", map[string]string{
			"Type": "oneshot", "RestrictAddressFamilies": "AF_UNIX", "PrivateNetwork": "yes",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.unit, func(t *testing.T) {
			svc := parseUnit(t, filepath.Join("deploy", "systemd", tt.unit))["Service"]
			if svc == nil {
				t.Fatal("no [Service] section")
			}
			for k, want := range sandbox {
				if tt.want[k] == "" {
					tt.want[k] = want
				}
			}
			for k, want := range tt.want {
				got, ok := svc[k]
				switch {
				case !ok:
					t.Errorf("%s= is missing", k)
				case k == "StateDirectory":
					if !strings.HasPrefix(got[0], "gatehouse") {
						t.Errorf("StateDirectory=%s, want gatehouse first", got[0])
					}
				case got[0] != want:
					t.Errorf("%s=%s, want %s", k, got[0], want)
				}
			}
		})
	}
	backup := parseUnit(t, filepath.Join("deploy", "systemd", "gatehouse-backup.service"))["Service"]
	// systemd expands %Y, %m and %d itself (unit specifiers): the date
	// format must be escaped as %%, or backups are silently named after
	// directories and the machine ID. systemd-analyze verify does not catch it.
	if exec := strings.Join(backup["ExecStart"], " "); !strings.Contains(exec, "$$(date -u +%%Y%%m%%d)") || !strings.Contains(exec, "gatehouse backup --force") {
		t.Errorf("backup ExecStart = %q: want gatehouse backup --force with the date as $$(date -u +%%%%Y%%%%m%%%%d)", exec)
	}
	timer := parseUnit(t, filepath.Join("deploy", "systemd", "gatehouse-backup.timer"))["Timer"]
	for k, want := range map[string]string{"OnCalendar": "daily", "Persistent": "true", "RandomizedDelaySec": "1h"} {
		if got := timer[k]; len(got) == 0 || got[0] != want {
			t.Errorf("timer %s=%v, want %s", k, got, want)
		}
	}
}

// TestSystemdUnitsVerify runs systemd-analyze verify on the units, with
// the binary's path pointed at an executable that exists, and fails on
// anything it prints (it reports unknown keys and bad values as warnings
// and exits 0). Each deliberately broken copy must fail it, so a pass
// means something.
func TestSystemdUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	original := map[string]string{}
	for _, u := range units {
		original[u] = strings.ReplaceAll(string(must(os.ReadFile(filepath.Join("deploy", "systemd", u)))), "/usr/local/bin/gatehouse", self)
	}
	verify := func(t *testing.T, files map[string]string) (string, error) {
		dir := t.TempDir()
		var paths []string
		for _, u := range units {
			p := filepath.Join(dir, u)
			if err := os.WriteFile(p, []byte(files[u]), 0o644); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
		}
		cmd := exec.Command(analyze, append([]string{"verify"}, paths...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := verify(t, original); err != nil || out != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	tests := []struct {
		name, unit, old, new string
		says                 string
	}{
		{"misspelt key", "gatehouse.service", "ProtectSystem=strict", "ProtectSytem=strict", "Unknown key"},
		{"bad type", "gatehouse.service", "Type=notify", "Type=notifyy", "Failed to parse service type"},
		{"missing binary", "gatehouse.service", "ExecStart=" + self, "ExecStart=/nonexistent/gatehouse", "not executable"},
		{"bad calendar", "gatehouse-backup.timer", "OnCalendar=daily", "OnCalendar=every day", "Failed to parse calendar specification"},
		{"bad address family", "gatehouse-backup.service", "RestrictAddressFamilies=AF_UNIX", "RestrictAddressFamilies=AF_UNIXX", "AF_UNIXX"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{}
			for k, v := range original {
				files[k] = v
			}
			if !strings.Contains(files[tt.unit], tt.old) {
				t.Fatalf("%s has no %q to break", tt.unit, tt.old)
			}
			files[tt.unit] = strings.Replace(files[tt.unit], tt.old, tt.new, 1)
			out, _ := verify(t, files)
			if !strings.Contains(out, tt.says) {
				t.Fatalf("systemd-analyze verify of the broken unit said %q, want it to say %q", out, tt.says)
			}
		})
	}
}
