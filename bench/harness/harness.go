package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigia-dev/vigia/bench/gen"
	"github.com/vigia-dev/vigia/internal/broker"
	"github.com/vigia-dev/vigia/internal/config"
)

const (
	variantDetect = "detect" // single-event rules, local state
	variantRedis  = "redis"  // every rule, state and correlation windows in Redis
	variantMemory = "memory" // every rule, correlation windows in memory, local state
)

type harness struct {
	opts           options
	stdout, stderr io.Writer

	root, bin, tmp string
	samples        string
	runID          string
	brokers        []string
	redisAddr      string
	ownRedis       bool
	redisProc      *child // the redis-server the harness started
	sink           *sink
	topics         map[string]string // gen topic -> broker topic of the throughput stream
	partitions     int               // partitions of the throughput stream's topics
	formats        map[string]string // broker topic -> format
	res            *result
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.stderr, format+"\n", args...)
}

func (h *harness) run(ctx context.Context) (*result, error) {
	o := h.opts
	var err error
	if h.tmp, err = os.MkdirTemp("", "vigia-bench-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(h.tmp)
	h.root = o.Root
	if h.root == "" {
		if h.root, err = gen.ModuleRoot(); err != nil {
			return nil, fmt.Errorf("project root not found (run from the project or give -root): %w", err)
		}
	}
	if h.root, err = filepath.Abs(h.root); err != nil {
		return nil, err
	}
	switch o.Samples {
	case "none":
	case "":
		h.samples = gen.PublicSamples(h.root)
	default:
		h.samples = o.Samples
	}
	h.runID = strconv.FormatInt(time.Now().UnixMilli()%1e9, 36)
	h.res = newResult(o, h.root)

	// The binary measured.
	if h.bin = o.Vigia; h.bin == "" {
		h.bin = filepath.Join(h.tmp, "vigia")
		h.logf("building vigia from %s", h.root)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", h.bin, "./cmd/vigia")
		cmd.Dir = h.root
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build ./cmd/vigia: %v\n%s", err, out)
		}
	}
	if out, err := exec.Command(h.bin, "version").Output(); err == nil {
		h.res.VigiaVersion = strings.TrimSpace(string(out))
	}

	// The broker.
	if o.Brokers == "" {
		br, err := broker.Open(broker.Config{Addr: "127.0.0.1:0", Partitions: int32(o.Partitions)})
		if err != nil {
			return nil, err
		}
		defer br.Close()
		h.brokers = br.Addrs()
		h.res.Broker = "in-process (kfake) " + strings.Join(h.brokers, ",")
	} else {
		h.brokers = strings.Split(o.Brokers, ",")
		h.res.Broker = o.Brokers
	}

	// The stream.
	g, err := gen.New(gen.Options{Events: o.Events, Seed: o.Seed, AttackRatio: o.AttackRatio, Identities: o.Identities,
		Pods: o.Pods, Samples: h.samples, Root: h.root})
	if err != nil {
		return nil, err
	}
	h.res.SampleSet = g.SampleSet()
	h.res.Generator = g.Stats()
	h.logf("samples: %s; templates: %s", g.SampleSet(), templateSummary(g.Stats()))
	h.topics, h.formats = h.topicNames("tp")
	if err := createTopics(ctx, h.brokers, slices.Sorted(maps.Values(h.topics)), o.Partitions, o.Replication); err != nil {
		return nil, err
	}
	if h.partitions, err = partitionCount(ctx, h.brokers, slices.Sorted(maps.Values(h.topics))); err != nil {
		return nil, err
	}
	comp, _ := compression(o.Compression)
	h.logf("loading %d messages into %d topics x %d partitions (%s)", o.Events, len(h.topics), o.Partitions, h.res.Broker)
	ld, err := load(ctx, h.brokers, g, h.topics, o.Events, comp, h.stderr)
	if err != nil {
		return h.res, err
	}
	h.res.Load = ld
	h.res.AvgMessageBytes = float64(ld.Bytes) / float64(ld.Events)
	h.logf("loaded %d messages (%.1f MB) in %.1fs: %.0f messages/s", ld.Events, float64(ld.Bytes)/1e6, ld.Seconds, ld.EventsPerSec)

	// Raw kafka-go consumption of the same topics.
	raw := map[int]*rawResult{}
	if o.Raw {
		procsList := []int{1}
		if o.Procs > 1 {
			procsList = append(procsList, o.Procs)
		}
		for _, p := range procsList {
			r, err := h.runRaw(ctx, p)
			if err != nil {
				return h.res, err
			}
			raw[p] = r
			h.res.Raw = append(h.res.Raw, *r)
			h.logf("raw kafka-go, %d process(es): %.0f messages/s, %.2f CPU-s per 1M", p, r.EventsPerSec, r.CPUSecondsPerMillion)
		}
	}

	if slices.Contains(o.Variants, variantRedis) {
		if o.Redis == "" {
			addr, c, err := startRedis(ctx, h.tmp)
			if err != nil {
				return h.res, err
			}
			h.redisAddr, h.ownRedis, h.redisProc = addr, true, c
		} else {
			h.redisAddr = o.Redis
		}
	}
	if h.sink, err = startSink(); err != nil {
		return h.res, err
	}
	defer h.sink.close()

	for _, v := range o.Variants {
		one, err := h.runVigia(ctx, v, 1)
		if one != nil {
			if r := raw[1]; r != nil {
				one.RawEventsPerSec, one.RatioToRaw = r.EventsPerSec, one.EventsPerSec/r.EventsPerSec
			}
			h.res.Variants = append(h.res.Variants, one)
		}
		if err != nil {
			return h.res, err
		}
		if o.Procs > 1 {
			many, err := h.runVigia(ctx, v, o.Procs)
			if many != nil {
				if r := raw[o.Procs]; r != nil {
					many.RawEventsPerSec, many.RatioToRaw = r.EventsPerSec, many.EventsPerSec/r.EventsPerSec
				}
				many.ScaleOut = many.EventsPerSec / one.EventsPerSec
				if one.CorrelationAlerts != many.CorrelationAlerts {
					h.res.Notes = append(h.res.Notes, fmt.Sprintf("%s: %d processes raised %d correlation alerts, one process %d",
						v, o.Procs, many.CorrelationAlerts, one.CorrelationAlerts))
				}
				h.res.Variants = append(h.res.Variants, many)
			}
			if err != nil {
				return h.res, err
			}
		}
	}
	// The loaded stream is no longer needed: deleting it frees the
	// in-process broker's memory (and its garbage collector's work)
	// before the latency runs.
	h.deleteTopics(ctx, slices.Sorted(maps.Values(h.topics)))
	if o.Latency {
		for _, one := range h.res.Variants {
			if one.Procs != 1 {
				continue
			}
			lat, err := h.runLatency(ctx, one.Variant, one.EventsPerSec/2)
			if err != nil {
				return h.res, err
			}
			one.Latency = lat
		}
	}
	return h.res, nil
}

// deleteTopics deletes topics the harness created; failures are notes.
func (h *harness) deleteTopics(ctx context.Context, topics []string) {
	c := &kafka.Client{Addr: kafka.TCP(h.brokers...), Timeout: 30 * time.Second}
	resp, err := c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
	if err == nil {
		for _, e := range resp.Errors {
			err = errors.Join(err, e)
		}
	}
	if err != nil {
		h.res.Notes = append(h.res.Notes, fmt.Sprintf("deleting topics %v: %v", topics, err))
	}
	runtime.GC()
}

// topicNames returns this run's broker topic per generator topic, and the
// format per broker topic; kind tells streams apart.
func (h *harness) topicNames(kind string) (map[string]string, map[string]string) {
	names, formats := map[string]string{}, map[string]string{}
	for _, t := range gen.Topics() {
		n := "vb-" + h.runID + "-" + kind + "-" + strings.TrimPrefix(t.Name, "bench-")
		names[t.Name] = n
		formats[n] = t.Format
	}
	return names, formats
}

func templateSummary(st map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(st)) {
		if !strings.HasPrefix(k, "dropped/") {
			parts = append(parts, fmt.Sprintf("%s %d", k, st[k]))
		}
	}
	return strings.Join(parts, ", ")
}

// vigiaConfig writes the configuration of one Vigia process.
func (h *harness) vigiaConfig(variant, group, hook, prefix, metrics, dataDir string, formats map[string]string, start string) ([]byte, error) {
	var paths []string
	if variant == variantDetect {
		ents, err := os.ReadDir(filepath.Join(h.root, "detections"))
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if e.IsDir() && e.Name() != "correlation" {
				paths = append(paths, filepath.Join(h.root, "detections", e.Name()))
			}
		}
	} else {
		paths = []string{filepath.Join(h.root, "detections")}
	}
	var b strings.Builder
	q := strconv.Quote
	fmt.Fprintf(&b, "kafka:\n  brokers: [%s]\n  group_id: %s\n  start_offset: %s\n  commit_interval: 1s\n  max_wait: 50ms\n", strings.Join(h.brokers, ", "), q(group), start)
	fmt.Fprintf(&b, "  dead_letter_topic: %s\n  topics:\n", q(prefix+"dead-letter"))
	for _, t := range slices.Sorted(maps.Keys(formats)) {
		fmt.Fprintf(&b, "    - {name: %s, format: %s}\n", q(t), formats[t])
	}
	fmt.Fprintf(&b, "rules:\n  runbook_root: %s\n  paths:\n", q(h.root))
	for _, p := range paths {
		fmt.Fprintf(&b, "    - %s\n", q(p))
	}
	fmt.Fprintf(&b, "receivers:\n  - name: sink\n    webhook: {url: %s}\n", q(hook))
	b.WriteString("route:\n  group_wait: 1s\n  group_interval: 1s\n")
	fmt.Fprintf(&b, "telemetry: {listen: %s}\napi: {listen: \"off\"}\ndata_dir: %s\n", q(metrics), q(dataDir))
	if h.opts.Workers > 0 {
		fmt.Fprintf(&b, "workers: %d\n", h.opts.Workers)
	}
	if variant == variantRedis {
		fmt.Fprintf(&b, "redis: {addr: %s, key_prefix: %s}\n", q(h.redisAddr), q(prefix))
	}
	data := []byte(b.String())
	if _, err := config.Parse(data); err != nil {
		return nil, fmt.Errorf("vigia config: %w\n%s", err, data)
	}
	return data, nil
}

// vigiaProc is one running Vigia process.
type vigiaProc struct {
	c       *child
	metrics string
	last    *scrape
}

// startVigia starts procs Vigia processes in one consumer group.
func (h *harness) startVigia(variant, name, group string, procs int, formats map[string]string, start string) ([]*vigiaProc, string, error) {
	prefix := "vb-" + name + ":"
	var ps []*vigiaProc
	for i := range procs {
		port, err := freePort()
		if err != nil {
			return ps, prefix, err
		}
		dir := filepath.Join(h.tmp, fmt.Sprintf("%s-%d", name, i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return ps, prefix, err
		}
		metrics := "127.0.0.1:" + strconv.Itoa(port)
		cfg, err := h.vigiaConfig(variant, group, h.sink.url+name, prefix, metrics, filepath.Join(dir, "data"), formats, start)
		if err != nil {
			return ps, prefix, err
		}
		cfgPath := filepath.Join(dir, "vigia.yaml")
		if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
			return ps, prefix, err
		}
		args := []string{"run", "--config", cfgPath, "--log-level", "warn"}
		if h.opts.CPUProfile != "" {
			prof, err := filepath.Abs(filepath.Join(h.opts.CPUProfile, fmt.Sprintf("%s-%d.pprof", name, i)))
			if err != nil {
				return ps, prefix, err
			}
			if err := os.MkdirAll(filepath.Dir(prof), 0o755); err != nil {
				return ps, prefix, err
			}
			args = append(args, "--cpuprofile", prof)
			h.res.Profiles = append(h.res.Profiles, prof)
		}
		cmd := exec.Command(h.bin, args...)
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(h.opts.Cores))
		cmd.Stdout = io.Discard
		c, err := startChild("vigia", cmd, filepath.Join(dir, "vigia.log"))
		if err != nil {
			return ps, prefix, err
		}
		ps = append(ps, &vigiaProc{c: c, metrics: metrics})
	}
	return ps, prefix, nil
}

// poll scrapes every process; a process that exited is an error.
func poll(ctx context.Context, ps []*vigiaProc) (*scrape, error) {
	var ss []*scrape
	for _, p := range ps {
		if p.c.exited() {
			return nil, fmt.Errorf("vigia (pid %d) exited: %v\n%s", p.c.pid(), p.c.err, p.c.tail(4000))
		}
		s, err := scrapeMetrics(ctx, p.metrics)
		if err != nil {
			if p.last == nil {
				return nil, nil // not serving yet
			}
			s = p.last
		}
		p.last = s
		ss = append(ss, s)
	}
	return addScrapes(ss...), nil
}

func cpuOf(ps []*vigiaProc) float64 {
	total := 0.0
	for _, p := range ps {
		s, _ := cpuSeconds(p.c.pid())
		total += s
	}
	return total
}

func stopAll(ps []*vigiaProc) {
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() { defer wg.Done(); p.c.stop(30 * time.Second) }()
	}
	wg.Wait()
}

// runVigia runs one variant over the loaded topics with procs processes
// in a fresh consumer group from the earliest offset.
func (h *harness) runVigia(ctx context.Context, variant string, procs int) (*variantResult, error) {
	o := h.opts
	name := fmt.Sprintf("%s-%s-p%d", h.runID, variant, procs)
	group := "vb-" + name
	vr := &variantResult{Variant: variant, Procs: procs, Cores: o.Cores, Loaded: int64(o.Events)}
	if h.ownRedis && variant == variantRedis {
		if err := flushRedis(ctx, h.redisAddr); err != nil {
			return nil, err
		}
	}
	h.logf("%s, %d process(es): starting vigia", variant, procs)
	ps, prefix, err := h.startVigia(variant, name, group, procs, h.formats, "first")
	defer stopAll(ps)
	if err != nil {
		return nil, err
	}
	launched := time.Now()
	expected := float64(o.Events)
	var t0, t1 time.Time
	var cpu0, cpu1, rcpu0, rcpu1 float64
	var s *scrape
	deadline := launched.Add(o.Timeout)
	lastLog, lastSample := launched, launched
	// A scrape costs Vigia a few milliseconds of CPU: poll every 100 ms
	// around the start and the end, about every second in between.
	interval := 100 * time.Millisecond
	for {
		if err := sleep(ctx, interval); err != nil {
			return vr, err
		}
		now := time.Now()
		s, err = poll(ctx, ps)
		if err != nil {
			return vr, err
		}
		consumed := s.get("vigia_messages_consumed_total")
		switch {
		case s == nil || consumed == 0:
			t0, cpu0, rcpu0 = now, cpuOf(ps), h.redisCPU(variant)
		case consumed >= expected && s.caughtUp(h.partitions):
			// Every message handled at least once: with several
			// processes, messages handled twice after a rebalance make
			// the count alone reach the total too early.
			t1, cpu1, rcpu1 = now, cpuOf(ps), h.redisCPU(variant)
		}
		if now.After(deadline) && t1.IsZero() {
			return vr, fmt.Errorf("%s: %.0f of %d messages consumed after %s", variant, consumed, o.Events, o.Timeout)
		}
		if consumed > 0 && (len(vr.Timeline) == 0 || now.Sub(lastSample) >= time.Second || !t1.IsZero()) {
			lastSample = now
			vr.Timeline = append(vr.Timeline, sample{Seconds: now.Sub(t0).Seconds(), Handled: int64(consumed), CPUSeconds: cpuOf(ps) - cpu0})
		}
		interval = 100 * time.Millisecond
		if consumed > 0 && !t0.IsZero() {
			rate := consumed / now.Sub(t0).Seconds()
			left := time.Duration((expected - consumed) / rate * float64(time.Second))
			interval = min(max(left/3, 100*time.Millisecond), time.Second)
		}
		if !t1.IsZero() {
			break
		}
		if now.Sub(lastLog) > 5*time.Second && consumed > 0 {
			lastLog = now
			h.logf("  consumed %.0f of %d (%.0f/s)", consumed, o.Events, consumed/now.Sub(t0).Seconds())
		}
	}
	if q := quarterRates(vr.Timeline); q[0] > 0 && q[3] < 0.7*q[0] {
		h.res.Notes = append(h.res.Notes, fmt.Sprintf("%s p%d: messages/s by quarter of the run %.0f, %.0f, %.0f, %.0f; CPU-s per 1M %.1f in the first quarter, %.1f in the last (the timeline is in the JSON)",
			variant, procs, q[0], q[1], q[2], q[3], q[4], q[5]))
	}
	vr.Handled = int64(s.get("vigia_messages_consumed_total"))
	vr.Seconds = t1.Sub(t0).Seconds()
	vr.EventsPerSec = float64(o.Events) / vr.Seconds
	vr.CPUSeconds = cpu1 - cpu0
	vr.CPUSecondsPerMillion = vr.CPUSeconds / float64(o.Events) * 1e6
	if vr.CPUSeconds > 0 {
		vr.EventsPerCPUSecond = float64(o.Events) / vr.CPUSeconds
	}
	vr.RedisCPUSecondsPerMillion = (rcpu1 - rcpu0) / float64(o.Events) * 1e6
	vr.StartupSeconds = t0.Sub(launched).Seconds()
	vr.StartupCPUSeconds = cpu0
	h.logf("  %d messages in %.1fs: %.0f messages/s, %.2f CPU-s per 1M", o.Events, vr.Seconds, vr.EventsPerSec, vr.CPUSecondsPerMillion)
	if vr.RedisCPUSecondsPerMillion > 0 {
		h.logf("  redis-server: %.2f CPU-s per 1M", vr.RedisCPUSecondsPerMillion)
	}

	// Handled means committed: every offset up to the end.
	topics := slices.Sorted(maps.Values(h.topics))
	for wait := time.Now().Add(60 * time.Second); ; {
		done, total, err := committed(ctx, h.brokers, group, topics)
		if err == nil && done >= total {
			vr.Committed = done
			break
		}
		if time.Now().After(wait) {
			vr.Committed = done
			h.res.Errors = append(h.res.Errors, fmt.Sprintf("%s p%d: %d of %d messages committed (%v)", variant, procs, done, total, err))
			break
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return vr, err
		}
	}

	// Every alert enqueued is delivered (or suppressed: inhibited by a
	// correlation alert, a duplicate within its group).
	if err := h.settle(ctx, ps, name, vr); err != nil {
		return vr, err
	}
	for _, p := range ps {
		if rss, err := peakRSS(p.c.pid()); err == nil && rss > vr.PeakRSSBytes {
			vr.PeakRSSBytes = rss
		}
	}
	if variant == variantRedis {
		if vr.GroupKeys, vr.CorrelationKeys, err = groupKeys(ctx, h.redisAddr, prefix); err != nil {
			h.res.Errors = append(h.res.Errors, fmt.Sprintf("%s: counting correlation keys: %v", variant, err))
		}
		if h.ownRedis {
			// Statistics were reset before the run: these are its commands.
			if cmds, err := redisCommands(ctx, h.redisAddr, vr.Handled); err == nil {
				vr.RedisCommands = cmds[:min(len(cmds), 12)]
			}
		}
	}
	h.logf("  alerts: %d enqueued, %d delivered, %d suppressed; %d correlation alerts; peak RSS %.0f MiB",
		vr.AlertsEnqueued, vr.AlertsDelivered, vr.AlertsSuppressed, vr.CorrelationAlerts, float64(vr.PeakRSSBytes)/(1<<20))
	return vr, nil
}

// settle waits (a grace period) for the outbox to drain into the sink and
// fills in the alert counts; fewer delivered than enqueued is an error of
// the run.
func (h *harness) settle(ctx context.Context, ps []*vigiaProc, name string, vr *variantResult) error {
	var s *scrape
	grace := time.Now().Add(60 * time.Second)
	var done int64 = -1
	stable := time.Now()
	for {
		var err error
		if s, err = poll(ctx, ps); err != nil {
			return err
		}
		vr.AlertsEnqueued = int64(s.get("vigia_alert_latency_seconds_count"))
		vr.AlertsSuppressed = int64(s.get("vigia_alerts_suppressed_total"))
		vr.AlertsDelivered = h.sink.count(name)
		empty := s.get("vigia_outbox_backlog") == 0
		if vr.AlertsDelivered+vr.AlertsSuppressed >= vr.AlertsEnqueued && empty {
			break
		}
		if n := vr.AlertsDelivered + vr.AlertsSuppressed; n != done || !empty {
			done, stable = n, time.Now()
		}
		// The outbox is empty and nothing was delivered for 5 s (groups
		// wait 1 s), or the grace period is over: what is missing stays so.
		if time.Since(stable) > 5*time.Second || time.Now().After(grace) {
			msg := fmt.Sprintf("%s p%d: %d alerts enqueued but only %d delivered and %d suppressed (outbox empty: %v)",
				vr.Variant, vr.Procs, vr.AlertsEnqueued, vr.AlertsDelivered, vr.AlertsSuppressed, empty)
			if handled := int64(s.get("vigia_messages_consumed_total")); handled > vr.Loaded && empty {
				// After a rebalance, messages not yet committed are
				// handled again (at-least-once) and their alerts enqueued
				// again; the outbox keeps one of each.
				h.res.Notes = append(h.res.Notes, fmt.Sprintf("%s; %d messages were handled twice after rebalances, and the outbox drops their repeated alerts",
					msg, handled-vr.Loaded))
			} else {
				h.res.Errors = append(h.res.Errors, msg)
			}
			break
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
	vr.CorrelationAlerts = int64(s.get("vigia_correlation_alerts_total"))
	vr.DeadLetters = int64(s.get("vigia_dead_letters_total"))
	vr.EventsFailed = int64(s.get("vigia_events_failed_total"))
	vr.RuleErrors = int64(s.get("vigia_rule_errors_total"))
	if vr.Seconds > 0 {
		vr.AlertsPerMillion = float64(vr.AlertsEnqueued) / float64(vr.Loaded) * 1e6
	}
	if vr.DeadLetters > 0 || vr.EventsFailed > 0 {
		h.res.Errors = append(h.res.Errors, fmt.Sprintf("%s p%d: %d dead letters, %d events failed to normalize (the generator should make none)",
			vr.Variant, vr.Procs, vr.DeadLetters, vr.EventsFailed))
	}
	return nil
}

// runRaw runs procs raw consumers in one group over the loaded topics.
func (h *harness) runRaw(ctx context.Context, procs int) (*rawResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	group := fmt.Sprintf("vb-%s-raw-p%d", h.runID, procs)
	topics := strings.Join(slices.Sorted(maps.Values(h.topics)), ",")
	type rawChild struct {
		c  *child
		mu sync.Mutex
		st rawStatus
		rd sync.WaitGroup
	}
	var cs []*rawChild
	defer func() {
		for _, rc := range cs {
			rc.c.stop(15 * time.Second)
		}
	}()
	for i := range procs {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(exe, "-brokers", strings.Join(h.brokers, ","), "-group", group, "-topics", topics, "-max-wait", "50ms", "-commit-interval", "1s")
		cmd.Env = append(os.Environ(), roleEnv+"=raw", "GOMAXPROCS="+strconv.Itoa(h.opts.Cores))
		cmd.Stdout = w
		c, err := startChild("raw consumer", cmd, filepath.Join(h.tmp, fmt.Sprintf("raw-%d-%d.log", procs, i)))
		w.Close()
		if err != nil {
			r.Close()
			return nil, err
		}
		rc := &rawChild{c: c}
		rc.rd.Add(1)
		go func() {
			defer rc.rd.Done()
			defer r.Close()
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				var st rawStatus
				if json.Unmarshal(sc.Bytes(), &st) == nil {
					rc.mu.Lock()
					rc.st = st
					rc.mu.Unlock()
				}
			}
		}()
		cs = append(cs, rc)
	}
	status := func() (n, first, last int64) {
		first = math.MaxInt64
		for _, rc := range cs {
			rc.mu.Lock()
			n += rc.st.N
			if rc.st.First > 0 {
				first = min(first, rc.st.First)
			}
			last = max(last, rc.st.Last)
			rc.mu.Unlock()
		}
		return
	}
	cpu := func() float64 {
		t := 0.0
		for _, rc := range cs {
			s, _ := cpuSeconds(rc.c.pid())
			t += s
		}
		return t
	}
	var cpu0, cpu1 float64
	deadline := time.Now().Add(h.opts.Timeout)
	for {
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
		for _, rc := range cs {
			if rc.c.exited() {
				return nil, fmt.Errorf("raw consumer exited: %v\n%s", rc.c.err, rc.c.tail(2000))
			}
		}
		n, _, _ := status()
		if n == 0 {
			cpu0 = cpu()
		}
		if n >= int64(h.opts.Events) {
			cpu1 = cpu()
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("raw consumers: %d of %d messages after %s", n, h.opts.Events, h.opts.Timeout)
		}
	}
	for _, rc := range cs {
		rc.c.stop(15 * time.Second)
		rc.rd.Wait()
	}
	n, first, last := status()
	secs := time.Duration(last - first).Seconds()
	return &rawResult{Procs: procs, Events: n, Seconds: secs, EventsPerSec: float64(n) / secs,
		CPUSeconds: cpu1 - cpu0, CPUSecondsPerMillion: (cpu1 - cpu0) / float64(n) * 1e6}, nil
}

// runLatency runs Vigia on fresh topics and produces to them at rate
// messages per second for the latency duration, each message stamped
// with its append time, then reads the alert latency histogram.
func (h *harness) runLatency(ctx context.Context, variant string, rate float64) (*latencyResult, error) {
	o := h.opts
	rate = max(rate, 1)
	name := fmt.Sprintf("%s-%s-lat", h.runID, variant)
	names, formats := h.topicNames("lat-" + variant)
	if err := createTopics(ctx, h.brokers, slices.Sorted(maps.Values(names)), o.Partitions, o.Replication); err != nil {
		return nil, err
	}
	if h.ownRedis && variant == variantRedis {
		if err := flushRedis(ctx, h.redisAddr); err != nil {
			return nil, err
		}
	}
	n := int(rate * o.LatencyDuration.Seconds())
	const warm = 200
	g, err := gen.New(gen.Options{Events: n + warm, Seed: o.Seed + 1, AttackRatio: o.AttackRatio, Identities: o.Identities,
		Pods: o.Pods, Samples: h.samples, Root: h.root, Start: time.Now(), Rate: rate})
	if err != nil {
		return nil, err
	}
	h.logf("%s latency: %.0f messages/s for %s", variant, rate, o.LatencyDuration)
	ps, _, err := h.startVigia(variant, name, "vb-"+name, 1, formats, "first")
	defer stopAll(ps)
	if err != nil {
		return nil, err
	}
	comp, _ := compression(o.Compression)
	var werrs int64
	var mu sync.Mutex
	w := &kafka.Writer{Addr: kafka.TCP(h.brokers...), Balancer: &kafka.RoundRobin{}, BatchTimeout: time.Millisecond,
		BatchSize: 1000, RequiredAcks: kafka.RequireOne, Compression: comp, Async: true,
		Completion: func(ms []kafka.Message, err error) {
			if err != nil {
				mu.Lock()
				werrs += int64(len(ms))
				mu.Unlock()
			}
		}}
	produce := func(k int) {
		ms := make([]kafka.Message, k)
		now := time.Now()
		for i := range ms {
			m := g.Next()
			ms[i] = kafka.Message{Topic: names[m.Topic], Value: m.Value, Time: now}
		}
		w.WriteMessages(ctx, ms...)
	}
	// Warm up: the group joined and fetching before the clock starts.
	produce(warm)
	wait := func(target float64, limit time.Duration) (*scrape, error) {
		deadline := time.Now().Add(limit)
		for {
			if err := sleep(ctx, 100*time.Millisecond); err != nil {
				return nil, err
			}
			s, err := poll(ctx, ps)
			if err != nil {
				return nil, err
			}
			if s != nil && s.get("vigia_messages_consumed_total") >= target && s.get("vigia_messages_in_flight") == 0 {
				return s, nil
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("%s latency: %.0f of %.0f messages consumed after %s", variant, s.get("vigia_messages_consumed_total"), target, limit)
			}
		}
	}
	before, err := wait(warm, 2*time.Minute)
	if err != nil {
		w.Close()
		return nil, err
	}
	start := time.Now()
	sent := 0
	tick := time.NewTicker(2 * time.Millisecond)
	for sent < n {
		select {
		case <-ctx.Done():
			tick.Stop()
			w.Close()
			return nil, ctx.Err()
		case <-tick.C:
		}
		due := min(int(rate*time.Since(start).Seconds()), n) - sent
		if due > 0 {
			produce(due)
			sent += due
		}
	}
	tick.Stop()
	produced := time.Since(start)
	w.Close()
	lr := &latencyResult{Rate: rate, Seconds: produced.Seconds(), Messages: int64(n)}
	// Messages appended and not yet handled when production stopped: a
	// Vigia that keeps up has almost none.
	if s, err := poll(ctx, ps); err == nil && s != nil {
		lr.BehindAtEnd = int64(warm+n) - int64(s.get("vigia_messages_consumed_total"))
	}
	after, err := wait(float64(warm+n), 2*time.Minute+o.LatencyDuration)
	if err != nil {
		return nil, err
	}
	lr.DrainSeconds = time.Since(start).Seconds() - lr.Seconds
	mu.Lock()
	lr.WriteErrors = werrs
	mu.Unlock()
	p50, cnt := quantile(0.5, before, after)
	p99, _ := quantile(0.99, before, after)
	lr.Alerts = cnt
	lr.P50Millis, lr.P99Millis = p50*1000, p99*1000
	if cnt == 0 {
		h.res.Errors = append(h.res.Errors, fmt.Sprintf("%s latency: no alert in the paced run; raise -latency.duration or -attack-ratio", variant))
	}
	h.logf("  %d alerts: p50 %.1f ms, p99 %.1f ms; %d messages behind when production stopped, drained in %.1fs",
		cnt, lr.P50Millis, lr.P99Millis, lr.BehindAtEnd, lr.DrainSeconds)
	if lr.WriteErrors > 0 {
		h.res.Errors = append(h.res.Errors, fmt.Sprintf("%s latency: %d messages failed to produce", variant, lr.WriteErrors))
	}
	if err := h.settle(ctx, ps, name, &variantResult{Variant: variant + " latency", Procs: 1, Loaded: int64(n + warm)}); err != nil {
		return lr, err
	}
	h.deleteTopics(ctx, slices.Sorted(maps.Values(names)))
	return lr, nil
}

// quarterRates returns the handling rate in the first and each later
// quarter of a timeline (by messages), and the CPU-s per million in the
// first and last quarters: [r1, r2, r3, r4, cpu1, cpu4].
func quarterRates(tl []sample) (q [6]float64) {
	if len(tl) < 8 {
		return q
	}
	total := tl[len(tl)-1].Handled
	at := func(frac float64) sample {
		for _, s := range tl {
			if float64(s.Handled) >= frac*float64(total) {
				return s
			}
		}
		return tl[len(tl)-1]
	}
	var prev sample
	for i := range 4 {
		s := at(float64(i+1) / 4)
		if dt := s.Seconds - prev.Seconds; dt > 0 {
			q[i] = float64(s.Handled-prev.Handled) / dt
		}
		if n := s.Handled - prev.Handled; n > 0 && (i == 0 || i == 3) {
			q[4+i/3] = (s.CPUSeconds - prev.CPUSeconds) / float64(n) * 1e6
		}
		prev = s
	}
	return q
}

// redisCPU returns the CPU time of the redis-server the harness started,
// for the redis variant; 0 otherwise.
func (h *harness) redisCPU(variant string) float64 {
	if variant != variantRedis || h.redisProc == nil {
		return 0
	}
	s, _ := cpuSeconds(h.redisProc.pid())
	return s
}
