package resolve

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigia-dev/vigia/internal/redistest"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// newRedisClient starts a redis-server for the test and returns a client.
func newRedisClient(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: redistest.Start(t)})
	t.Cleanup(func() { c.Close() })
	return c
}

// storeImpl is one Store implementation under test, with a way to make
// its entries expire.
type storeImpl struct {
	name string
	// make returns a new, empty store and a function that lets ttl pass
	// for it.
	make func(t *testing.T) (s Store, expire func(t *testing.T, key string, ttl time.Duration))
}

var storeImpls = []storeImpl{
	{"memory", func(t *testing.T) (Store, func(*testing.T, string, time.Duration)) {
		m := NewMemory(1000)
		clock := newFakeClock()
		m.now = clock.Now
		return m, func(_ *testing.T, _ string, ttl time.Duration) { clock.Add(ttl) }
	}},
	{"redis", func(t *testing.T) (Store, func(*testing.T, string, time.Duration)) {
		s := NewRedis(newRedisClient(t), "test:")
		return s, func(t *testing.T, key string, _ time.Duration) {
			// Redis keeps the time itself: wait for the key to go.
			waitFor(t, func() bool {
				v, err := s.Get(context.Background(), key)
				return err == nil && v[0] == ""
			})
		}
	}},
}

// waitFor polls cond until it holds, failing the test after a generous
// bound (a liveness bound, not a timing assertion).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustGet(t *testing.T, s Store, keys ...string) []string {
	t.Helper()
	v, err := s.Get(context.Background(), keys...)
	if err != nil {
		t.Fatalf("Get(%q): %v", keys, err)
	}
	if len(v) != len(keys) {
		t.Fatalf("Get(%q) returned %d values", keys, len(v))
	}
	return v
}

func mustSet(t *testing.T, s Store, entries ...Entry) {
	t.Helper()
	if err := s.Set(context.Background(), entries...); err != nil {
		t.Fatalf("Set: %v", err)
	}
}

func TestStoreConformance(t *testing.T) {
	for _, impl := range storeImpls {
		t.Run(impl.name, func(t *testing.T) {
			t.Run("missing", func(t *testing.T) {
				s, _ := impl.make(t)
				if v := mustGet(t, s, "a", "b"); v[0] != "" || v[1] != "" {
					t.Errorf("missing keys = %q", v)
				}
				if v := mustGet(t, s); len(v) != 0 {
					t.Errorf("no keys = %q", v)
				}
			})
			t.Run("set get in order", func(t *testing.T) {
				s, _ := impl.make(t)
				mustSet(t, s, Entry{"a", "1", time.Hour}, Entry{"c", "3", time.Hour})
				if v := mustGet(t, s, "c", "b", "a"); fmt.Sprint(v) != "[3  1]" {
					t.Errorf("Get = %q, want [3 \"\" 1]", v)
				}
			})
			t.Run("overwrite and delete", func(t *testing.T) {
				s, _ := impl.make(t)
				mustSet(t, s, Entry{"a", "1", time.Hour}, Entry{"b", "2", time.Hour})
				mustSet(t, s, Entry{"a", "one", time.Hour}, Entry{"b", "", 0})
				if v := mustGet(t, s, "a", "b"); v[0] != "one" || v[1] != "" {
					t.Errorf("Get = %q, want [one \"\"]", v)
				}
			})
			t.Run("ttl required", func(t *testing.T) {
				s, _ := impl.make(t)
				err := s.Set(context.Background(), Entry{"a", "1", time.Hour}, Entry{"b", "2", 0})
				if !errors.Is(err, ErrNoTTL) {
					t.Fatalf("Set without TTL: %v, want ErrNoTTL", err)
				}
				if v := mustGet(t, s, "a"); v[0] != "" {
					t.Errorf("a rejected batch wrote %q", v[0])
				}
			})
			t.Run("expiry", func(t *testing.T) {
				s, expire := impl.make(t)
				mustSet(t, s, Entry{"short", "1", 50 * time.Millisecond}, Entry{"long", "2", time.Hour})
				if v := mustGet(t, s, "short"); v[0] != "1" {
					t.Fatalf("before expiry: %q", v[0])
				}
				expire(t, "short", 50*time.Millisecond)
				if v := mustGet(t, s, "short", "long"); v[0] != "" || v[1] != "2" {
					t.Errorf("after the short TTL: %q, want [\"\" 2]", v)
				}
				// Setting again restarts the TTL.
				mustSet(t, s, Entry{"short", "again", time.Hour})
				if v := mustGet(t, s, "short"); v[0] != "again" {
					t.Errorf("set after expiry: %q", v[0])
				}
			})
			t.Run("concurrent", func(t *testing.T) {
				s, _ := impl.make(t)
				var wg sync.WaitGroup
				for g := range 8 {
					wg.Go(func() {
						for i := range 50 {
							k := fmt.Sprintf("g%d:%d", g, i)
							if err := s.Set(context.Background(), Entry{k, k, time.Hour}); err != nil {
								t.Error(err)
								return
							}
							if v, err := s.Get(context.Background(), k); err != nil || v[0] != k {
								t.Errorf("Get(%s) = %q, %v", k, v, err)
								return
							}
						}
					})
				}
				wg.Wait()
			})
		})
	}
}

func TestMemoryBounded(t *testing.T) {
	m := NewMemory(2)
	mustSet(t, m, Entry{"a", "1", time.Hour}, Entry{"b", "2", time.Hour})
	mustGet(t, m, "a") // a is now the most recently used
	mustSet(t, m, Entry{"c", "3", time.Hour})
	if m.Len() != 2 {
		t.Errorf("Len = %d, want 2", m.Len())
	}
	if v := mustGet(t, m, "a", "b", "c"); fmt.Sprint(v) != "[1  3]" {
		t.Errorf("Get = %q, want b evicted", v)
	}
}

func TestRedisPrefixAndTTL(t *testing.T) {
	c := newRedisClient(t)
	ctx := context.Background()
	a, b := NewRedis(c, "a:"), NewRedis(c, "b:")
	mustSet(t, a, Entry{"k", "from-a", time.Hour})
	if v := mustGet(t, b, "k"); v[0] != "" {
		t.Errorf("prefix b sees %q", v[0])
	}
	if got, err := c.Get(ctx, "a:k").Result(); err != nil || got != "from-a" {
		t.Errorf("raw a:k = %q, %v", got, err)
	}
	ttl, err := c.PTTL(ctx, "a:k").Result()
	if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("PTTL a:k = %v, %v; want about 1h", ttl, err)
	}
}

func TestRedisDown(t *testing.T) {
	c := newRedisClient(t)
	s := NewRedis(c, "")
	c.Close()
	if _, err := s.Get(context.Background(), "k"); err == nil {
		t.Error("Get on a closed client succeeded")
	}
	if err := s.Set(context.Background(), Entry{"k", "v", time.Hour}); err == nil {
		t.Error("Set on a closed client succeeded")
	}
}
