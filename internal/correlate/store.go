package correlate

import (
	"cmp"
	"container/list"
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// Store holds correlation windows, first-seen values and suppressions.
// Every operation is atomic per key; batches let the Redis store serve
// many events with one round trip. Memory and Redis implement the same
// semantics: sorted by (time, member), trimmed by cutoff, capped by count,
// so the same events yield the same alerts on either.
type Store interface {
	// Add adds each entry to its window, removes the window's entries
	// older than the cutoff, keeps the newest Cap entries, and returns
	// the window's entries after the update, oldest first, each member cut
	// to its head (see head): what conditions need, not the event
	// references. Adding an entry that is already there (same member)
	// changes nothing: a replayed event is not counted twice.
	Add(ctx context.Context, adds []Add) ([][]Entry, error)
	// Window returns a window's entries, oldest first.
	Window(ctx context.Context, key string) ([]Entry, error)
	// Seen records each value for its key at its time and reports
	// whether the value is new: not seen for the key within Lookback
	// before T.
	Seen(ctx context.Context, seen []Seen) ([]bool, error)
	// Claim takes each suppression: it succeeds when the key is free,
	// when its suppression ended before T (event time), or when it was
	// taken by the same trigger (a replayed event fires again, so an
	// alert lost in a crash is raised again).
	Claim(ctx context.Context, claims []Claim) ([]bool, error)
	// Since returns the time recorded first for key, recording t when
	// none is.
	Since(ctx context.Context, key string, t int64, ttl time.Duration) (int64, error)
}

// Entry is one event in a window: its time (Unix ms) and its encoded
// member (see member).
type Entry struct {
	T      int64
	Member string
}

// Add is one window update.
type Add struct {
	Key    string
	Entry  Entry
	Cutoff int64 // entries with T < Cutoff are removed
	Cap    int   // at most Cap entries are kept, the newest
	TTL    time.Duration
}

// Seen is one first-seen update.
type Seen struct {
	Key      string
	Value    string
	T        int64
	Lookback int64 // ms
	Cap      int   // at most Cap values per key, the most recently seen
	TTL      time.Duration
}

// Claim is one suppression: key taken until event time Until by Trigger.
type Claim struct {
	Key     string
	T       int64
	Until   int64
	Trigger string
	TTL     time.Duration
}

// head is a member up to its second field separator: the referenced
// rule's position and the value.
func head(member string) string {
	a := strings.IndexByte(member, sepField[0])
	if a < 0 {
		return member
	}
	b := strings.IndexByte(member[a+1:], sepField[0])
	if b < 0 {
		return member
	}
	return member[:a+1+b]
}

func entryLess(a, b Entry) int {
	if c := cmp.Compare(a.T, b.T); c != 0 {
		return c
	}
	return strings.Compare(a.Member, b.Member)
}

// Memory is the in-process Store: the embedded default and replay's. It
// holds at most MaxKeys windows and first-seen sets, evicting the least
// recently used.
type Memory struct {
	mu      sync.Mutex
	maxKeys int
	now     func() time.Time
	lru     *list.List // of string keys, front = most recent
	keys    map[string]*memKey
	claims  map[string]memClaim
	since   map[string]int64
	evicted uint64
}

type memKey struct {
	elem    *list.Element
	members map[string]int64 // member → T (window) or value → last seen (first-seen)
	expires time.Time
}

type memClaim struct {
	until   int64
	trigger string
	expires time.Time
}

// NewMemory returns a memory store of at most maxKeys keys (0: 1,000,000).
func NewMemory(maxKeys int) *Memory {
	if maxKeys <= 0 {
		maxKeys = 1_000_000
	}
	return &Memory{maxKeys: maxKeys, now: time.Now, lru: list.New(), keys: map[string]*memKey{},
		claims: map[string]memClaim{}, since: map[string]int64{}}
}

// Evicted returns how many keys were evicted to stay under the bound.
func (m *Memory) Evicted() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.evicted
}

// Len returns the number of windows and first-seen sets held.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keys)
}

func (m *Memory) key(k string, create bool, now time.Time) *memKey {
	mk := m.keys[k]
	if mk != nil && now.After(mk.expires) {
		m.lru.Remove(mk.elem)
		delete(m.keys, k)
		mk = nil
	}
	if mk == nil {
		if !create {
			return nil
		}
		mk = &memKey{members: map[string]int64{}}
		mk.elem = m.lru.PushFront(k)
		m.keys[k] = mk
		for len(m.keys) > m.maxKeys {
			old := m.lru.Back()
			m.lru.Remove(old)
			delete(m.keys, old.Value.(string))
			m.evicted++
		}
		return mk
	}
	m.lru.MoveToFront(mk.elem)
	return mk
}

func sorted(members map[string]int64) []Entry {
	out := make([]Entry, 0, len(members))
	for mem, t := range members {
		out = append(out, Entry{T: t, Member: mem})
	}
	slices.SortFunc(out, entryLess)
	return out
}

// Add implements Store.
func (m *Memory) Add(_ context.Context, adds []Add) ([][]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	out := make([][]Entry, len(adds))
	for i, a := range adds {
		mk := m.key(a.Key, true, now)
		mk.members[a.Entry.Member] = a.Entry.T
		for mem, t := range mk.members {
			if t < a.Cutoff {
				delete(mk.members, mem)
			}
		}
		es := sorted(mk.members)
		if a.Cap > 0 && len(es) > a.Cap {
			for _, e := range es[:len(es)-a.Cap] {
				delete(mk.members, e.Member)
			}
			es = es[len(es)-a.Cap:]
		}
		mk.expires = now.Add(a.TTL)
		for j := range es {
			es[j].Member = head(es[j].Member)
		}
		out[i] = es
	}
	return out, nil
}

// Window implements Store.
func (m *Memory) Window(_ context.Context, key string) ([]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mk := m.key(key, false, m.now())
	if mk == nil {
		return nil, nil
	}
	return sorted(mk.members), nil
}

// Seen implements Store.
func (m *Memory) Seen(_ context.Context, seen []Seen) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	out := make([]bool, len(seen))
	for i, s := range seen {
		mk := m.key(s.Key, true, now)
		old, ok := mk.members[s.Value]
		if !ok || old < s.T {
			mk.members[s.Value] = s.T
		}
		if s.Cap > 0 && len(mk.members) > s.Cap {
			es := sorted(mk.members)
			for _, e := range es[:len(es)-s.Cap] {
				delete(mk.members, e.Member)
			}
		}
		mk.expires = now.Add(s.TTL)
		out[i] = !ok || old < s.T-s.Lookback
	}
	return out, nil
}

// Claim implements Store.
func (m *Memory) Claim(_ context.Context, claims []Claim) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	out := make([]bool, len(claims))
	for i, c := range claims {
		if old, ok := m.claims[c.Key]; ok && now.Before(old.expires) {
			if old.trigger == c.Trigger {
				out[i] = true
				continue
			}
			if c.T < old.until {
				continue
			}
		}
		m.claims[c.Key] = memClaim{until: c.Until, trigger: c.Trigger, expires: now.Add(c.TTL)}
		out[i] = true
	}
	// Expired claims go when the map grows past the key bound.
	if len(m.claims) > m.maxKeys {
		for k, c := range m.claims {
			if now.After(c.expires) {
				delete(m.claims, k)
			}
		}
	}
	return out, nil
}

// Since implements Store.
func (m *Memory) Since(_ context.Context, key string, t int64, _ time.Duration) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.since[key]; ok {
		return v, nil
	}
	m.since[key] = t
	return t, nil
}
