package outbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the outbox shared by every replica: one stream per receiver
// (PREFIXoutbox:RECEIVER) read through the consumer group "vigia", so each
// entry is delivered by one replica; entries a replica claimed and did not
// acknowledge within ClaimTimeout (it died) are taken over by another
// (XAUTOCLAIM). Acknowledged entries are deleted from the stream, so XLEN
// is the backlog. Dead letters go to PREFIXoutbox-dead; group states are
// JSON strings PREFIXgroup:RECEIVER:KEY with a TTL, indexed by the set
// PREFIXgroups:RECEIVER.
//
// Inspect with redis-cli: XLEN vigia:outbox:slack-soc, XPENDING
// vigia:outbox:slack-soc vigia, XRANGE vigia:outbox-dead - +.
type Redis struct {
	c        *redis.Client
	prefix   string
	consumer string
	instance string // this process, in lock tokens
	timeout  time.Duration
	dedup    time.Duration

	mu      sync.Mutex
	groups  map[string]bool   // streams whose consumer group exists
	ownRead map[string]string // stream -> where re-reading this consumer's own pending entries resumes; "-" once done
}

var (
	_ Queue  = (*Redis)(nil)
	_ States = (*Redis)(nil)
)

// RedisOptions configure a Redis outbox.
type RedisOptions struct {
	// Prefix prefixes every key. Default: "vigia:".
	Prefix string
	// Consumer names this replica in the consumer group; a stable name
	// (the pod name) lets a restarted replica resume its own pending
	// entries at once. Default: the hostname.
	Consumer string
	// ClaimTimeout is how long an entry may stay claimed and
	// unacknowledged before another replica takes it over. Default: 10m.
	ClaimTimeout time.Duration
	// DedupWindow is how long Enqueue remembers a group's alert ids (a
	// key PREFIXdedup:HASH each, about 100 bytes of Redis memory).
	// Default: 1h.
	DedupWindow time.Duration
}

const consumerGroup = "vigia"

// NewRedis returns the Redis outbox.
func NewRedis(c *redis.Client, opts RedisOptions) (*Redis, error) {
	if opts.Prefix == "" {
		opts.Prefix = "vigia:"
	}
	if opts.Consumer == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "vigia-" + randomToken()[:8]
		}
		opts.Consumer = h
	}
	if opts.ClaimTimeout <= 0 {
		opts.ClaimTimeout = 10 * time.Minute
	}
	if opts.DedupWindow <= 0 {
		opts.DedupWindow = DefaultDedupWindow
	}
	return &Redis{c: c, prefix: opts.Prefix, consumer: opts.Consumer, instance: randomToken()[:12], timeout: opts.ClaimTimeout, dedup: opts.DedupWindow,
		groups: map[string]bool{}, ownRead: map[string]string{}}, nil
}

func (r *Redis) stream(receiver string) string { return r.prefix + "outbox:" + receiver }
func (r *Redis) deadStream() string            { return r.prefix + "outbox-dead" }
func (r *Redis) stateKey(receiver, key string) string {
	return r.prefix + "group:" + receiver + ":" + key
}
func (r *Redis) stateIndex(receiver string) string { return r.prefix + "groups:" + receiver }

func (r *Redis) ensureGroup(ctx context.Context, stream string) error {
	r.mu.Lock()
	ok := r.groups[stream]
	r.mu.Unlock()
	if ok {
		return nil
	}
	err := r.c.XGroupCreateMkStream(ctx, stream, consumerGroup, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return err
	}
	r.mu.Lock()
	r.groups[stream] = true
	r.mu.Unlock()
	return nil
}

// enqueueOnce adds an entry unless its dedup key exists, atomically: a
// crash cannot leave the key without the entry.
var enqueueOnce = redis.NewScript(`
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then
  return redis.call('XADD', KEYS[1], '*', 'e', ARGV[2])
end
return false
`)

// Enqueue implements Queue: XADD, pipelined; entries with an alert go
// through a script that skips them when their group already took the
// alert within the dedup window.
func (r *Redis) Enqueue(ctx context.Context, entries ...*Entry) error {
	return r.enqueue(ctx, true, entries)
}

func (r *Redis) enqueue(ctx context.Context, dedup bool, entries []*Entry) error {
	if len(entries) == 0 {
		return nil
	}
	pipe := r.c.Pipeline()
	cmds := make([]redis.Cmder, len(entries))
	for i, e := range entries {
		v, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if k := dedupKey(e); k != "" && dedup {
			cmds[i] = enqueueOnce.Eval(ctx, pipe, []string{r.stream(e.Receiver), r.prefix + "dedup:" + k}, r.dedup.Milliseconds(), v)
		} else {
			cmds[i] = pipe.XAdd(ctx, &redis.XAddArgs{Stream: r.stream(e.Receiver), Values: []any{"e", v}})
		}
	}
	_, _ = pipe.Exec(ctx) // errors are checked per command: a skipped entry answers nil
	for i, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("outbox: enqueue: %w", err)
		}
		entries[i].ID = ""
		switch c := c.(type) {
		case *redis.StringCmd:
			entries[i].ID = c.Val()
		case *redis.Cmd:
			if id, ok := c.Val().(string); ok {
				entries[i].ID = id
			}
		}
	}
	return nil
}

// Claim implements Queue: this consumer's own pending entries once after
// start, then entries dead consumers left (XAUTOCLAIM), then new ones
// (XREADGROUP, blocking up to wait).
func (r *Redis) Claim(ctx context.Context, receiver string, max int, wait time.Duration) ([]*Entry, error) {
	stream := r.stream(receiver)
	if err := r.ensureGroup(ctx, stream); err != nil {
		return nil, fmt.Errorf("outbox: claim: %w", err)
	}
	// This consumer's own pending entries (a previous process of the same
	// name died holding them), all of them, batch by batch, before new ones.
	r.mu.Lock()
	from := r.ownRead[stream]
	r.mu.Unlock()
	if from != "-" {
		if from == "" {
			from = "0"
		}
		res, err := r.c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: consumerGroup, Consumer: r.consumer, Streams: []string{stream, from}, Count: int64(max)}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("outbox: claim: %w", err)
		}
		next := "-"
		if len(res) > 0 && len(res[0].Messages) > 0 {
			next = res[0].Messages[len(res[0].Messages)-1].ID
		}
		r.mu.Lock()
		r.ownRead[stream] = next
		r.mu.Unlock()
		if out := r.entries(ctx, stream, res, true); len(out) > 0 {
			return out, nil
		}
	}
	msgs, _, err := r.c.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: stream, Group: consumerGroup, Consumer: r.consumer,
		MinIdle: r.timeout, Start: "0-0", Count: int64(max)}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("outbox: claim: %w", err)
	}
	if len(msgs) > 0 {
		return r.entries(ctx, stream, []redis.XStream{{Stream: stream, Messages: msgs}}, true), nil
	}
	block := wait
	if block <= 0 {
		block = -1 // no BLOCK
	}
	res, err := r.c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: consumerGroup, Consumer: r.consumer, Streams: []string{stream, ">"}, Count: int64(max), Block: block}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("outbox: claim: %w", err)
	}
	return r.entries(ctx, stream, res, false), nil
}

// entries decodes stream messages; redelivered ones get their delivery
// counts from the pending entries list. A message that does not decode is
// moved to the dead letter rather than blocking the stream.
func (r *Redis) entries(ctx context.Context, stream string, res []redis.XStream, redelivered bool) []*Entry {
	var out []*Entry
	for _, s := range res {
		for _, m := range s.Messages {
			var e Entry
			raw, _ := m.Values["e"].(string)
			if err := json.Unmarshal([]byte(raw), &e); err != nil {
				r.c.XAdd(ctx, &redis.XAddArgs{Stream: r.deadStream(), Values: []any{"reason", "undecodable outbox entry: " + err.Error(), "raw", raw, "entry_id", m.ID, "time", time.Now().UTC().Format(time.RFC3339Nano)}})
				r.c.XAck(ctx, stream, consumerGroup, m.ID)
				r.c.XDel(ctx, stream, m.ID)
				continue
			}
			e.ID = m.ID
			out = append(out, &e)
		}
	}
	if redelivered && len(out) > 0 {
		pend, err := r.c.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: stream, Group: consumerGroup, Start: out[0].ID, End: out[len(out)-1].ID, Count: int64(len(out) * 2)}).Result()
		if err == nil {
			counts := map[string]int64{}
			for _, p := range pend {
				counts[p.ID] = p.RetryCount
			}
			for _, e := range out {
				e.Deliveries = int(max(counts[e.ID]-1, 0))
			}
		}
	}
	return out
}

// Ack implements Queue: XACK and XDEL in one transaction.
func (r *Redis) Ack(ctx context.Context, receiver string, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	stream := r.stream(receiver)
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAck(ctx, stream, consumerGroup, ids...)
		p.XDel(ctx, stream, ids...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox: ack: %w", err)
	}
	return nil
}

// Bury implements Queue.
func (r *Redis) Bury(ctx context.Context, reason string, entries ...*Entry) error {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, e := range entries {
			v, err := json.Marshal(e)
			if err != nil {
				return err
			}
			p.XAdd(ctx, &redis.XAddArgs{Stream: r.deadStream(), Values: []any{"e", v, "reason", reason, "time", now, "entry_id", e.ID}})
			p.XAck(ctx, r.stream(e.Receiver), consumerGroup, e.ID)
			p.XDel(ctx, r.stream(e.Receiver), e.ID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox: bury: %w", err)
	}
	return nil
}

// Dead implements Queue.
func (r *Redis) Dead(ctx context.Context, limit int) ([]*Dead, error) {
	var msgs []redis.XMessage
	var err error
	if limit > 0 {
		msgs, err = r.c.XRangeN(ctx, r.deadStream(), "-", "+", int64(limit)).Result()
	} else {
		msgs, err = r.c.XRange(ctx, r.deadStream(), "-", "+").Result()
	}
	if err != nil {
		return nil, fmt.Errorf("outbox: dead letters: %w", err)
	}
	out := make([]*Dead, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, deadFrom(m))
	}
	return out, nil
}

func deadFrom(m redis.XMessage) *Dead {
	d := &Dead{DeadID: m.ID}
	if raw, _ := m.Values["e"].(string); raw != "" {
		json.Unmarshal([]byte(raw), &d.Entry)
	}
	d.Reason, _ = m.Values["reason"].(string)
	d.Entry.ID, _ = m.Values["entry_id"].(string)
	if t, _ := m.Values["time"].(string); t != "" {
		d.Time, _ = time.Parse(time.RFC3339Nano, t)
	}
	return d
}

// Revive implements Queue.
func (r *Redis) Revive(ctx context.Context, deadIDs ...string) (int, error) {
	n := 0
	for _, id := range deadIDs {
		if !streamID(id) {
			continue
		}
		msgs, err := r.c.XRangeN(ctx, r.deadStream(), id, id, 1).Result()
		if err != nil {
			return n, fmt.Errorf("outbox: revive: %w", err)
		}
		if len(msgs) == 0 {
			continue
		}
		d := deadFrom(msgs[0])
		if d.Entry.Receiver == "" {
			continue // undecodable: nothing to deliver
		}
		e := d.Entry
		if err := r.enqueue(ctx, false, []*Entry{&e}); err != nil {
			return n, err
		}
		if err := r.c.XDel(ctx, r.deadStream(), id).Err(); err != nil {
			return n, fmt.Errorf("outbox: revive: %w", err)
		}
		n++
	}
	return n, nil
}

// Len implements Queue.
func (r *Redis) Len(ctx context.Context, receiver string) (int64, error) {
	n, err := r.c.XLen(ctx, r.stream(receiver)).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, err
}

// Close implements Queue; the client belongs to the caller.
func (r *Redis) Close() error { return nil }

// Get implements States.
func (r *Redis) Get(ctx context.Context, receiver, groupKey string) (*GroupState, bool, error) {
	v, err := r.c.Get(ctx, r.stateKey(receiver, groupKey)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("outbox: state: %w", err)
	}
	var st GroupState
	if err := json.Unmarshal(v, &st); err != nil {
		return nil, false, fmt.Errorf("outbox: state %s: %w", groupKey, err)
	}
	return &st, true, nil
}

// Put implements States.
func (r *Redis) Put(ctx context.Context, receiver, groupKey string, st *GroupState, ttl time.Duration) error {
	v, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, r.stateKey(receiver, groupKey), v, ttl)
		p.SAdd(ctx, r.stateIndex(receiver), groupKey)
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox: state: %w", err)
	}
	return nil
}

// Delete implements States.
func (r *Redis) Delete(ctx context.Context, receiver, groupKey string) error {
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, r.stateKey(receiver, groupKey))
		p.SRem(ctx, r.stateIndex(receiver), groupKey)
		return nil
	})
	return err
}

// List implements States; expired groups are dropped from the index.
func (r *Redis) List(ctx context.Context, receiver string, fn func(string, *GroupState) bool) error {
	keys, err := r.c.SMembers(ctx, r.stateIndex(receiver)).Result()
	if err != nil {
		return fmt.Errorf("outbox: states: %w", err)
	}
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 256)]
		keys = keys[len(batch):]
		full := make([]string, len(batch))
		for i, k := range batch {
			full[i] = r.stateKey(receiver, k)
		}
		vals, err := r.c.MGet(ctx, full...).Result()
		if err != nil {
			return fmt.Errorf("outbox: states: %w", err)
		}
		for i, v := range vals {
			s, ok := v.(string)
			if !ok {
				r.c.SRem(ctx, r.stateIndex(receiver), batch[i])
				continue
			}
			var st GroupState
			if json.Unmarshal([]byte(s), &st) != nil {
				continue
			}
			if !fn(batch[i], &st) {
				return nil
			}
		}
	}
	return nil
}

var unlock = redis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`)

// lockOrTakeOver takes the lock (SET NX PX), or takes it over when it is
// held by an earlier process of this consumer (same name, another
// instance): that process died holding it, since a consumer name is one
// replica.
var lockOrTakeOver = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[3]) then return 1 end
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, string.len(ARGV[2])) == ARGV[2] and string.sub(v, 1, string.len(ARGV[4])) ~= ARGV[4] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
  return 1
end
return 0
`)

// Lock implements States: SET NX PX with a token naming this consumer and
// this process; release deletes the key only while it still holds the
// token. A lock left by a previous process of the same consumer (killed
// mid-delivery) is taken over at once instead of after ttl.
func (r *Redis) Lock(ctx context.Context, receiver, groupKey string, ttl time.Duration) (func(), bool, error) {
	key := r.prefix + "lock:" + receiver + ":" + groupKey
	token := r.consumer + "\x00" + r.instance + "\x00" + randomToken()
	ok, err := lockOrTakeOver.Run(ctx, r.c, []string{key}, token, r.consumer+"\x00", ttl.Milliseconds(), r.consumer+"\x00"+r.instance+"\x00").Int()
	if err != nil {
		return nil, false, fmt.Errorf("outbox: lock: %w", err)
	}
	if ok != 1 {
		return nil, false, nil
	}
	return func() { unlock.Run(context.WithoutCancel(ctx), r.c, []string{key}, token) }, true, nil
}

// streamID reports whether id has a stream id's shape (ms-seq).
func streamID(id string) bool {
	ms, seq, ok := strings.Cut(id, "-")
	digits := func(s string) bool {
		for _, c := range s {
			if c < '0' || c > '9' {
				return false
			}
		}
		return s != ""
	}
	return ok && digits(ms) && digits(seq)
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
