// Package normalize decodes raw source messages into normalized events.
//
// A message may pack many events (a Kubernetes EventList, a JSON array):
// each yields its own event, and one bad event in a batch does not lose the
// others — it is reported as an error beside the good ones.
package normalize

import (
	"errors"
	"fmt"

	"github.com/vigia-dev/vigia/internal/event"
)

// Sentinel errors; use errors.Is. Reason returns a short metric label.
var (
	// ErrNotJSON: the message is not valid JSON.
	ErrNotJSON = errors.New("not JSON")
	// ErrUnknownFormat: valid JSON, but not a format of the source.
	ErrUnknownFormat = errors.New("unknown format")
	// ErrInvalidEvent: the right format, but a required field is missing or malformed.
	ErrInvalidEvent = errors.New("invalid event")
)

// Reason returns a short, stable label for err: "not_json",
// "unknown_format", "invalid_event" or "error".
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrNotJSON):
		return "not_json"
	case errors.Is(err, ErrUnknownFormat):
		return "unknown_format"
	case errors.Is(err, ErrInvalidEvent):
		return "invalid_event"
	}
	return "error"
}

// Normalizer decodes one raw message.
type Normalizer interface {
	// Source is the source name the normalizer produces.
	Source() string
	// Normalize returns every event of msg, and an error for each part of
	// msg that could not be decoded. Both may be non-empty.
	Normalize(msg []byte) ([]*event.Event, []error)
}

// ItemError is the error of one item of a batch message.
type ItemError struct {
	Index int
	Err   error
}

func (e *ItemError) Error() string { return fmt.Sprintf("item %d: %v", e.Index, e.Err) }
func (e *ItemError) Unwrap() error { return e.Err }
