package resolve

import (
	"context"

	"errors"
	"fmt"
	lru "github.com/hashicorp/golang-lru/v2"
	"sync/atomic"
	"time"

	"github.com/vigia-dev/vigia/internal/event"
)

// Options configures a Resolver. Zero values are the defaults.
type Options struct {
	// TTL is how long a learned pod, service account or cloud identity is
	// kept after it was last learned or used. Default: 336h (14 days).
	TTL time.Duration
	// SessionTTL is how long temporary credentials from
	// AssumeRoleWithWebIdentity (session ARN, access key id) resolve to
	// their service account. Default: 12h, the longest STS session.
	SessionTTL time.Duration
	// DeleteGrace is how long a deleted pod or service account still
	// resolves, for log lines and calls that arrive after the delete.
	// Default: 1h.
	DeleteGrace time.Duration
	// Now returns the current time. Default: time.Now.
	Now func() time.Time
}

// Defaults.
const (
	DefaultTTL         = 14 * 24 * time.Hour
	DefaultSessionTTL  = 12 * time.Hour
	DefaultDeleteGrace = time.Hour
)

// Validate reports negative durations.
func (o Options) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ttl", o.TTL}, {"session_ttl", o.SessionTTL}, {"delete_grace", o.DeleteGrace}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("resolve: %s %s is negative", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

func (o Options) withDefaults() Options {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.DeleteGrace <= 0 {
		o.DeleteGrace = DefaultDeleteGrace
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Stats are a Resolver's counters since it was made.
type Stats struct {
	// Learned counts writes to the store: facts learned, refreshed or
	// expired early.
	Learned uint64
	// Resolved counts events whose Entity got something from learned
	// state (a pod's node, images or owner; a service account's cloud
	// identities; a cloud identity's service account).
	Resolved uint64
	// Misses counts events that looked for learned state and found none.
	Misses uint64
	// Errors counts failed store calls.
	Errors uint64
}

// Resolver learns pods, service accounts and federated cloud identities
// from the event stream and fills every event's Entity with them. It is
// safe for concurrent use; replicas share what they learn through a shared
// Store (Redis).
type Resolver struct {
	store Store
	opts  Options
	local localStore // store read in process, without batching
	// decoded caches parsed values by their text (content-addressed, so
	// never stale). Values from it are shared: never modify their slices.
	decoded *lru.Cache[string, any]

	learned, resolved, misses, errs atomic.Uint64
}

// localStore is a Store cheap enough to read key by key.
type localStore interface{ get(key string) string }

// New returns a Resolver on store. Zero or negative options take their
// defaults; check them with Options.Validate first.
func New(store Store, opts Options) *Resolver {
	r := &Resolver{store: store, opts: opts.withDefaults()}
	r.decoded, _ = lru.New[string, any](decodedCacheSize)
	r.local, _ = store.(localStore)
	return r
}

// Stats returns the counters.
func (r *Resolver) Stats() Stats {
	return Stats{Learned: r.learned.Load(), Resolved: r.resolved.Load(), Misses: r.misses.Load(), Errors: r.errs.Load()}
}

// decodedCacheSize is the number of parsed values a Resolver keeps.
const decodedCacheSize = 8192

// decodeIn parses a stored value through the Resolver's cache.
func decodeIn[T any](b *batch, s string) (T, bool) {
	if s == "" {
		var zero T
		return zero, false
	}
	if v, ok := b.r.decoded.Get(s); ok {
		if t, ok := v.(T); ok {
			return t, true
		}
	}
	t, ok := decode[T](s)
	if ok {
		b.r.decoded.Add(s, t)
	}
	return t, ok
}

// maxFetches bounds the store round trips of one batch. Lookups are at
// most two deep (a cloud identity, then its service account), so three
// reads always suffice.
const maxFetches = 4

// Resolve learns from each event, then fills its Entity, in order, so an
// event can be resolved with what an earlier event of the same batch
// taught. The store is read in at most a few round trips for the whole
// batch (every key the batch needs at one depth in one MGET) and written
// in one.
//
// On a store error Resolve still fills every Entity field the events give
// by themselves (identity, pod, service account of a Kubernetes actor),
// writes nothing when reading failed (merging with state it could not read
// would lose facts), and returns an error wrapping ErrStore.
func (r *Resolver) Resolve(ctx context.Context, evs []*event.Event) error {
	b := &batch{r: r, now: r.opts.Now(), fetched: make(map[string]string)}
	var readErr error
	for fetch := 0; ; fetch++ {
		b.run(evs)
		if len(b.needed) == 0 {
			break
		}
		keys := make([]string, 0, len(b.needed))
		for k := range b.needed {
			keys = append(keys, k)
		}
		var vals []string
		if readErr == nil && fetch < maxFetches {
			vals, readErr = r.store.Get(ctx, keys...)
			if readErr == nil && len(vals) != len(keys) {
				readErr = fmt.Errorf("store answered %d values for %d keys", len(vals), len(keys))
			}
		}
		for i, k := range keys {
			if readErr == nil && i < len(vals) {
				b.fetched[k] = vals[i]
			} else {
				b.fetched[k] = ""
			}
		}
	}
	r.resolved.Add(b.resolvedN)
	r.misses.Add(b.missesN)
	if readErr != nil {
		r.errs.Add(1)
		return fmt.Errorf("%w: read: %w", ErrStore, readErr)
	}
	if len(b.writes) == 0 {
		return nil
	}
	entries := make([]Entry, 0, len(b.writes))
	for _, e := range b.writes {
		entries = append(entries, e)
	}
	if err := r.store.Set(ctx, entries...); err != nil {
		r.errs.Add(1)
		return fmt.Errorf("%w: write: %w", ErrStore, err)
	}
	r.learned.Add(uint64(len(entries)))
	return nil
}

// batch is the state of one Resolve call. The events are run through
// learn and enrich until every key they read has been fetched: a run that
// reads a key not fetched yet records it in needed and takes it as
// missing; the keys are then fetched together and the batch run again.
// Only the last run's entities, writes and counts stand.
type batch struct {
	r       *Resolver
	now     time.Time
	fetched map[string]string // store values read by this call, "" for missing

	// Per run.
	overlay            map[string]string // values written by earlier events of the run
	writes             map[string]Entry
	needed             map[string]struct{}
	resolvedN, missesN uint64
}

func (b *batch) run(evs []*event.Event) {
	b.overlay = make(map[string]string)
	b.writes = make(map[string]Entry)
	b.needed = make(map[string]struct{})
	b.resolvedN, b.missesN = 0, 0
	for _, ev := range evs {
		if ev == nil {
			continue
		}
		b.learn(ev)
		b.enrich(ev)
	}
}

// get returns the value of key as the batch sees it.
func (b *batch) get(key string) string {
	if v, ok := b.overlay[key]; ok {
		return v
	}
	if v, ok := b.fetched[key]; ok {
		return v
	}
	if b.r.local != nil {
		v := b.r.local.get(key)
		b.fetched[key] = v
		return v
	}
	b.needed[key] = struct{}{}
	return ""
}

// put writes key for the rest of the batch and the store.
func (b *batch) put(key, value string, ttl time.Duration) {
	b.overlay[key] = value
	b.writes[key] = Entry{Key: key, Value: value, TTL: ttl}
}

// lookup reads a cluster-qualified record: base@CLUSTER first when the
// cluster is known, then base, which is accepted unless it was learned in
// another cluster.
func lookup[T any, P interface {
	*T
	record
}](b *batch, base, cluster string) (T, bool) {
	var zero T
	if cluster != "" {
		if v, ok := decodeIn[T](b, b.get(base+"@"+cluster)); ok {
			return v, true
		}
	}
	v, ok := decodeIn[T](b, b.get(base))
	if !ok {
		return zero, false
	}
	if c := P(&v).m().Cluster; cluster != "" && c != "" && c != cluster {
		return zero, false
	}
	return v, true
}

// save writes a record under base and, when it has a cluster, under
// base@CLUSTER, stamped with the batch time. A record whose content did
// not change is written again only once half its TTL has passed, so busy
// pods do not cost a write per log line.
func save[T any, P interface {
	*T
	record
}](b *batch, base string, v T, old T, hadOld bool, ttl time.Duration) {
	m, om := P(&v).m(), P(&old).m()
	if hadOld && om.Gone == m.Gone && !b.stale(om, ttl) {
		m.Updated = om.Updated
		if encode(v) == encode(old) {
			return
		}
	}
	m.Updated = b.now.Unix()
	s := encode(v)
	b.put(base, s, ttl)
	if m.Cluster != "" {
		b.put(base+"@"+m.Cluster, s, ttl)
	}
}

// touch writes an unchanged record again once half its TTL has passed,
// so that what is in use does not expire.
func touch[T any, P interface {
	*T
	record
}](b *batch, base string, v T, ttl time.Duration) {
	if P(&v).m().Gone || !b.stale(P(&v).m(), ttl) {
		return
	}
	save[T, P](b, base, v, v, false, ttl)
}

// stale reports whether a value is past half its TTL.
func (b *batch) stale(m *meta, ttl time.Duration) bool {
	return b.now.Sub(time.Unix(m.Updated, 0)) > ttl/2
}

// ttlFor is the TTL to write a record with.
func (b *batch) ttlFor(m *meta) time.Duration {
	if m.Gone {
		return b.r.opts.DeleteGrace
	}
	return b.r.opts.TTL
}
