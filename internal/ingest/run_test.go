package ingest

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/internal/config"
)

// TestRun: `vigia ingest` on the embedded broker takes a gzip'd EventList,
// the event is on the topic, the metrics count it, and cancelling the
// context stops it cleanly.
func TestRun(t *testing.T) {
	cfg, err := config.ParseIngest([]byte(`
kafka: {embedded: true, embedded_listen: "127.0.0.1:0"}
ingest: {listen: "127.0.0.1:0"}
telemetry: {listen: "127.0.0.1:0"}
shutdown_timeout: 10s
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan *Running, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, Options{Logger: quietLog(), Started: func(r *Running) { started <- r }})
	}()
	var run *Running
	select {
	case run = <-started:
	case err := <-done:
		t.Fatalf("Run returned before starting: %v", err)
	}
	if run.TLS {
		t.Fatal("no certificate configured, yet TLS")
	}
	r := post(t, "http://"+run.Addr+"/audit", gz(t, eventList(podCreate, podExec)), "Content-Encoding", "gzip")
	if r.code != http.StatusOK {
		t.Fatalf("%d %q", r.code, r.body)
	}
	msgs := consume(t, run.Brokers, "check", 2)
	if string(msgs[0].Key) != "shop/web" {
		t.Fatalf("key %q", msgs[0].Key)
	}
	resp, err := http.Get("http://" + run.Metrics.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`vigia_ingest_requests_total{code="200"} 1`, `vigia_ingest_events_produced_total{topic="k8s-audit"} 2`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
