package notify

import (
	"context"
	"fmt"
	"time"
)

// Kinds of Action.
const (
	ActionAcknowledge = "acknowledge"
	ActionResolve     = "resolve"
	ActionSilence     = "silence"
)

// Sources of an Action: where the person acted.
const (
	SourceSlack     = "slack"
	SourcePagerDuty = "pagerduty"
	SourceCLI       = "cli"
)

// Action is a person's decision about a group's incident — acknowledged,
// resolved, silenced — as a receiver reflects it on the incident it keeps
// for the group (the Slack message, the page, the ticket). The
// internal/lifecycle package builds one per receiver group it fans out to.
// No field holds a secret.
type Action struct {
	// Kind is ActionAcknowledge, ActionResolve or ActionSilence.
	Kind string
	// Actor is who acted, as shown to people ("Ana Souza (U024BE7LH)");
	// free text from Slack or PagerDuty: receivers escape it.
	Actor string
	// Source is where: SourceSlack, SourcePagerDuty or SourceCLI.
	Source string
	// At is when.
	At time.Time
	// Until is when a silence ends (ActionSilence only).
	Until time.Time
	// Comment is the actor's optional note.
	Comment string
	// GroupKey and GroupLabels are the receiver's own group (the key its
	// DedupKey, alias, label or correlation id derive from).
	GroupKey    string
	GroupLabels map[string]string
	// Locale is the receiver's locale, as in Notification.
	Locale string
	// Total, FirstTime and LastTime are the group's counts so far, for
	// receivers that redraw the incident (the Slack parent message).
	Total               int
	FirstTime, LastTime time.Time
}

// Text describes a in one English line, for notes and comments:
// "Acknowledged by Ana (U024BE7LH) via slack at 2026-03-10T22:00:00Z."
// The actor and comment are included as given: callers clean and escape
// for their target.
func (a *Action) Text() string {
	verb := map[string]string{ActionAcknowledge: "Acknowledged", ActionResolve: "Resolved", ActionSilence: "Silenced"}[a.Kind]
	if verb == "" {
		verb = "Updated"
	}
	s := fmt.Sprintf("%s by %s via %s at %s", verb, a.Actor, a.Source, a.At.UTC().Format(time.RFC3339))
	if a.Kind == ActionSilence && !a.Until.IsZero() {
		s += fmt.Sprintf(" until %s", a.Until.UTC().Format(time.RFC3339))
	}
	s += "."
	if a.Comment != "" {
		s += " " + a.Comment
	}
	return s
}

// The lifecycle interfaces are optional: a receiver implements the ones
// its destination supports, and internal/lifecycle calls each receiver of
// a group that implements the one an action needs. Like Deliver, each
// takes the group's state after its last delivery and returns the state to
// keep; errors follow Deliver's contract (Permanent, RetryAfterError). A
// group whose incident the receiver cannot find (no state, ticket deleted)
// is left alone without error.

// Acknowledger marks a group's incident acknowledged: the page stops
// escalating, the ticket notes who took it.
type Acknowledger interface {
	Acknowledge(ctx context.Context, a *Action, prev State) (State, error)
}

// Resolver resolves a group's incident at a person's request: the page is
// resolved, the alert closed, the ticket closed or transitioned.
type Resolver interface {
	Resolve(ctx context.Context, a *Action, prev State) (State, error)
}

// Commenter notes an action the receiver has no state for (a silence; an
// acknowledgement where the destination knows none) on the incident: a
// note, a comment, a line in the message.
type Commenter interface {
	Comment(ctx context.Context, a *Action, prev State) (State, error)
}
