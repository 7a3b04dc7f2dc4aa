package github

import (
	"context"
	"fmt"
	"strconv"
	"time"

	gh "github.com/google/go-github/v84/github"

	"github.com/vigia-dev/vigia/internal/notify"
)

var (
	_ notify.Acknowledger = (*Receiver)(nil)
	_ notify.Resolver     = (*Receiver)(nil)
	_ notify.Commenter    = (*Receiver)(nil)
)

// Acknowledge comments on the group's issue who acknowledged it, where and
// when.
func (r *Receiver) Acknowledge(ctx context.Context, a *notify.Action, prev notify.State) (notify.State, error) {
	return r.act(ctx, a, prev, false)
}

// Resolve closes the group's issue as completed and comments who resolved
// it.
func (r *Receiver) Resolve(ctx context.Context, a *notify.Action, prev notify.State) (notify.State, error) {
	return r.act(ctx, a, prev, true)
}

// Comment comments on the group's issue (a silence: who, until when).
func (r *Receiver) Comment(ctx context.Context, a *notify.Action, prev notify.State) (notify.State, error) {
	return r.act(ctx, a, prev, false)
}

// act finds the group's issue (the state's, else the open one with the
// group's label), closes it when asked, then comments. An issue that
// cannot be found, or is gone, is left alone.
func (r *Receiver) act(ctx context.Context, a *notify.Action, prev notify.State, close bool) (notify.State, error) {
	st := prev
	number, _ := strconv.Atoi(prev[StateNumber])
	if number <= 0 {
		found, err := r.find(ctx, a.GroupKey)
		if err != nil || found == 0 {
			return prev, err
		}
		number, st = found, state(found)
	}
	if close {
		_, _, err := r.client.Issues.Edit(ctx, r.cfg.Owner, r.cfg.Repo, number, &gh.IssueRequest{
			State: gh.Ptr("closed"), StateReason: gh.Ptr("completed"),
		})
		if err = classify(fmt.Sprintf("close %s#%d", r.repo(), number), err); gone(err) {
			return st, nil
		} else if err != nil {
			return st, err
		}
	}
	err := r.comment(ctx, number, actionComment(a))
	if gone(err) {
		return st, nil
	}
	return st, err
}

// actionComment is the comment recording an action; the actor and note
// are escaped like every event-derived text.
func actionComment(a *notify.Action) string {
	verb := map[string]string{notify.ActionAcknowledge: "Acknowledged", notify.ActionResolve: "Resolved", notify.ActionSilence: "Silenced"}[a.Kind]
	s := "**" + verb + "** by " + code(a.Actor, 200, false) + " via " + code(a.Source, 40, false) + " at " + a.At.UTC().Format(time.RFC3339)
	if a.Kind == notify.ActionSilence && !a.Until.IsZero() {
		s += " until " + a.Until.UTC().Format(time.RFC3339)
	}
	s += " (Vigia)."
	if a.Comment != "" {
		s += "\n\n" + text(a.Comment, 2000)
	}
	return s
}
