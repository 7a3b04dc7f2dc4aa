package resolve

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Redis is a Store in Redis, shared by every replica: what one replica
// learns the others resolve with. Every key is written with its TTL
// (SET ... PX), under a prefix so that several deployments or other data
// can share one database.
//
// Get is one MGET and Set one pipeline, so a batch costs a round trip per
// step whatever its size. MGET needs all keys on one server: use a single
// primary (with replicas or Sentinel failover, redis.NewFailoverClient),
// not Redis Cluster.
type Redis struct {
	client *redis.Client
	prefix string
}

var _ Store = (*Redis)(nil)

// NewRedis returns a Store on client whose keys all start with prefix (for
// example "vigia:resolve:").
func NewRedis(client *redis.Client, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, keys ...string) ([]string, error) {
	out := make([]string, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.prefix + k
	}
	vals, err := r.client.MGet(ctx, full...).Result()
	if err != nil {
		return nil, fmt.Errorf("redis MGET of %d keys: %w", len(keys), err)
	}
	if len(vals) != len(keys) {
		return nil, fmt.Errorf("redis MGET of %d keys answered %d values", len(keys), len(vals))
	}
	for i, v := range vals {
		if s, ok := v.(string); ok {
			out[i] = s
		}
	}
	return out, nil
}

// Set implements Store.
func (r *Redis) Set(ctx context.Context, entries ...Entry) error {
	if len(entries) == 0 {
		return nil
	}
	for _, e := range entries {
		if e.Value != "" && e.TTL <= 0 {
			return fmt.Errorf("%w: %q", ErrNoTTL, e.Key)
		}
	}
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, e := range entries {
			if e.Value == "" {
				p.Del(ctx, r.prefix+e.Key)
			} else {
				p.Set(ctx, r.prefix+e.Key, e.Value, e.TTL)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis pipeline of %d writes: %w", len(entries), err)
	}
	return nil
}
