package outbox

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// File is the outbox of a single Vigia process, in a bbolt file. Every
// Enqueue is a committed transaction, so an entry survives a crash of the
// process once Enqueue returned; the file is synced to disk by Sync (group
// commit), which the pipeline calls before each Kafka offset commit, so an
// entry whose offset was committed also survives a crash of the machine.
// A sync per alert would cap a flood of alerts at a few hundred a second. Claims live in memory: when the process dies, every
// entry it had claimed and not acknowledged is offered again at the next
// start. The file is locked; a second process opening it fails.
type File struct {
	db   *bolt.DB
	path string

	mu     sync.Mutex
	held   map[string]map[string]bool // receiver -> entry ids claimed
	signal map[string]chan struct{}   // receiver -> closed on Enqueue
	locks  map[string]bool
	last   map[string]uint64 // receiver -> sequence of the last entry claimed

	dedupWindow time.Duration
	dedupMax    int
}

var (
	_ Queue  = (*File)(nil)
	_ States = (*File)(nil)
)

// FileOptions configure a File outbox.
type FileOptions struct {
	// OpenTimeout bounds the wait for the file lock. Default: 2s.
	OpenTimeout time.Duration
	// DedupWindow and DedupMax bound what Enqueue remembers to skip an
	// alert queued again: two generations of alert ids, a new one begun
	// when the current one is DedupWindow old or holds DedupMax ids, so at
	// least the last DedupMax (or DedupWindow's) are remembered, at about
	// 50 bytes each on disk. Default: 1h and 262,144.
	DedupWindow time.Duration
	DedupMax    int
}

var (
	bucketQueue  = []byte("queue")  // receiver sub-buckets, big-endian sequence keys
	bucketDead   = []byte("dead")   // sequence keys
	bucketStates = []byte("states") // receiver sub-buckets, group key keys
	bucketDedup  = []byte("dedup")  // "cur" and "prev" sub-buckets of dedup keys, "meta"
)

// NewFile opens (creating) the outbox file outbox.db in dir.
func NewFile(dir string, opts FileOptions) (*File, error) {
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = 2 * time.Second
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	path := filepath.Join(dir, "outbox.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.OpenTimeout, NoSync: true})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("outbox: %s is in use by another Vigia process (one process per data_dir; configure redis to run several replicas)", path)
		}
		return nil, fmt.Errorf("outbox: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketQueue, bucketDead, bucketStates, bucketDedup} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("outbox: %w", err)
	}
	if opts.DedupWindow <= 0 {
		opts.DedupWindow = DefaultDedupWindow
	}
	if opts.DedupMax <= 0 {
		opts.DedupMax = 1 << 18
	}
	f := &File{db: db, path: path, held: map[string]map[string]bool{}, signal: map[string]chan struct{}{}, locks: map[string]bool{}, last: map[string]uint64{},
		dedupWindow: opts.DedupWindow, dedupMax: opts.DedupMax}
	f.sweep()
	return f, nil
}

func seqKey(n uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, n)
	return k
}

func keyID(k []byte) string { return strconv.FormatUint(binary.BigEndian.Uint64(k), 10) }

func idKey(id string) ([]byte, bool) {
	n, err := strconv.ParseUint(id, 10, 64)
	return seqKey(n), err == nil
}

// Enqueue implements Queue.
func (f *File) Enqueue(_ context.Context, entries ...*Entry) error {
	return f.enqueue(true, entries)
}

// enqueue stores entries; with dedup, entries whose group and alert were
// queued within the window are skipped.
func (f *File) enqueue(dedup bool, entries []*Entry) error {
	if len(entries) == 0 {
		return nil
	}
	err := f.db.Update(func(tx *bolt.Tx) error {
		q := tx.Bucket(bucketQueue)
		seen, err := f.dedupBuckets(tx)
		if err != nil {
			return err
		}
		added := 0
		for _, e := range entries {
			e.ID = ""
			if k := dedupKey(e); k != "" {
				if dedup && (seen.cur.Get([]byte(k)) != nil || seen.prev.Get([]byte(k)) != nil) {
					continue
				}
				if err := seen.cur.Put([]byte(k), []byte{1}); err != nil {
					return err
				}
				added++
			}
			b, err := q.CreateBucketIfNotExists([]byte(e.Receiver))
			if err != nil {
				return err
			}
			n, err := b.NextSequence()
			if err != nil {
				return err
			}
			v, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := b.Put(seqKey(n), v); err != nil {
				return err
			}
			e.ID = strconv.FormatUint(n, 10)
		}
		return seen.count(added)
	})
	if err != nil {
		return fmt.Errorf("outbox: enqueue: %w", err)
	}
	f.mu.Lock()
	for _, e := range entries {
		if ch, ok := f.signal[e.Receiver]; ok {
			close(ch)
			delete(f.signal, e.Receiver)
		}
	}
	f.mu.Unlock()
	return nil
}

// Claim implements Queue. Entries held by this process stay held until
// acknowledged, buried or the process ends (the claim timeout of a
// shared queue does not apply to a single process).
func (f *File) Claim(ctx context.Context, receiver string, max int, wait time.Duration) ([]*Entry, error) {
	deadline := time.Now().Add(wait)
	for {
		f.mu.Lock()
		ch, ok := f.signal[receiver]
		if !ok {
			ch = make(chan struct{})
			f.signal[receiver] = ch
		}
		held := f.held[receiver]
		if held == nil {
			held = map[string]bool{}
			f.held[receiver] = held
		}
		var out []*Entry
		err := f.db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketQueue).Bucket([]byte(receiver))
			if b == nil {
				return nil
			}
			c := b.Cursor()
			// Entries before the last one claimed are all held or gone:
			// start after it, so a large held backlog costs nothing.
			k, v := c.First()
			if last, ok := f.last[receiver]; ok {
				k, v = c.Seek(seqKey(last + 1))
			}
			for ; k != nil && len(out) < max; k, v = c.Next() {
				id := keyID(k)
				if held[id] {
					continue
				}
				var e Entry
				if err := json.Unmarshal(v, &e); err != nil {
					return fmt.Errorf("entry %s: %w", id, err)
				}
				e.ID = id
				out = append(out, &e)
			}
			return nil
		})
		for _, e := range out {
			held[e.ID] = true
		}
		if len(out) > 0 {
			n, _ := strconv.ParseUint(out[len(out)-1].ID, 10, 64)
			f.last[receiver] = n
		}
		f.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("outbox: claim: %w", err)
		}
		if len(out) > 0 {
			return out, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		t := time.NewTimer(left)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-ch:
		case <-t.C:
		}
		t.Stop()
	}
}

// Ack implements Queue.
func (f *File) Ack(_ context.Context, receiver string, ids ...string) error {
	err := f.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketQueue).Bucket([]byte(receiver))
		if b == nil {
			return nil
		}
		for _, id := range ids {
			if k, ok := idKey(id); ok {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox: ack: %w", err)
	}
	f.unhold(receiver, ids)
	return nil
}

func (f *File) unhold(receiver string, ids []string) {
	f.mu.Lock()
	for _, id := range ids {
		delete(f.held[receiver], id)
	}
	f.mu.Unlock()
}

// Bury implements Queue.
func (f *File) Bury(_ context.Context, reason string, entries ...*Entry) error {
	now := time.Now().UTC()
	err := f.db.Update(func(tx *bolt.Tx) error {
		dead := tx.Bucket(bucketDead)
		for _, e := range entries {
			n, err := dead.NextSequence()
			if err != nil {
				return err
			}
			d := Dead{Entry: *e, DeadID: strconv.FormatUint(n, 10), Reason: reason, Time: now}
			v, err := json.Marshal(deadRecord{Dead: d, ID: e.ID})
			if err != nil {
				return err
			}
			if err := dead.Put(seqKey(n), v); err != nil {
				return err
			}
			if b := tx.Bucket(bucketQueue).Bucket([]byte(e.Receiver)); b != nil {
				if k, ok := idKey(e.ID); ok {
					if err := b.Delete(k); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox: bury: %w", err)
	}
	for _, e := range entries {
		f.unhold(e.Receiver, []string{e.ID})
	}
	return nil
}

// deadRecord keeps the original entry id, which Entry does not marshal.
type deadRecord struct {
	Dead
	ID string `json:"entry_id"`
}

// Dead implements Queue.
func (f *File) Dead(_ context.Context, limit int) ([]*Dead, error) {
	var out []*Dead
	err := f.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDead).Cursor()
		for k, v := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			var r deadRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			r.Dead.Entry.ID = r.ID
			out = append(out, &r.Dead)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: dead letters: %w", err)
	}
	return out, nil
}

// Revive implements Queue.
func (f *File) Revive(ctx context.Context, deadIDs ...string) (int, error) {
	var revived []*Entry
	err := f.db.Update(func(tx *bolt.Tx) error {
		dead := tx.Bucket(bucketDead)
		for _, id := range deadIDs {
			k, ok := idKey(id)
			if !ok {
				continue
			}
			v := dead.Get(k)
			if v == nil {
				continue
			}
			var r deadRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			e := r.Dead.Entry
			revived = append(revived, &e)
			if err := dead.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("outbox: revive: %w", err)
	}
	if err := f.enqueue(false, revived); err != nil {
		return 0, err
	}
	return len(revived), nil
}

// Len implements Queue.
func (f *File) Len(_ context.Context, receiver string) (int64, error) {
	var n int64
	err := f.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketQueue).Bucket([]byte(receiver)); b != nil {
			n = int64(b.Stats().KeyN)
		}
		return nil
	})
	return n, err
}

// Sync writes every committed change to disk (fdatasync).
func (f *File) Sync() error { return f.db.Sync() }

// Close implements Queue; it syncs first.
func (f *File) Close() error {
	f.db.Sync()
	return f.db.Close()
}

// dedupGens are the two generations of dedup keys in a transaction.
type dedupGens struct {
	root, cur, prev *bolt.Bucket
	f               *File
}

var (
	dedupCur   = []byte("cur")
	dedupPrev  = []byte("prev")
	dedupMeta  = []byte("meta") // 8 bytes count, 8 bytes start (unix ns) of cur
	dedupEmpty = make([]byte, 16)
)

func (f *File) dedupBuckets(tx *bolt.Tx) (*dedupGens, error) {
	root := tx.Bucket(bucketDedup)
	if root == nil {
		var err error
		if root, err = tx.CreateBucket(bucketDedup); err != nil {
			return nil, err
		}
	}
	g := &dedupGens{root: root, f: f}
	var err error
	if g.cur, err = root.CreateBucketIfNotExists(dedupCur); err != nil {
		return nil, err
	}
	if g.prev, err = root.CreateBucketIfNotExists(dedupPrev); err != nil {
		return nil, err
	}
	return g, nil
}

// count adds n keys to the current generation and begins a new one when
// it is full or old.
func (g *dedupGens) count(n int) error {
	meta := g.root.Get(dedupMeta)
	if len(meta) != 16 {
		meta = dedupEmpty
	}
	count := binary.BigEndian.Uint64(meta[:8]) + uint64(n)
	start := int64(binary.BigEndian.Uint64(meta[8:]))
	now := time.Now().UnixNano()
	if start == 0 {
		start = now
	}
	if count >= uint64(g.f.dedupMax) || time.Duration(now-start) >= g.f.dedupWindow {
		if err := g.root.DeleteBucket(dedupPrev); err != nil {
			return err
		}
		// bbolt has no rename: move cur's keys into a new prev.
		prev, err := g.root.CreateBucket(dedupPrev)
		if err != nil {
			return err
		}
		if err := g.cur.ForEach(func(k, v []byte) error { return prev.Put(k, v) }); err != nil {
			return err
		}
		if err := g.root.DeleteBucket(dedupCur); err != nil {
			return err
		}
		if g.cur, err = g.root.CreateBucket(dedupCur); err != nil {
			return err
		}
		g.prev = prev
		count, start = 0, now
	}
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v[:8], count)
	binary.BigEndian.PutUint64(v[8:], uint64(start))
	return g.root.Put(dedupMeta, v)
}

// stateRecord is a GroupState with its expiry.
type stateRecord struct {
	GroupState
	Expires time.Time `json:"expires"`
}

// Get implements States.
func (f *File) Get(_ context.Context, receiver, groupKey string) (*GroupState, bool, error) {
	var st *GroupState
	err := f.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketStates).Bucket([]byte(receiver))
		if b == nil {
			return nil
		}
		v := b.Get([]byte(groupKey))
		if v == nil {
			return nil
		}
		var r stateRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		if time.Now().Before(r.Expires) {
			st = &r.GroupState
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("outbox: state: %w", err)
	}
	return st, st != nil, nil
}

// Put implements States.
func (f *File) Put(_ context.Context, receiver, groupKey string, st *GroupState, ttl time.Duration) error {
	v, err := json.Marshal(stateRecord{GroupState: *st, Expires: time.Now().Add(ttl)})
	if err != nil {
		return err
	}
	return f.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketStates).CreateBucketIfNotExists([]byte(receiver))
		if err != nil {
			return err
		}
		return b.Put([]byte(groupKey), v)
	})
}

// Delete implements States.
func (f *File) Delete(_ context.Context, receiver, groupKey string) error {
	return f.db.Update(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketStates).Bucket([]byte(receiver)); b != nil {
			return b.Delete([]byte(groupKey))
		}
		return nil
	})
}

// List implements States.
func (f *File) List(_ context.Context, receiver string, fn func(string, *GroupState) bool) error {
	type kv struct {
		k  string
		st *GroupState
	}
	var all []kv
	now := time.Now()
	err := f.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketStates).Bucket([]byte(receiver))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var r stateRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if now.Before(r.Expires) {
				all = append(all, kv{string(k), &r.GroupState})
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, e := range all {
		if !fn(e.k, e.st) {
			break
		}
	}
	return nil
}

// Lock implements States: one process owns the file, so an in-process
// lock is enough.
func (f *File) Lock(_ context.Context, receiver, groupKey string, _ time.Duration) (func(), bool, error) {
	k := receiver + "\x00" + groupKey
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.locks[k] {
		return nil, false, nil
	}
	f.locks[k] = true
	return func() {
		f.mu.Lock()
		delete(f.locks, k)
		f.mu.Unlock()
	}, true, nil
}

// sweep drops expired states.
func (f *File) sweep() {
	now := time.Now()
	f.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketStates).ForEachBucket(func(name []byte) error {
			b := tx.Bucket(bucketStates).Bucket(name)
			var expired [][]byte
			b.ForEach(func(k, v []byte) error {
				var r stateRecord
				if json.Unmarshal(v, &r) != nil || !now.Before(r.Expires) {
					expired = append(expired, bytes.Clone(k))
				}
				return nil
			})
			for _, k := range expired {
				b.Delete(k)
			}
			return nil
		})
	})
}
