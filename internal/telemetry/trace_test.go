package telemetry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/vigia-dev/vigia/internal/config"
)

const (
	producerTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	producerSpan   = "00f067aa0ba902b7"
	producerParent = "00-" + producerTrace + "-" + producerSpan + "-01"
)

func recorder() (*Tracing, *tracetest.SpanRecorder) {
	sr := tracetest.NewSpanRecorder()
	return NewTracingWith(sdktrace.WithSpanProcessor(sr)), sr
}

func attrMap(kv []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, a := range kv {
		m[a.Key] = a.Value
	}
	return m
}

func TestHeaderCarrier(t *testing.T) {
	h := []kafka.Header{{Key: "x", Value: []byte("1")}, {Key: "Traceparent", Value: []byte("old")}}
	c := HeaderCarrier{&h}
	if c.Get("traceparent") != "old" {
		t.Fatalf("Get is not case-insensitive: %q", c.Get("traceparent"))
	}
	c.Set("traceparent", "new")
	c.Set("tracestate", "v=1")
	if len(h) != 3 || c.Get("traceparent") != "new" || c.Get("tracestate") != "v=1" || c.Get("missing") != "" {
		t.Fatalf("headers after Set: %v", h)
	}
	if keys := c.Keys(); len(keys) != 3 || keys[0] != "x" {
		t.Fatalf("keys %v", keys)
	}
}

// TestMessageSpanIsChildOfProducer: a message carrying a traceparent header
// is processed in a span of the producer's trace, whose parent is the
// producer's span, with the message's coordinates as attributes.
func TestMessageSpanIsChildOfProducer(t *testing.T) {
	tr, sr := recorder()
	tracer := tr.Tracer("test")
	m := kafka.Message{Topic: "k8s-audit", Partition: 2, Offset: 41, Headers: []kafka.Header{{Key: "traceparent", Value: []byte(producerParent)}}}
	ctx, span := StartMessage(context.Background(), tracer, m, "k8s_audit")
	_, rules := StartRules(ctx, tracer, 3, 10)
	EndRules(rules, 1)
	dctx, d := StartDelivery(ctx, tracer, "slack", "alert-1", "k8s-exec", 2)
	if trace.SpanContextFromContext(dctx).TraceID().String() != producerTrace {
		t.Fatal("delivery context lost the trace")
	}
	EndDelivery(d, true, errors.New("https://hooks.example/services/SECRET: 503"))
	MessageCounts(span, 3, 1)
	EndSpan(span, nil)

	ended := sr.Ended()
	if len(ended) != 3 {
		t.Fatalf("%d spans ended, want 3", len(ended))
	}
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range ended {
		byName[s.Name()] = s
	}
	msg := byName["process k8s-audit"]
	if msg == nil {
		t.Fatalf("no message span among %v", byName)
	}
	if got := msg.SpanContext().TraceID().String(); got != producerTrace {
		t.Errorf("message span trace %s, want the producer's %s", got, producerTrace)
	}
	if got := msg.Parent().SpanID().String(); got != producerSpan || !msg.Parent().IsRemote() {
		t.Errorf("message span parent %s (remote %v), want the producer's span %s", got, msg.Parent().IsRemote(), producerSpan)
	}
	if msg.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("message span kind %v", msg.SpanKind())
	}
	a := attrMap(msg.Attributes())
	want := map[attribute.Key]string{AttrDestination: "k8s-audit", AttrPartition: "2", AttrSource: "k8s_audit"}
	for k, v := range want {
		if a[k].AsString() != v {
			t.Errorf("message span %s = %q, want %q", k, a[k].AsString(), v)
		}
	}
	if a[AttrOffset].AsInt64() != 41 || a[AttrEvents].AsInt64() != 3 || a[AttrAlerts].AsInt64() != 1 {
		t.Errorf("message span offset/events/alerts: %v", a)
	}

	r := byName["evaluate rules"]
	if r == nil || r.Parent().SpanID() != msg.SpanContext().SpanID() {
		t.Fatalf("rules span missing or not a child of the message span: %v", r)
	}
	if ra := attrMap(r.Attributes()); ra[AttrEvents].AsInt64() != 3 || ra[AttrRules].AsInt64() != 10 || ra[AttrAlerts].AsInt64() != 1 {
		t.Errorf("rules span attributes %v", ra)
	}

	del := byName["deliver slack"]
	if del == nil || del.Parent().SpanID() != msg.SpanContext().SpanID() {
		t.Fatalf("delivery span missing or not a child of the message span")
	}
	da := attrMap(del.Attributes())
	if da[AttrReceiver].AsString() != "slack" || da[AttrAttempt].AsInt64() != 2 || da[AttrOutcome].AsString() != OutcomeRetryable || da[AttrAlert].AsString() != "alert-1" {
		t.Errorf("delivery span attributes %v", da)
	}
	if desc := del.Status().Description; desc != OutcomeRetryable {
		t.Errorf("delivery span status %q: the error text (which may hold a secret URL) must not be recorded", desc)
	}
	for _, kv := range del.Attributes() {
		if s := kv.Value.Emit(); strings.Contains(s, "SECRET") {
			t.Errorf("secret in delivery span attribute %s", kv.Key)
		}
	}
}

func TestMessageWithoutContextStartsATrace(t *testing.T) {
	tr, sr := recorder()
	_, span := StartMessage(context.Background(), tr.Tracer("test"), kafka.Message{Topic: "t"}, "k8s_audit")
	EndSpan(span, errors.New("boom"))
	s := sr.Ended()[0]
	if s.Parent().IsValid() {
		t.Errorf("a message without traceparent should start a root span, parent %v", s.Parent())
	}
	if s.Status().Description != "boom" {
		t.Errorf("failed span status %+v", s.Status())
	}
}

func TestInjectHeadersRoundTrip(t *testing.T) {
	tr, _ := recorder()
	ctx, span := tr.Tracer("test").Start(context.Background(), "send")
	defer span.End()
	h := InjectHeaders(ctx, []kafka.Header{{Key: "a", Value: []byte("b")}})
	if len(h) != 2 || h[1].Key != "traceparent" {
		t.Fatalf("headers %v", h)
	}
	got := trace.SpanContextFromContext(Propagator.Extract(context.Background(), HeaderCarrier{&h}))
	if got.TraceID() != span.SpanContext().TraceID() || got.SpanID() != span.SpanContext().SpanID() {
		t.Fatalf("extracted %v, want %v", got, span.SpanContext())
	}
	if h := InjectHeaders(context.Background(), nil); len(h) != 0 {
		t.Fatalf("no span, headers %v", h)
	}
}

// TestDisabledCostsNothing: with tracing off the helpers hand out nil and
// do not allocate.
func TestDisabledCostsNothing(t *testing.T) {
	tr, err := NewTracing(context.Background(), config.Tracing{}, "vigia")
	if err != nil {
		t.Fatal(err)
	}
	tracer := tr.Tracer("x")
	if tracer != nil {
		t.Fatalf("disabled tracing returned tracer %T", tracer)
	}
	m := kafka.Message{Topic: "t", Headers: []kafka.Header{{Key: "traceparent", Value: []byte(producerParent)}}}
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		c, span := StartMessage(ctx, tracer, m, "k8s_audit")
		_, r := StartRules(c, tracer, 1, 1)
		EndRules(r, 0)
		_, d := StartDelivery(c, tracer, "r", "a", "x", 1)
		EndDelivery(d, false, nil)
		MessageCounts(span, 1, 0)
		EndSpan(span, nil)
		_ = InjectHeaders(c, m.Headers)
	})
	if allocs != 0 {
		t.Fatalf("disabled tracing allocates %v times per message", allocs)
	}
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestOTLPHTTPExport: an enabled tracer exports to an OTLP/HTTP endpoint,
// with the service name and the sampler honoured.
func TestOTLPHTTPExport(t *testing.T) {
	var mu sync.Mutex
	var got []*coltracepb.ExportTraceServiceRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" {
			http.NotFound(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		req := &coltracepb.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(body, req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	defer srv.Close()

	ratio := 1.0
	ctx := context.Background()
	tr, err := NewTracing(ctx, config.Tracing{Enabled: true, Protocol: config.TracingHTTP, Endpoint: srv.Listener.Addr().String(), Insecure: true, SampleRatio: &ratio}, "vigia-test")
	if err != nil {
		t.Fatal(err)
	}
	_, span := StartMessage(ctx, tr.Tracer("test"), kafka.Message{Topic: "k8s-audit"}, "k8s_audit")
	EndSpan(span, nil)
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Shutdown(sctx); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	var names []string
	service := ""
	for _, req := range got {
		for _, rs := range req.ResourceSpans {
			for _, kv := range rs.Resource.Attributes {
				if kv.Key == "service.name" {
					service = kv.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					names = append(names, s.Name)
				}
			}
		}
	}
	if len(names) != 1 || names[0] != "process k8s-audit" || service != "vigia-test" {
		t.Fatalf("exported spans %v from service %q", names, service)
	}
}

func TestSampleRatioZeroFollowsTheProducer(t *testing.T) {
	zero := 0.0
	sr := tracetest.NewSpanRecorder()
	tr := NewTracingWith(sdktrace.WithSpanProcessor(sr), sdktrace.WithSampler(sampler(&zero)))
	tracer := tr.Tracer("test")
	_, s1 := StartMessage(context.Background(), tracer, kafka.Message{Topic: "t"}, "k8s_audit")
	EndSpan(s1, nil)
	_, s2 := StartMessage(context.Background(), tracer, kafka.Message{Topic: "t", Headers: []kafka.Header{{Key: "traceparent", Value: []byte(producerParent)}}}, "k8s_audit")
	EndSpan(s2, nil)
	if n := len(sr.Ended()); n != 1 {
		t.Fatalf("%d spans recorded, want only the one whose producer sampled", n)
	}
}
