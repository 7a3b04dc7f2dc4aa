package telemetry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/vigia-dev/vigia/internal/config"
)

// Tracing owns the tracer provider. Spans are only ever started through a
// Tracer it hands out, and it hands out nil when tracing is disabled: the
// stages check for nil (the helpers below do it for them) and do no span
// work at all, so a disabled tracer costs one comparison per message.
type Tracing struct {
	provider *sdktrace.TracerProvider
}

// Propagator reads and writes W3C trace context (traceparent, tracestate).
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// NewTracing starts the OTLP exporter and tracer provider described by
// cfg; service names the process in the traces (OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES override it). A disabled cfg returns a Tracing
// whose tracers are nil. The exporter connects lazily: an unreachable
// collector does not stop the start, spans are dropped and the exporter
// logs through the otel error handler.
func NewTracing(ctx context.Context, cfg config.Tracing, service string) (*Tracing, error) {
	if !cfg.Enabled {
		return &Tracing{}, nil
	}
	var exp sdktrace.SpanExporter
	var err error
	switch cfg.Protocol {
	case config.TracingGRPC, "":
		var opts []otlptracegrpc.Option
		if cfg.Endpoint != "" {
			if strings.Contains(cfg.Endpoint, "://") {
				opts = append(opts, otlptracegrpc.WithEndpointURL(cfg.Endpoint))
			} else {
				opts = append(opts, otlptracegrpc.WithEndpoint(cfg.Endpoint))
			}
		}
		if cfg.Insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	case config.TracingHTTP:
		var opts []otlptracehttp.Option
		if cfg.Endpoint != "" {
			if strings.Contains(cfg.Endpoint, "://") {
				opts = append(opts, otlptracehttp.WithEndpointURL(cfg.Endpoint))
			} else {
				opts = append(opts, otlptracehttp.WithEndpoint(cfg.Endpoint))
			}
		}
		if cfg.Insecure {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	default:
		return nil, fmt.Errorf("tracing: unknown protocol %q", cfg.Protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil && res == nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	return NewTracingWith(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sampler(cfg.SampleRatio)),
	), nil
}

// sampler follows the producer's decision when a message carries one and
// samples ratio of the traces Vigia starts itself.
func sampler(ratio *float64) sdktrace.Sampler {
	r := 1.0
	if ratio != nil {
		r = *ratio
	}
	return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r))
}

// NewTracingWith returns an enabled Tracing over a provider built from
// opts; tests pass a span recorder here.
func NewTracingWith(opts ...sdktrace.TracerProviderOption) *Tracing {
	return &Tracing{provider: sdktrace.NewTracerProvider(opts...)}
}

// Tracer returns the named tracer, or nil when tracing is disabled.
func (t *Tracing) Tracer(name string) trace.Tracer {
	if t == nil || t.provider == nil {
		return nil
	}
	return t.provider.Tracer(name)
}

// Shutdown flushes and stops the exporter; safe when disabled and twice.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.provider == nil {
		return nil
	}
	err := t.provider.Shutdown(ctx)
	if err != nil && strings.Contains(err.Error(), "already shutdown") {
		return nil
	}
	return err
}

// HeaderCarrier adapts Kafka message headers to a TextMapCarrier, so the
// W3C trace context can travel in traceparent/tracestate headers.
type HeaderCarrier struct {
	Headers *[]kafka.Header
}

var _ propagation.TextMapCarrier = HeaderCarrier{}

// Get returns the first value of key (header keys compare case-insensitively,
// as producers differ).
func (c HeaderCarrier) Get(key string) string {
	for _, h := range *c.Headers {
		if strings.EqualFold(h.Key, key) {
			return string(h.Value)
		}
	}
	return ""
}

// Set replaces key's value or appends it.
func (c HeaderCarrier) Set(key, value string) {
	for i, h := range *c.Headers {
		if strings.EqualFold(h.Key, key) {
			(*c.Headers)[i].Value = []byte(value)
			return
		}
	}
	*c.Headers = append(*c.Headers, kafka.Header{Key: key, Value: []byte(value)})
}

// Keys lists the header keys.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, len(*c.Headers))
	for i, h := range *c.Headers {
		keys[i] = h.Key
	}
	return keys
}

// InjectHeaders appends ctx's trace context to headers, if ctx carries a
// valid span context.
func InjectHeaders(ctx context.Context, headers []kafka.Header) []kafka.Header {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return headers
	}
	h := headers // declared here so that only this path allocates
	Propagator.Inject(ctx, HeaderCarrier{&h})
	return h
}

// Span attribute keys. Messaging ones follow the OpenTelemetry messaging
// semantic conventions; vigia.* are ours.
const (
	AttrMessagingSystem    = "messaging.system"
	AttrMessagingOperation = "messaging.operation.type"
	AttrDestination        = "messaging.destination.name"
	AttrPartition          = "messaging.destination.partition.id"
	AttrOffset             = "messaging.kafka.offset"
	AttrBatchCount         = "messaging.batch.message_count"
	AttrSource             = "vigia.source"
	AttrEvents             = "vigia.events"
	AttrAlerts             = "vigia.alerts"
	AttrRules              = "vigia.rules"
	AttrReceiver           = "vigia.receiver"
	AttrAlert              = "vigia.alert.id"
	AttrRule               = "vigia.rule.id"
	AttrAttempt            = "vigia.delivery.attempt"
	AttrOutcome            = "vigia.delivery.outcome"
)

// Delivery outcomes.
const (
	OutcomeDelivered = "delivered"
	OutcomeRetryable = "retryable_error"
	OutcomePermanent = "permanent_error"
)

// StartMessage starts the span of handling one Kafka message, as a child
// of the producer's span when the message carries a W3C traceparent
// header. With a nil tracer it returns ctx and a nil span.
func StartMessage(ctx context.Context, tracer trace.Tracer, m kafka.Message, source string) (context.Context, trace.Span) {
	if tracer == nil {
		return ctx, nil
	}
	h := m.Headers // declared here so that only this path allocates
	ctx = Propagator.Extract(ctx, HeaderCarrier{&h})
	return tracer.Start(ctx, "process "+m.Topic,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String(AttrMessagingSystem, "kafka"),
			attribute.String(AttrMessagingOperation, "process"),
			attribute.String(AttrDestination, m.Topic),
			attribute.String(AttrPartition, strconv.Itoa(m.Partition)),
			attribute.Int64(AttrOffset, m.Offset),
			attribute.String(AttrSource, source),
		))
}

// MessageCounts records the events and alerts of a message span; nil-safe.
func MessageCounts(span trace.Span, events, alerts int) {
	if span == nil {
		return
	}
	span.SetAttributes(attribute.Int(AttrEvents, events), attribute.Int(AttrAlerts, alerts))
}

// StartRules starts the span of evaluating the rule set over a message's
// events; nil tracer, nil span.
func StartRules(ctx context.Context, tracer trace.Tracer, events, rules int) (context.Context, trace.Span) {
	if tracer == nil {
		return ctx, nil
	}
	return tracer.Start(ctx, "evaluate rules", trace.WithAttributes(
		attribute.Int(AttrEvents, events), attribute.Int(AttrRules, rules)))
}

// EndRules ends a rules span with the number of alerts raised; nil-safe.
func EndRules(span trace.Span, alerts int) {
	if span == nil {
		return
	}
	span.SetAttributes(attribute.Int(AttrAlerts, alerts))
	span.End()
}

// StartDelivery starts the span of one delivery attempt of an alert to a
// receiver; nil tracer, nil span.
func StartDelivery(ctx context.Context, tracer trace.Tracer, receiver, alertID, ruleID string, attempt int) (context.Context, trace.Span) {
	if tracer == nil {
		return ctx, nil
	}
	return tracer.Start(ctx, "deliver "+receiver,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String(AttrReceiver, receiver),
			attribute.String(AttrAlert, alertID),
			attribute.String(AttrRule, ruleID),
			attribute.Int(AttrAttempt, attempt),
		))
}

// EndDelivery ends a delivery span with its outcome; nil-safe. The error
// text is not recorded, only its Go type: a receiver's error may quote a
// URL that is itself a credential (incoming-webhook URLs), and traces
// leave the cluster.
func EndDelivery(span trace.Span, retry bool, err error) {
	if span == nil {
		return
	}
	outcome := OutcomeDelivered
	switch {
	case err != nil && retry:
		outcome = OutcomeRetryable
	case err != nil:
		outcome = OutcomePermanent
	}
	span.SetAttributes(attribute.String(AttrOutcome, outcome))
	if err != nil {
		span.SetAttributes(attribute.String("error.type", fmt.Sprintf("%T", err)))
		span.SetStatus(codes.Error, outcome)
	}
	span.End()
}

// EndSpan ends span, marking it failed when err is set; nil-safe.
func EndSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
