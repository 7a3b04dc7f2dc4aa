package resolve

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/redistest"
)

func nsEvent(action, outcome, name string, labels map[string]string) *event.Event {
	ev := &event.Event{Source: event.SourceK8sAudit, Action: action, Outcome: outcome}
	ev.Target.Type, ev.Target.Name = "namespaces", name
	ev.K8s.Kind, ev.K8s.Labels, ev.K8s.Cluster = "Namespace", labels, "prod"
	return ev
}

func TestNamespacesLearned(t *testing.T) {
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: redistest.Start(t)})
	defer c.Close()
	for name, store := range map[string]Store{"memory": NewMemory(100), "redis": NewRedis(c, "t:")} {
		t.Run(name, func(t *testing.T) {
			learner := NewNamespaces(store, time.Hour, map[string]map[string]string{"ledger": {"sensitivity": "pci"}})
			err := learner.Learn(ctx, []*event.Event{
				nsEvent("create", event.OutcomeSuccess, "ledger", map[string]string{"team": "payments", "sensitivity": "low"}),
				nsEvent("create", event.OutcomeFailure, "web", map[string]string{"team": "mallory"}), // denied: teaches nothing
				nsEvent("get", event.OutcomeSuccess, "shop", map[string]string{"team": "shop"}),      // a read: teaches nothing
			})
			if err != nil {
				t.Fatal(err)
			}
			// A second replica sharing the store sees the labels too.
			other := NewNamespaces(store, time.Hour, nil)
			if got := other.NamespaceLabels(ctx, "prod", "ledger"); got["team"] != "payments" {
				t.Errorf("other replica: %v", got)
			}
			got := learner.NamespaceLabels(ctx, "prod", "ledger")
			if got["team"] != "payments" || got["sensitivity"] != "pci" {
				t.Errorf("ledger: %v (config wins over learned)", got)
			}
			if got := learner.NamespaceLabels(ctx, "prod", "web"); len(got) != 0 {
				t.Errorf("web learned from a failed request: %v", got)
			}
			if got := learner.NamespaceLabels(ctx, "", "shop"); len(got) != 0 {
				t.Errorf("shop learned from a read: %v", got)
			}
		})
	}
}
