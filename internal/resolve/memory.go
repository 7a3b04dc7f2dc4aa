package resolve

import (
	"context"
	"fmt"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Memory is an in-process Store for a single replica: bounded to a number
// of entries, least recently used evicted first, each entry expiring after
// its TTL. Expired entries are dropped when read and otherwise age out of
// the LRU.
type Memory struct {
	cache *lru.Cache[string, memEntry]
	now   func() time.Time // tests move the clock
}

type memEntry struct {
	value   string
	expires time.Time
}

var _ Store = (*Memory)(nil)

// DefaultMaxEntries is the size of a Memory store made with maxEntries <= 0.
const DefaultMaxEntries = 100_000

// NewMemory returns a Memory store holding at most maxEntries keys
// (Default: 100000). Each pod takes one or two keys, each service account
// one or two, each cloud identity and each federated session one.
func NewMemory(maxEntries int) *Memory {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	c, err := lru.New[string, memEntry](maxEntries)
	if err != nil { // only for a non-positive size
		panic(fmt.Sprintf("resolve: %v", err))
	}
	return &Memory{cache: c, now: time.Now}
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, keys ...string) ([]string, error) {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = m.get(k)
	}
	return out, nil
}

func (m *Memory) get(key string) string {
	e, ok := m.cache.Get(key)
	if !ok {
		return ""
	}
	if !m.now().Before(e.expires) {
		m.cache.Remove(key)
		return ""
	}
	return e.value
}

// Set implements Store.
func (m *Memory) Set(_ context.Context, entries ...Entry) error {
	for _, e := range entries {
		if e.Value != "" && e.TTL <= 0 {
			return fmt.Errorf("%w: %q", ErrNoTTL, e.Key)
		}
	}
	now := m.now()
	for _, e := range entries {
		if e.Value == "" {
			m.cache.Remove(e.Key)
			continue
		}
		m.cache.Add(e.Key, memEntry{value: e.Value, expires: now.Add(e.TTL)})
	}
	return nil
}

// Len returns the number of entries held, expired ones not yet dropped
// included.
func (m *Memory) Len() int { return m.cache.Len() }
