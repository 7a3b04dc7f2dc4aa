// Package route decides where alerts go and delivers them.
//
// The Router is the pipeline's last synchronous stage: it labels each
// alert, walks the routing tree (Alertmanager's semantics: matchers,
// continue, inherited settings), and writes one outbox entry per matched
// route and receiver. Once Route returns, the alerts are durable and the
// Kafka offset may be committed. A Dispatcher per receiver then claims the
// entries, gathers them into groups (group_by, group_wait,
// group_interval), drops what silences, inhibit rules and mute time
// intervals suppress, and delivers one notification per group with
// retries, remembering the receiver's state (thread, ticket) so repeats
// and the final resolution update the same incident.
package route

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/outbox"
	"github.com/vigia-dev/vigia/internal/telemetry"
)

// Owners returns the labels of a namespace's owner (team, environment,
// data sensitivity …): learned from Namespace objects in the audit stream
// or given in the config. Route matchers see them as ns_<key>.
type Owners interface {
	NamespaceLabels(ctx context.Context, cluster, namespace string) map[string]string
}

// Metrics receives routing and delivery outcomes; may be nil.
type Metrics interface {
	// Sent counts notifications delivered, SendFailed the ones given up
	// on (dead-lettered).
	Sent(receiver string)
	SendFailed(receiver string)
	// Suppressed counts alerts not notified: reason is "silenced",
	// "inhibited", "muted" or "duplicate".
	Suppressed(receiver, reason string)
}

// Router labels and routes alerts into the outbox.
type Router struct {
	tree        *Tree
	queue       outbox.Queue
	owners      Owners
	minSeverity int
	log         *slog.Logger
	recent      *recent
	now         func() time.Time
}

// Config configures a Router.
type Config struct {
	Tree  *Tree
	Queue outbox.Queue
	// Owners, when set, adds namespace owner labels (ns_<key>).
	Owners Owners
	// MinSeverity drops alerts below it. Default: info.
	MinSeverity string
	Logger      *slog.Logger
}

// New returns a router.
func New(cfg Config) *Router {
	r := &Router{
		tree:        cfg.Tree,
		queue:       cfg.Queue,
		owners:      cfg.Owners,
		minSeverity: max(alert.SeverityRank(cfg.MinSeverity), 0),
		log:         cfg.Logger,
		recent:      newRecent(recentAlerts),
		now:         time.Now,
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	return r
}

// Route writes the alerts' outbox entries. It returns nil once they are
// durable; an error means the caller must not consider the alerts handled
// (the Kafka message is retried).
func (r *Router) Route(ctx context.Context, alerts []*alert.Alert) error {
	var entries []*outbox.Entry
	var ids []string
	now := r.now()
	var tc map[string]string
	if trace.SpanContextFromContext(ctx).IsValid() {
		tc = map[string]string{}
		telemetry.Propagator.Inject(ctx, propagation.MapCarrier(tc))
	}
	for _, a := range alerts {
		if alert.SeverityRank(a.Rule.Severity) < r.minSeverity || r.recent.has(a.ID) {
			continue
		}
		ids = append(ids, a.ID)
		a.Labels = r.labels(ctx, a)
		for _, n := range r.tree.Match(a.Labels) {
			gl := n.GroupLabels(a.Labels)
			for _, rc := range n.Receivers {
				entries = append(entries, &outbox.Entry{
					Receiver:    rc,
					Route:       n.ID,
					GroupKey:    GroupKey(rc, n.ID, gl),
					GroupLabels: gl,
					Alert:       a,
					Enqueued:    now,
					Trace:       tc,
				})
			}
		}
	}
	if len(entries) > 0 {
		if err := r.queue.Enqueue(ctx, entries...); err != nil {
			return err
		}
	}
	for _, id := range ids {
		r.recent.add(id)
	}
	return nil
}

func (r *Router) labels(ctx context.Context, a *alert.Alert) map[string]string {
	l := a.BaseLabels()
	for k, v := range a.Labels {
		l[k] = v
	}
	if r.owners != nil && a.Entity.Namespace != "" {
		for k, v := range r.owners.NamespaceLabels(ctx, a.Context.Cluster, a.Entity.Namespace) {
			l["ns_"+labelName(k)] = v
		}
	}
	return l
}

// labelName turns a Kubernetes label key (app.kubernetes.io/team) into a
// label name matchers can use (app_kubernetes_io_team).
func labelName(k string) string {
	b := []byte(k)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// recentAlerts is how many routed alert ids the router remembers.
const recentAlerts = 1 << 16

// recent remembers the ids of recently routed alerts, so that one event
// reported twice (an exec's ResponseStarted and ResponseComplete stages
// share an auditID, hence an alert id) notifies once. Bounded: the oldest
// id is forgotten first. Across restarts the group state's Seen ids take
// over.
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
