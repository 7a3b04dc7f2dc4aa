package telemetry

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/metric"
)

// correlationInstruments are created on first use, so processes without
// correlation rules export none.
type correlationInstruments struct {
	updates, fired, late, ungrouped, errors metric.Int64Counter
}

var corrOnce sync.Map // *Metrics → *correlationInstruments

func (m *Metrics) corr() *correlationInstruments {
	if v, ok := corrOnce.Load(m); ok {
		return v.(*correlationInstruments)
	}
	c := func(name, desc string) metric.Int64Counter {
		ctr, _ := m.meter.Int64Counter(name, metric.WithDescription(desc))
		return ctr
	}
	ci := &correlationInstruments{
		updates:   c("vigia_correlation_updates", "Correlation window and first-seen updates."),
		fired:     c("vigia_correlation_alerts", "Correlation alerts raised, per rule."),
		late:      c("vigia_correlation_late_events", "Rule matches left out of correlation windows because they trailed their source's newest event by more than correlation.lateness, per correlation rule."),
		ungrouped: c("vigia_correlation_ungrouped", "Rule matches a correlation could not group (an empty group-by or value field), per correlation rule."),
		errors:    c("vigia_correlation_errors", "Correlation store failures (retried), per operation."),
	}
	v, _ := corrOnce.LoadOrStore(m, ci)
	return v.(*correlationInstruments)
}

// CorrelationUpdates counts window and first-seen updates.
func (m *Metrics) CorrelationUpdates(n int) { m.corr().updates.Add(context.Background(), int64(n)) }

// CorrelationFired counts a correlation alert.
func (m *Metrics) CorrelationFired(rule string) {
	m.corr().fired.Add(context.Background(), 1, attrs("rule", rule))
}

// CorrelationLate counts a match too late for its correlation's windows.
func (m *Metrics) CorrelationLate(rule string) {
	m.corr().late.Add(context.Background(), 1, attrs("rule", rule))
}

// CorrelationUngrouped counts a match without group values.
func (m *Metrics) CorrelationUngrouped(rule string) {
	m.corr().ungrouped.Add(context.Background(), 1, attrs("rule", rule))
}

// CorrelationError counts a correlation store failure.
func (m *Metrics) CorrelationError(op string) {
	m.corr().errors.Add(context.Background(), 1, attrs("op", op))
}
