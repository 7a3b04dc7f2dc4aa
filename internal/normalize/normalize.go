// Package normalize decodes raw source messages into normalized events.
//
// A message may pack many events (a Kubernetes EventList, a JSON array):
// each yields its own event, and one bad event in a batch does not lose the
// others — it is reported as an error beside the good ones.
package normalize

import (
	"errors"
	"fmt"
	"github.com/valyala/fastjson"

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
	// Source is the format name the normalizer decodes: a source name
	// (event.Sources) or "auto".
	Source() string
	// Normalize returns every event of msg, and an error for each part of
	// msg that could not be decoded. Both may be non-empty.
	Normalize(msg []byte, m Meta) ([]*event.Event, []error)
}

// Meta is what is known about a message besides its bytes.
type Meta struct {
	// Topic is the Kafka topic the message came from, if any.
	Topic string
	// File is the file the message was read from (vigia replay). Container
	// log lines take pod, namespace and container from a kubelet log file
	// name (POD_NAMESPACE_CONTAINER-ID.log).
	File string
}

// Options configure decoding.
type Options struct {
	// Cluster is the Kubernetes cluster name stamped on Kubernetes events
	// and container log lines whose envelope does not name one (EKS log
	// groups, GKE resource labels and AKS resource ids do).
	Cluster string
	// Provider and Account are the cloud provider ("aws", "azure") and
	// account (AWS account id, Azure subscription) of a managed cluster,
	// set by the dispatcher from an EKS or AKS envelope.
	Provider, Account string
	// Raw keeps the original object in Event.Raw. Building it costs as much
	// as the rest of decoding, so the pipeline sets it only when a rule
	// reads raw.
	Raw bool
	// RawSources, when not nil, narrows Raw to the sources listed: the
	// rules reading raw of one source do not make every source pay.
	RawSources map[string]bool
	// Top and Text are a value parsed from a whole message (or line) and
	// that message, set by the format detector: DeferRaw of Top copies
	// Text instead of serializing the value again, which costs more than
	// decoding it. Values inside Top (batch items, envelope payloads) are
	// serialized.
	Top  *fastjson.Value
	Text []byte
}

// ItemError is the error of one item of a batch message.
type ItemError struct {
	Index int
	Err   error
}

func (e *ItemError) Error() string { return fmt.Sprintf("item %d: %v", e.Index, e.Err) }
func (e *ItemError) Unwrap() error { return e.Err }
