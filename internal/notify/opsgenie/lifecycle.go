package opsgenie

import (
	"context"
	"maps"

	ogalert "github.com/opsgenie/opsgenie-go-sdk-v2/alert"

	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/render"
)

var (
	_ notify.Acknowledger = (*Receiver)(nil)
	_ notify.Resolver     = (*Receiver)(nil)
	_ notify.Commenter    = (*Receiver)(nil)
)

// maxUser is Opsgenie's limit on a request's user field.
const maxUser = 100

// Acknowledge acknowledges the group's alert by alias, naming the person
// as the user and saying who, where and when in the note.
func (r *Receiver) Acknowledge(ctx context.Context, a *notify.Action, prev notify.State) (notify.State, error) {
	alias := r.alias(a, prev)
	req := &ogalert.AcknowledgeAlertRequest{IdentifierType: ogalert.ALIAS, IdentifierValue: alias, Source: Source,
		User: render.Text(a.Actor, maxUser), Note: fitHTML(block(a.Text(), maxNote), maxNote)}
	return r.lifecycle(ctx, "acknowledge", alias, prev, func(ctx context.Context) (*ogalert.AsyncAlertResult, error) {
		return r.client.Acknowledge(ctx, req)
	})
}

// Resolve closes the group's alert by alias.
func (r *Receiver) Resolve(ctx context.Context, a *notify.Action, prev notify.State) (notify.State, error) {
	alias := r.alias(a, prev)
	req := &ogalert.CloseAlertRequest{IdentifierType: ogalert.ALIAS, IdentifierValue: alias, Source: Source,
		User: render.Text(a.Actor, maxUser), Note: fitHTML(block(a.Text(), maxNote), maxNote)}
	return r.lifecycle(ctx, "close", alias, prev, func(ctx context.Context) (*ogalert.AsyncAlertResult, error) {
		return r.client.Close(ctx, req)
	})
}

// Comment adds a note to the group's alert (a silence: who, until when).
func (r *Receiver) Comment(ctx context.Context, a *notify.Action, prev notify.State) (notify.State, error) {
	alias := r.alias(a, prev)
	req := &ogalert.AddNoteRequest{IdentifierType: ogalert.ALIAS, IdentifierValue: alias, Source: Source,
		User: render.Text(a.Actor, maxUser), Note: fitHTML(block(a.Text(), maxNote), maxNote)}
	return r.lifecycle(ctx, "add note to", alias, prev, func(ctx context.Context) (*ogalert.AsyncAlertResult, error) {
		return r.client.AddNote(ctx, req)
	})
}

func (r *Receiver) alias(a *notify.Action, prev notify.State) string {
	if alias := prev[StateAlias]; safeKey(alias, MaxAlias) {
		return alias
	}
	return notify.DedupKey(a.GroupKey)
}

func (r *Receiver) lifecycle(ctx context.Context, action, alias string, prev notify.State, call func(context.Context) (*ogalert.AsyncAlertResult, error)) (notify.State, error) {
	id, err := r.do(ctx, action, alias, call)
	if err != nil {
		return nil, err
	}
	next := maps.Clone(prev)
	if next == nil {
		next = notify.State{}
	}
	next[StateAlias], next[StateRequestID] = alias, id
	return next, nil
}
