package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigia-dev/vigia/internal/correlate"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/redistest"
	"github.com/vigia-dev/vigia/internal/rule"
)

// correlationRules: a base rule and an event_count over it per actor, the
// commonest correlation shape (a burst by one identity).
const correlationRules = `
id: b-denied
title: denied
description: d
severity: info
signal_only: true
tags: [attack.discovery, attack.t1613]
condition: outcome == "failure"
runbook: rb.md
---
id: c-burst
title: burst
description: d
severity: high
tags: [attack.discovery, attack.t1613]
runbook: rb.md
correlation:
  type: event_count
  rules: [b-denied]
  group-by: [entity.identity]
  timespan: 5m
  condition: {gte: 1000000}
`

func correlationSet(b *testing.B) *rule.Set {
	dir := b.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "rb.md"), []byte("# Runbook\n\ntext\n"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(correlationRules), 0o644)
	set, err := rule.Load([]string{dir}, rule.Options{Root: dir})
	if err != nil {
		b.Fatal(err)
	}
	return set
}

// matches builds n matches of b-denied spread over groups identities,
// one second apart per identity.
func matches(b *testing.B, set *rule.Set, n, groups int) []correlate.Match {
	eval := set.NewEvaluator()
	t0 := time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)
	out := make([]correlate.Match, 0, n)
	for i := range n {
		ev := &event.Event{Source: event.SourceK8sAudit, ID: "ev-" + strconv.Itoa(i), Time: t0.Add(time.Duration(i/groups) * time.Second),
			Outcome: "failure", Action: "get"}
		ev.Entity.Identity = "system:serviceaccount:ns-" + strconv.Itoa(i%groups%97) + ":sa-" + strconv.Itoa(i%groups)
		as := eval.Eval(nil, ev)
		if len(as) != 1 {
			b.Fatal("the base rule does not match")
		}
		out = append(out, correlate.Match{Rule: set.Rule("b-denied"), Alert: as[0], Event: ev})
	}
	return out
}

// BenchmarkCorrelationRedis measures correlation window updates per second
// against a real redis-server, in batches as the processor sends them (one
// pipeline per batch). Run on one core:
//
//	GOMAXPROCS=1 go test -run='^$' -bench=CorrelationRedis ./bench/
func BenchmarkCorrelationRedis(b *testing.B) {
	for _, batch := range []int{1, 100, 500} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(b)})
			defer rdb.Close()
			set := correlationSet(b)
			eng := correlate.New(set, correlate.NewRedis(rdb), correlate.Options{})
			ms := matches(b, set, 200_000, 10_000)
			ctx := context.Background()
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				j := i % len(ms)
				end := min(j+batch, len(ms), j+b.N-i)
				if _, err := eng.Process(ctx, ms[j:end]); err != nil {
					b.Fatal(err)
				}
			}
			reportRates(b, cpu0)
		})
	}
}

// cpuTime is the process's user+system CPU time: on a shared machine it
// says what an update costs where wall time says how long it waited.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportRates reports updates per wall second and per CPU second of this
// process (Redis's own CPU is not counted: it runs on the other core).
func reportRates(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
	b.ReportMetric(float64(b.N)/(cpuTime()-cpu0).Seconds(), "updates/cpu-s")
}

// BenchmarkCorrelationMemory is the same against the in-process store.
func BenchmarkCorrelationMemory(b *testing.B) {
	set := correlationSet(b)
	eng := correlate.New(set, correlate.NewMemory(0), correlate.Options{})
	ms := matches(b, set, 200_000, 10_000)
	ctx := context.Background()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i += 100 {
		j := i % len(ms)
		end := min(j+100, len(ms), j+b.N-i)
		if _, err := eng.Process(ctx, ms[j:end]); err != nil {
			b.Fatal(err)
		}
	}
	reportRates(b, cpu0)
}

// BenchmarkCorrelationGroupMemory reports the memory one active group key
// costs: a window holding 5 events, in Redis (used_memory) and in the
// memory store (heap).
func BenchmarkCorrelationGroupMemory(b *testing.B) {
	const groups, perGroup = 20_000, 5
	set := correlationSet(b)
	ms := matches(b, set, groups*perGroup, groups)
	ctx := context.Background()
	b.Run("redis", func(b *testing.B) {
		rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(b)})
		defer rdb.Close()
		for range b.N {
			rdb.FlushAll(ctx)
			before := usedMemory(b, rdb)
			eng := correlate.New(set, correlate.NewRedis(rdb), correlate.Options{})
			for i := 0; i < len(ms); i += 500 {
				if _, err := eng.Process(ctx, ms[i:min(i+500, len(ms))]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(usedMemory(b, rdb)-before)/groups, "bytes/group")
		}
	})
	b.Run("memory", func(b *testing.B) {
		for range b.N {
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			store := correlate.NewMemory(0)
			eng := correlate.New(set, store, correlate.Options{})
			for i := 0; i < len(ms); i += 500 {
				if _, err := eng.Process(ctx, ms[i:min(i+500, len(ms))]); err != nil {
					b.Fatal(err)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&m1)
			b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/groups, "bytes/group")
			runtime.KeepAlive(eng)
			if store.Len() != groups {
				b.Fatalf("%d groups held, want %d", store.Len(), groups)
			}
		}
	})
}

func usedMemory(b *testing.B, rdb *redis.Client) int64 {
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no used_memory in INFO")
	return 0
}
