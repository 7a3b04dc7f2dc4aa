package correlate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the Store shared by every replica: windows are sorted sets
// scored by event time, first-seen sets are sorted sets scored by last
// sighting, suppressions are strings. Each update is one Lua script on
// one key, so it is atomic; the keys a group uses share a hash tag
// ({rule:group}), so they live in one Redis Cluster slot. A batch is one
// pipeline: one round trip for many events.
type Redis struct {
	rdb redis.UniversalClient
}

// NewRedis returns a Redis store on rdb.
func NewRedis(rdb redis.UniversalClient) *Redis { return &Redis{rdb: rdb} }

var addScript = redis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
local cap = tonumber(ARGV[4])
if cap > 0 then
  local n = redis.call('ZCARD', KEYS[1])
  if n > cap then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - cap - 1) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
local r = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #r, 2 do
  local a = string.find(r[i], '\31', 1, true)
  local b = a and string.find(r[i], '\31', a + 1, true)
  if b then r[i] = string.sub(r[i], 1, b - 1) end
end
return r
`)

var seenScript = redis.NewScript(`
local t = tonumber(ARGV[1])
local old = redis.call('ZSCORE', KEYS[1], ARGV[2])
if (not old) or tonumber(old) < t then redis.call('ZADD', KEYS[1], t, ARGV[2]) end
local cap = tonumber(ARGV[4])
if cap > 0 then
  local n = redis.call('ZCARD', KEYS[1])
  if n > cap then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - cap - 1) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if (not old) or tonumber(old) < t - tonumber(ARGV[3]) then return 1 end
return 0
`)

// A claim's value is "until|trigger".
var claimScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  local sep = string.find(v, '|', 1, true)
  local trig = string.sub(v, sep + 1)
  if trig == ARGV[2] then return 1 end
  if tonumber(ARGV[1]) < tonumber(string.sub(v, 1, sep - 1)) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[3] .. '|' .. ARGV[2], 'PX', ARGV[4])
return 1
`)

var sinceScript = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
return redis.call('GET', KEYS[1])
`)

var scripts = []*redis.Script{addScript, seenScript, claimScript, sinceScript}

func ms(d time.Duration) int64 { return max(d.Milliseconds(), 1) }

// run queues one script call per item on a pipeline and executes it; after
// a Redis restart the scripts are gone (NOSCRIPT), so they are loaded
// again and the batch retried once. Scripts are idempotent per item.
func (r *Redis) run(ctx context.Context, n int, queue func(p redis.Pipeliner, i int) *redis.Cmd) ([]*redis.Cmd, error) {
	for attempt := 0; ; attempt++ {
		cmds := make([]*redis.Cmd, n)
		_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range n {
				cmds[i] = queue(p, i)
			}
			return nil
		})
		if err != nil && attempt == 0 && redis.HasErrorPrefix(err, "NOSCRIPT") {
			for _, s := range scripts {
				if lerr := s.Load(ctx, r.rdb).Err(); lerr != nil {
					return nil, fmt.Errorf("loading correlation scripts: %w", lerr)
				}
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		return cmds, nil
	}
}

// Add implements Store.
func (r *Redis) Add(ctx context.Context, adds []Add) ([][]Entry, error) {
	if len(adds) == 0 {
		return nil, nil
	}
	cmds, err := r.run(ctx, len(adds), func(p redis.Pipeliner, i int) *redis.Cmd {
		a := adds[i]
		return addScript.EvalSha(ctx, p, []string{a.Key}, a.Entry.T, a.Entry.Member, a.Cutoff, a.Cap, ms(a.TTL))
	})
	if err != nil {
		return nil, err
	}
	out := make([][]Entry, len(adds))
	for i, c := range cmds {
		if out[i], err = parseEntries(c); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func parseEntries(c *redis.Cmd) ([]Entry, error) {
	vals, err := c.Slice()
	if err != nil {
		return nil, err
	}
	es := make([]Entry, 0, len(vals)/2)
	for j := 0; j+1 < len(vals); j += 2 {
		mem, _ := vals[j].(string)
		score, _ := vals[j+1].(string)
		t, err := strconv.ParseFloat(score, 64)
		if err != nil {
			return nil, fmt.Errorf("correlation window: score %q: %w", score, err)
		}
		es = append(es, Entry{T: int64(t), Member: mem})
	}
	return es, nil
}

// Window implements Store.
func (r *Redis) Window(ctx context.Context, key string) ([]Entry, error) {
	zs, err := r.rdb.ZRangeWithScores(ctx, key, 0, -1).Result()
	if err != nil {
		return nil, err
	}
	es := make([]Entry, len(zs))
	for i, z := range zs {
		es[i] = Entry{T: int64(z.Score), Member: z.Member.(string)}
	}
	return es, nil
}

// Seen implements Store.
func (r *Redis) Seen(ctx context.Context, seen []Seen) ([]bool, error) {
	if len(seen) == 0 {
		return nil, nil
	}
	cmds, err := r.run(ctx, len(seen), func(p redis.Pipeliner, i int) *redis.Cmd {
		s := seen[i]
		return seenScript.EvalSha(ctx, p, []string{s.Key}, s.T, s.Value, s.Lookback, s.Cap, ms(s.TTL))
	})
	if err != nil {
		return nil, err
	}
	return flags(cmds)
}

// Claim implements Store.
func (r *Redis) Claim(ctx context.Context, claims []Claim) ([]bool, error) {
	if len(claims) == 0 {
		return nil, nil
	}
	for _, c := range claims {
		if strings.Contains(c.Trigger, "|") {
			return nil, errors.New("correlation claim: trigger contains |")
		}
	}
	cmds, err := r.run(ctx, len(claims), func(p redis.Pipeliner, i int) *redis.Cmd {
		c := claims[i]
		return claimScript.EvalSha(ctx, p, []string{c.Key}, c.T, c.Trigger, c.Until, ms(c.TTL))
	})
	if err != nil {
		return nil, err
	}
	return flags(cmds)
}

// flags reads scripts' 1/0 answers.
func flags(cmds []*redis.Cmd) ([]bool, error) {
	out := make([]bool, len(cmds))
	for i, c := range cmds {
		n, err := c.Int()
		if err != nil {
			return nil, err
		}
		out[i] = n == 1
	}
	return out, nil
}

// Since implements Store.
func (r *Redis) Since(ctx context.Context, key string, t int64, ttl time.Duration) (int64, error) {
	cmds, err := r.run(ctx, 1, func(p redis.Pipeliner, _ int) *redis.Cmd {
		return sinceScript.EvalSha(ctx, p, []string{key}, t, ms(ttl))
	})
	if err != nil {
		return 0, err
	}
	s, err := cmds[0].Text()
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(s, 10, 64)
}
