package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/vigia-dev/vigia/internal/alert"
)

// Status of a notification's group.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Notification is one delivery to one receiver: news about one group of
// alerts (the alerts a route gathered under the same group labels).
type Notification struct {
	// ID is unique per notification and stable across retries and
	// restarts: an idempotency key where the receiver's API takes one.
	ID string `json:"id"`
	// Receiver is the receiver's name from the config.
	Receiver string `json:"receiver"`
	// GroupKey identifies the group, stable for its whole life: the
	// PagerDuty dedup_key, Opsgenie alias, the Jira label and ServiceNow
	// correlation_id derive from it, so repeats update instead of
	// duplicating.
	GroupKey string `json:"group_key"`
	// GroupLabels are the labels the group was formed on (rule, identity, …).
	GroupLabels map[string]string `json:"group_labels"`
	// Status is StatusFiring or StatusResolved (the group has been quiet
	// for the route's resolve_timeout, or was resolved by a person).
	Status string `json:"status"`
	// Alerts are the alerts new since the group's previous notification:
	// all of them in the first; none in a resolution.
	Alerts []*alert.Alert `json:"alerts"`
	// Total is the number of alerts the group has seen so far.
	Total int `json:"total"`
	// FirstTime and LastTime span the group's alerts.
	FirstTime time.Time `json:"first_time"`
	LastTime  time.Time `json:"last_time"`
	// Locale is the receiver's runbook locale ("" or "en", "pt-BR").
	Locale string `json:"locale,omitempty"`
}

// Severity returns the highest severity among the notification's alerts,
// or "" when it has none.
func (n *Notification) Severity() string {
	best := ""
	for _, a := range n.Alerts {
		if alert.SeverityRank(a.Rule.Severity) > alert.SeverityRank(best) {
			best = a.Rule.Severity
		}
	}
	return best
}

// State is what a receiver remembers about a group between its
// notifications: the Slack channel and message ts, the ticket key, the
// issue number. The delivery queue stores it durably per receiver and
// group, so repeats and resolutions update instead of duplicating, across
// restarts and replicas. Values are short strings; no secrets.
type State map[string]string

// Receiver delivers notifications to one destination. Each integration
// lives in its own package under notify/ and has this shape.
type Receiver interface {
	// Deliver sends n. prev is the group's state after its previous
	// delivery (empty for the first); Deliver returns the state to keep.
	// Errors are retried unless marked Permanent; a RetryAfterError says
	// how long to wait.
	Deliver(ctx context.Context, n *Notification, prev State) (State, error)
}

// ReceiverFunc adapts a function to Receiver.
type ReceiverFunc func(ctx context.Context, n *Notification, prev State) (State, error)

// Deliver calls f.
func (f ReceiverFunc) Deliver(ctx context.Context, n *Notification, prev State) (State, error) {
	return f(ctx, n, prev)
}

// PermanentError is a failure that retrying cannot fix (bad credentials,
// an unknown channel, a payload the API rejects): the notification goes to
// the delivery dead letter with this reason.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// HTTPError classifies an HTTP response the way every receiver should:
// 2xx is no error; 408, 429 and 5xx are retried (honouring Retry-After, in
// seconds or as an HTTP date, and X-RateLimit-Reset-style headers are the
// receiver's business); any other status is permanent. body is a short
// excerpt of the response for the error message — never echo request
// credentials into it.
func HTTPError(resp *http.Response, body string) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	err := fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
	switch {
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		if d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return &RetryAfterError{After: d, Err: err}
		}
		return err
	}
	return Permanent(err)
}

// ParseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
