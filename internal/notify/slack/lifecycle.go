package slack

import (
	"context"
	"maps"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/vigia-dev/vigia/internal/notify"
)

// State keys the lifecycle actions add to a group's State, so that later
// redraws of the parent (repeats, the resolution) keep showing them.
const (
	StateAckBy          = "ack_by"
	StateAckAt          = "ack_at"
	StateSilencedBy     = "silenced_by"
	StateSilencedUntil  = "silenced_until"
	StateResolvedBy     = "resolved_by"
	StateResolvedByTime = "resolved_at"
)

// Action ids of the parent's interactive elements (Config.Interactive).
// Buttons carry the group key as their value; the silence menu's options
// carry "GROUPKEY|DURATION". The interactivity endpoint
// (internal/lifecycle) reads them back.
const (
	ActionIDAcknowledge = "vigia_ack"
	ActionIDResolve     = "vigia_resolve"
	ActionIDSilence1h   = "vigia_silence_1h"
	ActionIDSilence24h  = "vigia_silence_24h"
	ActionIDSilenceFor  = "vigia_silence_for"
	// BlockIDActions is the actions block's id.
	BlockIDActions = "vigia_lifecycle"
)

// SilenceChoices are the durations the parent's "Silence for…" menu
// offers, besides the 1 h and 24 h buttons.
var SilenceChoices = []time.Duration{4 * time.Hour, 8 * time.Hour, 72 * time.Hour, 168 * time.Hour}

var (
	_ notify.Acknowledger = (*Receiver)(nil)
	_ notify.Resolver     = (*Receiver)(nil)
	_ notify.Commenter    = (*Receiver)(nil)
)

// Acknowledge redraws the group's parent with who acknowledged it and when
// (the Acknowledge button goes) and says so in its thread.
func (r *Receiver) Acknowledge(ctx context.Context, a *notify.Action, prev notify.State) (notify.State, error) {
	return r.act(ctx, a, prev)
}

// Resolve redraws the parent as resolved by the person (buttons removed)
// and says so in its thread.
func (r *Receiver) Resolve(ctx context.Context, a *notify.Action, prev notify.State) (notify.State, error) {
	return r.act(ctx, a, prev)
}

// Comment records a silence (who, until when) on the parent and in its
// thread.
func (r *Receiver) Comment(ctx context.Context, a *notify.Action, prev notify.State) (notify.State, error) {
	return r.act(ctx, a, prev)
}

// act applies a to the parent named by prev. The parent is redrawn first
// (chat.update, safe to repeat), the thread reply comes last.
func (r *Receiver) act(ctx context.Context, a *notify.Action, prev notify.State) (notify.State, error) {
	channel, ts := prev[StateChannel], prev[StateTS]
	if a == nil || channel == "" || ts == "" {
		return prev, nil
	}
	next := maps.Clone(prev)
	at := a.At.UTC().Format(time.RFC3339)
	actor := render1(a.Actor)
	switch a.Kind {
	case notify.ActionAcknowledge:
		next[StateAckBy], next[StateAckAt] = actor, at
	case notify.ActionResolve:
		next[StateResolvedBy], next[StateResolvedByTime] = actor, at
	case notify.ActionSilence:
		next[StateSilencedBy], next[StateSilencedUntil] = actor, a.Until.UTC().Format(time.RFC3339)
	default:
		return prev, nil
	}
	v := r.view(&notify.Notification{GroupKey: a.GroupKey, GroupLabels: a.GroupLabels, Locale: a.Locale})
	st := status{total: a.Total, first: a.FirstTime, last: a.LastTime}
	if a.Kind == notify.ActionResolve {
		st.resolved, st.resolvedAt = true, a.At
	}
	st.people(next)
	if p := decodeParent(prev[StateParent]); p != nil {
		err := r.update(ctx, channel, ts, parentFallback(p, st, v.l), r.parentBlocks(p, st, v))
		switch {
		case parentGone(err):
			return next, nil
		case err != nil:
			return nil, err
		}
	}
	line := actionLine(a, v.l)
	_, _, err := r.post(ctx, channel, slack.MsgOptionTS(ts), slack.MsgOptionText(line, false),
		slack.MsgOptionBlocks(slack.NewSectionBlock(mrkdwn(line), nil, nil)))
	switch {
	case parentGone(err):
		return next, nil
	case err != nil:
		return nil, err
	}
	return next, nil
}

// render1 keeps an actor's name to one clean line of bounded length for
// the state; it is escaped when drawn.
func render1(s string) string {
	s = strings.TrimSpace(clean(s))
	if r := []rune(s); len(r) > 120 {
		s = string(r[:119]) + ellipsis
	}
	return s
}

// people fills the status with the lifecycle facts kept in state.
func (st *status) people(state notify.State) {
	st.ackBy = state[StateAckBy]
	st.ackAt, _ = time.Parse(time.RFC3339, state[StateAckAt])
	st.silencedBy = state[StateSilencedBy]
	st.silencedUntil, _ = time.Parse(time.RFC3339, state[StateSilencedUntil])
	if by := state[StateResolvedBy]; by != "" {
		st.resolvedBy = by
		if t, err := time.Parse(time.RFC3339, state[StateResolvedByTime]); err == nil {
			st.resolved, st.resolvedAt = true, t
		}
	}
}

// lifecycleLine is the status line's part about people: acknowledged by,
// silenced until; "" when nobody acted.
func lifecycleLine(st status, l *labels) string {
	var parts []string
	if st.resolvedBy != "" {
		parts = append(parts, escape(l.by)+" "+code(st.resolvedBy, 130))
	}
	if st.ackBy != "" && !st.resolved {
		parts = append(parts, ":eyes: *"+escape(l.acknowledged)+"* "+escape(l.by)+" "+code(st.ackBy, 130)+" `"+stamp(st.ackAt)+"`")
	}
	if st.silencedBy != "" && !st.resolved {
		parts = append(parts, ":no_bell: *"+escape(l.silenced)+"* "+escape(l.until)+" `"+stamp(st.silencedUntil)+"` "+escape(l.by)+" "+code(st.silencedBy, 130))
	}
	return strings.Join(parts, " · ")
}

// actionLine is the thread reply recording an action.
func actionLine(a *notify.Action, l *labels) string {
	var s string
	switch a.Kind {
	case notify.ActionAcknowledge:
		s = ":eyes: *" + escape(l.acknowledged) + "*"
	case notify.ActionResolve:
		s = "✅ *" + escape(l.resolved) + "*"
	case notify.ActionSilence:
		s = ":no_bell: *" + escape(l.silenced) + "* " + escape(l.until) + " `" + stamp(a.Until) + "`"
	}
	s += " " + escape(l.by) + " " + code(render1(a.Actor), 130) + " `" + stamp(a.At) + "` (" + escape(clean(a.Source)) + ")"
	if c := strings.TrimSpace(a.Comment); c != "" {
		s += "\n> " + summary(c, 1000)
	}
	return s
}

// actionsBlock is the parent's buttons: Acknowledge (until someone did),
// Resolve (with a confirmation), Silence 1 h and 24 h, and a menu of
// longer silences. Values carry the group key, never anything secret.
func actionsBlock(st status, v view) slack.Block {
	key := v.groupKey
	plain := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
	}
	var els []slack.BlockElement
	if st.ackBy == "" {
		ack := slack.NewButtonBlockElement(ActionIDAcknowledge, key, plain(v.l.acknowledge))
		ack.Style = slack.StylePrimary
		els = append(els, ack)
	}
	res := slack.NewButtonBlockElement(ActionIDResolve, key, plain(v.l.resolve))
	res.Style = slack.StyleDanger
	res.Confirm = slack.NewConfirmationBlockObject(plain(v.l.resolve), plain(v.l.resolveConfirm), plain(v.l.resolve), plain(v.l.cancel))
	els = append(els, res,
		slack.NewButtonBlockElement(ActionIDSilence1h, key, plain(v.l.silenceFor("1h"))),
		slack.NewButtonBlockElement(ActionIDSilence24h, key, plain(v.l.silenceFor("24h"))),
	)
	opts := make([]*slack.OptionBlockObject, 0, len(SilenceChoices))
	for _, d := range SilenceChoices {
		opts = append(opts, slack.NewOptionBlockObject(key+"|"+d.String(), plain(v.l.silenceFor(shortDuration(d))), nil))
	}
	sel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain(v.l.silenceMenu), ActionIDSilenceFor, opts...)
	els = append(els, sel)
	return slack.NewActionBlock(BlockIDActions, els...)
}

// shortDuration renders whole hours as "4h", whole days as "3d".
func shortDuration(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strings.TrimSuffix(time.Duration(d/(24*time.Hour)).String(), "ns") + "d"
	}
	if d%time.Hour == 0 {
		return strings.TrimSuffix(time.Duration(d/time.Hour).String(), "ns") + "h"
	}
	return d.String()
}
