package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigia-dev/vigia/internal/broker"
	"github.com/vigia-dev/vigia/internal/config"
	"github.com/vigia-dev/vigia/internal/redistest"
)

// partitionBalancer sends each message to the partition its key names.
type partitionBalancer struct{}

func (partitionBalancer) Balance(m kafka.Message, partitions ...int) int {
	var p int
	fmt.Sscanf(string(m.Key), "%d", &p)
	return partitions[p%len(partitions)]
}

// TestCorrelationAcrossReplicas runs two pipelines in one consumer group,
// sharing Redis, each consuming one of the topic's two partitions. The
// exec into a pod arrives on one partition and the Secret read by the
// pod's service account on the other: the correlation must be raised
// exactly once, by whichever replica completes it, with both events.
func TestCorrelationAcrossReplicas(t *testing.T) {
	addr := redistest.Start(t)
	b, err := broker.Start("127.0.0.1:0", 2, topic, dlqTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	story := readLines(t, samples)
	var create, exec, secrets string
	for _, l := range story {
		switch {
		case strings.Contains(l, `"name":"debug-tools","apiVersion":"v1"}`) && strings.Contains(l, `"verb":"create"`):
			create = l
		case strings.Contains(l, `"subresource":"exec"`) && strings.Contains(l, "debug-tools"):
			exec = l
		case strings.Contains(l, `"verb":"list"`) && strings.Contains(l, `"resource":"secrets"`):
			secrets = l
		}
	}
	if create == "" || exec == "" || secrets == "" {
		t.Fatal("the attack story lacks the pod create, exec or Secret list")
	}

	dir := t.TempDir()
	outs := []string{filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")}
	var replicas []*runningPipeline
	for i, out := range outs {
		cfg, err := config.Parse([]byte(`
kafka:
  brokers: [` + strings.Join(b.Addrs(), ",") + `]
  group_id: replicas
  topics: [{name: ` + topic + `, format: k8s_audit, cluster: it}]
  dead_letter_topic: ` + dlqTopic + `
  commit_interval: 100ms
  max_wait: 50ms
redis: {addr: "` + addr + `"}
rules: {paths: [../detections], runbook_root: ..}
receivers: [{name: out, console: {path: "` + out + `"}}]
route: {group_wait: 0s, group_interval: 10ms}
telemetry: {listen: 127.0.0.1:0}
api: {listen: "off"}
data_dir: ` + filepath.Join(dir, fmt.Sprint(i)) + `
`))
		if err != nil {
			t.Fatal(err)
		}
		r := start(t, cfg)
		defer r.stop(t)
		replicas = append(replicas, r)
	}

	// Warm up until the group has settled with a partition each: a
	// harmless event per partition until both replicas handled one.
	w := &kafka.Writer{Addr: kafka.TCP(b.Addrs()...), Topic: topic, Balancer: partitionBalancer{}, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	write := func(part int, v string) {
		if err := w.WriteMessages(ctx, kafka.Message{Key: []byte(fmt.Sprint(part)), Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	for replicas[0].running.Consumer.Handled() == 0 || replicas[1].running.Consumer.Handled() == 0 {
		if ctx.Err() != nil {
			t.Fatalf("the replicas did not both get a partition (handled %d and %d)",
				replicas[0].running.Consumer.Handled(), replicas[1].running.Consumer.Handled())
		}
		write(0, story[0])
		write(1, story[0])
		time.Sleep(200 * time.Millisecond)
	}
	h0, h1 := replicas[0].running.Consumer.Handled(), replicas[1].running.Consumer.Handled()

	write(0, create)
	write(0, exec)
	// The Secret read waits until the exec was handled, as it would
	// arrive later in a real stream.
	waitFor(t, "the exec handled", func() bool {
		return replicas[0].running.Consumer.Handled()+replicas[1].running.Consumer.Handled() >= h0+h1+2
	})
	write(1, secrets)

	var corr []map[string]any
	waitFor(t, "the correlation alert", func() bool {
		corr = corrAlerts(t, outs)
		return len(corr) > 0
	})
	time.Sleep(time.Second) // a duplicate would show up now
	corr = corrAlerts(t, outs)
	if len(corr) != 1 {
		t.Fatalf("%d correlation alerts, want exactly one: %v", len(corr), corr)
	}
	if replicas[0].running.Consumer.Handled() == h0 || replicas[1].running.Consumer.Handled() == h1 {
		t.Errorf("one replica handled the whole story (handled %d→%d and %d→%d): the events were not split",
			h0, replicas[0].running.Consumer.Handled(), h1, replicas[1].running.Consumer.Handled())
	}
	if evs, _ := corr[0]["events"].([]any); len(evs) != 2 {
		t.Errorf("the correlation lists %d events, want the exec and the Secret read", len(evs))
	}
}

func corrAlerts(t *testing.T, paths []string) []map[string]any {
	var out []map[string]any
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(data), "\n") {
			var a map[string]any
			if json.Unmarshal([]byte(l), &a) == nil && a["correlation"] != nil {
				out = append(out, a)
			}
		}
	}
	return out
}
