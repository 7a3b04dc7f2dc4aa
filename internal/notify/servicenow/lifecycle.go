package servicenow

import (
	"context"
	"strconv"
	"time"

	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/render"
)

var (
	_ notify.Acknowledger = (*Receiver)(nil)
	_ notify.Resolver     = (*Receiver)(nil)
	_ notify.Commenter    = (*Receiver)(nil)
)

// Acknowledge adds a work note saying who acknowledged the group, where
// and when, and sets acknowledge_state when configured.
func (r *Receiver) Acknowledge(ctx context.Context, a *notify.Action, prev notify.State) (notify.State, error) {
	return r.act(ctx, a, prev, func(note string) map[string]any {
		body := map[string]any{"work_notes": note}
		if r.cfg.AcknowledgeState > 0 {
			body["state"] = strconv.Itoa(r.cfg.AcknowledgeState)
		}
		return body
	})
}

// Resolve sets the group's record to resolve_state, with the close code
// and who resolved it as the close notes.
func (r *Receiver) Resolve(ctx context.Context, a *notify.Action, prev notify.State) (notify.State, error) {
	return r.act(ctx, a, prev, func(note string) map[string]any {
		notes := note
		if r.cfg.CloseNotes != "" {
			notes = r.cfg.CloseNotes + "\n\n" + note
		}
		return map[string]any{
			"state":       strconv.Itoa(r.cfg.ResolveState),
			"close_code":  r.cfg.CloseCode,
			"close_notes": notes,
			"work_notes":  note,
		}
	})
}

// Comment adds a work note (a silence: who, until when).
func (r *Receiver) Comment(ctx context.Context, a *notify.Action, prev notify.State) (notify.State, error) {
	return r.act(ctx, a, prev, func(note string) map[string]any { return map[string]any{"work_notes": note} })
}

// act finds the group's open record (the state's, else by correlation id)
// and patches it with body(note). A record that is gone, closed or
// already resolved is left alone.
func (r *Receiver) act(ctx context.Context, a *notify.Action, prev notify.State, body func(note string) map[string]any) (notify.State, error) {
	state := prev
	var cur *record
	if sysID := prev[StateSysID]; sysID != "" {
		var err error
		if cur, err = r.get(ctx, sysID); err != nil {
			return prev, err
		}
	}
	if cur == nil {
		found, err := r.find(ctx, a.GroupKey)
		if err != nil || found == nil {
			return prev, err
		}
		cur, state = found, found.state()
	}
	if !cur.open() || cur.State == strconv.Itoa(r.cfg.ResolveState) {
		return state, nil
	}
	return state, r.patch(ctx, a.Kind+" "+cur.Number, cur.SysID, body(actionNote(a)))
}

// actionNote is the work note recording an action, plain text.
func actionNote(a *notify.Action) string {
	verb := map[string]string{notify.ActionAcknowledge: "Acknowledged", notify.ActionResolve: "Resolved", notify.ActionSilence: "Silenced"}[a.Kind]
	s := verb + " by " + render.Text(a.Actor, 200) + " via " + render.Text(a.Source, 40) + " at " + a.At.UTC().Format(time.RFC3339)
	if a.Kind == notify.ActionSilence && !a.Until.IsZero() {
		s += " until " + a.Until.UTC().Format(time.RFC3339)
	}
	s += " (Vigia)."
	if a.Comment != "" {
		s += "\n" + render.Text(a.Comment, 2000)
	}
	return s
}
