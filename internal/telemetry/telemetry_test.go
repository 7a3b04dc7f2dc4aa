package telemetry

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestMetricsEndpoint(t *testing.T) {
	m, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ObserveRules(func() RuleStats {
		return func(yield func(string, uint64, uint64, uint64)) { yield("r1", 10, 2, 1) }
	}); err != nil {
		t.Fatal(err)
	}
	if err := m.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	m.Consumed("audit", "k8s_audit")
	m.Normalized("k8s_audit", 3)
	m.Failed("k8s_audit", "not_json")
	m.Sent("slack")
	m.Lag("audit", 2, 40)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + m.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/readyz"); code != 503 {
		t.Errorf("readyz before ready: %d", code)
	}
	m.SetReady(true)
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("readyz: %d", code)
	}
	_, body := get("/metrics")
	for _, want := range []string{
		`vigia_messages_consumed_total{source="k8s_audit",topic="audit"} 1`,
		`vigia_events_normalized_total{source="k8s_audit"} 3`,
		`vigia_events_failed_total{reason="not_json",source="k8s_audit"} 1`,
		`vigia_alerts_sent_total{receiver="slack"} 1`,
		`vigia_consumer_lag{partition="2",topic="audit"} 40`,
		`vigia_rule_evaluations_total{rule="r1"} 10`,
		`vigia_rule_matches_total{rule="r1"} 2`,
		`vigia_rule_errors_total{rule="r1"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}
