package redistest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestStart(t *testing.T) {
	addr := Start(t)
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()

	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET = %q, %v; want v", got, err)
	}
	// Persistence is off: nothing is written to disk behind the test's back.
	for param, want := range map[string]string{"save": "", "appendonly": "no"} {
		got, err := c.ConfigGet(ctx, param).Result()
		if err != nil {
			t.Fatalf("CONFIG GET %s: %v", param, err)
		}
		if got[param] != want {
			t.Errorf("CONFIG GET %s = %q, want %q", param, got[param], want)
		}
	}
}

func TestStartIsolatesServers(t *testing.T) {
	a, b := Start(t), Start(t)
	if a == b {
		t.Fatalf("two servers on one address %s", a)
	}
	ctx := context.Background()
	ca := redis.NewClient(&redis.Options{Addr: a})
	cb := redis.NewClient(&redis.Options{Addr: b})
	t.Cleanup(func() { ca.Close(); cb.Close() })
	if err := ca.Set(ctx, "only-in-a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := cb.Exists(ctx, "only-in-a").Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS on the other server = %d, %v; want 0", n, err)
	}
}

func TestCleanupStopsServer(t *testing.T) {
	var addr string
	t.Run("inner", func(t *testing.T) { addr = Start(t) })
	if addr == "" {
		t.Skip("inner test did not start a server")
	}
	// Cleanup waits for the process to exit, so the port is closed now.
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("server on %s still accepts connections after cleanup", addr)
	}
}

// fakeTB records Skip and Fatal instead of stopping the goroutine.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper()                           {}
func (f *fakeTB) Skipf(format string, args ...any)  { f.skipped = format }
func (f *fakeTB) Fatalf(format string, args ...any) { f.failed = format }

func TestMissingServer(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no redis-server there

	t.Setenv(RequireEnv, "")
	f := &fakeTB{TB: t}
	if addr := Start(f); addr != "" || f.skipped == "" || f.failed != "" {
		t.Errorf("without %s: addr %q, skipped %q, failed %q; want a skip", RequireEnv, addr, f.skipped, f.failed)
	}

	t.Setenv(RequireEnv, "1")
	f = &fakeTB{TB: t}
	if addr := Start(f); addr != "" || f.failed == "" || f.skipped != "" {
		t.Errorf("with %s: addr %q, skipped %q, failed %q; want a failure", RequireEnv, addr, f.skipped, f.failed)
	}
}
