// Package telemetry holds Vigia's own metrics (OpenTelemetry, exported as
// Prometheus text) and serves /metrics, /healthz and /readyz.
package telemetry

import (
	"context"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Metrics are the processor's instruments. Create with New; the zero value
// is not usable.
type Metrics struct {
	provider *sdkmetric.MeterProvider
	registry *prometheus.Registry
	meter    metric.Meter

	eventsConsumed   *hotCounter
	eventsNormalized *hotCounter
	eventsFailed     metric.Int64Counter
	deadLettered     metric.Int64Counter
	alertsSent       metric.Int64Counter
	alertsFailed     metric.Int64Counter
	commits          metric.Int64Counter
	retries          metric.Int64Counter
	ruleReloads      metric.Int64Counter
	alertLatency     metric.Float64Histogram

	lagMu sync.Mutex
	lag   map[lagKey]int64

	ready    atomic.Bool
	token    string // required on /metrics when set
	srv      *http.Server
	addr     string
	shutdown sync.Once
}

type lagKey struct {
	topic     string
	partition int
}

// RuleStats is read at collection time for the per-rule counters.
type RuleStats func(yield func(rule string, evaluations, matches, errors uint64))

// New creates the meter provider and instruments.
func New() (*Metrics, error) {
	reg := prometheus.NewRegistry()
	// The Go runtime's and the process's own: go_goroutines,
	// go_memstats_heap_inuse_bytes, process_resident_memory_bytes, … (the
	// soak benchmark watches them stay flat).
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	m := &Metrics{provider: mp, registry: reg, meter: mp.Meter("github.com/vigia-dev/vigia"), lag: map[lagKey]int64{}}
	var errs []error
	counter := func(name, desc string) metric.Int64Counter {
		c, err := m.meter.Int64Counter(name, metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	// Per message and per event: counted in atomics, read at collection.
	m.eventsConsumed, err = m.newHotCounter("vigia_messages_consumed", "Messages consumed from Kafka, per topic and source.", "topic", "source")
	errs = append(errs, err)
	m.eventsNormalized, err = m.newHotCounter("vigia_events_normalized", "Events normalized, per source.", "source")
	errs = append(errs, err)
	m.eventsFailed = counter("vigia_events_failed", "Messages or events that failed to normalize, per source and reason.")
	m.deadLettered = counter("vigia_dead_letters", "Messages written to the dead-letter topic, per reason.")
	m.alertsSent = counter("vigia_alerts_sent", "Alerts delivered, per receiver.")
	m.alertsFailed = counter("vigia_alerts_failed", "Alerts that could not be delivered, per receiver.")
	m.commits = counter("vigia_offset_commits", "Offset commits, per result.")
	m.retries = counter("vigia_message_retries", "Tries of a message that failed (outbox or dead-letter topic unreachable) and were repeated, per topic.")
	m.ruleReloads = counter("vigia_rule_reloads", "Rule set reloads (SIGHUP or a file change), per result: ok, or error (the previous set keeps running).")
	m.alertLatency, err = m.meter.Float64Histogram("vigia_alert_latency_seconds",
		metric.WithDescription("Seconds from a message's append to Kafka (its timestamp) to its alerts being enqueued for delivery, one observation per alert. Includes time spent waiting in Kafka (consumer lag)."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(AlertLatencyBuckets...))
	errs = append(errs, err)
	_, err = m.meter.Int64ObservableGauge("vigia_consumer_lag",
		metric.WithDescription("Messages behind the partition's high watermark, as of the last fetched message."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			m.lagMu.Lock()
			defer m.lagMu.Unlock()
			for k, v := range m.lag {
				o.Observe(v, metric.WithAttributes(attribute.String("topic", k.topic), attribute.Int("partition", k.partition)))
			}
			return nil
		}))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// ObserveRules registers the per-rule evaluation, match and error counters,
// read from stats at each scrape (atomic counters kept by the rule set, so
// evaluation pays no metric cost).
func (m *Metrics) ObserveRules(stats func() RuleStats) error {
	evals, err1 := m.meter.Int64ObservableCounter("vigia_rule_evaluations", metric.WithDescription("Rule evaluations, per rule."))
	matches, err2 := m.meter.Int64ObservableCounter("vigia_rule_matches", metric.WithDescription("Rule matches, per rule."))
	errs, err3 := m.meter.Int64ObservableCounter("vigia_rule_errors", metric.WithDescription("Rule runtime errors, per rule."))
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	_, err := m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		stats()(func(rule string, e, mt, er uint64) {
			attrs := metric.WithAttributes(attribute.String("rule", rule))
			o.ObserveInt64(evals, int64(e), attrs)
			o.ObserveInt64(matches, int64(mt), attrs)
			o.ObserveInt64(errs, int64(er), attrs)
		})
		return nil
	}, evals, matches, errs)
	return err
}

func attrs(kv ...string) metric.AddOption {
	a := make([]attribute.KeyValue, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		a = append(a, attribute.String(kv[i], kv[i+1]))
	}
	return metric.WithAttributes(a...)
}

// AlertLatencyBuckets are vigia_alert_latency_seconds' bucket bounds: fine
// below 100 ms, where the p99 target lies, and up to an hour of lag.
var AlertLatencyBuckets = []float64{0.001, 0.002, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1,
	0.15, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30, 60, 300, 900, 3600}

// AlertLatency records n alerts enqueued d after their message's append.
func (m *Metrics) AlertLatency(d time.Duration, n int) {
	s := d.Seconds()
	for range n {
		m.alertLatency.Record(context.Background(), s)
	}
}

// Consumed counts a message consumed from topic, whose format is source.
func (m *Metrics) Consumed(topic, source string) {
	m.eventsConsumed.add(1, topic, source)
}

// Normalized counts n events normalized from source.
func (m *Metrics) Normalized(source string, n int) {
	m.eventsNormalized.add(int64(n), source, "")
}

// Failed counts a normalization failure.
func (m *Metrics) Failed(source, reason string) {
	m.eventsFailed.Add(context.Background(), 1, attrs("source", source, "reason", reason))
}

// DeadLettered counts a message written to the dead-letter topic.
func (m *Metrics) DeadLettered(reason string) {
	m.deadLettered.Add(context.Background(), 1, attrs("reason", reason))
}

// Sent counts an alert delivered to receiver.
func (m *Metrics) Sent(receiver string) {
	m.alertsSent.Add(context.Background(), 1, attrs("receiver", receiver))
}

// SendFailed counts an alert that receiver could not take.
func (m *Metrics) SendFailed(receiver string) {
	m.alertsFailed.Add(context.Background(), 1, attrs("receiver", receiver))
}

// Commit counts an offset commit.
func (m *Metrics) Commit(ok bool) {
	result := "ok"
	if !ok {
		result = "error"
	}
	m.commits.Add(context.Background(), 1, attrs("result", result))
}

// Retry counts a failed try of a message from topic that is tried again.
func (m *Metrics) Retry(topic string) {
	m.retries.Add(context.Background(), 1, attrs("topic", topic))
}

// ObserveInFlight registers vigia_messages_in_flight: messages fetched and
// not yet handled, read from n at each scrape. Bounded by the consumer's
// queues; at its bound the consumer has stopped fetching (backpressure)
// and the lag grows in Kafka instead.
func (m *Metrics) ObserveInFlight(n func() int64) error {
	_, err := m.meter.Int64ObservableGauge("vigia_messages_in_flight",
		metric.WithDescription("Messages fetched from Kafka and not yet handled (bounded: workers x queue size)."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(n())
			return nil
		}))
	return err
}

// RuleReload counts a rule set reload.
func (m *Metrics) RuleReload(ok bool) {
	result := "ok"
	if !ok {
		result = "error"
	}
	m.ruleReloads.Add(context.Background(), 1, attrs("result", result))
}

// Lag records a partition's lag.
func (m *Metrics) Lag(topic string, partition int, lag int64) {
	m.lagMu.Lock()
	m.lag[lagKey{topic, partition}] = max(lag, 0)
	m.lagMu.Unlock()
}

// SetReady flips /readyz.
func (m *Metrics) SetReady(ready bool) { m.ready.Store(ready) }

// RequireToken makes /metrics answer 401 to requests without the header
// "Authorization: Bearer <token>". /healthz and /readyz stay open for
// probes (they reveal nothing). Call before Start; "" leaves /metrics open.
func (m *Metrics) RequireToken(token string) { m.token = token }

// Handler serves /metrics, /healthz and /readyz.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	var metrics http.Handler = promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
	if m.token != "" {
		metrics = bearer(m.token, metrics)
	}
	mux.Handle("/metrics", metrics)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !m.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	return mux
}

// Start serves the handler on addr in the background and returns once
// listening. An empty addr or "off" serves nothing.
func (m *Metrics) Start(addr string) error {
	if addr == "" || addr == "off" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	m.addr = ln.Addr().String()
	m.srv = &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go m.srv.Serve(ln)
	return nil
}

// Addr returns the listening address once started.
func (m *Metrics) Addr() string { return m.addr }

// Shutdown stops the server and the provider; safe without Start and twice.
func (m *Metrics) Shutdown(ctx context.Context) error {
	var err error
	m.shutdown.Do(func() {
		if m.srv != nil {
			err = m.srv.Shutdown(ctx)
		}
		err = errors.Join(err, m.provider.Shutdown(ctx))
	})
	return err
}

// bearer admits requests carrying "Authorization: Bearer token", compared
// in constant time.
func bearer(token string, next http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigia metrics"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
