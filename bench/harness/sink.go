package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// sink is the webhook receiver's endpoint: it counts the alerts delivered,
// once per notification id (a retried notification is not counted twice).
type sink struct {
	srv *http.Server
	url string

	mu        sync.Mutex
	seen      map[string]bool
	delivered map[string]int64 // run -> alerts
	requests  int64
}

func startSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{seen: map[string]bool{}, delivered: map[string]int64{}, url: "http://" + ln.Addr().String() + "/hook/"}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *sink) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var doc struct {
		ID        string `json:"id"`
		Status    string `json:"status"`
		NewAlerts int64  `json:"new_alerts"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.ID == "" {
		http.Error(w, "not a Vigia webhook body", http.StatusBadRequest)
		return
	}
	run := strings.TrimPrefix(r.URL.Path, "/hook/")
	s.mu.Lock()
	s.requests++
	if !s.seen[run+"/"+doc.ID] && doc.Status == "firing" {
		s.seen[run+"/"+doc.ID] = true
		s.delivered[run] += doc.NewAlerts
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (s *sink) count(run string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delivered[run]
}

func (s *sink) close() { s.srv.Close() }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startRedis starts redis-server on a free port without persistence.
func startRedis(ctx context.Context, dir string) (string, *child, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, fmt.Errorf("redis-server not found on PATH (install it, e.g. apt-get install redis-server, or give -redis ADDR): %w", err)
	}
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	rdir := filepath.Join(dir, "redis")
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", rdir)
	c, err := startChild("redis-server", cmd, filepath.Join(dir, "redis.log"))
	if err != nil {
		return "", nil, err
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	for deadline := time.Now().Add(15 * time.Second); ; {
		if rdb.Ping(ctx).Err() == nil {
			return addr, c, nil
		}
		if time.Now().After(deadline) || c.exited() {
			c.stop(time.Second)
			return "", nil, fmt.Errorf("redis-server did not answer on %s: %s", addr, c.tail(2000))
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return "", nil, err
		}
	}
}

// groupKeys counts the correlation groups in Redis under prefix: the
// distinct {rule:group} hash tags of the keys prefix+"corr:{...}..."
// (windows ":w", first-seen sets, suppressions ":s"), leaving out the
// per-rule ":since" keys.
func groupKeys(ctx context.Context, addr, prefix string) (groups, keys int64, err error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	seen := map[string]bool{}
	var cursor uint64
	for {
		ks, next, err := rdb.Scan(ctx, cursor, prefix+"corr:*", 10_000).Result()
		if err != nil {
			return 0, 0, err
		}
		for _, k := range ks {
			if strings.HasSuffix(k, ":since") {
				continue
			}
			keys++
			i, j := strings.IndexByte(k, '{'), strings.IndexByte(k, '}')
			if i >= 0 && j > i {
				seen[k[i:j+1]] = true
			}
		}
		cursor = next
		if cursor == 0 {
			break
		}
	}
	return int64(len(seen)), keys, nil
}

// flushRedis empties a Redis the harness started itself and resets its
// command statistics.
func flushRedis(ctx context.Context, addr string) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		return err
	}
	return rdb.ConfigResetStat(ctx).Err()
}

// redisCommand is one line of INFO commandstats.
type redisCommand struct {
	Command string  `json:"command"`
	Calls   int64   `json:"calls"`
	Seconds float64 `json:"seconds"`
	// PerEvent is calls per message of the run.
	PerEvent float64 `json:"calls_per_event"`
}

// redisCommands returns the commands Redis served since its statistics
// were reset, the most expensive first.
func redisCommands(ctx context.Context, addr string, events int64) ([]redisCommand, error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, err
	}
	var out []redisCommand
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		c := redisCommand{Command: strings.TrimPrefix(name, "cmdstat_")}
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				c.Calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec":
				us, _ := strconv.ParseInt(v, 10, 64)
				c.Seconds = float64(us) / 1e6
			}
		}
		if events > 0 {
			c.PerEvent = float64(c.Calls) / float64(events)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seconds > out[j].Seconds })
	return out, nil
}
