package sso

import (
	"errors"
	"testing"
	"time"
)

// TestTimeRules pins the clock checks at their boundaries, independently
// of go-oidc's own expiry check which would mask a regression in ours.
func TestTimeRules(t *testing.T) {
	t.Parallel()
	now := time.Date(2021, 1, 2, 3, 4, 5, 0, time.UTC)
	r := timeRules{now: now, skew: 2 * time.Minute}
	at := func(d time.Duration) *numericDate { return &numericDate{now.Add(d)} }
	tests := []struct {
		name  string
		check func() error
		want  error
	}{
		{"exp missing", func() error { return r.checkExp(nil) }, errExpMissing},
		{"exp in the future", func() error { return r.checkExp(at(time.Second)) }, nil},
		{"exp just inside skew", func() error { return r.checkExp(at(-2*time.Minute + time.Second)) }, nil},
		{"exp at skew", func() error { return r.checkExp(at(-2 * time.Minute)) }, errExpired},
		{"exp long past", func() error { return r.checkExp(at(-time.Hour)) }, errExpired},
		{"iat missing", func() error { return r.checkIAT(nil) }, errIATMissing},
		{"iat now", func() error { return r.checkIAT(at(0)) }, nil},
		{"iat at skew", func() error { return r.checkIAT(at(2 * time.Minute)) }, nil},
		{"iat beyond skew", func() error { return r.checkIAT(at(2*time.Minute + time.Second)) }, errIATFuture},
		{"iat a day old", func() error { return r.checkIAT(at(-maxTokenAge)) }, nil},
		{"iat older than a day", func() error { return r.checkIAT(at(-maxTokenAge - time.Second)) }, errIATTooOld},
		{"nbf absent", func() error { return r.checkNBF(nil) }, nil},
		{"nbf within skew", func() error { return r.checkNBF(at(2 * time.Minute)) }, nil},
		{"nbf beyond skew", func() error { return r.checkNBF(at(3 * time.Minute)) }, errNBF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNumericDate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1700000000", 1700000000, true},
		{"1700000000.9", 1700000000, true},
		{`"1700000000"`, 0, false},
		{"-1", 0, false},
		{"1e300", 0, false},
		{"true", 0, false},
	}
	for _, tt := range tests {
		var d numericDate
		err := d.UnmarshalJSON([]byte(tt.in))
		if tt.ok != (err == nil) || (tt.ok && d.Unix() != tt.want) {
			t.Errorf("numericDate(%s) = %v, %v; want %d ok=%v", tt.in, d.Time, err, tt.want, tt.ok)
		}
	}
}

func TestParseHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  string
		ok   bool
	}{
		{"compact", b64([]byte(`{"alg":"RS256","typ":"JWT"}`)) + ".e30.c2ln", true},
		{"two parts", "a.b", false},
		{"JWE", "a.b.c.d.e", false},
		{"JSON serialization", `{"payload":"e30","signatures":[]}`, false},
		{"header not base64url", "!!!.e30.c2ln", false},
		{"header not an object", b64([]byte(`"RS256"`)) + ".e30.c2ln", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := parseHeader(tt.raw)
			if tt.ok != (err == nil) {
				t.Fatalf("parseHeader = %+v, %v; want ok=%v", h, err, tt.ok)
			}
			if err != nil && !errors.Is(err, errMalformed) {
				t.Errorf("error %v does not wrap errMalformed", err)
			}
		})
	}
}
