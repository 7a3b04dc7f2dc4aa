package lifecycle

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"
)

// Outcomes of an action, as the audit trail records them.
const (
	// OutcomeDone: the action was applied to every group it reached.
	OutcomeDone = "done"
	// OutcomePartial: some receivers failed; see Targets.
	OutcomePartial = "partial"
	// OutcomeFailed: nothing could be applied.
	OutcomeFailed = "failed"
	// OutcomeRefused: the actor may not act on the group's route.
	OutcomeRefused = "refused"
	// OutcomeNoChange: every group reached was already in that state (the
	// echo of Vigia's own acknowledgement from PagerDuty, a double click).
	OutcomeNoChange = "no_change"
	// OutcomeUnknown: no open group matches (resolved and forgotten, a
	// PagerDuty incident Vigia did not open).
	OutcomeUnknown = "unknown_group"
)

// Entry is one lifecycle action in the audit trail: who did what, when,
// from where, to which groups, with what result. Entries hold no secret:
// actors are names and ids, errors are redacted.
type Entry struct {
	// ID is assigned by the store (a sequence number, a stream id).
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	// Action is acknowledge, resolve or silence.
	Action string `json:"action"`
	// Source is slack, pagerduty or cli; Where says more (the Slack
	// channel, the PagerDuty incident, the CLI's address).
	Source string `json:"source"`
	Where  string `json:"where,omitempty"`
	// Actor is the person's name as the source gave it, ActorID their id
	// there (Slack user id, PagerDuty user id).
	Actor   string `json:"actor"`
	ActorID string `json:"actor_id,omitempty"`
	// Receiver, GroupKey, Route and GroupLabels name the group acted on.
	Receiver    string            `json:"receiver,omitempty"`
	GroupKey    string            `json:"group_key,omitempty"`
	Route       string            `json:"route,omitempty"`
	GroupLabels map[string]string `json:"group_labels,omitempty"`
	// Outcome is one of the Outcome constants; Reason explains refusals
	// and failures.
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	// SilenceID and Until describe the silence created.
	SilenceID string    `json:"silence_id,omitempty"`
	Until     time.Time `json:"until,omitzero"`
	Comment   string    `json:"comment,omitempty"`
	// Targets are the receivers' groups the action reached.
	Targets []Target `json:"targets,omitempty"`
}

// Target is the result of an action on one receiver's group.
type Target struct {
	Receiver string `json:"receiver"`
	GroupKey string `json:"group_key"`
	// Result is "done", "skipped" (already in that state, or the receiver
	// has no such action) or "failed"; Detail says why.
	Result string `json:"result"`
	Detail string `json:"detail,omitempty"`
}

// Query selects audit entries.
type Query struct {
	// Since keeps entries at or after it. Zero: all.
	Since time.Time
	// Actor keeps entries whose Actor or ActorID contains it, ignoring
	// case. "": all.
	Actor string
	// Limit keeps the newest Limit entries. 0: DefaultLimit.
	Limit int
}

// DefaultLimit is Query's default Limit.
const DefaultLimit = 1000

func (q Query) match(e *Entry) bool {
	if !q.Since.IsZero() && e.Time.Before(q.Since) {
		return false
	}
	if q.Actor != "" {
		a := strings.ToLower(q.Actor)
		return strings.Contains(strings.ToLower(e.Actor), a) || strings.Contains(strings.ToLower(e.ActorID), a)
	}
	return true
}

func (q Query) limit() int {
	if q.Limit <= 0 {
		return DefaultLimit
	}
	return q.Limit
}

// Store is the append-only audit trail. Implementations are safe for
// concurrent use.
type Store interface {
	// Append stores e durably and sets its ID.
	Append(ctx context.Context, e *Entry) error
	// List returns the newest entries matching q, oldest first.
	List(ctx context.Context, q Query) ([]*Entry, error)
	Close() error
}

// FileStore is the audit trail of a single replica: a bbolt file,
// DIR/lifecycle.db, one key per entry in order. Entries are never changed
// or deleted by Vigia.
type FileStore struct {
	db *bolt.DB
}

var bucketAudit = []byte("audit")

// OpenFile opens (creating) the audit trail in dir.
func OpenFile(dir string) (*FileStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lifecycle audit: %w", err)
	}
	path := filepath.Join(dir, "lifecycle.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("lifecycle audit: %s is in use by another Vigia process", path)
		}
		return nil, fmt.Errorf("lifecycle audit: open %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketAudit)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("lifecycle audit: %w", err)
	}
	return &FileStore{db: db}, nil
}

// Append implements Store. The write is synced before it returns.
func (f *FileStore) Append(_ context.Context, e *Entry) error {
	return f.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		e.ID = strconv.FormatUint(n, 10)
		v, err := json.Marshal(e)
		if err != nil {
			return err
		}
		k := make([]byte, 8)
		binary.BigEndian.PutUint64(k, n)
		return b.Put(k, v)
	})
}

// List implements Store, reading backwards from the newest entry.
func (f *FileStore) List(_ context.Context, q Query) ([]*Entry, error) {
	var out []*Entry
	err := f.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Last(); k != nil && len(out) < q.limit(); k, v = c.Prev() {
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if !q.Since.IsZero() && e.Time.Before(q.Since) {
				break
			}
			if q.match(&e) {
				out = append(out, &e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lifecycle audit: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}

// Close implements Store.
func (f *FileStore) Close() error { return f.db.Close() }

// RedisStore is the audit trail shared by every replica: the stream
// PREFIXlifecycle:audit, one XADD per entry (field "entry", the JSON),
// never trimmed by Vigia (trim it with XTRIM MINID when a retention is
// wanted). Inspect with redis-cli: XREVRANGE vigia:lifecycle:audit + - COUNT 10.
type RedisStore struct {
	c   redis.UniversalClient
	key string
}

// NewRedis returns the Redis audit trail on c; prefix defaults to "vigia:".
// Close does not close c.
func NewRedis(c redis.UniversalClient, prefix string) *RedisStore {
	if prefix == "" {
		prefix = "vigia:"
	}
	return &RedisStore{c: c, key: prefix + "lifecycle:audit"}
}

// Append implements Store.
func (r *RedisStore) Append(ctx context.Context, e *Entry) error {
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	id, err := r.c.XAdd(ctx, &redis.XAddArgs{Stream: r.key, Values: []string{"entry", string(v)}}).Result()
	if err != nil {
		return fmt.Errorf("lifecycle audit: %w", err)
	}
	e.ID = id
	return nil
}

// List implements Store, reading the stream backwards in pages.
func (r *RedisStore) List(ctx context.Context, q Query) ([]*Entry, error) {
	var out []*Entry
	end, start := "+", "-"
	if !q.Since.IsZero() {
		start = strconv.FormatInt(q.Since.UnixMilli(), 10)
	}
	for len(out) < q.limit() {
		page, err := r.c.XRevRangeN(ctx, r.key, end, start, 500).Result()
		if err != nil {
			return nil, fmt.Errorf("lifecycle audit: %w", err)
		}
		for _, m := range page {
			s, _ := m.Values["entry"].(string)
			var e Entry
			if err := json.Unmarshal([]byte(s), &e); err != nil {
				return nil, fmt.Errorf("lifecycle audit: entry %s: %w", m.ID, err)
			}
			e.ID = m.ID
			if q.match(&e) && len(out) < q.limit() {
				out = append(out, &e)
			}
		}
		if len(page) < 500 {
			break
		}
		end = "(" + page[len(page)-1].ID
	}
	slices.Reverse(out)
	return out, nil
}

// Close implements Store; the client stays open.
func (r *RedisStore) Close() error { return nil }
