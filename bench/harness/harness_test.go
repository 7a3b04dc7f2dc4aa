package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the raw consumer the harness
// re-executes itself as.
func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == "raw" {
		os.Exit(rawMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// TestHarnessSmoke runs the whole harness with tiny numbers: it builds
// Vigia, loads the in-process broker, measures raw kafka-go and the
// detect variant with a short latency run, and writes a result whose
// numbers hold together.
func TestHarnessSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Vigia and runs it; skipped with -short")
	}
	out := filepath.Join(t.TempDir(), "result.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"-events", "5000", "-variants", "detect", "-latency.duration", "2s", "-attack-ratio", "0.05",
		"-samples", "none", "-out", out}, &stdout, &stderr)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res result
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 {
		t.Errorf("failed checks: %v", res.Errors)
	}
	if len(res.Raw) != 1 || res.Raw[0].EventsPerSec <= 0 || res.Raw[0].Events < 5000 {
		t.Errorf("raw consumption: %+v", res.Raw)
	}
	if res.Load.Events != 5000 || res.Generator["k8s_audit/attack"] == 0 {
		t.Errorf("load %+v, templates %v", res.Load, res.Generator)
	}
	if len(res.Variants) != 1 {
		t.Fatalf("%d variant results, want 1", len(res.Variants))
	}
	v := res.Variants[0]
	if v.Variant != "detect" || v.EventsPerSec <= 0 || v.CPUSecondsPerMillion <= 0 || v.PeakRSSBytes <= 0 {
		t.Errorf("detect: %+v", v)
	}
	if v.Handled != v.Loaded || v.Committed != v.Loaded {
		t.Errorf("detect: loaded %d, handled %d, committed %d", v.Loaded, v.Handled, v.Committed)
	}
	if v.AlertsEnqueued == 0 || v.AlertsDelivered != v.AlertsEnqueued-v.AlertsSuppressed {
		t.Errorf("detect: alerts enqueued %d, delivered %d, suppressed %d", v.AlertsEnqueued, v.AlertsDelivered, v.AlertsSuppressed)
	}
	if v.Latency == nil || v.Latency.Alerts == 0 || v.Latency.P99Millis <= 0 || v.Latency.P50Millis > v.Latency.P99Millis {
		t.Errorf("detect latency: %+v", v.Latency)
	}
	if !bytes.Contains(stdout.Bytes(), []byte("events/s")) {
		t.Errorf("no table on stdout")
	}
}

func TestQuantile(t *testing.T) {
	// 100 observations: 50 at or below 10 ms, 40 more up to 20 ms, 10 up to 50 ms.
	after := &scrape{buckets: map[float64]float64{0.01: 50, 0.02: 90, 0.05: 100, math.Inf(1): 100}}
	before := &scrape{buckets: map[float64]float64{0.01: 0, 0.02: 0, 0.05: 0}}
	if q, n := quantile(0.5, before, after); n != 100 || q < 0.0099 || q > 0.0101 {
		t.Errorf("p50 = %v (n %d), want 0.01", q, n)
	}
	if q, _ := quantile(0.99, before, after); q < 0.046 || q > 0.048 {
		t.Errorf("p99 = %v, want 0.047 (interpolated in the 20-50 ms bucket)", q)
	}
	if q, _ := quantile(0.7, nil, after); q < 0.0149 || q > 0.0151 {
		t.Errorf("p70 = %v, want 0.015", q)
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP vigia_messages_consumed_total Messages consumed
# TYPE vigia_messages_consumed_total counter
vigia_messages_consumed_total{source="k8s_audit",topic="a"} 10
vigia_messages_consumed_total{source="gcp_audit",topic="b"} 5
vigia_alert_latency_seconds_bucket{le="0.001"} 1
vigia_alert_latency_seconds_bucket{le="+Inf"} 3
vigia_alert_latency_seconds_count 3
`
	s, err := parseMetrics(bytes.NewBufferString(text))
	if err != nil {
		t.Fatal(err)
	}
	if s.get("vigia_messages_consumed_total") != 15 || s.get("vigia_alert_latency_seconds_count") != 3 || s.buckets[0.001] != 1 || len(s.buckets) != 2 {
		t.Errorf("parsed %+v", s)
	}
}

// TestCaughtUp: a partition counts as done when the process that owns it
// now fetched it to the end, whatever a process that lost it last saw.
func TestCaughtUp(t *testing.T) {
	a, _ := parseMetrics(bytes.NewBufferString(`vigia_consumer_lag{partition="0",topic="t"} 0
vigia_consumer_lag{partition="1",topic="t"} 120
vigia_messages_in_flight 0
`))
	b, _ := parseMetrics(bytes.NewBufferString(`vigia_consumer_lag{partition="1",topic="t"} 0
vigia_messages_in_flight 0
`))
	if a.caughtUp(2) {
		t.Error("one process with partition 1 behind: caught up")
	}
	if !addScrapes(a, b).caughtUp(2) {
		t.Error("partition 1 at its end in the process that owns it now: not caught up")
	}
	if addScrapes(a, b).caughtUp(3) {
		t.Error("a partition never fetched: caught up")
	}
	c, _ := parseMetrics(bytes.NewBufferString(`vigia_consumer_lag{partition="1",topic="t"} 0
vigia_messages_in_flight 4
`))
	if addScrapes(a, c).caughtUp(2) {
		t.Error("messages in flight: caught up")
	}
}
