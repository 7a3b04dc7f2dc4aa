package jira

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/vigia-dev/vigia/internal/notify"
)

var (
	_ notify.Acknowledger = (*Receiver)(nil)
	_ notify.Resolver     = (*Receiver)(nil)
	_ notify.Commenter    = (*Receiver)(nil)
)

// Acknowledge comments on the group's issue who acknowledged it, where and
// when, and applies acknowledge_transition when configured.
func (r *Receiver) Acknowledge(ctx context.Context, a *notify.Action, prev notify.State) (notify.State, error) {
	return r.act(ctx, a, prev, r.cfg.AcknowledgeTransition, "")
}

// Resolve comments on the group's issue who resolved it and applies
// resolve_transition when configured.
func (r *Receiver) Resolve(ctx context.Context, a *notify.Action, prev notify.State) (notify.State, error) {
	return r.act(ctx, a, prev, r.cfg.ResolveTransition, r.cfg.Resolution)
}

// Comment comments on the group's issue (a silence: who, until when).
func (r *Receiver) Comment(ctx context.Context, a *notify.Action, prev notify.State) (notify.State, error) {
	return r.act(ctx, a, prev, "", "")
}

// act finds the group's issue (the state's, else by its label), applies
// the transition when one is named, then comments. An issue that cannot
// be found is left alone.
func (r *Receiver) act(ctx context.Context, a *notify.Action, prev notify.State, transition, resolution string) (notify.State, error) {
	state := prev
	id := prev[StateID]
	if id == "" {
		id = prev[StateKey]
	}
	if id == "" {
		found, err := r.find(ctx, a.GroupKey)
		if err != nil || found == nil {
			return prev, err
		}
		id, state = found.ID, found.state()
	}
	var transErr error
	if transition != "" {
		status, err := r.transition(ctx, id, transition, resolution)
		switch {
		case status == http.StatusNotFound:
			return state, nil
		case errors.Is(err, errNoTransition):
			transErr = err
		case err != nil:
			return state, err
		}
	}
	status, err := r.comment(ctx, id, r.doc(actionBlocks(a)))
	if err != nil && status != http.StatusNotFound {
		return state, err
	}
	return state, notify.Permanent(transErr)
}

// doc renders blocks for the configured API version.
func (r *Receiver) doc(blocks []block) any {
	if r.cfg.APIVersion == 2 {
		return wiki(blocks)
	}
	return adf(blocks)
}

// actionBlocks is the comment recording an action: "Acknowledged by
// `actor` via slack at …", and the actor's note.
func actionBlocks(a *notify.Action) []block {
	verb := map[string]string{notify.ActionAcknowledge: "Acknowledged", notify.ActionResolve: "Resolved", notify.ActionSilence: "Silenced"}[a.Kind]
	line := []span{strong(verb), txt(" by "), code(ticket.Value(a.Actor, 200)), txt(" via " + ticket.Value(a.Source, 40) + " at " + a.At.UTC().Format(time.RFC3339))}
	if a.Kind == notify.ActionSilence && !a.Until.IsZero() {
		line = append(line, txt(" until "+a.Until.UTC().Format(time.RFC3339)))
	}
	line = append(line, txt(" (Vigia)."))
	out := []block{para(line...)}
	if a.Comment != "" {
		out = append(out, para(txt(ticket.Value(a.Comment, 2000))))
	}
	return out
}
