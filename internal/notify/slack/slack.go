// Package slack delivers alerts to a Slack channel through the Slack Web
// API (slack-go), as one incident thread per alert group:
//
//   - the group's first notification posts the parent message
//     (chat.postMessage): severity, summary, who/what/where/when, ATT&CK
//     techniques, the runbook's first triage steps in the receiver's locale
//     with a link to the whole runbook, the group's labels and counts;
//   - each later notification updates the parent (chat.update: total,
//     last seen, highest severity) and replies in its thread with the new
//     alerts; a reminder replies "still firing" to the channel;
//   - the resolution updates the parent (✅, resolved time) and says so in
//     the thread.
//
// The parent's channel id and ts, and what it needs to be redrawn, are the
// group's notify.State. Slack offers a bot no search by our group key, so
// when that state is lost (or the parent was deleted) the next
// notification starts a new parent instead of finding the old one.
//
// Calls that write to a channel are paced (about one per second per
// channel, with short bursts) and a 429 pauses the channel for its
// Retry-After. Every piece of event-derived text is redacted, escaped (&,
// <, >) so that an attacker who controls a user name, pod name or user
// agent cannot inject mentions (<!channel>, <@U…>) or links, and shown as
// inline code where it is an identifier, so mrkdwn formatting in it is
// inert. Texts are truncated to Slack's limits on rune boundaries.
package slack

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/slack-go/slack"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/runbook"
)

// Receiver posts alert groups to one Slack channel. It is safe for
// concurrent use.
type Receiver struct {
	cfg    Config
	books  *runbook.Library
	client *slack.Client
	pace   *pacer
	now    func() time.Time
}

// Notifier is the former name of Receiver, from when it only posted single
// alerts (Notify).
type Notifier = Receiver

var (
	_ notify.Receiver = (*Receiver)(nil)
	_ notify.Notifier = (*Receiver)(nil)
)

// State keys a Receiver keeps per group.
const (
	// StateChannel is the parent's channel id, StateTS its timestamp.
	StateChannel = "channel"
	StateTS      = "ts"
	// StateParent is what redraws the parent (JSON; redacted, bounded).
	StateParent = "parent"
)

// New returns a Receiver for cfg. books supplies the runbook steps shown in
// the messages; it may be nil, in which case only the runbook's title and
// link are shown.
func New(cfg Config, books *runbook.Library) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	client := slack.New(cfg.Token,
		slack.OptionAPIURL(cfg.APIURL),
		slack.OptionHTTPClient(&http.Client{Timeout: cfg.Timeout}),
	)
	return &Receiver{cfg: cfg, books: books, client: client, pace: shared, now: time.Now}, nil
}

// Deliver sends n as part of its group's incident thread; prev is the
// state returned for the group's previous notification.
//
//   - No parent in prev: post one (chat.postMessage) and return its
//     channel, ts and card as the new state.
//   - Otherwise: redraw the parent with the new counts (chat.update, which
//     may be repeated safely) and then reply in its thread — the one call
//     that must not be repeated comes last, so a failed delivery retried by
//     the dispatcher does not duplicate a reply.
//   - A parent that is gone (deleted, channel archived, bot removed) is
//     replaced by a new one in the configured channel.
//
// Errors are notify.Permanent for what retrying cannot fix (invalid_auth,
// channel_not_found, invalid_blocks, msg_too_long, …) and carry Slack's
// Retry-After as a notify.RetryAfterError on 429.
func (r *Receiver) Deliver(ctx context.Context, n *notify.Notification, prev notify.State) (notify.State, error) {
	if n == nil {
		return prev, nil
	}
	v := r.view(n)
	st := statusOf(n, r.now())
	st.people(prev)
	channel, ts := prev[StateChannel], prev[StateTS]
	if channel == "" || ts == "" {
		return r.open(ctx, n, st, v)
	}
	next := maps.Clone(prev)
	escalated := false
	if p := decodeParent(prev[StateParent]); p != nil {
		escalated = p.raise(n.Alerts)
		next[StateParent] = p.encode()
		err := r.update(ctx, channel, ts, parentFallback(p, st, v.l), r.parentBlocks(p, st, v))
		switch {
		case parentGone(err):
			return r.open(ctx, n, st, v)
		case err != nil:
			return nil, err
		}
	}
	blocks, fallback := replyBlocks(n, st, v)
	opts := []slack.MsgOption{slack.MsgOptionTS(ts), slack.MsgOptionText(fallback, false), slack.MsgOptionBlocks(blocks...)}
	if (len(n.Alerts) == 0 && !st.resolved && st.ackBy == "") || escalated {
		// Reminders and escalations are shown in the channel too; a
		// reminder of an acknowledged group stays in its thread.
		opts = append(opts, slack.MsgOptionBroadcast())
	}
	_, _, err := r.post(ctx, channel, opts...)
	switch {
	case parentGone(err):
		return r.open(ctx, n, st, v)
	case err != nil:
		return nil, err
	}
	return next, nil
}

// open posts a new parent for n's group in the configured channel.
func (r *Receiver) open(ctx context.Context, n *notify.Notification, st status, v view) (notify.State, error) {
	var blocks []slack.Block
	var fallback, snapshot string
	if p := newParent(n.Alerts); p != nil {
		blocks, fallback, snapshot = r.parentBlocks(p, st, v), parentFallback(p, st, v.l), p.encode()
	} else {
		blocks, fallback = groupBlocks(st, v)
	}
	channel, ts, err := r.post(ctx, r.cfg.Channel, slack.MsgOptionText(fallback, false), slack.MsgOptionBlocks(blocks...))
	if err != nil {
		return nil, err
	}
	state := notify.State{StateChannel: channel, StateTS: ts}
	if snapshot != "" {
		state[StateParent] = snapshot
	}
	return state, nil
}

func (r *Receiver) view(n *notify.Notification) view {
	locale := n.Locale
	if locale == "" {
		locale = r.cfg.Locale
	}
	return view{
		l: catalog(locale), locale: locale, baseURL: r.cfg.RunbookBaseURL, firstSteps: r.cfg.FirstSteps,
		groupKey: n.GroupKey, groupLabels: n.GroupLabels, interactive: r.cfg.Interactive,
	}
}

// post calls chat.postMessage, paced, and returns the channel id and ts.
func (r *Receiver) post(ctx context.Context, channel string, opts ...slack.MsgOption) (string, string, error) {
	if err := r.pace.wait(ctx, r.cfg.APIURL, channel, r.cfg.ChannelInterval, r.cfg.ChannelBurst); err != nil {
		return "", "", fmt.Errorf("slack: post to %s: %w", channel, err)
	}
	opts = append(opts, slack.MsgOptionDisableLinkUnfurl(), slack.MsgOptionDisableMediaUnfurl())
	id, ts, err := r.client.PostMessageContext(ctx, channel, opts...)
	if err != nil {
		return "", "", fmt.Errorf("slack: post to %s: %w", channel, r.classify(channel, err))
	}
	r.pace.learn(r.cfg.APIURL, channel, id)
	if id == "" {
		id = channel
	}
	return id, ts, nil
}

// update calls chat.update on the message channel/ts, paced.
func (r *Receiver) update(ctx context.Context, channel, ts, fallback string, blocks []slack.Block) error {
	if err := r.pace.wait(ctx, r.cfg.APIURL, channel, r.cfg.ChannelInterval, r.cfg.ChannelBurst); err != nil {
		return fmt.Errorf("slack: update %s %s: %w", channel, ts, err)
	}
	_, _, _, err := r.client.UpdateMessageContext(ctx, channel, ts, slack.MsgOptionText(fallback, false), slack.MsgOptionBlocks(blocks...))
	if err != nil {
		return fmt.Errorf("slack: update %s %s: %w", channel, ts, r.classify(channel, err))
	}
	return nil
}

// classify turns a slack-go error into the notify contract (Permanent,
// RetryAfterError) and pauses the channel on a 429.
func (r *Receiver) classify(channel string, err error) error {
	retry, err := Retryable(err)
	if d, ok := notify.RetryAfter(err); ok {
		r.pace.pause(r.cfg.APIURL, channel, d, r.cfg.ChannelInterval, r.cfg.ChannelBurst)
	}
	if !retry {
		return notify.Permanent(err)
	}
	return err
}

// goneCodes are the Slack errors that mean the parent message cannot be
// updated or replied to any more: deleted, not ours, too old to edit, or
// in a channel the bot can no longer write to.
var goneCodes = []string{
	"message_not_found", "thread_not_found", "cant_update_message", "edit_window_closed",
	"channel_not_found", "is_archived", "not_in_channel",
}

func parentGone(err error) bool {
	e, ok := errors.AsType[slack.SlackErrorResponse](err)
	return ok && slices.Contains(goneCodes, e.Err)
}

// Notify posts one message per alert, in order, unpaced and without
// threads: the delivery of single alerts kept for callers that have no
// group (notify.Alerts). Nil alerts are skipped.
//
// It stops at the first failure and reports whether retrying can help (see
// Retryable). The caller retries the whole call, so alerts posted before the
// failure are posted again: a retry may duplicate messages. Deliver, which
// keeps the group's thread in its state, does not.
func (n *Receiver) Notify(ctx context.Context, alerts ...*alert.Alert) (bool, error) {
	for i, a := range alerts {
		if a == nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			return true, fmt.Errorf("slack: alert %d of %d not sent: %w", i+1, len(alerts), err)
		}
		blocks := Blocks(a, n.books.Get(a.Runbook.Path), n.cfg.RunbookBaseURL, n.cfg.FirstSteps)
		_, _, err := n.client.PostMessageContext(ctx, n.cfg.Channel,
			slack.MsgOptionText(FallbackText(a), false),
			slack.MsgOptionBlocks(blocks...),
			slack.MsgOptionDisableLinkUnfurl(),
			slack.MsgOptionDisableMediaUnfurl(),
		)
		if err != nil {
			retry, err := Retryable(err)
			return retry, fmt.Errorf("slack: post alert %s (%d of %d) to %s: %w", a.ID, i+1, len(alerts), n.cfg.Channel, err)
		}
	}
	return false, nil
}

// retryableAPIErrors are the Slack API error codes documented as transient
// for chat.postMessage; every other code (invalid_auth, channel_not_found,
// not_in_channel, invalid_blocks, msg_too_long, ...) is permanent.
var retryableAPIErrors = []string{
	"ratelimited", "internal_error", "fatal_error", "service_unavailable",
	"request_timeout", "team_added_to_org",
}

// Retryable classifies an error returned by slack-go: whether retrying can
// help, and the error to return, wrapped in a *notify.RetryAfterError when
// Slack said how long to wait.
//
//   - *slack.RateLimitedError (HTTP 429 with Retry-After): retry, RetryAfterError.
//   - slack.StatusCodeError: retry on 5xx, 408 and 429 (429 without Retry-After).
//   - slack.SlackErrorResponse ({"ok":false,"error":code}): retry only for the
//     transient codes (internal_error, fatal_error, ratelimited, ...).
//   - network errors, timeouts, cancelled contexts and anything else that did
//     not come from Slack's answer: retry.
func Retryable(err error) (bool, error) {
	if err == nil {
		return false, nil
	}
	if e, ok := errors.AsType[*slack.RateLimitedError](err); ok {
		return true, &notify.RetryAfterError{After: e.RetryAfter, Err: err}
	}
	if e, ok := errors.AsType[slack.StatusCodeError](err); ok {
		c := e.Code
		return c >= 500 || c == http.StatusRequestTimeout || c == http.StatusTooManyRequests, err
	}
	if e, ok := errors.AsType[slack.SlackErrorResponse](err); ok {
		return slices.Contains(retryableAPIErrors, e.Err), err
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true, err
	}
	if _, ok := errors.AsType[*strconv.NumError](err); ok {
		// A 429 whose Retry-After slack-go could not parse.
		return true, err
	}
	// Context errors, truncated or non-JSON bodies (proxies), and the like.
	return true, err
}
