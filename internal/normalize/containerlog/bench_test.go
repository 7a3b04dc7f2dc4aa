package containerlog

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/normalize"
)

// benchInput is one message as the dispatcher hands it over.
type benchInput struct {
	data []byte
	file string
	text bool
}

func loadInputs(tb testing.TB, files []string) []benchInput {
	var in []benchInput
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		for _, ln := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(ln)) == 0 {
				continue
			}
			in = append(in, benchInput{data: ln, file: f, text: ln[0] != '{'})
		}
	}
	return in
}

// BenchmarkDecode measures parse + decode per event: fastjson parsing,
// Detect and Decode for JSON records, DecodeText for CRI lines (which
// parses the line itself), redaction and id hashing included — what the
// dispatcher spends per record past envelope unwrapping. Options.Raw is
// off, as in the pipeline unless a rule reads raw; the raw variant shows
// what turning it on costs.
func BenchmarkDecode(b *testing.B) {
	glob := func(b *testing.B, pattern string) []string {
		fs, err := filepath.Glob(pattern)
		if err != nil || len(fs) == 0 {
			b.Skipf("no files match %s", pattern)
		}
		return fs
	}
	cases := []struct {
		name  string
		files func(b *testing.B) []string
		raw   bool
	}{
		{"fixtures", func(b *testing.B) []string { return glob(b, "testdata/*") }, false},
		{"fixtures-raw", func(b *testing.B) []string { return glob(b, "testdata/*") }, true},
		{"corpus-docker", func(b *testing.B) []string {
			return glob(b, filepath.Join(corpus.Dir(b), "fluent-bit-k8s-container-logs", "*", "*.log"))
		}, false},
		{"corpus-cribl", func(b *testing.B) []string {
			return glob(b, filepath.Join(corpus.Dir(b), "cribl-k8s-container-logs", "*.jsonl"))
		}, false},
		{"corpus-cri", func(b *testing.B) []string {
			return glob(b, filepath.Join(corpus.Dir(b), "cribl-k8s-container-logs", "derived_cri", "*.log"))
		}, false},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			in := loadInputs(b, bc.files(b))
			d := New(Limits{})
			o := normalize.Options{Raw: bc.raw, Cluster: "bench"}
			var p fastjson.Parser
			run := func() int {
				n := 0
				for _, it := range in {
					m := normalize.Meta{File: it.file}
					if it.text {
						evs, _ := d.DecodeText(it.data, o, m)
						n += len(evs)
						continue
					}
					v, err := p.ParseBytes(it.data)
					if err != nil || !Detect(v) {
						b.Fatalf("%s: not a container log record", it.file)
					}
					evs, _ := d.Decode(v, o, m)
					n += len(evs)
				}
				return n
			}
			perOp := run()
			if perOp == 0 {
				b.Fatal("no events")
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			cpu0 := cpuTime()
			b.ResetTimer()
			ops := 0
			for b.Loop() {
				run()
				ops++
			}
			b.StopTimer()
			cpu := cpuTime() - cpu0
			runtime.ReadMemStats(&after)
			events := float64(ops * perOp)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/event")
			if cpu > 0 {
				// CPU time, GC included: steadier than wall time on a shared machine.
				b.ReportMetric(float64(cpu.Nanoseconds())/events, "cpu-ns/event")
			}
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/events, "allocs/event")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/events, "B/event")
		})
	}
}

// BenchmarkRedactLong is Redact over a 16 KiB line without secrets but
// with many ":" and "=" (a JSON log line), the worst common case.
func BenchmarkRedactLong(b *testing.B) {
	line := strings.Repeat(`{"ts":"2024-05-14T13:05:40Z","level":"info","msg":"ok","user_id":4711,"retries":3},`, 16<<10/86)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		Redact(line)
	}
}
