package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigia-dev/vigia/internal/broker"
	"github.com/vigia-dev/vigia/internal/config"
)

// TestBackpressureSlowReceiver: 3,000 exec events (each padded to 16 KiB,
// about 47 MiB of input) meet a webhook that is down, then slow. The
// consumer keeps at most workers x (queue_size + 1) messages in flight,
// the alerts wait in the outbox on disk, the heap grows by far less than
// the input (the documented bound, docs/guarantees.md), and once the
// receiver answers every alert arrives.
func TestBackpressureSlowReceiver(t *testing.T) {
	n, pad := 3000, 16<<10
	if raceEnabled {
		// The in-process broker under the race detector cannot serve
		// 16 MiB fetches in time; the heap bound is checked without it.
		n, pad = 600, 4<<10
	}
	// Heap is measured from the allocation profile, leaving out what the
	// in-process broker holds (its log and fetch responses), which a real
	// deployment keeps in another process.
	defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
	runtime.MemProfileRate = 16 << 10
	b, err := broker.Open(broker.Config{Addr: "127.0.0.1:0", Partitions: 3, Topics: []string{"bp-audit", "bp-dead"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte(fmt.Sprint(i)), Value: fmt.Appendf(nil,
			`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"bp-%d","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/ns%d/pods/p%d/exec","verb":"create","user":{"username":"u%d@example.com"},"objectRef":{"resource":"pods","namespace":"ns%d","name":"p%d","subresource":"exec"},"responseStatus":{"code":101},"requestReceivedTimestamp":"2026-11-20T14:00:00Z","stageTimestamp":"2026-11-20T14:00:00Z","annotations":{"pad":"%s"}}`,
			i, i%5, i%50, i%7, i%5, i%50, strings.Repeat("x", pad))}
	}
	w := &kafka.Writer{Addr: kafka.TCP(b.Addrs()...), Topic: "bp-audit", Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchBytes: 1 << 20}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()
	msgs = nil

	var down atomic.Bool
	down.Store(true)
	var alerts atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		time.Sleep(5 * time.Millisecond) // slow
		var body struct {
			Alerts []struct{} `json:"alerts"`
		}
		decodeJSON(r, &body)
		alerts.Add(int64(len(body.Alerts)))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()

	cfg, err := config.Parse([]byte(fmt.Sprintf(`
kafka: {brokers: [%q], group_id: bp, topics: [{name: bp-audit, format: k8s_audit}], dead_letter_topic: bp-dead, max_wait: 50ms}
rules: {paths: [../detections], runbook_root: ..}
receivers: [{name: hook, webhook: {url: %q, max_body_bytes: 16777216}}]
route: {receivers: [hook], group_by: [rule, identity, namespace, pod], group_wait: 0s, group_interval: 10ms, resolve_timeout: 0s, repeat_interval: 0s}
telemetry: {listen: "off"}
api: {listen: "off"}
workers: 2
data_dir: %s
`, b.Addrs()[0], hook.URL, t.TempDir())))
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.GC()
	base := vigiaHeap()

	r := start(t, cfg)
	defer r.stop(t)
	bound := 2 * (256 + 1) // workers x (queue size + 1)
	var peakHeap uint64
	peakInFlight, peakBacklog := 0, int64(0)
	samples := 0
	sample := func() {
		samples++
		if samples%25 == 0 { // the live heap: after a collection
			runtime.GC()
			peakHeap = max(peakHeap, vigiaHeap())
		}
		peakInFlight = max(peakInFlight, r.running.Consumer.InFlight())
		if p, err := r.running.Pending(context.Background()); err == nil {
			peakBacklog = max(peakBacklog, p)
		}
	}
	// Down: everything is consumed into the outbox.
	deadline := time.Now().Add(3 * time.Minute)
	for r.running.Consumer.Handled() < uint64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("handled %d of %d messages into the outbox within 3 minutes", r.running.Consumer.Handled(), n)
		}
		sample()
		time.Sleep(20 * time.Millisecond)
	}
	down.Store(false)
	for alerts.Load() < int64(n) && time.Now().Before(deadline) {
		sample()
		time.Sleep(20 * time.Millisecond)
	}
	grown := int64(peakHeap) - int64(base)
	t.Logf("peak in flight %d (bound %d), peak outbox backlog %d, heap outside the broker %d MiB at start, peak +%d MiB for %d MiB of input; delivered %d alerts",
		peakInFlight, bound+1, peakBacklog, base>>20, grown>>20, n*pad>>20, alerts.Load())
	if alerts.Load() != int64(n) {
		t.Fatalf("delivered %d alerts, want %d", alerts.Load(), n)
	}
	if peakInFlight > bound+1 {
		t.Errorf("in flight peaked at %d, over the bound %d", peakInFlight, bound+1)
	}
	if peakBacklog < int64(n/2) {
		t.Errorf("outbox backlog peaked at %d: the alerts did not wait in the outbox", peakBacklog)
	}
	// Holding the input would take more than its 46 MiB.
	if !raceEnabled && grown > 32<<20 {
		t.Errorf("heap grew by %d MiB while the receiver was down or slow, over the 32 MiB bound", grown>>20)
	}
}

// vigiaHeap returns the in-use heap, as of the last collection, allocated
// outside the in-process broker (stacks through kfake or kmsg).
func vigiaHeap() uint64 {
	n, _ := runtime.MemProfile(nil, false)
	recs := make([]runtime.MemProfileRecord, n+64)
	n, ok := runtime.MemProfile(recs, false)
	if !ok {
		return 0
	}
	var total uint64
	for _, r := range recs[:n] {
		broker := false
		frames := runtime.CallersFrames(r.Stack())
		for {
			f, more := frames.Next()
			if strings.Contains(f.Function, "franz-go/pkg/kfake") || strings.Contains(f.Function, "franz-go/pkg/kmsg") {
				broker = true
				break
			}
			if !more {
				break
			}
		}
		if !broker {
			total += uint64(r.InUseBytes())
		}
	}
	return total
}

func decodeJSON(r *http.Request, v any) {
	_ = json.NewDecoder(r.Body).Decode(v)
}
