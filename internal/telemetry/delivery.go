package telemetry

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// DeliveryMetrics are the router's and dispatchers' instruments beyond
// vigia_alerts_sent and vigia_alerts_failed; see Metrics.Delivery.
type DeliveryMetrics struct {
	*Metrics
	suppressed metric.Int64Counter
}

// Delivery registers the delivery instruments. backlog, called at each
// scrape, reports the undelivered outbox entries per receiver.
func (m *Metrics) Delivery(backlog func(ctx context.Context, observe func(receiver string, n int64))) (*DeliveryMetrics, error) {
	suppressed, err1 := m.meter.Int64Counter("vigia_alerts_suppressed",
		metric.WithDescription("Alerts not notified, per receiver and reason (silenced, inhibited, muted, duplicate)."))
	_, err2 := m.meter.Int64ObservableGauge("vigia_outbox_backlog",
		metric.WithDescription("Alerts waiting in the delivery outbox, per receiver."),
		metric.WithInt64Callback(func(ctx context.Context, o metric.Int64Observer) error {
			backlog(ctx, func(receiver string, n int64) {
				o.Observe(n, metric.WithAttributes(attribute.String("receiver", receiver)))
			})
			return nil
		}))
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return &DeliveryMetrics{Metrics: m, suppressed: suppressed}, nil
}

// Suppressed counts an alert a receiver did not notify, and why.
func (d *DeliveryMetrics) Suppressed(receiver, reason string) {
	d.suppressed.Add(context.Background(), 1, attrs("receiver", receiver, "reason", reason))
}
