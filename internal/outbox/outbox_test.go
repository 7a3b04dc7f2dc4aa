package outbox

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/redistest"
)

type store interface {
	Queue
	States
}

// impl opens an outbox; reopen simulates a process restart (a new
// consumer for Redis, a reopened file for File).
type impl struct {
	name string
	open func(t *testing.T, consumer string, claimTimeout time.Duration) store
}

func impls(t *testing.T) []impl {
	return []impl{
		{"file", func(t *testing.T, _ string, _ time.Duration) store {
			dir := fileDir(t)
			f, err := NewFile(dir, FileOptions{OpenTimeout: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			return f
		}},
		{"redis", func(t *testing.T, consumer string, claim time.Duration) store {
			c := redisClient(t)
			r, err := NewRedis(c, RedisOptions{Prefix: "t:", Consumer: consumer, ClaimTimeout: claim})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}},
	}
}

// One directory and one Redis per test, shared by the outboxes a test opens.
var (
	dirs    sync.Map
	clients sync.Map
)

func fileDir(t *testing.T) string {
	if d, ok := dirs.Load(t.Name()); ok {
		return d.(string)
	}
	d := t.TempDir()
	dirs.Store(t.Name(), d)
	t.Cleanup(func() { dirs.Delete(t.Name()) })
	return d
}

func redisClient(t *testing.T) *redis.Client {
	if c, ok := clients.Load(t.Name()); ok {
		return c.(*redis.Client)
	}
	c := redis.NewClient(&redis.Options{Addr: redistest.Start(t)})
	t.Cleanup(func() { c.Close(); clients.Delete(t.Name()) })
	clients.Store(t.Name(), c)
	return c
}

func entry(receiver, id string) *Entry {
	return &Entry{Receiver: receiver, Route: "0", GroupKey: "g-" + id, GroupLabels: map[string]string{"rule": "r"},
		Alert: &alert.Alert{ID: id, Rule: alert.Rule{ID: "r", Severity: "high"}}, Enqueued: time.Now().UTC()}
}

func alertIDs(es []*Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Alert.ID)
	}
	return out
}

func ids(es []*Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func TestQueue(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			q := im.open(t, "c1", time.Minute)
			for _, id := range []string{"a", "b", "c"} {
				if err := q.Enqueue(ctx, entry("slack", id)); err != nil {
					t.Fatal(err)
				}
			}
			q.Enqueue(ctx, entry("pager", "p"))
			if n, _ := q.Len(ctx, "slack"); n != 3 {
				t.Fatalf("len %d", n)
			}
			got, err := q.Claim(ctx, "slack", 2, 0)
			if err != nil || !slices.Equal(alertIDs(got), []string{"a", "b"}) {
				t.Fatalf("claim: %v %v", alertIDs(got), err)
			}
			if got[0].Alert.Rule.Severity != "high" || got[0].GroupLabels["rule"] != "r" {
				t.Fatalf("entry round trip: %+v", got[0])
			}
			// Held entries are not offered again; the next one is.
			more, _ := q.Claim(ctx, "slack", 10, 0)
			if !slices.Equal(alertIDs(more), []string{"c"}) {
				t.Fatalf("second claim %v", alertIDs(more))
			}
			// Waiting returns empty when nothing comes.
			none, err := q.Claim(ctx, "slack", 10, 20*time.Millisecond)
			if err != nil || len(none) != 0 {
				t.Fatalf("empty claim %v %v", none, err)
			}
			if err := q.Ack(ctx, "slack", ids(got)...); err != nil {
				t.Fatal(err)
			}
			if n, _ := q.Len(ctx, "slack"); n != 1 {
				t.Fatalf("len after ack %d", n)
			}
			// A claim blocked in wait wakes up for a new entry.
			done := make(chan []*Entry)
			go func() { es, _ := q.Claim(ctx, "pager2", 10, 5*time.Second); done <- es }()
			time.Sleep(50 * time.Millisecond)
			q.Enqueue(ctx, entry("pager2", "late"))
			select {
			case es := <-done:
				if !slices.Equal(alertIDs(es), []string{"late"}) {
					t.Fatalf("woken claim %v", alertIDs(es))
				}
			case <-time.After(4 * time.Second):
				t.Fatal("a waiting claim did not see the new entry")
			}
			// Bury, list, revive.
			if err := q.Bury(ctx, "HTTP 400: invalid_blocks", more...); err != nil {
				t.Fatal(err)
			}
			dead, err := q.Dead(ctx, 0)
			if err != nil || len(dead) != 1 || dead[0].Alert.ID != "c" || dead[0].Reason != "HTTP 400: invalid_blocks" || dead[0].Receiver != "slack" || dead[0].Time.IsZero() {
				t.Fatalf("dead %+v %v", dead, err)
			}
			if n, _ := q.Len(ctx, "slack"); n != 0 {
				t.Fatalf("buried entry still queued: %d", n)
			}
			if n, err := q.Revive(ctx, dead[0].DeadID, "unknown-id"); err != nil || n != 1 {
				t.Fatalf("revive %d %v", n, err)
			}
			if dead, _ := q.Dead(ctx, 0); len(dead) != 0 {
				t.Fatalf("revived entry still dead: %v", dead)
			}
			back, _ := q.Claim(ctx, "slack", 10, 0)
			if !slices.Equal(alertIDs(back), []string{"c"}) {
				t.Fatalf("revived claim %v", alertIDs(back))
			}
		})
	}
}

func TestRestartOffersUnacknowledged(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			q := im.open(t, "pod-a", time.Minute)
			for i := range 5 {
				q.Enqueue(ctx, entry("r", fmt.Sprint(i)))
			}
			got, _ := q.Claim(ctx, "r", 3, 0)
			q.Ack(ctx, "r", got[0].ID)
			q.Close()
			// The same replica restarts (same consumer name / same file).
			q2 := im.open(t, "pod-a", time.Minute)
			defer q2.Close()
			again, err := q2.Claim(ctx, "r", 10, 0)
			if err != nil {
				t.Fatal(err)
			}
			all := alertIDs(again)
			if rest, _ := q2.Claim(ctx, "r", 10, 0); len(rest) > 0 {
				all = append(all, alertIDs(rest)...)
			}
			if !slices.Equal(all, []string{"1", "2", "3", "4"}) {
				t.Fatalf("after restart: %v, want 1..4", all)
			}
			// More held entries than one claim returns: every one comes
			// back after the next restart, batch by batch, not after the
			// claim timeout.
			q2.Close()
			q3 := im.open(t, "pod-a", time.Minute)
			defer q3.Close()
			var back []string
			for range 4 {
				got, _ := q3.Claim(ctx, "r", 1, 0)
				back = append(back, alertIDs(got)...)
			}
			if !slices.Equal(back, []string{"1", "2", "3", "4"}) {
				t.Fatalf("after a second restart, claiming one at a time: %v, want 1..4", back)
			}
		})
	}
}

func TestDeadConsumerTakenOver(t *testing.T) {
	ctx := context.Background()
	c := redisClient(t)
	a, _ := NewRedis(c, RedisOptions{Prefix: "t:", Consumer: "a", ClaimTimeout: 50 * time.Millisecond})
	b, _ := NewRedis(c, RedisOptions{Prefix: "t:", Consumer: "b", ClaimTimeout: 50 * time.Millisecond})
	a.Enqueue(ctx, entry("r", "x"))
	got, _ := a.Claim(ctx, "r", 10, 0)
	if len(got) != 1 {
		t.Fatal("a claimed nothing")
	}
	// a dies without acknowledging; b takes over after the claim timeout.
	if es, _ := b.Claim(ctx, "r", 10, 0); len(es) != 0 {
		t.Fatalf("b got a's held entry at once: %v", alertIDs(es))
	}
	time.Sleep(80 * time.Millisecond)
	es, err := b.Claim(ctx, "r", 10, 0)
	if err != nil || len(es) != 1 || es[0].Alert.ID != "x" || es[0].Deliveries != 1 {
		t.Fatalf("takeover: %+v %v", es, err)
	}
}

func TestTwoReplicasDeliverEachOnce(t *testing.T) {
	ctx := context.Background()
	c := redisClient(t)
	var mu sync.Mutex
	seen := map[string]int{}
	q0, _ := NewRedis(c, RedisOptions{Prefix: "t:", Consumer: "seed"})
	for i := range 100 {
		q0.Enqueue(ctx, entry("r", fmt.Sprint(i)))
	}
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b"} {
		q, _ := NewRedis(c, RedisOptions{Prefix: "t:", Consumer: name})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				es, err := q.Claim(ctx, "r", 7, 10*time.Millisecond)
				if err != nil {
					t.Error(err)
					return
				}
				if len(es) == 0 {
					return
				}
				mu.Lock()
				for _, e := range es {
					seen[e.Alert.ID]++
				}
				mu.Unlock()
				q.Ack(ctx, "r", ids(es)...)
			}
		}()
	}
	wg.Wait()
	for i := range 100 {
		if seen[fmt.Sprint(i)] != 1 {
			t.Errorf("entry %d delivered %d times", i, seen[fmt.Sprint(i)])
		}
	}
}

func TestFileIsLocked(t *testing.T) {
	dir := t.TempDir()
	f, err := NewFile(dir, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := NewFile(dir, FileOptions{OpenTimeout: 50 * time.Millisecond}); err == nil {
		t.Fatal("a second open of the same outbox succeeded")
	}
}

func TestStates(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			s := im.open(t, "c", time.Minute)
			if _, ok, err := s.Get(ctx, "slack", "g1"); ok || err != nil {
				t.Fatalf("empty get: %v %v", ok, err)
			}
			st := &GroupState{State: notify.State{"channel": "C1", "ts": "1.2"}, Route: "0.1", GroupLabels: map[string]string{"rule": "r"},
				Total: 3, First: time.Unix(10, 0).UTC(), Last: time.Unix(20, 0).UTC(), Seen: []string{"a", "b"}}
			if err := s.Put(ctx, "slack", "g1", st, time.Hour); err != nil {
				t.Fatal(err)
			}
			s.Put(ctx, "slack", "g2", &GroupState{Route: "0"}, 30*time.Millisecond)
			s.Put(ctx, "pager", "g3", &GroupState{Route: "0"}, time.Hour)
			got, ok, err := s.Get(ctx, "slack", "g1")
			if !ok || err != nil || got.State["ts"] != "1.2" || got.Total != 3 || !got.Last.Equal(st.Last) || !slices.Equal(got.Seen, st.Seen) {
				t.Fatalf("get: %+v %v %v", got, ok, err)
			}
			time.Sleep(60 * time.Millisecond)
			var keys []string
			s.List(ctx, "slack", func(k string, _ *GroupState) bool { keys = append(keys, k); return true })
			if !slices.Equal(keys, []string{"g1"}) {
				t.Fatalf("list %v (g2 expired, g3 is another receiver's)", keys)
			}
			s.Delete(ctx, "slack", "g1")
			if _, ok, _ := s.Get(ctx, "slack", "g1"); ok {
				t.Fatal("deleted state still there")
			}
			release, ok, err := s.Lock(ctx, "slack", "g1", time.Minute)
			if !ok || err != nil {
				t.Fatalf("lock: %v %v", ok, err)
			}
			if _, ok, _ := s.Lock(ctx, "slack", "g1", time.Minute); ok {
				t.Fatal("lock taken twice")
			}
			release()
			if r, ok, _ := s.Lock(ctx, "slack", "g1", time.Minute); !ok {
				t.Fatal("lock not released")
			} else {
				r()
			}
		})
	}
}

func benchmarkQueue(b *testing.B, q Queue, batch int) {
	ctx := context.Background()
	es := make([]*Entry, batch)
	for b.Loop() {
		for i := range es {
			es[i] = entry("r", "x")
		}
		if err := q.Enqueue(ctx, es...); err != nil {
			b.Fatal(err)
		}
		got, err := q.Claim(ctx, "r", batch, 0)
		if err != nil || len(got) != batch {
			b.Fatalf("claimed %d: %v", len(got), err)
		}
		if err := q.Ack(ctx, "r", ids(got)...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "entries/s")
}

func BenchmarkEnqueueClaimAck(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("file/batch=%d", batch), func(b *testing.B) {
			f, err := NewFile(b.TempDir(), FileOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			benchmarkQueue(b, f, batch)
		})
		b.Run(fmt.Sprintf("redis/batch=%d", batch), func(b *testing.B) {
			c := redis.NewClient(&redis.Options{Addr: redistest.Start(b)})
			defer c.Close()
			r, _ := NewRedis(c, RedisOptions{Consumer: "bench"})
			benchmarkQueue(b, r, batch)
		})
	}
}

// TestEnqueueIsIdempotent: an alert queued again for the same group (its
// Kafka message processed again after a crash) is skipped, even after the
// first entry was delivered and acknowledged; the same alert in another
// group (another route or receiver) is not; a revived dead letter is
// queued although its alert was queued before.
func TestEnqueueIsIdempotent(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			q := im.open(t, "c1", time.Minute)
			first := entry("hook", "a")
			if err := q.Enqueue(ctx, first, entry("hook", "b")); err != nil || first.ID == "" {
				t.Fatalf("enqueue: %v, id %q", err, first.ID)
			}
			got, _ := q.Claim(ctx, "hook", 10, 0)
			q.Ack(ctx, "hook", ids(got)...)
			again := entry("hook", "a")
			other := entry("hook", "a")
			other.GroupKey = "another-group"
			if err := q.Enqueue(ctx, again, other, entry("hook", "b"), entry("hook", "c")); err != nil {
				t.Fatal(err)
			}
			if again.ID != "" || other.ID == "" {
				t.Fatalf("again id %q (want skipped), other group id %q (want queued)", again.ID, other.ID)
			}
			got, _ = q.Claim(ctx, "hook", 10, 0)
			if !slices.Equal(alertIDs(got), []string{"a", "c"}) {
				t.Fatalf("claimed %v, want a (other group) and c", alertIDs(got))
			}
			if err := q.Bury(ctx, "HTTP 400", got[1]); err != nil {
				t.Fatal(err)
			}
			dead, _ := q.Dead(ctx, 0)
			if n, err := q.Revive(ctx, dead[0].DeadID); err != nil || n != 1 {
				t.Fatalf("revive %d %v", n, err)
			}
			if back, _ := q.Claim(ctx, "hook", 10, 0); !slices.Equal(alertIDs(back), []string{"c"}) {
				t.Fatalf("revived claim %v", alertIDs(back))
			}
		})
	}
}

// TestFileDedupGenerations: the file outbox remembers at least the last
// DedupMax alert ids, and forgets older ones.
func TestFileDedupGenerations(t *testing.T) {
	ctx := context.Background()
	f, err := NewFile(t.TempDir(), FileOptions{DedupMax: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := range 10 {
		f.Enqueue(ctx, entry("hook", fmt.Sprint(i)))
	}
	queued := func(id string) bool { e := entry("hook", id); f.Enqueue(ctx, e); return e.ID != "" }
	for i := 6; i < 10; i++ { // the last DedupMax
		if queued(fmt.Sprint(i)) {
			t.Errorf("alert %d queued twice", i)
		}
	}
	if !queued("0") {
		t.Error("alert 0 still remembered after two generations")
	}
}

// TestRedisLockOfDeadIncarnation: a group lock left by a killed process is
// taken over at once by the same replica restarted (same consumer name),
// not after its lease; another replica still waits for it.
func TestRedisLockOfDeadIncarnation(t *testing.T) {
	ctx := context.Background()
	c := redisClient(t)
	dead, _ := NewRedis(c, RedisOptions{Prefix: "t:", Consumer: "pod-a"})
	if _, ok, err := dead.Lock(ctx, "hook", "g", time.Hour); !ok || err != nil {
		t.Fatalf("lock: %v %v", ok, err)
	} // never released: the process was killed
	other, _ := NewRedis(c, RedisOptions{Prefix: "t:", Consumer: "pod-b"})
	if _, ok, _ := other.Lock(ctx, "hook", "g", time.Hour); ok {
		t.Fatal("another replica took a live lease")
	}
	restarted, _ := NewRedis(c, RedisOptions{Prefix: "t:", Consumer: "pod-a"})
	release, ok, err := restarted.Lock(ctx, "hook", "g", time.Hour)
	if !ok || err != nil {
		t.Fatalf("the restarted replica could not take over its dead incarnation's lock: %v %v", ok, err)
	}
	if _, ok, _ := restarted.Lock(ctx, "hook", "g", time.Hour); ok {
		t.Fatal("the same process took its own lock twice")
	}
	release()
	if r, ok, _ := other.Lock(ctx, "hook", "g", time.Hour); !ok {
		t.Fatal("released lock not free")
	} else {
		r()
	}
}
