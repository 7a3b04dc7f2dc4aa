package route

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/vigia-dev/vigia/internal/outbox"
)

// memQueue is an in-memory outbox.Queue and outbox.States for the router's
// tests; the real implementations have their own conformance tests.
type memQueue struct {
	mu     sync.Mutex
	seq    int
	queued map[string][]*outbox.Entry // receiver -> undelivered, in order
	held   map[string]bool
	dead   []*outbox.Dead
	states map[string]*outbox.GroupState
	locks  map[string]bool
	acked  []string
}

func newMemQueue() *memQueue {
	return &memQueue{queued: map[string][]*outbox.Entry{}, held: map[string]bool{}, states: map[string]*outbox.GroupState{}, locks: map[string]bool{}}
}

func (q *memQueue) Enqueue(_ context.Context, entries ...*outbox.Entry) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range entries {
		q.seq++
		e.ID = fmt.Sprintf("%08d", q.seq)
		q.queued[e.Receiver] = append(q.queued[e.Receiver], e)
	}
	return nil
}

func (q *memQueue) Claim(ctx context.Context, receiver string, max int, wait time.Duration) ([]*outbox.Entry, error) {
	deadline := time.Now().Add(wait)
	for {
		q.mu.Lock()
		var out []*outbox.Entry
		for _, e := range q.queued[receiver] {
			if !q.held[e.ID] && len(out) < max {
				q.held[e.ID] = true
				out = append(out, e)
			}
		}
		q.mu.Unlock()
		if len(out) > 0 || !time.Now().Before(deadline) {
			return out, ctx.Err()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// release forgets the claims, as a restart of the process would.
func (q *memQueue) release() {
	q.mu.Lock()
	q.held = map[string]bool{}
	q.mu.Unlock()
}

func (q *memQueue) Ack(_ context.Context, receiver string, ids ...string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	drop := map[string]bool{}
	for _, id := range ids {
		drop[id] = true
		q.acked = append(q.acked, id)
	}
	keep := q.queued[receiver][:0]
	for _, e := range q.queued[receiver] {
		if !drop[e.ID] {
			keep = append(keep, e)
		}
	}
	q.queued[receiver] = keep
	return nil
}

func (q *memQueue) Bury(ctx context.Context, reason string, entries ...*outbox.Entry) error {
	for _, e := range entries {
		q.mu.Lock()
		q.dead = append(q.dead, &outbox.Dead{Entry: *e, DeadID: e.ID, Reason: reason, Time: time.Now()})
		q.mu.Unlock()
		q.Ack(ctx, e.Receiver, e.ID)
	}
	return nil
}

func (q *memQueue) Dead(context.Context, int) ([]*outbox.Dead, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]*outbox.Dead(nil), q.dead...), nil
}

func (q *memQueue) Revive(context.Context, ...string) (int, error) { return 0, nil }

func (q *memQueue) Len(_ context.Context, receiver string) (int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return int64(len(q.queued[receiver])), nil
}

func (q *memQueue) Close() error { return nil }

func (q *memQueue) Get(_ context.Context, receiver, key string) (*outbox.GroupState, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	st, ok := q.states[receiver+"/"+key]
	if !ok {
		return nil, false, nil
	}
	cp := *st
	return &cp, true, nil
}

func (q *memQueue) Put(_ context.Context, receiver, key string, st *outbox.GroupState, _ time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	cp := *st
	q.states[receiver+"/"+key] = &cp
	return nil
}

func (q *memQueue) Delete(_ context.Context, receiver, key string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.states, receiver+"/"+key)
	return nil
}

func (q *memQueue) List(_ context.Context, receiver string, fn func(string, *outbox.GroupState) bool) error {
	q.mu.Lock()
	var keys []string
	for k := range q.states {
		keys = append(keys, k)
	}
	q.mu.Unlock()
	sort.Strings(keys)
	for _, k := range keys {
		if len(k) > len(receiver) && k[:len(receiver)+1] == receiver+"/" {
			st, _, _ := q.Get(context.Background(), receiver, k[len(receiver)+1:])
			if !fn(k[len(receiver)+1:], st) {
				return nil
			}
		}
	}
	return nil
}

func (q *memQueue) Lock(_ context.Context, receiver, key string, _ time.Duration) (func(), bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := receiver + "/" + key
	if q.locks[k] {
		return nil, false, nil
	}
	q.locks[k] = true
	return func() { q.mu.Lock(); delete(q.locks, k); q.mu.Unlock() }, true, nil
}
