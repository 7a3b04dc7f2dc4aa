package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Ingest configures `vigia ingest`: the HTTPS endpoint the Kubernetes API
// server's audit webhook backend posts EventLists to. Each audit event
// becomes one Kafka message on Topic, keyed by the object it is about.
type Ingest struct {
	// Listen is the address served. Default: :8443.
	Listen string `yaml:"listen"`
	// Path is the URL path the API server posts to; other paths answer 404.
	// Default: /audit.
	Path string `yaml:"path"`
	// TLS serves HTTPS; without cert_file the endpoint is plain HTTP, for
	// local development only.
	TLS IngestTLS `yaml:"tls"`
	// TokenFile holds a bearer token every request must present
	// (Authorization: Bearer ...), compared in constant time; re-read when
	// it changes. Default: "" (no token required; use client certificates).
	TokenFile string `yaml:"token_file"`
	// Topic receives the audit events, one message per event.
	// Default: k8s-audit.
	Topic string `yaml:"topic"`
	// MaxBodyBytes bounds one request body after gzip decoding; larger
	// requests answer 413. Default: 33554432 (32 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxInflightBytes bounds the request bytes held in memory across all
	// requests being read, parsed and produced; beyond it requests answer
	// 429 with Retry-After and the API server retries. Must be at least
	// max_body_bytes. Default: 268435456 (256 MiB).
	MaxInflightBytes int64 `yaml:"max_inflight_bytes"`
	// MaxEventBytes bounds one produced message. A larger event is produced
	// without its requestObject and responseObject and annotated
	// audit.k8s.io/truncated, as the API server's own truncation does; one
	// still too large is dropped, logged and counted. Keep it below the
	// topic's max.message.bytes. Default: 1000000.
	MaxEventBytes int `yaml:"max_event_bytes"`
	// ProduceTimeout bounds the wait for the brokers to acknowledge one
	// request's events; after it the request answers 503 and the API server
	// retries. Default: 10s.
	ProduceTimeout time.Duration `yaml:"produce_timeout"`
}

// IngestTLS holds the ingest endpoint's certificate and the CA its clients'
// certificates are verified against. Files are re-read when they change
// (checked at most every 10s), so rotated certificates need no restart.
type IngestTLS struct {
	// CertFile is the PEM server certificate (chain). Default: "" (plain HTTP).
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of CertFile. Required with cert_file.
	KeyFile string `yaml:"key_file"`
	// ClientCAFile, when set, requires every client to present a
	// certificate signed by one of these PEM CAs (mutual TLS); the API
	// server's webhook kubeconfig carries the client certificate.
	// Default: "" (no client certificate required).
	ClientCAFile string `yaml:"client_ca_file"`
}

// Tracing exports Vigia's own traces over OTLP: a span per Kafka message
// handled (a child of the producer's span when the message carries a W3C
// traceparent header), per rule-set evaluation and per delivery attempt.
// The exporter also honours the standard OTEL_EXPORTER_OTLP_* environment
// variables; put authentication headers there (from a Secret), never here.
type Tracing struct {
	// Enabled turns tracing on. Default: false.
	Enabled bool `yaml:"enabled"`
	// Protocol is the OTLP transport: grpc or http/protobuf. Default: grpc.
	Protocol string `yaml:"protocol"`
	// Endpoint is the collector's host:port. Default: "" (the exporter's
	// default: OTEL_EXPORTER_OTLP_ENDPOINT, else localhost:4317 for grpc and
	// localhost:4318 for http/protobuf).
	Endpoint string `yaml:"endpoint"`
	// Insecure sends without TLS. Default: false.
	Insecure bool `yaml:"insecure"`
	// SampleRatio is the share of traces started by Vigia that are
	// recorded, from 0 to 1; a message whose producer sampled its trace is
	// always recorded, one whose producer did not never is. Default: 1.
	SampleRatio *float64 `yaml:"sample_ratio"`
}

// Tracing protocols.
const (
	TracingGRPC = "grpc"
	TracingHTTP = "http/protobuf"
)

func (i *Ingest) defaults() {
	if i.Listen == "" {
		i.Listen = ":8443"
	}
	if i.Path == "" {
		i.Path = "/audit"
	}
	if i.Topic == "" {
		i.Topic = "k8s-audit"
	}
	if i.MaxBodyBytes == 0 {
		i.MaxBodyBytes = 32 << 20
	}
	if i.MaxInflightBytes == 0 {
		i.MaxInflightBytes = 256 << 20
	}
	if i.MaxEventBytes == 0 {
		i.MaxEventBytes = 1000000
	}
	if i.ProduceTimeout == 0 {
		i.ProduceTimeout = 10 * time.Second
	}
}

func (t *Tracing) defaults() {
	if t.Protocol == "" {
		t.Protocol = TracingGRPC
	}
	if t.SampleRatio == nil {
		one := 1.0
		t.SampleRatio = &one
	}
}

func (i *Ingest) validate() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("ingest.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if !strings.HasPrefix(i.Path, "/") {
		bad("path", "%q must start with /", i.Path)
	}
	if i.MaxBodyBytes < 0 {
		bad("max_body_bytes", "must not be negative")
	}
	if i.MaxInflightBytes < 0 {
		bad("max_inflight_bytes", "must not be negative")
	} else if i.MaxInflightBytes < i.MaxBodyBytes {
		bad("max_inflight_bytes", "%d is below max_body_bytes %d: a request of the largest allowed size could never be taken", i.MaxInflightBytes, i.MaxBodyBytes)
	}
	if i.MaxEventBytes < 0 {
		bad("max_event_bytes", "must not be negative")
	}
	if i.ProduceTimeout < 0 {
		bad("produce_timeout", "must not be negative")
	}
	if (i.TLS.CertFile == "") != (i.TLS.KeyFile == "") {
		bad("tls", "cert_file and key_file go together")
	}
	if i.TLS.ClientCAFile != "" && i.TLS.CertFile == "" {
		bad("tls.client_ca_file", "client certificates need TLS: set cert_file and key_file")
	}
	return errs
}

func (t *Tracing) validate() []error {
	var errs []error
	if t.Protocol != TracingGRPC && t.Protocol != TracingHTTP {
		errs = append(errs, fmt.Errorf("telemetry.tracing.protocol: %q is not %s or %s", t.Protocol, TracingGRPC, TracingHTTP))
	}
	if r := t.SampleRatio; r != nil && (*r < 0 || *r > 1) {
		errs = append(errs, fmt.Errorf("telemetry.tracing.sample_ratio: %v is not between 0 and 1", *r))
	}
	return errs
}

// LoadIngest reads, defaults and validates a config file for `vigia
// ingest`, which needs only kafka.brokers (or kafka.embedded), ingest and
// telemetry: the blocks only `vigia run` uses (topics, rules, receivers,
// route) may be absent, so one file can serve both commands or ingest can
// have its own.
func LoadIngest(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := ParseIngest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseIngest decodes, defaults and validates config YAML for `vigia
// ingest`; see LoadIngest.
func ParseIngest(data []byte) (*Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && err.Error() != "EOF" {
		return nil, errors.New(strings.ReplaceAll(strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  "), "in type config.", "in "))
	}
	cfg.Defaults()
	if err := cfg.ValidateIngest(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// ValidateIngest checks what `vigia ingest` uses; errors name the field.
func (c *Config) ValidateIngest() error {
	var errs []error
	if !c.Kafka.Embedded && len(c.Kafka.Brokers) == 0 {
		errs = append(errs, errors.New("kafka.brokers: at least one broker is required (or set kafka.embedded: true)"))
	}
	errs = append(errs, c.Kafka.validateSecurity()...)
	errs = append(errs, c.Ingest.validate()...)
	errs = append(errs, c.Telemetry.Tracing.validate()...)
	if c.ShutdownTimeout < 0 {
		errs = append(errs, errors.New("shutdown_timeout: must not be negative"))
	}
	return errors.Join(errs...)
}
