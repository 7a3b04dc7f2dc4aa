package telemetry

import (
	"context"
	"errors"
	"strconv"

	"go.opentelemetry.io/otel/metric"
)

// IngestMetrics are `vigia ingest`'s instruments; see Metrics.Ingest.
type IngestMetrics struct {
	requests  metric.Int64Counter
	bodyBytes metric.Int64Counter
	events    metric.Int64Counter
	bytes     metric.Int64Counter
	truncated metric.Int64Counter
	dropped   metric.Int64Counter
	inflight  metric.Int64UpDownCounter
	topic     metric.AddOption
}

// Ingest registers the audit webhook endpoint's instruments for events
// produced to topic.
func (m *Metrics) Ingest(topic string) (*IngestMetrics, error) {
	var errs []error
	counter := func(name, desc string) metric.Int64Counter {
		c, err := m.meter.Int64Counter(name, metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	im := &IngestMetrics{
		requests:  counter("vigia_ingest_requests", "Audit webhook requests answered, per HTTP status code."),
		bodyBytes: counter("vigia_ingest_request_bytes", "Audit webhook body bytes read, after gzip decoding."),
		events:    counter("vigia_ingest_events_produced", "Audit events acknowledged by Kafka, per topic."),
		bytes:     counter("vigia_ingest_produced_bytes", "Bytes of audit events acknowledged by Kafka, per topic."),
		truncated: counter("vigia_ingest_events_truncated", "Audit events produced without their request and response objects, being over max_event_bytes."),
		dropped:   counter("vigia_ingest_events_dropped", "Audit events not produced, per reason."),
		topic:     attrs("topic", topic),
	}
	var err error
	im.inflight, err = m.meter.Int64UpDownCounter("vigia_ingest_inflight_bytes", metric.WithDescription("Request bytes held in memory by the audit webhook endpoint."))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return im, nil
}

// Request counts an answered request.
func (im *IngestMetrics) Request(code int, bodyBytes int64) {
	ctx := context.Background()
	im.requests.Add(ctx, 1, attrs("code", strconv.Itoa(code)))
	if bodyBytes > 0 {
		im.bodyBytes.Add(ctx, bodyBytes)
	}
}

// Produced counts events acknowledged by Kafka.
func (im *IngestMetrics) Produced(events int, bytes int64) {
	im.events.Add(context.Background(), int64(events), im.topic)
	im.bytes.Add(context.Background(), bytes, im.topic)
}

// Truncated counts events produced without their objects.
func (im *IngestMetrics) Truncated(n int) {
	im.truncated.Add(context.Background(), int64(n), im.topic)
}

// Dropped counts events not produced.
func (im *IngestMetrics) Dropped(reason string, n int) {
	im.dropped.Add(context.Background(), int64(n), attrs("reason", reason))
}

// Inflight moves the in-flight bytes gauge.
func (im *IngestMetrics) Inflight(delta int64) {
	im.inflight.Add(context.Background(), delta)
}
