// Package testkit is what the tests of several packages share: a log sink
// safe for server goroutines, a settable clock, and a reader of Prometheus
// metrics. Only tests import it.
package testkit

import (
	"bytes"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// LogBuffer is an io.Writer safe for the concurrent writes of loggers and
// servers, whose text a test reads back.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Drain returns what was written since the last Drain and forgets it, so
// a long fuzzing run does not accumulate its logs.
func (l *LogBuffer) Drain() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}

// Clock is a settable clock, safe to read from server goroutines while a
// test moves it. Its zero value reads the zero time.
type Clock struct{ ns atomic.Int64 }

// NewClock is a clock reading t.
func NewClock(t time.Time) *Clock {
	c := &Clock{}
	c.Set(t)
	return c
}

// Now is the clock's time, in UTC.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// ParseMetrics reads Prometheus text exposition into one value per sample,
// keyed as the exposition writes it with the labels sorted:
// name{a="x",b="y"}, and for histograms and summaries the _bucket (le),
// quantile, _sum and _count samples.
func ParseMetrics(t testing.TB, text string) map[string]float64 {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			labels := labelPairs(m.GetLabel())
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key(name, labels)] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key(name, labels)] = m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				out[key(name, labels)] = m.GetUntyped().GetValue()
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					out[key(name+"_bucket", append(labels, pair("le", formatFloat(b.GetUpperBound()))))] = float64(b.GetCumulativeCount())
				}
				out[key(name+"_bucket", append(labels, pair("le", "+Inf")))] = float64(h.GetSampleCount())
				out[key(name+"_sum", labels)] = h.GetSampleSum()
				out[key(name+"_count", labels)] = float64(h.GetSampleCount())
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				for _, q := range s.GetQuantile() {
					out[key(name, append(labels, pair("quantile", formatFloat(q.GetQuantile()))))] = q.GetValue()
				}
				out[key(name+"_sum", labels)] = s.GetSampleSum()
				out[key(name+"_count", labels)] = float64(s.GetSampleCount())
			}
		}
	}
	return out
}

func labelPairs(ls []*dto.LabelPair) []string {
	out := make([]string, 0, len(ls)+1)
	for _, l := range ls {
		out = append(out, pair(l.GetName(), l.GetValue()))
	}
	return out
}

// pair is one label as the text exposition writes it.
func pair(name, value string) string {
	v := strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(value)
	return name + `="` + v + `"`
}

func key(name string, labels []string) string {
	if len(labels) == 0 {
		return name
	}
	labels = append([]string(nil), labels...)
	sort.Strings(labels)
	return name + "{" + strings.Join(labels, ",") + "}"
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
