package pagerduty

import (
	"context"

	"github.com/PagerDuty/go-pagerduty"

	"github.com/vigia-dev/vigia/internal/notify"
)

var (
	_ notify.Acknowledger = (*Receiver)(nil)
	_ notify.Resolver     = (*Receiver)(nil)
)

// Acknowledge sends an Events API v2 acknowledge for the group's dedup key:
// PagerDuty stops escalating the alert. (The Events API carries no author;
// PagerDuty shows the integration as the acknowledger.)
func (r *Receiver) Acknowledge(ctx context.Context, a *notify.Action, prev notify.State) (notify.State, error) {
	return r.lifecycle(ctx, "acknowledge", a, prev)
}

// Resolve sends a resolve for the group's dedup key.
func (r *Receiver) Resolve(ctx context.Context, a *notify.Action, prev notify.State) (notify.State, error) {
	return r.lifecycle(ctx, "resolve", a, prev)
}

func (r *Receiver) lifecycle(ctx context.Context, action string, a *notify.Action, prev notify.State) (notify.State, error) {
	key := prev[StateDedupKey]
	if !safeKey(key, MaxDedupKey) {
		key = notify.DedupKey(a.GroupKey)
	}
	if err := r.send(ctx, &pagerduty.V2Event{RoutingKey: r.key, DedupKey: key, Action: action}); err != nil {
		return nil, err
	}
	next := notify.State{StateDedupKey: key}
	for k, v := range prev {
		if k != StateDedupKey {
			next[k] = v
		}
	}
	return next, nil
}
