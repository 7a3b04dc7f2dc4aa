// Package notify defines the receiver contract. Each integration lives in
// its own package under notify/ (notify/console, notify/slack, ...) and
// implements Notifier.
package notify

import (
	"context"
	"errors"
	"time"

	"github.com/vigia-dev/vigia/internal/alert"
)

// Notifier delivers alerts to one receiver.
type Notifier interface {
	// Notify delivers the alerts. When it fails, retry reports whether
	// trying again may succeed (rate limits, timeouts, 5xx); a false retry
	// means the failure is permanent (bad token, unknown channel).
	Notify(ctx context.Context, alerts ...*alert.Alert) (retry bool, err error)
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, alerts ...*alert.Alert) (bool, error)

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, alerts ...*alert.Alert) (bool, error) {
	return f(ctx, alerts...)
}

// RetryAfterError is returned by a notifier that was told by the receiver
// how long to wait (HTTP 429 Retry-After).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter returns the wait asked for by err, if any.
func RetryAfter(err error) (time.Duration, bool) {
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return ra.After, true
	}
	return 0, false
}

// Alerts adapts a Notifier, which knows only single alerts, to Receiver:
// each notification's alerts are notified in order; resolutions and
// reminders carry no alert and are not shown.
func Alerts(n Notifier) Receiver {
	return ReceiverFunc(func(ctx context.Context, nt *Notification, prev State) (State, error) {
		if len(nt.Alerts) == 0 {
			return prev, nil
		}
		retry, err := n.Notify(ctx, nt.Alerts...)
		if err != nil && !retry {
			return nil, Permanent(err)
		}
		return prev, err
	})
}
