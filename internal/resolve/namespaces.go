package resolve

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/vigia-dev/vigia/internal/event"
)

// Namespaces learns namespaces' labels from Namespace objects in the audit
// stream (create, update, patch) so routes can match on the owning team,
// environment or data sensitivity (route.Owners). Labels given in the
// config take precedence over learned ones.
//
//	ns:NAME[@CLUSTER]  {"team":"payments","environment":"prod",…}
type Namespaces struct {
	store  Store
	ttl    time.Duration
	static map[string]map[string]string
	cache  *lru.LRU[string, map[string]string]
}

// NewNamespaces returns a namespace-label learner over store. static are
// the configured labels by namespace name.
func NewNamespaces(store Store, ttl time.Duration, static map[string]map[string]string) *Namespaces {
	if ttl <= 0 {
		ttl = 14 * 24 * time.Hour
	}
	return &Namespaces{store: store, ttl: ttl, static: static,
		cache: lru.NewLRU[string, map[string]string](4096, nil, time.Minute)}
}

// Learn records the labels of every successfully written Namespace object.
func (n *Namespaces) Learn(ctx context.Context, evs []*event.Event) error {
	var entries []Entry
	for _, ev := range evs {
		if ev.Source != event.SourceK8sAudit || ev.Target.Type != "namespaces" || ev.Target.Subresource != "" ||
			ev.Outcome != event.OutcomeSuccess || ev.K8s.Kind != "Namespace" || ev.Target.Name == "" {
			continue
		}
		switch ev.Action {
		case "create", "update", "patch":
		default:
			continue
		}
		v, err := json.Marshal(ev.K8s.Labels)
		if err != nil {
			continue
		}
		// Cloned: an event's strings may share one buffer with the whole
		// event, which the cache would otherwise keep alive.
		labels := make(map[string]string, len(ev.K8s.Labels))
		for k, v := range ev.K8s.Labels {
			labels[strings.Clone(k)] = strings.Clone(v)
		}
		for _, k := range n.keys(ev.K8s.Cluster, ev.Target.Name) {
			entries = append(entries, Entry{Key: k, Value: string(v), TTL: n.ttl})
			n.cache.Add(k, labels)
		}
	}
	if len(entries) == 0 {
		return nil
	}
	return n.store.Set(ctx, entries...)
}

func (n *Namespaces) keys(cluster, ns string) []string {
	if cluster == "" {
		return []string{"ns:" + ns}
	}
	return []string{"ns:" + ns + "@" + cluster, "ns:" + ns}
}

// NamespaceLabels implements route.Owners: the configured labels over the
// learned ones. A store error yields what is known without it.
func (n *Namespaces) NamespaceLabels(ctx context.Context, cluster, ns string) map[string]string {
	out := map[string]string{}
	for _, k := range n.keys(cluster, ns) {
		if l, ok := n.cache.Get(k); ok {
			for k, v := range l {
				out[k] = v
			}
			break
		}
		vals, err := n.store.Get(ctx, k)
		if err != nil || len(vals) == 0 || vals[0] == "" {
			continue
		}
		var l map[string]string
		if json.Unmarshal([]byte(vals[0]), &l) != nil {
			continue
		}
		n.cache.Add(k, l)
		for k, v := range l {
			out[k] = v
		}
		break
	}
	for k, v := range n.static[ns] {
		out[k] = v
	}
	return out
}
