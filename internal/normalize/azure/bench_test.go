package azure

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/normalize"
)

// BenchmarkDecode measures parse (fastjson, one reused parser, as the
// dispatcher's pool gives) plus Detect and Decode, per record: the
// fixtures (every shape: Activity Log export, Key Vault, Entra ID audit
// and sign-ins, REST, Log Analytics, Graph) and the corpus's Entra ID
// audit rows when present. ns/event and allocs/event are per decoded
// event; the raw sub-benchmark also builds the redacted Event.Raw.
func BenchmarkDecode(b *testing.B) {
	var msgs [][]byte
	var p fastjson.Parser
	add := func(v *fastjson.Value) {
		if isRecord(v) {
			msgs = append(msgs, v.MarshalTo(nil))
		}
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json*"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		for line := range bytes.Lines(data) {
			if filepath.Ext(f) != ".jsonl" {
				line = data
			}
			v, err := p.ParseBytes(line)
			if err != nil {
				b.Fatal(err)
			}
			add(v)
			for _, k := range []string{"records", "value"} {
				for _, r := range v.GetArray(k) {
					add(r)
				}
			}
			for _, r := range v.GetArray() {
				add(r)
			}
			if filepath.Ext(f) != ".jsonl" {
				break
			}
		}
	}
	if dir := corpusDirB(); dir != "" {
		data, err := os.ReadFile(filepath.Join(dir, "otrf-security-datasets", "AADAuditEvents.json"))
		if err != nil {
			b.Fatal(err)
		}
		for line := range bytes.Lines(data) {
			if v, err := p.ParseBytes(line); err == nil {
				add(v)
			}
		}
	}
	if len(msgs) == 0 {
		b.Fatal("no records")
	}
	b.Logf("%d records", len(msgs))
	for _, raw := range []bool{false, true} {
		name := "fields"
		if raw {
			name = "raw"
		}
		b.Run(name, func(b *testing.B) {
			o := normalize.Options{Raw: raw}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			mallocs := ms.Mallocs
			events := 0
			b.ResetTimer()
			for b.Loop() {
				for _, m := range msgs {
					v, err := p.ParseBytes(m)
					if err != nil || !Detect(v) {
						b.Fatal("record no longer parses or is detected")
					}
					evs, _ := Decode(v, o, normalize.Meta{})
					events += len(evs)
				}
			}
			b.StopTimer()
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
			b.ReportMetric(float64(ms.Mallocs-mallocs)/float64(events), "allocs/event")
		})
	}
}

// corpusDirB returns the corpus directory, or "" when it is absent (the
// benchmark then runs on the fixtures alone); corpus.Dir would skip.
func corpusDirB() string {
	if d := os.Getenv("VIGIA_CORPUS"); d != "" {
		return d
	}
	root, err := corpus.ModuleRoot()
	if err != nil {
		return ""
	}
	d := filepath.Join(root, "..", "shared", "data", "public")
	if _, err := os.Stat(d); err != nil {
		return ""
	}
	return d
}
