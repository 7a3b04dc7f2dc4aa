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

func TestRoutingTree(t *testing.T) {
	cfg, err := Parse([]byte(`
kafka: {embedded: true, topics: [{name: audit}]}
receivers:
  - {name: out, console: {}}
  - {name: pager, console: {}}
time_intervals:
  - name: nights
    time_intervals: [{times: [{start_time: "22:00", end_time: "24:00"}]}]
route:
  receivers: [out]
  group_wait: 0s
  routes:
    - matchers: ['severity=~"high|critical"']
      receivers: [pager]
      group_interval: 30s
      mute_time_intervals: [nights]
      continue: true
inhibit_rules:
  - {source_matchers: ['rule="a"'], target_matchers: ['rule="b"'], equal: [identity]}
`))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Route
	if r.GroupWait == nil || *r.GroupWait != 0 || r.Routes[0].GroupInterval == nil || *r.Routes[0].GroupInterval != 30*time.Second || r.Routes[0].GroupWait != nil {
		t.Errorf("durations: %+v", r)
	}
	if len(cfg.TimeIntervals[0].TimeIntervals) != 1 {
		t.Errorf("time intervals: %+v", cfg.TimeIntervals)
	}

	_, err = Parse([]byte(`
kafka: {embedded: true, topics: [{name: audit}]}
receivers: [{name: out, console: {}}]
route:
  routes:
    - matchers: ['severity=~"(']
      receivers: [nope]
      mute_time_intervals: [missing]
      min_severity: high
inhibit_rules: [{source_matchers: [], target_matchers: ['x="y"']}]
redis: {password_env: X}
`))
	for _, want := range []string{"route.routes[0].matchers[0]", "route.routes[0].receivers[0]: unknown receiver \"nope\"",
		"route.routes[0].mute_time_intervals[0]", "route.routes[0]: min_severity", "inhibit_rules[0].source_matchers", "redis.addr"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
