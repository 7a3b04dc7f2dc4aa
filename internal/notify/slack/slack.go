// Package slack delivers alerts to a Slack channel as Block Kit messages,
// one chat.postMessage per alert, through the Slack Web API (slack-go).
//
// Every piece of event-derived text is escaped (&, <, >) so that an
// attacker who controls a user name, pod name or user agent cannot inject
// mentions (<!channel>, <@U…>) or links, and identities and names are shown
// as inline code so mrkdwn formatting in them is inert. Texts are truncated
// to Slack's limits on rune boundaries.
package slack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"

	"github.com/slack-go/slack"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/runbook"
)

// Notifier posts alerts to one Slack channel. It is safe for concurrent use.
type Notifier struct {
	cfg    Config
	books  *runbook.Library
	client *slack.Client
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Notifier for cfg. books supplies the runbook steps shown in
// the message; it may be nil, in which case only the runbook path is shown.
func New(cfg Config, books *runbook.Library) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	client := slack.New(cfg.Token,
		slack.OptionAPIURL(cfg.APIURL),
		slack.OptionHTTPClient(&http.Client{Timeout: cfg.Timeout}),
	)
	return &Notifier{cfg: cfg, books: books, client: client}, nil
}

// Notify posts one message per alert, in order. Nil alerts are skipped.
//
// It stops at the first failure and reports whether retrying can help (see
// Retryable). The caller retries the whole call, so alerts posted before the
// failure are posted again: a retry may duplicate messages. (Deduplication by
// stored message ts, updating instead of reposting, is future work.)
func (n *Notifier) Notify(ctx context.Context, alerts ...*alert.Alert) (bool, error) {
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
