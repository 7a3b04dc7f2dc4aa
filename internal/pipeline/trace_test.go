package pipeline

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/outbox"
	"github.com/vigia-dev/vigia/internal/route"
	"github.com/vigia-dev/vigia/internal/rule"
	"github.com/vigia-dev/vigia/internal/telemetry"
)

const tracedExec = `{"auditID":"trace-1","verb":"create","stage":"ResponseStarted","timestamp":"2024-01-01T00:00:00Z","user":{"username":"eve"},"responseStatus":{"code":101},"annotations":{"authorization.k8s.io/decision":"allow"},"requestURI":"/api/v1/namespaces/n/pods/p/exec?command=sh","objectRef":{"resource":"pods","subresource":"exec","namespace":"n","name":"p"}}`

// TestHandleTraces: a message whose producer set a traceparent header is
// handled in a span of the producer's trace, with a rules span and one
// span per delivery attempt beneath it.
func TestHandleTraces(t *testing.T) {
	const producerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	sr := tracetest.NewSpanRecorder()
	tracing := telemetry.NewTracingWith(sdktrace.WithSpanProcessor(sr))
	rules, err := rule.Load([]string{"../../detections"}, rule.Options{Root: "../.."})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	flaky := notify.ReceiverFunc(func(context.Context, *notify.Notification, notify.State) (notify.State, error) {
		if calls.Add(1) == 1 {
			return nil, errors.New("503 from the receiver")
		}
		return nil, nil
	})
	// Delivery is asynchronous (router → outbox → dispatcher); the
	// entry carries the trace context across.
	zero := time.Duration(0)
	tree, err := route.Compile(route.Spec{Receivers: []string{"chat"}, GroupWait: &zero, ResolveTimeout: &zero, RepeatInterval: &zero})
	if err != nil {
		t.Fatal(err)
	}
	q, err := outbox.NewFile(t.TempDir(), outbox.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	router := route.New(route.Config{Tree: tree, Queue: q})
	disp := route.NewDispatcher(route.DispatcherConfig{Receiver: "chat", Deliverer: flaky, Tree: tree, Queue: q, States: q,
		MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, Tracer: tracing.Tracer("route")})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { disp.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	p := &Processor{Rules: rules, Default: k8sAudit(t, ""), Router: router, Tracer: tracing.Tracer("pipeline")}
	m := kafka.Message{Topic: "k8s-audit", Partition: 1, Offset: 9, Value: []byte(tracedExec),
		Headers: []kafka.Header{{Key: "traceparent", Value: []byte("00-" + producerTrace + "-00f067aa0ba902b7-01")}}}
	if err := p.Handle(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); calls.Load() < 2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	for deadline := time.Now().Add(5 * time.Second); len(sr.Ended()) < 4 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}

	var msg sdktrace.ReadOnlySpan
	var rulesSpans, deliveries []sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		if got := s.SpanContext().TraceID().String(); got != producerTrace {
			t.Errorf("span %q in trace %s, want the producer's %s", s.Name(), got, producerTrace)
		}
		switch s.Name() {
		case "process k8s-audit":
			msg = s
		case "evaluate rules":
			rulesSpans = append(rulesSpans, s)
		case "deliver chat":
			deliveries = append(deliveries, s)
		}
	}
	if msg == nil || len(rulesSpans) != 1 || len(deliveries) != 2 {
		t.Fatalf("spans: message %v, rules %d, deliveries %d (want 1, 1, 2)", msg != nil, len(rulesSpans), len(deliveries))
	}
	attrs := func(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
		m := map[attribute.Key]attribute.Value{}
		for _, kv := range s.Attributes() {
			m[kv.Key] = kv.Value
		}
		return m
	}
	a := attrs(msg)
	if a[telemetry.AttrOffset].AsInt64() != 9 || a[telemetry.AttrPartition].AsString() != "1" ||
		a[telemetry.AttrEvents].AsInt64() != 1 || a[telemetry.AttrAlerts].AsInt64() < 1 || a[telemetry.AttrSource].AsString() != "k8s_audit" {
		t.Errorf("message span attributes %v", a)
	}
	if rulesSpans[0].Parent().SpanID() != msg.SpanContext().SpanID() {
		t.Error("rules span is not a child of the message span")
	}
	for i, d := range deliveries {
		da := attrs(d)
		want := []string{telemetry.OutcomeRetryable, telemetry.OutcomeDelivered}[i]
		if da[telemetry.AttrAttempt].AsInt64() != int64(i+1) || da[telemetry.AttrOutcome].AsString() != want || da[telemetry.AttrReceiver].AsString() != "chat" {
			t.Errorf("delivery %d attributes %v", i+1, da)
		}
		if d.Parent().SpanID() != msg.SpanContext().SpanID() {
			t.Errorf("delivery %d is not a child of the message span", i+1)
		}
	}
}
