package silence

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/vigia-dev/vigia/internal/redact"
)

// Silencer answers Muted from an in-memory index of the active and
// pending silences, reloaded from its Store every Refresh (only when the
// store's Version changed) and at once after its own writes. Create,
// Expire and List go to the store, so every replica sharing a Redis store
// sees a change within Refresh.
//
// Lifecycle: New returns an empty Silencer (Muted reports nothing); Start
// loads the store — failing when it cannot — and starts the refresh loop
// on its own context; Close stops the loop, is safe without Start and safe
// twice. Store.Close is the caller's.
type Silencer struct {
	store Store
	opts  Options

	idx atomic.Pointer[index]

	refreshMu sync.Mutex // serializes reloads
	version   string
	fullAt    time.Time // last reload

	startOnce sync.Once
	closeOnce sync.Once
	cancel    context.CancelFunc
	done      chan struct{}
}

// Options configure a Silencer.
type Options struct {
	// Refresh is how often the store's version is checked. Default: 5s.
	Refresh time.Duration
	// Logger logs failed reloads. Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock (tests). Default: time.Now.
	Now func() time.Time
}

// fullReload forces a reload even without a version change, in case the
// store was edited by hand.
const fullReload = time.Minute

// New returns a Silencer on store; call Start.
func New(store Store, opts Options) *Silencer {
	if opts.Refresh <= 0 {
		opts.Refresh = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Silencer{store: store, opts: opts}
	s.idx.Store(&index{})
	return s
}

// Start loads the silences and starts refreshing them in the background.
// A second call does nothing.
func (s *Silencer) Start(ctx context.Context) error {
	var err error
	s.startOnce.Do(func() {
		if err = s.reload(ctx, true); err != nil {
			return
		}
		rctx, cancel := context.WithCancel(context.Background())
		s.cancel, s.done = cancel, make(chan struct{})
		go s.loop(rctx)
	})
	return err
}

// Close stops the refresh loop and waits for it.
func (s *Silencer) Close() {
	s.closeOnce.Do(func() {
		s.startOnce.Do(func() {}) // a later Start does nothing
		if s.cancel != nil {
			s.cancel()
			<-s.done
		}
	})
}

func (s *Silencer) loop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.opts.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
				s.opts.Logger.Warn("silences: reload failed; the previous set stays in force", "err", err)
			}
		}
	}
}

// Refresh reloads the silences when the store changed.
func (s *Silencer) Refresh(ctx context.Context) error { return s.reload(ctx, false) }

func (s *Silencer) reload(ctx context.Context, force bool) error {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	now := s.opts.Now()
	v, err := s.store.Version(ctx)
	if err != nil {
		return err
	}
	if !force && v == s.version && now.Sub(s.fullAt) < fullReload {
		return nil
	}
	all, err := s.store.List(ctx)
	if all == nil && err != nil {
		return err
	}
	s.idx.Store(buildIndex(all, now))
	s.version, s.fullAt = v, now
	return err // unreadable silences, reported; the readable ones are in force
}

// Muted returns the ids of the silences that are active at t and whose
// matchers all match lbls, sorted; nil when none does.
func (s *Silencer) Muted(lbls map[string]string, t time.Time) []string {
	return s.idx.Load().muted(lbls, t)
}

// Create validates and stores a new silence built from in (ID, CreatedAt
// and UpdatedAt are set; a zero or past StartsAt becomes now; author and
// comment are scrubbed of credentials) and returns it. Validation errors
// wrap ErrInvalid.
func (s *Silencer) Create(ctx context.Context, in *Silence) (*Silence, error) {
	now := s.opts.Now()
	n := in.clone()
	n.ID = newID()
	if n.StartsAt.Before(now) {
		n.StartsAt = now
	}
	n.CreatedAt, n.UpdatedAt = now, now
	n.CreatedBy = redact.String(n.CreatedBy)
	n.Comment = redact.String(n.Comment)
	if err := n.Validate(); err != nil {
		return nil, err
	}
	if err := s.store.Put(ctx, n); err != nil {
		return nil, err
	}
	s.afterWrite(ctx)
	return n, nil
}

// Expire ends the silence now and returns it. Errors wrap ErrNotFound or
// ErrExpired.
func (s *Silencer) Expire(ctx context.Context, id string) (*Silence, error) {
	out, err := s.store.Expire(ctx, id, s.opts.Now())
	if err != nil {
		return nil, err
	}
	s.afterWrite(ctx)
	return out, nil
}

// afterWrite reloads so this replica applies its own change at once.
func (s *Silencer) afterWrite(ctx context.Context) {
	if err := s.reload(ctx, true); err != nil {
		s.opts.Logger.Warn("silences: reload after a change failed; it applies at the next refresh", "err", err)
	}
}

// Get returns one silence from the store.
func (s *Silencer) Get(ctx context.Context, id string) (*Silence, error) {
	return s.store.Get(ctx, id)
}

// List returns the active and pending silences from the store, and the
// expired ones too when expired is set: active first, then pending, then
// expired; each by end time.
func (s *Silencer) List(ctx context.Context, expired bool) ([]*Silence, error) {
	all, err := s.store.List(ctx)
	if all == nil && err != nil {
		return nil, err
	}
	now := s.opts.Now()
	rank := map[string]int{StateActive: 0, StatePending: 1, StateExpired: 2}
	out := all[:0]
	for _, x := range all {
		if expired || x.State(now) != StateExpired {
			out = append(out, x)
		}
	}
	slices.SortFunc(out, func(a, b *Silence) int {
		return cmp.Or(
			cmp.Compare(rank[a.State(now)], rank[b.State(now)]),
			a.EndsAt.Compare(b.EndsAt),
			cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Counts returns how many silences are active and pending at t, from the
// in-memory set.
func (s *Silencer) Counts(t time.Time) (active, pending int) {
	for _, x := range s.idx.Load().all {
		switch x.State(t) {
		case StateActive:
			active++
		case StatePending:
			pending++
		}
	}
	return active, pending
}

// index is an immutable lookup structure over the silences not yet
// expired: each silence is filed under one of its equality matchers with
// a non-empty value (most silences have one, rule="…" or namespace="…"),
// so Muted looks up the alert's value of each indexed label instead of
// trying every silence; the rest are scanned.
type index struct {
	byLabel map[string]map[string][]*Silence
	scan    []*Silence
	all     []*Silence
}

func buildIndex(all []*Silence, now time.Time) *index {
	idx := &index{byLabel: map[string]map[string][]*Silence{}}
	for _, s := range all {
		if s.State(now) == StateExpired {
			continue
		}
		idx.all = append(idx.all, s)
		var key *labels.Matcher
		for _, m := range s.Matchers {
			if m.Type == labels.MatchEqual && m.Value != "" {
				key = m
				break
			}
		}
		if key == nil {
			idx.scan = append(idx.scan, s)
			continue
		}
		vals := idx.byLabel[key.Name]
		if vals == nil {
			vals = map[string][]*Silence{}
			idx.byLabel[key.Name] = vals
		}
		vals[key.Value] = append(vals[key.Value], s)
	}
	return idx
}

func (idx *index) muted(lbls map[string]string, t time.Time) []string {
	var ids []string
	for name, vals := range idx.byLabel {
		v, ok := lbls[name]
		if !ok {
			continue
		}
		for _, s := range vals[v] {
			if s.Matches(lbls, t) {
				ids = append(ids, s.ID)
			}
		}
	}
	for _, s := range idx.scan {
		if s.Matches(lbls, t) {
			ids = append(ids, s.ID)
		}
	}
	slices.Sort(ids)
	return ids
}
