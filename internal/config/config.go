// Package config defines Vigia's configuration file. Zero values are the
// defaults; each field's comment says which. Load decodes strictly (an
// unknown field is an error naming its line) and Validate names the field
// at fault. Relative paths in the file are relative to the working
// directory.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/notify/file"
	"github.com/vigia-dev/vigia/internal/notify/github"
	"github.com/vigia-dev/vigia/internal/notify/jira"
	"github.com/vigia-dev/vigia/internal/notify/opsgenie"
	"github.com/vigia-dev/vigia/internal/notify/pagerduty"
	"github.com/vigia-dev/vigia/internal/notify/servicenow"
	"github.com/vigia-dev/vigia/internal/notify/webhook"
	"github.com/vigia-dev/vigia/internal/runbook"
)

// Config is the whole configuration.
type Config struct {
	Kafka     Kafka      `yaml:"kafka"`
	Rules     Rules      `yaml:"rules"`
	Receivers []Receiver `yaml:"receivers"`
	// Route is the root of the routing tree.
	Route Route `yaml:"route"`
	// InhibitRules mute alerts while a related, more important one fires.
	InhibitRules []InhibitRule `yaml:"inhibit_rules"`
	// TimeIntervals are named periods that routes' mute_time_intervals and
	// active_time_intervals refer to.
	TimeIntervals []TimeInterval `yaml:"time_intervals"`
	// NamespaceLabels gives namespaces' owner labels (team, environment,
	// data sensitivity) by namespace name; route matchers see them as
	// ns_<key>. Labels of Namespace objects seen in the audit stream are
	// learned too; these take precedence.
	NamespaceLabels map[string]map[string]string `yaml:"namespace_labels"`
	// Redis, when set, holds the state several replicas share: the
	// delivery outbox, identity resolution and silences. Without it they
	// live in DataDir (one replica only).
	Redis *Redis `yaml:"redis"`
	// DataDir holds the local delivery outbox, silences and resolution
	// state when Redis is not configured. Default: .vigia (relative to the
	// working directory; /var/lib/vigia in the container image).
	DataDir string `yaml:"data_dir"`
	// Delivery tunes the outbox.
	Delivery Delivery `yaml:"delivery"`
	// Resolution tunes identity and pod resolution.
	Resolution Resolution `yaml:"resolution"`
	// Correlation tunes the correlation windows.
	Correlation Correlation `yaml:"correlation"`
	// API serves silences and delivery dead letters to the CLI.
	API       API       `yaml:"api"`
	Telemetry Telemetry `yaml:"telemetry"`
	// Lifecycle lets people acknowledge, resolve and silence from Slack
	// and PagerDuty (docs/lifecycle.md).
	Lifecycle Lifecycle `yaml:"lifecycle"`
	// Ingest configures `vigia ingest`, the Kubernetes audit webhook
	// endpoint that writes audit events to Kafka.
	Ingest Ingest `yaml:"ingest"`
	// Workers is the number of goroutines processing messages; messages of
	// one partition always go to the same worker, in order.
	// Default: GOMAXPROCS.
	Workers int `yaml:"workers"`
	// MaxBatch is how many fetched messages a worker handles together, at
	// most: one identity resolution, one correlation step (one Redis
	// pipeline) and one outbox write for all of them. A worker only takes
	// what is already fetched, so batching adds no wait; 1 handles messages
	// one at a time. Default: 128.
	MaxBatch int `yaml:"max_batch"`
	// ShutdownTimeout bounds the drain of in-flight messages on SIGTERM.
	// Messages not finished by then are not committed and are processed
	// again after restart. Default: 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MaxMessageBytes is the largest message processed; larger ones go to
	// the dead-letter topic. Default: 1 MiB (1048576).
	MaxMessageBytes int `yaml:"max_message_bytes"`
}

// Kafka configures the source.
type Kafka struct {
	// Brokers are the bootstrap addresses. Required unless Embedded.
	Brokers []string `yaml:"brokers"`
	// Embedded starts an in-process Kafka-protocol broker (kfake) and
	// consumes from it. For demos and local rule development only: it keeps
	// everything in memory. Default: false.
	Embedded bool `yaml:"embedded"`
	// EmbeddedListen is the embedded broker's address.
	// Default: 127.0.0.1:9092.
	EmbeddedListen string `yaml:"embedded_listen"`
	// TLS connects to the brokers over TLS (Event Hubs, MSK, Confluent
	// Cloud). Default: plaintext.
	TLS *KafkaTLS `yaml:"tls"`
	// SASL authenticates to the brokers. Default: none.
	SASL *KafkaSASL `yaml:"sasl"`
	// GroupID is the consumer group. Default: vigia.
	GroupID string `yaml:"group_id"`
	// Topics are the topics consumed, each with its format. Required.
	Topics []Topic `yaml:"topics"`
	// DeadLetterTopic receives messages that cannot be processed, with
	// headers saying why and where they came from. Default: vigia-dead-letter.
	DeadLetterTopic string `yaml:"dead_letter_topic"`
	// CommitInterval is how often processed offsets are committed; once
	// more on shutdown. Default: 1s.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// StartOffset is where a new group starts: "first" or "last".
	// Default: first.
	StartOffset string `yaml:"start_offset"`
	// MaxWait bounds how long a fetch waits for data. Default: 250ms.
	MaxWait time.Duration `yaml:"max_wait"`
	// SessionTimeout is how long the group coordinator waits for a
	// replica's heartbeat before giving its partitions to the others (a
	// replica that was killed holds them this long; a restarted one waits
	// as long for them). Heartbeats go every third of it; the broker's
	// group.min.session.timeout.ms (6s on Kafka) bounds it from below.
	// Default: 30s.
	SessionTimeout time.Duration `yaml:"session_timeout"`
}

// Topic is one consumed topic.
type Topic struct {
	// Name is the topic name. Required.
	Name string `yaml:"name"`
	// Format is the message format: auto (detected per message, so one
	// topic may mix sources), or one of k8s_audit, aws_cloudtrail,
	// gcp_audit, azure_activity, container_log to accept only that source
	// (other records are dead-lettered). Envelopes (gzip, arrays, JSON
	// lines, CloudWatch Logs, Pub/Sub, Event Hubs) are unwrapped either
	// way. Default: auto.
	Format string `yaml:"format"`
	// Cluster is the Kubernetes cluster name stamped on its events.
	// Default: "".
	Cluster string `yaml:"cluster"`
}

// Rules configures the rule set.
type Rules struct {
	// Paths are rule files or directories, read in this order: tuning files
	// (lists, macros, exceptions) of a later path override an earlier
	// one's, so list your own directory after the shipped rules, e.g.
	// [detections, /etc/vigia/rules]. Default: [detections].
	Paths []string `yaml:"paths"`
	// Disable turns off the rules with these ids or tags (attack.t1609);
	// they stay loaded and linted. Default: none.
	Disable []string `yaml:"disable"`
	// Enable turns on rules with these ids or tags, including rules shipped
	// disabled. An id listed here wins over a disabled tag; see
	// detections/README.md. Default: none.
	Enable []string `yaml:"enable"`
	// RunbookRoot is the directory runbook paths are relative to.
	// Default: the working directory.
	RunbookRoot string `yaml:"runbook_root"`
	// ReloadInterval is how often the rule files are checked for changes;
	// a change (stable for one more interval) reloads the set, as SIGHUP
	// does. A set that fails to load is logged with file and line and the
	// running set stays. 0: reload on SIGHUP only. Default: 5s.
	ReloadInterval *time.Duration `yaml:"reload_interval"`
}

// Receiver is one alert destination. Exactly one of the typed blocks is set.
type Receiver struct {
	// Name identifies the receiver in routes and metrics. Required.
	Name string `yaml:"name"`
	// Locale picks the runbook translation shown ("pt-BR"); default
	// English. A Slack receiver's own locale takes precedence.
	Locale     string             `yaml:"locale"`
	Console    *ConsoleConfig     `yaml:"console"`
	Slack      *SlackConfig       `yaml:"slack"`
	PagerDuty  *pagerduty.Config  `yaml:"pagerduty"`
	Opsgenie   *opsgenie.Config   `yaml:"opsgenie"`
	Webhook    *webhook.Config    `yaml:"webhook"`
	File       *file.Config       `yaml:"file"`
	Jira       *jira.Config       `yaml:"jira"`
	ServiceNow *servicenow.Config `yaml:"servicenow"`
	GitHub     *github.Config     `yaml:"github"`
}

// ConsoleConfig writes alerts as JSON lines.
type ConsoleConfig struct {
	// Path is a file to append to; "" or "-" means standard output.
	Path string `yaml:"path"`
}

// SlackConfig posts alerts with a bot token.
type SlackConfig struct {
	// TokenEnv names the environment variable holding the bot token
	// (xoxb-...). One of TokenEnv and TokenFile is required; tokens are
	// never written in the config itself.
	TokenEnv string `yaml:"token_env"`
	// TokenFile is a file holding the bot token (a mounted Secret).
	TokenFile string `yaml:"token_file"`
	// Channel is the channel id or #name. Required.
	Channel string `yaml:"channel"`
	// APIURL is the Slack Web API base. Default: https://slack.com/api/.
	APIURL string `yaml:"api_url"`
	// RunbookBaseURL prefixes runbook paths to link the full runbook, e.g.
	// https://github.com/ORG/vigia/blob/main/. Default: "" (path shown).
	RunbookBaseURL string `yaml:"runbook_base_url"`
	// Locale is the language of the message labels and runbook steps: en or
	// pt-BR (the runbooks/pt-BR translation, English where there is none).
	// Default: en.
	Locale string `yaml:"locale"`
	// Interactive adds Acknowledge, Resolve and Silence buttons to the
	// messages; needs lifecycle.listen and lifecycle.slack. Default: false.
	Interactive bool `yaml:"interactive"`
}

// Telemetry configures Vigia's own metrics and health endpoints.
type Telemetry struct {
	// Listen is the address serving /metrics, /healthz and /readyz; "" or
	// "off" disables it. Default: 127.0.0.1:9464.
	Listen string `yaml:"listen"`
	// TokenEnv or TokenFile holds a bearer token that /metrics then
	// requires (Prometheus: `authorization: {credentials_file: …}`);
	// /healthz and /readyz stay open for probes. Default: no token (bind
	// to localhost or restrict with a NetworkPolicy).
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
	// Tracing exports traces over OTLP. Default: off.
	Tracing Tracing `yaml:"tracing"`
}

// Formats lists the accepted topic formats.
var Formats = append([]string{"auto"}, event.Sources...)

// Load reads, defaults and validates a config file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes, defaults and validates config YAML.
func Parse(data []byte) (*Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && err.Error() != "EOF" {
		return nil, errors.New(strings.ReplaceAll(strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  "), "in type config.", "in "))
	}
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// Defaults fills zero values with defaults.
func (c *Config) Defaults() {
	c.Ingest.defaults()
	c.Telemetry.Tracing.defaults()
	k := &c.Kafka
	if k.EmbeddedListen == "" {
		k.EmbeddedListen = "127.0.0.1:9092"
	}
	if k.GroupID == "" {
		k.GroupID = "vigia"
	}
	if k.DeadLetterTopic == "" {
		k.DeadLetterTopic = "vigia-dead-letter"
	}
	if k.CommitInterval == 0 {
		k.CommitInterval = time.Second
	}
	if k.StartOffset == "" {
		k.StartOffset = "first"
	}
	if k.MaxWait == 0 {
		k.MaxWait = 250 * time.Millisecond
	}
	for i := range k.Topics {
		if k.Topics[i].Format == "" {
			k.Topics[i].Format = "auto"
		}
	}
	if len(c.Rules.Paths) == 0 {
		c.Rules.Paths = []string{"detections"}
	}
	if c.Rules.ReloadInterval == nil {
		d := 5 * time.Second
		c.Rules.ReloadInterval = &d
	}
	if c.Route.MinSeverity == "" {
		c.Route.MinSeverity = alert.SeverityInfo
	}
	if c.Route.RetryTimeout == 0 {
		c.Route.RetryTimeout = 5 * time.Minute
	}
	if c.Route.SendTimeout == 0 {
		c.Route.SendTimeout = 30 * time.Second
	}
	c.routingDefaults()
	c.lifecycleDefaults()
	if len(c.Route.Receivers) == 0 {
		for _, r := range c.Receivers {
			c.Route.Receivers = append(c.Route.Receivers, r.Name)
		}
	}
	if c.Telemetry.Listen == "" {
		c.Telemetry.Listen = "127.0.0.1:9464"
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 1 << 20
	}
}

// Validate checks fields and their combinations; errors name the field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	k := c.Kafka
	if !k.Embedded && len(k.Brokers) == 0 {
		bad("kafka.brokers", "at least one broker is required (or set kafka.embedded: true)")
	}
	if len(k.Topics) == 0 {
		bad("kafka.topics", "at least one topic is required")
	}
	for i, t := range k.Topics {
		if t.Name == "" {
			bad(fmt.Sprintf("kafka.topics[%d].name", i), "is required")
		}
		if !contains(Formats, t.Format) {
			bad(fmt.Sprintf("kafka.topics[%d].format", i), "%q is not one of %s", t.Format, strings.Join(Formats, ", "))
		}
		if t.Name == k.DeadLetterTopic {
			bad(fmt.Sprintf("kafka.topics[%d].name", i), "%q is also the dead-letter topic", t.Name)
		}
	}
	if k.StartOffset != "first" && k.StartOffset != "last" {
		bad("kafka.start_offset", "%q is not first or last", k.StartOffset)
	}
	if k.CommitInterval < 0 {
		bad("kafka.commit_interval", "must be positive")
	}
	names := map[string]bool{}
	for i, r := range c.Receivers {
		field := fmt.Sprintf("receivers[%d]", i)
		if r.Name == "" {
			bad(field+".name", "is required")
		} else if names[r.Name] {
			bad(field+".name", "duplicate receiver %q", r.Name)
		}
		names[r.Name] = true
		n := 0
		if r.Console != nil {
			n++
		}
		if r.Slack != nil {
			n++
			s := r.Slack
			if s.TokenEnv == "" && s.TokenFile == "" {
				bad(field+".slack.token_env", "one of token_env and token_file is required")
			}
			if s.Channel == "" {
				bad(field+".slack.channel", "is required")
			}
		}
		for _, typed := range []struct {
			name string
			set  bool
			v    interface{ Validate() error }
		}{
			{"pagerduty", r.PagerDuty != nil, r.PagerDuty}, {"opsgenie", r.Opsgenie != nil, r.Opsgenie},
			{"webhook", r.Webhook != nil, r.Webhook}, {"file", r.File != nil, r.File},
			{"jira", r.Jira != nil, r.Jira}, {"servicenow", r.ServiceNow != nil, r.ServiceNow}, {"github", r.GitHub != nil, r.GitHub},
		} {
			if !typed.set {
				continue
			}
			n++
			if err := typed.v.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("%s.%s: %w", field, typed.name, err))
			}
		}
		if r.Locale != "" && r.Locale != "en" && !contains(runbook.Locales, r.Locale) {
			bad(field+".locale", "%q is not en or one of %s", r.Locale, strings.Join(runbook.Locales, ", "))
		}
		if n != 1 {
			bad(field, "exactly one of console, slack, pagerduty, opsgenie, webhook, file, jira, servicenow, github must be set (has %d)", n)
		}
	}
	if len(c.Receivers) == 0 {
		bad("receivers", "at least one receiver is required")
	}
	errs = append(errs, c.validateRouting(names)...)
	errs = append(errs, c.validateLifecycle()...)
	errs = append(errs, c.Kafka.validateSecurity()...)
	if c.Workers < 0 {
		bad("workers", "must not be negative")
	}
	if c.MaxBatch < 0 || c.MaxBatch > 256 {
		bad("max_batch", "must be between 1 and 256 (0: the default, 128)")
	}
	if c.MaxMessageBytes < 0 {
		bad("max_message_bytes", "must not be negative")
	}
	if c.Kafka.SessionTimeout < 0 || (c.Kafka.SessionTimeout > 0 && c.Kafka.SessionTimeout < time.Second) {
		bad("kafka.session_timeout", "must be at least 1s")
	}
	errs = append(append(errs, c.Ingest.validate()...), c.Telemetry.Tracing.validate()...)
	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
