package correlate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/redistest"
	"github.com/vigia-dev/vigia/internal/rule"
)

// base rules match on action; correlations group by actor.name.
const baseRules = `
id: t-a
title: a
description: a
severity: info
tags: [attack.discovery, attack.t1613]
condition: action == "a"
runbook: rb.md
---
id: t-b
title: b
description: b
severity: info
tags: [attack.discovery, attack.t1613]
condition: action == "b"
runbook: rb.md
---
id: t-c
title: c
description: c
severity: info
signal_only: true
tags: [attack.discovery, attack.t1613]
condition: action == "c"
runbook: rb.md
`

func loadSet(t testing.TB, correlations string) *rule.Set {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rb.md"), []byte("# Runbook\n\ntext\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "base.yaml"), []byte(baseRules), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "corr.yaml"), []byte(correlations), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := rule.Load([]string{dir}, rule.Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func corrRule(id, spec string) string {
	return fmt.Sprintf("---\nid: %s\ntitle: %s\ndescription: d\nseverity: high\ntags: [attack.discovery, attack.t1613]\nrunbook: rb.md\ncorrelation:\n%s\n", id, id, spec)
}

var t0 = time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)

type ev struct {
	actor, action, target string
	at                    time.Duration // after t0
}

var seq int

func mkEvent(e ev) *event.Event {
	seq++
	x := &event.Event{Source: event.SourceK8sAudit, ID: fmt.Sprintf("e%d-%s-%s-%s", seq, e.actor, e.action, e.target), Time: t0.Add(e.at), Action: e.action}
	x.Actor.Name = e.actor
	x.Target.Name = e.target
	x.Entity.Identity = e.actor
	return x
}

// feed evaluates each event through the set's rules and the engine, one
// batch per event, and returns the correlation alerts.
func feed(t testing.TB, eng *Engine, set *rule.Set, evs []*event.Event) []*alert.Alert {
	t.Helper()
	ctx := context.Background()
	eval := set.NewEvaluator()
	var out []*alert.Alert
	for _, e := range evs {
		eng.Observe([]*event.Event{e})
		var ms []Match
		for _, a := range eval.Eval(nil, e) {
			ms = append(ms, Match{Rule: set.Rule(a.Rule.ID), Alert: a, Event: e})
		}
		as, err := eng.Process(ctx, ms)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, as...)
	}
	return out
}

func events(es ...ev) []*event.Event {
	out := make([]*event.Event, len(es))
	for i, e := range es {
		out[i] = mkEvent(e)
	}
	return out
}

func fired(as []*alert.Alert) []string {
	var s []string
	for _, a := range as {
		s = append(s, fmt.Sprintf("%s:%s:%d", a.Rule.ID, a.Correlation.Group["actor.name"], a.Correlation.Count))
	}
	return s
}

func TestTypes(t *testing.T) {
	cases := []struct {
		name, spec string
		events     []ev
		want       []string
	}{
		{
			name: "event_count fires once at the threshold, then is suppressed",
			spec: "  type: event_count\n  rules: [t-a]\n  group-by: [actor.name]\n  timespan: 5m\n  condition: {gte: 3}",
			events: []ev{{"u1", "a", "x", 0}, {"u2", "a", "x", time.Second}, {"u1", "a", "x", time.Minute},
				{"u1", "a", "x", 2 * time.Minute}, {"u1", "a", "x", 3 * time.Minute}},
			want: []string{"c:u1:3"},
		},
		{
			name:   "event_count: events further apart than the timespan do not count together",
			spec:   "  type: event_count\n  rules: [t-a]\n  group-by: [actor.name]\n  timespan: 5m\n  condition: {gte: 3}",
			events: []ev{{"u1", "a", "x", 0}, {"u1", "a", "x", 4 * time.Minute}, {"u1", "a", "x", 9 * time.Minute}},
		},
		{
			name: "event_count fires again after the suppression",
			spec: "  type: event_count\n  rules: [t-a]\n  group-by: [actor.name]\n  timespan: 5m\n  condition: {gt: 1}\n  suppress: 10m",
			events: []ev{{"u1", "a", "x", 0}, {"u1", "a", "x", time.Minute}, {"u1", "a", "x", 2 * time.Minute},
				{"u1", "a", "x", 12 * time.Minute}, {"u1", "a", "x", 13 * time.Minute}},
			want: []string{"c:u1:2", "c:u1:2"},
		},
		{
			name: "value_count counts distinct values",
			spec: "  type: value_count\n  rules: [t-a]\n  group-by: [actor.name]\n  timespan: 10m\n  condition: {field: target.name, gte: 3}",
			events: []ev{{"u1", "a", "s1", 0}, {"u1", "a", "s1", time.Minute}, {"u1", "a", "s2", 2 * time.Minute},
				{"u1", "a", "s2", 3 * time.Minute}, {"u1", "a", "s3", 4 * time.Minute}},
			want: []string{"c:u1:5"},
		},
		{
			name:   "temporal: both rules, any order",
			spec:   "  type: temporal\n  rules: [t-a, t-b]\n  group-by: [actor.name]\n  timespan: 5m",
			events: []ev{{"u1", "b", "x", 0}, {"u2", "a", "x", time.Minute}, {"u1", "a", "x", 2 * time.Minute}},
			want:   []string{"c:u1:2"},
		},
		{
			name:   "temporal_ordered: wrong order does not fire",
			spec:   "  type: temporal_ordered\n  rules: [t-a, t-b]\n  group-by: [actor.name]\n  timespan: 5m",
			events: []ev{{"u1", "b", "x", 0}, {"u1", "a", "x", 2 * time.Minute}},
		},
		{
			name:   "temporal_ordered: in order fires",
			spec:   "  type: temporal_ordered\n  rules: [t-a, t-b]\n  group-by: [actor.name]\n  timespan: 5m",
			events: []ev{{"u1", "b", "x", 0}, {"u1", "a", "x", 2 * time.Minute}, {"u1", "b", "x", 3 * time.Minute}},
			want:   []string{"c:u1:2"},
		},
		{
			name:   "signal-only rules feed correlations",
			spec:   "  type: event_count\n  rules: [t-c]\n  group-by: [actor.name]\n  timespan: 5m\n  condition: {gte: 2}",
			events: []ev{{"u1", "c", "x", 0}, {"u1", "c", "x", time.Minute}},
			want:   []string{"c:u1:2"},
		},
		{
			name: "lt is checked when the window closes",
			spec: "  type: event_count\n  rules: [t-a]\n  group-by: [actor.name]\n  timespan: 5m\n  condition: {lt: 3}",
			events: []ev{{"u1", "a", "x", 0}, {"u2", "a", "x", 0}, {"u2", "a", "x", time.Minute}, {"u2", "a", "x", 2 * time.Minute},
				{"u3", "b", "x", 30 * time.Minute}, {"u3", "b", "x", 2 * time.Hour}},
			want: []string{"c:u1:1"},
		},
		{
			name:   "first_seen: a new value per group after warm-up",
			spec:   "  type: first_seen\n  rules: [t-a]\n  group-by: [actor.name]\n  field: target.name\n  lookback: 14d\n  warmup: 1h",
			events: []ev{{"u1", "a", "s1", 0}, {"u1", "a", "s2", 2 * time.Hour}, {"u1", "a", "s1", 3 * time.Hour}, {"u1", "a", "s1", 20 * 24 * time.Hour}},
			want:   []string{"c:u1:1", "c:u1:1"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set := loadSet(t, corrRule("c", c.spec))
			eng := New(set, NewMemory(0), Options{Lateness: time.Hour})
			got := fired(feed(t, eng, set, events(c.events...)))
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("fired %v, want %v", got, c.want)
			}
		})
	}
}

func TestAlertContents(t *testing.T) {
	set := loadSet(t, corrRule("c", "  type: temporal_ordered\n  rules: [t-a, t-b]\n  group-by: [actor.name]\n  timespan: 5m"))
	eng := New(set, NewMemory(0), Options{})
	evs := events(ev{"u1", "a", "x", 0}, ev{"u1", "b", "y", time.Minute})
	as := feed(t, eng, set, evs)
	if len(as) != 1 {
		t.Fatalf("got %d alerts", len(as))
	}
	a := as[0]
	if len(a.Events) != 2 || a.Events[0].ID != evs[0].ID || a.Events[1].ID != evs[1].ID {
		t.Errorf("events %+v", a.Events)
	}
	if !a.Correlation.First.Equal(t0) || !a.Correlation.Last.Equal(t0.Add(time.Minute)) || a.Correlation.Group["actor.name"] != "u1" {
		t.Errorf("correlation %+v", a.Correlation)
	}
	if len(a.Explains) != 2 {
		t.Errorf("explains %v", a.Explains)
	}
	if a.DedupKey != alert.Hash("c", "u1") || !strings.Contains(a.Summary, "actor.name=u1") {
		t.Errorf("dedup %s summary %q", a.DedupKey, a.Summary)
	}
}

func TestChainedAndLate(t *testing.T) {
	set := loadSet(t, corrRule("inner", "  type: event_count\n  rules: [t-a]\n  group-by: [actor.name]\n  timespan: 5m\n  condition: {gte: 2}")+
		corrRule("outer", "  type: temporal_ordered\n  rules: [inner, t-b]\n  group-by: [actor.name]\n  timespan: 10m"))
	eng := New(set, NewMemory(0), Options{Lateness: 10 * time.Minute})
	as := feed(t, eng, set, events(ev{"u1", "a", "x", 20 * time.Minute}, ev{"u1", "a", "x", 21 * time.Minute},
		ev{"u1", "b", "x", 22 * time.Minute},
		// 15 minutes behind the newest event: late, counted, left out.
		ev{"u9", "a", "x", 7 * time.Minute}, ev{"u9", "a", "x", 7 * time.Minute}))
	var ids []string
	for _, a := range as {
		ids = append(ids, a.Rule.ID)
	}
	if !reflect.DeepEqual(ids, []string{"inner", "outer"}) {
		t.Fatalf("fired %v", ids)
	}
	if n := len(as[1].Events); n != 3 {
		t.Errorf("outer lists %d events, want the inner's two and the b", n)
	}
	if st := eng.Stats(); st.Late != 2 {
		t.Errorf("late %d, want 2", st.Late)
	}
}

func TestLoadErrors(t *testing.T) {
	cases := map[string]string{
		"unknown rule":   "  type: event_count\n  rules: [nope]\n  group-by: [actor.name]\n  timespan: 5m\n  condition: {gte: 2}",
		"bad type":       "  type: count\n  rules: [t-a]\n  group-by: [actor.name]\n  timespan: 5m",
		"no condition":   "  type: event_count\n  rules: [t-a]\n  group-by: [actor.name]\n  timespan: 5m",
		"bad timespan":   "  type: event_count\n  rules: [t-a]\n  group-by: [actor.name]\n  timespan: 5 minutes\n  condition: {gte: 2}",
		"bad field":      "  type: event_count\n  rules: [t-a]\n  group-by: [actor.nmae]\n  timespan: 5m\n  condition: {gte: 2}",
		"temporal alone": "  type: temporal\n  rules: [t-a]\n  group-by: [actor.name]\n  timespan: 5m",
	}
	for name, spec := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			_ = os.WriteFile(filepath.Join(dir, "rb.md"), []byte("# R\n\nx\n"), 0o644)
			_ = os.WriteFile(filepath.Join(dir, "base.yaml"), []byte(baseRules), 0o644)
			_ = os.WriteFile(filepath.Join(dir, "corr.yaml"), []byte(corrRule("c", spec)), 0o644)
			_, err := rule.Load([]string{dir}, rule.Options{Root: dir})
			if err == nil || !strings.Contains(err.Error(), "corr.yaml") {
				t.Fatalf("err = %v, want an error naming corr.yaml", err)
			}
		})
	}
	// A cycle.
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "rb.md"), []byte("# R\n\nx\n"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "base.yaml"), []byte(baseRules), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "corr.yaml"), []byte(
		corrRule("x", "  type: temporal\n  rules: [y, t-a]\n  group-by: [actor.name]\n  timespan: 5m")+
			corrRule("y", "  type: temporal\n  rules: [x, t-b]\n  group-by: [actor.name]\n  timespan: 5m")), 0o644)
	if _, err := rule.Load([]string{dir}, rule.Options{Root: dir}); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("err = %v, want a cycle", err)
	}
}

// allTypes is one correlation of each type over t-a, t-b and t-c.
var allTypes = corrRule("ec", "  type: event_count\n  rules: [t-a, t-c]\n  group-by: [actor.name]\n  timespan: 5m\n  condition: {gte: 4}\n  suppress: 2m") +
	corrRule("vc", "  type: value_count\n  rules: [t-a]\n  group-by: [actor.name]\n  timespan: 10m\n  condition: {field: target.name, gt: 2}") +
	corrRule("tp", "  type: temporal\n  rules: [t-a, t-b]\n  group-by: [actor.name]\n  timespan: 3m") +
	corrRule("to", "  type: temporal_ordered\n  rules: [t-b, t-a, t-c]\n  group-by: [actor.name]\n  timespan: 4m\n  suppress: 1m") +
	corrRule("lt", "  type: event_count\n  rules: [t-b]\n  group-by: [actor.name]\n  timespan: 5m\n  condition: {lte: 1}") +
	corrRule("fs", "  type: first_seen\n  rules: [t-a]\n  group-by: [actor.name]\n  field: target.name\n  lookback: 30m\n  warmup: 10m") +
	corrRule("ch", "  type: event_count\n  rules: [ec, tp]\n  group-by: [actor.name]\n  timespan: 30m\n  condition: {gte: 2}")

// randomStream is a seeded stream of events over a few actors, actions and
// targets, mostly in time order with some jitter.
func randomStream(seed uint64, n int) []*event.Event {
	r := rand.New(rand.NewPCG(seed, 1))
	var es []ev
	at := time.Duration(0)
	for range n {
		at += time.Duration(r.IntN(40)) * time.Second
		jitter := time.Duration(r.IntN(30)) * time.Second
		es = append(es, ev{actor: fmt.Sprintf("u%d", r.IntN(4)), action: string(rune('a' + r.IntN(4))),
			target: fmt.Sprintf("s%d", r.IntN(5)), at: at - jitter})
	}
	return events(es...)
}

func summarize(as []*alert.Alert) []string {
	out := make([]string, len(as))
	for i, a := range as {
		var refs []string
		for _, r := range a.Events {
			refs = append(refs, r.ID)
		}
		out[i] = fmt.Sprintf("%s %s %s %v %d %s", a.Rule.ID, a.ID, a.DedupKey, a.Correlation.Group, a.Correlation.Count, strings.Join(refs, ","))
	}
	return out
}

func redisClient(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

// TestDifferential: the same random streams through the memory store and
// Redis raise identical alerts.
func TestDifferential(t *testing.T) {
	addr := redistest.Start(t)
	rdb := redisClient(t, addr)
	set := loadSet(t, allTypes)
	total := 0
	for seed := range uint64(12) {
		evs := randomStream(seed, 300)
		mem := feed(t, New(set, NewMemory(0), Options{Lateness: 5 * time.Minute}), set, evs)
		red := feed(t, New(set, NewRedis(rdb), Options{Lateness: 5 * time.Minute, Prefix: fmt.Sprintf("seed%d:", seed)}), set, evs)
		if a, b := summarize(mem), summarize(red); !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: memory and Redis differ:\nmemory %d: %v\nredis  %d: %v", seed, len(a), a, len(b), b)
		}
		total += len(mem)
		types := map[string]bool{}
		for _, a := range mem {
			types[a.Rule.ID] = true
		}
		t.Logf("seed %d: %d alerts, rules %v", seed, len(mem), types)
	}
	if total < 50 {
		t.Fatalf("only %d alerts over all seeds: the streams do not exercise the rules", total)
	}
}

// TestTwoReplicas: two engines sharing Redis each see half of the events
// (as two consumers of half the partitions would); a correlation whose
// events are split between them fires exactly once.
func TestTwoReplicas(t *testing.T) {
	rdb := redisClient(t, redistest.Start(t))
	set := loadSet(t, corrRule("c", "  type: event_count\n  rules: [t-a, t-b]\n  group-by: [actor.name]\n  timespan: 10m\n  condition: {gte: 6}")+
		corrRule("o", "  type: temporal_ordered\n  rules: [t-a, t-b]\n  group-by: [actor.name]\n  timespan: 10m"))
	one := New(set, NewRedis(rdb), Options{})
	two := New(set, NewRedis(rdb), Options{})
	var a, b []*event.Event
	for i, e := range events(ev{"u1", "a", "x", 0}, ev{"u1", "b", "x", time.Second}, ev{"u1", "a", "x", 2 * time.Second},
		ev{"u1", "b", "x", 3 * time.Second}, ev{"u1", "a", "x", 4 * time.Second}, ev{"u1", "b", "x", 5 * time.Second},
		ev{"u1", "a", "x", 6 * time.Second}, ev{"u1", "b", "x", 7 * time.Second}) {
		if i%2 == 0 {
			a = append(a, e)
		} else {
			b = append(b, e)
		}
	}
	// Interleave: each replica handles its events as they come.
	var got []*alert.Alert
	for i := range a {
		got = append(got, feed(t, one, set, a[i:i+1])...)
		got = append(got, feed(t, two, set, b[i:i+1])...)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Rule.ID < got[j].Rule.ID })
	if ids := fired(got); !reflect.DeepEqual(ids, []string{"c:u1:6", "o:u1:2"}) {
		t.Fatalf("fired %v, want each correlation exactly once", ids)
	}
}

// TestRedisRestart: Redis is killed mid-stream; the engine returns errors
// (counted) instead of crashing, reconnects when Redis is back, reloads
// its scripts (NOSCRIPT) and correlations resume.
func TestRedisRestart(t *testing.T) {
	srv := redistest.StartPersistent(t)
	rdb := redisClient(t, srv.Addr)
	set := loadSet(t, corrRule("c", "  type: event_count\n  rules: [t-a]\n  group-by: [actor.name]\n  timespan: 10m\n  condition: {gte: 2}"))
	eng := New(set, NewRedis(rdb), Options{})
	ctx := context.Background()
	if as := feed(t, eng, set, events(ev{"u1", "a", "x", 0}, ev{"u1", "a", "x", time.Second})); len(as) != 1 {
		t.Fatalf("before the restart: %d alerts", len(as))
	}
	srv.Kill()
	e := mkEvent(ev{"u2", "a", "x", 2 * time.Second})
	m := Match{Rule: set.Rule("t-a"), Alert: set.NewEvaluator().Eval(nil, e)[0], Event: e}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	if _, err := eng.Process(cctx, []Match{m}); err == nil {
		t.Fatal("Process succeeded with Redis down")
	}
	cancel()
	if eng.Stats().Errors == 0 {
		t.Fatal("the store error was not counted")
	}
	srv.Restart() // the windows are back from the append-only file; the scripts are not
	if _, err := eng.Process(ctx, []Match{m}); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if as := feed(t, eng, set, events(ev{"u2", "a", "x", 3 * time.Second})); len(as) != 1 {
		t.Fatalf("after the restart: %d alerts, want the u2 correlation", len(as))
	}
}
