// Package route decides which receivers get an alert and delivers it,
// retrying what can be retried.
package route

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
)

// Receiver is a named notifier.
type Receiver struct {
	Name     string
	Notifier notify.Notifier
}

// Metrics receives delivery outcomes; may be nil.
type Metrics interface {
	Sent(receiver string)
	SendFailed(receiver string)
}

// Router delivers alerts to its receivers.
type Router struct {
	receivers   []Receiver
	minSeverity int
	// retryTimeout bounds the retries of one delivery.
	retryTimeout time.Duration
	// backoff bounds, exposed for tests.
	minBackoff, maxBackoff time.Duration
	metrics                Metrics
	log                    *slog.Logger
	recent                 *recent
}

// Config configures a Router.
type Config struct {
	Receivers []Receiver
	// MinSeverity drops alerts below it. Default: info.
	MinSeverity string
	// RetryTimeout bounds the retries of one delivery. Default: 5m.
	RetryTimeout time.Duration
	// MinBackoff and MaxBackoff bound the exponential backoff between
	// retries. Default: 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	Metrics                Metrics
	Logger                 *slog.Logger
}

// New returns a router.
func New(cfg Config) *Router {
	r := &Router{
		receivers:    cfg.Receivers,
		minSeverity:  max(alert.SeverityRank(cfg.MinSeverity), 0),
		retryTimeout: cfg.RetryTimeout,
		minBackoff:   cfg.MinBackoff,
		maxBackoff:   cfg.MaxBackoff,
		metrics:      cfg.Metrics,
		log:          cfg.Logger,
		recent:       newRecent(recentAlerts),
	}
	if r.retryTimeout <= 0 {
		r.retryTimeout = 5 * time.Minute
	}
	if r.minBackoff <= 0 {
		r.minBackoff = 500 * time.Millisecond
	}
	if r.maxBackoff <= 0 {
		r.maxBackoff = 30 * time.Second
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	return r
}

// Route delivers alerts to every receiver, concurrently across receivers
// and in order within one. It returns when every delivery succeeded or
// gave up; it returns an error only when ctx ended first, in which case
// the caller must not consider the alerts handled.
func (r *Router) Route(ctx context.Context, alerts []*alert.Alert) error {
	var keep []*alert.Alert
	for _, a := range alerts {
		if alert.SeverityRank(a.Rule.Severity) >= r.minSeverity && !r.recent.has(a.ID) {
			keep = append(keep, a)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	var wg sync.WaitGroup
	errs := make([]error, len(r.receivers))
	for i, rc := range r.receivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, a := range keep {
				if err := r.deliver(ctx, rc, a); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, a := range keep {
		r.recent.add(a.ID)
	}
	return nil
}

// recentAlerts is how many routed alert ids the router remembers.
const recentAlerts = 1 << 16

// recent remembers the ids of recently routed alerts, so that one event
// reported twice (an exec's ResponseStarted and ResponseComplete stages
// share an auditID, hence an alert id) notifies once. Bounded: the oldest
// id is forgotten first. Durable, cross-restart deduplication belongs to
// the delivery store.
type recent struct {
	mu   sync.Mutex
	ids  map[string]struct{}
	ring []string
	next int
}

func newRecent(n int) *recent {
	return &recent{ids: make(map[string]struct{}, n), ring: make([]string, n)}
}

func (r *recent) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.ids[id]
	return ok
}

func (r *recent) add(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.ids[id]; ok {
		return
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.ids, old)
	}
	r.ring[r.next] = id
	r.ids[id] = struct{}{}
	r.next = (r.next + 1) % len(r.ring)
}

// deliver sends one alert to one receiver with retries. It returns an
// error only when ctx ended.
func (r *Router) deliver(ctx context.Context, rc Receiver, a *alert.Alert) error {
	deadline := time.Now().Add(r.retryTimeout)
	backoff := r.minBackoff
	for attempt := 1; ; attempt++ {
		retry, err := rc.Notifier.Notify(ctx, a)
		if err == nil {
			if r.metrics != nil {
				r.metrics.Sent(rc.Name)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := backoff + rand.N(backoff/2+1) // jitter
		if ra, ok := notify.RetryAfter(err); ok {
			wait = ra
		}
		if !retry || time.Now().Add(wait).After(deadline) {
			if r.metrics != nil {
				r.metrics.SendFailed(rc.Name)
			}
			r.log.Error("alert not delivered", "receiver", rc.Name, "alert", a.ID, "rule", a.Rule.ID,
				"attempts", attempt, "permanent", !retry, "err", err)
			return nil
		}
		r.log.Warn("alert delivery failed, retrying", "receiver", rc.Name, "alert", a.ID, "attempt", attempt, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, r.maxBackoff)
	}
}
