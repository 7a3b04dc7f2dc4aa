package telemetry

import (
	"context"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// hotCounter is a counter for the per-message path: adding is an atomic
// increment on a value found by a read-locked map lookup (no allocation,
// no attribute set built per call); the values are reported at collection
// time through an observable counter. Labels are a fixed number of values
// for the counter's keys.
type hotCounter struct {
	keys []string
	mu   sync.RWMutex
	vals map[[2]string]*atomic.Int64
}

func (m *Metrics) newHotCounter(name, desc string, keys ...string) (*hotCounter, error) {
	c := &hotCounter{keys: keys, vals: map[[2]string]*atomic.Int64{}}
	_, err := m.meter.Int64ObservableCounter(name, metric.WithDescription(desc),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			c.mu.RLock()
			defer c.mu.RUnlock()
			for k, v := range c.vals {
				kv := make([]attribute.KeyValue, len(c.keys))
				for i, key := range c.keys {
					kv[i] = attribute.String(key, k[i])
				}
				o.Observe(v.Load(), metric.WithAttributes(kv...))
			}
			return nil
		}))
	return c, err
}

// add adds n for the label values a (and b, for two-key counters).
func (c *hotCounter) add(n int64, a, b string) {
	k := [2]string{a, b}
	c.mu.RLock()
	v := c.vals[k]
	c.mu.RUnlock()
	if v == nil {
		c.mu.Lock()
		if v = c.vals[k]; v == nil {
			v = new(atomic.Int64)
			c.vals[k] = v
		}
		c.mu.Unlock()
	}
	v.Add(n)
}
