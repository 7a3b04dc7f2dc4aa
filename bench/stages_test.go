package bench

import (
	"context"
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/bench/gen"
	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/correlate"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/notify/slack"
	"github.com/vigia-dev/vigia/internal/pipeline"
	"github.com/vigia-dev/vigia/internal/resolve"
	"github.com/vigia-dev/vigia/internal/rule"
)

// Per-stage benchmarks over the harness's generated stream (bench/gen:
// all five sources, 0.5% attack templates, many identities and pods) and
// the full shipped library. Names are benchstat-friendly:
//
//	GOMAXPROCS=1 go test -run='^$' -bench=Stage -count=10 ./bench/ > new.txt
//	benchstat old.txt new.txt
//
// Every benchmark reports ns/event (wall) and cpu-ns/event (process CPU,
// GC included: steadier than wall time on a shared machine).

const stageEvents = 20_000

type stageData struct {
	set   *rule.Set
	msgs  map[string][]gen.Message // by source
	all   []gen.Message
	norms map[string]normalize.Normalizer // by source, built for set
}

var stageCache *stageData

func stages(b *testing.B) *stageData {
	b.Helper()
	if stageCache != nil {
		return stageCache
	}
	set, err := rule.Load([]string{"../detections"}, rule.Options{Root: ".."})
	if err != nil {
		b.Fatal(err)
	}
	g, err := gen.New(gen.Options{Events: stageEvents, Seed: 1, Root: "..", Samples: gen.PublicSamples("..")})
	if err != nil {
		b.Fatal(err)
	}
	d := &stageData{set: set, msgs: map[string][]gen.Message{}, norms: map[string]normalize.Normalizer{}}
	d.all = g.Generate(stageEvents)
	for _, m := range d.all {
		d.msgs[m.Source] = append(d.msgs[m.Source], m)
	}
	for _, t := range gen.Topics() {
		n, err := detect.New(t.Format, normalize.Options{Raw: set.UsesRaw(), RawSources: set.RawSources()})
		if err != nil {
			b.Fatal(err)
		}
		d.norms[t.Source] = n
	}
	stageCache = d
	return d
}

// cpuTimer reports process CPU per operation next to wall time.
func cpuTimer(b *testing.B) func(events int) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	start := ru.Utime.Nano() + ru.Stime.Nano()
	wall := time.Now()
	b.ResetTimer()
	return func(events int) {
		b.StopTimer()
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		if events > 0 {
			b.ReportMetric(float64(ru.Utime.Nano()+ru.Stime.Nano()-start)/float64(events), "cpu-ns/event")
			b.ReportMetric(float64(time.Since(wall).Nanoseconds())/float64(events), "ns/event")
			b.ReportMetric(0, "ns/op")
		}
	}
}

func normalized(b *testing.B, d *stageData, src string) []*event.Event {
	var evs []*event.Event
	for _, m := range d.msgs[src] {
		out, errs := d.norms[src].Normalize(m.Value, normalize.Meta{Topic: m.Topic})
		if len(errs) > 0 {
			b.Fatalf("%s: %v", src, errs)
		}
		evs = append(evs, out...)
	}
	return evs
}

// BenchmarkStage/normalize/source=S: decode one message of S into events
// (raw deferred; see event.Event.RawMap).
// BenchmarkStage/evaluate/source=S: every enabled rule of S on an event,
// alerts built for the matches.
func BenchmarkStage(b *testing.B) {
	d := stages(b)
	for _, src := range event.Sources {
		b.Run("normalize/source="+src, func(b *testing.B) {
			msgs := d.msgs[src]
			n := d.norms[src]
			events := 0
			done := cpuTimer(b)
			for i := 0; i < b.N; i++ {
				m := msgs[i%len(msgs)]
				evs, _ := n.Normalize(m.Value, normalize.Meta{Topic: m.Topic})
				events += len(evs)
			}
			done(events)
		})
	}
	for _, src := range event.Sources {
		b.Run("evaluate/source="+src, func(b *testing.B) {
			evs := normalized(b, d, src)
			e := d.set.NewEvaluator()
			var dst []*alert.Alert
			matches := 0
			done := cpuTimer(b)
			for i := 0; i < b.N; i++ {
				dst = e.Eval(dst[:0], evs[i%len(evs)])
				matches += len(dst)
			}
			done(b.N)
			b.ReportMetric(float64(matches)/float64(b.N), "matches/event")
		})
	}
	b.Run("resolve/store=memory", func(b *testing.B) {
		var evs []*event.Event
		for _, src := range event.Sources {
			evs = append(evs, normalized(b, d, src)...)
		}
		r := resolve.New(resolve.NewMemory(0), resolve.Options{})
		ctx := context.Background()
		const batch = 64
		done := cpuTimer(b)
		for i := 0; i < b.N; i += batch {
			j := (i % len(evs))
			k := min(j+batch, len(evs))
			_ = r.Resolve(ctx, evs[j:k])
		}
		done(b.N)
	})
	b.Run("correlate/store=memory", func(b *testing.B) {
		// The matches the library's referenced rules raise on the stream.
		var ms []correlate.Match
		eng := correlate.New(d.set, correlate.NewMemory(0), correlate.Options{Lateness: time.Hour})
		e := d.set.NewEvaluator()
		for _, src := range event.Sources {
			for _, ev := range normalized(b, d, src) {
				for _, a := range e.Eval(nil, ev) {
					if r := d.set.Rule(a.Rule.ID); r != nil && eng.Referenced(r.ID) {
						ms = append(ms, correlate.Match{Rule: r, Alert: a, Event: ev})
					}
				}
			}
		}
		if len(ms) == 0 {
			b.Skip("the generated stream raised no match a correlation references")
		}
		ctx := context.Background()
		done := cpuTimer(b)
		for i := 0; i < b.N; i++ {
			if _, err := eng.Process(ctx, ms[i%len(ms):i%len(ms)+1]); err != nil {
				b.Fatal(err)
			}
		}
		done(b.N)
	})
	b.Run("render/receiver=slack", func(b *testing.B) {
		// Slack blocks and their JSON for the alerts the stream raises.
		var alerts []*alert.Alert
		e := d.set.NewEvaluator()
		for _, src := range event.Sources {
			for _, ev := range normalized(b, d, src) {
				for _, a := range e.Eval(nil, ev) {
					if r := d.set.Rule(a.Rule.ID); r != nil && !r.SignalOnly {
						alerts = append(alerts, a)
					}
				}
			}
		}
		if len(alerts) == 0 {
			b.Fatal("the generated stream raised no alert")
		}
		done := cpuTimer(b)
		for i := 0; i < b.N; i++ {
			a := alerts[i%len(alerts)]
			blocks := slack.Blocks(a, d.set.Books.Get(a.Runbook.Path), "https://runbooks.example.com", 3)
			if _, err := json.Marshal(blocks); err != nil {
				b.Fatal(err)
			}
		}
		done(b.N)
	})
	b.Run("process/all-sources", func(b *testing.B) {
		// A message through normalize, resolve, evaluate and correlate
		// (memory stores), as the pipeline's processor does, router aside.
		p := &pipeline.Processor{Rules: d.set, Resolver: resolve.New(resolve.NewMemory(0), resolve.Options{}),
			Correlator: correlate.New(d.set, correlate.NewMemory(0), correlate.Options{Lateness: time.Hour})}
		ctx := context.Background()
		events := 0
		done := cpuTimer(b)
		for i := 0; i < b.N; i++ {
			m := d.all[i%len(d.all)]
			_, n, _ := p.Process(ctx, d.norms[m.Source], m.Value, normalize.Meta{Topic: m.Topic})
			events += n
		}
		done(events)
	})
}
