package correlate

import (
	"container/list"
	"context"
	"slices"
	"sync"
	"time"
)

// refMemory is the memory store as it was before the compact one: a Go
// map per key, a container/list LRU. Tests compare refMemory against it
// operation by operation (TestMemoryMatchesReference).

// refMemory is the in-process Store: the embedded default and replay's. It
// holds at most MaxKeys windows and first-seen sets, evicting the least
// recently used.
type refMemory struct {
	mu      sync.Mutex
	maxKeys int
	now     func() time.Time
	lru     *list.List // of string keys, front = most recent
	keys    map[string]*refKey
	claims  map[string]refClaim
	since   map[string]int64
	evicted uint64
}

type refKey struct {
	elem    *list.Element
	members map[string]int64 // member → T (window) or value → last seen (first-seen)
	expires time.Time
}

type refClaim struct {
	until   int64
	trigger string
	expires time.Time
}

// NewMemory returns a memory store of at most maxKeys keys (0: 1,000,000).
func newRefMemory(maxKeys int) *refMemory {
	if maxKeys <= 0 {
		maxKeys = 1_000_000
	}
	return &refMemory{maxKeys: maxKeys, now: time.Now, lru: list.New(), keys: map[string]*refKey{},
		claims: map[string]refClaim{}, since: map[string]int64{}}
}

// Evicted returns how many keys were evicted to stay under the bound.
func (m *refMemory) Evicted() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.evicted
}

// Len returns the number of windows and first-seen sets held.
func (m *refMemory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keys)
}

func (m *refMemory) key(k string, create bool, now time.Time) *refKey {
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
		mk = &refKey{members: map[string]int64{}}
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

func refSorted(members map[string]int64) []Entry {
	out := make([]Entry, 0, len(members))
	for mem, t := range members {
		out = append(out, Entry{T: t, Member: mem})
	}
	slices.SortFunc(out, entryLess)
	return out
}

// Add implements Store.
func (m *refMemory) Add(_ context.Context, adds []Add) ([]Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	out := make([]Result, len(adds))
	for i, a := range adds {
		mk := m.key(a.Key, true, now)
		mk.members[a.Entry.Member] = a.Entry.T
		for mem, t := range mk.members {
			if t < a.Cutoff {
				delete(mk.members, mem)
			}
		}
		es := refSorted(mk.members)
		if a.Cap > 0 && len(es) > a.Cap {
			for _, e := range es[:len(es)-a.Cap] {
				delete(mk.members, e.Member)
			}
			es = es[len(es)-a.Cap:]
		}
		mk.expires = now.Add(a.TTL)
		if a.CountOnly && len(es) > 0 && es[len(es)-1].T <= a.Entry.T {
			n := 0
			for _, e := range es {
				if e.T >= a.From {
					n++
				}
			}
			out[i] = Result{Count: n, Counted: true}
			continue
		}
		var sel []Entry
		for _, e := range es {
			if e.T >= a.From && e.T <= a.To {
				sel = append(sel, Entry{T: e.T, Member: head(e.Member)})
			}
		}
		out[i] = Result{Entries: sel}
	}
	return out, nil
}

// Window implements Store.
func (m *refMemory) Window(_ context.Context, key string) ([]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mk := m.key(key, false, m.now())
	if mk == nil {
		return nil, nil
	}
	return refSorted(mk.members), nil
}

// Seen implements Store.
func (m *refMemory) Seen(_ context.Context, seen []Seen) ([]bool, error) {
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
			es := refSorted(mk.members)
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
func (m *refMemory) Claim(_ context.Context, claims []Claim) ([]bool, error) {
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
		m.claims[c.Key] = refClaim{until: c.Until, trigger: c.Trigger, expires: now.Add(c.TTL)}
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
func (m *refMemory) Since(_ context.Context, key string, t int64, _ time.Duration) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.since[key]; ok {
		return v, nil
	}
	m.since[key] = t
	return t, nil
}

// newRefStore makes the reference store for the tests' table of stores.
func newRefStore(maxKeys int) Store { return newRefMemory(maxKeys) }
