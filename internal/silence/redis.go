package silence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the store shared by every replica: one hash per silence,
// PREFIXsilence:ID (fields matchers — a JSON array of strings —, starts_at,
// ends_at, created_by, comment, created_at, updated_at; times RFC 3339),
// expiring Retention after the silence ends; the set PREFIXsilences
// indexes the ids and the counter PREFIXsilences:version is incremented on
// every write, so replicas reload only when something changed.
//
// Inspect with redis-cli: SMEMBERS vigia:silences, HGETALL vigia:silence:ID.
type Redis struct {
	c         redis.UniversalClient
	prefix    string
	retention time.Duration
}

var _ Store = (*Redis)(nil)

// RedisOptions configure a Redis store.
type RedisOptions struct {
	// Prefix prefixes every key. Default: "vigia:".
	Prefix string
	// Retention is how long a silence's hash outlives its end. Default:
	// DefaultRetention.
	Retention time.Duration
}

// NewRedis returns the Redis store on c. Close does not close c.
func NewRedis(c redis.UniversalClient, opts RedisOptions) *Redis {
	if opts.Prefix == "" {
		opts.Prefix = "vigia:"
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	return &Redis{c: c, prefix: opts.Prefix, retention: opts.Retention}
}

func (r *Redis) key(id string) string { return r.prefix + "silence:" + id }
func (r *Redis) index() string        { return r.prefix + "silences" }
func (r *Redis) versionKey() string   { return r.prefix + "silences:version" }

// put queues the writes of s on p.
func (r *Redis) put(ctx context.Context, p redis.Pipeliner, s *Silence) error {
	matchers, err := json.Marshal(MatcherStrings(s.Matchers))
	if err != nil {
		return err
	}
	key := r.key(s.ID)
	p.Del(ctx, key)
	p.HSet(ctx, key,
		"matchers", string(matchers),
		"starts_at", s.StartsAt.UTC().Format(time.RFC3339Nano),
		"ends_at", s.EndsAt.UTC().Format(time.RFC3339Nano),
		"created_by", s.CreatedBy,
		"comment", s.Comment,
		"created_at", s.CreatedAt.UTC().Format(time.RFC3339Nano),
		"updated_at", s.UpdatedAt.UTC().Format(time.RFC3339Nano),
	)
	p.ExpireAt(ctx, key, s.EndsAt.Add(r.retention))
	p.SAdd(ctx, r.index(), s.ID)
	p.Incr(ctx, r.versionKey())
	return nil
}

// decode reads a silence hash.
func decode(id string, h map[string]string) (*Silence, error) {
	var exprs []string
	if err := json.Unmarshal([]byte(h["matchers"]), &exprs); err != nil {
		return nil, fmt.Errorf("silence %s: matchers: %w", id, err)
	}
	ms, err := ParseMatchers(exprs...)
	if err != nil {
		return nil, fmt.Errorf("silence %s: %w", id, err)
	}
	s := &Silence{ID: id, Matchers: ms, CreatedBy: h["created_by"], Comment: h["comment"]}
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"starts_at", &s.StartsAt}, {"ends_at", &s.EndsAt}, {"created_at", &s.CreatedAt}, {"updated_at", &s.UpdatedAt}} {
		if *f.t, err = time.Parse(time.RFC3339Nano, h[f.name]); err != nil {
			return nil, fmt.Errorf("silence %s: %s: %w", id, f.name, err)
		}
	}
	return s, nil
}

// Put implements Store.
func (r *Redis) Put(ctx context.Context, s *Silence) error {
	var perr error
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		perr = r.put(ctx, p, s)
		return perr
	})
	if err != nil {
		return fmt.Errorf("silences: %w", err)
	}
	return nil
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, id string) (*Silence, error) {
	h, err := r.c.HGetAll(ctx, r.key(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("silences: %w", err)
	}
	if len(h) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return decode(id, h)
}

// Expire implements Store. It is a check-and-set transaction on the
// silence's key, so it never resurrects a hash that expired meanwhile.
func (r *Redis) Expire(ctx context.Context, id string, t time.Time) (*Silence, error) {
	key := r.key(id)
	var out *Silence
	for range 5 {
		err := r.c.Watch(ctx, func(tx *redis.Tx) error {
			h, err := tx.HGetAll(ctx, key).Result()
			if err != nil {
				return err
			}
			if len(h) == 0 {
				return fmt.Errorf("%w: %q", ErrNotFound, id)
			}
			s, err := decode(id, h)
			if err != nil {
				return err
			}
			if err := expire(s, t); err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error { return r.put(ctx, p, s) })
			out = s
			return err
		}, key)
		switch {
		case err == nil:
			return out, nil
		case errors.Is(err, redis.TxFailedErr):
			continue // changed under us; read again
		case errors.Is(err, ErrNotFound), errors.Is(err, ErrExpired):
			return nil, err
		default:
			return nil, fmt.Errorf("silences: %w", err)
		}
	}
	return nil, fmt.Errorf("silences: expire %s: too many concurrent changes", id)
}

// List implements Store. Ids whose hash expired are removed from the index.
func (r *Redis) List(ctx context.Context) ([]*Silence, error) {
	ids, err := r.c.SMembers(ctx, r.index()).Result()
	if err != nil {
		return nil, fmt.Errorf("silences: %w", err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, r.key(id))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("silences: %w", err)
	}
	out := make([]*Silence, 0, len(ids))
	var gone []any
	var bad []string
	for i, id := range ids {
		h := cmds[i].Val()
		if len(h) == 0 {
			gone = append(gone, id)
			continue
		}
		s, err := decode(id, h)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		out = append(out, s)
	}
	if len(gone) > 0 {
		// Best effort: a failure leaves ids that are skipped next time too.
		r.c.SRem(ctx, r.index(), gone...)
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("silences: %d unreadable: %s", len(bad), strings.Join(bad, "; "))
	}
	return out, nil
}

// Version implements Store.
func (r *Redis) Version(ctx context.Context) (string, error) {
	v, err := r.c.Get(ctx, r.versionKey()).Result()
	if errors.Is(err, redis.Nil) {
		return "0", nil
	}
	if err != nil {
		return "", fmt.Errorf("silences: %w", err)
	}
	return v, nil
}

// Close implements Store; the client is the caller's.
func (r *Redis) Close() error { return nil }
