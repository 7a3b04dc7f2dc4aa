package k8saudit_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/normalize/k8saudit"
)

// The benchmarks report per event: ns/event (wall time), cpu-ns/event
// (process CPU time, garbage collection included: steadier than wall time
// on a shared machine) and allocs/event. BenchmarkDecode parses with
// fastjson and calls Decode, as the dispatcher does for a plain Event;
// BenchmarkEndToEnd goes through detect.New(auto).Normalize (envelope
// checks, format detection, parse and decode).

// loop runs body until b.Loop ends and reports the per-event metrics;
// body returns how many events it normalized.
func loop(b *testing.B, body func() int) {
	b.Helper()
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := cpuTime()
	events := 0
	for b.Loop() {
		events += body()
	}
	cpu1 := cpuTime()
	runtime.ReadMemStats(&ms1)
	if events == 0 {
		b.Fatal("no events")
	}
	n := float64(events)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/event")
	if cpu0 > 0 {
		b.ReportMetric(float64(cpu1-cpu0)/n, "cpu-ns/event")
	}
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/event")
}

func podCreate(b *testing.B) []byte {
	b.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "pod-create.json"))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func rawName(raw bool) string {
	if raw {
		return "raw=true"
	}
	return "raw=false"
}

// BenchmarkDecode measures a realistic 2 KB audit event (a pod created by
// a ReplicaSet, with its request object): fastjson parse + Decode.
func BenchmarkDecode(b *testing.B) {
	data := podCreate(b)
	for _, raw := range []bool{false, true} {
		b.Run("pod-create-2KB/"+rawName(raw), func(b *testing.B) {
			var p fastjson.Parser
			o := normalize.Options{Raw: raw}
			b.SetBytes(int64(len(data)))
			loop(b, func() int {
				v, err := p.ParseBytes(data)
				if err != nil {
					b.Fatal(err)
				}
				evs, errs := k8saudit.Decode(v, o, normalize.Meta{})
				if len(evs) != 1 || len(errs) != 0 {
					b.Fatal(errs)
				}
				return 1
			})
		})
	}
}

// BenchmarkParse is the fastjson parse of the 2 KB event alone: the floor
// under BenchmarkDecode.
func BenchmarkParse(b *testing.B) {
	data := podCreate(b)
	var p fastjson.Parser
	b.SetBytes(int64(len(data)))
	loop(b, func() int {
		if _, err := p.ParseBytes(data); err != nil {
			b.Fatal(err)
		}
		return 1
	})
}

// BenchmarkEndToEnd normalizes the 2 KB event through detect.New(auto).
func BenchmarkEndToEnd(b *testing.B) {
	data := podCreate(b)
	for _, raw := range []bool{false, true} {
		b.Run("pod-create-2KB/"+rawName(raw), func(b *testing.B) {
			n, err := detect.New(detect.Auto, normalize.Options{Raw: raw})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			loop(b, func() int {
				evs, errs := n.Normalize(data, normalize.Meta{})
				if len(evs) != 1 || len(errs) != 0 {
					b.Fatal(errs)
				}
				return 1
			})
		})
	}
}

// BenchmarkCorpus normalizes every record of the Kubernetes audit corpus
// (Falco traces, audit2rbac, the AKS export; the malformed sample left
// out) through detect.New(auto): parse + decode, envelopes included. Without
// the corpus it runs over the fixtures.
func BenchmarkCorpus(b *testing.B) {
	var msgs [][]byte
	if corpusPresent() {
		for _, r := range corpusRecords(b) {
			if _, bad := malformed[r.rel]; !bad && r.rec.Err == nil {
				msgs = append(msgs, r.data)
			}
		}
	} else {
		b.Log("corpus absent: benchmarking the fixtures")
		files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
		for _, f := range files {
			d, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			msgs = append(msgs, d)
		}
	}
	size := 0
	for _, m := range msgs {
		size += len(m)
	}
	for _, raw := range []bool{false, true} {
		b.Run(rawName(raw), func(b *testing.B) {
			n, err := detect.New(detect.Auto, normalize.Options{Raw: raw})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			loop(b, func() int {
				events := 0
				for _, m := range msgs {
					evs, _ := n.Normalize(m, normalize.Meta{})
					events += len(evs)
				}
				return events
			})
		})
	}
}

// corpusPresent reports whether the public samples are there, without
// skipping the benchmark when they are not.
func corpusPresent() bool {
	if os.Getenv("VIGIA_CORPUS") != "" {
		return true
	}
	root, err := corpus.ModuleRoot()
	if err != nil {
		return false
	}
	_, err = os.Stat(filepath.Join(root, "..", "shared", "data", "public"))
	return err == nil
}
