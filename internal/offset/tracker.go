// Package offset tracks which fetched messages are fully processed, per
// partition, so that an offset is committed only once every message at or
// below it on that partition is done.
package offset

import (
	"sort"
	"sync"
)

// Partition identifies a topic partition.
type Partition struct {
	Topic     string
	Partition int
}

// Tracker is a per-partition contiguous-offset tracker. Messages are added
// in fetch order (increasing offsets per partition; offsets may have gaps)
// and marked done in any order. Safe for concurrent use.
type Tracker struct {
	mu    sync.Mutex
	parts map[Partition]*partState
}

type partState struct {
	pending []entry // in-flight offsets in fetch order
	// committable is the highest offset with every fetched offset at or
	// below it done; -1 when none.
	committable int64
	// committed is the last offset handed out by Committable; -1 when none.
	committed int64
}

type entry struct {
	offset int64
	done   bool
}

// New returns an empty tracker.
func New() *Tracker { return &Tracker{parts: map[Partition]*partState{}} }

// Add records a fetched, not yet processed message. An offset at or below
// one already added means the consumer rewound (a rebalance or a reset):
// the partition's in-flight state is dropped, since those messages will be
// fetched again.
func (t *Tracker) Add(p Partition, offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.parts[p]
	if st == nil {
		st = &partState{committable: -1, committed: -1}
		t.parts[p] = st
	}
	if n := len(st.pending); n > 0 && offset <= st.pending[n-1].offset {
		st.pending = st.pending[:0]
	}
	if offset <= st.committable {
		st.committable = offset - 1
		st.committed = min(st.committed, offset-1)
	}
	st.pending = append(st.pending, entry{offset: offset})
}

// Done marks a message processed. Unknown offsets (dropped by a rewind) are
// ignored.
func (t *Tracker) Done(p Partition, offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.parts[p]
	if st == nil {
		return
	}
	i := sort.Search(len(st.pending), func(i int) bool { return st.pending[i].offset >= offset })
	if i == len(st.pending) || st.pending[i].offset != offset {
		return
	}
	st.pending[i].done = true
	if i != 0 {
		return
	}
	n := 0
	for n < len(st.pending) && st.pending[n].done {
		n++
	}
	st.committable = st.pending[n-1].offset
	st.pending = append(st.pending[:0], st.pending[n:]...)
}

// Committable returns, per partition, the highest offset whose messages
// and all those before it are done and that was not returned before. The
// Kafka commit for it is offset+1.
func (t *Tracker) Committable() map[Partition]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[Partition]int64{}
	for p, st := range t.parts {
		if st.committable > st.committed {
			out[p] = st.committable
		}
	}
	return out
}

// Committed records that offsets returned by Committable were committed.
// Offsets whose commit failed are simply not passed, and are returned again.
func (t *Tracker) Committed(offsets map[Partition]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p, off := range offsets {
		if st := t.parts[p]; st != nil && off > st.committed {
			st.committed = off
		}
	}
}

// InFlight returns the number of fetched messages not yet done.
func (t *Tracker) InFlight() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, st := range t.parts {
		for _, e := range st.pending {
			if !e.done {
				n++
			}
		}
	}
	return n
}
