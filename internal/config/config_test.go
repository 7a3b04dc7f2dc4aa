package config

import (
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	cfg, err := Parse([]byte("kafka:\n  embedded: true\n  topics: [{name: audit}]\nreceivers: [{name: out, console: {}}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Kafka.GroupID != "vigia" || cfg.Kafka.CommitInterval != time.Second || cfg.Kafka.Topics[0].Format != "auto" ||
		cfg.Route.Receivers[0] != "out" || cfg.ShutdownTimeout != 30*time.Second || cfg.MaxMessageBytes != 1<<20 ||
		cfg.Kafka.DeadLetterTopic != "vigia-dead-letter" || cfg.Rules.Paths[0] != "detections" {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestErrorsNameTheField(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"kafka: {topics: [{name: a}]}\nreceivers: [{name: o, console: {}}]\n", "kafka.brokers: at least one broker"},
		{"kafka: {embedded: true}\nreceivers: [{name: o, console: {}}]\n", "kafka.topics: at least one topic"},
		{"kafka: {embedded: true, topics: [{name: a, format: syslog}]}\nreceivers: [{name: o, console: {}}]\n", `kafka.topics[0].format: "syslog" is not one of`},
		{"kafka: {embedded: true, topics: [{name: a}], start_offset: middle}\nreceivers: [{name: o, console: {}}]\n", "kafka.start_offset"},
		{"kafka: {embedded: true, topics: [{name: a}]}\nreceivers: [{name: o, slack: {channel: x}}]\n", "receivers[0].slack.token_env: one of token_env and token_file"},
		{"kafka: {embedded: true, topics: [{name: a}]}\nreceivers: [{name: o}]\n", "receivers[0]: exactly one of console, slack"},
		{"kafka: {embedded: true, topics: [{name: a}]}\nreceivers: [{name: o, console: {}}]\nroute: {receivers: [p]}\n", `route.receivers[0]: unknown receiver "p"`},
		{"kafka: {embedded: true, topics: [{name: a}]}\nreceivers: [{name: o, console: {}}]\nroute: {min_severity: severe}\n", "route.min_severity"},
		{"kafka: {embedded: true, topics: [{name: a}]}\nreceivers: [{name: o, console: {}}]\nroute: {retry_timeout: soon}\n", "line 3"},
		{"kafka:\n  embedded: true\n  topicz: []\n", "line 3: field topicz not found"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.yaml, err, c.want)
		}
	}
}

func TestBundledConfigLoads(t *testing.T) {
	cfg, err := Load("../../deploy/local/vigia.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Kafka.Embedded || cfg.Receivers[0].Console == nil {
		t.Fatalf("the embedded default must use the embedded broker and the console: %+v", cfg)
	}
}
