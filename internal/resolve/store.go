package resolve

import (
	"context"
	"errors"
	"time"
)

// ErrStore wraps every error of the Store behind a Resolver, so callers
// can tell a store outage (the events are still usable, with what they
// carry themselves) from a programming error.
var ErrStore = errors.New("resolve: store")

// ErrNoTTL is returned by a Store asked to keep a value without a positive
// TTL: every learned fact expires.
var ErrNoTTL = errors.New("resolve: entry without a positive TTL")

// Store holds the learned state: string values under string keys, each
// with its own time to live. Both calls take many keys so that a Resolver
// needs one round trip per step of a batch, not one per event.
// Implementations are safe for concurrent use.
type Store interface {
	// Get returns the value of each key, in order: "" for a key that is
	// missing or expired.
	Get(ctx context.Context, keys ...string) ([]string, error)
	// Set stores each entry under its key for its TTL, replacing what was
	// there. An entry with an empty Value deletes its key.
	Set(ctx context.Context, entries ...Entry) error
}

// Entry is one key to set.
type Entry struct {
	Key   string
	Value string // "" deletes Key
	TTL   time.Duration
}
