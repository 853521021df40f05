package testkit

import (
	"maps"
	"testing"
	"time"
)

func TestParseMetrics(t *testing.T) {
	text := `# TYPE req_total counter
req_total{route="/a",code="200"} 3
req_total{code="500",route="/a \"quoted\""} 1
# TYPE up gauge
up 1
# TYPE dur_seconds histogram
dur_seconds_bucket{route="/a",le="0.1"} 2
dur_seconds_bucket{route="/a",le="+Inf"} 3
dur_seconds_sum{route="/a"} 0.45
dur_seconds_count{route="/a"} 3
`
	want := map[string]float64{
		`req_total{code="200",route="/a"}`:            3,
		`req_total{code="500",route="/a \"quoted\""}`: 1,
		`up`: 1,
		`dur_seconds_bucket{le="0.1",route="/a"}`:  2,
		`dur_seconds_bucket{le="+Inf",route="/a"}`: 3,
		`dur_seconds_sum{route="/a"}`:              0.45,
		`dur_seconds_count{route="/a"}`:            3,
	}
	if got := ParseMetrics(t, text); !maps.Equal(got, want) {
		t.Errorf("ParseMetrics =\n%v\nwant\n%v", got, want)
	}
}

func TestLogBufferDrain(t *testing.T) {
	var l LogBuffer
	l.Write([]byte("one "))
	l.Write([]byte("two"))
	if got := l.Drain(); got != "one two" {
		t.Fatalf("Drain = %q", got)
	}
	if got := l.String(); got != "" {
		t.Fatalf("after Drain: %q", got)
	}
}

func TestClock(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	c := NewClock(t0)
	c.Advance(time.Minute)
	if got := c.Now(); !got.Equal(t0.Add(time.Minute)) || got.Location() != time.UTC {
		t.Fatalf("Now = %v", got)
	}
}
