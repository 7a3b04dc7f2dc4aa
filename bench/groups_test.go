package bench

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/correlate"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/redistest"
	"github.com/vigia-dev/vigia/internal/resolve"
	"github.com/vigia-dev/vigia/internal/rule"
)

var (
	groupsFlag      = flag.Int("groups", 1_000_000, "active correlation group keys for BenchmarkMillionGroups")
	redisGroupsFlag = flag.Int("redis-groups", 0, "group keys for BenchmarkMillionGroups/redis (default: -groups)")
	groupsHeapFlag  = flag.String("groups-heap", "", "write a heap profile of BenchmarkMillionGroups/memory and BenchmarkMillionResolved, store full, to this file")
)

// BenchmarkMillionGroups measures what one million active correlation
// group keys cost: the shipped rule set, fed matches of a large
// population of identities and pods with 1 to 3 matches per group, as
// one busy cluster and cloud account produce them:
//
//   - event_count: refused requests per identity (corr-permission-denied-burst);
//   - value_count: distinct Secrets read per identity (corr-k8s-secret-enumeration);
//   - temporal over two rules: an exec into a pod, then (one pod in four)
//     a crypto miner's output in it (corr-exec-then-crypto-miner); the exec
//     also opens the pod's service account's windows of
//     corr-exec-then-pod-sa-secret-read and corr-exec-then-irsa-cloud-activity;
//   - first_seen: sensitive AWS calls per role (corr-first-seen-sensitive-api-call).
//
// It reports heap-bytes/group (live heap after a GC, above the baseline
// taken with the rules loaded), peak-RSS-MiB (the process's high-water
// mark: the test binary, the rule set, garbage between collections and
// all) and groups. The redis variant reports Vigia's heap per group and
// Redis's used_memory per group (redis-bytes/group). Run once:
//
//	go test -run='^$' -bench=MillionGroups -benchtime=1x ./bench/
//	go test -run='^$' -bench=MillionGroups/memory -benchtime=1x ./bench/ -args -groups=200000
//	go test -run='^$' -bench=MillionGroups/memory -benchtime=1x ./bench/ -args -groups-heap=/tmp/heap.out
//
// Run each variant in a process of its own for a meaningful peak RSS.
func BenchmarkMillionGroups(b *testing.B) {
	set, err := rule.Load([]string{"../detections"}, rule.Options{Root: ".."})
	if err != nil {
		b.Fatal(err)
	}
	checkGroupMatches(b, set)
	ctx := context.Background()
	b.Run("memory", func(b *testing.B) {
		groups := *groupsFlag
		for range b.N {
			base := liveHeap()
			store := correlate.NewMemory(groups)
			eng := correlate.New(set, store, correlate.Options{})
			feedGroups(b, ctx, eng, set, groups)
			heap := liveHeap()
			if *groupsHeapFlag != "" {
				writeHeapProfile(b, *groupsHeapFlag)
			}
			if store.Len() != groups || store.Evicted() != 0 {
				b.Fatalf("%d groups held (%d evicted), want %d", store.Len(), store.Evicted(), groups)
			}
			b.ReportMetric(float64(heap-base)/float64(groups), "heap-bytes/group")
			b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-RSS-MiB")
			b.ReportMetric(float64(groups), "groups")
			runtime.KeepAlive(eng)
		}
	})
	b.Run("redis", func(b *testing.B) {
		groups := *redisGroupsFlag
		if groups <= 0 {
			groups = *groupsFlag
		}
		rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(b)})
		defer rdb.Close()
		for range b.N {
			rdb.FlushAll(ctx)
			used := usedMemory(b, rdb)
			base := liveHeap()
			eng := correlate.New(set, correlate.NewRedis(rdb), correlate.Options{})
			feedGroups(b, ctx, eng, set, groups)
			heap := liveHeap()
			// Windows and first-seen sets; suppressions (:s) and the
			// warm-up start (:since) are not groups.
			var n int
			iter := rdb.Scan(ctx, 0, "corr:*", 10_000).Iterator()
			for iter.Next(ctx) {
				if k := iter.Val(); strings.HasSuffix(k, ":w") || strings.HasSuffix(k, ":f") {
					n++
				}
			}
			if err := iter.Err(); err != nil {
				b.Fatal(err)
			}
			if n != groups {
				b.Fatalf("%d groups in Redis, want %d", n, groups)
			}
			b.ReportMetric(float64(heap-base)/float64(groups), "heap-bytes/group")
			b.ReportMetric(float64(usedMemory(b, rdb)-used)/float64(groups), "redis-bytes/group")
			b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-RSS-MiB")
			b.ReportMetric(float64(groups), "groups")
			runtime.KeepAlive(eng)
		}
	})
}

func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

// peakRSS is the process's resident set high-water mark (VmHWM), in bytes.
func peakRSS(b *testing.B) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// A unit is one identity or workload of the population and the matches it
// produces; kinds cycle so the mix is the same at any size.
type unitKind int

const (
	denied    unitKind = iota // event_count per identity: 1 key
	secrets                   // value_count per identity: 1 key
	sensitive                 // first_seen per AWS role: 1 key
	execs                     // temporal per pod, temporal_ordered ×2 per service account: 3 keys
)

var unitCycle = []unitKind{denied, denied, denied, denied, secrets, secrets, sensitive, sensitive, sensitive, execs}

func (k unitKind) keys() int {
	if k == execs {
		return 3
	}
	return 1
}

var groupT0 = time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)

// unitEvents returns unit u's events, oldest first, and the rule each
// one matches. The events carry what the rules' conditions test (see
// checkGroupMatches) and the resolved entity fields the correlations
// group by.
func unitEvents(u int, kind unitKind, r *rand.Rand) ([]*event.Event, []string) {
	at := groupT0.Add(time.Duration(u) * time.Millisecond)
	n := 1 + r.IntN(3)
	uuid := func() string {
		return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), 0x8000|r.IntN(1<<14), r.Uint64()&(1<<48-1))
	}
	k8s := func(i int) *event.Event {
		ev := &event.Event{Source: event.SourceK8sAudit, ID: uuid(), Time: at.Add(time.Duration(i) * 20 * time.Second)}
		ev.Actor.Type = "service_account"
		ev.Actor.Name = fmt.Sprintf("system:serviceaccount:ns-%d:app-%d", u%997, u)
		ev.Actor.SourceIP = fmt.Sprintf("10.%d.%d.%d", u>>16&255, u>>8&255, u&255)
		ev.Entity.Identity = ev.Actor.Name
		ev.K8s.Stage = "ResponseComplete"
		return ev
	}
	var evs []*event.Event
	var ids []string
	switch kind {
	case denied:
		for i := range n {
			ev := k8s(i)
			ev.Action, ev.Outcome, ev.K8s.ResponseCode = "list", "failure", 403
			ev.Target.Type, ev.Target.Namespace = "secrets", "kube-system"
			evs, ids = append(evs, ev), append(ids, "k8s-forbidden-request-signal")
		}
	case secrets:
		for i := range n {
			ev := k8s(i)
			ev.Action, ev.Outcome, ev.K8s.ResponseCode = "get", "success", 200
			ev.Target.Type, ev.Target.Namespace, ev.Target.Name = "secrets", fmt.Sprintf("ns-%d", u%997), fmt.Sprintf("app-%d-credentials-%d", u, i)
			evs, ids = append(evs, ev), append(ids, "k8s-secret-get-signal")
		}
	case sensitive:
		calls := [][2]string{{"secretsmanager.amazonaws.com", "GetSecretValue"}, {"kms.amazonaws.com", "Decrypt"}, {"iam.amazonaws.com", "CreateAccessKey"}}
		for i := range n {
			ev := &event.Event{Source: event.SourceCloudTrail, ID: uuid(), Time: at.Add(time.Duration(i) * 20 * time.Second), Outcome: "success"}
			ev.Actor.Type = "role"
			ev.Actor.Name = fmt.Sprintf("arn:aws:sts::123456789012:assumed-role/app-%d-role/i-%016x", u, r.Uint64())
			ev.Entity.Identity = fmt.Sprintf("arn:aws:iam::123456789012:role/app-%d-role", u)
			ev.Cloud.Provider, ev.Cloud.Account, ev.Cloud.Region = "aws", "123456789012", "eu-west-1"
			ev.Cloud.Service, ev.Action = calls[i][0], calls[i][1]
			evs, ids = append(evs, ev), append(ids, "aws-sensitive-api-call-signal")
		}
	case execs:
		ns := fmt.Sprintf("ns-%d", u%997)
		pod := fmt.Sprintf("app-%d-7d9f8b6c5-%05x", u, r.IntN(1<<20))
		ev := k8s(0)
		ev.Actor.Type, ev.Actor.Name = "user", fmt.Sprintf("dev-%d@example.com", u%5000)
		ev.Entity.Identity = ev.Actor.Name
		ev.Action, ev.Outcome, ev.K8s.ResponseCode = "create", "success", 101
		ev.Target.Type, ev.Target.Subresource, ev.Target.Namespace, ev.Target.Name = "pods", "exec", ns, pod
		ev.Entity.Pod, ev.Entity.PodServiceAccount = ns+"/"+pod, fmt.Sprintf("%s/app-%d", ns, u)
		evs, ids = append(evs, ev), append(ids, "k8s-pod-exec-attach")
		if r.IntN(4) == 0 {
			lg := &event.Event{Source: event.SourceContainerLog, ID: fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64()),
				Time: at.Add(40 * time.Second), Message: "[2026-11-20 14:00:40] net  new job from pool.supportxmr.com:443 diff 120001 algo rx/0 height 3260543"}
			lg.Actor.Type, lg.Actor.Name = "service_account", fmt.Sprintf("system:serviceaccount:%s:app-%d", ns, u)
			lg.Entity.Identity, lg.Entity.Pod = lg.Actor.Name, ns+"/"+pod
			lg.K8s.Namespace, lg.K8s.Pod, lg.K8s.Container = ns, pod, "app"
			evs, ids = append(evs, lg), append(ids, "container-crypto-miner")
		}
	}
	return evs, ids
}

// checkGroupMatches checks that each kind of unit's events match the
// rules they are fed as (the benchmark builds the alerts directly rather
// than evaluating every rule on two million events).
func checkGroupMatches(b *testing.B, set *rule.Set) {
	eval := set.NewEvaluator()
	r := rand.New(rand.NewPCG(1, 2))
	for u := range 40 {
		evs, ids := unitEvents(u, unitCycle[u%len(unitCycle)], r)
		for i, ev := range evs {
			found := false
			for _, a := range eval.Eval(nil, ev) {
				found = found || a.Rule.ID == ids[i]
			}
			if !found {
				b.Fatalf("unit %d: event %d does not match %s", u, i, ids[i])
			}
		}
	}
}

// feedGroups feeds eng units until they hold exactly groups keys, in
// batches of 500 matches, as the processor sends them.
func feedGroups(b *testing.B, ctx context.Context, eng *correlate.Engine, set *rule.Set, groups int) {
	r := rand.New(rand.NewPCG(7, 8))
	rules := map[string]*rule.Rule{}
	var batch []correlate.Match
	flush := func() {
		if _, err := eng.Process(ctx, batch); err != nil {
			b.Fatal(err)
		}
		clear(batch)
		batch = batch[:0]
	}
	keys := 0
	for u := 0; keys < groups; u++ {
		kind := unitCycle[u%len(unitCycle)]
		if keys+kind.keys() > groups {
			kind = denied
		}
		keys += kind.keys()
		evs, ids := unitEvents(u, kind, r)
		for i, ev := range evs {
			rl := rules[ids[i]]
			if rl == nil {
				rl = set.Rule(ids[i])
				rules[ids[i]] = rl
			}
			a := alert.FromEvent(rl.Meta(), "", alert.Runbook{Path: rl.Runbook}, ev)
			batch = append(batch, correlate.Match{Rule: rl, Alert: a, Event: ev})
		}
		if len(batch) >= 500 {
			flush()
		}
	}
	flush()
}

// BenchmarkMillionResolved measures what identity resolution's memory
// store (resolution.max_entries, without Redis) costs per entry: pods
// created in one cluster, each in a ReplicaSet with its service account,
// one service account in ten bound to an AWS role (IRSA), until it holds
// -groups entries (pod:, sa: and cloud: keys).
//
//	go test -run='^$' -bench=MillionResolved -benchtime=1x ./bench/
func BenchmarkMillionResolved(b *testing.B) {
	entries := *groupsFlag
	ctx := context.Background()
	for range b.N {
		base := liveHeap()
		store := resolve.NewMemory(entries)
		res := resolve.New(store, resolve.Options{})
		t := groupT0
		var batch []*event.Event
		for i := 0; store.Len() < entries; i++ {
			ns, app := fmt.Sprintf("ns-%d", i%997), fmt.Sprintf("app-%d", i/3)
			if i%3 == 0 {
				sa := &event.Event{Source: event.SourceK8sAudit, ID: fmt.Sprintf("sa-%d", i), Time: t, Action: "create", Outcome: event.OutcomeSuccess}
				sa.Actor = event.Actor{Name: "admin@example.com", Type: "user"}
				sa.Target = event.Target{Type: "serviceaccounts", Namespace: ns, Name: app}
				sa.K8s = event.K8s{Namespace: ns, Verb: "create", Kind: "ServiceAccount"}
				if i%30 == 0 {
					sa.K8s.ObjectAnnotations = map[string]string{resolve.AnnotationIRSA: "arn:aws:iam::123456789012:role/" + app}
				}
				sa.Raw = map[string]any{"requestObject": map[string]any{"kind": "ServiceAccount"}}
				batch = append(batch, sa)
			}
			name := fmt.Sprintf("%s-7d9f8b6c5-%05x", app, i)
			pod := &event.Event{Source: event.SourceK8sAudit, ID: fmt.Sprintf("pod-%d", i), Time: t, Action: "create", Outcome: event.OutcomeSuccess}
			pod.Actor = event.Actor{Name: "system:serviceaccount:kube-system:replicaset-controller", Type: "service_account"}
			pod.Target = event.Target{Type: "pods", Namespace: ns, Name: name}
			pod.K8s = event.K8s{Namespace: ns, Pod: name, Verb: "create", Kind: "Pod", Owner: "ReplicaSet/" + app + "-7d9f8b6c5",
				ServiceAccount: "kube-system/replicaset-controller",
				Workload:       event.Workload{Present: true, ServiceAccount: app, Images: []string{"registry.example.com/" + app + ":1.4.2", "envoyproxy/envoy:v1.31"}}}
			pod.Raw = map[string]any{"requestObject": map[string]any{"kind": "Pod"}}
			batch = append(batch, pod)
			if len(batch) >= 500 {
				if err := res.Resolve(ctx, batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
				t = t.Add(time.Second)
			}
		}
		heap := liveHeap()
		if *groupsHeapFlag != "" {
			writeHeapProfile(b, *groupsHeapFlag)
		}
		b.ReportMetric(float64(heap-base)/float64(store.Len()), "heap-bytes/entry")
		b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(float64(store.Len()), "entries")
		runtime.KeepAlive(res)
	}
}
