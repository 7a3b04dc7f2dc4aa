package lifecycle

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigia-dev/vigia/internal/redistest"
)

// TestAuditStores checks both stores append in order and answer queries
// the same way; the file store also across a reopen.
func TestAuditStores(t *testing.T) {
	stores := map[string]func(t *testing.T) (Store, func() Store){
		"file": func(t *testing.T) (Store, func() Store) {
			dir := t.TempDir()
			f, err := OpenFile(dir)
			must(t, err)
			return f, func() Store {
				f.Close()
				g, err := OpenFile(dir)
				must(t, err)
				t.Cleanup(func() { g.Close() })
				return g
			}
		},
		"redis": func(t *testing.T) (Store, func() Store) {
			c := redis.NewClient(&redis.Options{Addr: redistest.Start(t)})
			t.Cleanup(func() { c.Close() })
			s := NewRedis(c, "test:")
			return s, func() Store { return NewRedis(c, "test:") }
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			s, reopen := open(t)
			ctx := context.Background()
			base := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
			for i := range 5 {
				e := &Entry{Time: base.Add(time.Duration(i) * 10 * time.Minute), Action: "acknowledge", Source: "slack",
					Actor: fmt.Sprintf("user%d (U%d)", i%2, i%2), ActorID: fmt.Sprintf("U%d", i%2), Outcome: OutcomeDone}
				must(t, s.Append(ctx, e))
				if e.ID == "" {
					t.Fatal("Append set no id")
				}
			}
			s = reopen()
			all, err := s.List(ctx, Query{})
			must(t, err)
			if len(all) != 5 || !all[0].Time.Equal(base) || !all[4].Time.Equal(base.Add(40*time.Minute)) {
				t.Fatalf("all: %d entries, %+v", len(all), all)
			}
			if got, _ := s.List(ctx, Query{Actor: "u1"}); len(got) != 2 || got[0].ActorID != "U1" {
				t.Errorf("actor: %+v", got)
			}
			if got, _ := s.List(ctx, Query{Since: base.Add(25 * time.Minute)}); len(got) != 2 {
				t.Errorf("since: %d entries", len(got))
			}
			if got, _ := s.List(ctx, Query{Limit: 2}); len(got) != 2 || !got[1].Time.Equal(base.Add(40*time.Minute)) {
				t.Errorf("limit: %+v", got)
			}
		})
	}
}
