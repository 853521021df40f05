package mfa

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// rfcSecret is RFC 6238's SHA-1 test key, "12345678901234567890", in base32.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// TestCodeRFC6238 checks the codes against RFC 6238 appendix B (its
// eight-digit values, of which a six-digit code is the last six).
func TestCodeRFC6238(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		unix int64
		want string
	}{{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"}, {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"}} {
		got, err := Code(rfcSecret, Step(time.Unix(tc.unix, 0)))
		if err != nil || got != tc.want[2:] {
			t.Errorf("T=%d: %q %v, want %q", tc.unix, got, err, tc.want[2:])
		}
	}
}

// TestCheckWindow: the code of the current step and of one step either
// side is accepted, two steps off is not; a step at or before the last one
// used is a replay; anything but six digits is wrong.
func TestCheckWindow(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	cur := Step(now)
	code := func(step int64) string {
		c, err := Code(rfcSecret, step)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name     string
		code     string
		lastUsed int64
		want     int64
		err      error
	}{
		{"current", code(cur), 0, cur, nil},
		{"one step behind", code(cur - 1), 0, cur - 1, nil},
		{"one step ahead", code(cur + 1), 0, cur + 1, nil},
		{"two steps behind", code(cur - 2), 0, 0, ErrWrongCode},
		{"two steps ahead", code(cur + 2), 0, 0, ErrWrongCode},
		{"with spaces", code(cur)[:3] + " " + code(cur)[3:], 0, cur, nil},
		{"replayed", code(cur), cur, 0, ErrReplay},
		{"older than the last used", code(cur - 1), cur, 0, ErrReplay},
		{"newer than the last used", code(cur + 1), cur, cur + 1, nil},
		{"empty", "", 0, 0, ErrWrongCode},
		{"five digits", code(cur)[:5], 0, 0, ErrWrongCode},
		{"seven digits", code(cur) + "1", 0, 0, ErrWrongCode},
		{"letters", "abcdef", 0, 0, ErrWrongCode},
		{"unicode digits", "١٢٣٤٥٦", 0, 0, ErrWrongCode},
		{"long", strings.Repeat("1", 5000), 0, 0, ErrWrongCode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Check(rfcSecret, tc.code, now, tc.lastUsed)
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Fatalf("Check = %d, %v; want %d, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

// TestCheckStepEdges: at the last second of a step and the first of the
// next, the window moves with the clock.
func TestCheckStepEdges(t *testing.T) {
	t.Parallel()
	start := time.Unix(Step(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))*30, 0)
	first, _ := Code(rfcSecret, Step(start))
	if _, err := Check(rfcSecret, first, start.Add(59*time.Second), 0); err != nil { // next step: one behind
		t.Fatalf("one step later: %v", err)
	}
	if _, err := Check(rfcSecret, first, start.Add(60*time.Second), 0); !errors.Is(err, ErrWrongCode) { // two behind
		t.Fatalf("two steps later: %v", err)
	}
	if _, err := Check(rfcSecret, first, start.Add(-time.Second), 0); err != nil { // one ahead
		t.Fatalf("one step earlier: %v", err)
	}
	if _, err := Check(rfcSecret, first, start.Add(-31*time.Second), 0); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("two steps earlier: %v", err)
	}
}

// TestNewKey: the key round-trips through its URL, names issuer and
// account, and gives a PNG QR code; two keys differ.
func TestNewKey(t *testing.T) {
	t.Parallel()
	k, err := NewKey("gatehouse", "alice@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Secret) != 32 || !strings.HasPrefix(k.URL, "otpauth://totp/gatehouse:alice@example.com?") || !strings.Contains(k.URL, "secret="+k.Secret) {
		t.Fatalf("key %+v", k)
	}
	back, err := KeyFromURL(k.URL)
	if err != nil || back.Secret != k.Secret {
		t.Fatalf("from URL: %+v %v", back, err)
	}
	png, err := k.QR(200)
	if err != nil || len(png) < 100 || string(png[1:4]) != "PNG" {
		t.Fatalf("QR: %d bytes, %v", len(png), err)
	}
	other, _ := NewKey("gatehouse", "alice@example.com", nil)
	if other.Secret == k.Secret {
		t.Fatal("two keys alike")
	}
}

// TestRecoveryCodes: ten distinct codes of the documented shape, whose
// hashes ignore case, spaces and dashes, and which a form can tell from
// an app's code.
func TestRecoveryCodes(t *testing.T) {
	t.Parallel()
	codes, err := NewRecoveryCodes(nil)
	if err != nil || len(codes) != RecoveryCodes {
		t.Fatalf("%d codes, %v", len(codes), err)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if len(c) != 11 || c[5] != '-' || seen[c] || !LooksLikeRecoveryCode(c) {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
		if NormalizeRecoveryCode(c) != NormalizeRecoveryCode(" "+strings.ToUpper(strings.ReplaceAll(c, "-", ""))+" ") {
			t.Fatalf("%q depends on how it is typed", c)
		}
	}
	for _, notCode := range []string{"123456", "", "abcde-fghi", "abcde-fghijk", "abcde-fgh0j", "ＡＢＣＤＥ-ＦＧＨＪＫ"} {
		if LooksLikeRecoveryCode(notCode) {
			t.Errorf("%q looks like a recovery code", notCode)
		}
	}
}
