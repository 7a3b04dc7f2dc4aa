// Package test holds Vigia's integration tests: the real pipeline against
// a real Kafka-protocol broker (kfake, reached over TCP by kafka-go) and
// fakes of the receivers' APIs.
package test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/broker"
	"github.com/vigia-dev/vigia/internal/config"
	"github.com/vigia-dev/vigia/internal/correlate"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/notify/slack"
	"github.com/vigia-dev/vigia/internal/notify/slack/slackfake"
	"github.com/vigia-dev/vigia/internal/pipeline"
	"github.com/vigia-dev/vigia/internal/resolve"
	"github.com/vigia-dev/vigia/internal/rule"
	"github.com/vigia-dev/vigia/internal/source"
)

const (
	topic    = "k8s-audit"
	dlqTopic = "vigia-dead-letter-test"
	token    = "xoxb-test-token"
	samples  = "../deploy/local/samples/attack-story.jsonl"
)

// TestPipelineEndToEnd produces the bundled attack story into the broker,
// runs the pipeline with the Slack receiver, and checks that Slack got
// exactly the expected alerts, that the bad messages went to the dead-letter
// topic with their reasons, and that after a restart with the same group
// nothing is processed twice.
func TestPipelineEndToEnd(t *testing.T) {
	b, err := broker.Start("127.0.0.1:0", 3, topic, dlqTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fake := slackfake.New(t, token)
	t.Setenv("VIGIA_TEST_SLACK_TOKEN", token)
	cfg := testConfig(t, b.Addrs(), fake.URL())

	lines := readLines(t, samples)
	want := expectedFallbacks(t, lines)
	if want.Count() < 6 {
		t.Fatalf("the attack story should raise at least 6 alerts with the shipped rules, raises %d", want.Count())
	}

	produce(t, b.Addrs(), lines...)

	// First run: everything is processed once.
	run1 := start(t, cfg)
	fake.WaitMessages(t, want.Count(), 30*time.Second)
	waitFor(t, "all samples handled", func() bool { return run1.running.Consumer.Handled() == uint64(len(lines)) })
	waitFor(t, "an empty outbox", func() bool { n, _ := run1.running.Pending(context.Background()); return n == 0 })
	assertMetrics(t, run1.running.Metrics.Addr())
	run1.stop(t)

	got := fake.Messages()
	if err := want.Check(texts(got)); err != nil {
		t.Fatalf("Slack: %v", err)
	}
	for _, m := range got {
		if m.Channel != "#soc-alerts" {
			t.Errorf("posted to %q", m.Channel)
		}
		if !strings.Contains(m.RawBlocks, "runbooks/") {
			t.Errorf("message without a runbook reference: %s", m.Text)
		}
	}
	for _, secret := range []string{"aHVudGVyMi1kZW1vLXNlY3JldA==", "hunter2"} {
		for _, m := range got {
			if strings.Contains(m.RawBlocks+m.Text, secret) {
				t.Fatalf("secret %q leaked into Slack", secret)
			}
		}
	}

	// The two bad messages of the story are in the dead-letter topic.
	dl := consumeAll(t, b.Addrs(), dlqTopic, 2)
	reasons := map[string]bool{}
	for _, m := range dl {
		h := headers(m)
		reasons[h[source.HeaderReason]] = true
		if h[source.HeaderOriginTopic] != topic || h[source.HeaderOriginOffset] == "" || h[source.HeaderOriginPartition] == "" {
			t.Errorf("dead letter without origin headers: %v", h)
		}
	}
	if !reasons["not_json"] || !reasons["unknown_format"] {
		t.Errorf("dead-letter reasons %v, want not_json and unknown_format", reasons)
	}

	// Second run, same group: only the new message is processed.
	extra := strings.Replace(lines[4], `"auditID":"`, `"auditID":"restart-`, 1) // the exec event, new id
	produce(t, b.Addrs(), extra)
	run2 := start(t, cfg)
	all := fake.WaitMessages(t, len(got)+1, 30*time.Second)
	waitFor(t, "the new message handled", func() bool { return run2.running.Consumer.Handled() == 1 })
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive within the fetch wait
	run2.stop(t)
	if f := run2.running.Consumer.Fetched(); f != 1 {
		t.Fatalf("after restart the consumer fetched %d messages, want 1: committed offsets were not honoured", f)
	}
	if n := len(fake.Messages()); n != len(got)+1 {
		t.Fatalf("Slack has %d messages after restart, want %d", n, len(got)+1)
	}
	if last := all[len(all)-1]; !strings.Contains(last.Text, "exec") && !strings.Contains(strings.ToLower(last.Text), "exec") {
		t.Errorf("the message after restart is not the exec alert: %s", last.Text)
	}
}

// TestPipelineDrainsOnShutdown: cancelling Run while a receiver is slow
// still finishes the in-flight message and commits it; its alert waits in
// the outbox and is delivered, once, after the restart.
func TestPipelineDrainsOnShutdown(t *testing.T) {
	b, err := broker.Start("127.0.0.1:0", 1, topic, dlqTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	slow := newSlowSlack(t, 700*time.Millisecond)
	t.Setenv("VIGIA_TEST_SLACK_TOKEN", token)
	cfg := testConfig(t, b.Addrs(), slow.fake.URL())
	cfg.Receivers[0].Slack.APIURL = slow.URL()
	lines := readLines(t, samples)
	produce(t, b.Addrs(), lines[4]) // one exec event: one alert
	r := start(t, cfg)
	waitFor(t, "the message fetched", func() bool { return r.running.Consumer.Fetched() == 1 })
	r.stop(t) // SIGTERM equivalent while the Slack call is in flight
	if h := r.running.Consumer.Handled(); h != 1 {
		t.Fatalf("handled %d, want 1: in-flight work was not drained", h)
	}
	if n := len(slow.fake.Messages()); n != 0 {
		t.Fatalf("Slack got %d messages before the restart, want 0 (the call was cut short)", n)
	}
	r2 := start(t, cfg)
	waitFor(t, "the alert delivered from the outbox after restart", func() bool { return len(slow.fake.Messages()) >= 1 })
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive now
	r2.stop(t)
	if f := r2.running.Consumer.Fetched(); f != 0 {
		t.Fatalf("restart fetched %d messages: the drained message's offset was not committed on shutdown", f)
	}
	if n := len(slow.fake.Messages()); n != 1 {
		for _, m := range slow.fake.Messages() {
			t.Logf("message: %s", m.Text)
		}
		t.Fatalf("Slack got %d messages, want 1", n)
	}
}

// --- helpers ---

func testConfig(t *testing.T, brokers []string, slackURL string) *config.Config {
	t.Helper()
	yaml := `
kafka:
  brokers: [` + strings.Join(brokers, ",") + `]
  group_id: it
  topics: [{name: ` + topic + `, format: k8s_audit, cluster: it}]
  dead_letter_topic: ` + dlqTopic + `
  commit_interval: 100ms
  max_wait: 50ms
rules:
  paths: [../detections]
  runbook_root: ..
receivers:
  - name: soc
    slack:
      token_env: VIGIA_TEST_SLACK_TOKEN
      channel: "#soc-alerts"
      api_url: ` + slackURL + `
      runbook_base_url: https://example.com/vigia/blob/main/
route:
  retry_timeout: 20s
  group_wait: 0s
  group_interval: 10ms
telemetry:
  listen: 127.0.0.1:0
api:
  listen: 127.0.0.1:0
shutdown_timeout: 10s
data_dir: ` + t.TempDir() + `
`
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// expected is what a receiver should get for a stream: Required alerts
// always arrive; Optional ones are members a correlation alert explains,
// which a receiver mutes when the correlation reaches it before them.
type expected struct {
	Required, Optional []string
}

// Count is how many alerts at least arrive.
func (e expected) Count() int { return len(e.Required) }

// Check reports what got lacks or has too much.
func (e expected) Check(got []string) error {
	left := slices.Clone(got)
	for _, w := range e.Required {
		i := slices.Index(left, w)
		if i < 0 {
			return fmt.Errorf("missing %q\ngot:\n%s\nwant:\n%s\noptional:\n%s", w, strings.Join(sorted(got), "\n"),
				strings.Join(sorted(e.Required), "\n"), strings.Join(sorted(e.Optional), "\n"))
		}
		left = slices.Delete(left, i, i+1)
	}
	for _, g := range left {
		i := slices.Index(e.Optional, g)
		if i < 0 {
			return fmt.Errorf("unexpected %q\ngot:\n%s\nwant:\n%s", g, strings.Join(sorted(got), "\n"), strings.Join(sorted(e.Required), "\n"))
		}
	}
	return nil
}

// expectedFallbacks computes, with the replay path (no Kafka), the Slack
// fallback text of every alert the lines should raise, correlations
// included.
func expectedFallbacks(t *testing.T, lines []string) expected {
	t.Helper()
	rules, err := rule.Load([]string{"../detections"}, rule.Options{Root: ".."})
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeline.Processor{Rules: rules, Resolver: resolve.New(resolve.NewMemory(1000), resolve.Options{}),
		Correlator: correlate.New(rules, correlate.NewMemory(0), correlate.Options{})}
	n, err := detect.New(event.SourceK8sAudit, normalize.Options{Cluster: "it", Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	var all []*alert.Alert
	explained := map[string]bool{}
	for _, l := range lines {
		as, _, _ := p.Process(context.Background(), n, []byte(l), normalize.Meta{})
		for _, a := range as {
			all = append(all, a)
			for _, id := range a.Explains {
				explained[id] = true
			}
		}
	}
	var e expected
	for _, a := range all {
		if explained[a.ID] {
			e.Optional = append(e.Optional, slack.FallbackText(a))
		} else {
			e.Required = append(e.Required, slack.FallbackText(a))
		}
	}
	return e
}

type runningPipeline struct {
	running *pipeline.Running
	cancel  context.CancelFunc
	done    chan error
}

func start(t *testing.T, cfg *config.Config) *runningPipeline {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan *pipeline.Running, 1)
	done := make(chan error, 1)
	go func() {
		done <- pipeline.Run(ctx, cfg, pipeline.Options{Stdout: io.Discard, Started: func(r *pipeline.Running) { started <- r }})
	}()
	select {
	case r := <-started:
		return &runningPipeline{running: r, cancel: cancel, done: done}
	case err := <-done:
		cancel()
		t.Fatalf("pipeline did not start: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("pipeline did not start within 20s")
	}
	return nil
}

func (r *runningPipeline) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("pipeline: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline did not stop within 30s")
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// produce writes the lines in order to one partition, as one cluster's
// audit stream keyed by cluster would be: the story's correlations (a pod
// created, then exec'd into, then its service account reading Secrets)
// depend on identity resolution seeing the pod before the exec, which
// only one partition orders. Correlations across partitions are tested in
// TestCorrelationAcrossReplicas.
func produce(t *testing.T, brokers []string, lines ...string) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll, Balancer: &kafka.Hash{}}
	defer w.Close()
	msgs := make([]kafka.Message, len(lines))
	for i, l := range lines {
		msgs[i] = kafka.Message{Key: []byte("cluster-it"), Value: []byte(l)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

func consumeAll(t *testing.T, brokers []string, topic string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: "dlq-reader", Topic: topic, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("reading %s: got %d of %d messages: %v", topic, len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

func headers(m kafka.Message) map[string]string {
	h := map[string]string{}
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	return h
}

func assertMetrics(t *testing.T, addr string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`vigia_messages_consumed_total{source="k8s_audit",topic="k8s-audit"} 12`,
		`vigia_events_normalized_total{source="k8s_audit"}`,
		`vigia_events_failed_total{reason="not_json",source="k8s_audit"} 1`,
		`vigia_dead_letters_total{reason="unknown_format"} 1`,
		`vigia_rule_matches_total{rule="k8s-privileged-container"} 1`,
		`vigia_rule_evaluations_total{rule="k8s-pod-exec-attach"}`,
		`vigia_alerts_sent_total{receiver="soc"}`,
		`vigia_consumer_lag{partition=`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func texts(ms []slackfake.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Text
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// slowSlack delays every call to the fake Slack.
type slowSlack struct {
	fake *slackfake.Server
	url  string
}

func newSlowSlack(t *testing.T, delay time.Duration) *slowSlack {
	fake := slackfake.New(t, token)
	s := &slowSlack{fake: fake}
	proxy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body first: only then does the server watch the
		// connection and cancel r.Context() when the client hangs up.
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return // the client gave up: the request never reached Slack
		}
		fake.ServeHTTP(w, r)
	})
	ts := newHTTPTest(t, proxy)
	s.url = ts + "/"
	return s
}

func (s *slowSlack) URL() string { return s.url }
