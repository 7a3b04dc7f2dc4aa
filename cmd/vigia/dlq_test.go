package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigia-dev/vigia/internal/broker"
	"github.com/vigia-dev/vigia/internal/source"
)

// TestDLQListAndReplay writes dead letters as the pipeline does (a
// malformed message carrying a credential, an oversized one of 2 MiB),
// lists them through the CLI over TCP (headers decoded, bodies only as a
// short redacted preview), and replays one reason to its origin topic and
// partition and another to a chosen topic.
func TestDLQListAndReplay(t *testing.T) {
	// The topics take messages of up to 4 MiB, as a cluster whose
	// producers send larger messages than Vigia's max_message_bytes would.
	b, err := broker.Open(broker.Config{Addr: "127.0.0.1:0", Partitions: 3, Topics: []string{"audit", "dead", "elsewhere"}, MaxMessageBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	addr := b.Addrs()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const secret = "hunter2-very-secret-password"
	bad := kafka.Message{Topic: "audit", Partition: 2, Offset: 41, Key: []byte("k1"), Time: time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC),
		Value:   []byte(`{"kind":"Event","password=` + secret + `" ` + strings.Repeat("x", 300)),
		Headers: []kafka.Header{{Key: "traceparent", Value: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")}}}
	// The oversized message is in its origin topic, as in the pipeline.
	bigValue := bytes.Repeat([]byte("A"), 2<<20)
	pw := &kafka.Writer{Addr: kafka.TCP(addr), Topic: "audit", Balancer: kafka.BalancerFunc(func(kafka.Message, ...int) int { return 1 }), BatchBytes: 4 << 20, RequiredAcks: kafka.RequireAll}
	if err := pw.WriteMessages(ctx, kafka.Message{Key: []byte("big"), Value: bigValue}); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	big := kafka.Message{Topic: "audit", Partition: 1, Offset: 0, Value: bigValue}
	dl := source.NewDeadLetter([]string{addr}, "dead", nil, nil)
	if err := dl.Write(ctx, bad, "not_json", "not JSON near password="+secret); err != nil {
		t.Fatal(err)
	}
	if err := dl.Write(ctx, big, "oversized", "message of 2097152 bytes exceeds max_message_bytes 1048576"); err != nil {
		t.Fatal(err)
	}
	dl.Close()

	code, out, errOut := vigia(t, "dlq", "list", "--brokers", addr, "--topic", "dead", "--json")
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, errOut)
	}
	var recs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		recs = append(recs, r)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2:\n%s", len(recs), out)
	}
	if strings.Contains(out, secret) || len(out) > 4096 {
		t.Fatalf("the listing leaks the credential or prints bodies (%d bytes):\n%.2000s", len(out), out)
	}
	byReason := map[string]map[string]any{}
	for _, r := range recs {
		byReason[r["reason"].(string)] = r
	}
	nj := byReason["not_json"]
	if nj == nil || nj["origin_topic"] != "audit" || nj["origin_partition"] != 2.0 || nj["origin_offset"] != 41.0 ||
		nj["origin_time"] != "2026-11-20T14:00:00Z" || nj["time"] == "" || !strings.Contains(nj["detail"].(string), "not JSON") ||
		!strings.HasSuffix(nj["preview"].(string), "…") || !strings.Contains(nj["preview"].(string), "[REDACTED]") {
		t.Errorf("not_json record: %v", nj)
	}
	if ov := byReason["oversized"]; ov == nil || ov["size"] != float64(2<<20) || ov["truncated"] != true || len(ov["preview"].(string)) > 100 {
		t.Errorf("oversized record: %v", ov)
	}

	// The table, filtered by reason.
	code, out, _ = vigia(t, "dlq", "list", "--brokers", addr, "--topic", "dead", "--reason", "oversized")
	if code != 0 || !strings.Contains(out, "oversized") || strings.Contains(out, "not_json") || !strings.Contains(out, fmt.Sprintf("audit/%d/0", big.Partition)) {
		t.Fatalf("table: exit %d\n%s", code, out)
	}

	// Replay not_json to its origin: same partition, key, value, headers.
	code, out, errOut = vigia(t, "dlq", "replay", "--brokers", addr, "--topic", "dead", "--reason", "not_json")
	if code != 0 || !strings.Contains(out, "replayed 1 messages") {
		t.Fatalf("replay: exit %d: %s%s", code, out, errOut)
	}
	got := readPartition(t, addr, "audit", 2, 0)
	if !bytes.Equal(got.Value, bad.Value) || string(got.Key) != "k1" {
		t.Fatalf("replayed message: key %q value %.60q", got.Key, got.Value)
	}
	h := map[string]string{}
	for _, x := range got.Headers {
		h[x.Key] = string(x.Value)
	}
	if h["traceparent"] == "" || !strings.HasPrefix(h[source.HeaderReplayOf], "dead/") || h[source.HeaderReason] != "" {
		t.Errorf("replayed headers %v: want the original ones and vigia-replay-of, no dead-letter headers", h)
	}

	// --to another topic: the whole oversized message, read from its
	// origin (the dead letter kept only its start).
	code, out, errOut = vigia(t, "dlq", "replay", "--brokers", addr, "--topic", "dead", "--reason", "oversized", "--to", "elsewhere")
	if code != 0 || !strings.Contains(out, "replayed 1 messages") {
		t.Fatalf("replay --to: exit %d: %s%s", code, out, errOut)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, GroupID: "check", Topic: "elsewhere", MaxWait: 50 * time.Millisecond, MaxBytes: 16 << 20})
	defer r.Close()
	m, err := r.ReadMessage(ctx)
	if err != nil || !bytes.Equal(m.Value, bigValue) {
		t.Fatalf("--to elsewhere: %d bytes, %v", len(m.Value), err)
	}

	if code, _, _ := vigia(t, "dlq", "list"); code != 2 {
		t.Errorf("dlq list without --config or --brokers: exit %d, want 2", code)
	}
}

func readPartition(t *testing.T, addr, topic string, partition int, offset int64) kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: partition, MaxWait: 50 * time.Millisecond, MaxBytes: 16 << 20})
	defer r.Close()
	r.SetOffset(offset)
	m, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("reading %s/%d: %v", topic, partition, err)
	}
	return m
}
